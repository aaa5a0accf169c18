"""meanfield.symbolic against the numerical solvers and closed forms.

References: DESIGN.md §1 (the circle's quadratic system, thresholds beta/lambda_l);
LITERATURE.md (beta_* where I_2/I_1 = 1/2 on the circle, I_{d/2+1}/I_{d/2} = 1/d on
S^{d-1}, Mun–Rosenzweig); the Kuramoto expansion r^2 ~ 8 (kappa - 2)/kappa^3.
"""

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

import meanfield as mf
from meanfield import symbolic as S
from meanfield.continuation import first_bifurcation
from meanfield.stationary import _System

mp.mp.dps = 30


@pytest.fixture(scope="module")
def beta3_state():
    b = mf.CircleBasis(13)
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    return model, b, mf.stationary_state(model, b, mf.initial.von_mises(b, 6.0))


def test_generated_system_vanishes_at_numerical_states(beta3_state):
    model, b, st = beta3_state
    fs = S.fourier_system(mf.AttentionKernel(3.0), b.max_degree, dim=2)
    res, jac = fs.lambdify()
    x = st.coeffs[1:].real
    assert np.max(np.abs(res(x, 1.0))) < 1e-14
    # the solver's Jacobian (exact batched linearization, pseudo-spectral) vs sympy's
    sys_ = _System(model, b, b.subspace_mask(True, 1))
    assert np.max(np.abs(jac(x, 1.0) - sys_.jacobian(x))) < 1e-12


def test_full_and_periodic_systems():
    b = mf.CircleBasis(9)
    m1 = mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=2.2)  # a mild cluster, 9 modes
    st = mf.stationary_state(m1, b, mf.initial.von_mises(b, 2.0, mean=0.4), symmetric=False)
    assert st.amplitude(1) > 0.3 and abs(st.coeffs[1].imag) > 0.1  # genuinely not even
    fs = S.fourier_system(mf.AttentionKernel(1.0), 8, subspace="full")
    res, _ = fs.lambdify()
    x = np.concatenate([st.coeffs[1:].real, st.coeffs[1:].imag])
    # Newton stopped at a max-norm residual below 1e-12; the two residuals agree to round-off
    numeric = _System(m1, b, b.subspace_mask(False, 1)).residual(x)
    assert np.max(np.abs(res(x, 2.2))) < 1e-12
    assert np.max(np.abs(res(x, 2.2) - numeric)) < 1e-14
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    # a 2-cluster state in the 2-periodic subspace
    m2 = model.replace(kappa=1.6)  # beyond kappa_2 = 1.336 (supercritical 2-cluster branch)
    b2 = mf.CircleBasis(17)
    st2 = mf.stationary_state(m2, b2, lambda th: np.exp(1.5 * np.cos(2 * th)), period=2)
    assert st2.amplitude(2) > 0.05 and st2.amplitude(1) < 1e-14
    fs2 = S.fourier_system(mf.AttentionKernel(3.0), 16, subspace="k-periodic", period=2)
    res2, _ = fs2.lambdify()
    assert [u.name for u in fs2.unknowns] == [f"b_{k}" for k in range(2, 17, 2)]
    assert np.max(np.abs(res2(st2.coeffs[2::2].real, 1.6))) < 1e-14


def test_symbolic_switch_in_newton(beta3_state):
    model, b, st = beta3_state
    sy = mf.stationary_state(model, b, mf.initial.von_mises(b, 6.0), symbolic=True)
    assert np.max(np.abs(sy.coeffs - st.coeffs)) < 1e-13


def test_thresholds():
    thr = S.thresholds("attention", 3, dim=2)
    for l, k in enumerate(thr, start=1):
        assert sp.simplify(k - S.beta / sp.besseli(l, S.beta)) == 0
    # d = 3, beta = 1: kappa_1 = e (LITERATURE.md), at 30 digits
    k1 = S.thresholds("attention", 1, dim=3)[0]
    assert abs(sp.N(k1.subs(S.beta, 1), 30) - sp.E.evalf(30)) < 1e-28
    # against mpmath: beta / (Gamma(d/2) (2/beta)^(d/2-1) I_{l+d/2-1}(beta)), d = 5
    k2 = sp.N(S.thresholds("attention", 2, dim=5)[1].subs(S.beta, sp.Rational(5, 2)), 30)
    ref = mp.mpf(2.5) / (mp.gamma(2.5) * (2 / mp.mpf(2.5)) ** 1.5 * mp.besseli(3.5, 2.5))
    assert abs(k2 - ref) < 1e-25
    assert S.dispersion_relation("attention", 1)[0] == S.beta * 0 + (
        sp.besseli(1, S.beta) / S.beta - 1 / S.kappa)


def test_cubic_coefficient_changes_sign_at_beta_star():
    nf = S.normal_form("attention", mode=1, dim=2)
    c = sp.lambdify(S.beta, nf.c, "mpmath")
    root = mp.findroot(c, (mp.mpf("2.3"), mp.mpf("2.6")), solver="anderson")
    ref = mp.findroot(lambda b: mp.besseli(2, b) / mp.besseli(1, b) - mp.mpf(1) / 2,
                      (mp.mpf("2.3"), mp.mpf("2.6")), solver="anderson")
    assert abs(root - ref) < 1e-12
    assert abs(ref - mp.mpf("2.4469183")) < 1e-7  # beta_* of LITERATURE.md
    assert nf.kind(beta=2.3) == "supercritical" and nf.kind(beta=2.6) == "subcritical"


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0, 3.0])
def test_cubic_coefficient_matches_the_continued_branch(beta):
    # the numerical curvature: Richardson on amplitude solves (continuation.first_bifurcation)
    c_num = first_bifurcation(mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=1.0)).curvature
    c_sym = float(S.normal_form(mf.AttentionKernel(beta), mode=1).c)
    assert abs(c_num - c_sym) < 1e-4 * max(1.0, abs(c_sym))


@pytest.mark.parametrize("d", [3, 4, 8])
def test_zonal_sign_change_at_one_over_d(d):
    c = sp.lambdify(S.beta, S.normal_form("attention", mode=1, dim=d).c, "mpmath")
    root = mp.findroot(c, 1.8)
    ref = mp.findroot(lambda b: mp.besseli(d / 2 + 1, b) / mp.besseli(d / 2, b) - mp.mpf(1) / d,
                      1.8)
    assert abs(root - ref) < 1e-12


def test_kuramoto_expansion():
    nf = S.normal_form("kuramoto", mode=1, dim=2)
    assert nf.c == sp.Rational(1, 2) and nf.kappa_m == 2 and nf.c1 == 0
    # kappa = 2 (1 + a^2/2): a^2 = kappa - 2, the leading order of 8 (kappa - 2)/kappa^3
    k = S.kappa
    assert sp.limit((8 * (k - 2) / k**3) / ((k - nf.kappa_m) / (nf.kappa_m * nf.c)), k, 2) == 1
    # on S^{d-1} (Frouvelle–Liu): r = I_{d/2}(kappa r)/I_{d/2-1}(kappa r) ~ x/d - x^3/(d^2 (d+2))
    # with x = kappa r gives kappa = d (1 + d r^2/(d+2)): c = d/(d+2)
    for d in (2, 3, 4, 7):
        assert S.normal_form("kuramoto", mode=1, dim=d).c == sp.Rational(d, d + 2)


def test_transcritical_degenerate_and_bad_input():
    # S^2, mode 2: P_2^2 contains P_2, a quadratic term: transcritical
    nf = S.normal_form("attention", mode=2, dim=3)
    assert nf.c1 != 0 and nf.kind(beta=1.0) == "transcritical"
    # a generic kernel with g_2 = g_1: modes 1 and 2 critical at once
    gen = S.normal_form("generic", mode=1)
    assert gen.kind(W_1=0.3, W_2=0.3) == "degenerate"
    assert gen.kind(W_1=0.3, W_2=0.1) == "supercritical"
    assert len(gen.resonances()) == 1
    with pytest.raises(ValueError, match="cannot expand"):
        S.kernel_coefficients(lambda x: sp.Abs(x), 3)
    with pytest.raises(ValueError, match="below the period"):
        S.fourier_system("attention", 1, subspace="k-periodic", period=2)
    with pytest.raises(ValueError, match="never destabilizes"):
        S.normal_form("kuramoto", mode=2)
    with pytest.raises(ValueError, match="dim must be an integer >= 2"):
        S.normal_form("attention", mode=1, dim=1)
    # a polynomial zonal kernel is expanded exactly: t^2 = 1/d + (1 - 1/d) P_2
    assert S.kernel_coefficients(lambda x: x**2, 2, dim=3) == [sp.Rational(1, 3), 0,
                                                                   sp.Rational(2, 3)]
