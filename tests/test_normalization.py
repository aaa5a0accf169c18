"""Normalization schemes (meanfield.particles.normalization) against two references: the
equiangular reduction (an ODE for rho and r, solved by scipy) and the literal layer maps
(transformer_layers, which the continuous model approximates at O(h))."""

import numpy as np
import pytest

import meanfield as mf
from meanfield.particles.normalization import (
    NGPT,
    NORMALIZATIONS,
    MixLN,
    PeriLN,
    PostLN,
    PreLN,
    equiangular_system,
    normalization_scheme,
    transformer_layers,
)

# every registered scheme, plus parametrized variants (a new scheme is tested by adding it)
SCHEMES = [cls() for cls in NORMALIZATIONS.values()] + [NGPT(alpha=0.5), MixLN(t_switch=1.3)]
IDS = [repr(s) for s in SCHEMES]


@pytest.mark.parametrize("dynamics", ["sa", "usa"])
@pytest.mark.parametrize("scheme", SCHEMES, ids=IDS)
def test_particles_follow_equiangular_reduction(scheme, dynamics):
    # n orthogonal tokens stay equiangular under every scheme; RK4 at dt = 0.01 has global
    # error ~ C dt^4 (C ~ 1e-2 here, observed <= 1e-9), so 1e-8 leaves a factor 10 of room
    ts = np.linspace(0.0, 6.0, 13)
    ps = mf.simulate_particles(beta=1.0, n=8, dim=8, init="equiangular", dynamics=dynamics,
                               normalization=scheme, t_final=6.0, dt=0.01, t_eval=ts, seed=0)
    rho, r = equiangular_system(1.0, 8, dynamics, ts, scheme)
    assert np.abs(ps.mean_inner_product() - rho).max() < 1e-8
    if scheme.on_sphere:
        assert ps.radius is None and np.all(r == 1.0)
    else:
        assert np.abs(ps.radius - r[:, None]).max() < 1e-8
    assert ps.params["normalization"] == scheme.params()


@pytest.mark.parametrize("scheme", SCHEMES, ids=IDS)
def test_layers_converge_to_continuous_depth_at_first_order(scheme):
    # the literal residual blocks with step h = T/L converge to the ODE like h
    rng = np.random.default_rng(1)
    x0 = mf.particles.sample_uniform(20, 5, rng)
    T = 2.0
    ref = mf.simulate_particles(beta=2.0, x0=x0, dynamics="sa", normalization=scheme,
                                t_final=T, dt=0.005, t_eval=[T])
    errs = []
    for L in (100, 200, 400):
        x, r = transformer_layers(x0, L, T / L, beta=2.0, normalization=scheme)
        e = np.abs(x[-1] - ref.x[-1]).max()
        if ref.radius is not None:
            e = max(e, np.abs(r[-1] - ref.radius[-1]).max())
        errs.append(e)
    errs = np.array(errs)
    order = np.log2(errs[:-1] / errs[1:])
    assert np.all(np.abs(order - 1.0) < 0.1), order
    assert errs[-1] < 5e-3


def test_asymptotic_rates_from_the_reduction():
    # near collapse |A| -> 1 and <x, A> -> 1: exponential for the schemes on the sphere
    # (rate 2 alpha), t^-2 for those whose residual norm grows like t
    for scheme, rate in ((PostLN(), 2.0), (NGPT(), 2.0), (NGPT(alpha=0.25), 0.5)):
        # the local rate tends to 2 alpha like O(1 - rho): on [10, 12]/rate it is within
        # 7e-4 (Post-LN, the slowest); 1 - rho ~ 1e-9 there, far above the ODE's atol 1e-14
        t = np.array([0.0, 10.0 / rate, 12.0 / rate])
        rho, _ = equiangular_system(2.0, 8, "sa", t, scheme)
        slope = np.log((1 - rho[2]) / (1 - rho[1])) / (t[2] - t[1])
        assert abs(slope + rate) < 2e-3 * rate
    for scheme in (PreLN(), PeriLN(), MixLN(t_switch=3.0)):
        t = np.array([0.0, 1e4, 2e4])
        rho, r = equiangular_system(2.0, 8, "sa", t, scheme)
        power = np.log((1 - rho[2]) / (1 - rho[1])) / np.log(2.0)
        assert abs(power + 2.0) < 5e-3
        assert abs(r[2] / t[2] - 1.0) < 5e-3      # the residual stream grows like t


def test_peri_ln_and_ngpt_make_sa_and_usa_identical():
    # A/|A| is invariant under the positive rescaling that turns USA's sum into SA's average
    for scheme in ("peri-ln", "ngpt"):
        kw = dict(beta=1.5, n=30, dim=4, normalization=scheme, t_final=2.0, dt=0.01, seed=3)
        sa = mf.simulate_particles(dynamics="sa", **kw)
        usa = mf.simulate_particles(dynamics="usa", **kw)
        assert np.abs(sa.x - usa.x).max() < 1e-10
    # ... which is not true of Post-LN (the test can fail)
    kw = dict(beta=1.5, n=30, dim=4, t_final=2.0, dt=0.01, seed=3)
    assert np.abs(mf.simulate_particles(dynamics="sa", **kw).x
                  - mf.simulate_particles(dynamics="usa", **kw).x).max() > 1e-2


def test_peri_ln_and_ngpt_start_faster_in_high_dimension():
    # random tokens in high dimension: |A_i| ~ n^{-1/2}, so s_i = |A_i| (nGPT) and
    # r_i |A_i| (Peri-LN) speed the directions up by ~ sqrt(n) at t = 0
    n, d, h = 32, 256, 1e-3
    ps = {s: mf.simulate_particles(beta=1.0, n=n, dim=d, dynamics="sa", normalization=s,
                                   t_final=h, dt=h, seed=0, t_eval=[0.0, h])
          for s in ("post-ln", "pre-ln", "peri-ln", "ngpt")}
    step = {s: np.linalg.norm(p.x[1] - p.x[0], axis=1) for s, p in ps.items()}
    x0 = ps["post-ln"].x[0]
    a, _ = mf.particles.attention_sums_numpy(x0, 1.0, softmax=True)
    speedup = 1.0 / np.linalg.norm(a, axis=1)
    assert np.all(speedup > 2.0)
    np.testing.assert_allclose(step["ngpt"] / step["post-ln"], speedup, rtol=1e-2)
    np.testing.assert_allclose(step["peri-ln"] / step["post-ln"], speedup, rtol=1e-2)
    np.testing.assert_allclose(step["pre-ln"], step["post-ln"], rtol=1e-2)


def test_mix_ln_is_post_ln_before_the_switch():
    kw = dict(beta=1.0, n=16, dim=3, dynamics="sa", t_final=3.0, dt=0.02, seed=2,
              t_eval=[0.0, 0.5, 1.0, 2.0, 3.0])
    mix = mf.simulate_particles(normalization=MixLN(t_switch=1.0), **kw)
    post = mf.simulate_particles(normalization="post-ln", **kw)
    assert np.abs(mix.x[:3] - post.x[:3]).max() < 1e-13
    assert np.allclose(mix.radius[:3], 1.0) and np.all(mix.radius[-1] > 1.3)
    assert np.abs(mix.x[-1] - post.x[-1]).max() > 1e-3


def test_noisy_ngpt_runs_and_noisy_off_sphere_schemes_refuse():
    ps = mf.simulate_particles(beta=1.0, kappa=5.0, n=50, dim=3, normalization="ngpt",
                               t_final=0.5, dt=0.01, seed=0)
    assert np.allclose(np.linalg.norm(ps.x, axis=2), 1.0)
    for name in ("pre-ln", "peri-ln", "mix-ln"):
        with pytest.raises(ValueError, match="noiseless"):
            mf.simulate_particles(beta=1.0, kappa=5.0, n=10, dim=3, normalization=name,
                                  t_final=0.1, dt=0.01, seed=0)


def test_bad_input():
    with pytest.raises(ValueError, match="normalization must be one of"):
        normalization_scheme("layer-norm")
    with pytest.raises(ValueError, match="alpha"):
        NGPT(alpha=0.0)
    with pytest.raises(ValueError, match="t_switch"):
        MixLN(t_switch=-1.0)
    with pytest.raises(ValueError, match="rho0"):
        equiangular_system(1.0, 4, "sa", [0.0, 1.0], rho0=-0.5)
    with pytest.raises(ValueError, match="unit vectors"):
        transformer_layers(np.ones((3, 2)), 2, 0.1, beta=1.0)
    # the speed ~ 1/|A| of Peri-LN: a step fine for Post-LN is refused, naming the bound
    kw = dict(beta=1.0, n=400, dim=400, dynamics="sa", t_final=0.2, dt=0.1, seed=0)
    mf.simulate_particles(**kw)
    with pytest.raises(ValueError, match="min \\|A_i\\|"):
        mf.simulate_particles(normalization="peri-ln", **kw)
    with pytest.raises(ValueError, match="spectral"):
        mf.simulate_particles(beta=1.0, n=2000, normalization="ngpt", method="spectral",
                              t_final=0.1, dt=0.01, seed=0)


def test_cli_particles_normalization(tmp_path, capsys):
    import json

    from meanfield.cli import main

    out = tmp_path / "ngpt"
    assert main(["particles", "--dim", "8", "--n", "16", "--t-final", "2", "--saves", "5",
                 "--normalization", "mix-ln", "--t-switch", "1", "--out", str(out),
                 "--no-progress"]) == 0
    data = np.load(out / "particles.npz")
    assert np.allclose(data["mean_residual_norm"][:3], 1.0) and data["mean_residual_norm"][-1] > 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["params"]["normalization"] == {"name": "mix-ln", "t_switch": 1.0}
    assert "|y|" in capsys.readouterr().out
    assert main(["particles", "--dim", "8", "--n", "16", "--t-final", "1", "--saves", "3",
                 "--normalization", "ngpt", "--alpha", "0.5", "--out", str(out),
                 "--no-progress"]) == 0
    assert json.loads((out / "summary.json").read_text())["params"]["normalization"] == {
        "name": "ngpt", "alpha": 0.5}
