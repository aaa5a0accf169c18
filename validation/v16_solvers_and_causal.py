"""16. Solvers that find every state, and the causal kinetic theory.

Rows:

* Newton from a clearly non-uniform guess (issue 14's example): Kuramoto (beta = 0) at
  kappa = 3, guess 1 + 0.9 cos(theta). The synchronized state has order parameter r solving
  the self-consistency equation r = I_1(kappa r)/I_0(kappa r) (Kuramoto; Bertini,
  Giacomin & Pakdaman), r = 0.7241587... by brentq; before the deflation of the uniform
  state the same guess returned rho = 1. Tolerance: Newton's 1e-12 residual.
* Deflation (Farrell, Birkisson & Funke 2015): from the same von Mises guess, deflating the
  first state gives the antipodal cluster: the same r, Re rho_1 of the opposite sign;
  reported: |r_2 - r_1|, reference 0.
* Newton–Krylov (matrix-free) against dense Newton, a 1-cluster state on S^2 (full space,
  288 unknowns): difference of the order parameter, reference 0 (a second method).
* The causal retrieval profile of Duerinckx–Geshkovski–Rossi (arXiv 2605.09213), in the
  closed form of meanfield.causal: the position of its interior minimum at t = 1.2 for
  beta = lambda = 1, M = 8, n_max = 20, against the value marked in the paper's figure
  (the figure as stored in the authors' repository borjanG/2026-lost-in-the-middle,
  img/2.jpg: s = 0.32, read to +-0.01).
* The causal kinetic equation (meanfield.kinetic) in its linear regime against the
  closed-form propagator exp(c W_lambda) = I + G_c of meanfield.causal (an independent
  derivation): largest relative error of rho_1(t = 1.5, s) over 24 positions, ALiBi
  lambda = 1, beta = 2; tolerance 1e-6 (amplitude 1e-7: nonlinearity and ETDRK4 error).
"""

from __future__ import annotations

import numpy as np
from _common import Row, figure_path
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import i0, i1

import meanfield as mf
from meanfield import causal
from meanfield.kinetic import evolve_kinetic, position_weights

TITLE = "Deflation, Newton-Krylov, and the causal kinetic theory"
SOURCE = "Kuramoto self-consistency; FBF 2015; DGR 2605.09213"


def run(quick: bool) -> tuple[list[Row], list[str]]:
    import matplotlib.pyplot as plt

    rows = []
    basis = mf.CircleBasis(32)
    kur = mf.MeanFieldModel(mf.KuramotoKernel(), kappa=3.0)
    r_ref = brentq(lambda r: r - i1(3.0 * r) / i0(3.0 * r), 0.1, 1.0, xtol=1e-15)
    st = mf.stationary_state(kur, basis, 1 + 0.9 * np.cos(basis.grid))
    rows.append(Row("Newton from the guess 1 + 0.9 cos: r, beta = 0, kappa = 3",
                    "Kuramoto self-consistency", st.amplitude(1), r_ref, 1e-10,
                    "Newton residual 1e-12 (the uniform state is deflated)"))
    guess = mf.initial.von_mises(basis, 2.0)
    first = mf.stationary_state(kur, basis, guess)
    second = mf.stationary_state(kur, basis, guess, deflate=[first])
    rows.append(Row("deflation: second state from the same guess, |r_2 - r_1|", "FBF 2015",
                    abs(second.amplitude(1) - first.amplitude(1)), 0.0, 1e-10,
                    "the antipodal cluster (Re rho_1 of opposite sign), Newton 1e-12"))
    s2 = mf.SphereBasis(12 if quick else 16)
    model = mf.MeanFieldModel(mf.AttentionKernel(2.0), kappa=8.0, dim=3)
    g = mf.initial.von_mises(s2, 6.0, mean=np.array([0.6, 0.0, 0.8]))
    nk = mf.stationary_state(model, s2, g, symmetric=False, solver="krylov", stability=False,
                             raise_on_failure=False)
    dn = mf.stationary_state(model, s2, g, symmetric=False, solver="dense", stability=False,
                             raise_on_failure=False)
    amp = [float(np.linalg.norm(s2.to_real(c)[s2.real_degrees == 1])) for c in (nk.coeffs,
                                                                             dn.coeffs)]
    rows.append(Row(f"Newton-Krylov vs dense Newton, S^2 lmax {s2.lmax}: degree-1 norm",
                    "second method", amp[0], amp[1], 1e-9,
                    "both solve the scaled equation to 1e-12 (condition ~ kappa)"))
    s_min = causal.retrieval_minimum(1.2, 1.0, 1.0, 8.0, 20)
    rows.append(Row("causal retrieval profile: interior minimum, t = 1.2", "DGR 2605.09213 "
                    "figure", s_min, 0.32, 0.01, "read off the figure to +-0.01"))
    grid = np.linspace(0.02, 0.98, 800)  # the figure's grid; it plots S - min S
    prof = causal.retrieval_profile(grid, 1.2, 1.0, 1.0, 8.0, 20)
    for where, ref, i in (("left end s = 0.02", 0.83, 0), ("right end s = 0.98", 0.40, -1)):
        rows.append(Row(f"causal retrieval profile minus its minimum, {where}",
                        "DGR 2605.09213 figure", float(prof[i] - prof.min()), ref, 0.02,
                        "read off the figure to +-0.02"))
    beta, eps, t, lam = 2.0, 1e-7, 1.5, 1.0
    s, _ = position_weights(24, "alibi", lam=lam)
    b16 = mf.CircleBasis(16)
    rho0 = 1 + 2 * eps * s[:, None] * np.cos(b16.grid)  # rho_1(0, s) = eps s
    ks = evolve_kinetic(mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=np.inf), b16, rho0,
                        t, [0, t], weight="alibi", lam=lam, n_positions=24, dt=0.01)
    a1 = float(causal.mode_rates(beta, 1)[0])
    exact = np.array([eps * (si + quad(lambda x, si=si: causal.causal_propagator(
        a1 * t, si, x, lam) * x, 0, si, epsabs=1e-16, limit=200)[0]) for si in ks.s])
    err = float(np.max(np.abs(ks.coeffs[-1, :, 1].real / exact - 1)))
    rows.append(Row("causal kinetic PDE, linear regime vs closed-form propagator (max rel.)",
                    "DGR 2605.09213 / meanfield.causal", err, 0.0, 1e-6,
                    "amplitude 1e-7 (nonlinearity), ETDRK4 dt = 0.01"))

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5), constrained_layout=True)
    sg = np.linspace(0.02, 1.0, 300)
    for tt in (0.4, 1.2, 2.4, 3.5):
        ax1.plot(sg, causal.retrieval_profile(sg, tt, 1.0, 1.0, 8.0, 20), label=f"t = {tt}")
    ax1.axvline(s_min, color="k", ls=":", lw=0.8)
    ax1.set(xlabel="source position s", ylabel="retrieval profile S_t(s)", ylim=(0, 3),
            title="beta = lambda = 1, M = 8, n_max = 20 (t_crit = "
                  f"{float(causal.t_crit(1.0, 1.0, 8.0, 20)):.3g})")
    ax1.legend(fontsize=7)
    ax2.plot(ks.s, ks.coeffs[-1, :, 1].real / eps, "o", ms=3, label="kinetic PDE")
    ax2.plot(ks.s, exact / eps, "-", label="closed-form propagator")
    ax2.set(xlabel="token position s", ylabel="rho_1(t = 1.5, s) / eps",
            title="causal kinetic equation, ALiBi lambda = 1, beta = 2")
    ax2.legend(fontsize=7)
    fig.savefig(figure_path("v16_solvers_and_causal"), dpi=120)
    plt.close(fig)
    return rows, ["v16_solvers_and_causal"]
