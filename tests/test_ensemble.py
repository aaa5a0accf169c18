"""Batched ensembles: simulate_particles(replicas=R) (issue 11).

References: the single runs themselves (replica r of an ensemble must equal the single run
with its seed, bit for bit: the same compiled kernel runs for both), a plain-numpy
implementation of GLPR's step written here (the ensemble statistic within its Monte Carlo
error), brute-force observables, and the full-dimensional numpy reference for the exact
span reduction.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

import meanfield as mf
from meanfield.particles import observables as obs
from meanfield.particles.ensemble import (
    cluster_count,
    ensemble_estimate,
    pair_fraction,
    random_attention_weights,
)
from meanfield.particles.interactions import (
    SERIAL_WORK,
    attention_euler_step,
    attention_sums,
    attention_sums_batched,
    uses_tiled_path,
)
from meanfield.particles.simulate import replica_seeds


def _single(base, r, R, seed):
    """The single-run arguments of replica r: its seed, its Q/K/V and x0."""
    kw = dict(base)
    for name in ("Q", "K", "V", "x0"):
        if kw.get(name) is not None and np.ndim(kw[name]) == 3:
            kw[name] = kw[name][r]
    return dict(kw, seed=replica_seeds(seed, R)[r])


def _one(base, r, R, seed):
    """The arguments of replica r as an ensemble of one (its stream given as a list)."""
    kw = _single(base, r, R, seed)
    for name in ("Q", "K", "V", "x0"):
        if np.ndim(base.get(name)) == 3:
            kw[name] = base[name][r:r + 1]
    return dict(kw, seed=[kw["seed"]])


CASES = {
    "sa-euler-noiseless": dict(dynamics="sa", integrator="euler", dim=2),
    "usa-rk4-noiseless": dict(dynamics="usa", dim=3),
    "sa-noisy": dict(dynamics="sa", kappa=4.0, dim=2),
    "usa-noisy-s2": dict(dynamics="usa", kappa=2.0, dim=3),
    "causal-sa": dict(dynamics="sa", causal=True, dim=3, integrator="euler"),
    "pre-ln": dict(dynamics="sa", normalization="pre-ln", dim=3),
    "ngpt-noisy": dict(dynamics="sa", normalization="ngpt", kappa=8.0, dim=3),
    "span-reduced-d16": dict(dynamics="sa", dim=16, integrator="euler"),
    "float32": dict(dynamics="sa", dim=2, dtype=np.float32, kappa=5.0),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_replica_equals_single_run_bit_for_bit(case):
    # R * n^2 * width above SERIAL_WORK: the ensemble runs the multithreaded loop while each
    # single run is small (one thread of the same kernel); results must not depend on that
    R, seed = 1100, 11
    base = dict(beta=2.0, n=32, t_final=0.3, dt=0.02, t_eval=[0.0, 0.1, 0.3], **CASES[case])
    assert R * 32 * 32 * 4 >= SERIAL_WORK
    ens = mf.simulate_particles(replicas=R, seed=seed, **base)
    assert ens.x.shape == (3, R, 32, base["dim"])
    for r in (0, 517, R - 1):
        # an ensemble of one runs the ensemble's kernels: bit for bit
        one = mf.simulate_particles(replicas=1, **_one(base, r, R, seed))
        assert np.array_equal(ens.x[:, r], one.x[:, 0]), case
        if one.radius is not None:
            assert np.array_equal(ens.radius[:, r], one.radius[:, 0])
        # the plain single run: bit for bit where it runs the same kernel (everything but
        # the lane kernel of small identity-Q/K ensembles), else to rounding
        plain = mf.simulate_particles(**_single(base, r, R, seed))
        tol = 0 if ens.params["kernel"] == plain.params["kernel"] else 1e-12
        assert np.abs(ens.x[:, r] - plain.x).max() <= tol, (case, ens.params["kernel"])
    assert ens.replica(517).x.tobytes() == mf.simulate_particles(
        replicas=1, **_one(base, 517, R, seed)).x[:, 0].tobytes()


@pytest.mark.parametrize("dynamics,kappa", [("sa", np.inf), ("usa", 3.0)])
def test_per_replica_weights_equal_single_runs(dynamics, kappa):
    R, seed = 64, 5
    w = random_attention_weights(R, 3, kind="goe", value="wishart", seed=2)
    base = dict(beta=0.5, n=24, dim=3, dynamics=dynamics, kappa=kappa, t_final=0.02,
                dt=0.0005, t_eval=[0.0, 0.02], Q=w["Q"], V=w["V"])
    ens = mf.simulate_particles(replicas=R, seed=seed, **base)
    for r in (0, 31, 63):
        assert np.array_equal(ens.x[:, r], mf.simulate_particles(**_single(base, r, R, seed)).x)
    # different weights per replica really enter: two replicas from the same x0 differ
    x0 = np.broadcast_to(ens.x[0, 0], (R, 24, 3))
    same = mf.simulate_particles(replicas=R, seed=seed, **dict(base, x0=x0))
    assert np.abs(same.x[-1, 0] - same.x[-1, 1]).max() > 1e-6


def test_adaptive_ensemble_matches_single_runs_to_tolerance():
    # the ensemble shares one step size (decided by its worst replica): equal to the single
    # runs to the global error ~ rtol^(4/5), not bit for bit
    R, seed, rtol = 8, 3, 1e-8
    base = dict(beta=3.0, n=16, dim=3, dynamics="sa", t_final=2.0, dt=0.1, adaptive=True,
                rtol=rtol)
    ens = mf.simulate_particles(replicas=R, seed=seed, **base)
    for r in (0, 7):
        one = mf.simulate_particles(**_single(base, r, R, seed))
        assert np.abs(ens.x[-1, r] - one.x[-1]).max() < 100 * rtol ** 0.8


def test_spectral_ensemble_equals_single_runs():
    R, seed = 3, 4
    base = dict(beta=2.0, n=200, dim=2, dynamics="sa", kappa=10.0, t_final=0.1, dt=0.01,
                method="spectral")
    ens = mf.simulate_particles(replicas=R, seed=seed, **base)
    for r in range(R):
        assert np.array_equal(ens.x[:, r], mf.simulate_particles(**_single(base, r, R, seed)).x)


def _numpy_glpr(x, beta, dt, steps, save_every):
    """Plain batched numpy: x <- N(x + dt P_x softmax(beta x x^T) x), GLPR's Euler step with
    renormalization (written independently of the package)."""
    out = [x]
    for s in range(1, steps + 1):
        g = beta * np.einsum("rid,rjd->rij", x, x)
        g = np.exp(g - g.max(axis=-1, keepdims=True))
        v = np.einsum("rij,rjd->rid", g / g.sum(axis=-1, keepdims=True), x)
        v = v - np.sum(v * x, axis=-1, keepdims=True) * x
        x = x + dt * v
        x = x / np.linalg.norm(x, axis=-1, keepdims=True)
        if s % save_every == 0:
            out.append(x)
    return np.stack(out)


def _pairs_above(x, thr=0.999):
    n = x.shape[-2]
    g = np.einsum("...id,...jd->...ij", x, x)
    return ((g > thr).sum(axis=(-2, -1)) - n) / (n * (n - 1))


def test_glpr_statistic_matches_plain_numpy_within_monte_carlo_error():
    # GLPR's phase-diagram statistic at beta = 1 (SA, d = 2, n = 32, dt = 0.05, Euler then
    # renormalization): the fraction of pairs i != j with <x_i, x_j> > 0.999 over time
    beta, dt, R, n = 1.0, 0.05, 512, 32
    ts = np.array([0.0, 5.0, 10.0, 15.0])
    ps = mf.simulate_particles(beta=beta, n=n, dim=2, dynamics="sa", replicas=R, dt=dt,
                               t_final=15.0, t_eval=ts, integrator="euler", seed=0,
                               keep="observables", observables=["pair_fraction"])
    est = ps.ensemble("pair_fraction")
    # (1) an independent ensemble (other random tokens), plain numpy: within Monte Carlo error
    rng = np.random.default_rng(12345)
    x0 = rng.standard_normal((R, n, 2))
    x0 /= np.linalg.norm(x0, axis=-1, keepdims=True)
    ref = _numpy_glpr(x0, beta, dt, 300, 100)
    ref_est = ensemble_estimate(_pairs_above(ref), "ref")
    z = np.abs(est.mean - ref_est.mean) / np.hypot(est.sem, ref_est.sem)
    assert np.all(z[1:] < 4.0), (est.mean, ref_est.mean, z)
    assert est.mean[-1] > 0.2  # the statistic moved: the comparison is not trivial
    # (2) the same initial tokens: the same numbers, to rounding
    same = mf.simulate_particles(beta=beta, x0=x0, dim=2, dynamics="sa", replicas=R, dt=dt,
                                 t_final=15.0, t_eval=ts, integrator="euler")
    assert np.abs(same.x - ref).max() < 1e-9
    assert np.array_equal(pair_fraction(same.x), _pairs_above(same.x))


def test_observables_only_and_memory():
    R = 10_000
    t0 = time.perf_counter()
    ps = mf.simulate_particles(beta=1.0, n=32, dim=2, dynamics="sa", replicas=R, dt=0.05,
                               t_final=0.5, t_eval=np.linspace(0, 0.5, 11), seed=1,
                               integrator="euler", keep="observables",
                               observables={"order_parameter": {},
                                            "pair_fraction": {"threshold": 0.99}})
    assert time.perf_counter() - t0 < 30
    assert ps.x is None and ps.observables["order_parameter"].shape == (11, R)
    assert ps.n == 32 and ps.dim == 2 and ps.replicas == R
    est = ps.ensemble("order_parameter")
    # uniform tokens: E|m|^2 = 1/n, so E|m| ~ sqrt(pi / (4 n)) (Rayleigh) at t = 0
    assert abs(est.mean[0] - np.sqrt(np.pi / (4 * 32))) < 4 * est.sem[0]
    with pytest.raises(ValueError, match="not kept"):
        ps.ensemble("pair_fraction", threshold=0.5)
    with pytest.raises(ValueError, match="keep='observables'"):
        ps.order_parameter()
    # a request whose trajectories cannot fit is refused before allocating, naming keep=
    t0 = time.perf_counter()
    with pytest.raises(MemoryError, match="keep='observables'"):
        mf.simulate_particles(beta=1.0, n=1024, dim=64, replicas=100_000, dt=0.01,
                              t_final=1.0, t_eval=np.linspace(0, 1, 101))
    assert time.perf_counter() - t0 < 1.0


def test_ensemble_observables_against_brute_force():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 12, 3))
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    x[..., 1, :] = x[..., 0, :]  # at least one clustered pair per configuration
    frac = pair_fraction(x, 0.5)
    counts = cluster_count(x, 0.3)
    for idx in np.ndindex(3, 5):
        c = x[idx]
        g = c @ c.T
        brute = sum(g[i, j] > 0.5 for i in range(12) for j in range(12) if i != j) / 132
        assert frac[idx] == pytest.approx(brute, abs=1e-15)
        assert counts[idx] == obs.clusters(c, 0.3).count
    est = ensemble_estimate(frac, "f")
    assert np.allclose(est.sem, frac.std(axis=-1, ddof=1) / np.sqrt(5))
    lo, hi = est.interval()
    assert np.all(lo < est.mean) and np.all(est.mean < hi)


def test_random_attention_weights_laws():
    R, d = 4000, 5
    g = random_attention_weights(R, d, kind="gaussian", value="wishart", seed=1)
    A = np.swapaxes(g["Q"], 1, 2)
    # entries of G1 G2 / sqrt(d) have mean 0 and variance 1; Wishart G G^T / sqrt(d) has
    # mean sqrt(d) on the diagonal
    assert abs(A.mean()) < 0.02 and abs(A.var() - 1) < 0.05
    assert abs(np.einsum("rii->ri", g["V"]).mean() - np.sqrt(d)) < 0.03
    assert np.allclose(g["V"], np.swapaxes(g["V"], 1, 2))
    goe = random_attention_weights(R, d, kind="goe", value="gradient", seed=1)
    A = np.swapaxes(goe["Q"], 1, 2)
    assert np.allclose(A, np.swapaxes(A, 1, 2))
    assert np.allclose(goe["V"], np.swapaxes(A, 1, 2) / np.sqrt(d + 1))
    # the score of simulate_particles is x^T A y
    x, y = np.eye(d)[0], np.eye(d)[1]
    assert (goe["Q"][7] @ x) @ y == pytest.approx(x @ A[7] @ y)
    with pytest.raises(ValueError, match="kind"):
        random_attention_weights(2, 3, kind="wigner")
    with pytest.raises(ValueError, match="value"):
        random_attention_weights(2, 3, value="random")


def test_batched_sums_equal_single_system_kernel():
    rng = np.random.default_rng(3)
    for n, d, causal in ((40, 3, False), (33, 5, True), (300, 16, False)):
        x = rng.standard_normal((4, n, d))
        Q = rng.standard_normal((4, 2, d))
        K = rng.standard_normal((2, d))
        V = rng.standard_normal((4, d, d))
        for softmax in (True, False):
            out, logz = attention_sums_batched(x, 0.7, softmax=softmax, causal=causal, Q=Q,
                                               K=K, V=V)
            for r in range(4):
                ref, rl = attention_sums(x[r], 0.7, softmax=softmax, causal=causal, Q=Q[r],
                                         K=K, V=V[r])
                assert np.allclose(out[r], ref, rtol=1e-13, atol=1e-13 * np.abs(ref).max())
                assert np.allclose(logz[r], rl, rtol=1e-14)
    assert uses_tiled_path(300, 32)  # the last case ran the tiled-BLAS path
    x = rng.standard_normal((2, 20, 3))
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    xi = 0.01 * rng.standard_normal(x.shape)
    new = attention_euler_step(x, 2.0, 0.1, softmax=False, noise=xi)
    v = attention_sums(x[1], 2.0, softmax=False)[0]
    y = x[1] + 0.1 * (v - np.sum(v * x[1], axis=1, keepdims=True) * x[1]) + xi[1]
    assert np.allclose(new[1], y / np.linalg.norm(y, axis=1, keepdims=True), atol=1e-14)


@pytest.mark.parametrize("normalization", ["post-ln", "pre-ln", "peri-ln", "ngpt"])
@pytest.mark.parametrize("dynamics", ["sa", "usa"])
def test_span_reduction_equals_full_dimension(normalization, dynamics):
    # n < d, identity weights, no noise: run in the n-dimensional span (exact); the numpy
    # reference runs the full d = 16
    kw = dict(beta=1.5, n=5, dim=16, dynamics=dynamics, replicas=3, t_final=2.0, dt=0.01,
              seed=2, t_eval=[0.0, 1.0, 2.0], normalization=normalization)
    fast = mf.simulate_particles(method="direct", **kw)
    ref = mf.simulate_particles(method="numpy", **kw)
    assert fast.params["reduced_dim"] == 5 and ref.params["reduced_dim"] is None
    assert np.abs(fast.x - ref.x).max() < 1e-12
    assert np.abs(fast.x[-1] - fast.x[0]).max() > 1e-2  # the tokens moved
    if ref.radius is not None:
        assert np.allclose(fast.radius, ref.radius, rtol=1e-12)


def test_check_stability_flag():
    kw = dict(beta=9.0, n=8, dim=2, dynamics="sa", t_final=0.2, dt=0.1, integrator="euler")
    with pytest.raises(ValueError, match="check_stability=False"):
        mf.simulate_particles(**kw)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ps = mf.simulate_particles(check_stability=False, replicas=2, **kw)
    msg = " ".join(str(w.message) for w in rec)
    assert "dt * L = 1" in msg and "use dt <= 0.05" in msg
    assert ps.params["check_stability"] is False and np.all(np.isfinite(ps.x))


@pytest.mark.parametrize("kwargs,match", [
    (dict(replicas=0), "replicas must be a positive integer"),
    (dict(replicas=True), "replicas must be a positive integer"),
    (dict(replicas=2.5), "replicas must be a positive integer"),
    (dict(replicas=3, Q=np.zeros((2, 2, 2))), "2 matrices along its replica axis"),
    (dict(Q=np.zeros((3, 2, 2))), "leading replica axis"),
    (dict(replicas=3, x0=np.tile([[[1.0, 0.0]]], (2, 4, 1))), "needs replicas=2"),
    (dict(replicas=2, observables=["energy"]), "unknown observable"),
    (dict(replicas=2, observables={"pair_fraction": 0.9}), "dict of keyword"),
    (dict(replicas=2, keep="all"), "keep must be one of"),
    (dict(replicas=2, keep="observables"), "name some"),
])
def test_bad_ensemble_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mf.simulate_particles(beta=1.0, n=4, dim=2, t_final=0.1, dt=0.05, **kwargs)


def test_single_run_has_no_ensemble_methods():
    ps = mf.simulate_particles(beta=1.0, n=4, t_final=0.1, dt=0.05, seed=0)
    with pytest.raises(ValueError, match="replicas=R"):
        ps.ensemble("order_parameter")
    with pytest.raises(ValueError, match="replicas=R"):
        ps.replica(0)
    ens = mf.simulate_particles(beta=1.0, n=4, t_final=0.1, dt=0.05, seed=0, replicas=2)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        ens.replica(2)
    with pytest.raises(ValueError, match="replica=r"):
        ens.clusters()
    assert ens.clusters(replica=1).count >= 1


@pytest.mark.parametrize("keep", ["trajectories", "observables"])
def test_plot_ensemble_draws_both_kinds_of_run(keep, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from meanfield.plotting import plot_ensemble

    ps = mf.simulate_particles(beta=2.0, n=8, dim=3, dynamics="usa", kappa=20.0, replicas=16,
                               t_final=1.0, dt=0.01, t_eval=np.linspace(0, 1, 6), seed=0,
                               keep=keep, observables=["mean_inner_product", "cluster_count"])
    ax = plot_ensemble(ps, ["mean_inner_product"])
    ax.figure.savefig(tmp_path / "ens.png")
    assert (tmp_path / "ens.png").stat().st_size > 0
    assert len(ax.collections) == 1  # the standard-error band
    with pytest.raises(ValueError, match="replicas=R"):
        plot_ensemble(ps.replica(0))
