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
# The longest line a stub may have: the release keeps the line length of the source.
STUB_WIDTH = 100
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
    kept: int = 0  # lines the strip step left in its place (the stub of a solution region)


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
            raise fail(
                number,
                "malformed marker: write it alone on its line, exactly like "
                f"'{MARKERS['BEGIN', SOLUTION]}'; got {content.strip()!r}",
            )
        indent, verb, what = match.groups()
        kind = SOLUTION if what == "SOLUTION" else HIDDEN
        if verb == "BEGIN":
            if open_kind is not None:
                raise fail(
                    number,
                    f"nested marker: {MARKERS['BEGIN', kind]!r} inside the "
                    f"region opened at line {open_line}",
                )
            open_kind, open_line, open_indent = kind, number, indent
            continue
        if open_kind is None:
            raise fail(number, f"{MARKERS['END', kind]!r} without a BEGIN before it")
        if kind != open_kind:
            raise fail(
                number,
                f"{MARKERS['END', kind]!r} closes the "
                f"{MARKERS['BEGIN', open_kind]!r} of line {open_line}",
            )
        if indent != open_indent:
            raise fail(
                number,
                f"{MARKERS['END', kind]!r} is indented differently from its "
                f"BEGIN marker at line {open_line}",
            )
        body = tuple(line.rstrip("\r\n") for line in lines[open_line : number - 1])
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
                raise StripError(
                    path,
                    region.begin,
                    "solution region outside any function or "
                    "method body: only code inside a def can be stubbed",
                )
            region = replace(region, qualname=qualname)
        named.append(region)
    return named


def stub(region: Region, path: str, notebook: str | None) -> list[str]:
    """The lines that replace a solution region (without line endings): a comment and a
    raise naming the function, wrapped to fit :data:`STUB_WIDTH` where needed."""
    where = f"write it in {path}" + (f" (see {notebook})" if notebook else "")
    message = f"{region.qualname}: not implemented yet; {where}"
    indent = region.indent
    comment = f"{indent}# Your code for {region.qualname} goes here, in place of the raise below."
    if len(comment) > STUB_WIDTH:
        comment = f"{indent}# Your code for {region.qualname} goes here."
    one_line = f"{indent}raise NotImplementedError({_quoted(message)})"
    if len(one_line) <= STUB_WIDTH:
        return [comment, one_line]
    inner = indent + "    "
    pieces = _pieces(message, STUB_WIDTH - len(inner) - 2)
    return [
        comment,
        f"{indent}raise NotImplementedError(",
        *(f"{inner}{_quoted(piece)}" for piece in pieces),
        f"{indent})",
    ]


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _pieces(text: str, width: int) -> list[str]:
    """``text`` cut into pieces whose quoted form fits ``width``, at the phrase breaks ("; ",
    " (") where possible, else at spaces (a longer word stands alone); each piece but the
    last keeps its trailing space, so that joined they are ``text``."""
    phrases = [p for p in re.split(r"(?<=; )|(?<= )(?=\()", text) if p]
    words = [w for phrase in phrases for w in _fit(phrase, width)]
    pieces, current = [], ""
    for word in words:
        if current and len(_quoted(current + word)) > width:
            pieces.append(current)
            current = word
        else:
            current += word
    return pieces + [current]


def _fit(phrase: str, width: int) -> list[str]:
    """``phrase`` whole if it fits ``width`` quoted, else its words (with their spaces)."""
    if len(_quoted(phrase)) <= width:
        return [phrase]
    return re.findall(r"\S+\s*", phrase)


def drop_hidden_tests(text: str, path: str) -> tuple[str, list[Region]]:
    """Remove each hidden-test region with its markers; returns the new text and the regions."""
    return _rewrite(text, path, {HIDDEN}, None)


def strip_file(
    text: str, path: str, *, notebook_of: NotebookOf | None = None
) -> tuple[str, list[Region]]:
    """Both steps in one pass, so that errors quote the lines of the original file."""
    return _rewrite(text, path, {SOLUTION, HIDDEN}, notebook_of)


def _rewrite(
    text: str, path: str, kinds: set[str], notebook_of: NotebookOf | None
) -> tuple[str, list[Region]]:
    lines = split_lines(text)
    regions = [r for r in find_regions(text, path) if r.kind in kinds]
    out: list[str] = []
    origin: list[int] = []  # origin[i]: the source line that output line i + 1 comes from
    done: list[Region] = []
    cursor = 1
    for region in regions:
        out.extend(lines[cursor - 1 : region.begin - 1])
        origin.extend(range(cursor, region.begin))
        if region.kind == SOLUTION:
            notebook = notebook_of(region.qualname) if notebook_of else None
            ending = _ending(lines[region.begin - 1])
            lines_of_stub = stub(region, path, notebook)
            out.extend(line + ending for line in lines_of_stub)
            origin.extend([region.begin] * len(lines_of_stub))
            region = replace(region, kept=len(lines_of_stub))
        done.append(region)
        cursor = region.end + 1
    out.extend(lines[cursor - 1 :])
    origin.extend(range(cursor, len(lines) + 1))
    result = "".join(out)
    try:
        ast.parse(result)
    except SyntaxError as error:
        line = origin[min(max(error.lineno or 1, 1), len(origin)) - 1] if origin else None
        raise StripError(
            path,
            line,
            f"the stripped file does not parse ({error.msg}); a region "
            "must not leave an empty block behind (keep a statement outside it)",
        ) from None
    return result, done


def source_line(regions: list[Region], stripped_line: int) -> int:
    """The line of the original file that line ``stripped_line`` of the stripped file came from.

    ``regions`` are those a strip step returned: a solution region left its stub's lines
    (``kept``) in place of its markers and body, a hidden-test region left none.
    """
    shift = 0
    for region in sorted(regions, key=lambda r: r.begin):
        kept = region.kept
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
    prose = {
        tokenize.COMMENT,
        tokenize.STRING,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENCODING,
        tokenize.ENDMARKER,
    }
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
    return line[len(line.rstrip("\r\n")) :] or "\n"
