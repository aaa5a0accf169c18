"""PlanarBasis: densities of (x_1, x_2) on S^{d-1} (Jacobi x Fourier series).

References: the heat flow of von Mises–Fisher data in closed form (Funk–Hecke: a zonal
function about mu has degree-l part decaying as e^{-l(l+d-2) t / kappa}; its Gegenbauer
coefficients are I_{l+d/2-1}(k0) / I_{d/2-1}(k0), DESIGN.md §1); the growth rates
l(l+d-2)(g_l - 1/kappa) of the uniform state; second methods: SphereBasis (d = 3), ZonalBasis
(zonal data about e_1, and radial data at d = 3), the Gibbs-map residual. Tolerances:
round-off of the transforms (1e-13 .. 1e-12), of fixed-step ETDRK4 applied to the same
discretized PDE (1e-12), of Newton (1e-10).
"""

import numpy as np
import pytest
from scipy.special import ive

import meanfield as mf
from meanfield.bases.zonal import log_harmonic_dimension, orthonormal_gegenbauer
from meanfield.stationary import gibbs_map


def unit_sphere(n, d, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def in_plane(angle, d):
    return np.cos(angle) * np.eye(d)[0] + np.sin(angle) * np.eye(d)[1]


def polygon(basis, k, conc):
    """Sum of k von Mises–Fisher bumps at the angles 2 pi j / k of the plane (mass 1)."""
    return sum(mf.initial.von_mises(basis, conc, mean=in_plane(2 * np.pi * j / k, basis.dim))
               for j in range(k)) / k


# -- discretization ---------------------------------------------------------------------


@pytest.mark.parametrize("d", [3, 4, 16, 256, 1024])
def test_orthonormal_and_div_grad_exact(d):
    # Q^T diag(w) Q = I and div grad = -l(l+d-2) on every coefficient (quadrature exact to
    # degree 3 lmax), with Gauss weights down to 1e-100 at large d
    b = mf.PlanarBasis(d, 24)
    E = np.eye(b.coeff_shape[0])
    assert np.max(np.abs(b.forward(b.backward(E)) - E)) < 1e-12
    lap = b.div(b.grad(E))
    assert np.max(np.abs(lap - b.laplacian * E)) < 1e-12 * np.max(np.abs(b.laplacian))
    assert np.all(lap[:, 0] == 0.0)  # divergences have no mass, exactly
    assert abs(b.weights.sum() - 1.0) < 1e-14


def test_harmonics_are_the_jacobi_closed_form():
    # d = 6 (a = 1): Q_{l,m} = sqrt(2) r^m P_k^{(1,m)}(2 r^2 - 1) cos(m phi) / norm
    from scipy.special import eval_jacobi

    d, a = 6, 1.0
    b = mf.PlanarBasis(d, 12)
    x = unit_sphere(30, d)
    r, phi = np.hypot(x[:, 0], x[:, 1]), np.arctan2(x[:, 1], x[:, 0])
    Q = b.harmonics(x)
    for l, m in [(4, 0), (5, 3), (7, -1), (12, 2)]:
        k = (l - abs(m)) // 2
        raw = r ** abs(m) * eval_jacobi(k, a, abs(m), 2 * r**2 - 1)
        raw = raw * (np.cos(m * phi) if m >= 0 else np.sin(-m * phi))
        ratio = Q[:, b.index(l, m)] / raw  # a constant (the normalization) for every point
        assert np.ptp(ratio) < 1e-11 * np.abs(ratio).max(), (l, m)
    # the normalization itself: int Q^2 d sigma = 1 on a much finer grid
    fine = mf.PlanarBasis(d, 30)
    q = fine.harmonics(fine.points)
    assert np.max(np.abs(fine.integrate(np.moveaxis(q**2, -1, 0))[:b.coeff_shape[0]] - 1)) \
        < 1e-13


def test_guards():
    with pytest.raises(ValueError, match="dim must be an integer >= 3"):
        mf.PlanarBasis(2, 8)
    with pytest.raises(ValueError, match=r"dim must be an integer in \[3, 1024\]"):
        mf.PlanarBasis(2048, 8)
    with pytest.raises(TypeError, match="lmax must be an int"):
        mf.PlanarBasis(5, 8.0)
    with pytest.raises(ValueError, match="dealias must be a finite number >= 1"):
        mf.PlanarBasis(5, 8, dealias=0.5)
    with pytest.raises(MemoryError, match="MAX_RADIAL_ENTRIES"):
        mf.PlanarBasis(5, 5000)
    b = mf.PlanarBasis(5, 4)
    with pytest.raises(ValueError, match="not planar"):
        b.from_function(lambda x: x[..., 3])
    with pytest.raises(ValueError, match="not planar"):
        b.tangent_from_cartesian(np.ones(b.points.shape))
    with pytest.raises(ValueError, match="trailing grid shape"):
        b.forward(np.ones((3, 3)))


def test_spectral_convergence_of_the_projection():
    # f = exp(1.5 x_1 + x_1 x_2 - x_2^2) (entire): the error of the degree-L projection at
    # random points falls geometrically (rate shown by the ratios) down to round-off
    d = 5

    def f(x):
        return np.exp(1.5 * x[..., 0] + x[..., 0] * x[..., 1] - x[..., 1] ** 2)

    x = unit_sphere(200, d)
    errs = []
    for L in (4, 8, 12, 16, 20, 28):
        b = mf.PlanarBasis(d, L)
        errs.append(np.max(np.abs(b.evaluate(b.forward(b.from_function(f)), x) - f(x))))
    errs = np.array(errs)
    ratios = errs[1:5] / errs[:4]
    assert np.all(ratios < 0.03), ratios  # > 30x per 4 degrees
    assert errs[-1] < 1e-13, errs


# -- exact dynamics -----------------------------------------------------------------------


def heat_exact(x, mus, k0, kappa, t, d, L=60):
    """Mixture of vMF densities e^{k0 <x, mu>} / lambda_0 under the heat flow (Funk–Hecke):
    sum_l e^{-l(l+d-2) t/kappa} (I_{l+nu}(k0)/I_nu(k0)) sqrt(N(d, l)) Q_l(<x, mu>)."""
    nu = d / 2 - 1
    l = np.arange(L + 1)
    amp = np.exp(-l * (l + d - 2) * t / kappa) * ive(l + nu, k0) / ive(nu, k0) \
        * np.exp(0.5 * log_harmonic_dimension(l, d))
    return sum(orthonormal_gegenbauer(L, d, np.clip(x @ mu, -1, 1)) @ amp
               for mu in mus) / len(mus)


@pytest.mark.parametrize("d", [5, 64])
def test_heat_flow_of_two_von_mises_fisher(d):
    k0, kappa = 4.0, 2.0
    b = mf.PlanarBasis(d, 40)
    mus = [in_plane(0.0, d), in_plane(2.0, d)]
    rho0 = sum(mf.initial.von_mises(b, k0, mean=mu) for mu in mus) / 2
    model = mf.MeanFieldModel(mf.ZonalKernel(coefficients=np.zeros(4), dim=d), kappa=kappa,
                              dim=d)
    t = np.linspace(0.0, 1.0, 5)
    sol = mf.evolve(model, b, rho0, 1.0, t)
    assert sol.success, sol.message
    x = unit_sphere(100, d)
    for i, ti in enumerate(t):
        err = np.max(np.abs(b.evaluate(sol.coeffs[i], x) - heat_exact(x, mus, k0, kappa, ti, d)))
        assert err < 1e-12, (ti, err)
    assert np.max(np.abs(sol.mass - 1.0)) < 1e-13


@pytest.mark.parametrize("d", [3, 4, 16, 256])
def test_growth_rates_of_the_uniform_state(d):
    # sigma_l = l(l+d-2)(g_l - 1/kappa), multiplicity l + 1 in the planar class (DESIGN.md §1)
    beta, L = 2.0, 6
    g = mf.AttentionKernel(beta).coefficients(L, d)
    kappa = 1.1 / g[2]  # modes 1 and 2 unstable, 3 and 4 stable
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=kappa, dim=d)
    b = mf.PlanarBasis(d, L)
    st = mf.linear_stability(model, b, b.forward(np.ones(b.shape)))
    exact = np.array([l * (l + d - 2) * (g[l] - 1 / kappa) for l in b.real_degrees])
    got = np.sort(st.eigenvalues.real)
    assert np.max(np.abs(got - np.sort(exact))) < 1e-12 * max(1.0, np.abs(exact).max())
    for l in range(1, 5):
        rate = l * (l + d - 2) * (g[l] - 1 / kappa)
        assert np.sum(np.abs(got - rate) < 1e-12 * max(1.0, abs(rate))) == l + 1
    assert st.morse_index == 2 + 3


# -- second methods -----------------------------------------------------------------------


def test_d3_agrees_with_sphere_basis():
    # x_3-symmetric data on S^2: the planar and the full spherical-harmonic discretizations
    # of the same USA flow, fixed steps, compared at random points (round-off)
    L = 16
    model = mf.MeanFieldModel(mf.AttentionKernel(2.0), kappa=3.0, dim=3)

    def f(x):
        return np.exp(1.2 * x[..., 0] + 0.5 * x[..., 1] ** 2 - 0.7 * x[..., 2] ** 2
                      + 0.4 * x[..., 0] * x[..., 1])

    p, s = mf.PlanarBasis(3, L), mf.SphereBasis(L)
    t = [0.0, 0.5, 1.0]
    rp, rs = p.from_function(f), s.from_function(f)
    with pytest.warns(UserWarning, match="under-resolved"):  # top modes 5e-7: same on both
        sp = mf.evolve(model, p, rp / p.integrate(rp), 1.0, t, dt=1 / 64)
        ss = mf.evolve(model, s, rs / s.integrate(rs), 1.0, t, dt=1 / 64)
    x = unit_sphere(40, 3)
    for i in range(3):
        assert np.max(np.abs(p.evaluate(sp.coeffs[i], x) - s.evaluate(ss.coeffs[i], x))) < 1e-12
    assert np.allclose(sp.free_energy, ss.free_energy, rtol=0, atol=1e-13)


@pytest.mark.parametrize("d", [5, 16])
def test_zonal_data_agree_with_zonal_basis(d):
    # densities of x_1 alone are planar: evolve and Newton on both bases, compared at random
    # points; at d = 5 the stationary state (the 1-cluster branch, amplitude > 0.5) too
    L, beta = 20, 1.0
    g1 = mf.AttentionKernel(beta).coefficients(2, d)[1]
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=1.5 / g1, dim=d)
    z, p = mf.ZonalBasis(d, L), mf.PlanarBasis(d, L)

    def f(x):
        return np.exp(1.5 * x[..., 0] + 0.5 * x[..., 0] ** 2)

    rz, rp = z.from_function(f), p.from_function(f)
    t = [0.0, 0.5, 1.0]
    sz = mf.evolve(model, z, rz / z.integrate(rz), 1.0, t, dt=1 / 64)
    sp = mf.evolve(model, p, rp / p.integrate(rp), 1.0, t, dt=1 / 64)
    x = unit_sphere(40, d)
    for i in range(3):
        assert np.max(np.abs(p.evaluate(sp.coeffs[i], x) - z.evaluate(sz.coeffs[i], x[:, 0]))) \
            < 1e-12
    if d != 5:  # (at d = 16 this state is concentrated beyond lmax = 20)
        return
    stz = mf.stationary_state(model, z, mf.initial.von_mises(z, 2.0))
    stp = mf.stationary_state(model, p, mf.initial.von_mises(p, 2.0))
    assert stz.amplitude(1) > 0.5 and stp.residual < 1e-12
    assert np.max(np.abs(p.evaluate(stp.coeffs, x) - z.evaluate(stz.coeffs, x[:, 0]))) < 1e-10
    assert stp.stable == stz.stable


@pytest.mark.filterwarnings("ignore:the solution became under-resolved")  # 4e-10 on both
def test_radial_data_at_d3_agree_with_zonal_basis_about_e3():
    # at d = 3 the m = 0 class (functions of x_1^2 + x_2^2 = 1 - x_3^2) is the even zonal
    # class about e_3: evolve and Newton compared through t = x_3
    L, beta = 20, 1.0
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=4.0, dim=3)
    z, p = mf.ZonalBasis(3, L), mf.PlanarBasis(3, L)
    rz = np.exp(2.0 * z.grid**2)
    rp = p.from_function(lambda x: np.exp(2.0 * x[..., 2] ** 2))
    assert np.max(np.abs(p.forward(rp)[p.orders != 0])) < 1e-13  # m = 0 only
    t = [0.0, 0.5, 1.0]
    sz = mf.evolve(model, z, rz / z.integrate(rz), 1.0, t, dt=1 / 64)
    sp = mf.evolve(model, p, rp / p.integrate(rp), 1.0, t, dt=1 / 64)
    x = unit_sphere(40, 3)
    for i in range(3):
        assert np.max(np.abs(p.evaluate(sp.coeffs[i], x) - z.evaluate(sz.coeffs[i], x[:, 2]))) \
            < 1e-12
    kappa2 = 1.0 / mf.AttentionKernel(beta).coefficients(2, 3)[2]  # mode 2: bipolar about e_3
    m2 = model.replace(kappa=1.2 * kappa2)
    stz = mf.stationary_state(m2, z, np.exp(4.0 * z.grid**2), period=2)
    stp = mf.stationary_state(m2, p, p.from_function(lambda x: np.exp(4.0 * x[..., 2] ** 2)),
                              period=2)
    assert abs(stz.amplitude(2)) > 0.1
    assert np.max(np.abs(p.evaluate(stp.coeffs, x) - z.evaluate(stz.coeffs, x[:, 2]))) < 1e-10


@pytest.mark.filterwarnings("ignore:the solution became under-resolved")  # tail 3e-10
def test_noisy_usa_flow_conserves_mass_and_decreases_free_energy():
    d, beta = 5, 1.0
    g1 = mf.AttentionKernel(beta).coefficients(2, d)[1]
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=1.2 / g1, dim=d)
    b = mf.PlanarBasis(d, 20)
    rho0 = b.from_function(lambda x: 1 + 0.3 * x[..., 0] * x[..., 1] + 0.2 * x[..., 0]
                           + 0.1 * x[..., 1] ** 3)
    sol = mf.evolve(model, b, rho0 / b.integrate(rho0), 20.0, np.linspace(0, 20, 41))
    assert sol.success, sol.message
    assert np.max(np.abs(sol.mass - 1.0)) < 1e-13
    F = sol.free_energy
    assert np.all(np.diff(F) <= 1e-14) and F[-1] < F[0] - 0.01
    assert sol.amplitude(1)[-1] > 0.4  # ends near the 1-cluster state


# -- polygon states -----------------------------------------------------------------------


@pytest.mark.parametrize("k, factor", [(2, 0.9), (3, 1.02)])
def test_polygon_states_in_d16(k, factor):
    # the k-cluster polygon branch near kappa_k = 1/g_k (noisy USA, beta = 2): Newton from k
    # vMF bumps at the angles 2 pi j/k in the D_k subspace; checked by the Gibbs-map
    # fixed point (a second formulation of stationarity), its D_k symmetry and, for k = 2
    # (two antipodal clusters: zonal about e_1), against ZonalBasis
    d, beta, L = 16, 2.0, 16
    g = mf.AttentionKernel(beta).coefficients(L, d)
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=factor / g[k], dim=d)
    b = mf.PlanarBasis(d, L)
    st = mf.stationary_state(model, b, polygon(b, k, 6.0), period=k)
    assert st.converged and st.residual < 1e-12 and b.tail(st.coeffs) < 1e-4
    # the Gibbs map T(rho) = e^{kappa G * rho} / Z, projected: differs from rho by what the
    # exponential puts beyond lmax (of the order of the state's top coefficients, the tail)
    tail = float(b.tail(st.coeffs))
    assert np.max(np.abs(b.forward(gibbs_map(model, b, st.rho)) - st.coeffs)) < 1e-12 + tail
    amps = [float(b.amplitude(st.coeffs, j)) for j in range(1, 5)]
    assert amps[k - 1] > 5e-3 and amps[0] < 1e-14  # a k-gon, no mode-1 content
    assert np.max(np.abs(b.rotate(st.coeffs, 2 * np.pi / k) - st.coeffs)) < 1e-14
    assert np.max(np.abs(st.coeffs[b.orders < 0])) == 0.0  # reflection phi -> -phi
    assert not st.stable  # unstable to the 1-cluster mode (kappa > kappa_1)
    if k == 2:
        z = mf.ZonalBasis(d, L)
        stz = mf.stationary_state(model, z, np.cosh(6.0 * z.grid), period=2)  # two bumps
        x = unit_sphere(40, d)
        assert np.max(np.abs(b.evaluate(st.coeffs, x) - z.evaluate(stz.coeffs, x[:, 0]))) < 1e-10


def test_bifurcation_diagram_mode_2_branch_point():
    # the uniform state's mode 2 destabilizes at kappa g_2 = 1; two branches are born there
    # (meanfield.isotropy), the ring O(2) x O(d-2) and the zonal O(d-1) one, whose + half is
    # the two-cluster (bipolar) state on the x_1 axis
    d, beta = 16, 2.0
    g = mf.AttentionKernel(beta).coefficients(16, d)
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=1.0, dim=d)
    b = mf.PlanarBasis(d, 12)
    with pytest.warns(UserWarning, match="max_points=4"):  # a short branch: kept fast
        diag = mf.bifurcation_diagram(model, b, "kappa", (0.95 / g[2], 1.05 / g[2]),
                                      modes=(2,), max_points=4)
    assert [bp.isotropy for bp in diag.bifurcation_points] == ["O(2) x O(d-2)", "O(d-1)"]
    for bp in diag.bifurcation_points:
        assert bp.mode == 2 and abs(bp.param * g[2] - 1) < 1e-10
    br = next(br for br in diag.branches if br.isotropy == "O(d-1)" and br.side == 1)
    assert br.param.size >= 3 and np.all(br.amplitude[1:] > 0)
    c = br.coeffs[-1]
    # D_2 subspace (the zonal state embedded by an exact transform: round-off only)
    assert np.max(np.abs(c[(b.orders % 2 != 0) | (b.orders < 0)])) < 1e-15
    assert b.amplitude(c, 2) > 0  # the in-plane (2, 2) harmonic: two clusters on e_1


def test_fields_that_are_not_planar_are_refused():
    """Weighted heads, the perceptron and rotations out of the plane do not keep planar
    densities planar (and the grid nodes stand for O(d-2)-orbits): refused, not mis-summed."""
    b = mf.PlanarBasis(4, 8)
    c = b.forward(np.ones(b.shape))
    A = np.diag([1.5, 1.0, 1.0, 1.0])
    bad = {
        "weighted attention heads": mf.AttentionLayer(1.0, K=A),
        "perceptron": mf.Perceptron(np.eye(4), np.zeros(4), np.eye(4)),
        r"\(x_1, x_2\) plane": mf.RigidRotation(np.array([[0.0, 0, -1, 0], [0, 0, 0, 0],
                                                           [1, 0, 0, 0], [0, 0, 0, 0]])),
    }
    for match, layer in bad.items():
        with pytest.raises(ValueError, match=match):
            mf.MeanFieldModel(layer, kappa=2.0, dim=4).rhs(b, c)
    inplane = np.zeros((4, 4))
    inplane[0, 1], inplane[1, 0] = -0.5, 0.5
    ok = mf.MeanFieldModel(mf.AttentionLayer(1.0) + mf.RigidRotation(inplane), kappa=2.0, dim=4)
    assert np.max(np.abs(ok.rhs(b, c))) < 1e-13  # rho = 1 stays stationary
    iso = mf.MeanFieldModel(mf.AttentionLayer(1.0, V=2 * np.eye(4)), kappa=2.0, dim=4)
    assert np.max(np.abs(iso.rhs(b, c))) < 1e-13  # isotropic heads run by multipliers


@pytest.mark.parametrize("d, L", [(3, 1), (4, 2), (16, 7), (16, 8), (256, 9)])
def test_transforms_batched_or_not_agree_with_the_harmonics(d, L):
    # the transforms pack the orders in pairs (m, L + 1 - m) (order (L + 1) / 2 alone for
    # odd L) and move data by index arrays built per batch size: a batch gives what one
    # series at a time gives (1e-14 of the values: one product's round-off); backward gives
    # sum_i c_i Q_i(x) of the harmonics evaluated by their recurrence (round-off: a few
    # pointwise_error per unit norm of c), grad the directional derivatives of that series
    # (central differences, h = 1e-5: error ~1e-10), forward inverts backward and
    # div grad = -l(l+d-2) (quadrature exact), every one batched or not
    b = mf.PlanarBasis(d, L)
    c = np.random.default_rng(L).normal(size=(2, 3) + b.coeff_shape)
    f, v = b.backward(c), b.grad(c)
    assert np.max(np.abs(b.forward(f) - c)) < 1e-12 * np.max(np.abs(c))
    lap = b.laplacian * c
    assert np.max(np.abs(b.div(v) - lap)) < 1e-12 * np.max(np.abs(lap))
    for name, x in [("backward", c), ("grad", c), ("forward", f), ("div", v)]:
        op = getattr(b, name)
        batched = op(x)
        one = np.stack([op(x[..., i, j, :, :] if name == "div" else x[i, j])
                        for i in range(2) for j in range(3)], axis=1 if name == "grad" else 0)
        one = one.reshape(batched.shape)
        assert np.max(np.abs(one - batched)) < 1e-14 * np.max(np.abs(batched)), name
    x, ok = b.points, b.reliable_nodes
    ref = np.einsum("abi,jpi->abjp", c, b.harmonics(x))
    bound = 50 * b.pointwise_error * np.linalg.norm(c, axis=-1)[..., None, None]
    assert np.all(np.abs(f - ref)[..., ok] <= bound[..., ok])
    V = b.tangent_to_cartesian(v)  # (2, 3, n_r, nphi, d)
    h = 1e-5
    for e in np.eye(d)[:2]:
        u = e - (x @ e)[..., None] * x  # tangent at every node
        plus, minus = x + h * u, x - h * u
        plus /= np.linalg.norm(plus, axis=-1, keepdims=True)
        minus /= np.linalg.norm(minus, axis=-1, keepdims=True)
        fd = (b.evaluate(c, plus) - b.evaluate(c, minus)) / (2 * h)
        err = np.abs(fd - np.sum(V * u, axis=-1))[..., ok]
        assert np.max(err) < 1e-7 * np.max(np.abs(fd[..., ok])), e
