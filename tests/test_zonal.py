"""ZonalBasis: Gegenbauer series on S^{d-1} for densities depending on t = <x, e_1> only.

References: moments of sigma pushed forward to t (c_d (1-t^2)^{(d-3)/2} dt) are
Gamma(d/2) Gamma(m+1/2) / (sqrt(pi) Gamma(m+d/2)) (mpmath here); Funk–Hecke and the
instability thresholds kappa_l = beta/lambda_l(beta), lambda_l = Gamma(d/2) (2/beta)^{d/2-1}
I_{l+d/2-1}(beta) (DESIGN.md §1); heat flow of von Mises–Fisher data, Frouvelle–Liu's
von Mises–Fisher states and the tricritical beta_*^{(d)} of Mun–Rosenzweig (LITERATURE.md).
"""

import mpmath as mp
import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import eval_gegenbauer, eval_legendre, gammaln, iv

import meanfield as mf
from meanfield.continuation import bifurcation_points_of_uniform


def lam(l, beta, d):
    """Funk–Hecke coefficient lambda_l(beta) of exp(beta t) on S^{d-1} (normalized sigma)."""
    return np.exp(gammaln(d / 2) + (d / 2 - 1) * np.log(2 / beta)) * iv(l + d / 2 - 1, beta)


def vmf_ratio(a, d):
    """<t> of the von Mises–Fisher density exp(a t) on S^{d-1}: I_{d/2}(a) / I_{d/2-1}(a)."""
    return iv(d / 2, a) / iv(d / 2 - 1, a)


# -- quadrature and polynomials ---------------------------------------------------------


@pytest.mark.parametrize("d", [2, 3, 4, 10, 128, 1024])
def test_quadrature_exact_moments(d):
    # int t^{2m} d sigma = Gamma(d/2) Gamma(m+1/2) / (sqrt(pi) Gamma(m+d/2)), exact for
    # 2m <= 2n - 1 (n-point Gauss rule); reference in 40-digit mpmath.
    mp.mp.dps = 40
    b = mf.ZonalBasis(d, 40)
    n = b.n_nodes
    assert abs(b.weights.sum() - 1.0) < 1e-15
    assert np.all(b.weights > 0) and np.all(np.diff(b.grid) > 0)
    assert np.array_equal(b.grid, -b.grid[::-1]) and np.array_equal(b.weights, b.weights[::-1])
    for m in range(n):
        ref = float(mp.gamma(mp.mpf(d) / 2) * mp.gamma(m + mp.mpf(1) / 2)
                    / (mp.sqrt(mp.pi) * mp.gamma(m + mp.mpf(d) / 2)))
        got = float(b.integrate(b.grid ** (2 * m)))
        assert abs(got - ref) < 1e-14 and abs(got - ref) <= 1e-13 * ref, (m, got, ref)
        # symmetric rule, folded sum: odd moments vanish exactly
        assert b.integrate(np.sign(b.grid) * np.abs(b.grid) ** (2 * m + 1)) == 0.0


def test_quadrature_d2_is_gauss_chebyshev():
    b = mf.ZonalBasis(2, 20)
    n = b.n_nodes
    assert np.allclose(b.grid, np.sort(np.cos((2 * np.arange(n) + 1) * np.pi / (2 * n))),
                       rtol=0, atol=1e-15)
    assert np.allclose(b.weights, 1.0 / n, rtol=1e-13, atol=0)


@pytest.mark.parametrize("d", [2, 3, 16, 128, 1024])
def test_orthonormality_up_to_lmax_300(d):
    # Q^T diag(w) Q = I: forward(backward(e_l)) = e_l, with weights 1e-270 at d = 1024
    b = mf.ZonalBasis(d, 300)
    gram = b.forward(b.backward(np.eye(301)))
    assert np.max(np.abs(gram - np.eye(301))) < 1e-12
    assert b.weights.sum() == pytest.approx(1.0, abs=1e-15)


def test_legendre_and_gegenbauer_values():
    # d = 3: Q_l = sqrt(2l+1) P_l (Legendre); d = 6: Q_l = sqrt(N) C_l^{(2)}(t) / C_l^{(2)}(1)
    t = np.linspace(-1, 1, 41)
    b3 = mf.ZonalBasis(3, 30)
    for l in (0, 1, 2, 7, 30):
        e = np.zeros(31)
        e[l] = 1.0
        assert np.allclose(b3.evaluate(e, t), np.sqrt(2 * l + 1) * eval_legendre(l, t),
                           rtol=1e-13, atol=1e-13)
    b6 = mf.ZonalBasis(6, 20)
    for l in (1, 5, 20):
        e = np.zeros(21)
        e[l] = 1.0
        N = (2 * l + 4) / (l + 4) * np.exp(gammaln(l + 5) - gammaln(l + 1) - gammaln(5))
        ref = np.sqrt(N) * eval_gegenbauer(l, 2.0, t) / eval_gegenbauer(l, 2.0, 1.0)
        assert np.allclose(b6.evaluate(e, t), ref, rtol=1e-12, atol=1e-12 * np.sqrt(N))
        # amplitude = <P_l> = b_l / sqrt(N)
        assert b6.amplitude(e, l) == pytest.approx(1 / np.sqrt(N), rel=1e-13)


def test_interface_shapes_and_calculus():
    b = mf.ZonalBasis(5, 24)
    rng = np.random.default_rng(0)
    c = rng.standard_normal((3, 2, 25)) / (1 + np.arange(25)) ** 2
    f = b.backward(c)
    assert f.shape == (3, 2, b.n_nodes) and b.shape == (b.n_nodes,)
    assert np.allclose(b.forward(f), c, rtol=0, atol=1e-14)
    assert np.allclose(b.evaluate(c[0, 0], b.grid), f[0, 0], rtol=0, atol=1e-13)
    # div(grad b) = Lap b exactly (quadrature exact); the mass coefficient of div is 0
    v = b.grad(c)
    assert v.shape == (1, 3, 2, b.n_nodes)
    lap = b.laplacian * c
    assert np.max(np.abs(b.div(v) - lap)) < 1e-13 * np.max(np.abs(lap))
    assert np.all(b.div(v * f)[..., 0] == 0.0)
    # grad is d/dt of the series; |v| = sqrt(1 - t^2) |w|
    t = b.grid
    h = 1e-6
    fd = (b.evaluate(c[0, 0], t + h) - b.evaluate(c[0, 0], t - h)) / (2 * h)
    assert np.allclose(v[0, 0, 0], fd, rtol=1e-7, atol=1e-7)
    assert np.allclose(b.vector_norm(v), np.sqrt(1 - t**2) * np.abs(v[0]))
    # points, Parseval, mass, real coordinates
    assert np.allclose(b.points @ np.eye(5)[0], t) and np.allclose(
        np.linalg.norm(b.points, axis=1), 1.0)
    assert b.inner(c[0, 0], c[1, 1]) == pytest.approx(b.integrate(f[0, 0] * f[1, 1]), abs=1e-14)
    assert np.allclose(b.mass(c), b.integrate(f), atol=1e-15)
    x = b.to_real(c)
    assert x.shape == (3, 2, b.n_real) and np.array_equal(b.from_real(x, c[..., 0]), c)
    assert list(b.real_degrees) == list(range(1, 25))
    assert b.size_hint(40) == "lmax >= 40"
    fine = b.with_max_degree(40)
    assert np.allclose(fine.evaluate(b.convert(c[0, 0], fine), t), f[0, 0], rtol=0,
                       atol=1e-13)
    assert np.array_equal(b.convert(b.convert(c, fine), b), c)
    assert "ZonalBasis(dim=5, lmax=24" in repr(b)


def test_masks_blocks_and_even_states():
    b = mf.ZonalBasis(3, 10)
    assert b.subspace_mask().all() and b.branch_mask(1).all()
    even = b.subspace_mask(period=2)
    assert np.array_equal(b.real_degrees[even], [2, 4, 6, 8, 10])
    assert np.array_equal(b.branch_mask(2), even)
    with pytest.raises(ValueError, match="period=3"):
        b.subspace_mask(period=3)
    assert b.rotation_generators(np.ones(11)) == []
    # an even density has exactly zero odd coefficients (symmetric rule, folded transforms)
    c = b.forward(np.exp(2.0 * b.grid**2))
    assert np.all(c[1::2] == 0.0)
    blocks = b.invariant_blocks(c)
    assert [list(b.real_degrees[i]) for i in blocks] == [[2, 4, 6, 8, 10], [1, 3, 5, 7, 9]]
    assert len(b.invariant_blocks(b.forward(np.exp(b.grid)))) == 1
    uni = np.zeros(11)
    uni[0] = 1
    assert len(b.invariant_blocks(uni)) == 10
    # d = 2 is the circle's cosine series: period-k subspaces are invariant there
    b2 = mf.ZonalBasis(2, 12)
    assert np.array_equal(b2.real_degrees[b2.branch_mask(3)], [3, 6, 9, 12])


# -- d = 2: the even part of the circle ---------------------------------------------------


def test_d2_agrees_with_circle_basis():
    # even densities: b_l = sqrt(2) c_l (l >= 1), b_0 = c_0 (T_l(cos th) = cos(l th))
    L = 40
    z, cb = mf.ZonalBasis(2, L), mf.CircleBasis(L + 1)

    def g(t):
        return np.exp(1.5 * t + 0.5 * (2 * t**2 - 1))

    bz = z.forward(g(z.grid))
    bc = cb.forward(g(np.cos(cb.grid)))
    assert np.max(np.abs(bc.imag)) < 1e-15
    scale = np.where(z.degrees == 0, 1.0, np.sqrt(2.0))
    assert np.max(np.abs(bz - scale * bc.real)) < 1e-14
    assert np.allclose(z.laplacian, cb.laplacian)
    # the same USA dynamics on both bases, fixed steps: identical up to round-off
    model = mf.MeanFieldModel(mf.AttentionKernel(1.5), kappa=3.0, dim=2)
    mass = z.integrate(g(z.grid))
    t = [0.0, 0.5, 1.0]
    sz = mf.evolve(model, z, g(z.grid) / mass, 1.0, t, dt=1 / 128)
    sc = mf.evolve(model, cb, g(np.cos(cb.grid)) / mass, 1.0, t, dt=1 / 128)
    for k in (1, 2, 3, 10):
        assert np.max(np.abs(sz.amplitude(k) - sc.coeffs[:, k].real)) < 1e-14
    assert np.allclose(sz.free_energy, sc.free_energy, rtol=0, atol=1e-14)
    # stationary states and thresholds agree as well
    m2 = model.replace(kappa=4.0)
    stz = mf.stationary_state(m2, z, sz.rho[-1])
    stc = mf.stationary_state(m2, cb, sc.rho[-1])
    assert stz.amplitude(1) == pytest.approx(stc.amplitude(1), abs=1e-12)
    assert stz.free_energy == pytest.approx(stc.free_energy, abs=1e-12)
    assert stz.stable == stc.stable


# -- exact dynamics -----------------------------------------------------------------------


@pytest.mark.parametrize("d", [3, 4, 10])
def test_heat_flow_from_von_mises_fisher(d):
    # <P_l>(t) = e^{-l(l+d-2) t/kappa} I_{l+d/2-1}(k0) / I_{d/2-1}(k0) (LITERATURE.md);
    # ETDRK4 is exact on the linear part, the data are resolved to round-off at lmax = 40.
    k0, kappa = 3.0, 2.0
    b = mf.ZonalBasis(d, 40)
    model = mf.MeanFieldModel(mf.ZonalKernel(coefficients=np.zeros(4), dim=d), kappa=kappa,
                              dim=d)
    t = np.linspace(0.0, 1.0, 6)
    sol = mf.evolve(model, b, mf.initial.von_mises(b, k0), 1.0, t)
    assert sol.success, sol.message
    for l in range(0, 12):
        exact = np.exp(-l * (l + d - 2) * t / kappa) * iv(l + d / 2 - 1, k0) / iv(d / 2 - 1, k0)
        assert np.max(np.abs(sol.amplitude(l) - exact)) < 1e-12, l
    assert np.max(np.abs(sol.mass - 1.0)) < 1e-13


def _growth_rate(model, b, k, exact, eps=1e-9):
    # Fixed steps as in tests/test_evolve.py::_growth_rate; for d >= 3 the quadratic term
    # feeds Q_k back into mode k (Q_k^2 has a degree-k part), a relative O(eps) = 1e-9 error.
    T = min(1.0, 2.0 / max(abs(exact), 1e-12))
    c0 = np.zeros(b.coeff_shape)
    c0[0], c0[k] = 1.0, eps
    sol = mf.evolve(model, b, b.backward(c0), T, [0.0, T], dt=T / 1024)
    assert sol.success, sol.message
    return np.log(sol.coeffs[-1, k] / sol.coeffs[0, k]) / T


@pytest.mark.parametrize("d", [3, 4, 16])
@pytest.mark.parametrize("beta", [0.5, 3.0])
@pytest.mark.parametrize("kappa", [0.5, 8.0])
@pytest.mark.parametrize("k", [1, 2])
def test_linear_growth_rates(d, beta, kappa, k):
    # sigma_l = l(l+d-2) (lambda_l(beta)/beta - 1/kappa) (DESIGN.md §1)
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=kappa, dim=d)
    b = mf.ZonalBasis(d, 24)
    exact = k * (k + d - 2) * (lam(k, beta, d) / beta - 1 / kappa)
    assert _growth_rate(model, b, k, exact) == pytest.approx(exact, rel=1e-7, abs=1e-9)


# -- bifurcations -------------------------------------------------------------------------


@pytest.mark.parametrize("d, beta", [(3, 1.0), (3, 4.0), (4, 2.0), (10, 3.0)])
def test_bifurcation_points_are_beta_over_lambda(d, beta):
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=1.0, dim=d)
    b = mf.ZonalBasis(d, 32)
    for l in (1, 2, 3):
        ref = beta / lam(l, beta, d)
        roots = bifurcation_points_of_uniform(model, b, "kappa", (0.8 * ref, 1.2 * ref), l)
        assert len(roots) == 1 and abs(roots[0] - ref) < 1e-10 * ref, (l, roots, ref)
    if (d, beta) == (3, 1.0):  # lambda_1(1) = e^{-1} on S^2: kappa_1 = e
        assert abs(bifurcation_points_of_uniform(model, b, "kappa", (2, 3), 1)[0] - np.e) < 1e-12


@pytest.mark.parametrize("d", [3, 4])
def test_first_bifurcation_changes_type_at_beta_star(d):
    # supercritical iff I_{d/2+1}(beta)/I_{d/2}(beta) < 1/d (Mun–Rosenzweig, LITERATURE.md)
    beta_star = brentq(lambda x: iv(d / 2 + 1, x) / iv(d / 2, x) - 1 / d, 0.5, 10, xtol=1e-14)
    for beta, kind in [(beta_star - 0.15, "supercritical"), (beta_star + 0.15, "subcritical")]:
        model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=1.0, dim=d)
        k1 = beta / lam(1, beta, d)
        diag = mf.bifurcation_diagram(model, mf.ZonalBasis(d, 32), "kappa",
                                      (0.9 * k1, 1.3 * k1), modes=(1,))
        (bp,) = diag.bifurcation_points
        assert bp.kind == kind and abs(bp.param - k1) < 1e-10 * k1
        if kind == "subcritical":  # first order: fold and kappa_c before kappa_1
            assert len(diag.folds) == 1 and diag.folds[0].param < k1
            (tr,) = diag.first_order_transitions
            assert diag.folds[0].param < tr.param < k1
        else:
            assert not diag.folds and not diag.first_order_transitions
            br = diag.branches[0]
            assert np.all(np.diff(br.param) > 0) and br.stable[1:].all()


def test_phase_diagram_tricritical_beta_on_s2():
    # beta_*^{(3)} solves I_{5/2}(beta)/I_{3/2}(beta) = 1/3 (Mun–Rosenzweig); located by
    # phase_diagram from the sign change of the branch curvature, with a zonal basis
    d = 3
    exact = brentq(lambda x: iv(d / 2 + 1, x) / iv(d / 2, x) - 1 / d, 0.5, 10, xtol=1e-14)
    pd = mf.phase_diagram([exact - 0.3, exact + 0.3], dim=d,
                          basis_factory=lambda beta: mf.ZonalBasis(d, 40))
    assert pd.kind == ["supercritical", "subcritical"]
    assert abs(pd.beta_star - exact) < 1e-8
    assert pd.kappa_fold[1] < pd.kappa_c[1] < pd.kappa_1[1]


@pytest.mark.parametrize("d", [3, 4])
@pytest.mark.parametrize("kernel", [mf.KuramotoKernel(), mf.AttentionKernel(0.0)])
def test_beta0_branch_is_von_mises_fisher(d, kernel):
    # Frouvelle–Liu: rho = exp(a t)/Z with a = kappa r, r = I_{d/2}(a)/I_{d/2-1}(a)
    model = mf.MeanFieldModel(kernel, kappa=1.0, dim=d)
    diag = mf.bifurcation_diagram(model, mf.ZonalBasis(d, 32), "kappa", (0.5 * d, 2.5 * d),
                                  modes=(1,))
    (bp,) = diag.bifurcation_points
    assert abs(bp.param - d) < 1e-10 and bp.kind == "supercritical"
    br = diag.branches[0]
    assert br.param.size > 5 and br.stable[1:].all()
    for kappa, r in zip(br.param[1:], br.amplitude[1:], strict=True):
        assert abs(r - vmf_ratio(kappa * r, d)) < 1e-10
    # Newton from a von Mises–Fisher guess gives the same state
    kappa = 2.0 * d
    r = brentq(lambda r: r - vmf_ratio(kappa * r, d), 1e-3, 1.0, xtol=1e-15)
    b = mf.ZonalBasis(d, 40)
    st = mf.stationary_state(model.replace(kappa=kappa), b, mf.initial.von_mises(b, 3.0))
    assert abs(st.amplitude(1) - r) < 1e-10 and st.stable
    assert np.max(np.abs(st.rho - mf.initial.von_mises(b, kappa * r))) < 1e-10


def test_spectral_convergence_in_lmax():
    # the beta = 0 stationary amplitude on S^3 at kappa = 8 (a = kappa r = 6.5): the error
    # falls geometrically with lmax (by > 50x per 2 degrees) down to round-off. Coarse bases
    # converge to slightly non-positive truncations, hence raise_on_failure=False.
    d, kappa = 4, 8.0
    r_exact = brentq(lambda r: r - vmf_ratio(kappa * r, d), 1e-3, 1.0, xtol=1e-16)
    model = mf.MeanFieldModel(mf.KuramotoKernel(), kappa=kappa, dim=d)
    errs = []
    for L in (6, 8, 10, 12, 14, 16, 24):
        b = mf.ZonalBasis(d, L)
        st = mf.stationary_state(model, b, mf.initial.von_mises(b, 5.0), stability=False,
                                 raise_on_failure=False)
        assert st.residual < 1e-12
        errs.append(abs(st.amplitude(1) - r_exact))
    errs = np.array(errs)
    assert errs[0] > 1e-4 and np.all(errs[1:5] < 0.02 * errs[:4]), errs
    assert errs[5] < 1e-14 and errs[6] < 1e-14, errs


def test_noisy_usa_flow_mass_and_free_energy():
    # d = 5, beta = 1 (below beta_*^{(5)}), kappa = 1.5 kappa_1: the flow from a perturbed
    # uniform state conserves mass, decreases F and ends on the stable mode-1 branch
    d, beta = 5, 1.0
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=1.5 * beta / lam(1, beta, d),
                              dim=d)
    b = mf.ZonalBasis(d, 40)
    rho0 = mf.initial.perturbed_uniform(b, 0.5, max_degree=4, seed=1)
    sol = mf.evolve(model, b, rho0, 40.0, np.linspace(0, 40, 81))
    assert sol.success, sol.message
    assert np.max(np.abs(sol.mass - 1.0)) < 1e-13
    F = sol.free_energy
    assert np.all(np.diff(F) <= 1e-14) and F[-1] < F[0] - 0.05
    st = mf.stationary_state(model, b, sol.rho[-1])
    assert st.stable and st.amplitude(1) > 0.5
    assert np.max(np.abs(st.coeffs - sol.coeffs[-1])) < 1e-8


@pytest.mark.parametrize("k", [1, 2])
def test_high_dimension_growth_rates(k):
    # d = 128, lmax = 64: the outer Gauss nodes carry weights down to 1e-47, where grid
    # values are round-off dominated (basis.pointwise_error up to 4e5); evolve's pointwise
    # checks look at basis.reliable_nodes only, and the dynamics (integrals) stay accurate.
    d, beta = 128, 2.0
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=1.5 * beta / lam(1, beta, d),
                              dim=d)
    b = mf.ZonalBasis(d, 64)
    assert not b.reliable_nodes.all() and b.reliable_nodes[np.abs(b.grid) < 0.5].all()
    exact = k * (k + d - 2) * (lam(k, beta, d) / beta - 1 / model.kappa)
    T = min(1.0, 2.0 / abs(exact))
    c0 = np.zeros(b.coeff_shape)
    c0[0], c0[k] = 1.0, 1e-9
    sol = mf.evolve(model, b, b.backward(c0), T, [0.0, T], dt=T / 256)
    rate = np.log(sol.coeffs[-1, k] / sol.coeffs[0, k]) / T
    assert rate == pytest.approx(exact, rel=1e-7)
    assert np.max(np.abs(sol.mass - 1.0)) < 1e-13
    rho = sol.rho[-1][b.reliable_nodes]  # meaningful grid values: positive, near 1
    assert np.all(np.abs(rho - 1) < 1e-6)


def test_pointwise_error_is_tiny_in_low_dimension():
    for d, L in ((2, 200), (3, 300), (4, 64), (10, 64)):
        b = mf.ZonalBasis(d, L)
        assert b.reliable_nodes.all() and b.pointwise_error.max() < 1e-10


# -- bad input ----------------------------------------------------------------------------


def test_bad_input():
    with pytest.raises(ValueError, match=r"dim must be an integer >= 2"):
        mf.ZonalBasis(1, 8)
    with pytest.raises(ValueError, match=r"lmax must be an integer >= 1"):
        mf.ZonalBasis(3, 0)
    with pytest.raises(TypeError, match="lmax"):
        mf.ZonalBasis(3, 8.0)
    with pytest.raises(ValueError, match="dealias"):
        mf.ZonalBasis(3, 8, dealias=0.5)
    b = mf.ZonalBasis(3, 8)
    with pytest.raises(ValueError, match=rf"must have {b.n_nodes} entries"):
        b.forward(np.ones(b.n_nodes + 1))
    with pytest.raises(ValueError, match="9 entries"):
        b.backward(np.ones(10))
    with pytest.raises(ValueError, match="dim=3"):
        mf.evolve(mf.MeanFieldModel(mf.KuramotoKernel(), kappa=1.0, dim=4), b, np.ones(b.shape),
                  1.0)
    # too few degrees for beta: the error names the lmax needed
    model = mf.MeanFieldModel(mf.AttentionKernel(20.0), kappa=1.0, dim=3)
    need = model.required_degree(1e-12)
    with pytest.raises(ValueError, match=rf"needs lmax >= {need}"):
        mf.evolve(model, b, np.ones(b.shape), 1.0)
    mf.evolve(model, mf.ZonalBasis(3, need), np.ones(mf.ZonalBasis(3, need).shape), 1e-3)
    # a non-zonal density is refused; a zonal one is sampled on the grid
    with pytest.raises(ValueError, match="not zonal"):
        b.from_function(lambda x: np.exp(x[..., 0] + 0.1 * x[..., 2]))
    with pytest.raises(ValueError, match="not zonal"):
        mf.ZonalBasis(2, 8).from_function(lambda x: 1 + 0.5 * x[..., 1])
    vals = b.from_function(lambda x: np.exp(2 * x[..., 0]))
    assert np.allclose(vals, np.exp(2 * b.grid))
    with pytest.raises(ValueError, match="period=3"):
        mf.stationary_state(model.replace(kernel=mf.AttentionKernel(1.0), kappa=5.0), b,
                            np.ones(b.shape), period=3)
