"""Benchmark: one ETDRK4 step of the USA PDE on S^2 (SphereBasis, ducc0 transforms) and
on S^{d-1} through the zonal basis.

Prints, in one run:
- the wall time of one fixed-step ETDRK4 step (4 right-hand sides, each one synthesis, one
  gradient synthesis and one spin-1 adjoint synthesis) at lmax = 127, 255, 511, and the
  share of that time spent inside ducc0's transforms (target >= 70%: our own overhead,
  the real <-> complex coefficient conversions and the grid products, is small);
- the baseline in the same run: the time of the 12 bare ducc0 transforms a step needs,
  called directly (ratio step / bare transforms);
- one ETDRK4 step of ZonalBasis(d = 128, lmax = 256).

Run:  .venv/bin/python benchmarks/bench_sphere.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from _timing import best_of

import meanfield as mf
import meanfield.bases.sphere as sphere_mod
from meanfield.timestepping import ETDRK4


class TimedSHT:
    """Proxy of ducc0.sht.experimental that accumulates the time spent in its calls."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.calls = 0

    def __getattr__(self, name):
        fn = getattr(self.inner, name)

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            self.seconds += time.perf_counter() - t0
            self.calls += 1
            return out
        return timed


def usa_case(basis, beta: float = 3.0, kappa: float = 1.0):
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=kappa, dim=basis.dim)
    rho0 = mf.initial.perturbed_uniform(basis, amplitude=0.3, max_degree=4, seed=0)
    stepper = ETDRK4(model.linear_operator(basis), model.nonlinear_term(basis))
    return stepper, basis.forward(rho0)


def sphere_step(lmax: int, steps: int, nthreads: int, dt: float = 1e-3) -> None:
    basis = mf.SphereBasis(lmax, nthreads=nthreads)
    stepper, c = usa_case(basis)
    stepper.step(c, dt)  # warm-up: the phi-function coefficients are cached

    def run():
        u = c
        for _ in range(steps):
            u = stepper.step(u, dt)
        return u

    t, _ = best_of(run, 2)
    per_step = t / steps
    timed = TimedSHT(sphere_mod._SHT)
    sphere_mod._SHT = timed
    try:
        t0 = time.perf_counter()
        run()
        t_timed = time.perf_counter() - t0
    finally:
        sphere_mod._SHT = timed.inner
    share = timed.seconds / t_timed
    # baseline: the same 12 transforms per step called directly on ducc0
    sht = timed.inner
    a = basis.to_alm(c)[None]
    m1 = np.empty((1,) + basis.shape)
    m2 = np.empty((2,) + basis.shape)
    alm2 = np.empty((2, basis.n_alm), complex)
    g = dict(lmax=lmax, geometry="GL", nthreads=nthreads)

    def bare():
        for _ in range(4):
            sht.synthesis_2d(alm=a, spin=0, map=m1, **g)
            sht.synthesis_2d_deriv1(alm=a, map=m2, **g)
            sht.adjoint_synthesis_2d(map=m2, spin=1, alm=alm2, **g)
    t_bare, _ = best_of(bare, 3)
    print(f"  lmax={lmax:4d} grid {basis.ntheta:4d} x {basis.nphi:4d}: "
          f"{per_step * 1e3:9.2f} ms/step, ducc0 share {share:5.1%} "
          f"({timed.calls // steps} transforms/step); bare transforms "
          f"{t_bare * 1e3:8.2f} ms -> step / bare = {per_step / t_bare:4.2f}")


def zonal_step(dim: int, lmax: int, steps: int, dt: float = 1e-3) -> None:
    t0 = time.perf_counter()
    basis = mf.ZonalBasis(dim, lmax)
    t_build = time.perf_counter() - t0
    stepper, c = usa_case(basis, beta=3.0, kappa=10.0)
    stepper.step(c, dt)

    def run():
        u = c
        for _ in range(steps):
            u = stepper.step(u, dt)
        return u

    t, _ = best_of(run, 3)
    print(f"  ZonalBasis(d={dim}, lmax={lmax}) ({basis.n_nodes} nodes): "
          f"{t / steps * 1e3:8.3f} ms/step (basis built in {t_build:.2f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps, skip lmax = 511")
    ap.add_argument("--threads", type=int, default=1, help="ducc0 threads (0: all)")
    args = ap.parse_args()
    print(f"machine: {platform.machine()} {platform.processor() or ''}, "
          f"{os.cpu_count()} cpus, python {platform.python_version()}, "
          f"numpy {np.__version__}, ducc0 {sphere_mod.ducc0.__version__}, "
          f"ducc0 threads {args.threads}")
    print("One ETDRK4 step (USA, beta = 3, kappa = 1, fixed dt = 1e-3) on S^2:")
    sizes = [(127, 10), (255, 4)] + ([] if args.quick else [(511, 2)])
    for lmax, steps in sizes:
        sphere_step(lmax, 2 if args.quick else steps, args.threads)
    print("One ETDRK4 step in the zonal basis:")
    zonal_step(128, 256, 20 if args.quick else 100)


if __name__ == "__main__":
    main()
