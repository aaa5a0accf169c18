"""17. Two-parameter continuation, Hopf points and rotating states.

Rows:

* The tricritical point where the continued fold curve kappa_fold(beta) is born from the
  branch-point curve (its amplitude extrapolated to 0; meanfield.two_parameter), against
  the published beta_* = 2.4469183... of the circle (LITERATURE.md, the Mun–Rosenzweig /
  normal-form criterion). Tolerance: the extrapolation from folds within 1e-3 (beta) of
  beta_*, a^2 linear to O((beta - beta_*)^2): 1e-6.
* The continued curves at beta = 3 against the one-parameter diagram (arclength + Brent,
  an independent path): kappa_fold and kappa_c, tolerance 1e-9.
* A Hopf point of a non-gradient head (Q = [[1, .3], [0, .8]], V = [[1, .5], [-.2, .7]],
  beta = 2): the real part of the leading eigenvalue of a fresh stationary state at the
  located kappa, reference 0, tolerance 1e-7.
* A rotating state (V = I + J/2, beta = 3, kappa = 1): the profile evolved for t = 1.5 against
  the profile translated by speed * t (reference 0), tolerance 1e-9 (the adaptive stepper
  at rtol 1e-11).
"""

from __future__ import annotations

import warnings

import numpy as np
from _common import Row, figure_path
from scipy.special import iv

import meanfield as mf
from meanfield.rotating import rotating_state

TITLE = "two-parameter curves, tricritical point, Hopf points, rotating states"
SOURCE = "LITERATURE.md beta_*; second methods"


def run(quick: bool) -> tuple[list[Row], list[str]]:
    import matplotlib.pyplot as plt

    rows = []
    pd = mf.phase_diagram([2.0, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc, mc = pd.fold_curve, pd.maxwell_curve
    (cp,) = pd.codim2_points
    rows.append(Row("tricritical beta_* from the continued fold curve, d = 2",
                    "LITERATURE.md (2.4469183)", cp.beta, 2.4469183, 1e-6,
                    "amplitude^2 extrapolated from folds within 1e-3 of beta_*; published "
                    "value to 7 decimals"))
    basis = mf.CircleBasis(32)
    d3 = mf.bifurcation_diagram(mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0), basis,
                                "kappa", (0.4, 1.2), modes=(1,))
    rows.append(Row("fold curve at beta = 3 vs the diagram's fold", "second method",
                    fc.at(3.0), d3.folds[0].param, 1e-9, "both Newton to 1e-11"))
    rows.append(Row("Maxwell curve at beta = 3 vs the diagram's kappa_c", "second method",
                    mc.at(3.0), d3.first_order_transitions[0].param, 1e-9,
                    "both Newton to 1e-11"))
    Q = np.array([[1.0, 0.3], [0.0, 0.8]])
    V = np.array([[1.0, 0.5], [-0.2, 0.7]])
    head = mf.MeanFieldModel(mf.AttentionLayer(2.0, Q=Q, V=V), kappa=1.0)
    dh = mf.bifurcation_diagram(head, basis, "kappa", (1.0, 2.5),
                                start=mf.initial.von_mises(basis, 1.0))
    h = dh.hopf_points[0]
    br = dh.branches[0]
    i = int(np.searchsorted(br.param, h.param))
    st = mf.stationary_state(head.replace(kappa=h.param), basis, br.coeffs[i])
    rows.append(Row(f"Hopf point of a non-gradient head (kappa_H = {h.param:.8f}): Re lambda",
                    "second method (fresh spectrum)", float(st.stability.eigenvalues[0].real),
                    0.0, 1e-7, "Brent on the arclength, corrector 1e-11"))
    J = np.array([[0.0, -1.0], [1.0, 0.0]])
    rot = mf.MeanFieldModel(mf.AttentionLayer(3.0, V=np.eye(2) + 0.5 * J), kappa=1.0)
    b48 = mf.CircleBasis(48)
    rs = rotating_state(rot, b48, mf.initial.von_mises(b48, 4.0))
    t = 1.5
    sol = mf.evolve(rot, b48, rs.rho, t, [0, t], rtol=1e-11, atol=1e-14)
    moved = rs.coeffs * np.exp(-1j * b48.degrees * rs.speed * t)
    rows.append(Row(f"rotating state (speed {rs.speed:.6f}): evolve vs rigid translation",
                    "second method (time stepping)",
                    float(np.max(np.abs(sol.coeffs[-1] - moved))), 0.0, 1e-9,
                    "adaptive ETDRK4 at rtol 1e-11"))

    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    bb = np.linspace(1.5, 3.5, 200)
    ax.plot(bb, bb / iv(1, bb), "k-", label="branch points kappa_1(beta)")
    ax.plot(fc.beta, fc.kappa, "C0-", label="fold curve (continued)")
    ax.plot(mc.beta, mc.kappa, "C1--", label="Maxwell curve kappa_c (continued)")
    ax.plot([cp.beta], [cp.kappa], "ro", label=f"tricritical beta_* = {cp.beta:.7f}")
    ax.set(xlabel="beta", ylabel="kappa", title="noisy USA on the circle: the first transition",
           xlim=(2.3, 3.1), ylim=(0.7, 1.1))
    ax.legend(fontsize=7)
    fig.savefig(figure_path("v17_continuation"), dpi=120)
    plt.close(fig)
    return rows, ["v17_continuation"]
