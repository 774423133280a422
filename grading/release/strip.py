"""Strip solution and hidden-test regions from a ``.py`` file of the student package.

nbgrader copies ``.py`` files unchanged, so the release build strips them here. A solution
region (``### BEGIN SOLUTION`` .. ``### END SOLUTION``, markers included) becomes, at the
marker's indentation, one comment saying where the student's code goes and a
``raise NotImplementedError`` naming the enclosing function, so the stripped package
imports cleanly and fails with a clear message only when the missing code is called. A
hidden-test region (``### BEGIN HIDDEN TESTS`` .. ``### END HIDDEN TESTS``) is removed with
its markers. Every byte outside the regions is kept as it is.

Each step returns the regions it removed (their lines feed the leak scan's fingerprints)
and raises :class:`StripError` with the file and line of anything it cannot strip safely.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from dataclasses import dataclass, replace
from typing import Callable

from assignment.checks.assemble import split_lines
from grading.errors import StripError


SOLUTION = "solution"
HIDDEN = "hidden"
MARKERS = {
    ("BEGIN", SOLUTION): "### BEGIN SOLUTION",
    ("END", SOLUTION): "### END SOLUTION",
    ("BEGIN", HIDDEN): "### BEGIN HIDDEN TESTS",
    ("END", HIDDEN): "### END HIDDEN TESTS",
}
# Any line that mentions a marker phrase is a marker; it must then be one exactly, so a
# typo ("## BEGIN SOLUTION", "### BEGIN SOLUTION here") fails instead of shipping.
_MENTION = re.compile(r"(BEGIN|END) (SOLUTION|HIDDEN TESTS)")
_EXACT = re.compile(r"^([ \t]*)### (BEGIN|END) (SOLUTION|HIDDEN TESTS)[ \t]*$")

NotebookOf = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Region:
    """One marked region of a source file; lines are 1-based and include the markers."""

    kind: str
    begin: int
    end: int
    indent: str
    qualname: str | None
    body: tuple[str, ...]


def find_markers(lines: list[str], path: str, *, cell: int | None = None) -> list[Region]:
    """The marked regions of ``lines`` (qualname left None), checked for balance and nesting.

    ``lines`` may keep their endings; ``cell`` locates errors inside a notebook.
    """
    def fail(line: int, msg: str) -> StripError:
        return StripError(path, line, msg, cell=cell)

    regions: list[Region] = []
    open_kind = open_line = open_indent = None
    for number, line in enumerate(lines, start=1):
        content = line.rstrip("\r\n")
        if not _MENTION.search(content):
            continue
        match = _EXACT.match(content)
        if match is None:
            raise fail(number, "malformed marker: write it alone on its line, exactly like "
                       f"'{MARKERS['BEGIN', SOLUTION]}'; got {content.strip()!r}")
        indent, verb, what = match.groups()
        kind = SOLUTION if what == "SOLUTION" else HIDDEN
        if verb == "BEGIN":
            if open_kind is not None:
                raise fail(number, f"nested marker: {MARKERS['BEGIN', kind]!r} inside the "
                           f"region opened at line {open_line}")
            open_kind, open_line, open_indent = kind, number, indent
            continue
        if open_kind is None:
            raise fail(number, f"{MARKERS['END', kind]!r} without a BEGIN before it")
        if kind != open_kind:
            raise fail(number, f"{MARKERS['END', kind]!r} closes the "
                       f"{MARKERS['BEGIN', open_kind]!r} of line {open_line}")
        if indent != open_indent:
            raise fail(number, f"{MARKERS['END', kind]!r} is indented differently from its "
                       f"BEGIN marker at line {open_line}")
        body = tuple(l.rstrip("\r\n") for l in lines[open_line:number - 1])
        regions.append(Region(kind, open_line, number, indent, None, body))
        open_kind = None
    if open_kind is not None:
        raise fail(open_line, f"{MARKERS['BEGIN', open_kind]!r} is never closed")
    return regions


def find_regions(text: str, path: str) -> list[Region]:
    """Every solution and hidden-test region of a ``.py`` file; ``path`` names it in errors.

    Solution regions get the qualified name of the innermost function or method whose
    body holds the BEGIN marker (``affine_forward``, ``FullyConnectedNet.loss``).
    """
    tree = _parse(text, path, "the file does not parse")
    regions = find_markers(split_lines(text), path)
    named = []
    for region in regions:
        if region.kind == SOLUTION:
            qualname = _enclosing_def(tree, region.begin)
            if qualname is None:
                raise StripError(path, region.begin, "solution region outside any function or "
                                 "method body: only code inside a def can be stubbed")
            region = replace(region, qualname=qualname)
        named.append(region)
    return named


def stub(region: Region, path: str, notebook: str | None) -> list[str]:
    """The two lines that replace a solution region (without line endings)."""
    where = f"write it in {path}" + (f" (see {notebook})" if notebook else "")
    message = f"{region.qualname}: not implemented yet; {where}"
    return [f"{region.indent}# Your code for {region.qualname} goes here, in place of the raise below.",
            f"{region.indent}raise NotImplementedError({json.dumps(message, ensure_ascii=False)})"]


def drop_hidden_tests(text: str, path: str) -> tuple[str, list[Region]]:
    """Remove each hidden-test region with its markers; returns the new text and the regions."""
    return _rewrite(text, path, {HIDDEN}, None)


def strip_file(text: str, path: str, *, notebook_of: NotebookOf | None = None
               ) -> tuple[str, list[Region]]:
    """Both steps in one pass, so that errors quote the lines of the original file."""
    return _rewrite(text, path, {SOLUTION, HIDDEN}, notebook_of)


def _rewrite(text: str, path: str, kinds: set[str], notebook_of: NotebookOf | None
             ) -> tuple[str, list[Region]]:
    lines = split_lines(text)
    regions = [r for r in find_regions(text, path) if r.kind in kinds]
    out: list[str] = []
    origin: list[int] = []  # origin[i]: the source line that output line i + 1 comes from
    cursor = 1
    for region in regions:
        out.extend(lines[cursor - 1:region.begin - 1])
        origin.extend(range(cursor, region.begin))
        if region.kind == SOLUTION:
            notebook = notebook_of(region.qualname) if notebook_of else None
            ending = _ending(lines[region.begin - 1])
            out.extend(l + ending for l in stub(region, path, notebook))
            origin.extend([region.begin] * 2)
        cursor = region.end + 1
    out.extend(lines[cursor - 1:])
    origin.extend(range(cursor, len(lines) + 1))
    result = "".join(out)
    try:
        ast.parse(result)
    except SyntaxError as error:
        line = origin[min(max(error.lineno or 1, 1), len(origin)) - 1] if origin else None
        raise StripError(path, line, f"the stripped file does not parse ({error.msg}); a region "
                         "must not leave an empty block behind (keep a statement outside it)"
                         ) from None
    return result, regions


def source_line(regions: list[Region], stripped_line: int) -> int:
    """The line of the original file that line ``stripped_line`` of the stripped file came from.

    ``regions`` are those a strip step removed: a solution region left two stub lines in
    place of its markers and body, a hidden-test region left none.
    """
    shift = 0
    for region in sorted(regions, key=lambda r: r.begin):
        kept = 2 if region.kind == SOLUTION else 0
        start = region.begin + shift  # where the region's replacement starts, stripped numbering
        if stripped_line < start:
            break
        if stripped_line < start + kept:
            return region.begin
        shift += kept - (region.end - region.begin + 1)
    return stripped_line - shift


def code_lines(text: str, regions: list[Region]) -> list[str]:
    """Lines outside ``regions`` that hold code, not only comments, strings or blanks.

    The leak scan tolerates a reference line that provided code also shows (the student
    sees it anyway); a copy of it in a comment or docstring is still a leak.
    """
    inside = {n for r in regions for n in range(r.begin, r.end + 1)}
    prose = {tokenize.COMMENT, tokenize.STRING, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
             tokenize.DEDENT, tokenize.ENCODING, tokenize.ENDMARKER}
    numbers: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type not in prose:
            numbers.update(range(token.start[0], token.end[0] + 1))
    lines = split_lines(text)
    return [lines[n - 1].rstrip("\r\n") for n in sorted(numbers - inside) if n <= len(lines)]


def _parse(text: str, path: str, why: str) -> ast.Module:
    try:
        return ast.parse(text)
    except SyntaxError as error:
        raise StripError(path, error.lineno, f"{why}: {error.msg}") from None


def _enclosing_def(tree: ast.Module, line: int) -> str | None:
    """Dotted name of the innermost def whose body holds ``line``, through classes and defs."""
    best: str | None = None

    def visit(node: ast.AST, prefix: tuple[str, ...]) -> None:
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if not child.lineno < line <= child.end_lineno:
                    continue
                name = prefix + (child.name,)
                if not isinstance(child, ast.ClassDef):
                    best = ".".join(name)
                visit(child, name)
            else:
                visit(child, prefix)

    visit(tree, ())
    return best


def _ending(line: str) -> str:
    return line[len(line.rstrip("\r\n")):] or "\n"
