"""Benchmark: attention heads with weights on the PDE side (AttentionLayer(beta, Q, K, V)).

A head with general Q, K, V has no diagonal multiplier: it is evaluated through its dense
operator in coefficient space (meanfield.interactions.quadrature.DenseHead: n_c x n_c
matrices of doubles, two when Q^T K is invertible, else d + 1; n_c = (lmax+1)^2 on S^2,
2 n_modes - 1 on the circle; built once per (head, basis)). Measured in one
run on the same densities, USA, beta = 2, random seeded Q, K, V (entries N(0, 1/d)):

- setup: the one-time build of the dense operator (the first ``model.evaluator(basis)``);
- rhs: one right-hand side of the weighted head, the stepper's nonlinear term
  ``model.nonlinear_term(basis)(c)`` (the hot loop) and ``model.rhs(basis, c)`` (which also
  finds the evaluator), against the isotropic kernel ``AttentionKernel(2.0)`` (diagonal
  multipliers) on the same basis (issue target: weighted / isotropic within 5x at lmax 32);
- field: the velocity v = P_x int e^{beta <Qx, Ky>} V y rho(y) of the weighted head,
  ``model.velocity(basis, c)``, against the same field by direct quadrature in plain numpy
  (the "authors' script"): rho = backward(c) on the grid, the N x N kernel matrix
  e^{beta x_i^T A x_j} (built once, outside the timed loop) applied to (V y) rho w, then the
  tangent projection u - <u, x> x; the two fields are compared (max difference);
- the physical limit of the dense hot loop: the operator bytes one USA field reads (two
  matrices when Q^T K is invertible, the evaluator's reduced form; else d of the d + 1),
  divided by this machine's memory bandwidth (a big numpy copy, read + write bytes over
  time);
- one fixed-step ETDRK4 step (4 right-hand sides) of both models.

Cases: S^2 at lmax 32 and 64, the circle at n_modes 64 and 256. The lmax-64 setup is
measured once (it takes about a minute on 2 cores). The dense products run in multithreaded
BLAS, so on a machine whose cores are busy with other work they slow down several-fold
(the isotropic kernel's transforms run on one thread and hardly change); the load average is
printed before and after, and OPENBLAS_NUM_THREADS=1 gives stable figures on shared cores.
Run:
    .venv/bin/python benchmarks/bench_layers.py [--quick]     (--quick: no lmax 64)
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from _timing import best_of

import meanfield as mf
from meanfield.timestepping import ETDRK4

BETA, KAPPA = 2.0, 4.0


def bandwidth() -> float:
    """Memory bandwidth (bytes/s, read + write) of a 256 MiB numpy copy."""
    a = np.ones(32 << 20)
    b = np.empty_like(a)
    t, _ = best_of(lambda: np.copyto(b, a), 5)
    return 2 * a.nbytes / t


def per_call(fn, calls: int, repeat: int = 5) -> float:
    """Best-of-``repeat`` seconds per call of ``fn`` over loops of ``calls`` calls."""
    fn()

    def loop():
        for _ in range(calls):
            fn()
    t, _ = best_of(loop, repeat)
    return t / calls


def direct_field(basis, Q, K, V):
    """The plain-numpy quadrature of the weighted field: (kernel matrix, build time, f(c))."""
    X = basis.points.reshape(-1, basis.dim)
    w = np.asarray(basis.weights).reshape(-1)
    A = Q.T @ K
    t0 = time.perf_counter()
    kmat = np.exp(BETA * (X @ A) @ X.T)  # e^{beta x_i^T A x_j}, (N, N)
    t_build = time.perf_counter() - t0
    VY = X @ V.T

    def field(c):
        rho = basis.backward(c).reshape(-1)
        u = kmat @ (VY * (rho * w)[:, None])
        return u - np.sum(u * X, axis=1, keepdims=True) * X
    return kmat, t_build, field


def case(basis, label: str, calls: int, rng) -> dict:
    d = basis.dim
    Q, K, V = (rng.standard_normal((d, d)) / np.sqrt(d) for _ in range(3))
    weighted = mf.MeanFieldModel(mf.AttentionLayer(BETA, Q=Q, K=K, V=V), kappa=KAPPA, dim=d)
    iso = mf.MeanFieldModel(mf.AttentionKernel(BETA), kappa=KAPPA, dim=d)
    rho0 = mf.initial.perturbed_uniform(basis, amplitude=0.3, max_degree=4, seed=0)
    c = basis.forward(rho0)
    n_c = basis.n_real + 1

    t0 = time.perf_counter()
    dense = weighted.evaluator(basis)  # builds and caches the dense operator
    setup = time.perf_counter() - t0
    dense = getattr(dense, "parts", [(1.0, dense)])[0][1]
    n_ops = len(dense.G)
    # matrices a USA field reads: all of them when reduced (W and R), else the d of u_a
    n_read = n_ops if getattr(dense, "reduced", False) else d

    rhs_w = per_call(lambda: weighted.rhs(basis, c), calls)
    rhs_i = per_call(lambda: iso.rhs(basis, c), calls)
    nl_w, nl_i = weighted.nonlinear_term(basis), iso.nonlinear_term(basis)
    nlt_w = per_call(lambda: nl_w(c), calls)
    nlt_i = per_call(lambda: nl_i(c), calls)
    vel_w = per_call(lambda: weighted.velocity(basis, c), calls)

    kmat, t_kmat, field = direct_field(basis, Q, K, V)
    vel_d = per_call(lambda f=field: f(c), max(1, calls // 4))
    v_mf = basis.tangent_to_cartesian(weighted.velocity(basis, c)).reshape(-1, d)
    v_direct = field(c)
    err = float(np.abs(v_mf - v_direct).max() / np.abs(v_direct).max())
    kmat_bytes = kmat.nbytes
    del kmat, field

    dt = 1e-3
    steps = {}
    for name, model in (("weighted", weighted), ("isotropic", iso)):
        stepper = ETDRK4(model.linear_operator(basis), model.nonlinear_term(basis))
        stepper.step(c, dt)  # the phi-function coefficients are cached
        steps[name] = per_call(lambda s=stepper: s.step(c, dt), max(1, calls // 4), 2)

    return dict(label=label, n_c=n_c, N=int(np.prod(basis.shape)), d=d, setup=setup,
                n_ops=n_ops, op_bytes=int(dense.G.nbytes), read_bytes=8 * n_read * n_c * n_c,
                n_read=n_read, cond=float(np.linalg.cond(Q.T @ K)), rhs_w=rhs_w, rhs_i=rhs_i,
                nlt_w=nlt_w, nlt_i=nlt_i, vel_w=vel_w, vel_d=vel_d, t_kmat=t_kmat,
                kmat_bytes=kmat_bytes, err=err, step_w=steps["weighted"],
                step_i=steps["isotropic"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip S^2 at lmax 64")
    args = ap.parse_args()
    started = time.perf_counter()
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cpus, "
          f"numpy {np.__version__}, OPENBLAS_NUM_THREADS={blas}; load average "
          f"{os.getloadavg()[0]:.2f}")
    bw = bandwidth()
    print(f"memory bandwidth (256 MiB numpy copy, read + write): {bw / 1e9:.3g} GB/s")
    print(f"workload: USA, beta = {BETA}, kappa = {KAPPA}, random Q, K, V (seed 0), "
          "rho0 = perturbed uniform (degree <= 4, amplitude 0.3)\n")

    rng = np.random.default_rng(0)
    specs = [(mf.SphereBasis(32), "S^2 lmax 32", 20)]
    if not args.quick:
        specs.append((mf.SphereBasis(64), "S^2 lmax 64", 8))
    specs += [(mf.CircleBasis(64), "circle n 64", 200), (mf.CircleBasis(256), "circle n 256", 50)]
    rows = []
    for basis, label, calls in specs:
        rows.append(case(basis, label, calls, rng))
        r = rows[-1]
        print(f"{label}: n_c = {r['n_c']}, grid N = {r['N']}, cond(Q^T K) = {r['cond']:.3g}: "
              f"dense operator {r['n_ops']} x n_c^2 = {r['op_bytes'] / 2**20:.1f} MiB built in "
              f"{r['setup']:.3g} s; direct kernel "
              f"matrix {r['kmat_bytes'] / 2**20:.1f} MiB built in {r['t_kmat']:.3g} s", flush=True)

    print("\none right-hand side  [ms]: the stepper's nonlinear term N(c) = -div(rho v[rho]) "
          "(the hot loop), and model.rhs(basis, c) (finds the evaluator on every call)")
    print(f"{'case':>14} {'N weighted':>11} {'N iso':>8} {'ratio':>7} {'rhs weighted':>13} "
          f"{'rhs iso':>8} {'ratio':>7} {'limit':>8} {'of limit':>9}")
    for r in rows:
        limit = r["read_bytes"] / bw
        print(f"{r['label']:>14} {1e3 * r['nlt_w']:>11.4g} {1e3 * r['nlt_i']:>8.4g} "
              f"{r['nlt_w'] / r['nlt_i']:>7.2f} {1e3 * r['rhs_w']:>13.4g} "
              f"{1e3 * r['rhs_i']:>8.4g} {r['rhs_w'] / r['rhs_i']:>7.2f} {1e3 * limit:>8.3g} "
              f"{limit / r['nlt_w']:>9.1%}")
    print("  ratio = weighted / isotropic (target <= 5 at lmax 32); limit = the operator bytes "
          "one USA field reads (" + ", ".join(f"{r['n_read']}" for r in rows)
          + " matrices of n_c^2 doubles) / bandwidth, against N weighted")

    print("\nthe weighted field v[rho] from coefficients  [ms]")
    print(f"{'case':>14} {'dense op':>10} {'direct':>10} {'direct/op':>10} {'rel. diff':>10}")
    for r in rows:
        print(f"{r['label']:>14} {1e3 * r['vel_w']:>10.4g} {1e3 * r['vel_d']:>10.4g} "
              f"{r['vel_d'] / r['vel_w']:>10.2f} {r['err']:>10.1e}")
    print("  direct = plain numpy: N x N kernel matrix (prebuilt) @ ((V y) rho w), then P_x; "
          "rel. diff = max |v_op - v_direct| / max |v_direct|")

    print("\none ETDRK4 step (dt = 1e-3, 4 right-hand sides)  [ms]")
    print(f"{'case':>14} {'weighted':>10} {'isotropic':>10} {'ratio':>7}")
    for r in rows:
        print(f"{r['label']:>14} {1e3 * r['step_w']:>10.4g} {1e3 * r['step_i']:>10.4g} "
              f"{r['step_w'] / r['step_i']:>7.2f}")

    print("\none-time setup  [s]: the dense operator against the direct kernel matrix, and "
          "the field evaluations after which the dense path has paid for its setup")
    for r in rows:
        gain = r["vel_d"] - r["vel_w"]
        extra = r["setup"] - r["t_kmat"]
        even = (f"{max(extra, 0.0) / gain:.0f} evaluations" if gain > 0
                else "never (direct is faster)")
        print(f"{r['label']:>14} {r['setup']:>10.4g} {r['t_kmat']:>10.4g}   {even}")
    particle_pairs()
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average "
          f"{os.getloadavg()[0]:.2f}")


def particle_pairs(R: int = 64, n: int = 256) -> None:
    """The numpy particle path of layer models: ns per token pair per head (two heads)."""
    from meanfield.particles.layers import ambient_field

    model = mf.MeanFieldModel(mf.AttentionLayer(1.0, K=np.diag([1.5, 0.5]))
                              + mf.AttentionLayer(2.0), dim=2)
    x = np.random.default_rng(0).normal(size=(R, n, 2))
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    t = per_call(lambda: ambient_field(model, x), calls=5)
    print(f"\nlayer particles (numpy path, {R} x {n} tokens, 2 heads): "
          f"{t / (R * n * n * 2) * 1e9:.1f} ns per token pair per head")


if __name__ == "__main__":
    main()
