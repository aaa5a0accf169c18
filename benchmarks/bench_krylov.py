"""Matrix-free Newton–Krylov and Arnoldi against the dense solvers, on S^2 and the circle.

The workload: a 1-cluster stationary state of USA on S^2 (beta = 2, kappa = 8, off-axis
centre so the full space is needed) found by full-space Newton from a von Mises guess, and
the leading 6 eigenvalues of its linearization. Baselines measured in the same run: the
dense Newton solver and the dense full-space spectrum of meanfield.stationary (Jacobian
assembled by batched directional derivatives, LAPACK eig). Printed: seconds, the ratio
dense / Krylov, and the agreement (state difference, eigenvalue difference).

Run: .venv/bin/python benchmarks/bench_krylov.py [--quick]
"""

from __future__ import annotations

import platform
import sys
import time

import numpy as np

import meanfield as mf
from meanfield.krylov import leading_eigenvalues, newton_krylov
from meanfield.stationary import _newton, _System


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def case(basis, model, mean):
    guess = mf.initial.von_mises(basis, 6.0, mean=mean)
    system = _System(model, basis, basis.subspace_mask(False, 1))
    x0 = system.x_of(basis.forward(guess))
    tk, (xk, hk, okk, _) = timed(lambda: newton_krylov(system, x0, 1e-12, 50))
    td, (xd, hd, okd, _) = timed(lambda: _newton(system, x0, 1e-12, 50, singular=True))
    c = system.coeffs(xk)
    ta, (vals, _) = timed(lambda: leading_eigenvalues(model, basis, c, k=6))
    ts, stab = timed(lambda: mf.linear_stability(model, basis, c))
    dense = stab.eigenvalues[:6]
    diff = float(np.max(np.abs(np.sort_complex(vals) - np.sort_complex(dense))))
    return tk, td, len(hk) - 1, len(hd) - 1, okk and okd, ta, ts, diff


def main(quick: bool) -> None:
    print(f"machine: {platform.machine()}, {platform.processor() or '?'}; numpy {np.__version__}")
    print(f"{'problem':<18}{'n_real':>7} | {'NK s':>8}{'dense s':>9}{'ratio':>7}{'its':>7} | "
          f"{'Arnoldi s':>10}{'dense s':>9}{'ratio':>7}{'|dlambda|':>10}")
    s2 = mf.MeanFieldModel(mf.AttentionKernel(2.0), kappa=8.0, dim=3)
    circ = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    runs = [("circle n 64", mf.CircleBasis(64), circ, None)]
    for lmax in ((8, 12) if quick else (8, 12, 16, 20)):
        runs.append((f"S^2 lmax {lmax}", mf.SphereBasis(lmax), s2, np.array([0.6, 0.0, 0.8])))
    for name, basis, model, mean in runs:
        tk, td, ik, idn, ok, ta, ts, diff = case(basis, model, mean)
        its = f"{ik:>4}/{idn:<2}"
        print(f"{name:<18}{basis.n_real:>7} | {tk:>8.3f}{td:>9.3f}{td / tk:>7.1f}{its} | "
              f"{ta:>10.3f}{ts:>9.3f}{ts / ta:>7.1f}{diff:>10.1e}" + ("" if ok else "  FAILED"))


if __name__ == "__main__":
    main("--quick" in sys.argv)
