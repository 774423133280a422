"""The code the hardened grader imports: the student's functions inside our release copy.

Only what a student is asked to write comes from a submission: the top-level functions and
classes that hold a ``### BEGIN SOLUTION`` region in the source (``affine_forward``,
``FullyConnectedNet`` as a whole), and the helpers a student adds to a graded module or to
a module where the course invites them (:data:`HELPER_MODULES`: the classic notebooks say
that helper layers may go in ``layer_utils.py``). Everything else is the trusted release copy built from
the source (stubs in place of solutions, hidden cases removed): the provided functions,
classes and constants of a graded module, and every other module (solver, fast_layers,
checks/, ...), whatever the submission holds.

A graded module is the student's file, in the student's order, with our provided code
restored: a student's statement that binds a provided name is replaced by our statement
for that name (an import keeps its other names), provided statements the student deleted
are put back in the release's order, and the release stub stands in for a student
function that is missing. Helpers a student added (functions, classes, constants,
imports) are kept. So is module code that binds nothing (``np.allclose = ...``): it runs in
the sandbox, where it can only change the student's own outputs, which the grader
compares with the reference outside.

A graded file that is missing, not text or does not parse makes only its own module
"broken": the merged module raises ImportError with the reason, and the grader scores the
checks of that module 0 with it.
"""

from __future__ import annotations

import ast
import io
import shutil
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from grading.release import REPO_ROOT, notebook_index, select_notebooks, stage_package
from grading.strip import split_lines

PACKAGE = "assignment"
MAX_MODULE_BYTES = 1_000_000
# Data files a submission may carry (release-relative path: the most bytes accepted), copied
# beside the merged package for the checks that read them (Part V's trained weights).
SUBMISSION_DATA = {"part5_weights.pt": 50_000_000}
# Modules without a solution region whose added helpers are kept (provided code is ours).
HELPER_MODULES = (f"{PACKAGE}/layer_utils.py",)


@dataclass(frozen=True)
class TrustedCopy:
    """The release copy of the package (``root/assignment``) and the names students write.

    ``student_names``: ``{release-relative .py path: top-level names taken from a
    submission}``, e.g. ``{"assignment/layers.py": ("affine_forward", ...)}``.
    """

    root: Path
    student_names: dict[str, tuple[str, ...]]


@dataclass
class Merged:
    """The merged package at ``root/assignment``; ``broken`` maps a graded file to why it
    could not be used; ``notes`` say what was dropped or missing."""

    root: Path
    broken: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def build_trusted_copy(dest: Path, source_root: Path = REPO_ROOT) -> TrustedCopy:
    """Stage the release copy of the package into ``dest`` (once per batch)."""
    dest = Path(dest)
    notebook_of = notebook_index(select_notebooks(Path(source_root)))
    staged = stage_package(Path(source_root), dest, notebook_of)
    names: dict[str, list[str]] = {}
    for region in staged.stripped:
        top = region.qualname.split(".")[0]
        names.setdefault(region.path, [])
        if top not in names[region.path]:
            names[region.path].append(top)
    for path in HELPER_MODULES:
        names.setdefault(path, [])
    return TrustedCopy(dest, {path: tuple(tops) for path, tops in names.items()})


def module_file(short: str) -> str:
    """Release-relative path of a module known to the checks by its short name ('fc_net')."""
    from assignment.checks.api import MODULES
    return f"{PACKAGE}/{MODULES[short].replace('.', '/')}.py"


def merge_submission(trusted: TrustedCopy, submission: Path, dest: Path) -> Merged:
    """Write the merged package for ``submission`` (a folder in the release layout) to
    ``dest/assignment``; the submission is only read."""
    dest = Path(dest)
    shutil.copytree(trusted.root / PACKAGE, dest / PACKAGE)
    merged = Merged(dest)
    for rel, names in trusted.student_names.items():
        trusted_text = (trusted.root / rel).read_text(encoding="utf-8")
        try:
            student_text = _read_student(Path(submission) / rel, rel)
            text, notes = merge_module(trusted_text, student_text, names, rel)
        except MergeError as error:
            if rel in HELPER_MODULES:  # nothing graded in it: the release's copy serves
                text, notes = trusted_text, [f"{error}; the release's copy is used"]
            else:
                merged.broken[rel] = str(error)
                text, notes = f"raise ImportError({str(error)!r})\n", []
        (dest / rel).write_text(text, encoding="utf-8")
        merged.notes += notes
    for rel, limit in SUBMISSION_DATA.items():
        note = copy_data_file(Path(submission) / rel, dest / rel, limit, rel)
        if note:
            merged.notes.append(note)
    return merged


def copy_data_file(source: Path, dest: Path, limit: int, rel: str) -> str | None:
    """Copy a data file of the submission if it is a regular file of at most ``limit``
    bytes; otherwise leave it out (its check reports it missing) and say why."""
    if not source.exists() and not source.is_symlink():
        return None
    if source.is_symlink() or not source.is_file():
        return f"{rel}: not a regular file; left out"
    with open(source, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        return f"{rel}: larger than {limit // 1_000_000} MB; left out"
    dest.write_bytes(data)
    return None


class MergeError(Exception):
    """A graded file cannot be used; the message says why, naming the file."""


def merge_module(trusted_text: str, student_text: str, names: tuple[str, ...], rel: str
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
    provided: dict[str, int] = {}  # provided name -> index of the first trusted statement binding it
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
            notes.append(f"{rel}: ignored the submission's version of {', '.join(clash)} "
                         "(provided code is graded as released)")
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
            notes.append(f"{rel}: {', '.join(missing)} is missing from the submission; the "
                         "release stub is graded")
        items.insert(_insertion_point(items, index, stmt), _Item(None, [index]))
    text = _compose(student_text, trusted_text, trusted, items)
    try:
        ast.parse(text)
    except SyntaxError as error:
        raise MergeError(f"{rel} could not be merged with the release ({error.msg}, line "
                         f"{error.lineno} of the merged file)") from None
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
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                             ast.GeneratorExp)):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        stack.extend(ast.iter_child_nodes(node))
    return names


# -- helpers -----------------------------------------------------------------------------------

def _read_student(path: Path, rel: str) -> str:
    if path.is_symlink() or not path.is_file():
        raise MergeError(f"{rel} is missing from the submission")
    data = path.read_bytes()
    if len(data) > MAX_MODULE_BYTES:
        raise MergeError(f"{rel} is larger than {MAX_MODULE_BYTES // 1000} kB")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError) as error:
        raise MergeError(f"{rel} is not readable Python text ({error})") from None


def _parse_student(text: str, rel: str) -> ast.Module:
    try:
        return ast.parse(text)
    except SyntaxError as error:
        raise MergeError(f"{rel} does not parse: line {error.lineno}: {error.msg}") from None
    except (ValueError, RecursionError, MemoryError) as error:
        raise MergeError(f"{rel} does not parse: {type(error).__name__}") from None


def _is_docstring(stmt: ast.stmt, module: ast.Module) -> bool:
    return (stmt is module.body[0] and isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str))


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
    clone = ast.Import(names=aliases) if isinstance(stmt, ast.Import) else \
        ast.ImportFrom(module=stmt.module, names=aliases, level=stmt.level)
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


def _compose(student_text: str, trusted_text: str, trusted: ast.Module,
             items: list[_Item]) -> str:
    """The student's text with each item's span replaced; put-back statements between."""
    table = _offsets(trusted_text)
    pieces, cursor = [], 0
    for item in items:
        code = [_text(trusted_text, trusted.body[i], table) for i in item.ours]
        code += [item.extra] if item.extra else []
        if item.span is None:
            pieces.append("\n\n" + "\n\n".join(code) + "\n")
            continue
        pieces.append(student_text[cursor:item.span[0]])
        pieces.append("\n\n".join(code))
        cursor = item.span[1]
    pieces.append(student_text[cursor:])
    return "".join(pieces)
