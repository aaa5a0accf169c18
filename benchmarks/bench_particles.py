"""Benchmark: particle interaction kernels (issue 7).

1. Physical limits: exp throughput of this machine (numpy.exp on 10^7 doubles, and the
   vectorized polynomial exp the fused kernel uses), since every pair interaction costs
   one exponential; and the flop rate of BLAS dgemm (numpy matmul, all threads), since a
   pair costs ~4d flops (the inner product <x_i, x_j> and the accumulation of e^{..} x_j:
   2d multiply-adds). Per-pair limit = 1 / (1/exp rate + 4d/flop rate).
2. Direct O(n^2) kernel at n = 8192, d = 3 and d = 64 (SA and USA): pair interactions per
   second of attention_sums against the plain-numpy implementation that forms the
   n x n matrix, on the same inputs (ratio; target >= 10x at d = 3). d = 3 runs the fused
   numba kernel, d = 64 the tiled-BLAS path; the rows "d=64 .. fused" force the fused kernel
   at d = 64, for the tiled/fused speed-up measured in the same run.
3. Spectral circle summation at beta = 4 (accuracy 1e-10): time per velocity evaluation
   and per RK4 / Euler–Maruyama step for n = 10^4, 10^5, 10^6 (target: n = 10^6 under
   0.2 s per step on 2 cores), against the direct kernel at n = 10^4.
4. Spectral S^2 summation (ducc0 NUFFT transforms) at beta = 4 (accuracy 1e-10): time per
   velocity evaluation and RK4 / Euler–Maruyama steps per second for n = 10^4 and 10^5,
   against the direct kernel (d = 3) at n = 10^4.

Run:  .venv/bin/python benchmarks/bench_particles.py
"""

from __future__ import annotations

import os
import platform

import numpy as np
from _timing import best_of
from numba import get_num_threads, njit, prange

from meanfield.particles import attention_sums, attention_sums_numpy, simulate_particles
from meanfield.particles.interactions import _attention_sums, _fexp
from meanfield.particles.spectral import circle_coefficients, circle_velocity
from meanfield.particles.spectral_s2 import sphere_coefficients, sphere_velocity


@njit(parallel=True, fastmath=True)
def _exp_sum(a, reps):
    """sum of _fexp over a cache-resident array, ``reps`` times (compute-bound exp rate)."""
    parts = np.zeros(reps)
    for r in prange(reps):
        s = 0.0
        for i in range(a.size):
            s += _fexp(a[i] - 1e-9 * r)
        parts[r] = s
    return parts.sum()


def _sphere(n, d, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _steps_per_second(x, beta, dt=1e-3):
    """Seconds per RK4 and Euler–Maruyama step of simulate_particles(method="spectral")."""
    per = {}
    for integ, kappa in (("rk4", np.inf), ("em", 100.0)):
        def run(steps, integ=integ, kappa=kappa):
            return simulate_particles(beta=beta, kappa=kappa, x0=x, t_final=steps * dt,
                                      dt=dt, method="spectral", integrator=integ,
                                      seed=0).wall_time
        run(1)
        t1 = min(run(1) for _ in range(2))
        t6 = min(run(6) for _ in range(2))
        per[integ] = (t6 - t1) / 5
    return per


def main() -> None:
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores "
          f"visible, numba threads {get_num_threads()}, python {platform.python_version()}, "
          f"numpy {np.__version__}")

    # 1. exp throughput -----------------------------------------------------------------
    a = np.random.default_rng(0).uniform(-8, 0, 10**7)
    out = np.empty_like(a)
    t_np, _ = best_of(lambda: np.exp(a, out=out), 5)
    small = a[:4096].copy()
    reps = a.size // small.size
    _exp_sum(small, 2)
    t_fx, _ = best_of(lambda: _exp_sum(small, reps), 5)
    print("\n1. exp throughput (10^7 doubles)")
    print(f"   numpy.exp (1 thread)            {a.size / t_np / 1e9:7.2f} Gexp/s")
    exp_rate = small.size * reps / t_fx
    print(f"   fused polynomial exp (numba)    {exp_rate / 1e9:7.2f} Gexp/s "
          f"({get_num_threads()} threads, in cache)")
    g = np.random.default_rng(1).standard_normal((2048, 2048))
    t_mm, _ = best_of(lambda: g @ g, 3)
    flops = 2 * 2048**3 / t_mm
    print(f"   BLAS dgemm 2048^3               {flops / 1e9:7.1f} GFlop/s (all threads)")
    limit = {d: 1.0 / (1.0 / exp_rate + 4 * d / flops) for d in (3, 64)}
    print("   -> per-pair limit: " + ", ".join(f"d={d}: {v / 1e9:.2f} Gpairs/s"
                                                for d, v in limit.items()))

    # 2. direct kernel --------------------------------------------------------------------
    n = 8192
    print(f"\n2. direct kernel, n = {n} ({n * n:.2e} pairs per evaluation)")
    print(f"   {'case':14s} {'numba s':>9s} {'numpy s':>9s} {'numba Gpairs/s':>15s} "
          f"{'numpy Gpairs/s':>15s} {'ratio':>7s} {'of limit':>9s} {'max rel diff':>13s}")
    speedup = {}
    for d, path in ((3, "auto"), (64, "auto"), (64, "fused")):
        x = _sphere(n, d)
        for sa in (True, False):
            def run(x=x, sa=sa, path=path):
                return _attention_sums(x, 4.0, sa, False, None, None, None, path)
            run()
            t_nb, (v_nb, _) = best_of(run, 3)
            t_ref, (v_ref, _) = best_of(
                lambda x=x, sa=sa: attention_sums_numpy(x, 4.0, softmax=sa), 2)
            diff = np.abs(v_nb - v_ref).max() / np.abs(v_ref).max()
            name = f"d={d} {'SA' if sa else 'USA'}" + (" fused" if path == "fused" else "")
            speedup.setdefault((d, sa), []).append(t_nb)
            print(f"   {name:14s} {t_nb:9.4f} {t_ref:9.4f} {n * n / t_nb / 1e9:15.3f} "
                  f"{n * n / t_ref / 1e9:15.3f} {t_ref / t_nb:6.1f}x "
                  f"{n * n / t_nb / limit[d]:8.0%} {diff:13.1e}")
    print("   d=64: tiled-BLAS path (attention_sums) vs fused kernel: "
          + ", ".join(f"{'SA' if sa else 'USA'} {speedup[64, sa][1] / speedup[64, sa][0]:.2f}x"
                      for sa in (True, False)))

    # 3. spectral circle ----------------------------------------------------------------
    beta = 4.0
    K = circle_coefficients(beta, 1e-10)[2]
    print(f"\n3. spectral circle summation, beta = {beta}, accuracy 1e-10 (K = {K})")
    print(f"   {'n':>9s} {'eval s':>9s} {'RK4 step s':>11s} {'RK4 steps/s':>12s} "
          f"{'EM step s':>10s} {'EM steps/s':>11s}")
    coeffs = circle_coefficients(beta, 1e-10)
    dt = 1e-3
    for n in (10**4, 10**5, 10**6):
        x = _sphere(n, 2)
        circle_velocity(x, beta, False, coefficients=coeffs)
        t_ev, _ = best_of(lambda x=x: circle_velocity(x, beta, False, coefficients=coeffs), 3)
        per = _steps_per_second(x, beta, dt)
        print(f"   {n:9d} {t_ev:9.4f} {per['rk4']:11.4f} {1 / per['rk4']:12.1f} "
              f"{per['em']:10.4f} {1 / per['em']:11.1f}")
    x = _sphere(10**4, 2)
    t_sp, v_sp = best_of(lambda: circle_velocity(x, beta, False, coefficients=coeffs), 3)
    t_di, (v_di, _) = best_of(lambda: attention_sums(x, beta, softmax=False), 3)
    print(f"   n = 10^4: spectral {t_sp:.4f} s vs direct {t_di:.4f} s per evaluation "
          f"(ratio {t_di / t_sp:.0f}x)")

    # 4. spectral S^2 -------------------------------------------------------------------
    coeffs = sphere_coefficients(beta, 1e-10)
    print(f"\n4. spectral S^2 summation, beta = {beta}, accuracy 1e-10 (L = {coeffs[2]})")
    print(f"   {'n':>9s} {'eval s':>9s} {'RK4 step s':>11s} {'RK4 steps/s':>12s} "
          f"{'EM step s':>10s} {'EM steps/s':>11s}")
    for n in (10**4, 10**5):
        x = _sphere(n, 3)
        sphere_velocity(x, beta, "usa", coefficients=coeffs)
        t_ev, _ = best_of(lambda x=x: sphere_velocity(x, beta, "usa", coefficients=coeffs), 3)
        per = _steps_per_second(x, beta)
        print(f"   {n:9d} {t_ev:9.4f} {per['rk4']:11.4f} {1 / per['rk4']:12.1f} "
              f"{per['em']:10.4f} {1 / per['em']:11.1f}")
    x = _sphere(10**4, 3)
    t_sp, _ = best_of(lambda: sphere_velocity(x, beta, "usa", coefficients=coeffs), 3)
    attention_sums(x, beta, softmax=False)
    t_di, _ = best_of(lambda: attention_sums(x, beta, softmax=False), 3)
    print(f"   n = 10^4, d = 3: spectral {t_sp:.4f} s vs direct {t_di:.4f} s per evaluation "
          f"(ratio {t_di / t_sp:.0f}x); direct RK4 steps/s ~ {1 / (4 * t_di):.1f}")


if __name__ == "__main__":
    main()
