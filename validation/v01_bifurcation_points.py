"""1. Bifurcation points of the noisy transformer: kappa_l(beta) = beta / lambda_l(beta).

Source: DESIGN.md §1 / LITERATURE.md (Funk–Hecke, normalized sigma; BBR 2510.20094 on the
circle, Shalova–Schlichting 2412.14813 on S^{d-1}). Ours: zeros of the numerically
assembled linearization's growth rate (Brent), on the circle (Fourier) and on S^{d-1}
(zonal Gegenbauer). Reference: the closed form through scaled Bessel functions (scipy).
"""

from __future__ import annotations

import numpy as np
from _common import Row, figure_path
from scipy.special import gamma, iv

import meanfield as mf
from meanfield.continuation import bifurcation_points_of_uniform

TITLE = "bifurcation points kappa_l(beta)"


def closed_form(beta: float, l: int, d: int) -> float:
    lam = gamma(d / 2) * (2 / beta) ** (d / 2 - 1) * iv(l + d / 2 - 1, beta)
    return beta / lam


def run(quick: bool) -> tuple[list[Row], list[str]]:
    rows = []
    cases = [(2, 1.0), (2, 3.0), (3, 1.0), (4, 2.0), (8, 3.0)]
    if not quick:
        cases += [(2, 8.0), (3, 5.0), (16, 4.0)]
    for d, beta in cases:
        model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=1.0, dim=d)
        basis = mf.CircleBasis(48) if d == 2 else mf.ZonalBasis(d, 40)
        for l in (1, 2, 3):
            ref = closed_form(beta, l, d)
            (ours,) = bifurcation_points_of_uniform(model, basis, "kappa",
                                                    (0.5 * ref, 2 * ref), l)
            rows.append(Row(f"kappa_{l}, d={d}, beta={beta:g}", "DESIGN.md §1", ours, ref,
                            1e-10, "Brent on the exact linearization: round-off", "rel"))
    # the figure: kappa_1..3 over beta on the circle and S^2
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    betas = np.linspace(0.2, 6, 60)
    for d, style in ((2, "-"), (3, "--")):
        for l in (1, 2, 3):
            ax.semilogy(betas, [closed_form(b, l, d) for b in betas], f"C{l - 1}{style}",
                        label=f"l={l}, d={d}")
    for r in rows:
        d = int(r.result.split("d=")[1].split(",")[0])
        if d in (2, 3):
            beta = float(r.result.split("beta=")[1])
            ax.plot(beta, r.ours, "ko", ms=3)
    ax.set_xlabel(r"$\beta$")
    ax.set_ylabel(r"$\kappa_l = \beta/\lambda_l(\beta)$")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("thresholds: closed form (lines), computed (dots)")
    fig.savefig(figure_path("v01_bifurcation_points"), dpi=110)
    plt.close(fig)
    return rows, ["v01_bifurcation_points"]
