"""Does the PyTorch notebook, run on the student release, stop at the first function a student
writes, with a message that names the function, its file and the notebook?"""
import re
import types

import nbformat
import pytest

from grading.release.stage import notebook_index, stage_package
from grading.layout import select_notebooks
from grading.release.strip import find_regions

from .conftest import NOTEBOOK_DIR, ROOT

pytestmark = pytest.mark.pytorch

MODULE = "assignment/pytorch_models.py"


def _stub_module(tmp_path):
    """The release's stripped pytorch_models.py, as a module, and the functions it stubs."""
    stage_package(ROOT, tmp_path, notebook_index(select_notebooks(ROOT)))
    module = types.ModuleType("stub_pytorch_models")
    module.__file__ = str(tmp_path / MODULE)
    exec(compile((tmp_path / MODULE).read_text(), MODULE, "exec"), module.__dict__)
    regions = find_regions((ROOT / MODULE).read_text(), MODULE)
    return module, [r.qualname for r in regions if r.qualname]


def test_the_first_student_function_the_notebook_calls_is_flatten(tmp_path):
    _, stubs = _stub_module(tmp_path)
    names = {q.split(".")[0] for q in stubs}
    cells = [c.source for c in nbformat.read(NOTEBOOK_DIR / "PyTorch.ipynb", as_version=4).cells
             if c.cell_type == "code" and "setup_notebook()" not in c.source
             and not c.source.lstrip().startswith(("import", "from", "from assignment.check"))]
    first = next(c for c in cells if any(re.search(rf"\b{n}\(", c) for n in names))
    called = [n for n in names if re.search(rf"\b{n}\(", first)]
    assert called == ["flatten"], first


def test_the_stub_names_the_function_the_file_and_the_notebook(tmp_path):
    """flatten and check_accuracy are also words of earlier notebooks, and the numpy
    ThreeLayerConvNet shares a name with the module's: each stub names PyTorch.ipynb."""
    stub, _ = _stub_module(tmp_path)
    import torch
    with pytest.raises(NotImplementedError) as error:
        stub.flatten(torch.zeros(2, 3))
    message = str(error.value)
    assert "flatten" in message and MODULE in message and "PyTorch.ipynb" in message, message
    with pytest.raises(NotImplementedError, match=r"ThreeLayerConvNet.__init__: .*PyTorch\.ipynb"):
        stub.ThreeLayerConvNet(3, 4, 5, 6)
    with pytest.raises(NotImplementedError, match=r"check_accuracy: .*PyTorch\.ipynb"):
        stub.check_accuracy([], None)
