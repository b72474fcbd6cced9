"""The toy autoencoders of Toy Models of Superposition, with an instance dimension.

linear:  h = W x,  x' = W^T h + b          (can only do PCA: it keeps the m most important features)
relu:    h = W x,  x' = ReLU(W^T h + b)    (can superpose: negative interference is cut off by the ReLU)

Weights are stored as `W` `[n_instances, n_features, n_hidden]` so that hidden = x @ W[k]; the bias `b` is
`[n_instances, n_features]`; an untied decoder is `W_dec` `[n_instances, n_hidden, n_features]`.
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor, nn

from ..config import ToyModelConfig
from ..errors import ConfigError
from .base import check_kind, check_sizes, weighted_mse, xavier_normal


def square_route(n_features: int, n_hidden: int) -> bool:
    """Whether `ToyModel.loss_and_grads` goes through [feat, feat] products: when 2n² <= 5nm, i.e. 2n <= 5m."""
    return 2 * n_features <= 5 * n_hidden


class ToyModel(nn.Module):
    """Toy autoencoder for `n_instances` independent copies, trained together as one batch.

    >>> from superposition.config import ToyModelConfig
    >>> model = ToyModel(ToyModelConfig(kind="relu", n_hidden=2), n_features=5, n_instances=3)
    >>> model(torch.rand(3, 16, 5)).shape
    torch.Size([3, 16, 5])
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
        check_kind(type(self), config.kind, ("linear", "relu"))
        check_sizes(n_features=n_features, n_hidden=config.n_hidden, n_instances=n_instances)
        self.config = config
        self.n_features, self.n_instances, self.n_hidden = n_features, n_instances, config.n_hidden
        shape = (n_instances, n_features, config.n_hidden)
        self.W = nn.Parameter(self._init(shape, generator, device))
        self.W_dec = (
            None
            if config.tied
            else nn.Parameter(self._init((n_instances, config.n_hidden, n_features), generator, device))
        )
        self.b = nn.Parameter(torch.zeros(n_instances, n_features, device=device)) if config.bias else None

    def _init(self, shape: tuple[int, int, int], generator: torch.Generator | None, device) -> Tensor:
        if self.config.init == "zeros":
            return torch.zeros(shape, device=device)
        return xavier_normal(shape, generator, device)

    @classmethod
    def from_weights(
        cls,
        W: Float[Tensor, "inst feat hidden"],
        b: Float[Tensor, "inst feat"] | None = None,
        kind: str = "relu",
        W_dec: Float[Tensor, "inst hidden feat"] | None = None,
    ) -> "ToyModel":
        """Build a model around given weights (e.g. a hand-made solution or a loaded run)."""
        if W.ndim != 3:
            raise ConfigError(f"W must be [n_instances, n_features, n_hidden], got shape {tuple(W.shape)}")
        n_inst, n_feat, n_hidden = W.shape
        if b is not None and tuple(b.shape) != (n_inst, n_feat):
            raise ConfigError(f"b must be [{n_inst}, {n_feat}] to match W, got shape {tuple(b.shape)}")
        if W_dec is not None and tuple(W_dec.shape) != (n_inst, n_hidden, n_feat):
            raise ConfigError(f"W_dec must be [{n_inst}, {n_hidden}, {n_feat}] to match W, got {tuple(W_dec.shape)}")
        config = ToyModelConfig(kind=kind, n_hidden=n_hidden, tied=W_dec is None, bias=b is not None, init="zeros")
        model = cls(config, n_features=n_feat, n_instances=n_inst, device=W.device)
        with torch.no_grad():
            model.W.copy_(W)
            if b is not None and model.b is not None:
                model.b.copy_(b)
            if W_dec is not None and model.W_dec is not None:
                model.W_dec.copy_(W_dec)
        return model

    @classmethod
    def from_arena(
        cls, W: Float[Tensor, "inst hidden feat"], b_final: Float[Tensor, "inst feat"] | None = None, kind: str = "relu"
    ) -> "ToyModel":
        """A model from ARENA's layout (its superposition exercises' `ToyModel`): `W [n_inst, d_hidden, n_features]`
        (h = W x) and `b_final [n_inst, n_features]`. Ours stores W transposed, `[n_instances, n_features, n_hidden]`
        (h = x W), so that a feature's direction is a row."""
        if W.ndim != 3:
            raise ConfigError(f"ARENA's W must be [n_inst, d_hidden, n_features], got shape {tuple(W.shape)}")
        return cls.from_weights(W.transpose(1, 2).contiguous(), b_final, kind)

    def to_arena(self) -> dict[str, Tensor]:
        """The weights in ARENA's layout: `{"W": [n_inst, d_hidden, n_features], "b_final": [n_inst, n_features]}`
        (a zero `b_final` for a model without bias). ARENA's toy model ties its decoder, so an untied one is refused."""
        if self.W_dec is not None:
            raise ConfigError("ARENA's toy model ties its decoder to W; this model's decoder is untied")
        b = torch.zeros_like(self.W[:, :, 0]) if self.b is None else self.b.detach().clone()
        return {"W": self.W.detach().transpose(1, 2).contiguous(), "b_final": b}

    @property
    def decoder(self) -> Float[Tensor, "inst hidden feat"]:
        return self.W.transpose(1, 2) if self.W_dec is None else self.W_dec

    def hidden(self, x: Float[Tensor, "inst batch feat"]) -> Float[Tensor, "inst batch hidden"]:
        return torch.bmm(x, self.W)

    def forward(self, x: Float[Tensor, "inst batch feat"]) -> Float[Tensor, "inst batch feat"]:
        h = torch.bmm(x, self.W)
        out = torch.bmm(h, self.decoder) if self.b is None else torch.baddbmm(self.b[:, None, :], h, self.decoder)
        return torch.relu(out) if self.config.kind == "relu" else out

    def loss(self, batch) -> Float[Tensor, "inst"]:
        """Importance-weighted squared error per instance: mean over batch and features of I_i (x_i - x'_i)^2."""
        return weighted_mse(self(batch.x), batch.target, batch.weight)

    def loss_and_grads(self, batch) -> tuple[Float[Tensor, "inst"], list[Tensor]]:
        """`loss(batch)` and the gradient of its sum for each of `parameters()`, computed by hand.

        The training hot path: feature-major tensors `[inst, feat, batch]` (how the data generator stores them)
        and no autograd graph, which on small models costs more than the arithmetic.
        """
        W, b = self.W, self.b  # read once: a module's parameter attribute costs most of a microsecond
        D = W if self.W_dec is None else self.W_dec.transpose(1, 2)  # the decoder as [inst, feat, hidden]
        with torch.no_grad():
            if square_route(W.shape[1], W.shape[2]):
                return self._loss_and_grads_square(W, D, b, batch.x, batch.target, batch.weight)
            importance = batch.weight.select(1, 0)  # [inst, feat]: the data's weight is constant over the batch
            loss, ht, out, r = self._forward_loss(W, D, b, batch.x, batch.target, importance)
            return loss, self._gradients(W, D, b is not None, batch.x, ht, out, r, importance)

    def _loss_and_grads_square(self, W: Tensor, D: Tensor, b: Tensor | None, x: Tensor, target: Tensor,
                               weight: Tensor) -> tuple[Tensor, list[Tensor]]:
        """`loss_and_grads` through the [feat, feat] products: the output is M x + b with M = D Wᵀ, and the gradient
        of the loss in M is G = Σ_batch k g xᵀ, so D's gradient is G W and W's is Gᵀ D. Two batch-sized products
        (M x and g xᵀ, n² multiply-adds per sample each) instead of five of n·m; equal to the other route up to
        rounding."""
        xt = x.transpose(1, 2)  # [inst, feat, batch], contiguous
        M = torch.bmm(D, W.transpose(1, 2))
        out = torch.bmm(M, xt) if b is None else torch.baddbmm(b.unsqueeze(2), M, xt)
        if self.config.kind == "relu":
            out.relu_()
        r = out - target.transpose(1, 2)
        w, k = self._loss_weights(weight, r.shape[2])
        loss = (torch.linalg.vector_norm(r, dim=2).square_() * w).sum(dim=1)
        g = r.mul_(out.sign_()) if self.config.kind == "relu" else r
        G = torch.bmm(g, x).mul_(k)  # [inst, feat (output), feat (input)]
        if D is W:
            grads = [torch.bmm(G + G.transpose(1, 2), W)]
        else:
            grads = [torch.bmm(G.transpose(1, 2), D), torch.bmm(G, W).transpose(1, 2)]
        if b is not None:
            grads.append(g.sum(dim=2).mul_(k.squeeze(2)))
        return loss, grads

    def _loss_weights(self, weight: Tensor, batch_size: int) -> tuple[Tensor, Tensor]:
        """From a batch's importance `weight` `[inst, 1, feat]`: w = I / (feat * batch) `[inst, feat]`, the loss's
        weight of a squared residual, and k = 2w `[inst, feat, 1]`, the gradient's. A training run passes the same
        weight tensor at every step, so they are kept while the tensor (held here), its version (in-place changes)
        and the batch size stay the same."""
        cached = getattr(self, "_weights_for", None)
        if cached is None or cached[0] is not weight or cached[1:] != (weight._version, batch_size):
            importance = weight.select(1, 0)
            w = importance / (importance.shape[1] * batch_size)
            self._weights_for, self._weights = (weight, weight._version, batch_size), (w, (2.0 * w).unsqueeze(2))
        return self._weights

    def _forward_loss(self, W: Tensor, D: Tensor, b: Tensor | None, x: Tensor, target: Tensor, importance: Tensor
                      ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The loss per instance, the hidden layer `[inst, hidden, batch]`, the output and the residual
        out - target `[inst, feat, batch]`, feature-major."""
        ht = torch.bmm(W.transpose(1, 2), x.transpose(1, 2))
        out = torch.bmm(D, ht) if b is None else torch.baddbmm(b.unsqueeze(2), D, ht)
        if self.config.kind == "relu":
            out.relu_()
        r = out - target.transpose(1, 2)
        scale = 1.0 / (r.shape[1] * r.shape[2])
        loss = (torch.linalg.vector_norm(r, dim=2).square_() * importance).sum(dim=1).mul_(scale)
        return loss, ht, out, r

    def _gradients(self, W: Tensor, D: Tensor, bias: bool, x: Tensor, ht: Tensor, out: Tensor, r: Tensor,
                   importance: Tensor) -> list[Tensor]:
        """The gradients of the summed loss, from `_forward_loss`'s tensors (it overwrites `out` and `r`)."""
        # d loss / d pre = 2 I r / (feat * batch), zero where the ReLU is off (out >= 0, so sign(out) is the
        # mask). The importance I and the constant scale rows of the small gradients, never full-size tensors.
        g = r.mul_(out.sign_()) if self.config.kind == "relu" else r
        k = (2.0 / (r.shape[1] * r.shape[2])) * importance.unsqueeze(2)  # [inst, feat, 1]
        grad_D = torch.bmm(g, ht.transpose(1, 2)).mul_(k)
        grad_E = torch.bmm(x.transpose(1, 2), torch.bmm(D.mul(k).transpose(1, 2), g).transpose(1, 2))
        grads = [grad_E.add_(grad_D)] if D is W else [grad_E, grad_D.transpose(1, 2)]
        if bias:
            grads.append(g.sum(dim=2).mul_(k.squeeze(2)))
        return grads

    def weights(self) -> dict[str, Tensor]:
        """Tensors to store, by their documented names."""
        out = {"W": self.W.detach()}
        if self.b is not None:
            out["b"] = self.b.detach()
        if self.W_dec is not None:
            out["W_dec"] = self.W_dec.detach()
        return out
