"""2. Noisy Kuramoto (beta = 0) and von Mises–Fisher states (Frouvelle–Liu).

Sources: Bertini–Giacomin–Pakdaman 2010 (circle: pitchfork at kappa = 2, r = I_1(kappa r) /
I_0(kappa r)); Frouvelle & Liu 2012 (S^{d-1}: r = I_{d/2}(kappa r) / I_{d/2-1}(kappa r)).
Ours: the continued branch of bifurcation_diagram (circle; zonal S^2 and S^3).
"""

from __future__ import annotations

import numpy as np
from _common import Row, figure_path
from scipy.optimize import brentq
from scipy.special import ive

import meanfield as mf

TITLE = "noisy Kuramoto / von Mises–Fisher branch"


def r_of(kappa: float, d: int) -> float:
    f = lambda r: r - ive(d / 2, kappa * r) / ive(d / 2 - 1, kappa * r)  # noqa: E731
    return brentq(f, 1e-9, 1.0, xtol=1e-15)


def run(quick: bool) -> tuple[list[Row], list[str]]:
    import matplotlib.pyplot as plt

    rows = []
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for d in (2, 3, 4):
        model = mf.MeanFieldModel(mf.KuramotoKernel(), kappa=1.0, dim=d)
        basis = mf.CircleBasis(32) if d == 2 else mf.ZonalBasis(d, 32)
        diag = mf.bifurcation_diagram(model, basis, "kappa", (0.5 * d, 4.0 * d), modes=(1,))
        bp = diag.bifurcation_points[0]
        rows.append(Row(f"pitchfork kappa_1, d={d}", "BGP 2010 / Frouvelle–Liu", bp.param,
                        float(d), 1e-12, "Brent on the linearization", "rel"))
        br = diag.branches[0]
        kap, amp = br.param[1:], br.amplitude[1:]
        exact = np.array([r_of(k, d) for k in kap])
        worst = int(np.argmax(np.abs(amp - exact)))
        rows.append(Row(f"order parameter r on the branch, d={d} (worst of {kap.size})",
                        "self-consistency r = I_{d/2}(kr)/I_{d/2-1}(kr)", amp[worst],
                        exact[worst], 1e-9, "corrector tol 1e-11 x conditioning near onset"))
        ks = np.linspace(d * 1.0001, 4 * d, 200)
        ax.plot(ks / d, [r_of(k, d) for k in ks], f"C{d - 2}-", lw=1, label=f"closed form d={d}")
        ax.plot(kap / d, amp, f"C{d - 2}o", ms=3, label=f"continuation d={d}")
    ax.set_xlabel(r"$\kappa/d$")
    ax.set_ylabel(r"$r = \langle x\cdot e\rangle$")
    ax.legend(fontsize=7)
    ax.set_title("von Mises–Fisher branch (beta = 0)")
    fig.savefig(figure_path("v02_kuramoto_vmf"), dpi=110)
    plt.close(fig)
    return rows, ["v02_kuramoto_vmf"]
