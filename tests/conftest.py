import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # Small tensors: one thread is faster and keeps timings out of each other's way on 2 shared cores.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
