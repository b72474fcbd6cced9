"""Models with a ReLU hidden layer, whose neurons form a privileged basis (Elhage et al. 2022).

neuron       ("Superposition in a privileged basis"):  h = ReLU(W x),   x' = ReLU(W^T h + b)
computation  ("Computation in superposition"):         h = ReLU(W1 x),  y  = ReLU(W2 h + b), trained on y = |x|

The hidden ReLU makes each neuron a natural unit to inspect: a neuron is monosemantic when one feature drives it and
polysemantic when several do. `abs_construction` is the non-superposed solution of the computation task,
|x| = ReLU(x) + ReLU(-x), with two neurons per feature.

The paper gives no initialisation for the computation model; ARENA's exercise (the one source with code for it)
starts W1 and W2 from torch's kaiming_uniform_ on its [inst, out, in] tensors, which `init="kaiming_uniform"`
reproduces: weights five times smaller than the per-matrix xavier start, and it decides the solution found (see
investigations/neurons_computation_source.py).

Stored tensors (each with a leading instance dimension):
- NeuronModel:      `W` `[n_instances, n_features, n_hidden]` (hidden = ReLU(x @ W[k])),
                    `b` `[n_instances, n_features]`.
- ComputationModel: `W1` `[n_instances, n_features, n_hidden]` (hidden = ReLU(x @ W1[k])),
                    `W2` `[n_instances, n_hidden, n_features]` (y = ReLU(hidden @ W2[k] + b[k])),
                    `b` `[n_instances, n_features]`.
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor, nn

from ..errors import ConfigError
from ..config import ToyModelConfig
from .base import check_kind, check_sizes, weighted_mse, xavier_normal


INITS = ("xavier_normal", "kaiming_uniform", "zeros")


def kaiming_uniform(
    shape: tuple[int, int, int], generator: torch.Generator | None, device: str | torch.device
) -> Float[Tensor, "inst a b"]:
    """torch's kaiming_uniform_ (a = 0, gain sqrt 2) applied to a whole [inst, a, b] tensor, as ARENA does: torch
    takes the fan-in of a 3-D tensor as a x b, so weights are uniform within +-sqrt(6 / (a b)) for either
    orientation of W1 or W2 (+-0.039 for n = 100, m = 40).

    >>> w = kaiming_uniform((2, 100, 40), torch.Generator().manual_seed(0), "cpu")
    >>> bool(w.abs().max() <= (6 / 4000) ** 0.5), round(float(w.std()), 4)
    (True, 0.0223)
    """
    bound = (6.0 / (shape[1] * shape[2])) ** 0.5
    return torch.empty(shape, device=device).uniform_(-bound, bound, generator=generator)


def _init_weights(init: str, shape: tuple[int, int, int], generator, device) -> Tensor:
    if init not in INITS:
        raise ConfigError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    if init == "zeros":
        return torch.zeros(shape, device=device)
    return (kaiming_uniform if init == "kaiming_uniform" else xavier_normal)(shape, generator, device)


def _check_shape(name: str, t: Tensor | None, shape: tuple[int, ...], meaning: str) -> None:
    if t is not None and tuple(t.shape) != shape:
        raise ConfigError(f"{name} must be {meaning} = {list(shape)}, got shape {tuple(t.shape)}")


class NeuronModel(nn.Module):
    """Tied autoencoder with a ReLU on the hidden layer: h = ReLU(W x), x' = ReLU(W^T h + b).

    >>> config = ToyModelConfig(kind="neuron", n_hidden=3)
    >>> model = NeuronModel(config, n_features=5, n_instances=2, generator=torch.Generator().manual_seed(0))
    >>> model(torch.rand(2, 16, 5)).shape
    torch.Size([2, 16, 5])
    """

    def __init__(
        self,
        config: ToyModelConfig,
        *,
        n_features: int,
        n_instances: int,
        generator: torch.Generator | None = None,
        device: str | torch.device = "cpu",
    ):
        super().__init__()
        check_kind(type(self), config.kind, ("neuron",))
        n_hidden = config.n_hidden
        check_sizes(n_features=n_features, n_hidden=n_hidden, n_instances=n_instances)
        self.config = config
        self.n_features, self.n_hidden, self.n_instances = n_features, n_hidden, n_instances
        self.W = nn.Parameter(_init_weights(config.init, (n_instances, n_features, n_hidden), generator, device))
        self.b = nn.Parameter(torch.zeros(n_instances, n_features, device=device)) if config.bias else None

    @classmethod
    def from_weights(
        cls, W: Float[Tensor, "inst feat hidden"], b: Float[Tensor, "inst feat"] | None = None
    ) -> "NeuronModel":
        """Build a model around given weights (a hand-made solution or a loaded run)."""
        if W.ndim != 3:
            raise ConfigError(f"W must be [n_instances, n_features, n_hidden], got shape {tuple(W.shape)}")
        n_inst, n_feat, n_hidden = W.shape
        _check_shape("b", b, (n_inst, n_feat), "[n_instances, n_features]")
        config = ToyModelConfig(kind="neuron", n_hidden=n_hidden, bias=b is not None, init="zeros")
        model = cls(config, n_features=n_feat, n_instances=n_inst, device=W.device)
        with torch.no_grad():
            model.W.copy_(W)
            if b is not None and model.b is not None:
                model.b.copy_(b)
        return model

    def hidden(self, x: Float[Tensor, "inst batch feat"]) -> Float[Tensor, "inst batch hidden"]:
        """Neuron activations ReLU(W x)."""
        return torch.relu(torch.bmm(x, self.W))

    def forward(self, x: Float[Tensor, "inst batch feat"]) -> Float[Tensor, "inst batch feat"]:
        h = self.hidden(x)
        dec = self.W.transpose(1, 2)
        out = torch.bmm(h, dec) if self.b is None else torch.baddbmm(self.b[:, None, :], h, dec)
        return torch.relu(out)

    def loss(self, batch) -> Float[Tensor, "inst"]:
        """Importance-weighted squared error against `batch.target`, per instance."""
        return weighted_mse(self(batch.x), batch.target, batch.weight)

    def loss_and_grads(self, batch) -> tuple[Float[Tensor, "inst"], list[Tensor]]:
        """`loss(batch)` and the gradient of its sum for each of `parameters()` (W, then b), computed by hand.

        Works feature-major (`[inst, feat, batch]`, how the data generator stores x) and builds no autograd graph,
        which on small models costs more than the arithmetic.
        """
        xt, tt = batch.x.transpose(1, 2), batch.target.transpose(1, 2)
        importance = batch.weight[:, 0, :]  # [inst, feat]: the data's weight is constant over the batch
        W = self.W
        with torch.no_grad():
            h = torch.bmm(W.transpose(1, 2), xt).relu_()  # [inst, hidden, batch]
            out = torch.bmm(W, h) if self.b is None else torch.baddbmm(self.b.unsqueeze(2), W, h)
            out.relu_()
            r = out - tt
            scale = 1.0 / (r.shape[1] * r.shape[2])
            loss = (torch.linalg.vector_norm(r, dim=2).square_() * importance).sum(dim=1).mul_(scale)
            # d loss / d out-pre-ReLU = 2 I r / (feat * batch) where out > 0 (out >= 0, so sign(out) is the mask);
            # the factor k = 2 I scale is applied to the small tensors, never to the full-size ones.
            g = r.mul_(out.sign_())
            k = (2.0 * scale) * importance[:, :, None]  # [inst, feat, 1]
            grad_dec = torch.bmm(g, h.transpose(1, 2)).mul_(k)  # W as decoder: d/dW[f, n] of W[f, n] h[n]
            gh = torch.bmm(W.mul(k).transpose(1, 2), g).mul_(h.sign())  # back through the hidden ReLU
            grads = [torch.bmm(xt, gh.transpose(1, 2)).add_(grad_dec)]  # encoder + decoder use of the tied W
            if self.b is not None:
                grads.append(g.sum(dim=2).mul_(k[:, :, 0]))
        return loss, grads

    def weights(self) -> dict[str, Tensor]:
        """Tensors to store, by their documented names."""
        out = {"W": self.W.detach()}
        if self.b is not None:
            out["b"] = self.b.detach()
        return out


class ComputationModel(nn.Module):
    """Two-layer ReLU network for computation in superposition: h = ReLU(W1 x), y = ReLU(W2 h + b).

    Trained with targets |x| (x uniform on [-1, 1) where active); the model itself fits whatever `batch.target` is.
    `init` starts W1 and W2 from xavier-normal per matrix (the default) or from ARENA's `kaiming_uniform`.

    >>> config = ToyModelConfig(kind="abs", n_hidden=8)
    >>> model = ComputationModel(config, n_features=4, n_instances=2, generator=torch.Generator().manual_seed(0))
    >>> model(torch.rand(2, 16, 4) * 2 - 1).shape
    torch.Size([2, 16, 4])
    """

    def __init__(
        self,
        config: ToyModelConfig,
        *,
        n_features: int,
        n_instances: int,
        generator: torch.Generator | None = None,
        device: str | torch.device = "cpu",
    ):
        super().__init__()
        check_kind(type(self), config.kind, ("abs",))
        n_hidden = config.n_hidden
        check_sizes(n_features=n_features, n_hidden=n_hidden, n_instances=n_instances)
        self.config = config
        self.n_features, self.n_hidden, self.n_instances = n_features, n_hidden, n_instances
        self.W1 = nn.Parameter(_init_weights(config.init, (n_instances, n_features, n_hidden), generator, device))
        self.W2 = nn.Parameter(_init_weights(config.init, (n_instances, n_hidden, n_features), generator, device))
        self.b = nn.Parameter(torch.zeros(n_instances, n_features, device=device)) if config.bias else None

    @classmethod
    def from_weights(
        cls,
        W1: Float[Tensor, "inst feat hidden"],
        W2: Float[Tensor, "inst hidden feat"],
        b: Float[Tensor, "inst feat"] | None = None,
    ) -> "ComputationModel":
        """Build a model around given weights (a hand-made solution or a loaded run)."""
        if W1.ndim != 3:
            raise ConfigError(f"W1 must be [n_instances, n_features, n_hidden], got shape {tuple(W1.shape)}")
        n_inst, n_feat, n_hidden = W1.shape
        _check_shape("W2", W2, (n_inst, n_hidden, n_feat), "[n_instances, n_hidden, n_features]")
        _check_shape("b", b, (n_inst, n_feat), "[n_instances, n_features]")
        config = ToyModelConfig(kind="abs", n_hidden=n_hidden, bias=b is not None, init="zeros")
        model = cls(config, n_features=n_feat, n_instances=n_inst, device=W1.device)
        with torch.no_grad():
            model.W1.copy_(W1)
            model.W2.copy_(W2)
            if b is not None and model.b is not None:
                model.b.copy_(b)
        return model

    def hidden(self, x: Float[Tensor, "inst batch feat"]) -> Float[Tensor, "inst batch hidden"]:
        """Neuron activations ReLU(W1 x)."""
        return torch.relu(torch.bmm(x, self.W1))

    def forward(self, x: Float[Tensor, "inst batch feat"]) -> Float[Tensor, "inst batch feat"]:
        h = self.hidden(x)
        out = torch.bmm(h, self.W2) if self.b is None else torch.baddbmm(self.b[:, None, :], h, self.W2)
        return torch.relu(out)

    def loss(self, batch) -> Float[Tensor, "inst"]:
        """Importance-weighted squared error against `batch.target` (|x| for the abs task), per instance."""
        return weighted_mse(self(batch.x), batch.target, batch.weight)

    def loss_and_grads(self, batch) -> tuple[Float[Tensor, "inst"], list[Tensor]]:
        """`loss(batch)` and the gradient of its sum for each of `parameters()` (W1, W2, then b), by hand.

        Feature-major (`[inst, feat, batch]`) and without an autograd graph, like ToyModel.loss_and_grads.
        """
        xt, tt = batch.x.transpose(1, 2), batch.target.transpose(1, 2)
        importance = batch.weight[:, 0, :]  # [inst, feat]
        W1, W2 = self.W1, self.W2
        with torch.no_grad():
            h = torch.bmm(W1.transpose(1, 2), xt).relu_()  # [inst, hidden, batch]
            W2t = W2.transpose(1, 2)  # [inst, feat, hidden]
            out = torch.bmm(W2t, h) if self.b is None else torch.baddbmm(self.b.unsqueeze(2), W2t, h)
            out.relu_()
            r = out - tt
            scale = 1.0 / (r.shape[1] * r.shape[2])
            loss = (torch.linalg.vector_norm(r, dim=2).square_() * importance).sum(dim=1).mul_(scale)
            g = r.mul_(out.sign_())  # zero where the output ReLU is off
            k = (2.0 * scale) * importance[:, :, None]  # [inst, feat, 1], applied to small tensors only
            kt = k.transpose(1, 2)  # [inst, 1, feat]
            grad_W2 = torch.bmm(h, g.transpose(1, 2)).mul_(kt)  # [inst, hidden, feat]
            gh = torch.bmm(W2.mul(kt), g).mul_(h.sign())  # [inst, hidden, batch], back through the hidden ReLU
            grads = [torch.bmm(xt, gh.transpose(1, 2)), grad_W2]
            if self.b is not None:
                grads.append(g.sum(dim=2).mul_(k[:, :, 0]))
        return loss, grads

    def weights(self) -> dict[str, Tensor]:
        """Tensors to store, by their documented names."""
        out = {"W1": self.W1.detach(), "W2": self.W2.detach()}
        if self.b is not None:
            out["b"] = self.b.detach()
        return out


def abs_construction(
    n_features: int, n_instances: int = 1, device: str | torch.device = "cpu"
) -> ComputationModel:
    """The hand-built, non-superposed abs solution with 2n neurons: |x| = ReLU(x) + ReLU(-x).

    Neuron 2i = ReLU(x_i), neuron 2i+1 = ReLU(-x_i); W2 adds both into output i; b = 0. Exact on any input in
    the feature basis, dense or sparse, so its loss is zero.

    >>> model = abs_construction(3)
    >>> x = torch.tensor([[[0.5, -0.25, 0.0]]])
    >>> model(x).tolist()
    [[[0.5, 0.25, 0.0]]]
    """
    if n_features <= 0 or n_instances <= 0:
        raise ConfigError(f"sizes must be positive, got n_features={n_features}, n_instances={n_instances}")
    eye = torch.eye(n_features, device=device)
    # Interleave +e_i and -e_i so that neurons 2i, 2i+1 are feature i's positive and negative sides.
    W1 = (torch.stack([eye, -eye], dim=2) + 0.0).reshape(n_features, 2 * n_features)  # + 0.0 turns -0.0 into 0.0
    W2 = torch.stack([eye, eye], dim=1).reshape(2 * n_features, n_features)
    return ComputationModel.from_weights(
        W1.expand(n_instances, -1, -1).clone(),
        W2.expand(n_instances, -1, -1).clone(),
        torch.zeros(n_instances, n_features, device=device),
    )
