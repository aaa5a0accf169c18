"""13. Fluctuations around the uniform state: the structure factor S_k = n E|rhohat_k|^2.

Source: the Gibbs-measure / Gaussian-fluctuation argument. Noisy USA particles are the
Langevin dynamics of H = (1/(2 beta n)) sum_{i,j} e^{beta<x_i,x_j>}, so their invariant law is
proportional to exp(kappa H); on the circle exp(kappa H) = prod_k exp(n (kappa I_k(beta)/beta)
|rhohat_k|^2), and below the first bifurcation the central limit theorem for the i.i.d.
uniform tokens gives S_k -> 1/(1 - kappa/kappa_k), kappa_k = beta/I_k(beta) (on S^{d-1}:
n E|m|^2 -> 1/(1 - kappa lambda_1(beta)/beta)). For beta = 0 (noisy Kuramoto) this is the
classical fluctuation result (Bertini, Giacomin, Pakdaman, J. Stat. Phys. 138, 2010); the
general-beta formula and its O(1/n) term c_k/n (meanfield.particles.compare.
gibbs_structure_factor, a Laplace expansion of the Hubbard–Stratonovich field integral) are
derived here from the Gibbs form. Since the PDE's rho_k = 0 at the uniform state,
E|rhohat_k|^2 = S_k/n is an O(1/n) bias with a closed-form constant: its log-log slope in n
is -1. Ours: structure_factor_study (time and replica averages, batch-means error bars; full
mode with Talay–Tubaro extrapolation in dt, quick mode at dt = 0.01 where the Euler–Maruyama
bias, about -4.5 dt in S_1, is below the statistical error).
"""

from __future__ import annotations

from _common import Row, figure_path

import meanfield as mf
from meanfield.particles.compare import structure_factor_study

TITLE = "fluctuations: structure factor n E|rhohat_k|^2 vs 1/(1 - kappa/kappa_k), slope -1"
SOURCE = "Gibbs measure exp(kappa H), Gaussian fluctuations (Bertini-Giacomin-Pakdaman 2010)"


def _rows(st, label: str, idx: int = -1) -> list[Row]:
    rows = []
    n = int(st.n_values[idx])
    for j, k in enumerate(st.modes):
        name = f"S_{k}" if st.dim == 2 else "n E|m|^2"
        ref = float(st.predicted([n])[0, j])
        comb = float((st.se[idx, j] ** 2 + st.budget[idx, j] ** 2) ** 0.5)
        rows.append(Row(f"{name} at n={n}, {label} (limit {st.prediction[j]:.4f}, "
                        f"+ c/n = {st.correction[j]:+.3f}/n)", SOURCE,
                        float(st.estimate[idx, j]), ref, 4 * comb,
                        f"4 x (standard error {st.se[idx, j]:.3f} (+) O(n^-2) budget "
                        f"{st.budget[idx, j]:.1e})"))
    return rows


def run(quick: bool) -> tuple[list[Row], list[str]]:
    k1 = mf.AttentionKernel(1.0)
    kap = 0.5 * float(k1.threshold(1))
    circle = mf.MeanFieldModel(k1, kappa=kap)
    sphere = mf.MeanFieldModel(k1, kappa=0.5 * float(k1.threshold(1, dim=3)), dim=3)
    if quick:
        kw = dict(dt=0.01, replicas=2)
        st = structure_factor_study(circle, [16, 50, 160], t_average=250.0, modes=(1, 2),
                                    seed=13, **kw)
        s3 = structure_factor_study(sphere, [50], t_average=150.0, modes=(1,), seed=14, **kw)
        extra = []
    else:
        kw = dict(dt=0.02, replicas=2, extrapolate_dt=True)
        st = structure_factor_study(circle, [20, 63, 200], t_average=600.0, modes=(1, 2),
                                    seed=13, **kw)
        s3 = structure_factor_study(sphere, [50], t_average=400.0, modes=(1,), seed=14, **kw)
        kur = structure_factor_study(mf.MeanFieldModel(mf.AttentionKernel(0.0), kappa=1.0),
                                     [100], t_average=600.0, modes=(1, 2), seed=15, **kw)
        extra = _rows(kur, "beta=0, kappa=1 (Kuramoto)")
    rows = _rows(st, f"beta=1, kappa=kappa_1/2={kap:.4f}") + extra
    rows += _rows(s3, f"S^2, beta=1, kappa=kappa_1/2={sphere.kappa:.4f}")
    fit, pf = st.fits[1], st.fits_predicted[1]
    rows.append(Row(f"slope of E|rhohat_1|^2 in n ({st.n_values[0]}..{st.n_values[-1]}), "
                    "beta=1, kappa=kappa_1/2", SOURCE, fit["slope"], -1.0,
                    3 * fit["slope_se"] + abs(pf["slope"] + 1.0),
                    f"3 standard errors of the fit + the finite-n curvature "
                    f"{abs(pf['slope'] + 1.0):.3f} (slope of the corrected prediction)"))
    st.plot(figure_path("v13_structure_factor"))
    return rows, ["v13_structure_factor"]
