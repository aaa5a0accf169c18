"""SphereBasis (S^2, real spherical harmonics through ducc0) against closed forms, the zonal
basis, symmetries and invariants.

References: DESIGN.md §1 (Funk–Hecke lambda_l(beta) = Gamma(3/2) (2/beta)^{1/2} I_{l+1/2}(beta)
on S^2 with normalized sigma, Laplacian eigenvalues -l(l+1), thresholds kappa_l = beta/lambda_l),
LITERATURE.md (heat flow of von Mises–Fisher data, Frouvelle–Liu beta = 0 branch).
"""

import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.spatial.transform import Rotation
from scipy.special import iv

import meanfield as mf
from meanfield.continuation import bifurcation_points_of_uniform


def lam(l, beta):
    """lambda_l(beta) on S^2 (normalized sigma): Gamma(3/2) (2/beta)^{1/2} I_{l+1/2}(beta)."""
    return math.gamma(1.5) * math.sqrt(2.0 / beta) * iv(l + 0.5, beta)


def align_to_e3(mu):
    """A rotation matrix R with R mu = e_3."""
    mu = np.asarray(mu, float) / np.linalg.norm(mu)
    rot, _ = Rotation.align_vectors([[0.0, 0.0, 1.0]], [mu])
    return rot.as_matrix()


R0 = Rotation.from_euler("xyz", [0.3, -1.1, 2.0]).as_matrix()


# -- transforms ---------------------------------------------------------------------------


def test_transforms_round_trip_orthonormality_and_calculus():
    b = mf.SphereBasis(12)
    rng = np.random.default_rng(0)
    n = b.coeff_shape[0]
    assert n == 169 and b.shape == (20, 40) and b.n_real == 168
    c = rng.standard_normal((3, n))
    assert np.max(np.abs(b.forward(b.backward(c)) - c)) < 1e-13
    # Z_00 = 1 (orthonormal w.r.t. the normalized measure sigma), weights sum to 1
    assert np.max(np.abs(b.backward(np.eye(n)[0]) - 1.0)) < 1e-15
    assert abs(b.weights.sum() - 1.0) < 1e-15 and b.reliable_nodes.all()
    # orthonormality by quadrature (exact for degree <= 2 ntheta - 1)
    F = b.backward(np.eye(n))
    G = np.einsum("aij,bij,ij->ab", F, F, b.weights)
    assert np.max(np.abs(G - np.eye(n))) < 1e-13
    # degree 1: Z_{1,0} = sqrt(3) z, Z_{1,1} = -sqrt(3) x, Z_{1,-1} = -sqrt(3) y (CS phase)
    x = b.points
    assert np.max(np.abs(F[b.index(1, 0)] - math.sqrt(3) * x[..., 2])) < 1e-14
    assert np.max(np.abs(F[b.index(1, 1)] + math.sqrt(3) * x[..., 0])) < 1e-14
    assert np.max(np.abs(F[b.index(1, -1)] + math.sqrt(3) * x[..., 1])) < 1e-14
    # grad (z) = e_3 - z x, as a tangent field
    g = b.tangent_to_cartesian(b.grad(np.eye(n)[b.index(1, 0)] / math.sqrt(3)))
    assert np.max(np.abs(g - (np.eye(3)[2] - x[..., 2:] * x))) < 1e-14
    # div(grad c) = -l(l+1) c, and a divergence has no mass
    d = b.div(b.grad(c))
    assert np.max(np.abs(d - b.laplacian * c)) < 1e-12 * b.lmax**2
    assert np.max(np.abs(d[..., 0])) < 1e-15
    # Parseval, mass, integrate
    f = b.backward(c)
    assert np.allclose(b.integrate(f[0] * f[1]), b.inner(c[0], c[1]), rtol=0, atol=1e-13)
    assert np.allclose(b.integrate(f), b.mass(c), rtol=0, atol=1e-14)
    # evaluation off the grid (ducc0 non-uniform synthesis)
    pts = rng.standard_normal((5, 3))
    pts /= np.linalg.norm(pts, axis=1)[:, None]
    direct = sum(c[0, b.index(l, 0)] * math.sqrt(2 * l + 1)
                 * np.polynomial.legendre.Legendre.basis(l)(pts[:, 2]) for l in range(13))
    c_zonal = np.where(b.orders == 0, c[0], 0.0)
    assert np.max(np.abs(b.evaluate(c_zonal, pts) - direct)) < 1e-11


def test_von_mises_fisher_mass_and_coefficients():
    # exp(k0 x.mu)/lambda_0(k0): mass 1; <P_l(x.mu)> = I_{l+1/2}(k0)/I_{1/2}(k0)
    b = mf.SphereBasis(30)
    mu = np.array([1.0, -2.0, 2.0]) / 3.0
    rho = mf.initial.von_mises(b, 4.0, mean=mu)
    assert abs(b.integrate(rho) - 1.0) < 1e-14
    c = b.rotate(b.forward(rho), align_to_e3(mu))
    for l in range(12):
        assert abs(b.amplitude(c, l) - iv(l + 0.5, 4.0) / iv(0.5, 4.0)) < 1e-14
    # axisymmetric about e_3 after the rotation: every m != 0 coefficient vanishes
    assert np.max(np.abs(c[b.orders != 0])) < 1e-14


def test_rotation_of_coefficients_matches_rotated_function():
    b = mf.SphereBasis(24)

    def f(x):
        return np.exp(x @ np.array([0.3, 0.5, -1.0])) + x[..., 0] ** 2 * x[..., 1]

    c = b.forward(b.from_function(f))
    ref = b.forward(b.from_function(lambda x: f(x @ R0)))  # f(R^T x)
    assert np.max(np.abs(b.rotate(c, R0) - ref)) < 1e-14
    angles = Rotation.from_matrix(R0).as_euler("zyz")
    assert np.allclose(mf.bases.sphere.euler_matrix(*angles), R0, atol=1e-14)
    assert np.max(np.abs(b.rotate(c, angles) - ref)) < 1e-14
    # generators: L_z of an axisymmetric function vanishes
    z = b.forward(np.exp(b.points[..., 2]))
    gx, gy, gz = b.rotation_generators(z)
    assert np.linalg.norm(gz) < 1e-14 and np.linalg.norm(gx) > 0.1 and np.linalg.norm(gy) > 0.1


# -- dynamics against closed forms --------------------------------------------------------


def test_heat_flow_from_von_mises_fisher():
    # no interaction: <P_l(x.mu)>(t) = e^{-l(l+1) t/kappa} I_{l+1/2}(k0)/I_{1/2}(k0)
    # (heat kernel on S^2, LITERATURE.md); ETDRK4 is exact on the linear part.
    k0, kappa = 3.0, 2.0
    b = mf.SphereBasis(28)
    mu = np.array([2.0, 1.0, -2.0]) / 3.0
    model = mf.MeanFieldModel(mf.ZonalKernel(coefficients=np.zeros(4), dim=3), kappa=kappa,
                              dim=3)
    t = np.linspace(0.0, 1.0, 5)
    sol = mf.evolve(model, b, mf.initial.von_mises(b, k0, mean=mu), 1.0, t)
    assert sol.success, sol.message
    c = b.rotate(sol.coeffs, align_to_e3(mu))
    for l in range(12):
        exact = np.exp(-l * (l + 1) * t / kappa) * iv(l + 0.5, k0) / iv(0.5, k0)
        assert np.max(np.abs(b.amplitude(c, l) - exact)) < 1e-12, l
    assert np.max(np.abs(sol.mass - 1.0)) < 1e-13


@pytest.mark.parametrize("beta, kappa, k, m", [(0.5, 0.5, 1, 1), (3.0, 8.0, 1, 0),
                                               (3.0, 0.5, 2, 2), (0.5, 8.0, 2, -1)])
def test_linear_growth_rates(beta, kappa, k, m):
    # sigma_l = l(l+1) (lambda_l(beta)/beta - 1/kappa) for every order m (DESIGN.md §1).
    # Fixed steps as in tests/test_evolve.py::_growth_rate (ETDRK4, h = T/1024); the
    # quadratic feedback on mode (k, m) is O(eps) = 1e-9 relative.
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=kappa, dim=3)
    b = mf.SphereBasis(20)
    exact = k * (k + 1) * (lam(k, beta) / beta - 1 / kappa)
    T = min(1.0, 2.0 / abs(exact))
    c0 = np.zeros(b.coeff_shape)
    i = b.index(k, m)
    c0[0], c0[i] = 1.0, 1e-9
    sol = mf.evolve(model, b, b.backward(c0), T, [0.0, T], dt=T / 1024)
    assert sol.success, sol.message
    rate = np.log(sol.coeffs[-1, i] / sol.coeffs[0, i]) / T
    assert rate == pytest.approx(exact, rel=1e-7, abs=1e-9)


def test_axisymmetric_flow_agrees_with_zonal_basis():
    # the same ETDRK4 run (fixed dt) in SphereBasis (axis e_3) and ZonalBasis(3) (axis e_1):
    # <P_l> agree to round-off
    model = mf.MeanFieldModel(mf.AttentionKernel(2.0), kappa=3.0, dim=3)
    L = 40
    bs, bz = mf.SphereBasis(L), mf.ZonalBasis(3, L)
    t = [0.0, 0.5, 1.0]
    ss = mf.evolve(model, bs, mf.initial.von_mises(bs, 1.5, mean=[0, 0, 1]), 1.0, t, dt=1 / 32)
    sz = mf.evolve(model, bz, mf.initial.von_mises(bz, 1.5), 1.0, t, dt=1 / 32)
    assert ss.success and sz.success
    for l in range(1, 8):
        assert np.max(np.abs(ss.amplitude(l) - sz.amplitude(l))) < 1e-13, l
    assert abs(ss.amplitude(1)[-1] - ss.amplitude(1)[0]) > 1e-2  # it did move
    assert np.max(np.abs(ss.coeffs[:, bs.orders != 0])) < 1e-15


def test_bifurcation_points_are_beta_over_lambda():
    model = mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=1.0, dim=3)
    b = mf.SphereBasis(10)
    for l in (1, 2, 3):
        ref = 1.0 / lam(l, 1.0)
        roots = bifurcation_points_of_uniform(model, b, "kappa", (0.8 * ref, 1.2 * ref), l,
                                              n_scan=8)
        assert len(roots) == 1 and abs(roots[0] - ref) < 1e-10 * ref, (l, roots, ref)
    # lambda_1(1) = e^{-1} on S^2: kappa_1 = e
    assert abs(bifurcation_points_of_uniform(model, b, "kappa", (2, 3), 1, n_scan=4)[0]
               - np.e) < 1e-12


def test_rotation_equivariance_of_the_flow():
    # evolving R rho0 gives R rho(t): the truncation by degree commutes with rotations and
    # the dealiased products are exact, so equivariance holds to round-off
    model = mf.MeanFieldModel(mf.AttentionKernel(2.0), kappa=10.0, dim=3)
    b = mf.SphereBasis(24)
    rho0 = mf.initial.perturbed_uniform(b, 0.6, max_degree=5, seed=4)
    rho0r = b.backward(b.rotate(b.forward(rho0), R0))
    s1 = mf.evolve(model, b, rho0, 1.0, [0.0, 1.0], dt=1 / 32)
    s2 = mf.evolve(model, b, rho0r, 1.0, [0.0, 1.0], dt=1 / 32)
    assert s1.success and s2.success
    assert np.max(np.abs(s1.coeffs[-1] - s1.coeffs[0])) > 1e-2
    assert np.max(np.abs(b.rotate(s1.coeffs[-1], R0) - s2.coeffs[-1])) < 1e-11


# -- invariants -----------------------------------------------------------------------------


def test_noiseless_sa_concentrates():
    # noiseless SA (GLPR): the interaction energy increases and the density concentrates
    model = mf.MeanFieldModel(mf.AttentionKernel(1.0), dynamics="sa", dim=3)
    b = mf.SphereBasis(40)
    rho0 = mf.initial.perturbed_uniform(b, 0.5, max_degree=4, seed=2)
    sol = mf.evolve(model, b, rho0, 2.0, np.linspace(0, 2, 5))
    assert sol.success, sol.message
    assert np.max(np.abs(sol.mass - 1.0)) < 1e-13
    assert np.all(np.diff(sol.energy) > 0)
    top = sol.rho.reshape(sol.t.size, -1).max(axis=1)
    assert np.all(np.diff(top) > 0) and top[-1] > 1.5 * top[0]


def test_noisy_usa_flow_mass_and_free_energy():
    # beta = 1, kappa = 1.5 kappa_1 (kappa_1 = e): F decreases, mass conserved, and the
    # flow from a non-axisymmetric start approaches the stable mode-1 cluster
    model = mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=1.5 * np.e, dim=3)
    b = mf.SphereBasis(28)
    rho0 = mf.initial.perturbed_uniform(b, 0.5, max_degree=4, seed=1)
    sol = mf.evolve(model, b, rho0, 20.0, np.linspace(0, 20, 41))
    assert sol.success, sol.message
    assert np.max(np.abs(sol.mass - 1.0)) < 1e-13
    F = sol.free_energy
    assert np.all(np.diff(F) <= 1e-14) and F[-1] < F[0] - 0.01


def test_spectral_convergence_in_lmax():
    # beta = 0 (Kuramoto) stationary state on S^2 at kappa = 8: von Mises–Fisher with
    # a = kappa r, r = I_{3/2}(a)/I_{1/2}(a) = coth(a) - 1/a (Frouvelle–Liu). The amplitude
    # error falls geometrically with lmax down to round-off.
    kappa = 8.0
    r_exact = brentq(lambda r: r - (1 / np.tanh(kappa * r) - 1 / (kappa * r)), 1e-3, 1.0,
                     xtol=1e-16)
    model = mf.MeanFieldModel(mf.KuramotoKernel(), kappa=kappa, dim=3)
    errs = []
    for L in (6, 8, 10, 12, 24):
        b = mf.SphereBasis(L)
        st = mf.stationary_state(model, b, mf.initial.von_mises(b, 5.0, mean=[0, 0, 1]),
                                 stability=False, raise_on_failure=False)
        assert st.residual < 1e-12
        errs.append(abs(st.amplitude(1) - r_exact))
    errs = np.array(errs)
    assert errs[0] > 1e-5 and np.all(errs[1:4] < 0.05 * errs[:3]), errs
    assert errs[-1] < 1e-14, errs


def test_cluster_stability_sets_aside_two_rotation_modes():
    # beta = 1 < beta_*^{(3)}: the supercritical mode-1 cluster at kappa = 1.2 e is stable;
    # the SO(3) orbit of a cluster about e_3 is 2-dimensional (L_z c = 0)
    model = mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=1.2 * np.e, dim=3)
    b = mf.SphereBasis(16)
    st = mf.stationary_state(model, b, mf.initial.von_mises(b, 3.0, mean=[0, 0, 1]),
                             symmetric=True)
    assert st.amplitude(1) > 0.6
    stab = st.stability
    assert stab.symmetry_eigenvalues.size == 2
    assert np.max(np.abs(stab.symmetry_eigenvalues)) < 1e-9
    assert stab.stable and stab.morse_index == 0
    assert stab.eigenvalues.size == b.n_real - 2
    # the same state from the zonal basis
    bz = mf.ZonalBasis(3, 16)
    sz = mf.stationary_state(model, bz, mf.initial.von_mises(bz, 3.0))
    assert abs(sz.amplitude(1) - st.amplitude(1)) < 1e-12


def test_masks_blocks_and_resolution_changes():
    b = mf.SphereBasis(6)
    assert b.subspace_mask(symmetric=True).sum() == 6
    assert np.all(b.real_orders[b.subspace_mask(period=3)] % 3 == 0)
    assert np.all(b.real_degrees[b.branch_mask(2)] % 2 == 0)
    assert b.branch_mask(1).sum() == 6
    blocks = b.invariant_blocks(b.forward(mf.initial.von_mises(b, 1.0, mean=[0, 0, 1])))
    assert len(blocks) == 1 + 2 * 6 and sum(x.size for x in blocks) == b.n_real
    assert len(b.invariant_blocks(b.forward(mf.initial.von_mises(b, 1.0, mean=[1, 0, 0])))) == 1
    assert len(b.invariant_blocks(np.eye(49)[0])) == b.n_real
    c = np.random.default_rng(1).standard_normal(49)
    big = b.with_max_degree(10)
    assert np.array_equal(big.convert(b.convert(c, big), b), c)
    assert np.array_equal(b.from_real(b.to_real(c), mass=c[0]), c)
    assert b.multiplier(np.arange(7.0))[b.index(3, -2)] == 3.0
    assert b.size_hint(9) == "lmax >= 9" and "lmax=6" in repr(b)


def test_bad_input():
    b = mf.SphereBasis(8)
    with pytest.raises(ValueError, match=r"\(14, 25\)"):
        b.forward(np.ones((14, 24)))
    with pytest.raises(ValueError, match="layout"):
        b.div(np.ones((2, 14, 25)))
    with pytest.raises(ValueError, match="entries"):
        b.backward(np.ones(50))
    with pytest.raises(ValueError, match="lmax"):
        mf.SphereBasis(0)
    with pytest.raises(TypeError):
        mf.SphereBasis(4.5)
    with pytest.raises(ValueError, match="rotation"):
        b.rotate(np.ones(81), np.eye(2))
    model = mf.MeanFieldModel(mf.AttentionKernel(20.0), kappa=1.0, dim=3)
    with pytest.raises(ValueError, match=r"needs lmax >= \d+"):
        mf.evolve(model, b, np.ones(b.shape), 1.0)
    with pytest.raises(ValueError, match="rho0 must hold grid values"):
        mf.evolve(model.replace(kernel=mf.AttentionKernel(0.5)), b, np.ones((14, 24)), 1.0,
                  resolution_tol=1e-6)
    with pytest.raises(ValueError, match="dim"):
        mf.evolve(mf.MeanFieldModel(mf.AttentionKernel(0.5), dim=2), b, np.ones(b.shape), 1.0)


def test_cluster_at_an_arbitrary_point_full_space():
    # Newton in the full space (symmetric=False) from a cluster guess about a generic axis
    # mu finds the rotated axisymmetric cluster; its orbit tangent (3 generators spanning
    # 2 directions) is set aside as two zero modes
    model = mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=1.2 * np.e, dim=3)
    b = mf.SphereBasis(10)
    sym = mf.stationary_state(model, b, mf.initial.von_mises(b, 3.0, mean=[0, 0, 1]),
                              symmetric=True, stability=False)
    mu = np.array([1.0, 2.0, 2.0]) / 3.0
    R = align_to_e3(mu).T  # R e_3 = mu
    # (the full-space least-squares Newton stalls at the round-off floor ~1e-12: tol 1e-11,
    # and the state error is the residual over the weakest stable rate ~0.3 / l(l+1))
    st = mf.stationary_state(model, b, mf.initial.von_mises(b, 3.0, mean=mu), symmetric=False,
                             tol=1e-11)
    assert np.max(np.abs(st.coeffs - b.rotate(sym.coeffs, R))) < 1e-9
    assert st.stability.symmetry_eigenvalues.size == 2 and st.stable


def test_two_clusters_noiseless_usa():
    # two clusters at generic, non-antipodal points: no symmetry is assumed anywhere
    model = mf.MeanFieldModel(mf.AttentionKernel(1.0), dim=3)
    b = mf.SphereBasis(32)
    rho0 = 0.5 * (mf.initial.von_mises(b, 3.0, mean=[1.0, 0.2, 0.3])
                  + mf.initial.von_mises(b, 3.0, mean=[-0.3, 0.9, -0.5]))
    sol = mf.evolve(model, b, rho0, 0.4, [0.0, 0.2, 0.4])
    assert sol.success, sol.message
    assert np.max(np.abs(sol.mass - 1.0)) < 1e-13
    assert np.all(np.diff(sol.energy) > 0) and sol.rho.min() > 0


def test_sphere_plots(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from meanfield.sphere_plots import plot_sphere_density, plot_sphere_evolution

    b = mf.SphereBasis(12)
    rho = mf.initial.von_mises(b, 1.0, mean=[1, 1, 0])
    for proj in ("mollweide", "orthographic", "rectilinear"):
        ax = plot_sphere_density(b, rho, projection=proj)
        ax.figure.savefig(tmp_path / f"{proj}.png")
        plt.close(ax.figure)
    model = mf.MeanFieldModel(mf.AttentionKernel(0.5), kappa=1.0, dim=3)
    sol = mf.evolve(model, b, rho, 0.2, [0.0, 0.1, 0.2])
    fig = plot_sphere_evolution(sol)
    fig.savefig(tmp_path / "evo.png")
    plt.close(fig)
    with pytest.raises(ValueError, match="shape"):
        plot_sphere_density(b, np.ones(5))


def test_bifurcation_diagram_agrees_with_zonal_basis():
    # the mode-1 branch at beta = 1 (supercritical, kappa_1 = e) traced in the full S^2
    # basis (branch in the m = 0 subspace, stability in the full space with the two rotation
    # zero modes set aside) equals the zonal one
    model = mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=1.0, dim=3)
    bounds = (0.9 * np.e, 1.3 * np.e)
    ds = mf.bifurcation_diagram(model, mf.SphereBasis(16), "kappa", bounds, modes=(1,))
    dz = mf.bifurcation_diagram(model, mf.ZonalBasis(3, 16), "kappa", bounds, modes=(1,))
    (bp,) = ds.bifurcation_points
    assert bp.kind == "supercritical" and abs(bp.param - np.e) < 1e-10
    bs, bz = ds.branches[0], dz.branches[0]
    assert bs.param.size == bz.param.size > 5
    assert np.max(np.abs(bs.param - bz.param)) < 1e-10
    assert np.max(np.abs(bs.amplitude - bz.amplitude)) < 1e-10
    assert np.array_equal(bs.stable, bz.stable) and bs.stable[1:].all()
