"""The causal kinetic equation (meanfield/kinetic.py) against independent references.

- weight="full" (every token attends to all): the ordinary PDE (meanfield.evolve), to the
  steppers' tolerance (1e-8);
- the positional quadrature W against closed forms and scipy.integrate.quad (1e-12: Gauss
  rules on smooth integrands);
- the linearized causal equation around rho = 1 against the closed-form propagator of
  meanfield.causal (exp(c W_lambda) = I + G_c): amplitudes 1e-7, so the nonlinearity is
  1e-7 relative; the propagator's quadrature in sigma to 1e-10;
- the particles of simulate_particles(causal=True) (USA, noiseless): E cos(theta) of token i
  against the kinetic density at s = i/n, within 4 standard errors plus the O(1/n) offset of
  the discrete causal sum (allowance 2/n, the sum's Riemann error over [0, s]).
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from scipy.integrate import quad

import meanfield as mf
from meanfield import causal
from meanfield.kinetic import evolve_kinetic, lagrange_matrix, position_weights

matplotlib.use("Agg")


def test_full_attention_is_the_ordinary_pde():
    model = mf.MeanFieldModel(mf.AttentionKernel(2.5), kappa=3.0, dynamics="sa")
    basis = mf.CircleBasis(32)
    rho0 = mf.initial.von_mises(basis, 1.5)
    ks = evolve_kinetic(model, basis, rho0, 3.0, [0, 1, 3], weight="full", n_positions=6)
    sol = mf.evolve(model, basis, rho0, 3.0, [0, 1, 3])
    assert ks.status == "success"
    assert np.max(np.abs(ks.rho - sol.rho[:, None])) < 1e-7


def test_position_weights_integrate_exactly():
    s, W = position_weights(24, "causal")
    assert np.allclose(W @ np.cos(3 * s), np.sin(3 * s) / 3, rtol=0, atol=1e-12)
    for lam in (0.0, 1.0, 4.0):
        s, W = position_weights(24, "alibi", lam=lam)
        assert np.allclose(W.sum(axis=1), 1.0, atol=1e-12)
        f = np.exp(-s) * np.cos(2 * s)
        ref = [quad(lambda x, si=si, lam=lam: causal.alibi_kernel(si, x, lam) * np.exp(-x)
                    * np.cos(2 * x), 0, si, epsabs=1e-14)[0] for si in s]
        assert np.allclose(W @ f, ref, rtol=0, atol=1e-10)
    s, W = position_weights(8, "full")
    assert np.allclose(W @ s**3, 0.25, atol=1e-14)


def test_lagrange_matrix_interpolates_polynomials():
    nodes = 0.5 * (np.polynomial.legendre.leggauss(10)[0] + 1)
    x = np.linspace(0, 1, 7)
    assert np.allclose(lagrange_matrix(nodes, x) @ nodes**9, x**9, atol=1e-12)


@pytest.mark.parametrize("lam", [0.0, 1.0])
def test_linear_regime_matches_the_closed_form_propagator(lam):
    beta, eps, t = 2.0, 1e-7, 1.5
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=np.inf)
    basis = mf.CircleBasis(16)
    s, _ = position_weights(24, "alibi", lam=lam)
    rho0 = 1 + 2 * eps * s[:, None] * np.cos(basis.grid)  # rho_1(0, s) = eps s
    # fixed steps: the adaptive control is relative to the mass coefficient (1), far above
    # the 1e-7 signal; ETDRK4 at dt = 0.01 is accurate to 2e-11 relative here
    ks = evolve_kinetic(model, basis, rho0, t, [0, t], weight="alibi", lam=lam,
                        n_positions=24, dt=0.01)
    a1 = float(causal.mode_rates(beta, 1)[0])  # 1^2 g_1 = I_1(beta)/beta
    exact = [eps * (si + quad(lambda x, si=si: causal.causal_propagator(a1 * t, si, x, lam)
                              * x, 0, si, epsabs=1e-16, limit=200)[0]) for si in ks.s]
    got = ks.coeffs[-1, :, 1].real
    assert np.allclose(got, exact, rtol=1e-6, atol=0)


def test_mass_and_positivity_at_every_position():
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=2.0)
    basis = mf.CircleBasis(48)
    rho0 = mf.initial.von_mises(basis, 2.0)
    ks = evolve_kinetic(model, basis, rho0, 4.0, [0, 2, 4], weight="alibi", lam=2.0,
                        n_positions=12)
    assert ks.status == "success"
    assert np.max(np.abs(basis.integrate(ks.rho) - 1.0)) < 1e-12
    assert ks.rho.min() > 0
    ax = ks.plot(1)
    assert ax.get_xlabel() == "token position s"


def test_kinetic_density_against_causal_particles():
    beta, t, n, R = 1.0, 1.5, 64, 300
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=np.inf)
    basis = mf.CircleBasis(32)
    rho0 = mf.initial.von_mises(basis, 1.0)
    ks = evolve_kinetic(model, basis, rho0, t, [0, t], weight="causal", n_positions=24)
    ps = mf.simulate_particles(model, n=n, t_final=t, dt=0.02, seed=5, replicas=R,
                               causal=True, init="vonmises", concentration=1.0)
    cos = ps.x[-1, ..., 0]  # (R, n): cos(theta) of each token
    idx = np.array([7, 15, 31, 47, 63])  # tokens i + 1 at s = (i + 1)/n
    mean, sem = cos[:, idx].mean(axis=0), cos[:, idx].std(axis=0, ddof=1) / np.sqrt(R)
    m1 = ks.coeffs[-1, :, 1].real  # int cos(theta) rho(s) d sigma = Re rho_1
    kinetic = ks.at_positions(m1, (idx + 1) / n)
    start = basis.forward(rho0)[1].real
    assert np.all(kinetic[2:] - start > 5 * sem[2:])  # late tokens move: the test has power
    assert np.all(np.abs(mean - kinetic) < 4 * sem + 2.0 / n)
