"""Tests of meanfield.causal: the closed-form retrieval profile of causal ALiBi attention.

References used here (see the module docstring of meanfield/causal.py):
- Duerinckx, Geshkovski, Rossi, arXiv 2605.09213, through the authors' public code
  (github.com/borjanG/2026-lost-in-the-middle, generate_u_shape_numerology_data.py: a_n,
  omega_{n,M}, g_{a_n}(t,1;s), t_crit; generate_alibi_particle_circle_dynamics.py: the
  ALiBi weight matrix) and the paper's profile figure in that repository (img/2.jpg).
- Independent numerics written here: a Chebyshev/Gauss-Legendre Nystrom discretization of
  the linearized causal equation in the position s with the exact matrix exponential in t,
  the N-token linear system with the paper's discrete ALiBi matrix, mpmath's 0F1 and
  Bessel functions, scipy quadrature.
"""

import math

import mpmath as mp
import numpy as np
import pytest
import scipy.linalg as sl
from scipy.integrate import quad
from scipy.special import iv

from meanfield import causal

PAPER = dict(lam=1.0, M=8.0, n_max=20)  # the parameters of the paper's figures (code's main())


# ----------------------------------------------------------------------------------------
# independent references
# ----------------------------------------------------------------------------------------
def _w_ref(s, sigma, lam):
    # ALiBi density from its definition: e^{-lam (s - sigma)} normalized on [0, s]
    s, sigma = np.broadcast_arrays(np.asarray(s, float), np.asarray(sigma, float))
    if lam == 0:
        return np.where(sigma <= s, 1.0 / s, 0.0)
    return np.where(sigma <= s, lam * np.exp(-lam * (s - sigma)) / -np.expm1(-lam * s), 0.0)


def _alibi_matrix(n, lam):
    # The paper code's causal weights: strictly lower triangular, rows normalized,
    # W_ij proportional to exp(-lam (i - j)/n); row 0 (the first token) is zero.
    i = np.arange(n)[:, None]
    j = np.arange(n)[None, :]
    e = np.where(j < i, np.exp(-(lam / n) * (i - j)), 0.0)
    rows = e.sum(axis=1, keepdims=True)
    rows[0] = 1.0
    return e / rows


def _cheb_lobatto(m, a, b):
    x = np.cos(np.pi * np.arange(m) / (m - 1))[::-1]
    return a + (b - a) * (x + 1) / 2


def _bary_matrix(nodes, x):
    bw = (-1.0) ** np.arange(nodes.size)
    bw[0] *= 0.5
    bw[-1] *= 0.5
    d = x[:, None] - nodes[None, :]
    hit = d == 0
    d[hit] = 1.0
    m = bw / d
    m /= m.sum(axis=1, keepdims=True)
    r, c = np.nonzero(hit)
    m[r] = 0.0
    m[r, c] = 1.0
    return m


def _volterra_response(c, sigma, lam, m):
    """Solve d_t h = c (W h + w(., sigma)), h(0) = 0 on [sigma, 1], at time 1 (so rate*time = c).

    h(t, s) is the regular part of exp(t c W) applied to a Dirac at sigma: the linearized
    causal equation of one Fourier mode. Nystrom in s (Chebyshev-Lobatto nodes, each Volterra
    integral over [sigma, s_i] by m-point Gauss-Legendre with barycentric interpolation),
    exact exponential in t of the augmented linear system.
    """
    s = _cheb_lobatto(m, sigma, 1.0)
    xg, wg = np.polynomial.legendre.leggauss(m)
    A = np.zeros((m, m))
    for i, si in enumerate(s[1:], start=1):
        r = sigma + (si - sigma) * (xg + 1) / 2
        A[i] = (wg * (si - sigma) / 2 * _w_ref(si, r, lam)) @ _bary_matrix(s, r)
    Z = np.zeros((m + 1, m + 1))
    Z[:m, :m] = c * A
    Z[:m, m] = c * _w_ref(s, sigma, lam)
    return s, sl.expm(Z)[:m, m]


def _profile_mp(s, t_paper, beta, lam, M, n_max):
    # The profile from its series definition in mpmath (30 digits), paper units:
    # sum_n omega_n w(1,s) sum_k c^{k+1} Y^k/(k!(k+1)!), c = n^2 I_n(beta) t.
    with mp.workdps(30):
        s, lam, beta, t_paper = mp.mpf(s), mp.mpf(lam), mp.mpf(beta), mp.mpf(t_paper)
        if lam == 0:
            w, y = mp.mpf(1), mp.log(1 / s)
        else:
            w = lam * mp.exp(lam * s) / mp.expm1(lam)
            y = mp.log(mp.expm1(lam) / mp.expm1(lam * s))
        total = mp.mpf(0)
        for n in range(1, n_max + 1):
            c = n**2 * mp.besseli(n, beta) * t_paper
            omega = mp.exp(-(mp.pi * n / M) ** 2 / 2)
            total += omega * w * c * mp.hyp0f1(2, c * y)
        return float(total)


# ----------------------------------------------------------------------------------------
# building blocks
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("lam", [0.0, 1e-9, 0.5, 3.0, 40.0])
def test_alibi_kernel_is_a_density_and_matches_definition(lam):
    for s in (0.05, 0.4, 1.0):
        mass = quad(lambda x, s=s: causal.alibi_kernel(s, x, lam), 0.0, s, epsabs=0,
                    epsrel=1e-13, points=[s * (1 - 1 / max(lam, 1))])[0]
        assert mass == pytest.approx(1.0, rel=1e-11)
    x = np.linspace(0, 1, 11)
    np.testing.assert_allclose(causal.alibi_kernel(0.7, x, lam), _w_ref(0.7, x, lam),
                               rtol=1e-13, atol=0)


def test_alibi_kernel_is_limit_of_paper_weights():
    # N W_ij -> w(i/N, j/N): a Riemann sum of a smooth density, error O(1/N)
    lam = 1.5
    errs = []
    for n in (100, 200, 400):
        W = _alibi_matrix(n, lam)
        i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        mask = (j < i) & (i >= n // 4)
        errs.append(np.max(np.abs(n * W[mask] - causal.alibi_kernel(i[mask] / n, j[mask] / n,
                                                                      lam))))
    assert errs[0] / errs[1] == pytest.approx(2.0, rel=0.1)
    assert errs[1] / errs[2] == pytest.approx(2.0, rel=0.1)


@pytest.mark.parametrize("lam", [0.0, 0.7, 6.0])
def test_two_fold_causal_average_is_w_times_log_ratio(lam):
    # (W^2)(s, sigma) = int_sigma^s w(s, r) w(r, sigma) dr = w(s, sigma) Y(s, sigma): the
    # Hardy-average structure behind the closed form
    for s, sig in ((1.0, 0.1), (0.8, 0.5), (0.3, 0.29)):
        num = quad(lambda r, s=s, sig=sig: _w_ref(s, r, lam) * _w_ref(r, sig, lam), sig, s,
                   epsabs=0, epsrel=1e-13)[0]
        exact = causal.alibi_kernel(s, sig, lam) * causal.causal_log_ratio(s, sig, lam)
        assert num == pytest.approx(exact, rel=1e-11)


@pytest.mark.parametrize("c", [-40.0, -3.0, -0.2, 1e-6, 0.9, 2.5, 30.0, 400.0])
def test_propagator_series_against_mpmath(c):
    # G_c(1, sigma) = w(1, sigma) c 0F1(;2; c Y): scipy Bessel / power-series branches
    # against mpmath at 30 digits (lam = 0: w = 1, Y = log(1/sigma))
    sig = np.array([0.01, 0.1, 0.3, 0.6, 0.9, 0.999, 1.0])
    got = causal.causal_propagator(c, 1.0, sig, 0.0)
    with mp.workdps(30):
        ref = np.array([float(c * mp.hyp0f1(2, c * mp.log(1 / mp.mpf(x)))) for x in sig])
    scale = np.maximum(np.abs(ref), 1e-300)
    if c < 0:  # oscillatory (J_1): compare against the envelope, not near the zeros
        scale = np.maximum(scale, abs(c) * (abs(c) * np.log(1 / sig) + 1) ** -0.75)
    assert np.max(np.abs(got - ref) / scale) < 5e-14


@pytest.mark.parametrize("lam", [0.0, 1.0, 5.0])
@pytest.mark.parametrize("sigma", [0.1, 0.5])
@pytest.mark.parametrize("c", [3.0, -2.0])
def test_propagator_solves_linearized_causal_equation(lam, sigma, c):
    # The closed form against a direct numerical solution of the linearized causal
    # (correlation) equation of one mode, d_t h = a (W h + w(., sigma)): spectral convergence
    # in the number m of nodes (h is analytic on [sigma, 1]) down to round-off.
    errs = []
    for m in (8, 16, 48):
        s, h = _volterra_response(c, sigma, lam, m)
        exact = causal.causal_propagator(c, s, sigma, lam)
        errs.append(np.max(np.abs(h - exact)) / np.max(np.abs(exact)))
    assert errs[0] > 30 * errs[1]          # exponential decrease (observed ~1e3 and more)
    assert errs[2] < 1e-13


def test_propagator_is_limit_of_discrete_token_system():
    # N tokens with the paper's ALiBi matrix: the linear response of the last token to token
    # j is [exp(c W_N)]_{N-1, j} (the 1/N is in W_N). N times it converges to G_c(1, j/N) at
    # first order in 1/N (Riemann sums of the Volterra operator); Richardson removes it.
    c, lam = 2.0, 1.0
    sig = np.array([0.1, 0.25, 0.5, 0.75, 0.9])
    exact = causal.causal_propagator(c, 1.0, sig, lam)
    g = {}
    for n in (200, 400, 800):
        P = sl.expm(c * _alibi_matrix(n, lam))
        g[n] = n * P[n - 1, np.rint(sig * n).astype(int)]
    e = {n: np.max(np.abs(g[n] - exact)) for n in g}
    assert e[200] / e[400] == pytest.approx(2.0, rel=0.05)
    assert e[400] / e[800] == pytest.approx(2.0, rel=0.05)
    assert np.max(np.abs(2 * g[800] - g[400] - exact)) < 0.05 * e[800]


def test_propagator_semigroup_and_causality():
    # exp((c1 + c2) W) = exp(c1 W) exp(c2 W): G_{c1+c2} = G_{c1} + G_{c2} + G_{c1} o G_{c2}
    lam, c1, c2 = 1.3, 0.8, 1.7
    for s, sig in ((1.0, 0.2), (0.7, 0.05)):
        conv = quad(lambda r, s=s, sig=sig: causal.causal_propagator(c1, s, r, lam)
                    * causal.causal_propagator(c2, r, sig, lam), sig, s, epsabs=0,
                    epsrel=1e-12)[0]
        lhs = causal.causal_propagator(c1 + c2, s, sig, lam)
        rhs = (causal.causal_propagator(c1, s, sig, lam)
               + causal.causal_propagator(c2, s, sig, lam) + conv)
        assert lhs == pytest.approx(rhs, rel=1e-11)
    assert causal.causal_propagator(3.0, 0.4, 0.6, lam) == 0.0   # no influence of the future


def test_mode_rates_and_weights_against_bessel():
    beta, n = 1.7, np.arange(1, 9)
    np.testing.assert_allclose(causal.mode_rates(beta, 8, units="paper"), n**2 * iv(n, beta),
                               rtol=1e-13)
    np.testing.assert_allclose(causal.mode_rates(beta, 8), n**2 * iv(n, beta) / beta,
                               rtol=1e-13)
    # negative beta (suite units): I_n(-b) = (-1)^n I_n(b)
    np.testing.assert_allclose(causal.mode_rates(-beta, 8),
                               (-1.0) ** (n + 1) * n**2 * iv(n, beta) / beta, rtol=1e-13)
    assert causal.mode_rates(np.array([[0.5, 1.0]]), 4).shape == (1, 2, 4)
    np.testing.assert_allclose(causal.gaussian_weights(3.0, 4),
                               np.exp(-(np.pi * np.arange(1, 5) / 3.0) ** 2 / 2), rtol=1e-15)
    # omega_n are the coefficients of the wrapped normal of std pi/M w.r.t. d theta / 2 pi
    M, sd = 5.0, np.pi / 5.0
    theta = np.linspace(-np.pi, np.pi, 4097)[:-1]
    wrapped = sum(np.exp(-((theta + 2 * np.pi * k) ** 2) / (2 * sd**2)) for k in range(-4, 5))
    density = wrapped / (sd * np.sqrt(2 * np.pi)) * 2 * np.pi
    coef = np.fft.fft(np.fft.ifftshift(density)).real / theta.size
    np.testing.assert_allclose(coef[1:11], causal.gaussian_weights(M, 10), atol=1e-14)


# ----------------------------------------------------------------------------------------
# the retrieval profile
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("beta,lam,t", [(1.0, 1.0, 1.2), (3.0, 0.0, 0.3), (0.4, 4.0, 7.0)])
def test_profile_against_series_definition(beta, lam, t):
    s = [0.03, 0.3, 0.77, 1.0]
    got = causal.retrieval_profile(s, t, beta, lam, 8.0, 12, units="paper")
    ref = [_profile_mp(x, t, beta, lam, 8.0, 12) for x in s]
    np.testing.assert_allclose(got, ref, rtol=1e-13)


def test_profile_reproduces_paper_figure():
    # The paper's figure (borjanG/2026-lost-in-the-middle, img/2.jpg): profile at t = 1.2 for
    # beta = lambda = 1, M = 8, n_max = 20, plotted minus its minimum on s in [0.02, 0.98];
    # read off: minimum marked at s = 0.32, left end 0.83, right end 0.40. The read-off
    # precision is about a tenth of a grid cell: 0.01 in s, 0.02 in value.
    s = np.linspace(0.02, 0.98, 800)                     # the code's grid
    S = causal.retrieval_profile(s, 1.2, 1.0, **PAPER)
    centred = S - S.min()
    assert s[np.argmin(S)] == pytest.approx(0.32, abs=0.01)
    assert centred[0] == pytest.approx(0.83, abs=0.02)
    assert centred[-1] == pytest.approx(0.40, abs=0.02)
    assert causal.retrieval_minimum(1.2, 1.0, **PAPER) == pytest.approx(0.32, abs=0.01)


def test_units_conversion():
    beta = 2.5
    s = np.linspace(0.05, 1, 7)
    a = causal.retrieval_profile(s, 0.4, beta, 1.0, 8.0, 20, units="paper")
    b = causal.retrieval_profile(s, causal.suite_time(0.4, beta), beta, 1.0, 8.0, 20)
    np.testing.assert_allclose(a, b, rtol=1e-14)
    tp = causal.t_crit(beta, 1.0, 8.0, 20, units="paper")
    ts = causal.t_crit(beta, 1.0, 8.0, 20)
    assert ts == pytest.approx(beta * tp, rel=1e-14)
    assert causal.paper_time(ts, beta) == pytest.approx(tp, rel=1e-14)
    # beta = 1: the two time scales coincide
    assert causal.t_crit(1.0, **PAPER) == causal.t_crit(1.0, **PAPER, units="paper")


def test_small_time_limit_is_recency_only():
    # S_t(s) = t S_1 w(1, s) (1 + O(t)): psi_c(y) = c (1 + c y/2 + ...), so the relative
    # deviation is at most about max_n(a_n) t Y(s) / 2 (checked with a factor 2 margin)
    beta, lam, M, n_max = 1.5, 2.0, 8.0, 20
    s = np.array([0.05, 0.3, 0.6, 1.0])
    a = causal.mode_rates(beta, n_max)
    s1 = np.sum(causal.gaussian_weights(M, n_max) * a)
    lead = s1 * causal.alibi_kernel(1.0, s, lam)
    for t in (1e-2, 1e-4):
        rel = causal.retrieval_profile(s, t, beta, lam, M, n_max) / (t * lead) - 1
        bound = a.max() * t * causal.causal_log_ratio(1.0, s, lam)
        assert np.all(np.abs(rel) <= bound + 1e-13)
    # increasing in s for small t (recency), and S_0 = 0
    S = causal.retrieval_profile(np.linspace(0.2, 1, 9), 1e-3, beta, lam, M, n_max)
    assert np.all(np.diff(S) > 0)
    assert causal.retrieval_profile(0.3, 0.0, beta, lam, M, n_max) == 0.0


def test_lambda_to_zero_limit():
    # lambda = 0 (plain causal average): w(1, s) = 1, Y = log(1/s): decreasing in s, no U
    # shape, t_crit = 0; lambda -> 0 is continuous at O(lambda) and t_crit ~ 2 lambda S1/S2
    beta, M, n_max, t = 1.0, 8.0, 20, 1.5
    s = np.linspace(0.01, 1, 200)
    S0 = causal.retrieval_profile(s, t, beta, 0.0, M, n_max)
    assert np.all(np.diff(S0) < 0)
    assert causal.t_crit(beta, 0.0, M, n_max) == 0.0
    for lam in (1e-4, 1e-6):
        S = causal.retrieval_profile(s, t, beta, lam, M, n_max)
        assert np.max(np.abs(S - S0) / S0) < 5 * lam
    a = causal.mode_rates(beta, n_max)
    w = causal.gaussian_weights(M, n_max)
    slope = 2 * np.sum(w * a) / np.sum(w * a * a)
    assert causal.t_crit(beta, 1e-6, M, n_max) / 1e-6 == pytest.approx(slope, rel=1e-6)


def test_beta_zero():
    # suite units: the Kuramoto limit, only mode 1 with rate 1/2; paper units: frozen
    lam, M, t = 1.0, 8.0, 2.0
    s = np.array([0.1, 0.5, 0.9])
    S = causal.retrieval_profile(s, t, 0.0, lam, M, 20)
    one_mode = causal.gaussian_weights(M, 1)[0] * causal.causal_propagator(t / 2, 1.0, s, lam)
    np.testing.assert_allclose(S, one_mode, rtol=1e-14)
    assert causal.t_crit(0.0, lam, M, 20) == pytest.approx(4 * (1 - math.exp(-lam)), rel=1e-14)
    # continuity in beta at 0 (suite units)
    np.testing.assert_allclose(causal.retrieval_profile(s, t, 1e-7, lam, M, 20), S, rtol=1e-6)
    assert np.all(causal.retrieval_profile(s, t, 0.0, lam, M, 20, units="paper") == 0.0)
    assert causal.t_crit(0.0, lam, M, 20, units="paper") == np.inf


def test_positivity_and_primacy():
    # beta >= 0: all rates are >= 0, so S_t > 0 for t > 0; S_t -> oo as s -> 0 (primacy),
    # slowly: like exp(2 sqrt(a_1 t log(1/s))) for lam > 0
    s = np.geomspace(1e-300, 1, 60)
    for beta in (0.0, 0.5, 3.0):
        S = causal.retrieval_profile(s, 0.7, beta, 1.0, 8.0, 20)
        assert np.all(S > 0)
        assert np.all(np.diff(S[:40]) < 0)              # decreasing away from s = 0
        assert S[0] > 1e9 * S[-1]


def test_fourier_truncation_converges():
    # the terms decay like omega_n n^2 I_n(beta) ~ e^{-pi^2 n^2/(2 M^2)} (beta/2)^n / n!:
    # faster than exponentially (the ratio between equal steps in n_max grows), to round-off
    s = np.linspace(0.05, 1, 20)
    ref = causal.retrieval_profile(s, 1.0, 2.0, 1.0, 8.0, 60)
    e = {n: np.max(np.abs(causal.retrieval_profile(s, 1.0, 2.0, 1.0, 8.0, n) / ref - 1))
         for n in (2, 4, 8, 12, 16)}
    assert e[2] > 10 * e[4]
    assert e[4] > 1e4 * e[8]
    assert e[8] > 1e6 * e[12]
    assert e[16] < 1e-15


def test_vectorized_over_s_t_beta():
    s = np.linspace(0.1, 1, 5)
    t = np.array([[0.5], [1.0], [2.0]])
    beta = np.array([[[0.5]], [[2.0]]])
    S = causal.retrieval_profile(s, t, beta, 1.0, 8.0, 10)
    assert S.shape == (2, 3, 5)
    for i, b in enumerate((0.5, 2.0)):
        for j, tt in enumerate((0.5, 1.0, 2.0)):
            for k, ss in enumerate(s):
                assert S[i, j, k] == causal.retrieval_profile(ss, tt, b, 1.0, 8.0, 10)
    assert isinstance(causal.retrieval_profile(0.5, 1.0, 1.0, 1.0, 8.0, 10), float)
    tc = causal.t_crit(np.array([0.5, 1.0, 2.0]), 1.0, 8.0, 20)
    assert tc.shape == (3,)
    assert tc[1] == causal.t_crit(1.0, 1.0, 8.0, 20)


# ----------------------------------------------------------------------------------------
# the threshold and the U shape
# ----------------------------------------------------------------------------------------
def _right_slope(t, beta, lam, M, n_max, h=1e-4):
    # one-sided 4th-order finite difference at s = 1 (error ~ h^4, far below the margins)
    s = 1.0 - h * np.arange(5)
    f = causal.retrieval_profile(s, t, beta, lam, M, n_max)
    return (25 * f[0] - 48 * f[1] + 36 * f[2] - 16 * f[3] + 3 * f[4]) / (12 * h)


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 3.0])
@pytest.mark.parametrize("lam", [0.3, 1.0, 4.0])
def test_t_crit_is_where_right_end_slope_changes_sign(beta, lam):
    M, n_max = 8.0, 20
    tc = causal.t_crit(beta, lam, M, n_max)
    assert _right_slope(0.97 * tc, beta, lam, M, n_max) > 0 > _right_slope(1.03 * tc, beta, lam,
                                                                            M, n_max)
    # root of the numerical slope by bisection agrees with the closed form
    lo, hi = 0.97 * tc, 1.03 * tc
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _right_slope(mid, beta, lam, M, n_max) > 0 else (lo, mid)
    assert 0.5 * (lo + hi) == pytest.approx(tc, rel=1e-6)


def test_right_end_curvature_at_t_crit():
    # S''(1) at t_crit = lam^2 w(1,1) t S1 (q - 2 + (2/3) S1 S3/S2^2), q = 1/(1 - e^{-lam})
    # (meanfield.causal.t_crit docstring) against a finite-difference second derivative
    beta, M, n_max = 1.0, 8.0, 20
    a = causal.mode_rates(beta, n_max)
    w = causal.gaussian_weights(M, n_max)
    s1, s2, s3 = (np.sum(w * a**k) for k in (1, 2, 3))
    h = 1e-3
    for lam in (0.5, 2.0):
        tc = causal.t_crit(beta, lam, M, n_max)
        q = 1 / (1 - math.exp(-lam))
        pred = lam**2 * causal.alibi_kernel(1.0, 1.0, lam) * tc * s1 * (q - 2 + 2 / 3 * s1 * s3
                                                                         / s2**2)
        f = causal.retrieval_profile(1.0 - h * np.arange(5), tc, beta, lam, M, n_max)
        fd = (35 * f[0] - 104 * f[1] + 114 * f[2] - 56 * f[3] + 11 * f[4]) / (12 * h**2)
        assert fd == pytest.approx(pred, rel=1e-5)


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 2.0, 4.0])
@pytest.mark.parametrize("lam", [0.25, 1.0])
def test_u_shape_below_t_crit_monotone_above(beta, lam):
    # Below t_crit: exactly one interior local minimum and both ends above it (primacy and
    # recency). Above t_crit (lam < log 4: positive right-end curvature at t_crit):
    # strictly decreasing in s.
    M, n_max = 8.0, 20
    s = np.linspace(1e-3, 1, 3001)
    tc = causal.t_crit(beta, lam, M, n_max)
    for f in (0.1, 0.5, 0.9, 0.99):
        S = causal.retrieval_profile(s, f * tc, beta, lam, M, n_max)
        d = np.diff(S)
        assert np.sum((d[:-1] < 0) & (d[1:] >= 0)) == 1
        assert S[0] > S.min() < S[-1]
    for f in (1.01, 1.1, 2.0, 5.0):
        S = causal.retrieval_profile(s, f * tc, beta, lam, M, n_max)
        assert np.all(np.diff(S) < 0)


def test_interior_maximum_just_above_t_crit_for_steep_alibi():
    # lam = 2 > log 4 at beta = 1: negative right-end curvature at t_crit, so just above
    # t_crit the end has lost recency but an interior local maximum remains (not monotone)
    beta, lam, M, n_max = 1.0, 2.0, 8.0, 20
    tc = causal.t_crit(beta, lam, M, n_max)
    s = np.linspace(0.5, 1, 5001)
    S = causal.retrieval_profile(s, 1.01 * tc, beta, lam, M, n_max)
    assert _right_slope(1.01 * tc, beta, lam, M, n_max) < 0
    assert 0.5 < s[np.argmax(S)] < 1.0


def test_retrieval_minimum():
    t = np.array([0.0, 0.5, 1.2, 2.0, 3.0])
    smin = causal.retrieval_minimum(t, 1.0, **PAPER)
    assert np.isnan(smin[0])
    assert smin[-1] == 1.0                                     # t > t_crit = 2.457...
    grid = np.linspace(1e-3, 1, 200001)
    for tt, sm in zip(t[1:4], smin[1:4], strict=True):
        S = causal.retrieval_profile(grid, tt, 1.0, **PAPER)
        assert sm == pytest.approx(grid[np.argmin(S)], abs=2e-5)
    assert np.all(np.diff(smin[1:4]) > 0)          # the minimum moves right as t grows


# ----------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    (dict(s=0.0), "s must lie in"),
    (dict(s=1.5), "s must lie in"),
    (dict(s=np.nan), "s must be finite"),
    (dict(t=-1.0), "t .* must be >= 0"),
    (dict(lam=-0.5), "lam .* >= 0"),
    (dict(lam=np.inf), "lam"),
    (dict(M=0.0), "M .* > 0"),
    (dict(n_max=0), "n_max .* >= 1"),
    (dict(n_max=2.5), "n_max .* integer"),
    (dict(units="layers"), "units must be"),
    (dict(beta=-1.0, units="paper"), "beta must be >= 0"),
    (dict(beta="big"), "beta must be real"),
])
def test_bad_input_profile(kwargs, match):
    args = dict(s=0.5, t=1.0, beta=1.0, lam=1.0, M=8.0, n_max=10)
    args.update(kwargs)
    units = args.pop("units", "suite")
    with pytest.raises(ValueError, match=match):
        causal.retrieval_profile(**args, units=units)


def test_bad_input_other():
    with pytest.raises(ValueError, match="beta must be >= 0 in t_crit"):
        causal.t_crit(-1.0, 1.0, 8.0, 20)
    with pytest.raises(ValueError, match="beta must be > 0"):
        causal.paper_time(1.0, 0.0)
    with pytest.raises(ValueError, match="sigma must not exceed s"):
        causal.causal_log_ratio(0.5, 0.7, 1.0)
    with pytest.raises(ValueError, match="sigma must lie in"):
        causal.causal_propagator(1.0, 0.5, 0.0, 1.0)
    with pytest.raises(ValueError, match="s_min"):
        causal.retrieval_minimum(1.0, 1.0, 1.0, 8.0, 20, s_min=0.0)
    with pytest.raises(OverflowError, match="overflows"):
        causal.retrieval_profile(1e-6, 1e6, 5.0, 1.0, 8.0, 20)
    # a negative beta is allowed in suite units (the linearization holds for any beta)
    assert np.isfinite(causal.retrieval_profile(0.5, 1.0, -2.0, 1.0, 8.0, 20))
