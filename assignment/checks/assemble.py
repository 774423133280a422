"""Assembling a graded module: the student's functions inside the release's provided code.

The grader (grading/hardened/splice.py) and the self-check both build the code they run this way, so
that what passes one passes the other.

A graded module is the student's file, in the student's order, with our provided code
restored: a student's statement that binds a provided name is replaced by our statement
for that name (an import keeps its other names), provided statements the student deleted
are put back in the release's order, and the release stub stands in for a student
function that is missing. Helpers a student added (functions, classes, constants,
imports) are kept. So is module code that binds nothing (``np.allclose = ...``): in the
grader it runs in the sandbox, where it can only change the student's own outputs, which
are compared with the reference outside.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

# Modules without a solution region whose added helpers are kept (provided code is ours):
# the classic notebooks say that helper layers may go in layer_utils.py.
HELPER_MODULES = ("assignment/layer_utils.py",)
# Written by the release build: {graded module: {"names": [...], "text": its release text}}.
PROVIDED = "assignment/checks/provided.json"

# Python numbers lines by \n, \r\n and \r only (not by str.splitlines' \f, \x1c, \u2028...).
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def split_lines(text: str) -> list[str]:
    """Lines of ``text`` with their endings, numbered the way Python numbers them."""
    return _LINE.findall(text)


class MergeError(Exception):
    """A graded file cannot be used; the message says why, naming the file."""


def merge_module(
    trusted_text: str, student_text: str, names: tuple[str, ...], rel: str
) -> tuple[str, list[str]]:
    """The student's module with our provided code restored: see the module docstring.

    The student's statements keep their order (so ``_old = f`` before a new ``def f``
    means what it meant in the notebook); a statement that binds a provided name becomes
    our statement for that name; provided statements the student deleted are put back in
    the release's order.
    """
    trusted = ast.parse(trusted_text)
    student = _parse_student(student_text, rel)
    region = set(names)
    provided: dict[
        str, int
    ] = {}  # provided name -> index of the first trusted statement binding it
    for index, stmt in enumerate(trusted.body):
        for name in bound_names(stmt) - region:
            provided.setdefault(name, index)
    same = {}  # ast dump -> index of a trusted statement
    for index, stmt in enumerate(trusted.body):
        same.setdefault(ast.dump(stmt), index)
    student_table = _offsets(student_text)
    items: list[_Item] = []
    emitted: set[int] = set()
    notes: list[str] = []
    for stmt in student.body:
        span = _span(student_text, stmt, student_table)
        bound = bound_names(stmt)
        dump = ast.dump(stmt)
        if not bound & region and same.get(dump) is not None and same[dump] not in emitted:
            items.append(_Item(span, [same[dump]]))
            emitted.add(same[dump])
            continue
        clash = sorted(bound & set(provided))
        if not clash:
            items.append(_Item(span, [], _text(student_text, stmt, student_table)))
            continue
        if dump not in same:
            notes.append(
                f"{rel}: ignored the submission's version of {', '.join(clash)} "
                "(provided code is graded as released)"
            )
        ours = sorted({provided[n] for n in clash} - emitted)
        emitted.update(ours)
        items.append(_Item(span, ours, _without_names(stmt, set(provided)) or ""))
    theirs = set().union(*(bound_names(stmt) for stmt in student.body))
    for index, stmt in enumerate(trusted.body):
        if index in emitted or _is_docstring(stmt, trusted):
            continue
        stubs = bound_names(stmt) & region
        if stubs and stubs <= theirs:
            continue  # the student's version stands in for the stub
        missing = sorted(stubs - theirs)
        if missing:
            notes.append(
                f"{rel}: {', '.join(missing)} is missing from the submission; the "
                "release stub is graded"
            )
        items.insert(_insertion_point(items, index, stmt), _Item(None, [index]))
    text = _compose(student_text, trusted_text, trusted, items)
    try:
        ast.parse(text)
    except SyntaxError as error:
        raise MergeError(
            f"{rel} could not be merged with the release ({error.msg}, line "
            f"{error.lineno} of the merged file)"
        ) from None
    return text, notes


@dataclass
class _Item:
    """One piece of the merged module: the student's statement at ``span`` (None for a
    statement put back), replaced by our statements ``ours`` and followed by ``extra``."""

    span: tuple[int, int] | None
    ours: list[int]
    extra: str = ""


def bound_names(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement binds or deletes in the module namespace."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return {a.asname or a.name.split(".")[0] for a in stmt.names if a.name != "*"}
    names: set[str] = set()
    stack: list[ast.AST] = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= bound_names(node)
            continue
        if isinstance(
            node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
        ):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        stack.extend(ast.iter_child_nodes(node))
    return names


# -- helpers ------------------------------------------------------------------------------------


def _parse_student(text: str, rel: str) -> ast.Module:
    try:
        return ast.parse(text)
    except SyntaxError as error:
        raise MergeError(f"{rel} does not parse: line {error.lineno}: {error.msg}") from None
    except (ValueError, RecursionError, MemoryError) as error:
        raise MergeError(f"{rel} does not parse: {type(error).__name__}") from None


def _is_docstring(stmt: ast.stmt, module: ast.Module) -> bool:
    return (
        stmt is module.body[0]
        and isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _insertion_point(items: list[_Item], index: int, stmt: ast.stmt) -> int:
    """Where a provided statement the student deleted goes: before the first of ours that
    follows it in the release, else after the last that precedes it (a __future__ import
    always first)."""
    if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
        return 0
    for position, item in enumerate(items):
        if any(i > index for i in item.ours):
            return position
    for position in range(len(items) - 1, -1, -1):
        if items[position].ours:
            return position + 1
    return 0


def _without_names(stmt: ast.stmt, taken: set[str]) -> str | None:
    """An import without the aliases that bind ``taken`` names; None for anything else."""
    if not isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return None
    aliases = [a for a in stmt.names if (a.asname or a.name.split(".")[0]) not in taken]
    if not aliases:
        return None
    clone = (
        ast.Import(names=aliases)
        if isinstance(stmt, ast.Import)
        else ast.ImportFrom(module=stmt.module, names=aliases, level=stmt.level)
    )
    return ast.unparse(ast.fix_missing_locations(clone))


def _offsets(text: str) -> tuple[list[str], list[int]]:
    lines = split_lines(text)
    starts, total = [], 0
    for line in lines:
        starts.append(total)
        total += len(line)
    return lines, starts


def _position(lines: list[str], starts: list[int], lineno: int, col_bytes: int) -> int:
    """Character offset of an ast (line, UTF-8 byte column) position."""
    if lineno > len(lines):
        return starts[-1] + len(lines[-1]) if lines else 0
    line = lines[lineno - 1]
    return starts[lineno - 1] + len(line.encode("utf-8")[:col_bytes].decode("utf-8", "ignore"))


def _span(text: str, stmt: ast.stmt, table=None) -> tuple[int, int]:
    lines, starts = table or _offsets(text)
    decorators = getattr(stmt, "decorator_list", [])
    if decorators:
        begin = starts[decorators[0].lineno - 1]  # the '@' of a top-level decorator is at column 0
    else:
        begin = _position(lines, starts, stmt.lineno, stmt.col_offset)
    return begin, _position(lines, starts, stmt.end_lineno, stmt.end_col_offset)


def _text(text: str, stmt: ast.stmt, table) -> str:
    begin, end = _span(text, stmt, table)
    return text[begin:end]


def _compose(student_text: str, trusted_text: str, trusted: ast.Module, items: list[_Item]) -> str:
    """The student's text with each item's span replaced; put-back statements between."""
    table = _offsets(trusted_text)
    pieces, cursor = [], 0
    for item in items:
        code = [_text(trusted_text, trusted.body[i], table) for i in item.ours]
        code += [item.extra] if item.extra else []
        if item.span is None:
            pieces.append("\n\n" + "\n\n".join(code) + "\n")
            continue
        pieces.append(student_text[cursor : item.span[0]])
        pieces.append("\n\n".join(code))
        cursor = item.span[1]
    pieces.append(student_text[cursor:])
    return "".join(pieces)
