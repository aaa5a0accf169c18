"""Sphere3Basis (the full S^3 in Hopf coordinates) against closed forms, the zonal basis,
symmetries and invariants.

References: DESIGN.md §1 (Funk–Hecke on S^3 with normalized sigma: convolution with
e^{beta <x, .>} multiplies degree-l harmonics by lambda_l(beta) = (2/beta) I_{l+1}(beta);
Laplacian eigenvalues -l(l+2); growth rates l(l+2)(lambda_l/beta - 1/kappa) of rho = 1),
the addition theorem on S^3 (sum over an orthonormal basis of degree l of Y(x) Y(mu) =
(l+1)^2 P_l(<x, mu>), P_l = U_l / (l+1) Chebyshev of the second kind), and the
Frouvelle–Liu self-consistency r = I_2(kappa r)/I_1(kappa r) of the beta = 0 state on S^3.
"""

import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import eval_chebyu, iv

import meanfield as mf
from meanfield.bases.sphere3 import Sphere3Basis, radial_functions

EPS = np.finfo(float).eps


def lam(l, beta):
    """lambda_l(beta) on S^3 (normalized sigma): Gamma(2) (2/beta) I_{l+1}(beta)."""
    return 2.0 / beta * iv(l + 1, beta)


def vmf_series(x, mu, k0, t=0.0, kappa=1.0, lmax=60):
    """The heat flow at time t of exp(k0 <x, mu>)/lambda_0(k0), summed by degrees: the
    degree-l part is (l+1) lambda_l/lambda_0 U_l(<x, mu>) e^{-l(l+2) t/kappa}."""
    s = np.clip(x @ mu, -1.0, 1.0)
    return sum((l + 1) * lam(l, k0) / lam(0, k0) * eval_chebyu(l, s)
               * math.exp(-l * (l + 2) * t / kappa) for l in range(lmax + 1))


def random_rotation(seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(4, 4)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def unit_points(n, seed):
    x = np.random.default_rng(seed).normal(size=(n, 4))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


MU1 = np.array([1.0, 2.0, -2.0, 4.0]) / 5.0
MU2 = np.array([-0.5, 0.5, 0.5, 0.5])


# -- the basis itself -----------------------------------------------------------------------


def test_dispatch_layout_and_radial_functions():
    b = mf.SphereBasis(6, dim=4)
    assert isinstance(b, Sphere3Basis) and b.dim == 4 and not b.is_zonal
    assert isinstance(mf.SphereBasis(6), mf.SphereBasis)  # dim = 3 stays S^2
    assert b.coeff_shape == (7 * 8 * 15 // 6,)
    assert np.array_equal(np.bincount(b.degrees), (np.arange(7) + 1) ** 2)
    assert np.all(np.diff(b.degrees) >= 0)  # nested degrees (convert truncates)
    assert np.array_equal(b.degrees, np.abs(b.orders1) + np.abs(b.orders2) + 2 * b.radial)
    # Jacobi parameter order: R_k^{p,q} = cos^p sin^q P_k^{(q, p)}(u) / h_k (scipy reference)
    from scipy.special import eval_jacobi, gammaln

    u = np.linspace(-0.95, 0.95, 7)
    R = radial_functions(6, u)
    for p, q, k in [(0, 0, 3), (2, 1, 1), (1, 3, 1), (0, 4, 1), (3, 0, 1), (2, 2, 1)]:
        a, bb = q, p
        h2 = math.exp(gammaln(k + a + 1) + gammaln(k + bb + 1) - gammaln(k + a + bb + 1)
                      - math.log(math.factorial(k)) - math.log(2 * k + a + bb + 1))
        # h2 = int ((1-u)/2)^a ((1+u)/2)^b P_k^2 du/2 (the Jacobi norm, DLMF 18.3)
        ref = (((1 + u) / 2) ** (p / 2) * ((1 - u) / 2) ** (q / 2) * eval_jacobi(k, a, bb, u)
               / math.sqrt(h2))
        assert np.max(np.abs(R[p, q, :, k] - ref)) < 1e-13, (p, q, k)
    assert np.all(R[3, 3, :, 1] == 0)  # degree 8 > lmax: zero


def test_orthonormality_calculus_and_evaluation():
    b = Sphere3Basis(10)
    n = b.coeff_shape[0]
    F = b.backward(np.eye(n)).reshape(n, -1)
    G = (F * b.weights.reshape(-1)) @ F.T  # quadrature exact to degree 30: round-off of
    assert np.max(np.abs(G - np.eye(n))) < 1e-12  # sums of N = 37k terms (~eps sqrt(N) 10)
    rng = np.random.default_rng(0)
    c = rng.standard_normal((2, n))
    d = b.div(b.grad(c))
    assert np.max(np.abs(d - b.laplacian * c)) < 1e-13 * b.lmax**2
    assert np.max(np.abs(d[..., 0])) == 0.0
    # grad of the coordinate functions: e_i - x_i x (ambient)
    for i in range(4):
        g = b.tangent_to_cartesian(b.grad(b.forward(b.points[..., i])))
        assert np.max(np.abs(g - (np.eye(4)[i] - b.points[..., i:i + 1] * b.points))) < 1e-13
    # evaluation off the grid against a polynomial, and the zonal rows against U_k
    x = unit_points(40, 1)
    poly = lambda p: p[..., 0] ** 3 * p[..., 2] - 2 * p[..., 1] * p[..., 3] ** 2 + p[..., 3]  # noqa: E731
    assert np.max(np.abs(b.evaluate(b.forward(poly(b.points)), x) - poly(x))) < 1e-13
    rho = b.forward(1 + 0.3 * b.points[..., 0] ** 2 + 0.2 * b.points[..., 0] * b.points[..., 3])
    t = b.points[..., 0]
    for k in range(4):
        ref = b.integrate(b.backward(rho) * eval_chebyu(k, t) / (k + 1))
        assert abs(b.amplitude(rho, k) - ref) < 1e-14
    assert np.max(np.abs(b.degree_power(c[0]) ** 2 - np.bincount(
        b.degrees, weights=c[0] ** 2))) < 1e-13


def test_masks_blocks_generators_and_resolution():
    b = Sphere3Basis(8)
    rho = b.forward(np.exp(0.7 * b.points[..., 0]))  # zonal about e_1
    sym = b.subspace_mask(symmetric=True)
    assert np.max(np.abs(b.to_real(rho)[~sym])) < 1e-15  # zonal about e_1 lies in the mask
    assert np.array_equal(b.branch_mask(1), sym)
    assert np.max(np.abs(b.to_real(b.forward(b.points[..., 0] ** 2))[~b.branch_mask(2)])) < 1e-15
    gens = b.rotation_generators(rho)
    assert len(gens) == 6
    norms = [np.linalg.norm(g) for g in gens]  # L_1j move e_1, the others fix it
    assert min(norms[:3]) > 0.1 and max(norms[3:]) < 1e-14
    assert all(np.max(np.abs(b.to_real(g)[sym])) < 1e-14 for g in gens)  # orbit leaves it
    blocks = b.invariant_blocks(rho)
    assert np.array_equal(np.sort(np.concatenate(blocks)), np.arange(b.n_real))
    assert len(b.invariant_blocks(b.forward(np.exp(b.points[..., 3])))) == 1
    # L_ij f = x_i d_j f - x_j d_i f on a polynomial: L_34 (x_3 x_1) = -x_4 x_1
    g = b.rotation_generators(b.forward(b.points[..., 2] * b.points[..., 0]))[5]
    assert np.max(np.abs(g + b.forward(b.points[..., 3] * b.points[..., 0]))) < 1e-14
    fine = b.with_max_degree(12)
    assert np.max(np.abs(fine.convert(b.convert(rho, fine), b) - rho)) == 0
    x = unit_points(10, 2)
    assert np.max(np.abs(fine.evaluate(b.convert(rho, fine), x) - b.evaluate(rho, x))) < 1e-13


def test_bad_input():
    with pytest.raises(ValueError, match="dim must be 3"):
        mf.SphereBasis(4, dim=5)
    with pytest.raises(TypeError, match="dim"):
        mf.SphereBasis(4, dim=4.0)
    with pytest.raises(ValueError, match="lmax"):
        Sphere3Basis(0)
    with pytest.raises(ValueError, match="dealias"):
        Sphere3Basis(4, dealias=0.5)
    with pytest.raises(MemoryError, match=r"lmax=400.*use lmax in \[1, "):
        Sphere3Basis(400)
    b = Sphere3Basis(4)
    with pytest.raises(ValueError, match="trailing grid shape"):
        b.forward(np.ones((4, 15)))
    with pytest.raises(ValueError, match="coefficients must have 55"):
        b.backward(np.ones(54))
    with pytest.raises(ValueError, match=r"\(3, \*batch"):
        b.div(np.ones((2,) + b.shape))
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        b.evaluate(np.ones(55), np.ones((3, 3)))
    with pytest.raises(ValueError, match="degree k"):
        b.amplitude(np.ones(55), 5)
    with pytest.raises(ValueError, match="convert to a Sphere3Basis"):
        b.convert(np.ones(55), mf.SphereBasis(4))


# -- dynamics against closed forms ----------------------------------------------------------


def test_heat_flow_of_two_von_mises_fisher_densities():
    # pure diffusion (zero kernel) of 0.6 vMF(3, mu1) + 0.4 vMF(2, mu2), not zonal: the
    # degree-l part decays as e^{-l(l+2) t / kappa} (closed form: vmf_series). ETDRK4 is exact
    # on the linear part; the degree > 20 tail of the data is (l+1)^2 I_{l+1}(3)/I_1(3)
    # ~ 1e-14, so the error is round-off (~1e-13).
    b = Sphere3Basis(20)
    kappa = 2.0
    model = mf.MeanFieldModel(mf.ZonalKernel(coefficients=np.zeros(4), dim=4), kappa=kappa,
                              dim=4)
    rho0 = 0.6 * vmf_series(b.points, MU1, 3.0) + 0.4 * vmf_series(b.points, MU2, 2.0)
    direct = (0.6 * np.exp(3.0 * b.points @ MU1) / lam(0, 3.0)
              + 0.4 * np.exp(2.0 * b.points @ MU2) / lam(0, 2.0))
    assert np.max(np.abs(rho0 - direct)) < 1e-12  # the series is the density
    t = [0.0, 0.05, 0.3]
    sol = mf.evolve(model, b, direct, 0.3, t, dt=0.3 / 8)
    assert sol.success, sol.message
    x = unit_points(30, 3)
    for i, ti in enumerate(t):
        exact = (0.6 * vmf_series(x, MU1, 3.0, ti, kappa)
                 + 0.4 * vmf_series(x, MU2, 2.0, ti, kappa))
        assert np.max(np.abs(b.evaluate(sol.coeffs[i], x) - exact)) < 1e-12, ti
    assert np.max(np.abs(sol.mass - 1.0)) < 1e-14


def test_growth_rates_of_the_uniform_state():
    # linear_stability at rho = 1 (USA): degree l has (l+1)^2 eigenvalues
    # l(l+2)(lambda_l(beta)/beta - 1/kappa); eigensolver round-off eps max|lambda|.
    beta, kappa = 2.0, 3.0
    b = Sphere3Basis(4)
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=kappa, dim=4)
    stab = mf.linear_stability(model, b, b.forward(np.ones(b.shape)))
    exact = np.concatenate([np.full((l + 1) ** 2, l * (l + 2) * (lam(l, beta) / beta
                                                                 - 1 / kappa))
                            for l in range(1, 5)])
    got = np.sort(np.real(stab.eigenvalues))
    assert np.max(np.abs(got - np.sort(exact))) < 1e-12 * np.max(np.abs(exact))
    assert stab.morse_index == int(np.sum(exact > 0)) == 4  # kappa g_1 > 1 only


def test_zonal_data_agree_with_the_zonal_basis():
    # densities of <x, e_1>: the same fixed-step ETDRK4 run and the same Newton solve on
    # Sphere3Basis(L) and ZonalBasis(4, L) (both exact for degree 3L: round-off only)
    L = 14
    b, z = Sphere3Basis(L), mf.ZonalBasis(4, L)
    model = mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=1.1 / lam(1, 1.0), dim=4)
    t = [0.0, 0.5, 1.0]
    sb = mf.evolve(model, b, mf.initial.von_mises(b, 1.0, mean=[1, 0, 0, 0]), 1.0, t, dt=1 / 16)
    sz = mf.evolve(model, z, mf.initial.von_mises(z, 1.0), 1.0, t, dt=1 / 16)
    assert sb.success and sz.success
    x = unit_points(25, 4)
    diff = np.abs(b.evaluate(sb.coeffs, x) - z.evaluate(sz.coeffs, x[:, 0]))
    assert np.max(diff) < 1e-10
    assert abs(sb.amplitude(1)[-1] - sb.amplitude(1)[0]) > 1e-2  # it did move
    stb = mf.stationary_state(model, b, mf.initial.von_mises(b, 4.0, mean=[1, 0, 0, 0]),
                              stability=False)
    stz = mf.stationary_state(model, z, mf.initial.von_mises(z, 4.0), stability=False)
    assert stb.amplitude(1) > 0.3 and "from the guess" in stb.found_by
    assert np.max(np.abs(stb.basis.evaluate(stb.coeffs, x)
                         - z.evaluate(stz.coeffs, x[:, 0]))) < 1e-10


def test_spectral_convergence_of_the_kuramoto_state():
    # beta = 0 (G = t) on S^3 at kappa = 6: the stationary state is von Mises–Fisher with
    # a = kappa r, r = I_2(a)/I_1(a) (Frouvelle–Liu); the error in <x_1> falls
    # geometrically with lmax (measured: 1.4e-3, 6.6e-6, 1.2e-8, 1.1e-11 at lmax 4..10, a
    # factor ~10^-1.4 per degree) down to round-off at lmax 12.
    kappa = 6.0
    r_exact = brentq(lambda r: r - iv(2, kappa * r) / iv(1, kappa * r), 1e-3, 1.0,
                     xtol=1e-16)
    model = mf.MeanFieldModel(mf.KuramotoKernel(), kappa=kappa, dim=4)
    errs = []
    for L in (4, 6, 8, 10, 12):
        b = Sphere3Basis(L)  # lmax 4, 6: the truncated state dips below 0 (min -1e-2)
        st = mf.stationary_state(model, b, mf.initial.von_mises(b, 5.0, mean=[1, 0, 0, 0]),
                                 stability=False, raise_on_failure=False)
        assert st.converged and st.residual < 1e-12
        errs.append(abs(st.amplitude(1) - r_exact))
    errs = np.array(errs)
    assert errs[0] > 1e-4 and np.all(errs[1:4] < 0.01 * errs[:3]), errs
    assert errs[-1] < 1e-13, errs


# -- invariants and symmetry ---------------------------------------------------------------


def test_noisy_usa_flow_mass_free_energy_and_rotation_invariance():
    # beta = 1, kappa = 0.8 kappa_1 (kappa_1 = 1/g_1): F decreases and the mass is kept to
    # round-off; the run from R rho0 is R (the run from rho0): degree truncation commutes
    # with rotations and the dealiased products are exact, so to round-off (1e-11).
    beta = 1.0
    kappa = 0.8 * beta / lam(1, beta)
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=kappa, dim=4)
    b = Sphere3Basis(12)  # the kernel's tail beyond degree 12: 1e-14
    R = random_rotation(5)

    def rho0(x):
        return 0.5 * np.exp(1.2 * x @ MU1) + 0.5 * np.exp(0.8 * x @ MU2)

    t = np.linspace(0.0, 1.0, 5)
    s1 = mf.evolve(model, b, b.from_function(rho0), 1.0, t, dt=1 / 16, normalize=True)
    s2 = mf.evolve(model, b, b.from_function(lambda x: rho0(x @ R)), 1.0, t, dt=1 / 16,
                   normalize=True)
    assert s1.success and s2.success
    assert np.max(np.abs(s1.mass - 1.0)) < 1e-14
    F = s1.free_energy
    assert np.all(np.diff(F) < 0) and F[-1] < F[0] - 1e-3
    x = unit_points(30, 6)  # (R rho)(x) = rho(R^T x); row vectors: x @ R = R^T x
    assert np.max(np.abs(b.evaluate(s2.coeffs[-1], x) - b.evaluate(s1.coeffs[-1], x @ R))) \
        < 1e-11
    assert np.max(np.abs(s1.coeffs[-1] - s1.coeffs[0])) > 1e-2


# -- the dense attention head ---------------------------------------------------------------


@pytest.fixture(scope="module")
def small():
    return Sphere3Basis(6)


def test_identity_dense_head_is_the_isotropic_model(small):
    # Reference: the kernel model (Funk–Hecke multipliers). The dense operator integrates
    # the kernel times degree-6 functions on a grid exact to degree 18: the error is the
    # kernel's coefficient near degree 12 (I_13(1)/I_2(1) ~ 1e-14) plus round-off.
    b = small
    kern = mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=4.0, dim=4)
    dense = mf.MeanFieldModel(mf.AttentionLayer(1.0, method="quadrature"), kappa=4.0, dim=4)
    c = b.forward(b.from_function(lambda x: np.exp(0.8 * x @ MU1)))
    c = c / c[0]
    scale = np.max(np.abs(kern.rhs(b, c)))
    assert np.max(np.abs(dense.rhs(b, c) - kern.rhs(b, c))) < 1e-12 * max(scale, 1.0)
    dc = np.random.default_rng(7).normal(size=(2,) + b.coeff_shape) * 0.1
    assert np.max(np.abs(dense.linearization(b, c)(dc) - kern.linearization(b, c)(dc))) < 1e-12


def test_weighted_dense_head_converges_to_the_defining_integral_and_runs(small):
    # a non-identity head (Q, K, V = I + 0.2 N(0,1), ||Q^T K|| = 1.6): its velocity against
    # direct quadrature of P_x int e^{beta <Qx, Ky>} V y rho(y) d sigma(y) on the grid (exact
    # for this degree-2 density up to the integrand's degree > 3 lmax tail). The dense path
    # keeps the field to degree lmax: the error falls by ~100 per two degrees (measured
    # 3.7e-2, 7.1e-4, 6.7e-6 at lmax 2, 4, 6).
    rng = np.random.default_rng(8)
    Q, K, V = (np.eye(4) + 0.2 * rng.normal(size=(4, 4)) for _ in range(3))
    model = mf.MeanFieldModel(mf.AttentionLayer(0.8, Q=Q, K=K, V=V), kappa=4.0, dim=4)
    assert model.interaction.symmetry is None
    errs = []
    for b in (Sphere3Basis(2), Sphere3Basis(4), small):
        rho = b.from_function(lambda x: 1 + 0.3 * x @ MU1 + 0.2 * x[..., 0] * x[..., 3])
        c = b.forward(rho / b.integrate(rho))
        X = b.points.reshape(-1, 4)
        E = np.exp(0.8 * (X @ Q.T) @ (X @ K.T).T) * (b.weights * b.backward(c)).reshape(-1)
        u = E @ (X @ V.T)
        u = u - np.sum(u * X, axis=1)[:, None] * X
        v = b.tangent_to_cartesian(model.velocity(b, c)).reshape(-1, 4)
        errs.append(np.max(np.abs(v - u)))
    assert errs[0] > 1e-3 and errs[1] < errs[0] / 30 and errs[2] < errs[1] / 30, errs
    with pytest.warns(UserWarning, match="under-resolved"):  # top modes 2e-4 at lmax 6
        sol = mf.evolve(model, small, small.backward(c), 0.5, [0.0, 0.5], dt=1 / 16,
                        resolution_tol=1e-4)  # the kernel's tail beyond degree 6: 1e-5
    assert sol.success and np.max(np.abs(sol.mass - 1.0)) < 1e-13
    assert np.max(np.abs(sol.coeffs[-1] - sol.coeffs[0])) > 1e-3
