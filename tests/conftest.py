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


def monte_carlo_loss(W, b, data_config, samples: int = 400_000):
    """The training loss of a toy model with weights `W`, `b` on `data_config`'s data, by sampling in float64 (so
    only the sampling limits the comparison with an exact loss): its mean per instance and the mean's standard
    error."""
    from superposition.data import FeatureData
    from superposition.models import ToyModel

    model = ToyModel.from_weights(W, b).double()
    batch = FeatureData(data_config).sample(samples, torch.Generator().manual_seed(0))
    x = batch.x.double()
    per_sample = (batch.weight * (model(x) - x).square()).mean(-1)  # [inst, batch]: the training loss per sample
    return per_sample.mean(-1), per_sample.std(-1) / per_sample.shape[-1] ** 0.5
