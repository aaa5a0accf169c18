"""14. GLPR's phase diagram of clustering, at the papers' scale (batched ensembles).

GLPR ("A mathematical perspective on Transformers", arXiv 2312.10794; their script
borjanG/2023-transformers-rotf ``phase-diagrams.py``) draw, for SA with n = 32 tokens and
2048 independent systems per beta, the fraction of token pairs i != j with
<x_i, x_j> > 0.999 over (beta, t), with Euler steps dt = 0.05 followed by renormalization,
and overlay the time at which the equiangular ODE (LITERATURE.md; SA, n tokens) reaches
1 - 1e-3: in high dimension random tokens are nearly equiangular, so the whole ensemble
clusters at that time. Ours: ``simulate_particles(..., replicas=R, keep="observables")``
(d = 128 runs exactly in the 32-dimensional span of the tokens), on a grid of beta, t up
to 30.

Rows (d = 128): the time t_1/2 at which the ensemble pair fraction crosses 1/2, against the
ODE time T(beta). Tolerance: half the width of the ensemble's transition (the times where the
fraction crosses 0.1 and 0.9), plus one save interval: the claim of the figure is that the
ODE curve runs through the transition band. The band widens with beta (the ODE's speed at
gamma = 0 is ~ 2 / (e^beta + n - 1), so the d^{-1/2} spread of the initial inner products
shifts the clustering time more); past beta ~ 5 the ODE time leaves the band (beta = 6:
T = 16.0 against t_1/2 = 14.5, band [13.4, 15.8]), which is the physics of finite d, not a
solver error, so no row is claimed there. The d = 2 panel is GLPR's circle picture (no ODE
claim: circle tokens are not equiangular).
"""

from __future__ import annotations

import numpy as np
from _common import Row, figure_path

import meanfield as mf
from meanfield.sweep import equiangular_boundary

TITLE = "GLPR phase diagram of clustering: 2048-system ensembles, equiangular boundary"

SOURCE = "GLPR 2312.10794 (phase diagram, equiangular boundary)"


def crossing(ts: np.ndarray, f: np.ndarray, level: float) -> float:
    """First save time at which f >= level (nan if never)."""
    hit = np.nonzero(f >= level)[0]
    return float(ts[hit[0]]) if hit.size else np.nan


def ensemble_fraction(beta, dim, replicas, ts, seed):
    ps = mf.simulate_particles(beta=float(beta), n=32, dim=dim, dynamics="sa",
                               replicas=replicas, t_final=float(ts[-1]), dt=0.05, t_eval=ts,
                               integrator="euler", seed=seed, keep="observables",
                               observables={"pair_fraction": {"threshold": 0.999}})
    return ps.ensemble("pair_fraction", threshold=0.999)


def run(quick: bool) -> tuple[list[Row], list[str]]:
    import matplotlib.pyplot as plt

    ts = np.linspace(0.0, 30.0, 201)
    betas = np.array([1.0, 3.0, 5.0]) if quick else np.arange(0.5, 9.01, 0.5)
    reps = {2: 64 if quick else 2048, 128: 64 if quick else 512}
    row_betas = (1.0, 4.0) if quick else (1.0, 2.0, 3.0, 4.0, 5.0)
    grids = {}
    for dim in (2, 128):
        grids[dim] = np.array([ensemble_fraction(b, dim, reps[dim], ts, 100 + i).mean
                               for i, b in enumerate(betas)])
    rows = []
    for i, beta in enumerate(row_betas):
        est = ensemble_fraction(beta, 128, reps[128], ts, 7 + i)
        t10, t50, t90 = (crossing(ts, est.mean, q) for q in (0.1, 0.5, 0.9))
        tol = 0.5 * (t90 - t10) + (ts[1] - ts[0])
        rows.append(Row(f"t at pair fraction 1/2, d=128, SA, n=32, beta={beta:g} "
                        f"({reps[128]} systems)", SOURCE, t50,
                        float(equiangular_boundary([beta], 32, "sa", t_max=30.0)[0]), tol,
                        f"half the 10-90% transition width [{t10:.2f}, {t90:.2f}] + one "
                        "save interval"))
    b_fine = np.linspace(0.1, betas[-1], 120)
    boundary = equiangular_boundary(b_fine, 32, "sa", t_max=30.0)
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6), constrained_layout=True)
    for ax, dim in zip(axes, (2, 128), strict=True):
        im = ax.pcolormesh(betas, ts, grids[dim].T, shading="nearest", cmap="magma",
                           vmin=0, vmax=1)
        ax.plot(b_fine, boundary, color="w", lw=1.2, ls="--", label="equiangular ODE")
        ax.set_xlabel(r"$\beta$")
        ax.set_ylabel("t")
        ax.set_ylim(0, 30)
        ax.set_title(f"d = {dim}, SA, n = 32, {reps[dim]} systems per beta", fontsize=9)
        ax.legend(loc="upper left", fontsize=8, frameon=False, labelcolor="w")
    fig.colorbar(im, ax=axes, label=r"fraction of pairs with $\langle x_i,x_j\rangle>0.999$")
    fig.savefig(figure_path("v14_glpr_phase_diagram"), dpi=110)
    plt.close(fig)
    return rows, ["v14_glpr_phase_diagram"]
