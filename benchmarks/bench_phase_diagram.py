"""Benchmark: the continued phase diagram against the sampled one (issue 14).

Circle, noisy USA, beta in [0.5, 8]. Two ways to get the curves of the (beta, kappa) plane:

* sampled: ``phase_diagram`` on a grid of beta (each beta's kappa_1, fold and kappa_c from
  a one-parameter bifurcation diagram in kappa), the curves between grid points by cubic
  interpolation of the sampled values;
* continued: the curves of :mod:`meanfield.two_parameter` (fold and Maxwell curves followed
  in beta by Newton on their defining systems, the branch-point curve by Brent on the growth
  rate), built on top of the sampled diagram (``pd.fold_curve`` ...), evaluated at a beta by
  solving the curve's own equation there (``Curve.at``).

Accuracy at check betas NOT on the grid, against independent references:

* branch-point curve: the closed form kappa_1 = beta / I_1(beta) (DESIGN.md §1);
* fold and Maxwell curves: one-parameter diagrams at the check beta solved to tol = 1e-12
  (fold: Brent on dkappa/ds along the arclength; kappa_c: Brent on F_branch - F_uniform).

Run:  .venv/bin/python benchmarks/bench_phase_diagram.py
"""

from __future__ import annotations

import os
import platform
import time
import warnings

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.special import iv

import meanfield as mf
from meanfield.continuation import _default_basis_for

GRID = np.linspace(0.5, 8.0, 16)  # step 0.5
CHECK = np.array([2.75, 3.25, 4.75, 6.25, 7.75])  # between grid points, above beta_*


def _reference(beta: float) -> tuple[float, float]:
    """(kappa_fold, kappa_c) of the one-parameter diagram at ``beta``, tol = 1e-12."""
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=1.0)
    basis = _default_basis_for(model)
    k1 = beta / iv(1, beta)
    d = mf.bifurcation_diagram(model, basis, "kappa", (0.5 * k1, 1.2 * k1), modes=(1,),
                               ds=0.01 * k1, tol=1e-12)
    return d.folds[0].param, d.first_order_transitions[0].param


def _interpolated(pd, values: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """Cubic interpolation of sampled values over the grid points where they exist."""
    ok = np.isfinite(values)
    return CubicSpline(pd.beta[ok], values[ok])(betas)


def _continued(pd) -> tuple[float, dict]:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the curves end, by design, within 1e-3 of beta_*
        curves = {"branch point": pd.branch_point_curve, "fold": pd.fold_curve,
                  "maxwell": pd.maxwell_curve}
    return time.perf_counter() - t0, curves


def main() -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python "
          f"{platform.python_version()}, numpy {np.__version__}")
    t0 = time.perf_counter()
    pd = mf.phase_diagram(GRID)
    t_sampled = time.perf_counter() - t0
    print(f"\nsampled: phase_diagram on {GRID.size} betas in [0.5, 8]: {t_sampled:.2f} s "
          f"(beta_* = {pd.beta_star:.10f})")
    t_build, curves = _continued(pd)
    n_pts = {k: c.beta.size for k, c in curves.items()}
    print(f"continued: the three curves on top of it: {t_build:.2f} s ({n_pts} points; "
          f"fold curve beta in [{curves['fold'].beta.min():.6f}, {curves['fold'].beta.max():g}])")

    t0 = time.perf_counter()
    refs = np.array([_reference(float(b)) for b in CHECK])
    t_ref = time.perf_counter() - t0
    exact = {"branch point": CHECK / iv(1, CHECK), "fold": refs[:, 0], "maxwell": refs[:, 1]}
    sampled = {"branch point": pd.kappa_1, "fold": pd.kappa_fold, "maxwell": pd.kappa_c}

    t0 = time.perf_counter()
    at = {k: np.array([c.at(float(b)) for b in CHECK]) for k, c in curves.items()}
    t_at = time.perf_counter() - t0
    spline = {k: CubicSpline(np.sort(c.beta), c.kappa[np.argsort(c.beta)])(CHECK)
              for k, c in curves.items() if k != "branch point"}
    print(f"references at {CHECK.size} check betas {CHECK.tolist()}: {t_ref:.2f} s; "
          f"evaluating the continued curves there (Curve.at, {3 * CHECK.size} solves): "
          f"{t_at:.2f} s")

    print(f"\n{'method':<44} {'wall s':>8} {'err kappa_1':>12} {'err fold':>12} "
          f"{'err Maxwell':>12}")
    rows = [("sampled grid + cubic interpolation", t_sampled,
             {k: _interpolated(pd, sampled[k], CHECK) for k in exact}),
            ("continued, cubic interp. of curve points", t_sampled + t_build,
             {"branch point": _interpolated(pd, sampled["branch point"], CHECK), **spline}),
            ("continued, Curve.at (solved at the beta)", t_sampled + t_build + t_at, at)]
    errs = []
    for name, t, vals in rows:
        e = {k: float(np.max(np.abs(vals[k] - exact[k]))) for k in exact}
        errs.append(e)
        print(f"{name:<44} {t:8.2f} {e['branch point']:12.2e} {e['fold']:12.2e} "
              f"{e['maxwell']:12.2e}")
    ratio = {k: errs[0][k] / max(errs[2][k], 1e-300) for k in exact}
    print(f"\nratio sampled-error / continued-error: kappa_1 {ratio['branch point']:.1e}, "
          f"fold {ratio['fold']:.1e}, Maxwell {ratio['maxwell']:.1e}; time ratio "
          f"(continued incl. Curve.at) / sampled {(t_build + t_at + t_sampled) / t_sampled:.2f}x")
    print("(the continued curves are built on the sampled diagram: it finds beta_* and the "
          "subcritical range)")
    _arclength(pd, curves["fold"])


def _arclength(pd, fold) -> None:
    """The fold curve by pseudo-arclength from beta = 8 through the tricritical turning point,
    against the beta-parametrized one and the Mun–Rosenzweig root of I_2 / I_1 = 1/2."""
    from scipy.optimize import brentq

    from meanfield.two_parameter import fold_path

    model = mf.MeanFieldModel(mf.AttentionKernel(8.0), kappa=1.0)
    t0 = time.perf_counter()
    fp = fold_path(model, _default_basis_for(model), 8.0, mirror=False)
    t_path = time.perf_counter() - t0
    star = brentq(lambda b: iv(2, b) / iv(1, b) - 0.5, 1.0, 4.0, xtol=1e-15)
    (cp,) = fp.codim2_points
    inside = (fp.beta >= fold.beta.min()) & (fp.beta <= 8.0)
    err = max(abs(k - fold.at(float(b))) for b, k in zip(fp.beta[inside], fp.kappa[inside],
                                                         strict=True))
    print(f"\nfold path by pseudo-arclength from beta = 8 through the turning point: "
          f"{t_path:.2f} s ({fp.beta.size} points); vs the beta-parametrized curve at its "
          f"points: {err:.1e}; tricritical beta_* error {abs(cp.beta - star):.1e} "
          f"(extrapolated from the beta-parametrized curve: "
          f"{abs(pd.codim2_points[0].beta - star):.1e}, curvature root: "
          f"{abs(pd.beta_star - star):.1e}); kappa_* error "
          f"{abs(cp.kappa - cp.beta / iv(1, cp.beta)):.1e}")


if __name__ == "__main__":
    main()
