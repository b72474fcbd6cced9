import os

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # Small tensors: one thread is faster and keeps timings out of each other's way on 2 shared cores.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def skip_or_fail(reason: str) -> None:
    """A test whose tools are missing: skipped locally, failed when `CI` is set (CI installs every extra and the
    system's chromium, so a missing one there is a broken install, not a reason to skip)."""
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}", pytrace=False)
    pytest.skip(reason)
