"""The Hessian of the population loss at the k-gons of experiments/llc.py: the largest eigenvalue fixes the SGLD step
(ε nβ λ_max / 2 <= 0.1) and a negative one marks a saddle, where localized chains slide towards lower loss.

Our loss (the mean over features of the squared error, on the quadrature points of the one-hot data), in float64.

    python investigations/llc_kgons_hessian.py
"""

import torch

from superposition.experiments.llc import LABELS, POINTS, SAMPLER, kgon_run, population, quadrature_samples
from superposition.llc import instance_module


def main() -> None:
    run, x = kgon_run(), quadrature_samples(2000)
    for k, p in enumerate(POINTS):
        module = instance_module(run.model.weights(), run.config, k).double()
        params = [q.detach().clone() for q in module.parameters()]
        shapes = [q.shape for q in params]
        flat = torch.cat([q.flatten() for q in params])

        def loss(w: torch.Tensor) -> torch.Tensor:
            tensors, at = [], 0
            for shape in shapes:
                n = shape.numel()
                tensors.append(w[at:at + n].reshape(shape))
                at += n
            out = torch.func.functional_call(module, dict(zip([n for n, _ in module.named_parameters()], tensors)),
                                             (x,), strict=False, tie_weights=False)
            return (module.importance * (out - x).square()).mean()

        eig = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, flat))
        step = SAMPLER.lr * SAMPLER.beta_n * float(eig.max()) / 2
        print(f"{LABELS[p]:7s} paper loss {population(instance_module(run.model.weights(), run.config, k), x)[0]:.5f}"
              f"  λ_max {float(eig.max()):.4f} (ε nβ λ_max / 2 = {step:.3f})  λ_min {float(eig.min()):+.1e}"
              f"  eigenvalues > 1e-6: {int((eig > 1e-6).sum())} of {len(eig)}")


if __name__ == "__main__":
    main()
