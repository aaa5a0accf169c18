"""Attention layers with weights on the PDE side (meanfield.interactions: layers, quadrature,
fields) through the public solvers: evolve, stationary_state, linear_stability,
bifurcation_diagram, free_energy and the figures.

Independent references used below (each test names its own):

* DESIGN.md §1: the isotropic kernel model ``AttentionKernel(beta)`` (diagonal Fourier /
  Funk–Hecke multipliers), its growth rates of rho = 1, USA: k^2 (I_k(beta)/beta - 1/kappa),
  SA: k^2 (I_k(beta)/(beta I_0(beta)) - 1/kappa) on the circle.
* The defining integral of a head, v(x) = P_x int e^{beta <Qx, Ky>} V y rho(y) d sigma(y)
  (USA; SA divides by int e^{beta <Qx, Ky>} rho), evaluated directly in numpy: the trapezoid
  rule on the circle and the Gauss–Legendre x trapezoid rule on S^2, both spectrally accurate
  for these analytic integrands.
* Gradient structure (literature: Geshkovski, Letrouit, Polyanskiy, Rigollet, "A mathematical
  perspective on Transformers", and Sander et al., "Sinkformers"): for A = Q^T K symmetric and
  V = A, USA is the Wasserstein gradient flow of
      F = (1/kappa) int rho log rho - (1/(2 beta)) int int e^{beta <x, A y>} rho rho,
  so F decreases along the flow, the linearization at a critical point is self-adjoint in the
  Hessian metric (real spectrum), and stationary states satisfy rho ∝ exp(kappa W),
  W = (1/beta) int e^{beta <x, A y>} rho(y) d sigma(y).
* Fields that are the gradient of a fixed potential Phi (an external potential, a linear
  perceptron with symmetric W) have the stationary state rho ∝ exp(kappa Phi) (von Mises /
  von Mises–Fisher for Phi = <h, x>), normalized w.r.t. sigma.

Tolerances: the dense-operator path is compared with the multiplier path to round-off of its
dense products (about n_coefficients * eps * e^{|beta| ||A||}, below 1e-13 for the sizes here);
Newton results to their stopping tolerance (scaled residual 1e-12, so ~1e-11 in the state);
continuation results to the corrector tolerance (1e-11).
"""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pytest
from scipy.special import iv, ivp

import meanfield as mf
from meanfield.interactions import AttentionHead
from meanfield.interactions.quadrature import DenseHead

EPS = np.finfo(float).eps

matplotlib.use("Agg")

J2 = np.array([[0.0, -1.0], [1.0, 0.0]])  # rotation by pi/2 (the SO(2) generator)
A_DIAG = np.diag([1.5, 0.5])  # an anisotropic, symmetric, invertible Q^T K on the circle


def spectra_distance(a, b) -> float:
    """max |a_i - b_pi(i)| over the best one-to-one matching pi (the two spectra as sets with
    multiplicity; sorting is ambiguous for conjugate pairs with equal real parts)."""
    from scipy.optimize import linear_sum_assignment

    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    cost = np.abs(a[:, None] - b[None, :])
    i, j = linear_sum_assignment(cost)
    return float(cost[i, j].max())


def resolved_part(ev, fraction=0.1):
    """Eigenvalues with |lambda| < fraction max |lambda|: those the basis resolves (the
    stiffest ones are dominated by the truncation, which is not self-adjoint)."""
    ev = np.asarray(ev)
    return ev[np.abs(ev) < fraction * np.max(np.abs(ev))]


def rel(a, b) -> float:
    """max |a - b| / max |b|."""
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


# -- smooth test densities (analytic, so their spectra decay faster than exponentially) -----


def rho_circle(theta):
    return np.exp(0.8 * np.cos(theta - 0.3) + 0.3 * np.sin(2 * theta))


_TH = 2 * np.pi * np.arange(4096) / 4096
Z_CIRCLE = float(np.mean(rho_circle(_TH)))  # trapezoid: exact to round-off (periodic, analytic)

H3 = np.array([0.4, -0.3, 0.6])


def rho_sphere(x):
    return np.exp(x @ H3 + 0.3 * x[..., 0] * x[..., 1])


_FINE_S2 = mf.SphereBasis(40)
Z_SPHERE = float(_FINE_S2.integrate(rho_sphere(_FINE_S2.points)))


def rho_sphere_poly(b):
    """A positive degree-2 density on b's grid (exactly resolved by any lmax >= 2)."""
    x = b.points
    rho = 1 + 0.3 * x[..., 2] + 0.2 * x[..., 0] * x[..., 1] + 0.1 * x[..., 0]
    return rho / b.integrate(rho)


def circle_coeffs(b):
    return b.forward(rho_circle(b.grid) / Z_CIRCLE)


def sphere_coeffs(b):
    return b.forward(rho_sphere(b.points) / Z_SPHERE)


def smooth_directions(b, n, seed=0):
    """n random perturbations of mass 0 with decaying coefficients (batched)."""
    rng = np.random.default_rng(seed)
    deg = np.asarray(b.degrees, dtype=float)
    dc = rng.standard_normal((n,) + b.coeff_shape) * np.exp(-deg / 3.0)
    if np.iscomplexobj(np.zeros(1, b.coeff_dtype)):
        dc = dc + 1j * rng.standard_normal((n,) + b.coeff_shape) * np.exp(-deg / 3.0)
    dc[..., 0] = 0.0
    return dc.astype(b.coeff_dtype)


def random_symmetric_3x3(seed=1):
    M = np.random.default_rng(seed).standard_normal((3, 3))
    A = 0.5 * (M + M.T)
    return A / np.linalg.norm(A, 2)


A3 = random_symmetric_3x3()


def direct_velocity_circle(b, beta, A, V, dynamics, rho, n_quad=4096):
    """P_x int e^{beta x^T A y} V y rho(y) d sigma(y) (/ int e^{..} rho for SA) at the grid
    of b, by the trapezoid rule in y; returned as the e_theta component (the circle layout)."""
    ty = 2 * np.pi * np.arange(n_quad) / n_quad
    Y = np.stack([np.cos(ty), np.sin(ty)], axis=-1)
    w = rho(ty) / n_quad
    E = np.exp(beta * (b.points @ A) @ Y.T) * w
    u = E @ (Y @ V.T)
    e_theta = np.stack([-np.sin(b.grid), np.cos(b.grid)], axis=-1)
    v = np.sum(u * e_theta, axis=-1)
    return v / E.sum(axis=1) if dynamics == "sa" else v


def direct_velocity_sphere(b, beta, A, V, dynamics, rho, fine):
    """The same on S^2, with the quadrature of ``fine``'s grid; ambient vectors (..., 3)."""
    X = b.points.reshape(-1, 3)
    Y = fine.points.reshape(-1, 3)
    w = fine.weights.reshape(-1) * rho(Y)
    E = np.exp(beta * (X @ A) @ Y.T) * w
    u = E @ (Y @ V.T)
    u = u - np.sum(u * X, axis=1)[:, None] * X
    if dynamics == "sa":
        u = u / E.sum(axis=1)[:, None]
    return u.reshape(b.points.shape)


# =========================================================================================
# 1. identity weights through the dense path reproduce the isotropic kernel model
# =========================================================================================


def identity_pair(beta, kappa, dynamics, dim=2):
    kern = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=kappa, dynamics=dynamics, dim=dim)
    dense = mf.MeanFieldModel(mf.AttentionLayer(beta, method="quadrature"), kappa=kappa,
                              dynamics=dynamics, dim=dim)
    return kern, dense


@pytest.mark.parametrize("dynamics", ["usa", "sa"])
def test_identity_dense_head_declarations(dynamics):
    # Reference: DESIGN.md §1 -- the isotropic model commutes with O(d), keeps rho = 1
    # stationary and is a gradient flow under USA only; the dense head must say the same.
    b = mf.CircleBasis(24)
    kern, dense = identity_pair(2.0, 1.0, dynamics)
    inter = dense.interaction
    assert isinstance(inter, AttentionHead)
    assert isinstance(dense.evaluator(b), DenseHead)  # really the dense-operator path
    assert inter.symmetry == "O(d)" and inter.uniform_stationary
    assert inter.has_free_energy == (dynamics == "usa") == kern.interaction.has_free_energy


@pytest.mark.parametrize("dynamics", ["usa", "sa"])
@pytest.mark.parametrize("beta", [3.0, -1.5])
def test_identity_dense_head_rhs_and_linearization_circle(dynamics, beta):
    # Reference: the kernel model (Fourier multipliers I_k(beta)). Both are exact up to the
    # kernel's tail beyond k = 31 (I_32(3) / I_1(3) ~ 1e-30), so they agree to round-off of
    # the dense products: sums of terms up to e^|beta| and a spectral derivative (factor up
    # to lmax) give 5 eps lmax e^|beta| relative (7e-13 at beta = 3; measured 5e-14).
    b = mf.CircleBasis(32)
    kern, dense = identity_pair(beta, 1.5, dynamics)
    c = circle_coeffs(b)
    tol = 5 * EPS * b.max_degree * np.exp(abs(beta))
    assert rel(dense.rhs(b, c), kern.rhs(b, c)) < tol
    assert rel(dense.velocity(b, c), kern.velocity(b, c)) < tol
    dc = smooth_directions(b, 3)
    lk, ld = kern.linearization(b, c)(dc), dense.linearization(b, c)(dc)
    assert ld.shape == dc.shape
    assert rel(ld, lk) < tol


@pytest.fixture(scope="module")
def s2_identity():
    """SphereBasis(14) and the kernel / dense-head pairs for USA and SA, beta = 1.5 (the
    Funk–Hecke tail beyond degree 14 is ~1e-15 of lambda_1)."""
    b = mf.SphereBasis(14)
    pairs = {dyn: identity_pair(1.5, 4.0 if dyn == "usa" else 8.0, dyn, dim=3)
             for dyn in ("usa", "sa")}
    return b, pairs


@pytest.mark.parametrize("dynamics", ["usa", "sa"])
def test_identity_dense_head_rhs_and_linearization_sphere(s2_identity, dynamics):
    # Reference: the kernel model on S^2 (Funk–Hecke multipliers lambda_l(beta)). With an
    # invertible A the dense head takes the field as A^{-1}(grad_S W + x R), differentiating
    # W spectrally: its round-off (eps e^{|beta|}) is amplified by up to lmax^2 through the
    # gradient and the divergence, so the tolerance is 5 eps lmax^2 e^{|beta|} (~1e-12).
    b, pairs = s2_identity
    kern, dense = pairs[dynamics]
    assert isinstance(dense.evaluator(b), DenseHead)
    tol = 5 * np.finfo(float).eps * b.lmax**2 * np.exp(1.5)
    c = sphere_coeffs(b)
    assert rel(dense.rhs(b, c), kern.rhs(b, c)) < tol
    dc = smooth_directions(b, 2)
    assert rel(dense.linearization(b, c)(dc), kern.linearization(b, c)(dc)) < tol


@pytest.mark.parametrize("dynamics", ["usa", "sa"])
def test_identity_dense_head_evolve_circle(dynamics):
    # Reference: evolve of the kernel model with the same fixed steps (ETDRK4, dt = 0.02):
    # the two runs differ by the per-step round-off (1e-15) accumulated over 100 steps and
    # amplified by at most e^{sigma_1 t} (sigma_1 < 0.4): 1e-12 relative.
    b = mf.CircleBasis(48)
    kern, dense = identity_pair(3.0, 1.2 if dynamics == "usa" else 6.0, dynamics)
    rho0 = rho_circle(b.grid) / Z_CIRCLE
    s_k = mf.evolve(kern, b, rho0, 2.0, [0, 1, 2], dt=0.02)
    s_d = mf.evolve(dense, b, rho0, 2.0, [0, 1, 2], dt=0.02)
    assert s_k.success and s_d.success
    assert rel(s_d.rho[-1], s_k.rho[-1]) < 1e-12
    assert abs(s_d.amplitude(1)[-1] - s_k.amplitude(1)[-1]) < 1e-12


@pytest.mark.parametrize("dynamics", ["usa", "sa"])
def test_identity_dense_head_evolve_sphere(s2_identity, dynamics):
    # Reference: the kernel model's run with the same fixed steps; round-off only (1e-12).
    b, pairs = s2_identity
    kern, dense = pairs[dynamics]
    rho0 = rho_sphere_poly(b)
    s_k = mf.evolve(kern, b, rho0, 1.0, [0, 1], dt=0.05)
    s_d = mf.evolve(dense, b, rho0, 1.0, [0, 1], dt=0.05)
    assert s_k.success and s_d.success
    assert rel(s_d.rho[-1], s_k.rho[-1]) < 1e-12


@pytest.mark.parametrize("dynamics", ["usa", "sa"])
def test_identity_dense_head_stationary_state_and_spectrum(dynamics):
    # Reference: stationary_state / linear_stability of the kernel model (1-cluster state).
    # Newton stops at a scaled residual <= 1e-12 and ||J^{-1}|| = O(1) here, so the states
    # agree to 1e-10; the spectra (eigensolver backward error eps ||J||) to 1e-11 max|lambda|.
    b = mf.CircleBasis(32)
    kern, dense = identity_pair(3.0, 1.2 if dynamics == "usa" else 6.0, dynamics)
    guess = mf.initial.von_mises(b, 6.0)
    st_k = mf.stationary_state(kern, b, guess)
    st_d = mf.stationary_state(dense, b, guess)  # symmetric defaults to True: O(d)
    assert st_k.converged and st_d.converged
    assert st_k.amplitude(1) > 0.5  # a genuine cluster, not the uniform state
    assert abs(st_d.amplitude(1) - st_k.amplitude(1)) < 1e-10
    assert rel(st_d.rho, st_k.rho) < 1e-10
    ek, ed = st_k.stability.eigenvalues, st_d.stability.eigenvalues
    assert spectra_distance(ed, ek) < 1e-11 * np.max(np.abs(ek))
    assert st_d.stable == st_k.stable and st_d.morse_index == st_k.morse_index
    assert len(st_d.stability.symmetry_eigenvalues) == 1  # the rotation, set aside
    if dynamics == "usa":
        assert abs(st_d.free_energy - st_k.free_energy) < 1e-10


def _compare_diagrams(d_k, d_d, tol_point=1e-12, tol_curve=1e-9):
    """Bifurcation points (Brent on the growth rate: round-off), their kinds, folds and
    first-order transitions (located along the branch to the corrector tolerance 1e-11),
    and the branch's amplitude at the upper bound (landed on by Brent)."""
    assert len(d_d.bifurcation_points) == len(d_k.bifurcation_points) >= 1
    for pk, pd in zip(d_k.bifurcation_points, d_d.bifurcation_points, strict=True):
        assert pd.mode == pk.mode and pd.kind == pk.kind
        assert abs(pd.param - pk.param) < tol_point * abs(pk.param)
    assert len(d_d.folds) == len(d_k.folds)
    for fk, fd in zip(d_k.folds, d_d.folds, strict=True):
        assert abs(fd.param - fk.param) < tol_curve * abs(fk.param)
    assert len(d_d.first_order_transitions) == len(d_k.first_order_transitions)
    for tk, td in zip(d_k.first_order_transitions, d_d.first_order_transitions, strict=True):
        assert abs(td.param - tk.param) < tol_curve * abs(tk.param)
    for bk, bd in zip(d_k.branches, d_d.branches, strict=True):
        assert bd.message == bk.message
        assert abs(bd.param[-1] - bk.param[-1]) < tol_curve
        assert abs(bd.amplitude[-1] - bk.amplitude[-1]) < tol_curve


@pytest.mark.parametrize("dynamics, bounds, n_folds", [("usa", (0.6, 1.0), 1),
                                                       ("sa", (3.0, 4.5), 0)])
def test_identity_dense_head_bifurcation_diagram_in_kappa(dynamics, bounds, n_folds):
    # Reference: the kernel model's diagram; the bifurcation point is also the closed form
    # kappa_1 = beta / I_1(beta) (USA) or beta I_0(beta) / I_1(beta) (SA), DESIGN.md §1.
    b = mf.CircleBasis(24)
    kern, dense = identity_pair(3.0, 1.0, dynamics)
    d_k = mf.bifurcation_diagram(kern, b, "kappa", bounds, modes=(1,))
    d_d = mf.bifurcation_diagram(dense, b, "kappa", bounds, modes=(1,))
    _compare_diagrams(d_k, d_d)
    k1 = 3.0 / iv(1, 3.0) if dynamics == "usa" else 3.0 * iv(0, 3.0) / iv(1, 3.0)
    assert abs(d_d.bifurcation_points[0].param - k1) < 1e-12 * k1
    assert len(d_d.folds) == n_folds  # USA beta = 3 > beta_*: subcritical with a fold


@pytest.mark.parametrize("dynamics, kappa, bounds", [("usa", 1.0, (2.2, 2.8)),
                                                     ("sa", 4.0, (2.5, 4.0))])
def test_identity_dense_head_bifurcation_diagram_in_beta(dynamics, kappa, bounds):
    # Reference: the kernel model's diagram in beta (param='beta' sets the head's beta). The
    # bifurcation point solves kappa * gain_1(beta) = 1 (USA: kappa I_1(beta) = beta).
    from scipy.optimize import brentq

    b = mf.CircleBasis(24)
    kern, dense = identity_pair(3.0, kappa, dynamics)
    d_k = mf.bifurcation_diagram(kern, b, "beta", bounds, modes=(1,), ds=0.05)
    d_d = mf.bifurcation_diagram(dense, b, "beta", bounds, modes=(1,), ds=0.05)
    _compare_diagrams(d_k, d_d)
    if dynamics == "usa":
        beta1 = brentq(lambda x: kappa * iv(1, x) - x, *bounds, xtol=1e-15)
    else:
        beta1 = brentq(lambda x: kappa * iv(1, x) - x * iv(0, x), *bounds, xtol=1e-15)
    assert abs(d_d.bifurcation_points[0].param - beta1) < 1e-12 * beta1


# Q^T K = a I with V = v I: (Q, K, V, a, v); the third has rectangular (3, 2) weights.
_P3 = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
SCALAR_WEIGHTS = [
    (2.0 * np.eye(2), 0.75 * np.eye(2), 0.8 * np.eye(2), 1.5, 0.8),
    (np.eye(2), -0.5 * np.eye(2), 1.3 * np.eye(2), -0.5, 1.3),
    (_P3, 1.5 * _P3, -0.6 * np.eye(2), 1.5, -0.6),
]


@pytest.mark.parametrize("method", ["auto", "quadrature"])
@pytest.mark.parametrize("dynamics", ["usa", "sa"])
@pytest.mark.parametrize("Q, K, V, a, v", SCALAR_WEIGHTS)
def test_scalar_weights_are_the_scaled_kernel(method, dynamics, Q, K, V, a, v):
    # Reference: e^{beta <Qx, Ky>} V y = v e^{(beta a) <x, y>} y, so the head is v times the
    # kernel model with beta a (the transport term; SA: v times the softmax field). Growth
    # rates of rho = 1 (closed form, DESIGN.md §1 with the gain scaled by v):
    #   USA: k^2 (v I_k(beta a)/(beta a) - 1/kappa),  SA: k^2 (v I_k/(beta a I_0) - 1/kappa),
    # checked both as declared and as the spectrum of the assembled Jacobian at rho = 1.
    beta, kappa = 2.0, 1.5
    b = mf.CircleBasis(24)
    layer = mf.AttentionLayer(beta, Q=Q, K=K, V=V, method=method)
    model = mf.MeanFieldModel(layer, kappa=kappa, dynamics=dynamics)
    assert model.interaction.symmetry == "O(d)" and model.interaction.uniform_stationary
    kern = mf.MeanFieldModel(mf.AttentionKernel(beta * a), kappa=kappa, dynamics=dynamics)
    c = circle_coeffs(b)
    N_layer, N_kern = model.nonlinear_term(b)(c), kern.nonlinear_term(b)(c)
    assert rel(N_layer, v * N_kern) < 1e-13
    ba = beta * a
    k = np.arange(b.n_modes)
    gain = v * iv(k, ba) / ba / (iv(0, ba) if dynamics == "sa" else 1.0)
    rates = k**2 * (gain - 1.0 / kappa)
    assert np.max(np.abs(model.growth_rates(6) - rates[:7])) < 1e-13 * np.max(np.abs(rates[:7]))
    stab = mf.linear_stability(model, b, b.forward(np.ones(b.shape)))
    expect = np.sort(np.repeat(rates[1:], 2))  # cosine and sine of each k
    assert np.max(np.abs(np.imag(stab.eigenvalues))) == 0.0
    got = np.sort(np.real(stab.eigenvalues))
    assert np.max(np.abs(got - expect)) < 1e-12 * np.max(np.abs(expect))


# =========================================================================================
# 2. a genuinely anisotropic head: spectral convergence and the defining integral
# =========================================================================================


@pytest.mark.parametrize("dynamics", ["usa", "sa"])
def test_weighted_head_spectral_convergence_circle(dynamics):
    # Reference: the same head on CircleBasis(64), whose truncation errors (the density's
    # coefficients ~ I_k(0.8)-like, the field's ~ I_k(beta ||A||) at k = 64) are ~1e-60.
    # The low coefficients k < 4 of the right-hand side must converge faster than
    # exponentially in n_modes: each step n -> n + 2 gains a factor >= 10 until round-off.
    layer = mf.AttentionLayer(2.0, Q=np.eye(2), K=A_DIAG)
    model = mf.MeanFieldModel(layer, kappa=2.0, dynamics=dynamics)
    assert model.interaction.symmetry is None and not model.interaction.uniform_stationary
    fine = mf.CircleBasis(64)
    ref = model.rhs(fine, circle_coeffs(fine))[:4]
    errs = []
    for n in (4, 6, 8, 10, 12, 14, 16, 20):
        b = mf.CircleBasis(n)
        errs.append(float(np.max(np.abs(model.rhs(b, circle_coeffs(b))[:4] - ref))))
    assert errs[0] > 1e-3  # the coarsest basis genuinely under-resolves
    for e0, e1 in zip(errs[:-1], errs[1:], strict=True):
        if e0 > 1e-12:
            assert e1 < e0 / 10, errs
    assert errs[-1] < 1e-13, errs  # round-off reached


# (Q, K, V) of general heads on the circle: invertible A; rank-one A with a general V;
# rectangular (3, 2) weights; a negative beta is exercised by the last one.
CIRCLE_HEADS = {
    "diagonal": (2.0, np.eye(2), A_DIAG, np.eye(2)),
    "rank-one": (1.5, np.array([[1.0, 0.3]]), np.array([[1.2, -0.4]]),
                 np.array([[0.5, 1.0], [-0.3, 0.8]])),
    "rectangular": (-1.2, np.array([[0.9, 0.2], [-0.3, 0.7], [0.4, 0.4]]),
                    np.array([[0.5, -0.6], [0.8, 0.1], [0.2, 0.9]]),
                    np.array([[1.0, 0.4], [0.4, -0.5]])),
}


@pytest.mark.parametrize("dynamics", ["usa", "sa"])
@pytest.mark.parametrize("name", list(CIRCLE_HEADS))
def test_weighted_head_velocity_is_the_defining_integral_circle(dynamics, name):
    # Reference: direct trapezoid quadrature (4096 nodes) of the defining integral, exact to
    # round-off for the periodic analytic integrand. The dense path keeps the field to degree
    # 31 (tail ~ I_32(beta ||A||) ~ 1e-30) and rounds off in products of 63 terms of size up
    # to e^{|beta| ||A||}: tolerance 1e-13 e^{|beta| ||A||} relative to max |v|.
    beta, Q, K, V = CIRCLE_HEADS[name]
    A = Q.T @ K
    model = mf.MeanFieldModel(mf.AttentionLayer(beta, Q=Q, K=K, V=V), kappa=1.0,
                              dynamics=dynamics)
    b = mf.CircleBasis(32)
    v = model.velocity(b, circle_coeffs(b))
    assert v.shape == (1,) + b.shape
    ref = direct_velocity_circle(b, beta, A, V, dynamics, lambda t: rho_circle(t) / Z_CIRCLE)
    tol = 1e-13 * np.exp(abs(beta) * np.linalg.norm(A, 2))
    assert rel(v[0], ref) < tol


def test_weighted_head_at_beta_zero_is_the_mean_field():
    # Reference (closed form): at beta = 0 the kernel is 1, so v(x) = P_x V m with
    # m = int y rho(y) d sigma (for USA and SA alike, the SA denominator being the mass 1).
    b = mf.CircleBasis(24)
    c = circle_coeffs(b)
    rho = b.backward(c)
    m = np.array([b.integrate(rho * np.cos(b.grid)), b.integrate(rho * np.sin(b.grid))])
    V = np.array([[0.7, -0.2], [0.5, 1.1]])
    e_theta = np.stack([-np.sin(b.grid), np.cos(b.grid)], axis=-1)
    expect = e_theta @ (V @ m)
    for dyn in ("usa", "sa"):
        model = mf.MeanFieldModel(mf.AttentionLayer(0.0, Q=np.eye(2), K=A_DIAG, V=V),
                                  kappa=1.0, dynamics=dyn)
        assert rel(model.velocity(b, c)[0], expect) < 1e-13


@pytest.fixture(scope="module")
def s2_fine_reference():
    """SphereBasis(16), where the head of the convergence test is resolved to round-off."""
    return mf.SphereBasis(16)


@pytest.mark.parametrize("dynamics", ["usa", "sa"])
def test_weighted_head_spectral_convergence_sphere(dynamics, s2_fine_reference):
    # Reference: the same head on SphereBasis(16); degrees <= 2 of the right-hand side must
    # gain a factor >= 30 per step lmax -> lmax + 2 until round-off (1e-13).
    layer = mf.AttentionLayer(1.5, K=A3)  # Q = I: A = a random symmetric 3x3, ||A|| = 1
    model = mf.MeanFieldModel(layer, kappa=2.0, dynamics=dynamics, dim=3)
    assert model.interaction.symmetry is None
    fine = s2_fine_reference
    ref = model.rhs(fine, sphere_coeffs(fine))[:9]
    errs = []
    for L in (2, 4, 6, 8, 10):
        b = mf.SphereBasis(L)
        errs.append(float(np.max(np.abs(model.rhs(b, sphere_coeffs(b))[:9] - ref))))
    assert errs[0] > 1e-4
    for e0, e1 in zip(errs[:-1], errs[1:], strict=True):
        if e0 > 1e-12:
            assert e1 < e0 / 30, errs
    assert errs[-1] < 1e-13, errs


SPHERE_HEADS = {
    "symmetric": (1.5, np.eye(3), A3, np.eye(3)),
    # rank-two A (Q, K are 2 x 3) with a general V: the d + 1 operator path
    "rank-two": (1.2, np.array([[1.0, 0.2, -0.3], [0.0, 0.8, 0.4]]),
                 np.array([[0.6, -0.5, 0.2], [0.3, 0.3, 0.9]]),
                 np.array([[0.9, 0.3, 0.0], [-0.2, 0.5, 0.4], [0.1, 0.0, 1.1]])),
}


@pytest.mark.parametrize("dynamics", ["usa", "sa"])
@pytest.mark.parametrize("name", list(SPHERE_HEADS))
def test_weighted_head_velocity_is_the_defining_integral_sphere(dynamics, name):
    # Reference: direct Gauss–Legendre x trapezoid quadrature of the defining integral on the
    # grid of SphereBasis(40) (exact to round-off for this analytic integrand), at the nodes
    # of SphereBasis(14). The dense path's field tail beyond degree 14 is < 1e-14 here
    # (the error is 1e-8, 1e-10, 3e-13 at lmax 8, 10, 12); tolerance 1e-13 e^{beta ||A||}.
    beta, Q, K, V = SPHERE_HEADS[name]
    A = Q.T @ K
    model = mf.MeanFieldModel(mf.AttentionLayer(beta, Q=Q, K=K, V=V), kappa=1.0,
                              dynamics=dynamics, dim=3)
    b = mf.SphereBasis(14)
    v = b.tangent_to_cartesian(model.velocity(b, sphere_coeffs(b)))
    ref = direct_velocity_sphere(b, beta, A, V, dynamics,
                                 lambda x: rho_sphere(x) / Z_SPHERE, _FINE_S2)
    assert rel(v, ref) < 1e-13 * np.exp(beta * np.linalg.norm(A, 2))


# =========================================================================================
# 3. gradient structure: A symmetric, V = A (and a rotational V that breaks it)
# =========================================================================================


def gibbs_defect_circle(b, beta, A, kappa, rho):
    """ptp over the grid of log rho - kappa W, W = (1/beta) int e^{beta x^T A y} rho(y):
    zero exactly at a stationary state of the gradient flow (Gibbs relation)."""
    E = np.exp(beta * (b.points @ A) @ b.points.T)  # trapezoid on b's own grid (spectral)
    W = (E @ rho) / b.grid_size / beta
    return float(np.ptp(np.log(rho) - kappa * W))


def test_gradient_head_declares_a_free_energy():
    # Reference: the literature fact of the module docstring (A symmetric, V = c A: gradient
    # flow under USA only; SA and a non-symmetric A are not gradient flows). Under SA the
    # USA functional is still reported for comparison, as for the isotropic SA kernel.
    for V, dyn, expect, reported in [(A_DIAG, "usa", True, True),
                                     (2.0 * A_DIAG, "usa", True, True),
                                     (A_DIAG, "sa", False, True), (np.eye(2), "usa", False, False),
                                     (A_DIAG + 0.5 * J2, "usa", False, False)]:
        model = mf.MeanFieldModel(mf.AttentionLayer(1.0, K=A_DIAG, V=V), kappa=1.0,
                                  dynamics=dyn)
        assert model.interaction.has_free_energy is expect
        assert model.interaction.reports_energy is reported


def test_gradient_head_free_energy_decreases_and_stationary_state_circle():
    # Reference: gradient-flow structure (module docstring). F(t) is monotone up to the
    # round-off of F (~1e-15 |F|; 1e-13 allowed); the stationary state satisfies the Gibbs
    # relation log rho = kappa W + const, W by direct quadrature (to Newton's 1e-12, with
    # margin: 1e-10); its spectrum is real (self-adjoint linearization) and the run, which
    # tends to it, never goes below its free energy.
    beta, kappa = 1.0, 0.5
    b = mf.CircleBasis(32)
    model = mf.MeanFieldModel(mf.AttentionLayer(beta, Q=np.eye(2), K=A_DIAG, V=A_DIAG),
                              kappa=kappa)
    rho0 = np.exp(0.5 * np.cos(b.grid - 1.0) + 0.3 * np.cos(3 * b.grid))
    rho0 /= b.integrate(rho0)
    sol = mf.evolve(model, b, rho0, 4.0, np.linspace(0.0, 4.0, 17))
    assert sol.success
    F = sol.free_energy
    assert np.all(np.diff(F) <= 1e-13 * np.max(np.abs(F))), np.diff(F)
    assert F[0] - F[-1] > 1e-3  # it really decreased
    st = mf.stationary_state(model, b, np.ones(b.shape))  # symmetric defaults to False
    assert st.converged and st.stable
    assert st.amplitude(2) > 0.05  # a non-uniform (nematic) state
    assert gibbs_defect_circle(b, beta, A_DIAG, kappa, st.rho) < 1e-10
    ev = st.stability.eigenvalues  # real (self-adjoint linearization), where resolved
    assert resolved_part(ev).size > 10
    assert np.max(np.abs(np.imag(resolved_part(ev)))) <= 1e-10 * np.max(np.abs(ev))
    assert np.all(F >= st.free_energy - 1e-12)
    assert abs(float(mf.free_energy(model, b, st.rho)) - st.free_energy) < 1e-14


def test_gradient_head_free_energy_decreases_and_real_spectrum_sphere():
    # Reference: as above on S^2 with a random symmetric A = V; F monotone to round-off;
    # the full-space spectrum at the stationary state is real (to 1e-10 max |lambda|).
    b = mf.SphereBasis(14)
    layer = mf.AttentionLayer(1.0, K=A3, V=A3)
    model = mf.MeanFieldModel(layer, kappa=1.5, dim=3)
    assert model.interaction.has_free_energy and model.interaction.symmetry is None
    sol = mf.evolve(model, b, rho_sphere_poly(b), 2.0, np.linspace(0.0, 2.0, 9))
    assert sol.success
    F = sol.free_energy
    assert np.all(np.diff(F) <= 1e-13 * np.max(np.abs(F))), np.diff(F)
    assert F[0] - F[-1] > 1e-3
    st = mf.stationary_state(model, b, sol.rho[-1])
    assert st.converged
    ev = st.stability.eigenvalues  # real (self-adjoint linearization), where resolved
    assert resolved_part(ev).size > 10
    assert np.max(np.abs(np.imag(resolved_part(ev)))) <= 1e-10 * np.max(np.abs(ev))
    assert st.stable and np.all(F >= st.free_energy - 1e-12)


def test_rotational_value_breaks_the_gradient_structure_circle():
    # Reference: with V = A + w J the field has a rotational part, so the flow is not a
    # gradient flow: no free energy (clear ValueError), and the linearization at a computed
    # stationary state has complex eigenvalues (|Im| ~ w * O(1), far above round-off).
    b = mf.CircleBasis(32)
    model = mf.MeanFieldModel(mf.AttentionLayer(2.0, K=A_DIAG, V=A_DIAG + 0.5 * J2),
                              kappa=0.5)
    inter = model.interaction
    assert not inter.has_free_energy and not inter.reports_energy
    assert inter.symmetry is None and not inter.uniform_stationary
    st = mf.stationary_state(model, b, np.ones(b.shape))
    assert st.converged
    assert st.amplitude(2) > 0.05
    ev = resolved_part(st.stability.eigenvalues)  # complex where the basis resolves them
    assert np.max(np.abs(np.imag(ev))) > 0.1
    with pytest.raises(ValueError, match="not a gradient flow"):
        mf.free_energy(model, b, st.rho)
    with pytest.raises(ValueError, match="not a gradient flow"):
        mf.interaction_energy(model, b, st.rho)


def test_rotational_value_uniform_spectrum_closed_form():
    # Reference (closed form, derived from the defining integral): for A = I, V = I + w J on
    # the circle, the e_theta component of P_x J u is <u, x>, and
    # <int e^{beta <x,y>} y rho, x> = d/dbeta int e^{beta <x,y>} rho. Linearizing at rho = 1
    # (which rotates at speed w I_1(beta)) gives for e^{ik theta} the eigenvalues
    #   k^2 (I_k(beta)/beta - 1/kappa) -+ i k w (I_k'(beta) + I_1(beta)).
    beta, kappa, w = 2.0, 1.0, 0.5
    b = mf.CircleBasis(24)
    model = mf.MeanFieldModel(mf.AttentionLayer(beta, V=np.eye(2) + w * J2), kappa=kappa)
    assert model.interaction.symmetry == "SO(d)" and model.interaction.uniform_stationary
    assert not model.interaction.has_free_energy
    assert np.max(np.abs(model.rhs(b, b.forward(np.ones(b.shape))))) < 1e-14
    stab = mf.linear_stability(model, b, b.forward(np.ones(b.shape)))
    k = np.arange(1, b.n_modes)
    lam = k**2 * (iv(k, beta) / beta - 1 / kappa) + 1j * k * w * (ivp(k, beta) + iv(1, beta))
    expect = np.concatenate([lam, lam.conj()])
    assert spectra_distance(stab.eigenvalues, expect) < 1e-12 * np.max(np.abs(expect))


# =========================================================================================
# 4. closed forms
# =========================================================================================


@pytest.mark.parametrize("dim", [2, 3])
def test_external_potential_stationary_state_is_von_mises(dim):
    # Reference: U(x) = -<h, x> makes rho = exp(kappa <h, x>) / Z with Z w.r.t. sigma:
    # Z = I_0(kappa |h|) on the circle, sinh(kappa |h|)/(kappa |h|) on S^2; its free energy
    # (1/kappa) int rho log rho + int U rho = -log(Z)/kappa. Newton tolerance: 1e-11.
    kappa = 1.5
    h = np.array([0.6, -0.5]) if dim == 2 else np.array([0.3, -0.4, 0.5])
    b = mf.CircleBasis(32) if dim == 2 else mf.SphereBasis(16)
    model = mf.MeanFieldModel(mf.ExternalPotential(lambda x: -(x @ h)), kappa=kappa, dim=dim)
    inter = model.interaction
    assert inter.has_free_energy and not inter.uniform_stationary and inter.symmetry is None
    st = mf.stationary_state(model, b, np.ones(b.shape))
    H = kappa * np.linalg.norm(h)
    Z = iv(0, H) if dim == 2 else np.sinh(H) / H
    exact = np.exp(kappa * (b.points @ h)) / Z
    assert np.max(np.abs(st.rho - exact)) < 1e-11 * np.max(exact)
    assert abs(st.free_energy + np.log(Z) / kappa) < 1e-11
    assert st.stable


def test_external_potential_branch_is_von_mises_along_kappa():
    # Reference: along kappa the order parameter of the von Mises state is
    # |rho_1| = I_1(kappa |h|) / I_0(kappa |h|) and F = -log I_0(kappa |h|) / kappa; the
    # branch through the computed state must follow both to the corrector tolerance (1e-11,
    # 1e-10 allowed), stay stable and have no fold.
    h = np.array([0.54, 0.72])
    H = np.linalg.norm(h)
    b = mf.CircleBasis(32)
    model = mf.MeanFieldModel(mf.ExternalPotential(lambda x: -(x @ h)), kappa=1.0)
    d = mf.bifurcation_diagram(model, b, "kappa", (0.5, 3.0))
    (br,) = d.branches
    assert br.mode == 1 and br.message == "reached the bound kappa=3"
    assert br.param[0] == 0.5 and br.param[-1] == 3.0 and len(br.param) > 5
    kh = br.param * H
    assert np.max(np.abs(br.amplitude - iv(1, kh) / iv(0, kh))) < 1e-10
    assert np.max(np.abs(br.free_energy + np.log(iv(0, kh)) / br.param)) < 1e-10
    assert np.all(br.stable) and d.folds == [] and d.bifurcation_points == []


@pytest.mark.parametrize("dim", [2, 3])
def test_linear_perceptron_stationary_state_closed_form(dim):
    # Reference: with activation "identity", v = P_x (W x + c), W = W2 W1, c = W2 b. For W
    # symmetric this is grad_S Phi, Phi = x^T W x / 2 + c^T x, so rho = exp(kappa Phi) / Z,
    # Z = int exp(kappa Phi) d sigma (spectrally accurate quadrature of the basis).
    rng = np.random.default_rng(3)
    W1 = rng.standard_normal((4, dim)) * 0.3
    W2 = 0.8 * W1.T  # W = 0.8 W1^T W1: symmetric
    bias = rng.standard_normal(4) * 0.5
    W, c = W2 @ W1, W2 @ bias
    assert np.allclose(W, W.T)
    kappa = 1.2
    b = mf.CircleBasis(32) if dim == 2 else mf.SphereBasis(16)
    model = mf.MeanFieldModel(mf.Perceptron(W1, bias, W2, activation="identity"), kappa=kappa,
                              dim=dim)
    assert model.interaction.symmetry is None and not model.interaction.uniform_stationary
    st = mf.stationary_state(model, b, np.ones(b.shape))
    x = b.points
    phi = 0.5 * np.einsum("...i,ij,...j->...", x, W, x) + x @ c
    exact = np.exp(kappa * phi)
    exact /= b.integrate(exact)
    assert np.max(np.abs(st.rho - exact)) < 1e-10 * np.max(exact)
    # v = grad_S Phi with Phi fixed: the linearization is self-adjoint in L^2(1/rho), so the
    # resolved part of the spectrum is real (the truncated operator is not exactly
    # self-adjoint: the stiffest, truncation-dominated eigenvalues may pick up ~1e-5 |lambda|)
    ev = st.stability.eigenvalues
    resolved = resolved_part(ev)
    assert resolved.size > 10
    assert np.max(np.abs(np.imag(resolved))) <= 1e-10 * np.max(np.abs(ev))
    assert st.stable


@pytest.mark.parametrize("second_method", ["auto", "quadrature"])
def test_multihead_first_bifurcation_closed_form(second_method):
    # Reference (closed form): two isotropic heads add their Fourier gains, so mode 1 of
    # rho = 1 destabilizes at kappa_1 = 1 / (w1 I_1(b1)/b1 + w2 I_1(b2)/b2); and the growth
    # rates are k^2 (sum_h w_h I_k(b_h)/b_h - 1/kappa). Brent on the numerical growth rate:
    # round-off (1e-12 relative).
    (b1, w1), (b2, w2) = (1.0, 0.7), (3.0, 0.5)
    layer = mf.MultiHead([mf.AttentionLayer(b1), mf.AttentionLayer(b2, method=second_method)],
                         weights=[w1, w2])
    model = mf.MeanFieldModel(layer, kappa=1.0)
    assert model.interaction.symmetry == "O(d)" and model.interaction.has_free_energy
    k1 = 1.0 / (w1 * iv(1, b1) / b1 + w2 * iv(1, b2) / b2)
    k = np.arange(5)
    rates = k**2 * (w1 * iv(k, b1) / b1 + w2 * iv(k, b2) / b2 - 1.0)
    assert np.max(np.abs(model.growth_rates(4) - rates)) < 1e-13 * np.max(np.abs(rates))
    b = mf.CircleBasis(24)
    d = mf.bifurcation_diagram(model, b, "kappa", (0.8 * k1, 1.1 * k1), modes=(1,))
    (bp,) = d.bifurcation_points
    assert bp.mode == 1
    assert abs(bp.param - k1) < 1e-12 * k1
    assert abs(bp.closed_form - k1) < 1e-12 * k1


# =========================================================================================
# 5. invariants
# =========================================================================================


def _mlp(dim, seed=5, activation="tanh"):
    rng = np.random.default_rng(seed)
    return mf.Perceptron(rng.standard_normal((6, dim)) * 0.7, rng.standard_normal(6) * 0.3,
                         rng.standard_normal((dim, 6)) * 0.4, activation=activation)


@pytest.mark.parametrize("dynamics", ["usa", "sa"])
def test_mass_and_positivity_along_a_layer_run_circle(dynamics):
    # Reference: the PDE is in divergence form (d/dt int rho = 0 exactly; the k = 0 coefficient
    # of -div(...) and of the Laplacian vanish identically, so mass is conserved to round-off,
    # 1e-13) and a smooth drift-diffusion keeps rho > 0 (maximum principle).
    layer = mf.AttentionLayer(2.0, K=A_DIAG, V=np.array([[1.0, 0.3], [-0.2, 0.7]])) \
        + 0.5 * _mlp(2)
    model = mf.MeanFieldModel(layer, kappa=2.0, dynamics=dynamics)
    b = mf.CircleBasis(48)
    rho0 = rho_circle(b.grid) / Z_CIRCLE
    rho0 /= b.integrate(rho0)
    sol = mf.evolve(model, b, rho0, 3.0, np.linspace(0.0, 3.0, 7))
    assert sol.success
    assert np.max(np.abs(sol.mass - 1.0)) < 1e-13
    assert np.min(sol.rho) > 0.0
    assert np.max(np.abs(sol.rho[-1] - sol.rho[0])) > 0.1  # the layer really moved it


def test_mass_and_positivity_along_a_layer_run_sphere():
    # Reference: as above on S^2 (degree-0 coefficient of the divergence is zero).
    # gelu (entire) rather than tanh (poles at distance ~1 from the sphere): a field whose
    # spectrum SphereBasis(16) resolves to 1e-10
    layer = mf.AttentionLayer(1.2, K=A3) + 0.5 * _mlp(3, activation="gelu")
    model = mf.MeanFieldModel(layer, kappa=1.0, dim=3)
    b = mf.SphereBasis(16)
    sol = mf.evolve(model, b, rho_sphere_poly(b), 1.0, [0.0, 0.5, 1.0])
    assert sol.success
    assert np.max(np.abs(sol.mass - 1.0)) < 1e-13
    assert np.min(sol.rho) > 0.0


# =========================================================================================
# 6. bad input: clear errors at the boundary, naming the argument
# =========================================================================================


def test_bad_weight_shapes_and_values():
    with pytest.raises(ValueError, match=r"Q must have shape \(k, 2\) for dim=2"):
        mf.MeanFieldModel(mf.AttentionLayer(1.0, Q=np.ones((2, 3))), dim=2)
    with pytest.raises(ValueError, match=r"K must have shape \(k, 3\) for dim=3"):
        mf.MeanFieldModel(mf.AttentionLayer(1.0, K=np.ones((3, 2))), dim=3)
    with pytest.raises(ValueError, match="V must be square"):
        mf.AttentionLayer(1.0, V=np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"V must have shape \(2, 2\) for dim=2"):
        mf.MeanFieldModel(mf.AttentionLayer(1.0, V=np.eye(3)), dim=2)
    with pytest.raises(ValueError, match="Q and K must have the same shape"):
        mf.AttentionLayer(1.0, Q=np.eye(2), K=np.ones((3, 2)))
    with pytest.raises(ValueError, match="Q must be a 2-D matrix"):
        mf.AttentionLayer(1.0, Q=np.ones(2))
    with pytest.raises(ValueError, match="Q contains NaN"):
        mf.AttentionLayer(1.0, Q=np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="K contains NaN or inf"):
        mf.AttentionLayer(1.0, K=np.array([[1.0, np.inf], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="V contains NaN"):
        mf.AttentionLayer(1.0, V=np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="beta must be finite"):
        mf.AttentionLayer(np.nan)
    with pytest.raises(TypeError, match="beta must be a real number"):
        mf.AttentionLayer("2")
    with pytest.raises(ValueError, match="method must be one of"):
        mf.AttentionLayer(1.0, method="fft")
    with pytest.raises(ValueError, match="exceeds 700"):
        mf.MeanFieldModel(mf.AttentionLayer(10.0, K=100.0 * np.eye(2)))


def test_multiplier_method_needs_scalar_weights():
    with pytest.raises(ValueError, match="method='multiplier' needs Q\\^T K and V multiples"):
        mf.MeanFieldModel(mf.AttentionLayer(1.0, K=A_DIAG, method="multiplier"))
    with pytest.raises(ValueError, match="method='multiplier'"):
        mf.MeanFieldModel(mf.AttentionLayer(1.0, V=np.eye(2) + J2, method="multiplier"))
    # scalar weights are fine with multipliers
    mf.MeanFieldModel(mf.AttentionLayer(1.0, K=2.0 * np.eye(2), method="multiplier"))


def test_zonal_basis_takes_isotropic_heads_only():
    # Reference for the accepted case: the kernel model with beta a, scaled by v (as in §1).
    z = mf.ZonalBasis(3, 24)
    iso = mf.MeanFieldModel(mf.AttentionLayer(1.0, Q=2.0 * np.eye(3), K=0.75 * np.eye(3),
                                              V=0.8 * np.eye(3)), kappa=2.0, dim=3)
    kern = mf.MeanFieldModel(mf.AttentionKernel(1.5), kappa=2.0, dim=3)
    rho = np.exp(1.3 * z.grid)
    c = z.forward(rho / z.integrate(rho))
    assert rel(iso.nonlinear_term(z)(c), 0.8 * kern.nonlinear_term(z)(c)) < 1e-13
    aniso = mf.MeanFieldModel(mf.AttentionLayer(1.0, K=np.diag([1.5, 0.5, 0.5])), dim=3,
                              kappa=2.0)
    with pytest.raises(ValueError, match=r"zonal basis holds densities of <x, e> only"):
        aniso.rhs(z, c)
    with pytest.raises(ValueError, match="zonal basis"):
        mf.evolve(aniso, z, np.ones(z.shape), 1.0)
    forced = mf.MeanFieldModel(mf.AttentionLayer(1.0, method="quadrature"), kappa=2.0, dim=3)
    with pytest.raises(ValueError, match="method='auto'"):
        forced.rhs(z, c)
    mlp = mf.MeanFieldModel(_mlp(3), kappa=2.0, dim=3)
    with pytest.raises(ValueError, match="perceptron"):
        mlp.rhs(z, c)


def test_bad_potential_perceptron_and_multihead():
    with pytest.raises(TypeError, match="U must be a callable"):
        mf.ExternalPotential(3.0)
    with pytest.raises(ValueError, match="shapes do not chain"):
        mf.Perceptron(np.ones((3, 2)), np.zeros(2), np.ones((2, 3)))
    with pytest.raises(ValueError, match="shapes do not chain"):
        mf.Perceptron(np.ones((3, 2)), np.zeros(3), np.ones((2, 4)))
    with pytest.raises(ValueError, match="W2 must map back to R\\^d"):
        mf.Perceptron(np.ones((3, 2)), np.zeros(3), np.ones((3, 3)))
    with pytest.raises(ValueError, match="b must be a finite 1-D vector"):
        mf.Perceptron(np.ones((3, 2)), np.array([0.0, np.nan, 0.0]), np.ones((2, 3)))
    with pytest.raises(ValueError, match="W1 contains NaN"):
        mf.Perceptron(np.full((3, 2), np.nan), np.zeros(3), np.ones((2, 3)))
    with pytest.raises(ValueError, match="activation must be one of"):
        mf.Perceptron(np.ones((3, 2)), np.zeros(3), np.ones((2, 3)), activation="softplus")
    with pytest.raises(ValueError, match=r"W1 must have shape \(h, 3\) for dim=3"):
        mf.MeanFieldModel(mf.Perceptron(np.ones((3, 2)), np.zeros(3), np.ones((2, 3))), dim=3)
    with pytest.raises(ValueError, match="weights has 1 entries for 2 heads"):
        mf.MultiHead([mf.AttentionLayer(1.0), mf.AttentionLayer(2.0)], weights=[1.0])
    with pytest.raises(TypeError, match="MultiHead takes a non-empty list of AttentionLayer"):
        mf.MultiHead([_mlp(2)])
    with pytest.raises(ValueError, match="weights\\[i\\] must be finite"):
        mf.MultiHead([mf.AttentionLayer(1.0)], weights=[np.nan])
    with pytest.raises(TypeError):
        mf.AttentionLayer(1.0) + 3.0
    with pytest.raises(ValueError, match="a layer's weight must be finite"):
        np.inf * mf.AttentionLayer(1.0)


def test_solver_refusals_for_layers_without_the_needed_symmetry():
    b = mf.CircleBasis(24)
    aniso = mf.MeanFieldModel(mf.AttentionLayer(1.0, K=A_DIAG), kappa=1.0)
    with pytest.raises(ValueError, match="symmetric=True restricts to reflection-symmetric"):
        mf.stationary_state(aniso, b, np.ones(b.shape), symmetric=True)
    with pytest.raises(ValueError, match="period=2 needs an interaction that commutes"):
        mf.stationary_state(aniso, b, np.ones(b.shape), period=2)
    rot = mf.MeanFieldModel(mf.AttentionLayer(2.0, V=np.eye(2) + 0.5 * J2), kappa=1.0)
    with pytest.raises(ValueError, match="symmetric=True"):
        mf.stationary_state(rot, b, np.ones(b.shape), symmetric=True)
    with pytest.raises(ValueError, match=r"AttentionLayer\(beta=2.0, V=...\) commutes with "
                       "rotations but not reflections"):
        mf.bifurcation_diagram(rot, b, "kappa", (0.5, 2.0))
    pot = mf.MeanFieldModel(mf.ExternalPotential(lambda x: -x[..., 0]), kappa=1.0)
    with pytest.raises(ValueError, match="ExternalPotential has no inverse temperature beta"):
        mf.bifurcation_diagram(pot, b, "beta", (0.5, 2.0))
    with pytest.raises(ValueError, match="not a zonal kernel"):
        aniso.potential_multiplier(b)


# =========================================================================================
# 7. figures
# =========================================================================================


def _circle_run(model, b, t_final=1.0):
    rho0 = rho_circle(b.grid) / Z_CIRCLE
    rho0 /= b.integrate(rho0)
    return mf.evolve(model, b, rho0, t_final, np.linspace(0.0, t_final, 5))


def test_figures_of_a_non_gradient_layer_run(tmp_path):
    import matplotlib.pyplot as plt

    from meanfield import plotting

    b = mf.CircleBasis(32)
    model = mf.MeanFieldModel(mf.AttentionLayer(2.0, K=A_DIAG, V=A_DIAG + 0.5 * J2)
                              + 0.5 * _mlp(2), kappa=0.5)
    sol = _circle_run(model, b)
    paths = plotting.save_solution_figures(sol, tmp_path / "nongradient")
    assert [p.name for p in paths] == ["spacetime.png", "free_energy.png", "amplitudes.png"]
    assert all(p.is_file() and p.stat().st_size > 1000 for p in paths)
    ax = plotting.plot_free_energy(sol)
    assert any("no free energy" in t.get_text() for t in ax.texts)
    assert ax.get_lines() == []
    plt.close(ax.figure)
    assert sol.summary()["free_energy_end"] is None
    with pytest.raises(ValueError, match="not a gradient flow"):
        _ = sol.free_energy
    sol.save(tmp_path / "run.npz")  # energies left out, the rest written
    data = np.load(tmp_path / "run.npz")
    assert "free_energy" not in data.files and data["rho"].shape == sol.rho.shape


def test_figures_of_a_gradient_layer_run(tmp_path):
    import matplotlib.pyplot as plt

    from meanfield import plotting

    b = mf.CircleBasis(24)
    model = mf.MeanFieldModel(mf.AttentionLayer(1.0, K=A_DIAG, V=A_DIAG), kappa=0.5)
    sol = _circle_run(model, b)
    paths = plotting.save_solution_figures(sol, tmp_path / "gradient")
    assert all(p.is_file() and p.stat().st_size > 1000 for p in paths)
    ax = plotting.plot_free_energy(sol)
    y = ax.get_lines()[0].get_ydata()
    assert np.allclose(y, sol.free_energy) and np.all(np.diff(y) <= 1e-13)
    plt.close(ax.figure)


def test_figures_of_a_layer_run_on_the_sphere(tmp_path):
    from meanfield import plotting

    b = mf.SphereBasis(12)
    model = mf.MeanFieldModel(mf.AttentionLayer(0.5, K=A3, V=A3), kappa=1.0, dim=3)
    sol = mf.evolve(model, b, rho_sphere_poly(b), 0.5, [0.0, 0.25, 0.5], resolution_tol=1e-8)
    paths = plotting.save_solution_figures(sol, tmp_path / "s2")
    assert [p.name for p in paths] == ["density_maps.png", "free_energy.png", "amplitudes.png"]
    assert all(p.is_file() and p.stat().st_size > 1000 for p in paths)


def test_diagram_plot_from_a_computed_state(tmp_path):
    import matplotlib.pyplot as plt

    b = mf.CircleBasis(24)
    # a gradient layer that does not keep rho = 1 stationary: the branch from a computed state
    grad = mf.MeanFieldModel(mf.AttentionLayer(1.0, K=A_DIAG, V=A_DIAG), kappa=0.5)
    d = mf.bifurcation_diagram(grad, b, "kappa", (0.3, 0.8))
    (br,) = d.branches
    assert br.mode == 2 and np.all(np.isfinite(br.free_energy)) and len(br.param) > 3
    fig = d.plot()
    assert len(fig.axes) == 2
    top = fig.axes[0]
    xs = np.concatenate([line.get_xdata() for line in top.get_lines()])
    assert np.isclose(xs.min(), 0.3) and np.isclose(xs.max(), 0.8)
    plt.close(fig)
    path = tmp_path / "diagram.png"
    d.plot(path)
    assert path.is_file() and path.stat().st_size > 1000
    # a non-gradient one: free energies are nan, the figure still draws the amplitude
    rot = mf.MeanFieldModel(mf.AttentionLayer(1.0, K=A_DIAG, V=A_DIAG + 0.3 * J2), kappa=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the branch must reach the bound
        d2 = mf.bifurcation_diagram(rot, b, "kappa", (0.3, 0.8))
    assert np.all(np.isnan(d2.branches[0].free_energy))
    path2 = tmp_path / "diagram_rot.png"
    d2.plot(path2)
    assert path2.is_file() and path2.stat().st_size > 1000
