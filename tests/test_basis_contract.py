"""The basis contract (meanfield/bases/protocol.py), one test per clause over every basis.

A new basis is tested by adding it to BASES. References: exact identities of the
discretization (round trips, div grad = Laplacian on the series, Parseval), and for the
Funk–Hecke multiplier an independent quadrature of the kernel on the grid (circle, S^2:
at every node; zonal: at x = e, where the convolution is a 1-D integral against the zonal
weights). Tolerances: round-off of transforms of size n (1e-13), or of the quadrature of an
entire kernel on a grid exact to degree ~2 lmax (1e-12).
"""

from __future__ import annotations

import numpy as np
import pytest

import meanfield as mf
from meanfield.bases.protocol import OPTIONAL, Basis

BASES = {
    "circle": lambda: mf.CircleBasis(16),
    "sphere": lambda: mf.SphereBasis(10),
    "sphere3": lambda: mf.SphereBasis(10, dim=4, dealias=1.0),  # 3456 nodes: small N x N
    "zonal-3": lambda: mf.ZonalBasis(3, 14),
    "zonal-8": lambda: mf.ZonalBasis(8, 14),
    "planar-3": lambda: mf.PlanarBasis(3, 10),
    "planar-5": lambda: mf.PlanarBasis(5, 10),
    "planar-16": lambda: mf.PlanarBasis(16, 10),
}


@pytest.fixture(params=sorted(BASES), ids=sorted(BASES))
def basis(request):
    return BASES[request.param]()


def profile(basis):
    """f(x) = exp(0.8 <x, e> + 0.3 <x, e>^2), e = e_1 on zonal bases (f is then zonal)."""
    e = np.zeros(basis.dim)
    e[0] = 1.0
    if not basis.is_zonal:
        e = np.linspace(1.0, 0.3, basis.dim)
    if getattr(basis, "is_planar", False):  # a function of (x_1, x_2) only
        e = np.eye(basis.dim)[0] + 0.3 * np.eye(basis.dim)[1]
    return lambda x: np.exp(0.8 * x @ e + 0.3 * (x @ e) ** 2)


def smooth(basis):
    """A smooth positive density of mass 1 (zonal where the basis is zonal)."""
    f = profile(basis)(basis.points)
    return f / basis.integrate(f)


def band_limited(basis, seed=0):
    """Random real coefficients of a series (mass 1) exactly representable."""
    x = np.random.default_rng(seed).normal(size=basis.n_real) * 0.1
    return basis.from_real(x, mass=1.0)


def planar_orbit_kernel(pts, beta):
    """G(<x, y>) averaged over y's O(d-2)-orbit: <x, y> = y_p.y'_p + h h' t, t = omega_1 on
    S^{d-3} (Gauss–Gegenbauer; +-1 for d = 3), exact to the kernel's tail at degree ~60."""
    d = pts.shape[-1]
    if d == 3:
        t, w = np.array([-1.0, 1.0]), np.array([0.5, 0.5])
    else:
        zb = mf.ZonalBasis(d - 2, 40)
        t, w = zb.grid, zb.weights
    ip = pts[:, :2] @ pts[:, :2].T
    hh = np.outer(pts[:, 2], pts[:, 2])
    return sum(wq * np.expm1(beta * np.clip(ip + hh * tq, -1.0, 1.0)) / beta
               for tq, wq in zip(t, w, strict=True))


def test_is_a_basis(basis):
    assert isinstance(basis, Basis)
    for name in OPTIONAL:
        assert hasattr(basis, name) or basis.is_zonal


def test_shapes_points_weights(basis):
    assert basis.points.shape == basis.shape + (basis.dim,)
    assert np.allclose(np.linalg.norm(basis.points, axis=-1), 1.0, atol=1e-14)
    assert basis.weights.shape == basis.shape
    assert abs(float(np.sum(basis.weights)) - 1.0) < 1e-13
    f = smooth(basis)
    assert abs(float(basis.integrate(f)) - float(np.sum(basis.weights * f))) < 1e-13
    assert basis.degrees.shape == basis.coeff_shape == basis.laplacian.shape
    assert basis.reliable_nodes.shape == basis.shape
    assert np.array_equal(basis.laplacian, -basis.degrees * (basis.degrees + basis.dim - 2.0))


def test_round_trips(basis):
    c = band_limited(basis)
    assert np.max(np.abs(basis.forward(basis.backward(c)) - c)) < 1e-13
    assert np.max(np.abs(basis.from_real(basis.to_real(c), mass=1.0) - c)) < 1e-15
    batch = np.stack([c, 2 * c])
    assert np.allclose(basis.backward(batch)[1], 2 * basis.backward(c), rtol=0, atol=1e-13)


def test_integrate_is_mass_and_inner_is_parseval(basis):
    c = band_limited(basis)
    rho = basis.backward(c)
    assert abs(float(basis.integrate(rho)) - float(basis.mass(c))) < 1e-13
    assert abs(float(basis.mass(c)) - 1.0) < 1e-15
    d = band_limited(basis, seed=1)
    assert abs(float(basis.inner(c, d)) - float(basis.integrate(rho * basis.backward(d)))) < 1e-12


def test_laplacian_is_div_grad(basis):
    c = band_limited(basis)
    assert np.max(np.abs(basis.div(basis.grad(c)) - basis.laplacian * c)) < 1e-11 * max(
        1.0, float(np.max(np.abs(basis.laplacian))))


def test_from_function_and_evaluate(basis):
    rho = smooth(basis)
    vals = basis.from_function(profile(basis))
    assert np.allclose(vals / basis.integrate(vals), rho, rtol=1e-13)
    c = basis.forward(rho)
    where = basis.grid if not isinstance(basis.grid, tuple) else basis.points
    assert np.allclose(basis.evaluate(c, where), basis.backward(c), rtol=0, atol=1e-10)


def test_convert_to_finer_and_back(basis):
    c = band_limited(basis)
    fine = basis.with_max_degree(2 * basis.max_degree)
    cf = basis.convert(c, fine)
    assert np.max(np.abs(fine.convert(cf, basis) - c)) < 1e-15
    where = basis.grid if not isinstance(basis.grid, tuple) else basis.points
    assert np.allclose(fine.evaluate(cf, where), basis.backward(c), rtol=0, atol=1e-12)


def test_multiplier_is_the_kernel_quadrature(basis):
    beta = 1.7
    kernel = mf.AttentionKernel(beta)
    g = basis.multiplier(kernel.coefficients(basis.max_degree, basis.dim))
    rho = smooth(basis)
    conv = basis.backward(g * basis.forward(rho))  # (G * rho) on the grid by Funk–Hecke
    if basis.is_zonal:  # at x = e the convolution is a 1-D integral in t = <e, y>
        t = basis.grid
        direct = np.sum(basis.weights * rho * np.expm1(beta * t) / beta)
        at_e = basis.evaluate(g * basis.forward(rho), np.array([1.0]))
        assert abs(float(np.ravel(at_e)[0]) - direct) < 1e-12
    else:
        pts = basis.points.reshape(-1, basis.dim)
        G = np.expm1(beta * np.clip(pts @ pts.T, -1.0, 1.0)) / beta
        if getattr(basis, "is_planar", False):  # the nodes stand for O(d-2)-orbits
            G = planar_orbit_kernel(pts, beta)
        w = (basis.weights * rho).reshape(-1)
        assert np.max(np.abs(G @ w - conv.reshape(-1))) < 1e-12


def test_real_coordinates_and_masks(basis):
    assert basis.real_degrees.shape == (basis.n_real,)
    for sym in (False, True):
        mask = basis.subspace_mask(symmetric=sym, period=1)
        assert mask.shape == (basis.n_real,) and mask.dtype == bool
    assert basis.branch_mask(1).shape == (basis.n_real,)
    uniform = basis.forward(np.ones(basis.shape))
    blocks = basis.invariant_blocks(uniform)
    assert np.array_equal(np.sort(np.concatenate(blocks)), np.arange(basis.n_real))
    assert all(np.linalg.norm(basis.to_real(g)) < 1e-12
               for g in basis.rotation_generators(uniform))
    assert all(abs(float(basis.amplitude(uniform, k))) < 1e-14 for k in (1, 2))


def test_tangent_maps_project(basis):
    if basis.is_zonal:
        pytest.skip("the zonal basis holds no general ambient vector fields")
    u = np.random.default_rng(3).normal(size=basis.points.shape)
    if getattr(basis, "is_planar", False):  # planar fields have no x_4..x_d part there
        u[..., 3:] = 0.0
    x = basis.points
    proj = u - np.sum(u * x, axis=-1, keepdims=True) * x
    back = basis.tangent_to_cartesian(basis.tangent_from_cartesian(u))
    assert np.max(np.abs(back - proj)) < 1e-14
    c = band_limited(basis)
    v = basis.grad(c)
    assert np.allclose(basis.vector_norm(v), np.linalg.norm(basis.tangent_to_cartesian(v),
                                                             axis=-1), atol=1e-14)


def test_results_say_which_class_their_stability_covers(basis):
    """restriction: "all" for bases of every density, else the class (zonal, planar); the
    spectra and diagrams computed on the basis carry it."""
    expected = {"CircleBasis": "all", "SphereBasis": "all", "Sphere3Basis": "all",
                "ZonalBasis": "zonal", "PlanarBasis": "planar"}
    assert basis.restriction == expected[type(basis).__name__]
    model = mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=2.0, dim=basis.dim)
    stab = mf.linear_stability(model, basis, basis.forward(np.ones(basis.shape)))
    assert stab.restricted_to == basis.restriction
