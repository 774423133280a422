"""Tests of grading/hardened/splice.py: which code of a submission the hardened grader imports."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest

from grading.hardened.splice import (
    MergeError,
    bound_names,
    build_trusted_copy,
    merge_module,
    merge_submission,
)
from grading.layout import REPO_ROOT
from grading.release.strip import strip_file

pytestmark = pytest.mark.grading

SOURCE = '''"""Layers of a small assignment."""
import numpy as np

SCALE = 2.0


def provided(x):
    """Given to students."""
    return SCALE * x


def affine_forward(x, w, b):
    ### BEGIN SOLUTION
    out = x.reshape(x.shape[0], -1) @ w + b  # (N, M)
    ### END SOLUTION
    return out, (x, w, b)


class Net:
    def loss(self, X):
        ### BEGIN SOLUTION
        return provided(X)
        ### END SOLUTION
'''
NAMES = ("affine_forward", "Net")


@pytest.fixture(scope="module")
def release_text():
    return strip_file(SOURCE, "assignment/layers.py")[0]


def merged(release_text, student):
    text, notes = merge_module(
        release_text, textwrap.dedent(student), NAMES, "assignment/layers.py"
    )
    namespace = {}
    exec(compile(text, "merged", "exec"), namespace)  # noqa: S102 - test-only, our own text
    return text, notes, namespace


def test_student_function_replaces_the_stub(release_text):
    """Is the student's affine_forward the one the merged module defines?"""
    _, _, ns = merged(release_text, SOURCE.replace("@ w + b", "@ w + 2 * b"))
    import numpy as np

    out, _ = ns["affine_forward"](np.ones((1, 2)), np.ones((2, 1)), np.ones(1))
    assert out.tolist() == [[4.0]]


def test_a_class_is_taken_whole(release_text):
    """Is a student class (with a solution region in a method) taken as a whole?"""
    _, _, ns = merged(release_text, SOURCE + "\n    def extra(self):\n        return 7\n")
    assert ns["Net"]().extra() == 7


def test_provided_function_edited_by_the_student_is_ignored(release_text):
    """Does a student's change to a provided function leave ours in place, with a note?"""
    text, notes, ns = merged(release_text, SOURCE.replace("return SCALE * x", "return 0"))
    assert ns["provided"](3.0) == 6.0
    assert any("provided" in n for n in notes)


def test_unchanged_provided_code_is_silent(release_text):
    """Does a submission that keeps the provided code as released produce no notes?"""
    _, notes, _ = merged(release_text, SOURCE)
    assert notes == []


def test_helpers_and_imports_are_kept_in_order(release_text):
    """Are a new helper, a new constant (used as a default) and a new import kept, each
    after the provided statement it follows in the student's file?"""
    student = SOURCE.replace(
        "import numpy as np\n", "import numpy as np\nimport math\nEPS = 1e-3\n"
    )
    student = student.replace(
        "def affine_forward(x, w, b):",
        "def helper(v):\n    return math.sqrt(v)\n\n\ndef affine_forward(x, w, b, eps=EPS):",
    )
    student = student.replace("return out, (x, w, b)", "return out + helper(4.0) * 0, (x, w, b)")
    text, notes, ns = merged(release_text, student)
    assert notes == []
    assert ns["helper"](9.0) == 3.0 and ns["EPS"] == 1e-3
    assert text.index("import math") < text.index("SCALE = 2.0")


def test_import_keeps_only_new_names(release_text):
    """Does `import numpy as np, math` keep math and leave the provided np alone?"""
    student = SOURCE.replace("import numpy as np\n", "import os as np, math\n")
    text, notes, ns = merged(release_text, student)
    assert ns["np"].__name__ == "numpy" and ns["math"].__name__ == "math"
    assert any("np" in n for n in notes)


def test_module_code_that_binds_nothing_is_kept(release_text):
    """Is module code like a numpy patch kept (it runs only in the sandbox)?"""
    text, _, _ = merged(release_text, SOURCE + "\nprint('patched')\n")
    assert "print('patched')" in text


def test_missing_student_function_keeps_the_stub_with_a_note(release_text):
    """Does a deleted affine_forward leave the release stub and say so?"""
    start = SOURCE.index("def affine_forward")
    student = SOURCE[:start] + SOURCE[SOURCE.index("class Net") :]
    _, notes, ns = merged(release_text, student)
    with pytest.raises(NotImplementedError):
        ns["affine_forward"](None, None, None)
    assert any("affine_forward is missing" in n for n in notes)


def test_decorated_and_future_statements(release_text):
    """Do a decorated student function and a __future__ import merge into valid code?"""
    student = "from __future__ import annotations\n" + SOURCE.replace(
        "def affine_forward", "@staticmethod\ndef unused():\n    pass\n\n\ndef affine_forward"
    )
    text, _, _ = merged(release_text, student)
    assert text.startswith("from __future__ import annotations")


def test_syntax_error_names_file_and_line(release_text):
    """Does a file that does not parse give an error with the file and line?"""
    with pytest.raises(MergeError, match=r"assignment/layers.py does not parse: line 3"):
        merge_module(release_text, "x = 1\ny = 2\ndef (:\n", NAMES, "assignment/layers.py")


def test_bound_names():
    """Are names bound through if/try/for/with/walrus/del/except found, and not those
    inside functions or comprehensions?"""
    import ast

    code = textwrap.dedent("""
        if True:
            a = 1
        try:
            import os.path as b
        except ImportError as c:
            pass
        for d in []:
            pass
        with open('x') as e:
            pass
        (f := 3)
        del g
        [h for h in range(3)]
        def i():
            j = 1
    """)
    names = set().union(*(bound_names(s) for s in ast.parse(code).body))
    assert names == {"a", "b", "c", "d", "e", "f", "g", "i"}


@pytest.fixture(scope="module")
def trusted(tmp_path_factory):
    return build_trusted_copy(tmp_path_factory.mktemp("trusted"))


def test_trusted_copy_holds_no_solution_and_no_hidden_case(trusted):
    """Is the copy the sandbox imports free of solution and hidden-test text?"""
    for path in (trusted.root / "assignment").rglob("*.py"):
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text, path
    assert "assignment/layers.py" in trusted.student_names
    assert "affine_forward" in trusted.student_names["assignment/layers.py"]


def test_provided_modules_come_from_the_release(trusted, tmp_path):
    """Are a student's solver.py and checks/ replaced by ours, and extra files dropped?"""
    submission = tmp_path / "submission"
    shutil.copytree(trusted.root, submission)
    (submission / "assignment" / "solver.py").write_text("raise SystemExit('mine')\n")
    (submission / "assignment" / "checks" / "core.py").write_text("PASS_EVERYTHING = True\n")
    (submission / "assignment" / "extra.py").write_text("x = 1\n")
    result = merge_submission(trusted, submission, tmp_path / "merged")
    merged_pkg = tmp_path / "merged" / "assignment"
    assert (merged_pkg / "solver.py").read_text() == (
        trusted.root / "assignment" / "solver.py"
    ).read_text()
    assert "PASS_EVERYTHING" not in (merged_pkg / "checks" / "core.py").read_text()
    assert not (merged_pkg / "extra.py").exists()
    assert result.broken == {}


def test_broken_file_breaks_only_its_module(trusted, tmp_path):
    """Does a syntax error in optim.py make optim raise ImportError with the reason, while
    the other modules import?"""
    submission = tmp_path / "submission"
    shutil.copytree(trusted.root, submission)
    (submission / "assignment" / "optim.py").write_text("def adam(:\n")
    result = merge_submission(trusted, submission, tmp_path / "merged")
    assert list(result.broken) == ["assignment/optim.py"]
    assert "does not parse: line 1" in result.broken["assignment/optim.py"]
    code = (
        "import assignment.layers\n"
        "try:\n    import assignment.optim\nexcept ImportError as e:\n    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path / "merged", capture_output=True, text=True
    )
    assert "assignment/optim.py does not parse" in done.stdout, done.stderr


def test_the_originals_are_not_modified(trusted, tmp_path):
    """Does merging leave the submission's files byte for byte as they were?"""
    submission = tmp_path / "submission"
    shutil.copytree(trusted.root, submission)
    before = {p: p.read_bytes() for p in submission.rglob("*") if p.is_file()}
    merge_submission(trusted, submission, tmp_path / "merged")
    assert before == {p: p.read_bytes() for p in submission.rglob("*") if p.is_file()}


def test_link_to_the_source_is_not_followed(trusted, tmp_path):
    """Is a graded file that is a link (to the reference, say) treated as missing?"""
    submission = tmp_path / "submission"
    shutil.copytree(trusted.root, submission)
    layers = submission / "assignment" / "layers.py"
    layers.unlink()
    layers.symlink_to(REPO_ROOT / "assignment" / "layers.py")
    result = merge_submission(trusted, submission, tmp_path / "merged")
    assert "missing" in result.broken["assignment/layers.py"]


# -- helpers where the course invites them; the self-check assembles as the grader does ---------

HELPER = '''

def affine_relu_twice_forward(x, w, b):
    """A student's helper: affine, ReLU."""
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_forward(x, w, b):
    return x, None  # an edit of provided code: graded as released
'''


@pytest.fixture
def helper_submission(trusted, tmp_path):
    """The reference with a helper added to layer_utils.py (which the model calls) and the
    provided affine_relu_forward broken there."""
    submission = tmp_path / "helpers"
    shutil.copytree(trusted.root, submission)
    for rel in trusted.student_names:
        if rel != "assignment/layer_utils.py":
            shutil.copyfile(REPO_ROOT / rel, submission / rel)
    with open(submission / "assignment/layer_utils.py", "a", encoding="utf-8") as handle:
        handle.write(HELPER)
    fc_net = submission / "assignment/classifiers/fc_net.py"
    text = fc_net.read_text()
    assert text.count("affine_relu_forward(") == 1
    text = text.replace("affine_relu_forward(", "affine_relu_twice_forward(")
    fc_net.write_text(
        text.replace(
            "import numpy as np\n",
            "import numpy as np\n\nfrom ..layer_utils import affine_relu_twice_forward\n",
            1,
        )
    )
    return submission


def test_helpers_in_layer_utils_are_kept_and_provided_code_restored(
    trusted, helper_submission, tmp_path
):
    merged = merge_submission(trusted, helper_submission, tmp_path / "merged")
    text = (merged.root / "assignment/layer_utils.py").read_text()
    assert "def affine_relu_twice_forward" in text and "return x, None" not in text
    assert merged.broken == {}
    assert any("affine_relu_forward" in note for note in merged.notes)


def test_a_missing_layer_utils_falls_back_to_the_release(trusted, tmp_path):
    submission = tmp_path / "no_utils"
    shutil.copytree(trusted.root, submission)
    (submission / "assignment/layer_utils.py").unlink()
    merged = merge_submission(trusted, submission, tmp_path / "merged")
    assert merged.broken == {}
    assert any("release's copy is used" in note for note in merged.notes)


def test_the_self_check_assembles_the_code_as_the_grader_does(helper_submission):
    """The helper is used and the broken provided function ignored, in the self-check too."""
    done = subprocess.run(
        [sys.executable, "-m", "assignment.check", "FullyConnectedNet.loss", "affine_forward"],
        cwd=helper_submission,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "total" in done.stdout and "FAIL" not in done.stdout
