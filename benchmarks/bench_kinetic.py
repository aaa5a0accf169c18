"""Benchmark: the causal kinetic PDE against the particle ensemble that draws the same curve.

Workload: causal ALiBi USA on the circle (Duerinckx–Geshkovski–Rossi, arXiv 2605.09213),
beta = 1, lambda = 1, no noise, every token initially von Mises (concentration 1, mean e_1),
t = 1.5. The curve: m_1(s) = E cos(theta) of the token at position s (= Re rho_1(t, s),
the first Fourier coefficient of the position-s density w.r.t. sigma).

- kinetic PDE: ``evolve_kinetic(..., weight="alibi", lam=1, n_positions=64)`` on
  ``CircleBasis(64)`` (ETDRK4, adaptive), the whole call; its error is measured against a
  finer run (96 positions, 96 modes, rtol 1e-11) at the particle positions;
- particles: ``simulate_particles(weights=causal.alibi_weights(n, 1), replicas=R0)``,
  n = 128 tokens, RK4 dt = 0.02, the whole call (sampling, steps, saving); the curve is the
  replica mean of cos(theta_i), its error bar the largest standard error over positions.
  The time for the target error bar ``--target`` (default 1e-2) is extrapolated from the
  measured run (time and variance both linear in R: R = R0 (se0 / target)^2), since the
  O(n^2 R) ensemble at 1e-2 takes minutes; the particles' O(1/n) bias is printed beside it
  (at the target it needs n ~ 1/target tokens, not counted in the ratio: the ratio is a
  lower bound of the PDE's advantage).

Prints the absolute times, the PDE's error, the particle error bar and bias, and the ratio
(particle time at the target error bar) / (PDE time). Run:
.venv/bin/python benchmarks/bench_kinetic.py [--replicas 200] [--target 1e-2]
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np
from _timing import best_of

import meanfield as mf
from meanfield import causal
from meanfield.kinetic import evolve_kinetic

BETA, LAM, T, CONC = 1.0, 1.0, 1.5, 1.0


def kinetic_curve(positions: int, modes: int, rtol: float = 1e-8):
    """The PDE run and its m_1 at the nodes (a KineticSolution and Re rho_1 at t)."""
    model = mf.MeanFieldModel(mf.AttentionKernel(BETA), kappa=np.inf)
    basis = mf.CircleBasis(modes)
    rho0 = mf.initial.von_mises(basis, CONC)
    ks = evolve_kinetic(model, basis, rho0, T, [0, T], weight="alibi", lam=LAM,
                        n_positions=positions, rtol=rtol)
    return ks, ks.coeffs[-1, :, 1].real


def particle_curve(n: int, replicas: int, seed: int = 0):
    """Replica means and standard errors of cos(theta_i(T)), i = 1..n."""
    ps = mf.simulate_particles(beta=BETA, n=n, t_final=T, dt=0.02, t_eval=[0, T], seed=seed,
                               replicas=replicas, init="vonmises", concentration=CONC,
                               weights=causal.alibi_weights(n, LAM))
    cos = ps.x[-1, ..., 0]
    return cos.mean(axis=0), cos.std(axis=0, ddof=1) / np.sqrt(replicas)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicas", type=int, default=200)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--target", type=float, default=1e-2)
    args = ap.parse_args()
    n, R0 = args.tokens, args.replicas
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cpus; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"workload: causal ALiBi USA, beta = {BETA}, lambda = {LAM}, von Mises({CONC}) "
          f"tokens, t = {T}; curve m_1(s) = E cos(theta) at position s")
    kinetic_curve(8, 16)  # warm-up
    t_pde, (ks, m1) = best_of(lambda: kinetic_curve(64, 64), 3)
    ref_ks, ref_m1 = kinetic_curve(96, 96, rtol=1e-11)
    s = np.arange(1, n + 1) / n
    pde = ks.at_positions(m1, s)
    err_pde = float(np.max(np.abs(pde - ref_ks.at_positions(ref_m1, s))))
    print(f"kinetic PDE (64 positions x 64 modes): {t_pde:.3f} s, max error {err_pde:.1e} "
          "(against 96 x 96, rtol 1e-11)")
    particle_curve(8, 4)  # compile the kernels
    t_part, (mean, sem) = best_of(lambda: particle_curve(n, R0), 1)
    se0 = float(np.max(sem))
    bias = float(np.mean(np.abs(mean - pde)))
    R_target = R0 * (se0 / args.target) ** 2
    t_target = t_part * R_target / R0
    print(f"particles (n = {n}, R = {R0}): {t_part:.3f} s, error bar (max s.e.) {se0:.2e}, "
          f"mean |particles - PDE| {bias:.2e} (O(1/n) bias + noise)")
    print(f"particles at error bar {args.target:g}: R = {R_target:.0f} replicas, "
          f"~{t_target:.1f} s (extrapolated, linear in R)")
    print(f"ratio particles / PDE at the same error bar: {t_target / t_pde:.0f}x "
          f"(the PDE's own error is {err_pde:.0e})")


if __name__ == "__main__":
    main()
