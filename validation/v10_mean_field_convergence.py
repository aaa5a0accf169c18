"""10. Mean-field convergence: particles against the PDE at rate n^{-1/2}.

Source: LITERATURE.md "Mean-field limit" (|<phi, mu_n> - <phi, rho>| = O(n^{-1/2})). Ours:
meanfield.particles.compare.convergence_study on the circle (noisy Kuramoto, beta = 0,
kappa = 4, from a von Mises law): the mean over replicas of max_t |<cos theta>_n - <cos
theta>_PDE| against n, fitted on log-log axes with the standard error of the slope.
"""

from __future__ import annotations

from _common import Row, figure_path

import meanfield as mf
from meanfield.particles.compare import convergence_study

TITLE = "mean-field convergence n^-1/2 (particles vs PDE)"


def run(quick: bool) -> tuple[list[Row], list[str]]:
    model = mf.MeanFieldModel(mf.AttentionKernel(0.0), kappa=4.0)
    basis = mf.CircleBasis(32)
    rho0 = mf.initial.von_mises(basis, 1.0)
    n_values = [100, 400, 1600, 6400] if quick else [100, 400, 1600, 6400, 25600]
    study = convergence_study(model, basis, rho0, n_values, [0.5, 1.0, 2.0],
                              replicas=16 if quick else 32, seed=11)
    fit = study.fit_mae
    rows = [Row(f"slope of the particle-PDE gap in n ({n_values[0]}..{n_values[-1]})",
                "LITERATURE.md mean-field limit (n^-1/2)", fit["slope"], -0.5,
                max(3 * fit["slope_se"], 0.05), "3 standard errors of the fit")]
    study.plot(figure_path("v10_mean_field_convergence"))
    return rows, ["v10_mean_field_convergence"]
