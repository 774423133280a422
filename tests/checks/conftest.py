"""Ways to build the code under test for check tests: the reference, the stripped stub, and
the reference with one function swapped for a buggy variant."""

import shutil
import sys
import types
from pathlib import Path

import pytest

from assignment.checks import CATALOGUE, PublicExpected, evaluate, load_api

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def part5_reference_weights():
    """Part V's checks read trained weights beside the package: the reference's, trained
    once per checkout when missing (about 20 s on the embedded data)."""
    from grading.part5 import reference_weights

    return reference_weights()


@pytest.fixture(scope="session")
def reference_api():
    return load_api()


@pytest.fixture(scope="session")
def public_expected():
    return PublicExpected.load()


@pytest.fixture(scope="session")
def stub_api(tmp_path_factory):
    """The student release of the package (solutions stripped), importable as `stub_pkg`."""
    from grading.release.strip import strip_file

    dest = tmp_path_factory.mktemp("stub") / "stub_pkg"
    shutil.copytree(ROOT / "assignment", dest, ignore=shutil.ignore_patterns("__pycache__"))
    for path in dest.rglob("*.py"):
        text, _ = strip_file(path.read_text(), str(path.relative_to(dest.parent)))
        path.write_text(text)
    sys.path.insert(0, str(dest.parent))
    try:
        yield load_api("stub_pkg")
    finally:
        sys.path.remove(str(dest.parent))
        for name in [m for m in sys.modules if m == "stub_pkg" or m.startswith("stub_pkg.")]:
            del sys.modules[name]


def with_bug(api, module, **replacements):
    """A copy of `api` whose `module` has some attributes replaced (the rest untouched)."""
    patched = types.SimpleNamespace(**vars(api))
    original = getattr(api, module)
    clone = types.ModuleType(original.__name__)
    clone.__dict__.update({k: v for k, v in vars(original).items() if not k.startswith("__")})
    clone.__dict__.update(replacements)
    setattr(patched, module, clone)
    return patched


def source_bug(api, module, old, new, within=None):
    """A copy of `api` whose `module` is the reference source with `old` replaced by `new`
    (inside the top-level function or class `within`, by default the check's own): a realistic
    bug written as the diff a student would make."""
    original = getattr(api, module)
    source = Path(original.__file__).read_text()
    start = (
        source.index(f"def {within}(")
        if within and f"def {within}(" in source
        else source.index(f"class {within}")
        if within
        else 0
    )
    end = min(
        (
            i
            for i in (source.find("\ndef ", start + 1), source.find("\nclass ", start + 1))
            if i > 0
        ),
        default=len(source),
    )
    span = source[start:end]
    assert span.count(old) == 1, f"{old!r} must occur exactly once in {within or original.__file__}"
    source = source[:start] + span.replace(old, new) + source[end:]
    clone = types.ModuleType(original.__name__)
    clone.__dict__.update(__package__=original.__package__, __file__=original.__file__)
    exec(compile(source, original.__file__, "exec"), clone.__dict__)
    patched = types.SimpleNamespace(**vars(api))
    setattr(patched, module, clone)
    return patched


def run_check(name, api, expected=None, reference=None, hidden=True):
    """Evaluate one check of the catalogue with public and hidden cases."""
    return evaluate(CATALOGUE[name], api, expected=expected, hidden=hidden, reference=reference)


def assert_bug_caught(
    name, module, old, new, words, reference_api, public_expected, in_kernel=False
):
    """The check `name` fails the reference with the diff old -> new applied, against the
    shipped public data (with `words` in its message) and against the reference; with
    in_kernel, also with no reference values at all (a student's kernel)."""
    buggy = source_bug(reference_api, module, old, new, within=name.split(".")[0])
    public = run_check(name, buggy, expected=public_expected, hidden=False)
    assert not public.passed, f"{name} did not catch: {new}"
    assert words in public.message, public.message
    assert not run_check(name, buggy, reference=reference_api).passed
    if in_kernel:
        assert not run_check(name, buggy).passed, (
            "a student's kernel, with no reference values, must catch it too"
        )
