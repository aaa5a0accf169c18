"""The fast evolve path: the compiled transport term, the embedded ETDRK4 pair, and a
default tolerance that names the accuracy it gets.

References: the convolution form of the transport term is exact (the pseudo-spectral
product on 3n points is alias-free for the kept modes), so it must agree with the FFT path
to round-off; the global-error reference is fixed-step ETDRK4 at dt = 1e-3, which agrees
with scipy's DOP853 at rtol 1e-13 to 3e-12 on this case (benchmarks/bench_evolve.py).
"""

import math

import numpy as np
import pytest

import meanfield as mf
from meanfield.fused import MAX_MODES, MAX_TERMS, ConvolutionUSA, fused_transport, kernel_band
from meanfield.timestepping import ETDRK4, ETDRK4Embedded, StepController, integrate

USA = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)


def _state(basis, seed=0, amplitude=0.3):
    return basis.forward(mf.initial.perturbed_uniform(basis, amplitude, seed=seed))


# ---------------------------------------------------------------- compiled transport


@pytest.mark.parametrize("n_modes", [2, 7, 32, 48, MAX_MODES])
@pytest.mark.parametrize("kernel", [mf.AttentionKernel(3.0), mf.AttentionKernel(-1.5),
                                    mf.KuramotoKernel()])
def test_convolution_equals_the_fft_transport(n_modes, kernel):
    model = mf.MeanFieldModel(kernel, kappa=2.0)
    basis = mf.CircleBasis(n_modes)
    fused, plain = fused_transport(model, basis), model.nonlinear_term(basis)
    assert isinstance(fused, ConvolutionUSA)
    rng = np.random.default_rng(n_modes)
    c = _state(basis) if n_modes > 4 else np.ones(n_modes, dtype=complex)
    c = c + 0.01 * (rng.normal(size=n_modes) + 1j * rng.normal(size=n_modes))  # any c
    c[0] = c[0].real
    scale = np.max(np.abs(plain(c)))
    assert np.max(np.abs(fused(c) - plain(c))) <= 1e-14 * max(scale, 1.0) * n_modes
    batch = np.stack([c, 2 * c])  # leading axes: the model's own path
    np.testing.assert_array_equal(fused(batch), plain(batch))


def test_fused_path_applies_only_where_exact_and_faster():
    basis = mf.CircleBasis(32)
    assert fused_transport(USA, basis) is not None
    assert fused_transport(USA.replace(dynamics="sa"), basis) is None
    assert fused_transport(USA, mf.CircleBasis(32, dealias=1.0)) is None  # aliased grid
    assert fused_transport(USA, mf.CircleBasis(MAX_MODES + 1)) is None
    assert fused_transport(USA, mf.CircleBasis(MAX_MODES)) is not None  # beta = 3: band 22
    # a kernel with algebraic decay (band ~ n): the sum costs n**2, the FFTs win beyond
    # MAX_TERMS
    slow = mf.MeanFieldModel(mf.ZonalKernel(coefficients=np.r_[0, 1 / np.arange(1, 300)**2],
                                            dim=2), kappa=1.0)
    assert fused_transport(slow, mf.CircleBasis(64)) is not None
    assert fused_transport(slow, mf.CircleBasis(256)) is None
    assert 64 * (2 * kernel_band(slow.potential_multiplier(mf.CircleBasis(64))) + 1) \
        <= MAX_TERMS < 256 * 511
    assert fused_transport(USA.replace(dim=3), mf.SphereBasis(8)) is None


def test_fused_and_plain_runs_agree():
    basis = mf.CircleBasis(32)
    rho0 = mf.initial.perturbed_uniform(basis, 0.3, seed=0)
    fused = mf.evolve(USA, basis, rho0, 2.0, [0, 1, 2])
    L, N = USA.linear_operator(basis), USA.nonlinear_term(basis)
    ctrl = StepController(rtol=1e-8 * ETDRK4.tolerance_factor,
                          atol=1e-12 * ETDRK4.tolerance_factor)
    plain = integrate(ETDRK4(L, N), basis.forward(rho0), [0, 1, 2], controller=ctrl,
                      h_min=2e-12)
    assert fused.n_steps == plain.n_steps
    assert np.max(np.abs(fused.coeffs - plain.u)) < 1e-13


# ---------------------------------------------------------------- embedded pair


def test_step_pair_is_etdrk4_with_first_same_as_last():
    basis = mf.CircleBasis(24)
    L, plain = USA.linear_operator(basis), USA.nonlinear_term(basis)
    u = _state(basis)
    for N in (plain, fused_transport(USA, basis)):
        s = ETDRK4(L, N)
        u1, err, f1 = s.step_pair(u, 0.05)
        assert s.nfev == 5
        np.testing.assert_allclose(u1, ETDRK4(L, plain).step(u, 0.05), rtol=0, atol=1e-15)
        np.testing.assert_allclose(f1, plain(u1), rtol=0, atol=1e-14)
        s.step_pair(u1, 0.05, f1)
        assert s.nfev == 9
    with pytest.raises(ValueError, match="step size h"):
        s.step_pair(u, -1.0)


def test_embedded_estimate_is_the_local_error_of_a_third_order_solution():
    # err = u_new - u_hat = O(h^4); u_new's own error is O(h^5), h/0.1 ~ 20% of it at
    # h = 0.1 (measured), so at h = 0.025 err matches u_exact - u_hat to ~5% (15% allowed)
    basis = mf.CircleBasis(24)
    L, N = USA.linear_operator(basis), fused_transport(USA, basis)
    u = _state(basis, amplitude=0.5)
    errs = []
    for h in (0.05, 0.025):
        u1, err, _ = ETDRK4(L, N).step_pair(u, h)
        if h == 0.025:
            ref = integrate(ETDRK4(L, N), u, [0.0, h], dt=h / 64).u[-1]
            exact_hat = np.max(np.abs(ref - (u1 - err)))
            assert np.max(np.abs(err)) == pytest.approx(exact_hat, rel=0.15)
        errs.append(np.max(np.abs(err)))
    assert math.log2(errs[0] / errs[1]) == pytest.approx(4.0, abs=0.3)


# ---------------------------------------------------------------- tolerance that tracks


@pytest.mark.filterwarnings("ignore:the solution became under-resolved")
@pytest.mark.parametrize("method, rtols", [
    ("etdrk4", (1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10)),
    ("etdrk4-embedded", (1e-4, 1e-6, 1e-8)),
])
def test_default_tolerance_names_the_global_error(issue_case, method, rtols):
    basis, rho0, ref = issue_case
    steps = []
    for rtol in rtols:
        sol = mf.evolve(USA, basis, rho0, 10.0, [0, 10.0], method=method, rtol=rtol)
        assert sol.success, sol.message
        err = np.max(np.abs(sol.rho[-1] - ref)) / np.max(ref)
        assert 0.1 * rtol <= err <= 10 * rtol, (rtol, err)
        steps.append(sol.n_steps)
    assert np.all(np.diff(steps) > 0)


@pytest.mark.filterwarnings("ignore:the solution became under-resolved")
def test_embedded_run_resumes_bit_identically(tmp_path, issue_case):
    basis, rho0, _ = issue_case
    t_eval = np.linspace(1.0, 6.0, 6)
    kw = dict(method="etdrk4-embedded", rtol=1e-7)
    whole = mf.evolve(USA, basis, rho0, 6.0, t_eval, **kw)
    ck = tmp_path / "ck.npz"

    def stop(t):
        if t > 3.2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mf.evolve(USA, basis, rho0, 6.0, t_eval, checkpoint=ck, checkpoint_every=0,
                  progress=stop, **kw)
    rest = mf.evolve(USA, basis, rho0, 6.0, t_eval, resume=ck, **kw)
    assert np.array_equal(rest.coeffs, whole.coeffs)
    assert (rest.n_steps, rest.n_rejected) == (whole.n_steps, whole.n_rejected)


def test_embedded_needs_a_scheme_that_has_one():
    from meanfield.timestepping import RK4
    with pytest.raises(ValueError, match="no embedded error estimate"):
        integrate(RK4(-1.0, np.zeros_like), np.ones(1), [0.0, 1.0],
                  controller=StepController(), embedded=True)
    assert ETDRK4Embedded.adaptive_estimate == "embedded" and ETDRK4.embedded_order == 3
