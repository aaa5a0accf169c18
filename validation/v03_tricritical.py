"""3. Continuous versus first-order transitions: the tricritical beta_*^{(d)}.

Source: Mun & Rosenzweig (2604.16288, d = 2; 2606.05140, all d): the first bifurcation is
supercritical iff I_{d/2+1}(beta)/I_{d/2}(beta) < 1/d (beta_*^{(2)} = 2.4469...). Ours: the
sign change of the numerically measured branch curvature (phase_diagram: Richardson
extrapolation of amplitude-parametrized solves), and the symbolic normal form.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from _common import Row, figure_path
from scipy.optimize import brentq
from scipy.special import iv

import meanfield as mf
from meanfield import symbolic

TITLE = "tricritical beta_* (continuous vs first order)"


def criterion(d: int) -> float:
    return brentq(lambda b: iv(d / 2 + 1, b) / iv(d / 2, b) - 1 / d, 0.5, 5, xtol=1e-15)


def run(quick: bool) -> tuple[list[Row], list[str]]:
    rows, figs = [], []
    dims = (2, 3, 4) if quick else (2, 3, 4, 5, 8)
    for d in dims:
        ref = criterion(d)

        def factory(beta, d=d):
            return mf.CircleBasis(32) if d == 2 else mf.ZonalBasis(d, 32)

        pd = mf.phase_diagram([ref - 0.2, ref + 0.2], dim=d, basis_factory=factory)
        rows.append(Row(f"beta_* numerical, d={d}", "Mun–Rosenzweig criterion", pd.beta_star,
                        ref, 1e-6, "curvature by Richardson at amplitude 1e-2: ~1e-8"))
        c = sp.lambdify(symbolic.beta, symbolic.normal_form("attention", 1, d).c, "scipy")
        ours = brentq(c, ref - 0.2, ref + 0.2, xtol=1e-15)
        rows.append(Row(f"beta_* symbolic normal form, d={d}", "Mun–Rosenzweig criterion",
                        ours, ref, 1e-12, "closed-form cubic coefficient: round-off"))
    # phase diagram figure on the circle
    betas = np.arange(1.0, 5.01, 0.5 if quick else 0.25)
    pd = mf.phase_diagram(betas)
    pd.plot(figure_path("v03_phase_diagram"))
    figs.append("v03_phase_diagram")
    return rows, figs
