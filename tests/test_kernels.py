"""Tests of meanfield.kernels: Bessel functions, Funk–Hecke coefficients, thresholds."""

import math

import mpmath as mp
import numpy as np
import pytest

from meanfield.kernels import (
    AttentionKernel,
    KuramotoKernel,
    ZonalKernel,
    log_bessel_i,
)

mp.mp.dps = 30


def _lambda_ref(beta, d, l):
    # Reference: lambda_l(beta, d) = Γ(d/2) (2/beta)^{d/2-1} I_{l+d/2-1}(beta) (DESIGN.md §1,
    # LITERATURE.md), evaluated by mpmath at 30 digits, with lambda_l(-b) = (-1)^l lambda_l(b).
    b = mp.mpf(abs(beta))
    h = mp.mpf(d) / 2
    v = mp.gamma(h) * (2 / b) ** (h - 1) * mp.besseli(l + h - 1, b)
    return -v if (beta < 0 and l % 2) else v


@pytest.mark.parametrize("d", [2, 3, 4, 10])
@pytest.mark.parametrize("beta", [-7.0, -0.5, 1e-8, 0.3, 1.0, 3.0, 25.0, 300.0])
def test_funk_hecke_vs_mpmath(beta, d):
    k = AttentionKernel(beta)
    ls = np.arange(21)
    lam = k.funk_hecke(ls, d)
    g = k.coefficients(20, d)
    ref = np.array([float(_lambda_ref(beta, d, l)) for l in ls])
    np.testing.assert_allclose(lam, ref, rtol=1e-13, atol=0)
    # g_l = lambda_l / beta (l >= 1), same reference
    np.testing.assert_allclose(g[1:], ref[1:] / beta, rtol=1e-13, atol=0)
    # g_0 = (lambda_0 - 1)/beta; reference at 60 digits (lambda_0 - 1 cancels for small beta)
    with mp.workdps(60):
        g0 = float((_lambda_ref(beta, d, 0) - 1) / mp.mpf(beta))
    assert g[0] == pytest.approx(g0, rel=1e-13)
    # scalar input gives a float
    assert isinstance(k.funk_hecke(3, d), float)


def test_funk_hecke_scaled_large_beta():
    # Reference: mpmath log of lambda_l exp(-|beta|) (no float overflow in mpmath).
    for beta in (5000.0, -5000.0):
        k = AttentionKernel(beta)
        # d = 1024 also finite, but there lambda_l e^{-5000} ~ e^{-1322} underflows to 0
        assert np.all(np.isfinite(k.funk_hecke_scaled(np.arange(11), 1024)))
        for d in (2, 3, 10, 101):
            s = k.funk_hecke_scaled(np.arange(11), d)
            assert np.all(np.isfinite(s))
            for l in range(11):
                ref = _lambda_ref(beta, d, l) * mp.exp(-abs(beta))
                assert np.sign(s[l]) == np.sign(float(ref))
                assert math.log(abs(s[l])) == pytest.approx(float(mp.log(abs(ref))), abs=2e-13)
        with pytest.raises(OverflowError, match="funk_hecke_scaled"):
            k.funk_hecke(1)


@pytest.mark.parametrize("nu", [0.0, 0.5, 3.0, 100.5, 511.0])
@pytest.mark.parametrize("x", [1e-3, 1.0, 50.0, 1e4])
def test_log_bessel_i_vs_mpmath(nu, x):
    # Reference: mpmath log(besseli) at 30 digits. Tolerance: a few ulps of the log value.
    ref = float(mp.log(mp.besseli(nu, x)))
    assert log_bessel_i(nu, x) == pytest.approx(ref, rel=4e-16, abs=2e-15)


def test_log_bessel_i_edges_and_broadcast():
    assert log_bessel_i(0.0, 0.0) == 0.0
    assert log_bessel_i(2.0, 0.0) == -np.inf
    out = log_bessel_i(np.array([[0.0], [300.0]]), np.array([1.0, 1e4]))
    assert out.shape == (2, 2)
    assert np.all(np.isfinite(out))
    with pytest.raises(ValueError, match="nu"):
        log_bessel_i(-1.0, 1.0)
    with pytest.raises(ValueError, match="x"):
        log_bessel_i(1.0, -1.0)


def test_large_dimension_no_overflow():
    # Reference: mpmath (as above). d up to 1024, lmax a few hundred: finite, accurate.
    for beta in (0.7, -40.0, 300.0):
        k = AttentionKernel(beta)
        g = k.coefficients(300, 1024)
        s = k.funk_hecke_scaled(np.arange(301), 1024)
        num, den = k.sa_coefficients(300, 1024)
        for arr in (g, s, num, den):
            assert np.all(np.isfinite(arr))
        for l in (1, 2, 50):
            ref = float(_lambda_ref(beta, 1024, l) / mp.mpf(beta))
            assert g[l] == pytest.approx(ref, rel=1e-12)


def test_threshold_d3_beta1_is_e():
    # LITERATURE.md: d = 3, beta = 1 gives kappa_1 = e exactly.
    assert AttentionKernel(1.0).threshold(1, dim=3) == pytest.approx(math.e, rel=1e-14)


@pytest.mark.parametrize("d", [2, 3, 7])
def test_threshold_beta0(d):
    # DESIGN.md §1: kappa_1(0) = d; other modes never unstable.
    assert AttentionKernel(0.0).threshold(1, dim=d) == d
    assert KuramotoKernel().threshold(1, dim=d) == pytest.approx(d, rel=1e-15)
    kap = AttentionKernel(0.0).threshold(np.array([0, 2, 3]), dim=d)
    assert np.all(np.isinf(kap))


def test_threshold_circle_closed_form_and_negative_beta():
    # Circle: kappa_k = beta / I_k(beta) (DESIGN.md §1); reference mpmath.
    k = AttentionKernel(2.5)
    kap = k.threshold(np.arange(1, 6))
    ref = [float(mp.mpf(2.5) / mp.besseli(j, 2.5)) for j in range(1, 6)]
    np.testing.assert_allclose(kap, ref, rtol=1e-14)
    # beta < 0: g_l = (-1)^{l-1} lambda_l(|beta|)/|beta|: even modes never unstable
    kn = AttentionKernel(-2.5).threshold(np.arange(1, 6))
    assert np.all(np.isinf(kn[1::2]))
    np.testing.assert_allclose(kn[0::2], np.array(ref)[0::2], rtol=1e-14)
    # huge beta: threshold stays finite (log domain) even though g_l overflows
    assert 0.0 <= AttentionKernel(2000.0).threshold(1) < 1e-300


def test_kuramoto_limit():
    # beta -> 0: g = (0, 1/d, 0, ...) with corrections O(beta).
    for d in (2, 3, 10):
        ga = AttentionKernel(1e-9).coefficients(8, d)
        gk = KuramotoKernel().coefficients(8, d)
        np.testing.assert_allclose(ga, gk, rtol=0, atol=1e-9)
        np.testing.assert_array_equal(AttentionKernel(0.0).coefficients(8, d), gk)
        assert ga[0] == pytest.approx(1e-9 / (2 * d), rel=1e-12)  # g_0 ≈ beta/(2d)
    t = np.linspace(-1, 1, 7)
    np.testing.assert_array_equal(KuramotoKernel().potential(t), t)
    np.testing.assert_array_equal(AttentionKernel(0.0).potential(t), t)


def test_potential_expm1():
    # potential = (exp(beta t) - 1)/beta without cancellation for small beta t.
    t = np.array([-1.0, 1e-12, 0.5, 1.0])
    beta = 1e-6
    ref = [float(mp.expm1(mp.mpf(beta) * mp.mpf(x)) / mp.mpf(beta)) for x in t]
    np.testing.assert_allclose(AttentionKernel(beta).potential(t), ref, rtol=1e-15)


@pytest.mark.parametrize("d", [2, 3, 5])
@pytest.mark.parametrize("beta", [-2.0, 0.5, 3.0])
def test_attention_vs_zonal_quadrature(beta, d):
    # Second method: quadrature of G_beta(t) P_l(t) against c_d (1-t^2)^{(d-3)/2} dt.
    zk = ZonalKernel(lambda t: np.expm1(beta * t) / beta)
    gz = zk.coefficients(30, d)
    ga = AttentionKernel(beta).coefficients(30, d)
    np.testing.assert_allclose(gz, ga, rtol=0, atol=1e-13 * np.max(np.abs(ga)))


def test_attention_vs_fft_circle():
    # Third method (d = 2): g_k = (1/2π) ∫ G(cos t) e^{-ikt} dt by the trapezoid rule / FFT,
    # spectrally accurate for the periodic analytic integrand.
    beta, n = 4.0, 256
    t = 2 * np.pi * np.arange(n) / n
    gk = np.fft.fft(np.expm1(beta * np.cos(t)) / beta).real / n
    ga = AttentionKernel(beta).coefficients(40, 2)
    np.testing.assert_allclose(gk[:41], ga, rtol=0, atol=1e-14 * np.max(np.abs(ga)))


def test_zonal_exact_polynomials():
    # Closed form: t^2 = 1/d + (1 - 1/d) P_2^{(d)}(t) (P_2^{(d)} = (d t^2 - 1)/(d - 1)), and
    # c_d ∫ P_l^2 (1-t^2)^{(d-3)/2} dt = 1/N(d, l), N(d, 1) = d, N(d, 2) = (d + 2)(d - 1)/2,
    # so g = (1/d, 0, 2/(d(d+2)), 0, ...) for t^2 and (0, 1/d, 0, ...) for t.
    for d in (2, 3, 4, 9, 1024):
        g = ZonalKernel(lambda t: t**2).coefficients(4, d)
        # tolerance: round-off of the quadrature sums, ~ eps * max|W| (= 1 here)
        np.testing.assert_allclose(g, [1 / d, 0, 2 / (d * (d + 2)), 0, 0], rtol=0, atol=1e-15)
        gt = ZonalKernel(lambda t: t).coefficients(3, d)
        np.testing.assert_allclose(gt, [0, 1 / d, 0, 0], atol=1e-15)


def test_zonal_coefficients_roundtrip():
    beta, d = 1.5, 3
    g = ZonalKernel(lambda t: np.exp(beta * t)).coefficients(40, d)
    zc = ZonalKernel(coefficients=g, dim=d)
    np.testing.assert_array_equal(zc.coefficients(40, d), g)
    np.testing.assert_array_equal(zc.coefficients(50)[41:], 0.0)  # zero padding
    np.testing.assert_array_equal(zc.coefficients(10), g[:11])
    # potential from coefficients (addition theorem) reproduces W = exp(beta t)
    t = np.linspace(-1, 1, 11)
    np.testing.assert_allclose(zc.potential(t), np.exp(beta * t), rtol=1e-13)
    # and re-expanding that potential returns the coefficients
    g2 = ZonalKernel(zc.potential).coefficients(40, d)
    np.testing.assert_allclose(g2, g, rtol=0, atol=1e-14 * np.max(np.abs(g)))
    assert "ZonalKernel" in repr(zc)


def test_sa_coefficients():
    # den = lambda_l e^{-|beta|}, num_l = den_l / beta (l >= 1), num_0 = 0.
    k = AttentionKernel(3.0)
    num, den = k.sa_coefficients(10, 3)
    lam = k.funk_hecke(np.arange(11), 3)
    np.testing.assert_allclose(den, lam * np.exp(-3.0), rtol=1e-15)
    np.testing.assert_allclose(num[1:], lam[1:] * np.exp(-3.0) / 3.0, rtol=1e-15)
    assert num[0] == 0.0
    num0, den0 = AttentionKernel(0.0).sa_coefficients(4, 5)
    np.testing.assert_array_equal(den0, [1, 0, 0, 0, 0])
    np.testing.assert_array_equal(num0, [0, 0.2, 0, 0, 0])
    numb, denb = AttentionKernel(1000.0).sa_coefficients(10)
    assert np.all(np.isfinite(numb)) and np.all(np.isfinite(denb))
    assert np.all(denb > 0) and denb[0] <= 1.0


def test_fourier():
    # exp(beta cos t) = Σ_k I_k(beta) e^{ikt}; I_{-k} = I_k; reference mpmath.
    k = AttentionKernel(-1.3)
    vals = k.fourier(np.array([-2, -1, 0, 1, 2]))
    ref = [float(mp.besseli(abs(j), -1.3)) for j in (-2, -1, 0, 1, 2)]
    np.testing.assert_allclose(vals, ref, rtol=1e-14)


def test_errors():
    with pytest.raises(ValueError, match="beta"):
        AttentionKernel(float("nan"))
    with pytest.raises(ValueError, match="beta"):
        AttentionKernel(float("inf"))
    with pytest.raises(TypeError, match="beta"):
        AttentionKernel(1 + 2j)
    with pytest.raises(TypeError, match="beta"):
        AttentionKernel("3")
    k = AttentionKernel(1.0)
    with pytest.raises(ValueError, match=r"lmax must be an integer >= 0"):
        k.coefficients(-1)
    with pytest.raises(ValueError, match=r"lmax must be an integer >= 0"):
        k.coefficients(2.5)
    with pytest.raises(ValueError, match=r"dim must be an integer >= 2"):
        k.coefficients(3, dim=1)
    with pytest.raises(ValueError, match=r"dim must be an integer >= 2"):
        KuramotoKernel().coefficients(3, dim=2.0)
    with pytest.raises(ValueError, match=r"l must be integer"):
        k.funk_hecke(-1)
    with pytest.raises(OverflowError, match=r"exp\(\|beta\|\)/\|beta\|.*softmax"):
        AttentionKernel(1000.0).coefficients(10)
    with pytest.raises(OverflowError, match="softmax"):
        AttentionKernel(-1000.0).coefficients(10, 3)
    zc = ZonalKernel(coefficients=[0.0, 0.5], dim=3)
    with pytest.raises(ValueError, match=r"dim=3.*dim=2"):
        zc.coefficients(3, dim=2)
    with pytest.raises(ValueError, match="dim is required"):
        ZonalKernel(coefficients=[0.0, 0.5])
    with pytest.raises(ValueError, match="exactly one"):
        ZonalKernel()
    with pytest.raises(ValueError, match="finite"):
        ZonalKernel(coefficients=[0.0, np.nan], dim=2)
    with pytest.raises(ValueError, match="non-finite"):
        ZonalKernel(lambda t: np.where(t > 0.5, np.nan, t)).coefficients(4)
    with pytest.raises(ValueError, match=r"lmax must be an integer >= 0"):
        ZonalKernel(np.cos).coefficients(-2)


def test_zonal_nonsmooth_warns():
    # |t| has a kink: the quadrature cannot reach 1e-14 and says so.
    zk = ZonalKernel(np.abs)
    zk.max_nodes = 2**10
    with pytest.warns(RuntimeWarning, match="not converged"):
        g = zk.coefficients(4, 3)
    # g_0 = c_3 ∫ |t| dt = 1/2 (d = 3); the quadrature error is O(n^-2) with 2^10 nodes
    assert g[0] == pytest.approx(0.5, abs=1e-5)
