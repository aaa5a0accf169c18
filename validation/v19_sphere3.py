"""19. The full 3-sphere: SphereBasis(lmax, dim=4) (Hopf-coordinate harmonics).

Rows:

* Bifurcation points of rho = 1 on S^3, kappa_l = beta / lambda_l(beta) with
  lambda_l = (2/beta) I_{l+1}(beta) (DESIGN.md §1, Funk–Hecke with normalized sigma), for
  l = 1, 2, 3 at beta = 2, located by Brent on the growth rate taken from the numerically
  assembled full-S^3 Jacobian. Tolerance 1e-10 relative (Brent to 1e-15, the growth rate to
  round-off).
* Heat flow of 0.6 vMF(3, mu1) + 0.4 vMF(2, mu2) (not zonal): the evolved density at t = 0.3
  against the closed form sum_l (l+1) lambda_l/lambda_0 U_l(<x, mu>) e^{-l(l+2)t/kappa} at
  30 random points. Tolerance 1e-12 (ETDRK4 exact on the linear part; data tail ~1e-14).
* A 1-cluster stationary state (beta = 1, kappa = 1.3 kappa_1) on Sphere3Basis(16) against
  ZonalBasis(4, 16) (a second discretization of the same zonal problem): max difference
  at 25 random points. Tolerance 1e-10 (both Newton to 1e-12, round-off otherwise).
* The beta = 0 state at kappa = 6: <x_1> against the Frouvelle–Liu self-consistency
  r = I_2(kappa r) / I_1(kappa r); tolerance 1e-12 at lmax 12 (errors fall geometrically,
  figure).
"""

from __future__ import annotations

import math

import numpy as np
from _common import Row, figure_path
from scipy.optimize import brentq
from scipy.special import eval_chebyu, iv

import meanfield as mf
from meanfield.continuation import bifurcation_points_of_uniform

TITLE = "the full 3-sphere: bifurcation points, heat flow, zonal agreement, convergence"
SOURCE = "DESIGN.md §1 (Funk–Hecke on S^3); Frouvelle–Liu; second methods"


def lam(l: int, beta: float) -> float:
    return 2.0 / beta * iv(l + 1, beta)


def vmf_heat(x, mu, k0, t, kappa, lmax=60):
    s = np.clip(x @ mu, -1.0, 1.0)
    return sum((l + 1) * lam(l, k0) / lam(0, k0) * eval_chebyu(l, s)
               * math.exp(-l * (l + 2) * t / kappa) for l in range(lmax + 1))


def _points(n, seed):
    x = np.random.default_rng(seed).normal(size=(n, 4))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _bifurcation_rows() -> list[Row]:
    beta = 2.0
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=1.0, dim=4)
    b = mf.SphereBasis(10, dim=4)
    rows = []
    for l in (1, 2, 3):
        ref = beta / lam(l, beta)
        (root,) = bifurcation_points_of_uniform(model, b, "kappa", (0.9 * ref, 1.1 * ref), l,
                                                n_scan=4)
        rows.append(Row(f"kappa_{l}(beta=2) on S^3, full-sphere Jacobian",
                        "DESIGN.md §1 (beta / lambda_l)", root, ref, 1e-10,
                        "Brent on the assembled growth rate", kind="rel"))
    return rows


def _heat_row() -> Row:
    mu1, mu2 = np.array([1.0, 2.0, -2.0, 4.0]) / 5.0, np.array([-0.5, 0.5, 0.5, 0.5])
    b, kappa = mf.SphereBasis(20, dim=4), 2.0
    model = mf.MeanFieldModel(mf.ZonalKernel(coefficients=np.zeros(4), dim=4), kappa=kappa,
                              dim=4)
    rho0 = (0.6 * np.exp(3.0 * b.points @ mu1) / lam(0, 3.0)
            + 0.4 * np.exp(2.0 * b.points @ mu2) / lam(0, 2.0))
    sol = mf.evolve(model, b, rho0, 0.3, [0.0, 0.3], dt=0.3 / 8)
    x = _points(30, 3)
    exact = 0.6 * vmf_heat(x, mu1, 3.0, 0.3, kappa) + 0.4 * vmf_heat(x, mu2, 2.0, 0.3, kappa)
    err = float(np.max(np.abs(b.evaluate(sol.coeffs[-1], x) - exact)))
    return Row("heat flow of two vMF densities on S^3, max error at t = 0.3", "closed form",
               err, 0.0, 1e-12, "ETDRK4 exact on the linear part; data tail 1e-14")


def _zonal_row() -> Row:
    beta = 1.0
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=1.3 * beta / lam(1, beta), dim=4)
    b, z = mf.SphereBasis(16, dim=4), mf.ZonalBasis(4, 16)
    sb = mf.stationary_state(model, b, mf.initial.von_mises(b, 3.0, mean=[1, 0, 0, 0]),
                             stability=False)
    sz = mf.stationary_state(model, z, mf.initial.von_mises(z, 3.0), stability=False)
    x = _points(25, 4)
    diff = float(np.max(np.abs(b.evaluate(sb.coeffs, x) - z.evaluate(sz.coeffs, x[:, 0]))))
    return Row("1-cluster state on S^3 vs ZonalBasis(4, 16), max difference", "second method",
               diff, 0.0, 1e-10, "both Newton to 1e-12")


def _kuramoto(lmaxes) -> tuple[float, list[float]]:
    kappa = 6.0
    r = brentq(lambda r: r - iv(2, kappa * r) / iv(1, kappa * r), 1e-3, 1.0, xtol=1e-16)
    model = mf.MeanFieldModel(mf.KuramotoKernel(), kappa=kappa, dim=4)
    errs = []
    for L in lmaxes:
        b = mf.SphereBasis(L, dim=4)
        st = mf.stationary_state(model, b, mf.initial.von_mises(b, 5.0, mean=[1, 0, 0, 0]),
                                 stability=False, raise_on_failure=False)
        errs.append(abs(st.amplitude(1) - r))
    return r, errs


def run(quick: bool) -> tuple[list[Row], list[str]]:
    import matplotlib.pyplot as plt

    rows = _bifurcation_rows() + [_heat_row(), _zonal_row()]
    lmaxes = [4, 6, 8, 10, 12] if quick else [4, 6, 8, 10, 12, 14, 16]
    r, errs = _kuramoto(lmaxes)
    rows.append(Row("beta = 0 state on S^3 at kappa = 6: <x_1>, lmax 12",
                    "Frouvelle–Liu (r = I_2(kappa r)/I_1(kappa r))", r + errs[4], r, 1e-12,
                    "spectral convergence to round-off (figure)"))
    fig, ax = plt.subplots(figsize=(5, 3.5), constrained_layout=True)
    ax.semilogy(lmaxes, np.maximum(errs, 1e-17), "o-")
    ax.set_xlabel("lmax")
    ax.set_ylabel("|<x_1> - r|")
    ax.set_title("S^3, beta = 0, kappa = 6: spectral convergence")
    fig.savefig(figure_path("v19_sphere3"), dpi=120)
    plt.close(fig)
    return rows, ["v19_sphere3"]
