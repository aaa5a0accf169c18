"""Benchmark: the S^3 and planar bases in the solvers (ETDRK4, Newton–Krylov, Arnoldi,
continuation), against the older bases and dense solvers measured in the same run.

(a) One fixed-step ETDRK4 step of noisy USA (mf.evolve, dt = 1e-3) on SphereBasis(lmax,
    dim=4) (S^3) at lmax 16, 32 and PlanarBasis(16, lmax) at lmax 64, 128. Per step: wall
    time (the difference of a 2k- and a k-step run, so evolve's setup cancels), the share of
    it inside the basis transforms (basis.forward / backward / grad / div timed separately,
    best of several calls, times the calls per step counted by wrapping the instance's
    methods). Baselines at the same lmax:
    SphereBasis(lmax) (S^2, ducc0) and ZonalBasis(d, lmax). Physical limit: the flop count of
    the transforms a step makes (dense radial matrices and FFTs, counted from the grid and
    matrix shapes) over the machine's dgemm rate measured here (1024^3 matmul), as a lower
    bound on the time of a step, and the ratio measured / bound.
(b) Stationary states from a nearby guess (a von Mises bump off the axes, full space,
    symmetric=False) on S^2 at lmax 16, 32, 64: solver="krylov" against solver="dense" (dense
    at lmax 16 and, without --quick, 32; at lmax 64 only with --dense-64: it assembles the
    4224 x 4224 Jacobian in one batch of directional derivatives, several GiB), and
    mf.linear_stability(..., k=10) (Arnoldi) at the Krylov state.
(c) Targets: a planar bifurcation diagram (mf.bifurcation_diagram, modes 1-4, d = 16,
    lmax 48, beta = 2, kappa from 0.95 kappa_1 to 1.05 kappa_4; stopped after 150 s with
    --quick, 600 s without) in under 60 s, and each mode alone near its onset; "stationary
    state from a nearby guess plus its 10 rightmost eigenvalues" in under 60 s on S^2 at
    lmax 64 and on S^3 at lmax 16. Each printed with whether the target is met.

Run:  .venv/bin/python benchmarks/bench_bases.py [--quick] [--threads N]
(BLAS / FFT threads: N, default 1, set before numpy is imported.)
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import time
import warnings


def _threads_from_argv(default: int = 1) -> int:
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return default


_THREADS = _threads_from_argv()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(_THREADS))

import numpy as np  # noqa: E402
from _timing import best_of  # noqa: E402

import meanfield as mf  # noqa: E402

TRANSFORMS = ("forward", "backward", "grad", "div")
TARGET_S = 60.0


# ---------------------------------------------------------------------------------------
# (a) one ETDRK4 step
# ---------------------------------------------------------------------------------------
class TransformTimer:
    """Wraps a basis instance's transforms; accumulates seconds and calls per method."""

    def __init__(self, basis) -> None:
        self.basis = basis
        self.seconds = dict.fromkeys(TRANSFORMS, 0.0)
        self.calls = dict.fromkeys(TRANSFORMS, 0)
        for name in TRANSFORMS:
            setattr(basis, name, self._wrap(name, getattr(basis, name)))

    def _wrap(self, name, fn):
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            self.seconds[name] += time.perf_counter() - t0
            self.calls[name] += 1
            return out
        return timed

    def snapshot(self) -> tuple[dict, dict]:
        return dict(self.seconds), dict(self.calls)

    def remove(self) -> None:
        for name in TRANSFORMS:
            delattr(self.basis, name)


def dgemm_rate(size: int = 1024) -> float:
    """Flop/s of a size^3 float64 matmul (the machine's practical peak for dense kernels)."""
    a = np.random.default_rng(0).standard_normal((size, size))
    t, _ = best_of(lambda: a @ a, 3)
    return 2.0 * size**3 / t


def _fft_flops(n: int, count: int) -> float:
    """~2.5 n log2 n flops per real FFT of length n (half a complex FFT of 5 n log2 n)."""
    return 2.5 * n * np.log2(n) * count


def transform_flops(basis) -> dict | None:
    """Flops of one forward / backward / grad / div call (batch 1), from the shapes the
    transforms use (padded radial matrices, as computed); None for bases not modelled."""
    if isinstance(basis, mf.PlanarBasis):
        M, K = basis.lmax + 1, basis.lmax // 2 + 1
        radial = 4.0 * M * K * basis.n_r  # (M, n_r, K) @ (M, K, 2): real and imaginary parts
        fft = _fft_flops(basis.nphi, basis.n_r)
        one = radial + fft
        return dict(forward=one, backward=one, grad=2 * one, div=2 * one)
    if getattr(basis, "dim", None) == 4 and hasattr(basis, "n_u"):
        L, K = basis.lmax, basis.lmax // 2 + 1
        radial = 2.0 * (2 * L + 1) ** 2 * K * basis.n_u
        fft = _fft_flops(basis.n_xi, basis.n_u * (basis.n_xi + 2 * L + 1))
        one = radial + fft
        return dict(forward=one, backward=one, grad=3 * one, div=3 * one)
    return None


def _evolve_run(model, basis, rho0, steps: int, dt: float):
    return mf.evolve(model, basis, rho0, steps * dt, [0.0, steps * dt], dt=dt)


def step_case(label: str, basis, model, steps: int, peak: float, dt: float = 1e-3) -> dict:
    """Per-step time of mf.evolve (fixed dt) on ``basis`` and the share of its transforms.

    The machine may be shared, so every time is a best of several runs: the step is the
    difference of the best 2k- and k-step runs over k; the transform share is
    sum_f calls_f t_f / step with calls counted in a run and t_f the best single-call time.
    """
    rho0 = mf.initial.perturbed_uniform(basis, amplitude=0.3, max_degree=4, seed=0)
    _evolve_run(model, basis, rho0, 1, dt)  # warm-up (caches, phi functions)
    while True:  # enough steps that the 2k - k difference is well above the timer noise
        t1, _ = best_of(lambda k=steps: _evolve_run(model, basis, rho0, k, dt), 3)
        t2, _ = best_of(lambda k=steps: _evolve_run(model, basis, rho0, 2 * k, dt), 3)
        if t2 - t1 > 0.1 or steps >= 2000:
            break
        steps *= 4
    per_step = max(t2 - t1, 1e-12) / steps
    timer = TransformTimer(basis)
    try:
        _evolve_run(model, basis, rho0, steps, dt)
        _, c1 = timer.snapshot()
        _evolve_run(model, basis, rho0, 2 * steps, dt)
        _, c2 = timer.snapshot()
    finally:
        timer.remove()
    calls = {k: (c2[k] - 2 * c1[k]) / steps for k in TRANSFORMS}  # per step, setup removed
    c = basis.forward(rho0)
    v = basis.grad(c)
    bare = {
        "forward": best_of(lambda: basis.forward(rho0), 7)[0],
        "backward": best_of(lambda: basis.backward(c), 7)[0],
        "grad": best_of(lambda: basis.grad(c), 7)[0],
        "div": best_of(lambda: basis.div(v), 7)[0],
    }
    in_transforms = sum(calls[k] * bare[k] for k in TRANSFORMS)
    flops = transform_flops(basis)
    bound = None
    if flops is not None:
        bound = sum(calls[k] * flops[k] for k in TRANSFORMS) / peak
    return dict(label=label, basis=basis, per_step=per_step, share=in_transforms / per_step,
                calls=calls, bare=bare, bound=bound, flops=flops)


def print_step(r: dict, baseline: float | None = None) -> None:
    calls = "/".join(f"{r['calls'][k]:.0f}" for k in TRANSFORMS)
    bare = " ".join(f"{k[0]}={r['bare'][k] * 1e3:.2f}" for k in TRANSFORMS)
    line = (f"  {r['label']:<34} {r['per_step'] * 1e3:9.2f} ms/step  transforms "
            f"{r['share']:5.1%} (f/b/g/d calls {calls}; one call ms: {bare})")
    if r["bound"] is not None:
        line += (f"\n  {'':<34} flop bound {r['bound'] * 1e3:.3f} ms/step "
                 f"-> measured / bound = {r['per_step'] / r['bound']:.0f}")
    if baseline is not None:
        line += f"; step / baseline = {r['per_step'] / baseline:.2f}"
    print(line)


def part_a(quick: bool, peak: float) -> None:
    print("(a) one ETDRK4 step, noisy USA (beta = 2), fixed dt = 1e-3, via mf.evolve")
    steps = 3 if quick else 8
    s3 = mf.MeanFieldModel(mf.AttentionKernel(2.0), kappa=2.0, dim=4)
    pl = mf.MeanFieldModel(mf.AttentionKernel(2.0), kappa=20.0, dim=16)
    for lmax in (16, 32):
        base = step_case(f"S^2 SphereBasis({lmax}) [baseline]", mf.SphereBasis(lmax),
                         s3.replace(dim=3), steps, peak)
        zon = step_case(f"ZonalBasis(4, {lmax}) [baseline]", mf.ZonalBasis(4, lmax), s3,
                        steps, peak)
        new = step_case(f"S^3 SphereBasis({lmax}, dim=4)", mf.SphereBasis(lmax, dim=4), s3,
                        steps, peak)
        print_step(base)
        print_step(zon)
        print_step(new, base["per_step"])
    for lmax in (64, 128):
        base = step_case(f"S^2 SphereBasis({lmax}) [baseline]", mf.SphereBasis(lmax),
                         pl.replace(dim=3), steps, peak)
        zon = step_case(f"ZonalBasis(16, {lmax}) [baseline]", mf.ZonalBasis(16, lmax), pl,
                        steps, peak)
        new = step_case(f"PlanarBasis(16, {lmax})", mf.PlanarBasis(16, lmax), pl, steps, peak)
        print_step(base)
        print_step(zon)
        print_step(new, base["per_step"])


# ---------------------------------------------------------------------------------------
# (b) Newton–Krylov against dense Newton, Arnoldi
# ---------------------------------------------------------------------------------------
def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def nearby_guess(basis, mean) -> np.ndarray:
    return mf.initial.von_mises(basis, 6.0, mean=np.asarray(mean) / np.linalg.norm(mean))


def solve_and_spectrum(model, basis, guess, solver: str) -> tuple[float, object, float, object]:
    ts, st = _timed(lambda: mf.stationary_state(model, basis, guess, symmetric=False,
                                                solver=solver, stability=False))
    te, stab = _timed(lambda: mf.linear_stability(model, basis, st.coeffs, k=10))
    return ts, st, te, stab


def part_b(quick: bool, dense_64: bool) -> dict:
    print("\n(b) stationary state on S^2 (beta = 1, kappa = 4: a 1-cluster, amplitude 0.64) from "
          "a von Mises guess off the axes, full space; 10 rightmost eigenvalues by Arnoldi")
    model = mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=4.0, dim=3)
    print(f"  {'lmax':>4} {'unknowns':>8} | {'krylov s':>9} {'its':>4} | {'dense s':>9} "
          f"{'its':>4} {'dense/krylov':>12} {'|dP_l|':>8} | {'eig k=10 s':>10} {'lambda_1':>9}")
    out, dense_32 = {}, None
    for lmax in (16, 32, 64):
        basis = mf.SphereBasis(lmax, nthreads=_THREADS)
        guess = nearby_guess(basis, [0.6, 0.0, 0.8])
        tk, stk, te, stab = solve_and_spectrum(model, basis, guess, "krylov")
        run_dense = lmax == 16 or (lmax == 32 and not quick) or (lmax == 64 and dense_64)
        if run_dense:
            td, std = _timed(lambda b=basis, g=guess: mf.stationary_state(
                model, b, g, symmetric=False, solver="dense", stability=False))
            # the states may differ by a rotation (full space): compare per-degree power
            diff = float(np.max(np.abs(basis.degree_power(std.coeffs)
                                       - basis.degree_power(stk.coeffs))))
            dense = f"{td:>9.2f} {std.iterations:>4} {td / tk:>12.1f} {diff:>8.1e}"
            if lmax == 32:
                dense_32 = (td, basis.n_real)
        elif lmax == 64 and dense_32 is not None:
            # the Jacobian is n_real directional derivatives, each a right-hand side
            # (~ lmax^3 with ducc0), assembled in one batch: cost ~ (n_real ratio) x 8
            est = dense_32[0] * (basis.n_real / dense_32[1]) * 8
            gib = basis.n_real * basis.ntheta * basis.nphi * 8 * 8 / 2**30
            note = f"skipped: est. ~{est:.0f} s, ~{gib:.0f} GiB (--dense-64)"
            dense = f"{note:>40}"
        else:
            dense = f"{'skipped (--quick)':>40}"
        lam = float(np.max(stab.eigenvalues.real))
        print(f"  {lmax:>4} {basis.n_real:>8} | {tk:>9.2f} {stk.iterations:>4} | {dense} | "
              f"{te:>10.2f} {lam:>9.4f}")
        out[lmax] = tk + te
    return out


# ---------------------------------------------------------------------------------------
# (c) targets
# ---------------------------------------------------------------------------------------
def met(t: float) -> str:
    return "MET" if t < TARGET_S else "NOT MET"


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def limited(fn, seconds: int):
    """(seconds taken, result or the exception raised) of fn, stopped after ``seconds``."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    t0 = time.perf_counter()
    try:
        out = fn()
    except (_Timeout, RuntimeError, ValueError, ArithmeticError) as e:
        out = e
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return time.perf_counter() - t0, out


def _status(out, t: float, target: bool = True) -> str:
    verdict = " -> NOT MET" if target else ""
    if isinstance(out, _Timeout):
        return f"stopped after {t:.0f} s{verdict}"
    if isinstance(out, Exception):
        return f"FAILED after {t:.1f} s: {type(out).__name__}: {str(out)[:110]}{verdict}"
    return f"{t:.1f} s" + (f" -> {met(t)}" if target else "")


def diagram(quick: bool) -> None:
    """The planar diagram, modes 1-4 (beta = 2: kappa_k = 14.3, 130, 1303, 14580 at d = 16),
    then each mode alone near its onset (+-2%, 4 points) to show which modes fail."""
    d, beta = 16, 2.0
    g = mf.AttentionKernel(beta).coefficients(5, d)
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=1.0, dim=d)
    basis = mf.PlanarBasis(d, 48)
    bounds = (0.95 / g[1], 1.05 / g[4])
    limit = 150 if quick else 600
    t, out = limited(lambda: mf.bifurcation_diagram(model, basis, "kappa", bounds,
                                                    modes=(1, 2, 3, 4), max_modes=97), limit)
    extra = ""
    if not isinstance(out, Exception):
        pts = sum(br.param.size for br in out.branches)
        extra = f" ({len(out.branches)} branches, {pts} points)"
    print(f"  planar diagram d = {d}, lmax 48 (max_modes 97: no refinement), beta = {beta}, "
          f"kappa in [{bounds[0]:.4g}, {bounds[1]:.4g}], modes 1-4: {_status(out, t)}{extra}")
    for k in (1, 2, 3, 4):
        with warnings.catch_warnings():  # "stopped before the bounds: max_points": intended
            warnings.simplefilter("ignore", UserWarning)
            t, out = limited(lambda k=k: mf.bifurcation_diagram(
                model, basis, "kappa", (0.98 / g[k], 1.02 / g[k]), modes=(k,), max_points=4,
                max_modes=97), limit)
        extra = ""
        if not isinstance(out, Exception):
            br = out.branches[0]
            extra = (f" ({br.param.size} points, amplitude up to {np.max(br.amplitude):.2e}; "
                     "the time includes locating kappa_k)")
        print(f"    mode {k} alone, kappa within 2% of kappa_{k} = {1 / g[k]:.5g}, "
              f"max_points 4: {_status(out, t, target=False)}{extra}")


def part_c(quick: bool, s2_total: float) -> None:
    print(f"\n(c) targets (each under {TARGET_S:.0f} s)")
    diagram(quick)
    print(f"  S^2 lmax 64: Newton-Krylov state + 10 rightmost eigenvalues: {s2_total:.1f} s "
          f"-> {met(s2_total)}")
    s3 = mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=5.0, dim=4)
    b3 = mf.SphereBasis(16, dim=4, nthreads=_THREADS)
    guess = nearby_guess(b3, [0.6, 0.0, 0.8, 0.0])
    ts, st, te, stab = solve_and_spectrum(s3, b3, guess, "krylov")
    total = ts + te
    print(f"  S^3 lmax 16 (beta = 1, kappa = 5, {b3.n_real} unknowns): Newton-Krylov state "
          f"{ts:.1f} s (residual {st.residual:.1e}, amplitude {st.amplitude(1):.3f}) + 10 "
          f"rightmost eigenvalues {te:.1f} s = {total:.1f} s -> {met(total)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="fewer steps; no dense Newton at lmax 64")
    ap.add_argument("--threads", type=int, default=1, help="BLAS / FFT threads")
    ap.add_argument("--dense-64", action="store_true",
                    help="also run dense Newton at lmax 64 (minutes, several GiB)")
    args = ap.parse_args()
    peak = dgemm_rate()
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cpus, "
          f"python {platform.python_version()}, numpy {np.__version__}, threads "
          f"{args.threads}; dgemm {peak / 1e9:.1f} GFlop/s (1024^3, measured now)")
    part_a(args.quick, peak)
    s2_total = part_b(args.quick, args.dense_64)[64]
    part_c(args.quick, s2_total)


if __name__ == "__main__":
    main()
