"""Bilinear embedded MLP for modular addition (Chughtai et al. 2023's embedded MLP with Sharkey's bilinear layer).

    x = [E[a], E[b]]                   (2d: the two token embeddings side by side; optionally layer-normed)
    h = (L x + bL) * (R x + bR)        (bilinear: an elementwise product of two linear maps; n_hidden units)
    logits = U h + bU                  (one logit per residue c of Z_p)

With `activation="relu"` the hidden layer is the original embedded MLP's h = ReLU(W x + bW) instead. The bilinear
layer can multiply its inputs exactly, so it can implement the trigonometric angle-addition solution
(see `superposition.analysis.mixing.sparse_construction`) without approximation.

Stored tensors (each with a leading instance dimension):
- `embed` `[n_instances, p, d_embed]`: row a is the embedding of residue a (the embedding columns are features).
- bilinear: `L`, `R` `[n_instances, n_hidden, 2 * d_embed]` (hidden = (x @ L[k].T) * (x @ R[k].T));
  relu: `W` `[n_instances, n_hidden, 2 * d_embed]` (hidden = ReLU(x @ W[k].T)).
- `U` `[n_instances, p, n_hidden]` (logits = hidden @ U[k].T).
- with bias: `bL`, `bR` (or `bW`) `[n_instances, n_hidden]`, `bU` `[n_instances, p]`.
The layer norm, when on, has no parameters (normalises x over its 2d entries).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

from ..errors import ConfigError
from ..config import ModAddModelConfig
from .base import check_sizes, xavier_normal

Activation = Literal["bilinear", "relu"]
LossKind = Literal["ce", "mse"]


class BilinearModAdd(nn.Module):
    """Embedding, bilinear (or ReLU) hidden layer and unembedding for `n_instances` independent copies.

    >>> config = ModAddModelConfig(d_embed=4, n_hidden=8, n_instances=2)
    >>> model = BilinearModAdd(config, p=7, generator=torch.Generator().manual_seed(0))
    >>> model.logits(torch.tensor([1, 2]), torch.tensor([3, 4])).shape
    torch.Size([2, 2, 7])
    """

    def __init__(
        self,
        config: ModAddModelConfig,
        *,
        p: int,
        generator: torch.Generator | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        d_embed, n_hidden, n_instances = config.d_embed, config.n_hidden, config.n_instances
        check_sizes(d_embed=d_embed, n_hidden=n_hidden, n_instances=n_instances)
        if p < 2:
            raise ConfigError(f"p must be at least 2, got {p}")
        self.config = config
        bias, layer_norm, activation, loss_kind = config.bias, config.layer_norm, config.kind, config.loss
        self.p, self.d_embed, self.n_hidden, self.n_instances = p, d_embed, n_hidden, n_instances
        self.bias, self.layer_norm, self.activation, self.loss_kind = bias, layer_norm, activation, loss_kind

        def init(shape: tuple[int, int, int]) -> nn.Parameter:
            return nn.Parameter(xavier_normal(shape, generator, device).to(dtype))

        def zeros(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.zeros(shape, device=device, dtype=dtype))

        self.embed = init((n_instances, p, d_embed))
        hidden_in = (n_instances, n_hidden, 2 * d_embed)
        if activation == "bilinear":
            self.L, self.R = init(hidden_in), init(hidden_in)
            self.bL = zeros(n_instances, n_hidden) if bias else None
            self.bR = zeros(n_instances, n_hidden) if bias else None
        else:
            self.W = init(hidden_in)
            self.bW = zeros(n_instances, n_hidden) if bias else None
        self.U = init((n_instances, p, n_hidden))
        self.bU = zeros(n_instances, p) if bias else None

    # ---- construction from tensors -------------------------------------------------------------------------
    @classmethod
    def from_weights(
        cls,
        weights: dict[str, Tensor] | None = None,
        *,
        layer_norm: bool = False,
        loss_kind: LossKind = "ce",
        **tensors: Tensor,
    ) -> "BilinearModAdd":
        """Build a model around given tensors (documented names; dtype and device follow `embed`).

        The hidden layer is bilinear when `L` and `R` are given, ReLU when `W` is; biases are on when `bU` is.
        """
        w = {**(weights or {}), **tensors}
        if "embed" not in w or "U" not in w:
            raise ConfigError(f"weights need 'embed' and 'U', got {sorted(w)}")
        embed = w["embed"]
        if embed.ndim != 3:
            raise ConfigError(f"embed must be [n_instances, p, d_embed], got shape {tuple(embed.shape)}")
        n_inst, p, d = embed.shape
        hidden_names: tuple[str, ...]
        if "L" in w and "R" in w:
            activation, hidden_names = "bilinear", ("L", "R")
        elif "W" in w:
            activation, hidden_names = "relu", ("W",)
        else:
            raise ConfigError("weights need either 'L' and 'R' (bilinear) or 'W' (relu)")
        U = w["U"]
        if U.ndim != 3 or U.shape[:2] != (n_inst, p):
            raise ConfigError(f"U must be [n_instances, p, n_hidden] = [{n_inst}, {p}, n_hidden], got {tuple(U.shape)}")
        n_hidden = U.shape[2]
        bias = "bU" in w
        config = ModAddModelConfig(kind=activation, d_embed=d, n_hidden=n_hidden, n_instances=n_inst, bias=bias,
                                   layer_norm=layer_norm, loss=loss_kind)
        model = cls(config, p=p, device=embed.device, dtype=embed.dtype)
        shapes = {"embed": (n_inst, p, d), "U": (n_inst, p, n_hidden), "bU": (n_inst, p)}
        for name in hidden_names:
            shapes[name] = (n_inst, n_hidden, 2 * d)
            shapes["b" + name] = (n_inst, n_hidden)
        for name, shape in shapes.items():
            if name.startswith("b") and not bias:
                continue
            if name not in w:
                others = ", ".join("b" + n for n in hidden_names)
                raise ConfigError(f"weights need {name!r} (biases come together: bU and {others})")
            if tuple(w[name].shape) != shape:
                raise ConfigError(f"{name} must have shape {list(shape)}, got {tuple(w[name].shape)}")
            with torch.no_grad():
                getattr(model, name).copy_(w[name])
        return model

    def weights(self) -> dict[str, Tensor]:
        """Tensors to store, by their documented names."""
        names = ["embed", "L", "R", "bL", "bR"] if self.activation == "bilinear" else ["embed", "W", "bW"]
        names += ["U", "bU"]
        return {n: getattr(self, n).detach() for n in names if getattr(self, n, None) is not None}

    # ---- forward --------------------------------------------------------------------------------------------
    def inputs(self, a: Int[Tensor, "n"], b: Int[Tensor, "n"]) -> Float[Tensor, "inst n two_d"]:
        """x = [E[a], E[b]] per instance, layer-normed (without parameters) when the model says so."""
        x = torch.cat([self.embed[:, a], self.embed[:, b]], dim=-1)
        if self.layer_norm:
            x = F.layer_norm(x, (x.shape[-1],))
        return x

    def hidden(self, a: Int[Tensor, "n"], b: Int[Tensor, "n"]) -> Float[Tensor, "inst n hidden"]:
        """Hidden activations: (L x + bL) * (R x + bR), or ReLU(W x + bW)."""
        x = self.inputs(a, b)
        if self.activation == "bilinear":
            return _affine(x, self.L, self.bL) * _affine(x, self.R, self.bR)
        return torch.relu(_affine(x, self.W, self.bW))

    def logits(self, a: Int[Tensor, "n"], b: Int[Tensor, "n"]) -> Float[Tensor, "inst n p"]:
        return _affine(self.hidden(a, b), self.U, self.bU)

    def forward(self, batch) -> Float[Tensor, "inst n p"]:
        return self.logits(batch.a, batch.b)

    def loss(self, batch) -> Float[Tensor, "inst"]:
        """Per-instance loss over the batch's pairs: cross-entropy (mean over pairs), or with `loss_kind="mse"`
        the squared error to the one-hot label, summed over the p logits and averaged over pairs."""
        logits = self.logits(batch.a, batch.b)
        return logits_loss(logits, batch.labels, self.loss_kind)

    def loss_and_grads(self, batch) -> tuple[Float[Tensor, "inst"], list[Tensor]]:
        """The per-instance loss and the gradients of its sum, in `parameters()` order, for the trainer.

        Bilinear models without layer norm get hand-written gradients: L x splits into L_a E[a] + L_b E[b], so the
        four products E L_a^T, E R_a^T, E L_b^T, E R_b^T are formed once per residue (p rows, not p² pairs), and
        the softmax gradient is built in place (autograd's log-softmax backward zero-fills a [inst, pairs, p]
        tensor). Other variants use autograd.
        """
        params = list(self.parameters())
        if self.activation != "bilinear" or self.layer_norm:
            with torch.enable_grad():
                loss = self.loss(batch)
                grads = torch.autograd.grad(loss.sum(), params)
            return loss.detach(), list(grads)
        with torch.no_grad():
            H, d = self.n_hidden, self.d_embed
            a, b, labels = batch.a, batch.b, batch.labels
            n = a.shape[0]
            # rows of W4: L_a, R_a (read E[a]) then L_b, R_b (read E[b])
            W4 = torch.cat([self.L[..., :d], self.R[..., :d], self.L[..., d:], self.R[..., d:]], dim=1)
            P = torch.bmm(self.embed, W4.transpose(1, 2))  # [inst, p, 4H]
            X = P[:, a, : 2 * H] + P[:, b, 2 * H :]  # [inst, n, 2H] = [L x, R x]
            if self.bias:
                X += torch.cat([self.bL, self.bR], dim=1)[:, None, :]  # type: ignore[list-item]
            Lx, Rx = X[..., :H], X[..., H:]
            h = Lx * Rx
            logits = _affine(h, self.U, self.bU)
            idx = labels.expand(logits.shape[0], -1)[..., None]
            if self.loss_kind == "ce":
                # G = softmax - onehot, with the label's entry -(sum of the other probabilities) computed from
                # the small terms, so that a loss of 1e-7 is not lost to float32's rounding of 1 - p_label. The
                # per-pair loss is -log1p(-others) near a fit and -log p_label otherwise (exact up to ~87 nats,
                # where p_label leaves float32's normal range).
                G = torch.softmax(logits, dim=-1)
                p_label = G.gather(-1, idx)[..., 0]
                G.scatter_(-1, idx, 0.0)
                others = G.sum(-1, keepdim=True)
                o = others[..., 0]
                near_fit = o < 0.5
                per_pair = torch.where(near_fit, -torch.log1p(-o.clamp_max(0.5)),
                                       -torch.log(p_label.clamp_min(torch.finfo(G.dtype).tiny)))
                loss = per_pair.mean(-1)
                G.scatter_(-1, idx, -others)
                scale = 1.0 / n
            else:
                G = logits
                G.scatter_add_(-1, idx, torch.full_like(idx, -1.0, dtype=G.dtype))
                loss = G.square().sum(-1).mean(-1)
                scale = 2.0 / n
            dU = torch.bmm(G.transpose(1, 2), h).mul_(scale)
            dh = torch.bmm(G, self.U).mul_(scale)
            dX = torch.cat([dh * Rx, dh * Lx], dim=-1)  # [inst, n, 2H]
            dP = torch.zeros_like(P)
            dP[..., : 2 * H].index_add_(1, a, dX)
            dP[..., 2 * H :].index_add_(1, b, dX)
            dW4 = torch.bmm(dP.transpose(1, 2), self.embed)  # [inst, 4H, d]
            dE = torch.bmm(dP, W4)
            dL = torch.cat([dW4[:, :H], dW4[:, 2 * H : 3 * H]], dim=-1)
            dR = torch.cat([dW4[:, H : 2 * H], dW4[:, 3 * H :]], dim=-1)
            named = {"embed": dE, "L": dL, "R": dR, "U": dU}
            if self.bias:
                named.update(bL=dX[..., :H].sum(1), bR=dX[..., H:].sum(1), bU=G.sum(1) * scale)
        by_id = {id(getattr(self, k)): g for k, g in named.items()}
        return loss, [by_id[id(p)] for p in params]

    @torch.no_grad()
    def accuracy(self, batch) -> Float[Tensor, "inst"]:
        """Share of the batch's pairs whose largest logit is the label, per instance."""
        return (self.logits(batch.a, batch.b).argmax(-1) == batch.labels).float().mean(-1)


def _affine(x: Tensor, W: Tensor, b: Tensor | None) -> Tensor:
    """x @ W[k].T (+ b[k]) per instance k: x `[inst, n, in]`, W `[inst, out, in]`."""
    Wt = W.transpose(1, 2)
    return torch.bmm(x, Wt) if b is None else torch.baddbmm(b[:, None, :], x, Wt)


def logits_loss(
    logits: Float[Tensor, "inst n p"], labels: Int[Tensor, "n"], kind: LossKind = "ce"
) -> Float[Tensor, "inst"]:
    """Cross-entropy (mean over pairs) or squared error to one-hot (summed over classes, mean over pairs)."""
    if kind == "ce":
        logp = torch.log_softmax(logits, dim=-1)
        return -logp.gather(-1, labels.expand(logits.shape[0], -1)[..., None])[..., 0].mean(-1)
    target = F.one_hot(labels, logits.shape[-1]).to(logits.dtype)
    return (logits - target).square().sum(-1).mean(-1)
