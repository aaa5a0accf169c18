"""Spectral summation on S^2 (meanfield.particles.spectral_s2) against the direct kernel."""

import numpy as np
import pytest

from meanfield.particles import attention_sums, simulate_particles
from meanfield.particles.simulate import AUTO_SPECTRAL_N_S2
from meanfield.particles.spectral_s2 import (
    sphere_coefficients,
    sphere_epsilon,
    sphere_order,
    sphere_sums,
    sphere_velocity,
)

ACC = 1e-10


@pytest.fixture(scope="module")
def s2_tokens():
    # n = 2000: 1700 uniform tokens, a tight cluster of 300 (spread 0.03) and one token
    # exactly at the north pole (where the (theta, phi) frame is degenerate).
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2000, 3))
    c = np.array([0.3, -0.5, 0.8]) + 0.03 * rng.standard_normal((300, 3))
    x[:300] = c
    x[300] = [0.0, 0.0, 1.0]
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _direct(x, beta, sa):
    v, _ = attention_sums(x, beta, softmax=sa)
    return v - np.sum(x * v, axis=1, keepdims=True) * x


@pytest.mark.parametrize("dynamics", ["usa", "sa"])
@pytest.mark.parametrize("beta", [-1.0, 0.0, 0.5, 4.0, 9.0])
def test_sphere_matches_direct(s2_tokens, beta, dynamics):
    # Bound (spectral_s2 docstring): truncation tail(L) < ACC/2 bounds the change of F/(n
    # lambda_0) and T/(n lambda_0); ducc0 runs at epsilon = ACC/20 relative to inputs of the
    # same size. Hence USA: |dv_i| <= ACC lambda_0(beta) (lambda_0 = sinh(beta)/beta, the
    # velocity scale), SA: |dv_i| <= ACC (1 + |v_i|) n lambda_0 / F_i.
    x = s2_tokens
    n = x.shape[0]
    lam, _, L = sphere_coefficients(beta, ACC)
    lam0 = lam[0] * np.exp(abs(beta))
    v = sphere_velocity(x, beta, dynamics, ACC)
    assert v.shape == (n, 3) and v.dtype == np.float64
    ref = _direct(x, beta, dynamics == "sa")
    err = np.linalg.norm(v - ref, axis=1)
    if dynamics == "usa":
        bound = ACC * lam0 * np.ones(n)
    else:
        F = np.exp(beta * (x @ x.T)).sum(axis=1)
        bound = ACC * (1 + np.linalg.norm(ref, axis=1)) * n * lam0 / F
    assert np.all(err <= bound), (L, np.max(err / bound))
    assert np.allclose(np.sum(v * x, axis=1), 0.0, atol=1e-13 * max(1.0, lam0))
    # the normalizer itself
    F_s, _ = sphere_sums(x, beta, ACC)
    F_ref = np.exp(beta * (x @ x.T) - abs(beta)).sum(axis=1)
    assert np.all(np.abs(F_s - F_ref) <= ACC * n * lam[0])


def test_order_and_epsilon():
    orders = [sphere_order(b) for b in (0.0, 0.5, 4.0, 9.0, 30.0)]
    assert orders[0] == 1 and orders == sorted(orders)
    assert sphere_order(4.0, 1e-4) < sphere_order(4.0, 1e-12)
    assert sphere_order(-4.0) == sphere_order(4.0)
    assert np.isclose(sphere_epsilon(1e-10), 5e-12) and sphere_epsilon(1e-14) >= 2e-13
    with pytest.raises(ValueError, match="accuracy"):
        sphere_coefficients(1.0, 0.0)
    with pytest.raises(ValueError, match="dynamics"):
        sphere_velocity(np.eye(3), 1.0, "xa")
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        sphere_velocity(np.eye(2), 1.0, "usa")


def test_beta_zero_limit():
    # beta -> 0: tangential part of (1/n) sum_j x_j (USA and SA coincide)
    x = np.random.default_rng(1).standard_normal((300, 3))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    m = x.mean(axis=0)
    ref = m - (x @ m)[:, None] * x
    for b in (0.0, 1e-9):
        assert np.allclose(sphere_velocity(x, b, "usa"), ref, atol=1e-11)
        assert np.allclose(sphere_velocity(x, b, "sa"), ref, atol=1e-11)


@pytest.mark.parametrize("beta, dynamics", [(1.0, "usa"), (4.0, "sa")])
def test_simulate_spectral_matches_direct(beta, dynamics):
    kw = dict(n=400, dim=3, beta=beta, dynamics=dynamics, t_final=0.5, dt=0.02,
              t_eval=[0.0, 0.25, 0.5], seed=5)
    sp = simulate_particles(method="spectral", **kw)
    di = simulate_particles(method="direct", **kw)
    assert sp.params["method"] == "spectral" and sp.params["spectral_order"] > 0
    assert np.abs(sp.x - di.x).max() < 1e-8
    assert np.abs(sp.x[-1] - sp.x[0]).max() > 1e-2  # the tokens did move


def test_auto_dispatch_s2():
    kw = dict(dim=3, beta=2.0, t_final=0.0, dt=0.01, seed=0)
    assert simulate_particles(n=AUTO_SPECTRAL_N_S2, **kw).params["method"] == "spectral"
    assert simulate_particles(n=AUTO_SPECTRAL_N_S2 - 1, **kw).params["method"] == "direct"
    big = dict(kw, n=AUTO_SPECTRAL_N_S2)
    assert simulate_particles(V=2 * np.eye(3), **big).params["method"] == "direct"
    assert simulate_particles(causal=True, **big).params["method"] == "direct"
    assert simulate_particles(normalization="pre-ln", **big).params["method"] == "direct"
    assert simulate_particles(**dict(big, dim=4)).params["method"] == "direct"
    with pytest.raises(ValueError, match="spectral.*S\\^2"):
        simulate_particles(method="spectral", causal=True, **big)
    with pytest.raises(ValueError, match="spectral.*dim=2 or 3"):
        simulate_particles(method="spectral", **dict(big, dim=4))
