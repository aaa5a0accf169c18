"""Particle simulator (issue 7): integrators, interaction kernels, observables, guards.

Every check states its reference and derives its tolerance from the method's error or
from the statistical error of a finite sample.
"""

import numpy as np
import pytest
import scipy.special as sc
from scipy import integrate, stats

import meanfield as mf
from meanfield.particles import (
    attention_sums,
    attention_sums_numpy,
    circle_coefficients,
    circle_velocity,
    clusters,
    energy,
    fourier_moments,
    mean_inner_product,
    order_parameter,
    sample_circle_density,
    sample_von_mises,
    simulate_particles,
)


def _proj(x, v):
    return v - np.sum(x * v, axis=1, keepdims=True) * x


def _em_contraction(d, dt, kappa):
    """c = E<Y, x> for one retracted Euler–Maruyama step Y = (x + s xi)/|x + s xi| of pure
    noise, s = sqrt(2 dt/kappa): by rotation invariance E[X_{k+1} | X_k] = c X_k exactly, so
    E<X_N, x_0> = c^N. Computed by quadrature over xi_1 ~ N(0,1), R = |xi_perp| ~ chi_{d-1}."""
    s = np.sqrt(2 * dt / kappa)
    chi = stats.chi(d - 1)

    def f(r, a):
        u = 1 + s * a
        return u / np.hypot(u, s * r) * stats.norm.pdf(a) * chi.pdf(r)

    val, _ = integrate.dblquad(f, -12, 12, 0, 12, epsabs=1e-13, epsrel=1e-12)
    return val


# -- Brownian motion on the sphere --------------------------------------------------------
@pytest.mark.parametrize("d, t_final", [(2, 0.5), (3, 0.3), (5, 0.2)])
def test_brownian_motion(d, t_final):
    # Reference: heat kernel on S^{d-1}, E<X_t, x_0> = exp(-(d-1) t / kappa) (the degree-1
    # harmonic decays at rate l(l+d-2)/kappa = (d-1)/kappa). Tolerance: 4 standard errors of
    # the sample mean plus the scheme's exact weak bias |c^N - exp(...)| (c by quadrature).
    n, kappa, dt = 20000, 1.0, 1e-3
    x0 = np.zeros((n, d))
    x0[:, 0] = 1.0
    ps = simulate_particles(beta=0.0, kappa=kappa, dim=d, x0=x0, coupling=0.0,
                            t_final=t_final, dt=dt, seed=1)
    c = ps.x[-1, :, 0]
    exact = np.exp(-(d - 1) * t_final / kappa)
    se = c.std(ddof=1) / np.sqrt(n)
    n_steps = int(round(t_final / dt))
    bias = abs(_em_contraction(d, dt, kappa) ** n_steps - exact)
    assert ps.n_steps == n_steps
    assert bias < se  # the step is small enough that the statistics dominate
    assert abs(c.mean() - exact) < 4 * se + bias
    assert np.allclose(np.linalg.norm(ps.x[-1], axis=1), 1.0, atol=1e-14)


# -- spectral summation against the direct kernel -----------------------------------------
@pytest.fixture(scope="module")
def circle_tokens():
    # half clustered (von Mises, concentration 5) so the moments S_k are O(1), half uniform
    rng = np.random.default_rng(3)
    a = sample_von_mises(1000, 2, 5.0, rng, mean=1.0)
    th = rng.uniform(0, 2 * np.pi, 1000)
    return np.concatenate([a, np.stack([np.cos(th), np.sin(th)], axis=1)])


@pytest.mark.parametrize("beta", [-1.0, 0.5, 4.0, 9.0])
@pytest.mark.parametrize("dynamics", ["usa", "sa"])
def test_spectral_matches_direct(circle_tokens, beta, dynamics):
    # Reference: the direct sum (exact to round-off). Truncation bound (spectral.py docstring):
    # USA |error| <= accuracy I_0(beta); SA |error_i| <= accuracy (1 + |w_i|) I_0 / D_i,
    # plus round-off (1e-13 of the scale).
    x = circle_tokens
    sa = dynamics == "sa"
    accuracy = 1e-10
    direct = _proj(x, attention_sums(x, beta, softmax=sa)[0])
    fast = circle_velocity(x, beta, sa, accuracy)
    err = np.linalg.norm(fast - direct, axis=1)
    i0 = sc.iv(0, beta)
    if sa:
        dsum = np.exp(attention_sums(x, beta, softmax=True)[1]) / x.shape[0]
        w = np.linalg.norm(direct, axis=1)
        bound = accuracy * (1 + w) * i0 / dsum + 1e-13
    else:
        bound = accuracy * i0 + 1e-13 * np.abs(direct).max()
    assert np.all(err <= bound)
    # the truncation is real: a coarse accuracy gives larger errors, still within its bound
    ik, ck, K = circle_coefficients(beta, 1e-4)
    assert K < circle_coefficients(beta, accuracy)[2]


def test_spectral_order_grows_with_beta():
    Ks = [circle_coefficients(b, 1e-10)[2] for b in (0.0, 1.0, 4.0, 16.0, 64.0)]
    assert Ks[0] == 1 and all(a < b for a, b in zip(Ks, Ks[1:], strict=False))


# -- direct kernel: numba against numpy ----------------------------------------------------
@pytest.mark.parametrize("softmax", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_direct_kernel_matches_numpy(softmax, causal):
    rng = np.random.default_rng(0)
    n, d = 300, 5
    x = rng.standard_normal((n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    Q, K, V = (rng.standard_normal((d, d)) for _ in range(3))
    for beta, mats in [(3.0, {}), (-2.0, dict(Q=Q, K=K, V=V)), (200.0, {})]:
        a, la = attention_sums(x, beta, softmax=softmax, causal=causal, **mats)
        b, lb = attention_sums_numpy(x, beta, softmax=softmax, causal=causal, **mats)
        assert np.all(np.isfinite(a))
        assert np.allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())
        assert np.allclose(la, lb, rtol=1e-13, atol=1e-12)
    # float32 inputs: float64 accumulation, float32 output
    a32, _ = attention_sums(x.astype(np.float32), 3.0, softmax=softmax, causal=causal)
    assert a32.dtype == np.float32
    assert np.allclose(a32, attention_sums(x, 3.0, softmax=softmax, causal=causal)[0],
                       rtol=2e-6, atol=2e-6 * np.abs(a32).max())


def test_causal_first_token_attends_to_itself():
    x = np.random.default_rng(1).standard_normal((50, 3))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    out, _ = attention_sums(x, 2.0, softmax=True, causal=True)
    assert np.allclose(out[0], x[0], atol=1e-15)
    ps = simulate_particles(beta=2.0, dynamics="sa", x0=x, causal=True, t_final=1.0, dt=0.05)
    assert np.allclose(ps.x[-1, 0], x[0], atol=1e-14)  # P_x x = 0: token 0 never moves


# -- noiseless dynamics --------------------------------------------------------------------
@pytest.mark.parametrize("dynamics, beta, one_cluster", [("usa", 1.0, True), ("sa", 1.0, True),
                                                         ("sa", 4.0, False)])
def test_energy_nondecreasing_and_one_cluster(dynamics, beta, one_cluster):
    # GLPR: E_beta is nondecreasing along noiseless SA and USA; for d >= 3 random tokens
    # converge to a single cluster (at beta = 4 SA stays metastable with several clusters
    # for long times (Geshkovski et al. 2410.06833), so only the energy is checked there).
    # RK4 at dt = 0.05 errs by O(dt^4) per unit time, far below the 1e-10 slack allowed.
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), dynamics=dynamics, dim=3)
    ps = simulate_particles(model, n=64, t_final=40.0, dt=0.05, seed=0,
                            t_eval=np.linspace(0, 40, 81))
    E = ps.energy()
    assert np.all(np.diff(E) >= -1e-10 * abs(E).max())
    assert E[-1] > E[0]
    if not one_cluster:
        return
    assert np.isclose(E[-1], np.exp(beta) / (2 * beta), rtol=1e-6)  # all tokens together
    cl = ps.clusters(tol=1e-3)
    assert cl.count == 1 and cl.sizes[0] == 64
    assert ps.mean_inner_product()[-1] > 1 - 1e-6


def test_kuramoto_wrapped_cauchy():
    # LITERATURE.md (Ott–Antonsen): noiseless Kuramoto (beta = 0 on the circle) from wrapped
    # Cauchy data has r(t) = r0 e^{t/2} / sqrt(1 - r0^2 + r0^2 e^t). Finite n: the radial
    # fluctuation of m at t = 0 has std sqrt((1 - r0^2)/(2n)) and is carried along with gain
    # dr/dr0 = e^{t/2} (1 - r0^2 + r0^2 e^t)^{-3/2}: tolerance 5 of those standard errors.
    n, r0 = 20_000, 0.2
    rng = np.random.default_rng(7)
    th = rng.standard_cauchy(n) * (-np.log(r0))  # wrapped Cauchy of resultant r0
    x0 = np.stack([np.cos(th), np.sin(th)], axis=1)
    t = np.linspace(0, 5, 11)
    ps = simulate_particles(beta=0.0, x0=x0, t_final=5.0, dt=0.05, t_eval=t, seed=0)
    assert ps.params["method"] == "spectral"
    q = 1 - r0**2 + r0**2 * np.exp(t)
    r = r0 * np.exp(t / 2) / np.sqrt(q)
    gain = np.exp(t / 2) * q**-1.5
    tol = 5 * gain * np.sqrt((1 - r0**2) / (2 * n))
    assert np.all(np.abs(ps.order_parameter() - r) <= tol)


@pytest.mark.parametrize("dynamics, beta", [("sa", 1.0), ("usa", 1.0)])
def test_equiangular_reduction(dynamics, beta):
    # GLPR Thm 6.8/6.9: n random tokens in high dimension d follow the equiangular ODE for
    # the mean pairwise inner product gamma (gamma(0) = 0) up to O(d^{-1/2}) (a few 1e-2 at
    # d = 1024 is physics, not solver error; RK4 at dt = 0.02 errs by ~1e-8).
    n, d = 32, 1024
    if dynamics == "sa":
        def rhs(t, g):
            e = np.exp(beta * g)
            return 2 * e * (1 - g) * ((n - 1) * g + 1) / (np.exp(beta) + (n - 1) * e)
        t_final = 8.0
    else:
        def rhs(t, g):
            return 2 / n * np.exp(beta * g) * (1 - g) * ((n - 1) * g + 1)
        t_final = 6.0
    t = np.linspace(0, t_final, 41)
    ref = integrate.solve_ivp(rhs, (0, t_final), [0.0], t_eval=t, rtol=1e-11, atol=1e-13).y[0]
    ps = simulate_particles(beta=beta, dynamics=dynamics, dim=d, n=n, t_final=t_final,
                            dt=0.02, t_eval=t, seed=11)
    dev = np.abs(ps.mean_inner_product() - ref)
    assert ref[-1] > 0.6  # the run covers most of the way to the cluster
    assert dev.max() < 0.06


# -- initial conditions and observables -----------------------------------------------------
@pytest.mark.parametrize("d, k0", [(2, 3.0), (3, 0.5), (5, 10.0)])
def test_von_mises_mean_resultant(d, k0):
    # E<x, mu> = I_{d/2}(k0) / I_{d/2-1}(k0) (mean resultant of von Mises–Fisher); 5 SE
    n = 40000
    mu = np.ones(d) / np.sqrt(d)
    x = sample_von_mises(n, d, k0, np.random.default_rng(2), mean=mu)
    c = x @ mu
    ref = sc.ive(d / 2, k0) / sc.ive(d / 2 - 1, k0)
    assert abs(c.mean() - ref) < 5 * c.std() / np.sqrt(n)
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0)


def test_density_sampler_wrapped_cauchy():
    # Wrapped Cauchy density on a CircleBasis grid: moments (1/n) sum e^{ik theta} -> r^k
    basis = mf.CircleBasis(64)
    r = 0.5
    rho = mf.initial.wrapped_cauchy(basis, r, mean=0.0)
    n = 40000
    x = sample_circle_density(rho, n, np.random.default_rng(4))
    m = fourier_moments(x, np.array([1, 2, 3]))
    assert np.all(np.abs(m - r ** np.array([1, 2, 3])) < 5 / np.sqrt(2 * n))
    ps = simulate_particles(beta=1.0, n=100, init="density", density=rho, t_final=0.0, dt=0.05,
                            seed=0)
    assert ps.x.shape == (1, 100, 2)


def test_observables_small_cases():
    th = np.array([0.0, 0.001, 0.002, np.pi, np.pi + 0.001, 2 * np.pi - 0.0005])
    x = np.stack([np.cos(th), np.sin(th)], axis=1)
    cl = clusters(x, tol=0.01)
    assert cl.count == 2 and list(cl.sizes) == [4, 2]
    assert len(set(cl.labels[[0, 1, 2, 5]])) == 1
    x3 = np.concatenate([np.c_[x, np.zeros(6)], [[0, 0, 1.0]]])
    assert clusters(x3, tol=0.01).count == 3
    # mean inner product and energy against the explicit double sums
    rng = np.random.default_rng(0)
    y = rng.standard_normal((40, 4))
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    G = y @ y.T
    assert np.isclose(mean_inner_product(y), (G.sum() - 40) / (40 * 39))
    assert np.isclose(energy(y, 2.5), np.exp(2.5 * G).sum() / (2 * 2.5 * 40**2), rtol=1e-13)
    assert np.isclose(energy(y, 0.0), G.sum() / (2 * 40**2))
    assert np.isclose(order_parameter(y), np.linalg.norm(y.mean(0)))
    # spectral (circle) energy against the direct double sum
    z = sample_von_mises(3000, 2, 2.0, rng)
    assert np.isclose(energy(z, 3.0, method="spectral"), energy(z, 3.0, method="direct"),
                      rtol=1e-12)


# -- integrator details ---------------------------------------------------------------------
def test_reproducible_and_saving():
    kw = dict(beta=1.0, kappa=2.0, dim=3, n=200, t_final=1.0, dt=0.03,
              t_eval=[0.0, 0.1, 0.55, 1.0])
    a = simulate_particles(seed=5, **kw)
    b = simulate_particles(seed=5, **kw)
    c = simulate_particles(seed=6, **kw)
    assert np.array_equal(a.x, b.x) and not np.array_equal(a.x, c.x)
    assert np.array_equal(a.t, [0.0, 0.1, 0.55, 1.0]) and a.x.shape == (4, 200, 3)
    assert a.n_steps == 4 + 15 + 15  # steps shortened to land on each save time


def test_rk4_order_and_float32():
    # Deterministic RK4 with retraction: halving dt shrinks the error ~16x (order 4).
    kw = dict(beta=1.0, dim=3, n=40, t_final=2.0, seed=1)
    ref = simulate_particles(dt=0.01, **kw).x[-1]
    e1 = np.abs(simulate_particles(dt=0.08, **kw).x[-1] - ref).max()
    e2 = np.abs(simulate_particles(dt=0.04, **kw).x[-1] - ref).max()
    assert 10 < e1 / e2 < 24
    x32 = simulate_particles(dt=0.04, dtype=np.float32, **kw).x[-1]
    assert x32.dtype == np.float32 and np.abs(x32 - ref).max() < 1e-4


def test_general_matrices_and_pre_ln():
    rng = np.random.default_rng(0)
    d = 4
    Q = np.eye(d) + 0.1 * rng.standard_normal((d, d))
    ps_d = simulate_particles(beta=1.0, dynamics="sa", dim=d, n=30, Q=Q, K=Q, V=np.eye(d),
                              t_final=1.0, dt=0.05, seed=0)
    ps_n = simulate_particles(beta=1.0, dynamics="sa", dim=d, n=30, Q=Q, K=Q, V=np.eye(d),
                              t_final=1.0, dt=0.05, seed=0, method="numpy")
    assert np.allclose(ps_d.x, ps_n.x, atol=1e-12)
    # Pre-LN: the residual stream grows (d|y|/dt = <x, v> > 0 for an SA average of nearby
    # tokens) and the direction moves more slowly than with Post-LN
    pre = simulate_particles(beta=1.0, dynamics="sa", dim=3, n=30, t_final=3.0, dt=0.05,
                             seed=0, normalization="pre-ln", init="vonmises",
                             concentration=2.0)
    post = simulate_particles(beta=1.0, dynamics="sa", dim=3, n=30, t_final=3.0, dt=0.05,
                              seed=0, init="vonmises", concentration=2.0)
    assert np.all(pre.radius[-1] > 1.5)
    assert pre.mean_inner_product()[-1] < post.mean_inner_product()[-1]


# -- bad input --------------------------------------------------------------------------------
def test_bad_input():
    kw = dict(beta=1.0, t_final=1.0, dt=0.01)
    x = np.random.default_rng(0).standard_normal((10, 3))
    with pytest.raises(ValueError, match="not on the unit sphere.*normalize_x0=True"):
        simulate_particles(x0=x, **kw)
    ps = simulate_particles(x0=x, normalize_x0=True, **kw)
    assert np.allclose(np.linalg.norm(ps.x, axis=2), 1.0)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    with pytest.raises(ValueError, match="NaN"):
        simulate_particles(x0=np.where(xn > 0.5, np.nan, xn), **kw)
    with pytest.raises(ValueError, match=r"x0 has 3 columns but dim=2"):
        simulate_particles(x0=xn, dim=2, **kw)
    with pytest.raises(ValueError, match=r"K must have shape \(2, 3\)"):
        simulate_particles(x0=xn, Q=np.ones((2, 3)), K=np.ones((3, 3)), **kw)
    with pytest.raises(ValueError, match=r"V must have shape \(3, 3\)"):
        simulate_particles(x0=xn, V=np.ones((3, 2)), **kw)
    with pytest.raises(ValueError, match=r"dt=0.2 is too large.*use dt <= 0.09"):
        simulate_particles(x0=xn, beta=1.0, t_final=1.0, dt=0.2)
    with pytest.raises(ValueError, match="too large for the noise"):
        simulate_particles(x0=xn, beta=0.0, kappa=0.01, t_final=1.0, dt=0.01)
    with pytest.raises(ValueError, match="unknown method 'fmm'"):
        simulate_particles(x0=xn, method="fmm", **kw)
    with pytest.raises(ValueError, match="spectral.*circle or S\\^2"):
        simulate_particles(x0=xn, method="spectral", causal=True, **kw)
    with pytest.raises(ValueError, match="too large for the direct.*method='spectral'"):
        simulate_particles(n=10**6, dim=2, method="direct", **kw)
    with pytest.raises(MemoryError, match="method='direct'"):
        attention_sums_numpy(np.zeros((300_000, 2)), 1.0, softmax=True)
    with pytest.raises(ValueError, match="contradicts the model"):
        simulate_particles(mf.MeanFieldModel(mf.AttentionKernel(2.0)), n=5, beta=1.0,
                           t_final=1.0, dt=0.01)
    with pytest.raises(ValueError, match="attention kernel"):
        simulate_particles(mf.MeanFieldModel(mf.ZonalKernel(lambda t: t**2)), n=5,
                           t_final=1.0, dt=0.01)
    with pytest.raises(ValueError, match="noiseless runs"):
        simulate_particles(n=5, beta=1.0, kappa=1.0, integrator="rk4", t_final=1.0, dt=0.01)


# -- histograms and kernel density estimates -----------------------------------------------
def test_histogram_circle_bin_probabilities():
    # Bin counts of n von Mises (c = 2) angles are binomial(n, p_b), p_b = int_bin f d sigma,
    # f = e^{c cos t} / I_0(c): each |count/n - p_b| <= 5 sqrt(p_b (1 - p_b) / n) (32 bins,
    # a 5-sigma band). The density is w.r.t. sigma, so its bin mean is exactly 1.
    from meanfield.particles import histogram_circle

    n, c, bins = 40000, 2.0, 32
    th = np.arctan2(*sample_von_mises(n, 2, c, np.random.default_rng(3))[:, ::-1].T)
    dens, edges = histogram_circle(th, bins)
    assert edges[0] == 0 and np.isclose(edges[-1], 2 * np.pi) and dens.shape == (bins,)
    assert np.isclose(dens.mean(), 1.0, rtol=0, atol=1e-14)
    p = np.array([integrate.quad(lambda t: np.exp(c * np.cos(t)) / (2 * np.pi * sc.i0(c)),
                                 a, b)[0] for a, b in zip(edges[:-1], edges[1:], strict=True)])
    frac = dens * (1.0 / bins)
    assert np.all(np.abs(frac - p) <= 5 * np.sqrt(p * (1 - p) / n))
    # stacks (m, n) work row by row
    d2, _ = histogram_circle(np.stack([th, th + 2 * np.pi]), bins)
    assert np.allclose(d2[0], dens) and np.allclose(d2[1], dens)


def test_kde_circle_integrates_to_one_and_converges():
    # KDE of n von Mises (c = 2) samples with kernel concentration kappa = 20. Its mean is the
    # convolution fbar(t) = 1 + 2 sum_k A_k(c) A_k(kappa) cos(k t), A_k = I_k / I_0; its
    # variance is <= Kmax fbar(t) / n with Kmax = e^kappa / I_0(kappa) (Var K <= E K^2 <=
    # Kmax E K), so |kde - fbar| <= 5 sqrt(Kmax fbar / n) on the 256-point grid. The grid mean
    # integrates w.r.t. sigma exactly up to aliasing A_256(kappa) ~ 0: it is 1 to rounding.
    from meanfield.particles import kde_circle

    n, c, kap = 20000, 2.0, 20.0
    th = np.arctan2(*sample_von_mises(n, 2, c, np.random.default_rng(5))[:, ::-1].T)
    f = kde_circle(th, kap)
    assert np.isclose(f.mean(), 1.0, rtol=0, atol=1e-12)
    t = 2 * np.pi * np.arange(256) / 256
    k = np.arange(1, 80)
    a = (sc.ive(k, c) / sc.ive(0, c)) * (sc.ive(k, kap) / sc.ive(0, kap))
    fbar = 1 + 2 * np.cos(np.outer(t, k)) @ a
    kmax = 1.0 / sc.i0e(kap)
    assert np.all(np.abs(f - fbar) <= 5 * np.sqrt(kmax * fbar / n))
    # point evaluation agrees with the grid
    assert np.allclose(kde_circle(th, kap, at=t[::17]), f[::17], rtol=1e-13)


def test_kde_sphere_integrates_to_one_and_converges():
    # S^2, vMF kernel kappa = 10, data vMF(c = 3) around e_1. Funk–Hecke: the mean estimate is
    # fbar(y) = sum_l (2l+1) a_l(c) a_l(kappa) P_l(<e_1, y>), a_l = I_{l+1/2} / I_{1/2};
    # std <= sqrt(Kmax fbar / n), Kmax = e^kappa / (sinh(kappa)/kappa) ~ 2 kappa; 5-sigma band.
    # On a SphereBasis grid the quadrature is exact to degree > 2 lmax, and the KDE's
    # harmonic content beyond degree 48 is ~ e^{-48^2/(2 kappa)}: its integral is 1 to rounding.
    from meanfield.bases import SphereBasis
    from meanfield.particles import kde_sphere

    n, c, kap = 20000, 3.0, 10.0
    x = sample_von_mises(n, 3, c, np.random.default_rng(7))
    basis = SphereBasis(48)
    f = kde_sphere(x, kap, basis)
    assert f.shape == basis.shape
    assert np.isclose(basis.integrate(f), 1.0, rtol=0, atol=1e-12)
    b16 = SphereBasis(16)
    g = kde_sphere(x, kap, b16.points)
    l = np.arange(0, 60)
    a = (sc.ive(l + 0.5, c) / sc.ive(0.5, c)) * (sc.ive(l + 0.5, kap) / sc.ive(0.5, kap))
    u = b16.points[..., 0]
    fbar = np.polynomial.legendre.legval(u, (2 * l + 1) * a)
    kmax = kap / (np.sinh(kap) * np.exp(-kap))
    assert np.all(np.abs(g - fbar) <= 5 * np.sqrt(kmax * fbar / n))
    # the S^2 normalizer matches the closed form sinh(kappa)/kappa (times e^{-kappa})
    from meanfield.particles.observables import vmf_normalizer_sigma
    assert np.isclose(vmf_normalizer_sigma(kap, 3), np.sinh(kap) / kap * np.exp(-kap),
                      rtol=1e-13)
    assert np.isclose(vmf_normalizer_sigma(kap, 2), sc.i0e(kap), rtol=1e-13)


# -- adaptive stepping ----------------------------------------------------------------------
def test_adaptive_rk4_tracks_rtol():
    # Step doubling accepts steps whose estimated local error is <= rtol, so h ~ rtol^{1/5},
    # the step count N ~ rtol^{-1/5} and the global error ~ N rtol ~ rtol^{4/5}. SA at beta = 1
    # (stability cap dt = 0.25 = 0.5 / (1 + beta)), rtol = 1e-8 .. 1e-10 where the error
    # control, not the cap, sets the step. Reference: fixed dt = 0.25/40 (its own error,
    # estimated by halving, is ~1e-11, below every error measured here). Checks: the error
    # stays below the sum of the accepted local errors N rtol (the clustering SA flow does
    # not amplify them), and the log-log slope is 4/5 within [0.6, 1.0].
    te = np.linspace(0.0, 8.0, 9)
    kw = dict(beta=1.0, dynamics="sa", dim=3, n=40, t_final=8.0, seed=1, t_eval=te)
    ref = simulate_particles(dt=0.25 / 40, **kw).x
    errs = []
    for rtol in (1e-8, 1e-9, 1e-10):
        ps = simulate_particles(dt=0.25, adaptive=True, rtol=rtol, **kw)
        assert np.array_equal(ps.t, te) and ps.params["adaptive"]
        e = np.abs(ps.x - ref).max()
        assert e <= ps.n_steps * rtol
        errs.append(e)
    slope = np.log(errs[0] / errs[-1]) / np.log(100.0)
    assert 0.6 <= slope <= 1.0
    # pre-ln (no retraction, |y| grows): same local-error bound relative to |y|
    kw2 = dict(beta=1.0, dynamics="sa", dim=3, n=30, t_final=3.0, seed=0,
               normalization="pre-ln", init="vonmises", concentration=2.0)
    pf = simulate_particles(dt=0.25 / 40, **kw2)
    pa = simulate_particles(dt=0.25, adaptive=True, rtol=1e-9, **kw2)
    ya, yf = pa.x[-1] * pa.radius[-1][:, None], pf.x[-1] * pf.radius[-1][:, None]
    assert np.abs(ya - yf).max() <= pa.n_steps * 1e-9 * pf.radius[-1].max()
    with pytest.raises(ValueError, match="noiseless"):
        simulate_particles(beta=1.0, kappa=10.0, n=5, t_final=1.0, dt=0.01, adaptive=True)
    with pytest.raises(ValueError, match="rtol"):
        simulate_particles(beta=1.0, n=5, t_final=1.0, dt=0.01, adaptive=True, rtol=-1.0)
