"""18. The planar basis: densities of (x_1, x_2) on S^{d-1}, d = 16.

Rows:

* The bifurcation points kappa_l(beta) = beta / lambda_l(beta) of the uniform state for
  l = 2, 3 at d = 16, beta = 2 (LITERATURE.md, Funk–Hecke), located on the planar basis from
  the numerically assembled Jacobian (continuation.bifurcation_points_of_uniform, Brent to
  1e-15): tolerance 1e-10 relative.
* The heat flow of a mixture of two von Mises–Fisher densities with in-plane centres 2 rad
  apart, k0 = 4, kappa = 2, at t = 1, against the closed form (a zonal function about mu has
  degree-l part I_{l+d/2-1}(k0) / I_{d/2-1}(k0) e^{-l(l+d-2) t / kappa}): max error at 100
  random points, tolerance 1e-12 (ETDRK4 is exact on the linear part; lmax = 40 resolves the
  data to round-off).
* Equivariant branching (LITERATURE.md, Golubitsky–Stewart–Schaeffer): the D_2 polygon state
  (two antipodal clusters) near kappa_2 is axial, i.e. zonal about e_1: the planar Newton
  state against a ZonalBasis(16) Newton state, max difference at random points, tolerance
  1e-10 (both Newton to 1e-12).
"""

from __future__ import annotations

import numpy as np
from _common import Row, figure_path
from scipy.special import gammaln, iv, ive

import meanfield as mf
from meanfield.bases.zonal import log_harmonic_dimension, orthonormal_gegenbauer
from meanfield.continuation import bifurcation_points_of_uniform

TITLE = "planar basis on S^15: bifurcation points, heat flow, polygon states"
SOURCE = "LITERATURE.md (Funk–Hecke thresholds, equivariant branching); closed forms"


def _lambda(l: int, beta: float, d: int) -> float:
    return float(np.exp(gammaln(d / 2) + (d / 2 - 1) * np.log(2 / beta)) * iv(l + d / 2 - 1,
                                                                              beta))


def _in_plane(angle: float, d: int) -> np.ndarray:
    return np.cos(angle) * np.eye(d)[0] + np.sin(angle) * np.eye(d)[1]


def _heat_exact(x, mus, k0, kappa, t, d, L=60):
    nu, l = d / 2 - 1, np.arange(L + 1)
    amp = (np.exp(-l * (l + d - 2) * t / kappa) * ive(l + nu, k0) / ive(nu, k0)
           * np.exp(0.5 * log_harmonic_dimension(l, d)))
    return sum(orthonormal_gegenbauer(L, d, np.clip(x @ mu, -1, 1)) @ amp
               for mu in mus) / len(mus)


def run(quick: bool) -> tuple[list[Row], list[str]]:
    import matplotlib.pyplot as plt

    rows = []
    d, beta = 16, 2.0
    basis = mf.PlanarBasis(d, 12)
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=1.0, dim=d)
    for l in (2, 3):
        ref = beta / _lambda(l, beta, d)
        (root,) = bifurcation_points_of_uniform(model, basis, "kappa", (0.9 * ref, 1.1 * ref), l)
        rows.append(Row(f"kappa_{l}(beta = 2), d = 16, planar basis", "LITERATURE.md "
                        "beta / lambda_l(beta)", root, ref, 1e-10,
                        "Brent on the assembled Jacobian's mode-l eigenvalue", kind="rel"))

    k0, kappa = 4.0, 2.0
    b40 = mf.PlanarBasis(d, 40)
    mus = [_in_plane(0.0, d), _in_plane(2.0, d)]
    rho0 = sum(mf.initial.von_mises(b40, k0, mean=mu) for mu in mus) / 2
    heat = mf.MeanFieldModel(mf.ZonalKernel(coefficients=np.zeros(4), dim=d), kappa=kappa, dim=d)
    sol = mf.evolve(heat, b40, rho0, 1.0, [0.0, 1.0])
    x = np.random.default_rng(0).normal(size=(100, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    err = float(np.max(np.abs(b40.evaluate(sol.coeffs[-1], x)
                              - _heat_exact(x, mus, k0, kappa, 1.0, d))))
    rows.append(Row("heat flow of two in-plane vMF densities, d = 16, t = 1: max error",
                    "closed form (Funk–Hecke)", err, 0.0, 1e-12,
                    "ETDRK4 exact on the linear part; data resolved at lmax = 40"))

    b16 = mf.PlanarBasis(d, 16)
    g = mf.AttentionKernel(beta).coefficients(16, d)
    m2 = model.replace(kappa=0.9 / g[2])
    bumps = sum(mf.initial.von_mises(b16, 6.0, mean=_in_plane(np.pi * j, d)) for j in range(2))
    st = mf.stationary_state(m2, b16, bumps / 2, period=2)
    z = mf.ZonalBasis(d, 16)
    stz = mf.stationary_state(m2, z, np.cosh(6.0 * z.grid), period=2)
    dev = float(np.max(np.abs(b16.evaluate(st.coeffs, x) - z.evaluate(stz.coeffs, x[:, 0]))))
    rows.append(Row("D_2 polygon state near kappa_2 is zonal about e_1 (planar vs zonal)",
                    "LITERATURE.md (axial isotropy); second method", dev, 0.0, 1e-10,
                    "both Newton to 1e-12"))

    m3 = model.replace(kappa=1.02 / g[3])
    bumps = sum(mf.initial.von_mises(b16, 6.0, mean=_in_plane(2 * np.pi * j / 3, d))
                for j in range(3))
    st3 = mf.stationary_state(m3, b16, bumps / 3, period=3)
    fig, axes = plt.subplots(1, 2, figsize=(8, 4), subplot_kw={"projection": "polar"},
                             constrained_layout=True)
    for ax, state, name in ((axes[0], st, "D_2, kappa = 0.9 kappa_2"),
                            (axes[1], st3, "D_3, kappa = 1.02 kappa_3")):
        rr, pp = b16.grid
        ax.pcolormesh(np.append(pp[0], 2 * np.pi), b16.r,
                      np.concatenate([state.rho, state.rho[:, :1]], axis=1), shading="auto")
        ax.set_title(f"{name}: rho on the (x_1, x_2) disk", fontsize=8)
        ax.set_yticklabels([])
    fig.savefig(figure_path("v18_planar"), dpi=120)
    plt.close(fig)
    return rows, ["v18_planar"]
