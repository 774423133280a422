"""Does a forked batch worker run torch after its parent did (torch's thread pool does not
survive fork)?"""

import pytest

from grading.hardened.batch import Graded, grade_batch

pytestmark = pytest.mark.grading


def test_a_worker_runs_torch_after_the_parent_did(tmp_path):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    x, w = torch.randn(8, 16, 32, 32), torch.randn(16, 16, 3, 3)
    torch.nn.functional.conv2d(x, w)  # the parent's pool is running now

    def grade_one(student, root, scratch):
        torch.nn.functional.conv2d(x, w)
        return Graded([], "test")

    (tmp_path / "subs" / "alice").mkdir(parents=True)
    summary = grade_batch(
        tmp_path / "subs",
        tmp_path / "out",
        grade_one=grade_one,
        workers=1,
        checks=[],
        progress=False,
        timeout_s=60,
    )
    assert summary.graded == ["alice"] and summary.failed == {}
