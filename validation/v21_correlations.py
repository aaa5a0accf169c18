"""21. The 1/N correlation equation of causal attention, solved for general initial data.

Duerinckx, Geshkovski, Rossi (arXiv 2605.09213) characterize the 1/n correlations of causal
attention and solve them in closed form for iid uniform tokens on the circle (the retrieval
profile S_t(s), meanfield.causal). meanfield.correlations solves the same linear-response
equations numerically for any initial data (mean field, the source's characteristics, and
the linearized kinetic equation driven by the source's atom; derivation in its module
docstring). Parameters of the paper's figures: beta = lambda = 1, M = 8, n_max = 20.

Rows:

* uniform data: the kinetic S_t(s) against the closed form at s = 1/8, 1/2, 7/8, t = 0.4,
  1.2, 2.0 and lambda = 0, 1 (16 nodes in the log-ratio variable). Tolerance 1e-8 relative:
  the response is entire in that variable (errors 1e-1, 5e-5, 2e-9 at 4, 8, 12 nodes, the
  figure's right panel), the floor is the time integration (DOP853, rtol 1e-9);
* the linear response against a central finite difference (eps = 1e-3) of two kinetic
  solutions (meanfield.kinetic.evolve_kinetic, ETDRK4, dt = 0.005) perturbed at every
  position, for position-dependent von Mises data; tolerance 2e-8 absolute (measured: eps^2
  part 1.4e-9, dt part 2e-9; response of size 0.58);
* iid von Mises tokens (concentration 1) on particles: the connected U-statistic estimator
  (meanfield.correlations.particle_retrieval_profile, 8 source draws per prompt and source,
  RK4 dt = 0.05) against the kinetic S_t(s) at s = 1/4, 1/2, 3/4 and t = 0.6, 1.2; n = 128
  tokens and 200 prompts (quick mode: n = 64, 64 prompts). Tolerance: 3 standard errors plus
  the O(1/n) part, 4/n relative as in v20 (measured with 600 prompts at n = 64: +1 to +7 %;
  with 300 prompts at n = 128: within 1.5 s.e. of 0, i.e. -4 to +6 %).
"""

from __future__ import annotations

import numpy as np
from _common import Row, figure_path
from scipy.special import roots_legendre

import meanfield as mf
from meanfield import causal
from meanfield.correlations import (
    particle_retrieval_profile,
    retrieval_profile_kinetic,
    von_mises_sampler,
)
from meanfield.kinetic import evolve_kinetic, position_weights

TITLE = "1/N correlations of causal attention for general data (kinetic vs closed form, particles)"
SOURCE = "DGR 2605.09213"
PAPER = dict(beta=1.0, lam=1.0, M=8.0, n_max=20)
MODEL = mf.MeanFieldModel(mf.AttentionKernel(1.0))
BASIS = mf.CircleBasis(21)
UNIFORM_S = np.array([1, 4, 7]) / 8
UNIFORM_T = np.array([0.4, 1.2, 2.0])
VM_S = np.array([0.25, 0.5, 0.75])
VM_T = np.array([0.6, 1.2])


def _uniform_rows() -> tuple[list[Row], dict]:
    rows, errors = [], {}
    ones = np.ones(BASIS.shape)
    for lam in (0.0, 1.0):
        exact = causal.retrieval_profile(UNIFORM_S[None], UNIFORM_T[:, None], 1.0, lam, 8.0, 20)
        prof = retrieval_profile_kinetic(MODEL, BASIS, ones, UNIFORM_S, UNIFORM_T, lam=lam)
        for (k, a) in ((1, 0), (1, 1), (1, 2), (0, 1), (2, 1)):
            rows.append(Row(f"uniform data: kinetic S_t(s) at lambda = {lam:g}, t = "
                            f"{UNIFORM_T[k]:g}, s = {UNIFORM_S[a]:g} vs closed form", SOURCE,
                            float(prof.profile[k, a]), float(exact[k, a]), 1e-8,
                            "16 log-ratio nodes: faster than exponential; DOP853 floor",
                            kind="rel"))
        errors[lam] = [np.max(np.abs(retrieval_profile_kinetic(
            MODEL, BASIS, ones, UNIFORM_S, UNIFORM_T, lam=lam, n_positions=n).profile
            / exact - 1)) for n in (4, 6, 8, 10, 12)]
    return rows, errors


def _position_dependent(pos):
    pos = np.atleast_1d(pos)[:, None]
    f = np.exp((0.5 + pos) * np.cos(BASIS.grid - 0.3 * pos))
    return f / f.mean(axis=1, keepdims=True)


def _finite_difference_row() -> Row:
    lam, times, eps, grid = 1.0, [0.6, 1.2], 1e-3, BASIS.grid

    def eta(sig):
        return sig**3 * (1 - sig)

    def perturbed(pos, e):
        r = _position_dependent(pos)
        c1 = (r * np.cos(grid)).mean(axis=1, keepdims=True)
        return r * (1 + e * eta(pos)[:, None] * (np.cos(grid) - c1))

    nodes, _ = position_weights(20, "alibi", lam)
    reader = []
    for e in (eps, -eps):
        ks = evolve_kinetic(MODEL, BASIS, perturbed(nodes, e), 1.2, [0.0] + times,
                            weight="alibi", lam=lam, n_positions=20, dt=0.005)
        reader.append(ks.at_positions(np.moveaxis(ks.rho[1:], 1, -1), 1.0)[..., 0])
    fd = (reader[0] - reader[1]) / (2 * eps)
    x, w = roots_legendre(16)
    sig = 0.5 * (x + 1)
    prof = retrieval_profile_kinetic(MODEL, BASIS, _position_dependent, sig, times, lam=lam,
                                     n_max=1)
    linear = np.einsum("k,mkj->mj", 0.5 * w * eta(sig), prof.response[:, :, 0].real)
    return Row("linear response of the reader vs finite difference of two kinetic solutions "
               f"(position-dependent von Mises data; max over theta, t; response size "
               f"{np.max(np.abs(linear)):.2f})", "derived here", float(np.max(np.abs(fd - linear))),
               0.0, 2e-8, "central FD eps = 1e-3 (eps^2 1.4e-9) + ETDRK4 dt = 0.005 (2e-9)")


def _particle_rows(quick: bool):
    rho0 = mf.initial.von_mises(BASIS, 1.0)
    kin = retrieval_profile_kinetic(MODEL, BASIS, rho0, VM_S, VM_T, lam=1.0)
    est = particle_retrieval_profile(64 if quick else 128, VM_T, 1.0, 1.0, 8.0,
                                     sampler=von_mises_sampler(1.0),
                                     replicas=64 if quick else 200, draws=8, dt=0.05,
                                     seed=21, s=VM_S)
    n, prompts = est.params["n"], est.params["replicas"]
    rows = []
    for k, t in enumerate(VM_T):
        for a, s in enumerate(VM_S):
            rows.append(Row(f"von Mises(1) tokens: particle S_t(s), n = {n}, t = {t:g}, s = "
                            f"{s:g} vs kinetic (uniform closed form "
                            f"{causal.retrieval_profile(s, t, 1.0, 1.0, 8.0, 20):.3f})", SOURCE,
                            float(est.profile[k, a]), float(kin.profile[k, a]),
                            float(3 * est.sem[k, a] + 4.0 / n * abs(kin.profile[k, a])),
                            f"3 s.e. ({prompts} prompts x 8 draws) + O(1/n): 4/n rel."))
    return rows, est


def _figure(errors: dict, est) -> None:
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    grid = np.linspace(0.04, 0.96, 24)
    vm = retrieval_profile_kinetic(MODEL, BASIS, mf.initial.von_mises(BASIS, 1.0), grid,
                                   VM_T, lam=1.0, n_positions=12)
    fine = np.linspace(0.02, 1.0, 300)
    for k, t in enumerate(VM_T):
        line, = ax1.plot(fine, causal.retrieval_profile(fine, t, **PAPER), lw=1, ls="--",
                         label=f"uniform, closed form, t = {t:g}")
        ax1.plot(grid, vm.profile[k], lw=1.2, color=line.get_color(),
                 label=f"von Mises(1), kinetic, t = {t:g}")
        ax1.errorbar(est.s, est.profile[k], yerr=est.sem[k], fmt="o", ms=3, capsize=2,
                     color=line.get_color())
    ax1.set(xlabel="source position s", ylabel="S_t(s) (connected, n/2 units)", ylim=(0, 2.6),
            title=f"retrieval profile; dots: particles (n = {est.params['n']}, "
                  f"{est.params['replicas']} prompts)")
    ax1.legend(fontsize=6)
    for lam, err in errors.items():
        ax2.semilogy([4, 6, 8, 10, 12], np.maximum(err, 1e-16), "o-", label=f"lambda = {lam:g}")
    ax2.set(xlabel="nodes in the log-ratio variable (n_positions)",
            ylabel="max relative error vs closed form",
            title="uniform data: kinetic vs closed form")
    ax2.legend(fontsize=7)
    fig.savefig(figure_path("v21_correlations"), dpi=120)
    plt.close(fig)


def run(quick: bool) -> tuple[list[Row], list[str]]:
    rows, errors = _uniform_rows()
    rows.append(_finite_difference_row())
    particle_rows, est = _particle_rows(quick)
    rows += particle_rows
    _figure(errors, est)
    return rows, ["v21_correlations"]
