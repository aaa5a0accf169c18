"""Two-parameter continuation (meanfield/two_parameter.py) against independent references.

- fold points: the fold that bifurcation_diagram locates at fixed beta (arclength
  continuation and Brent on dkappa/ds, an independent path), to 1e-9;
- the curve's at(beta) between computed points (the fold equation solved there), to 1e-9;
- the branch-point curve: beta / I_1(beta) (DESIGN §1), to 1e-12;
- beta_* extrapolated from the fold curve (amplitude -> 0) against the curvature-based
  tricritical point of phase_diagram (the sign change of c in kappa = kappa_1 (1 + c a^2)),
  to 1e-6: two independent computations of the same codimension-two point.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import iv

import meanfield as mf
from meanfield.two_parameter import branch_point_curve, fold_curve

MODEL = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
BASIS = mf.CircleBasis(32)


def _diagram_fold(beta):
    m = MODEL.replace(kernel=mf.AttentionKernel(beta))
    k1 = beta / iv(1, beta)
    return mf.bifurcation_diagram(m, BASIS, "kappa", (0.5 * k1, 1.2 * k1), modes=(1,)).folds[0]


def test_fold_curve_points_are_the_diagram_folds():
    betas = np.array([3.5, 3.2, 3.0, 2.8])
    fc = fold_curve(MODEL, BASIS, betas)
    for b, k, a in zip(fc.beta, fc.kappa, fc.amplitude, strict=True):
        f = _diagram_fold(b)
        assert abs(k - f.param) < 1e-9
        assert abs(a - f.amplitude) < 1e-6
    assert np.all(fc.kappa < betas / iv(1, betas))  # the fold lies below kappa_1
    assert abs(fc.at(2.9) - _diagram_fold(2.9).param) < 1e-9  # solved there, not interpolated


def test_branch_point_curve_is_the_closed_form():
    betas = np.array([0.5, 2.0, 4.0])
    bp = branch_point_curve(MODEL, BASIS, betas)
    assert np.allclose(bp.kappa, betas / iv(1, betas), rtol=1e-12)


def test_phase_diagram_exposes_the_curves_and_the_tricritical_point():
    pd = mf.phase_diagram([2.0, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the curve is followed to within 1e-3 of beta_*
        fc = pd.fold_curve
    assert fc.beta[0] == 3.0 and fc.amplitude[-1] < 0.03
    (cp,) = pd.codim2_points
    assert cp.kind == "tricritical"
    assert abs(cp.beta - pd.beta_star) < 1e-6
    assert abs(cp.beta - _closed_form_beta_star(2)) < 1e-8  # closed form: 2.4469183113
    assert abs(cp.kappa - cp.beta / iv(1, cp.beta)) < 1e-12
    assert np.allclose(pd.branch_point_curve.kappa, pd.kappa_1, rtol=1e-12)


def test_fold_curve_refuses_a_start_without_fold():
    with pytest.raises(ValueError, match="no fold"):
        fold_curve(MODEL, BASIS, [2.0])  # supercritical: no fold


def test_maxwell_curve_is_the_first_order_transition_of_the_diagrams():
    # reference: kappa_c located by bifurcation_diagram (Brent on F_branch - F_uniform along
    # the arclength) at fixed beta
    from meanfield.two_parameter import maxwell_curve

    mc = maxwell_curve(MODEL, BASIS, [3.2, 3.1, 3.0, 2.9, 2.8])
    for b, k in zip(mc.beta[[0, 2, 4]], mc.kappa[[0, 2, 4]], strict=True):
        m = MODEL.replace(kernel=mf.AttentionKernel(b))
        k1 = b / iv(1, b)
        d = mf.bifurcation_diagram(m, BASIS, "kappa", (0.5 * k1, 1.2 * k1), modes=(1,))
        assert abs(k - d.first_order_transitions[0].param) < 1e-9
    folds = fold_curve(MODEL, BASIS, mc.beta)
    assert np.all(folds.kappa < mc.kappa) and np.all(mc.kappa < mc.beta / iv(1, mc.beta))


def _closed_form_beta_star(d: int) -> float:
    """The root of the normal-form coefficient c(beta) (meanfield.symbolic, sympy's closed
    form in Bessel functions), by mpmath at 30 digits."""
    import mpmath as mp
    import sympy as sp

    from meanfield import symbolic

    nf = symbolic.normal_form("attention", mode=1, dim=d)
    (beta,) = nf.c.free_symbols
    with mp.workdps(30):
        return float(mp.findroot(sp.lambdify(beta, nf.c, "mpmath"), 2.0))


def test_the_tricritical_point_in_dimension_d_from_the_continued_fold_curve():
    """Issue 14: beta_*^{(d)} from two-parameter continuation (zonal basis for d > 2, the
    default of phase_diagram) against the closed form, to 1e-8 (d = 2 is above)."""
    from meanfield.two_parameter import tricritical_curve

    tc = tricritical_curve([3, 4])
    for d, b, k in zip(tc.dim, tc.beta, tc.kappa, strict=True):
        assert abs(b - _closed_form_beta_star(int(d))) < 1e-8
        g1 = mf.AttentionKernel(b).coefficients(1, int(d))[1]
        assert abs(k * g1 - 1.0) < 1e-10  # on the branch-point curve kappa_1 = 1/g_1
    assert tc.beta[0] > tc.beta[1]  # beta_* decreases with d (2.447, 1.816, 1.575)
    ax = tc.plot()
    assert len(ax.get_lines()[0].get_xdata()) == 2
