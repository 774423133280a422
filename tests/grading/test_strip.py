"""Tests of grading/release/strip.py: solution and hidden-test regions of .py files."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

import pytest

from grading.errors import StripError
from grading.release.strip import (
    HIDDEN,
    SOLUTION,
    STUB_WIDTH,
    Region,
    code_lines,
    drop_hidden_tests,
    find_markers,
    find_regions,
    source_line,
    split_lines,
    strip_file,
    stub,
)

pytestmark = pytest.mark.grading

PATH = "assignment/layers.py"

SOURCE = textwrap.dedent('''\
    """Layers."""
    import numpy as np


    def relu_forward(x):
        """Elementwise max(0, x)."""
        ### BEGIN SOLUTION
        out = np.maximum(0, x)  # (N, D)
        ### END SOLUTION
        return out, x


    class Net:
        """A net."""

        def loss(self, X, y=None):
            scores = X
            if y is None:
                return scores
            ### BEGIN SOLUTION
            loss = float(np.sum(scores))
            grads = {}
            ### END SOLUTION
            return loss, grads

        def helper(self):
            def inner(z):
                ### BEGIN SOLUTION
                return z + 1
                ### END SOLUTION
            return inner


    CASES = [
        1,
        ### BEGIN HIDDEN TESTS
        2,
        ### END HIDDEN TESTS
    ]
    ''')


def stripped(source=SOURCE, **kwargs):
    return strip_file(source, PATH, **kwargs)[0]


def test_solution_becomes_comment_and_raise_at_marker_indent():
    """Does a region become one comment and a raise naming the function, at its indentation?"""
    text = stripped(notebook_of=lambda q: "FullyConnectedNets.ipynb")
    assert (
        "    # Your code for relu_forward goes here, in place of the raise below.\n"
        "    raise NotImplementedError(\n"
        '        "relu_forward: not implemented yet; write it in assignment/layers.py "\n'
        '        "(see FullyConnectedNets.ipynb)"\n'
        "    )\n"
    ) in text
    assert "np.maximum" not in text and "np.sum(scores)" not in text


def test_methods_and_nested_defs_are_named_by_qualified_name():
    """Are methods named Class.method and nested functions outer.inner?"""
    names = [r.qualname for r in find_regions(SOURCE, PATH) if r.kind == SOLUTION]
    assert names == ["relu_forward", "Net.loss", "Net.helper.inner"]


def test_notebook_part_left_out_when_unknown():
    """Without a notebook for the function, does the message end at the file?"""
    text = stripped(notebook_of=lambda q: None)
    assert '"Net.loss: not implemented yet; write it in assignment/layers.py")' in text
    assert "(see" not in stripped()


@pytest.mark.parametrize("indent", [0, 4, 8, 16])
@pytest.mark.parametrize(
    "qualname, path, notebook",
    [
        ("relu", "a.py", None),
        ("ThreeLayerConvNet.__init__", "assignment/classifiers/cnn.py", "X.ipynb"),
        ("f", "assignment/" + "deep/" * 30 + "m.py", "ConvolutionalNetworks.ipynb"),
    ],
)
def test_stub_lines_fit_and_raise_the_whole_message(indent, qualname, path, notebook):
    """Does every stub line fit in 100 characters (a path longer than that stands alone),
    and does the raise still carry the whole message?"""
    region = Region(SOLUTION, 2, 4, " " * indent, qualname, ())
    lines = stub(region, path, notebook)
    assert all(len(line) <= STUB_WIDTH for line in lines if len(path) < 80), lines
    code = "\n".join(line[indent:] for line in lines)
    with pytest.raises(NotImplementedError) as raised:
        exec(compile(code, "stub", "exec"), {})
    where = f"write it in {path}" + (f" (see {notebook})" if notebook else "")
    assert str(raised.value) == f"{qualname}: not implemented yet; {where}"


def test_everything_outside_regions_is_byte_identical():
    """Is every line outside the regions kept exactly (CRLF, form feed, trailing blanks)?"""
    source = (
        SOURCE.replace("    return out, x", "    return out, x  # é ✓  ")
        .replace("\n\n\nclass Net", "\n\x0c\n\nclass Net")
        .replace("\n", "\r\n")
    )
    text, regions = strip_file(source, PATH)
    outside = [
        line
        for n, line in enumerate(split_lines(source), 1)
        if not any(r.begin <= n <= r.end for r in regions)
    ]
    stubs = {r.begin for r in regions if r.kind == SOLUTION}
    kept = [
        line for n, line in enumerate(split_lines(text), 1) if source_line(regions, n) not in stubs
    ]
    assert kept == outside
    assert all(line.endswith("\r\n") for line in split_lines(text))


def test_stripped_module_imports_and_raises_with_its_name(tmp_path):
    """Does the stripped module import, and does calling a stub raise with its name?"""
    (tmp_path / "layers.py").write_text(stripped())
    code = (
        "import layers\n"
        "try:\n    layers.relu_forward(1.0)\n"
        "except NotImplementedError as e:\n    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("relu_forward: not implemented yet")


def test_never_pass_or_none():
    """Is a stub never `pass` nor a result preset to None?"""
    text = stripped()
    assert "pass" not in text.split() and "= None" not in text


def test_hidden_tests_removed_with_markers_and_code_stays_valid():
    """Is a hidden region removed, markers and all, leaving valid code?"""
    text, regions = drop_hidden_tests(SOURCE, PATH)
    assert [r.kind for r in regions] == [HIDDEN]
    assert "HIDDEN" not in text and "        2,\n" not in text
    assert "BEGIN SOLUTION" in text  # the other step's job
    ast.parse(text)
    namespace = {}
    exec(
        compile(text.split("def relu_forward")[0] + text.split("return inner\n")[1], PATH, "exec"),
        namespace,
    )
    assert namespace["CASES"] == [1]


@pytest.mark.parametrize(
    "source, line, words",
    [
        ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", 2, "never closed"),
        ("def f():\n    return 1\n    ### END SOLUTION\n", 3, "without a BEGIN"),
        (
            "def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    return 1\n"
            "    ### END SOLUTION\n    ### END SOLUTION\n",
            3,
            "nested",
        ),
        (
            "def f():\n    ### BEGIN SOLUTION\n    x = 1\n    ### BEGIN HIDDEN TESTS\n"
            "    ### END HIDDEN TESTS\n    ### END SOLUTION\n",
            4,
            "nested",
        ),
        ("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END HIDDEN TESTS\n", 4, "closes"),
        ("### BEGIN SOLUTION\nX = 1\n### END SOLUTION\n", 1, "outside any function"),
        (
            "class A:\n    ### BEGIN SOLUTION\n    x = 1\n    ### END SOLUTION\n",
            2,
            "outside any function",
        ),
        ("def f():\n    ## BEGIN SOLUTION\n    return 1\n    ## END SOLUTION\n", 2, "malformed"),
        (
            "def f():\n    ### BEGIN SOLUTION here\n    return 1\n    ### END SOLUTION\n",
            2,
            "malformed",
        ),
        (
            "def f():\n    if True:\n        ### BEGIN SOLUTION\n        return 1\n"
            "    ### END SOLUTION\n",
            5,
            "indented differently",
        ),
        ("def f(:\n    pass\n", 1, "does not parse"),
    ],
)
def test_bad_markers_raise_with_file_and_line(source, line, words):
    """Do unbalanced, nested, misplaced or malformed markers fail with file and line?"""
    with pytest.raises(StripError) as caught:
        strip_file(source, PATH)
    assert (caught.value.path, caught.value.line) == (PATH, line)
    assert words in str(caught.value) and str(caught.value).startswith(f"{PATH}:{line}:")


def test_hidden_region_that_empties_a_block_is_refused():
    """Does removing a hidden region that was a whole function body fail, not ship broken?"""
    source = "def cases():\n    ### BEGIN HIDDEN TESTS\n    return [1]\n    ### END HIDDEN TESTS\n"
    with pytest.raises(StripError, match="does not parse") as caught:
        strip_file(source, PATH)
    assert caught.value.line is not None


def test_source_line_maps_stripped_lines_back():
    """Does a line of the stripped file map back to its line in the source?"""
    text, regions = strip_file(SOURCE, PATH)
    source_lines = split_lines(SOURCE)
    for number, line in enumerate(split_lines(text), start=1):
        origin = source_line(regions, number)
        if any(r.kind == SOLUTION and r.begin == origin for r in regions):
            assert "### BEGIN SOLUTION" in source_lines[origin - 1]
        else:
            assert source_lines[origin - 1] == line


def test_code_lines_leave_out_regions_comments_and_docstrings():
    """Are comments, docstrings and region bodies kept out of the public code lines?"""
    lines = code_lines(SOURCE, find_regions(SOURCE, PATH))
    assert "    return out, x" in lines
    assert '    """Elementwise max(0, x)."""' not in lines
    assert not any("np.maximum" in line or "### " in line for line in lines)


def test_find_markers_locates_errors_in_notebook_cells():
    """Does a marker error in a notebook cell carry the cell number?"""
    with pytest.raises(StripError) as caught:
        find_markers(["x = 1", "### END SOLUTION"], "X.ipynb", cell=4)
    assert str(caught.value) == (
        "X.ipynb, cell 4, line 2: '### END SOLUTION' without a BEGIN before it"
    )
