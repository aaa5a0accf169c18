"""Benchmark: batched particle ensembles on the GLPR phase-diagram workload (issue 11).

Workload (LITERATURE.md, "Workloads of the papers"): SA, n = 32 tokens, R = 2048 independent
systems, dt = 0.05, Euler step then renormalization, d = 2 and d = 128. Measured in one run
on the same inputs:

- meanfield: ``simulate_particles(..., replicas=R, integrator="euler")``, the whole call
  (sampling, 600 steps, saving): one fused numba kernel per step (attention sums, tangent
  projection, Euler step, retraction): at d = 2 the lane kernel (32 systems in the SIMD
  lanes, each pair's exponential once), at d = 128 the batched kernel in the exact
  32-dimensional span of the tokens (noiseless, identity weights, n < d);
- baseline: the same step as a plain batched numpy loop (what the papers' scripts do, GLPR's
  ``phase-diagrams.py`` in torch): Gram matrices, softmax, matmul, projection,
  renormalization on (R, n, d) arrays;
- the physical limit of the hot loop: per pair one exponential (the vectorized polynomial
  exp, measured rate) and 4d' flops (BLAS dgemm rate of this machine), d' the dimension the
  kernel runs in (32 at d = 128); the lane kernel needs only half the exponentials, so its
  fraction can exceed what a pair-by-pair kernel could reach.

Prints system-steps per second, the ratio meanfield / numpy (targets: >= 10x at d = 2,
>= 3x at d = 128), and the fraction of the per-pair limit reached. Then the lane kernel
against the tile kernel on the same fused Euler step (``attention_euler_step(lanes=True /
False)``, R = 2048, n = 32) for d = 2, 4, 8, 16, 24: the speed-up SMALL_MAX_D rests on.

The numpy loop is timed over ``min(steps, 100)`` steps (its rate does not depend on the
number of steps). Run:  .venv/bin/python benchmarks/bench_ensemble.py [--steps 600]
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np
from _timing import best_of
from bench_particles import _exp_sum
from numba import get_num_threads

from meanfield.particles import attention_euler_step, simulate_particles


def numpy_steps(x, beta, dt, steps):
    """The GLPR step in plain batched numpy: x <- N(x + dt P_x softmax(beta x x^T) x)."""
    for _ in range(steps):
        g = beta * np.matmul(x, np.swapaxes(x, 1, 2))
        g -= g.max(axis=-1, keepdims=True)
        np.exp(g, out=g)
        g /= g.sum(axis=-1, keepdims=True)
        v = np.matmul(g, x)
        v -= np.sum(v * x, axis=-1, keepdims=True) * x
        x = x + dt * v
        x /= np.sqrt(np.sum(x * x, axis=-1, keepdims=True))
    return x


def limits():
    """(exp per second, flops per second) of this machine."""
    a = np.linspace(-20, 20, 4096)
    _exp_sum(a, 1)
    t, _ = best_of(lambda: _exp_sum(a, 2000), 3)
    exp_rate = a.size * 2000 / t
    m = np.random.default_rng(0).standard_normal((2048, 2048))
    t, _ = best_of(lambda: m @ m, 3)
    return exp_rate, 2 * 2048 ** 3 / t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--replicas", type=int, default=2048)
    args = ap.parse_args()
    R, n, beta, dt, steps = args.replicas, 32, 4.0, 0.05, args.steps
    print(f"machine: {platform.machine()} {platform.processor() or ''}, "
          f"{os.cpu_count()} cpus, numba threads {get_num_threads()}")
    exp_rate, flop_rate = limits()
    print(f"limits: exp {exp_rate:.3g}/s (polynomial exp, all threads), dgemm "
          f"{flop_rate:.3g} flop/s")
    print(f"workload: SA, n = {n}, R = {R}, beta = {beta}, dt = {dt}, {steps} Euler steps; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'d':>5} {'meanfield [sys-steps/s]':>24} {'numpy [sys-steps/s]':>20} "
          f"{'ratio':>7} {'pairs/s':>10} {'of limit':>9}")
    for d in (2, 128):
        kw = dict(beta=beta, n=n, dim=d, dynamics="sa", replicas=R, dt=dt,
                  t_final=steps * dt, integrator="euler", seed=0, t_eval=[0, steps * dt])
        simulate_particles(**dict(kw, t_final=dt, t_eval=[0, dt]))  # compile
        t_mf, ps = best_of(lambda kw=kw: simulate_particles(**kw), 2)
        x0 = ps.x[0].copy()
        k = min(steps, 100)
        t_np, xn = best_of(lambda x0=x0, k=k: numpy_steps(x0.copy(), beta, dt, k), 2)
        short = simulate_particles(**dict(kw, x0=x0, t_final=k * dt, t_eval=[0, k * dt]))
        err = float(np.abs(xn - short.x[-1]).max())
        rate_mf, rate_np = R * steps / t_mf, R * k / t_np
        pairs = rate_mf * n * n
        d_run = ps.params["reduced_dim"] or d
        limit = 1.0 / (1.0 / exp_rate + 4 * d_run / flop_rate)
        print(f"{d:>5} {rate_mf:>24.4g} {rate_np:>20.4g} {rate_mf / rate_np:>7.1f} "
              f"{pairs:>10.3g} {pairs / limit:>9.1%}   (runs in d' = {d_run}; max |x - "
              f"x_numpy| after {k} steps = {err:.1e})")
    lanes_vs_tiles(R)


def lanes_vs_tiles(R: int = 2048, n: int = 32, beta: float = 4.0):
    """System-steps per second of one fused Euler step, lane kernel vs tile kernel."""
    print(f"\nlane vs tile kernel, fused Euler step, SA, R = {R}, n = {n}")
    print(f"{'d':>5} {'lanes [sys-steps/s]':>20} {'tiles [sys-steps/s]':>20} {'ratio':>7}")
    for d in (2, 4, 8, 16, 24):
        x = np.random.default_rng(0).standard_normal((R, n, d))
        x /= np.linalg.norm(x, axis=-1, keepdims=True)
        rates = []
        for lanes in (True, False):
            def run(lanes=lanes, x=x):
                for _ in range(5):
                    attention_euler_step(x, beta, 0.05, softmax=True, lanes=lanes, unit=True)
            run()
            t, _ = best_of(run, 3)
            rates.append(5 * R / t)
        print(f"{d:>5} {rates[0]:>20.4g} {rates[1]:>20.4g} {rates[0] / rates[1]:>7.2f}")


if __name__ == "__main__":
    main()
