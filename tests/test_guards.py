"""Every guard of evolve / MeanFieldModel has a test that checks its message."""

import numpy as np
import pytest
from scipy.special import iv

import meanfield as mf


@pytest.fixture
def setup():
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    return model, mf.CircleBasis(32)


def test_negative_density(setup):
    model, b = setup
    rho = 1.0 + 1.5 * np.cos(b.grid)
    with pytest.raises(ValueError, match="rho0 must be nonnegative.*min = -5.000e-01"):
        mf.evolve(model, b, rho, 1.0)


def test_unnormalized_density(setup):
    model, b = setup
    with pytest.raises(ValueError, match=r"not normalized.*= 2\b.*normalize=True"):
        mf.evolve(model, b, 2 * np.ones(b.shape), 1.0)
    sol = mf.evolve(model, b, 2 * np.ones(b.shape), 1.0, normalize=True)
    assert np.allclose(sol.mass, 1.0, atol=1e-14)


def test_nan_and_wrong_shape(setup):
    model, b = setup
    rho = np.ones(b.shape)
    rho[3] = np.nan
    with pytest.raises(ValueError, match="1 NaN/inf values"):
        mf.evolve(model, b, rho, 1.0)
    with pytest.raises(ValueError, match=r"shape \(96,\).*got shape \(64,\)"):
        mf.evolve(model, b, np.ones(64), 1.0)


@pytest.mark.parametrize("kappa", [0.0, -1.0, np.nan])
def test_kappa_must_be_positive(kappa):
    with pytest.raises(ValueError, match="kappa must be > 0"):
        mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=kappa)


def test_model_arguments():
    with pytest.raises(ValueError, match="dynamics must be one of"):
        mf.MeanFieldModel(mf.AttentionKernel(1.0), dynamics="softmax")
    with pytest.raises(ValueError, match="AttentionKernel only"):
        mf.MeanFieldModel(mf.KuramotoKernel(), dynamics="sa")
    with pytest.raises(ValueError, match="dim must be an integer >= 2"):
        mf.MeanFieldModel(mf.AttentionKernel(1.0), dim=1)
    with pytest.raises(TypeError, match="kernel must be a meanfield Kernel"):
        mf.MeanFieldModel(lambda t: t)
    with pytest.raises(ValueError, match="basis is for dim=2 but the model has dim=3"):
        mf.evolve(mf.MeanFieldModel(mf.AttentionKernel(1.0), dim=3), mf.CircleBasis(16),
                  np.ones(48), 1.0)


def test_too_few_modes_for_beta():
    # the kernel multiplier is I_k(3)/3: n_modes must keep every k with I_k(3) >= 1e-12 I_1(3)
    k = np.arange(1, 60)
    need = int(k[np.nonzero(iv(k, 3.0) / iv(1, 3.0) >= 1e-12)[0][-1]]) + 1  # = 17
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    b = mf.CircleBasis(8)
    with pytest.raises(ValueError, match=rf"too coarse.*n_modes >= {need}\b"):
        mf.evolve(model, b, np.ones(b.shape), 1.0)
    sol = mf.evolve(model, b, np.ones(b.shape), 1.0, resolution_tol=1e-3)
    assert sol.success


def test_time_arguments(setup):
    model, b = setup
    rho = np.ones(b.shape)
    with pytest.raises(ValueError, match="t_final must be finite and > 0"):
        mf.evolve(model, b, rho, -1.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        mf.evolve(model, b, rho, 1.0, [0.0, 0.5, 0.2])
    with pytest.raises(ValueError, match=r"t_eval must lie in \[0, t_final=1.0\]"):
        mf.evolve(model, b, rho, 1.0, [0.0, 2.0])
    with pytest.raises(ValueError, match="dt must be finite and > 0"):
        mf.evolve(model, b, rho, 1.0, dt=0.0)
    with pytest.raises(ValueError, match="rk4"):
        mf.evolve(model, b, rho, 1.0, method="euler")


def test_loss_of_positivity_stops_with_time_and_cause():
    # Noiseless USA at beta = 5 concentrates beyond what 16 modes resolve
    model = mf.MeanFieldModel(mf.AttentionKernel(5.0))
    b = mf.CircleBasis(16)
    with pytest.warns(UserWarning, match="under-resolved"):
        sol = mf.evolve(model, b, mf.initial.perturbed_uniform(b, 0.5), 2.0,
                        np.linspace(0, 2, 201), resolution_tol=1.0)
    assert sol.status == "failed"
    assert "lost positivity at t=" in sol.message and "increase the number of modes" in sol.message
    assert 0 < sol.t[-1] < 2 and sol.t.size == sol.coeffs.shape[0] >= 2
    assert np.all(np.isfinite(sol.coeffs))


def test_explicit_scheme_beyond_its_stability_limit_is_refused():
    # RK4 on (1/kappa) Lap with kappa = 0.01, 64 modes: max|L| = 63^2/0.01, limit dt*|L| < 2.78
    model = mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=0.01)
    b = mf.CircleBasis(64)
    with pytest.raises(ValueError, match=r"stability limit of the explicit scheme 'rk4'.*"
                                         r"use dt <= 7e-06"):
        mf.evolve(model, b, mf.initial.perturbed_uniform(b, 0.1), 5.0, method="rk4", dt=0.1)


def test_failed_run_keeps_its_last_good_state(tmp_path):
    model = mf.MeanFieldModel(mf.AttentionKernel(5.0))
    b = mf.CircleBasis(16)
    ck = tmp_path / "ck.npz"
    sol = mf.evolve(model, b, mf.initial.perturbed_uniform(b, 0.5), 2.0, [0, 2],
                    resolution_tol=1.0, checkpoint=ck)
    assert sol.status == "failed" and "last good state" in sol.message
    assert sol.t.size == 2 and 0 < sol.t[-1] < 2  # t = 0 and the last accepted step
    assert np.all(np.isfinite(sol.coeffs)) and sol.rho[-1].min() > -1e-8 * sol.rho[-1].max()
    saved = np.load(ck)
    assert str(saved["status"]) == "failed" and saved["t"][0] == 0


def test_interrupted_run_leaves_a_checkpoint(tmp_path):
    model = mf.MeanFieldModel(mf.AttentionKernel(2.0), kappa=2.0)
    b = mf.CircleBasis(32)
    ck = tmp_path / "ck.npz"

    def interrupt(t):
        if t > 3.0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mf.evolve(model, b, mf.initial.perturbed_uniform(b), 10.0, np.arange(11.0), dt=0.05,
                  checkpoint=ck, progress=interrupt)
    saved = np.load(ck)
    assert str(saved["status"]) == "interrupted"
    assert np.array_equal(saved["t"], np.arange(4.0))  # saves at 0, 1, 2, 3 kept


def test_t_final_is_always_reached_and_saved():
    model = mf.MeanFieldModel(mf.AttentionKernel(2.0), kappa=2.0)
    b = mf.CircleBasis(32)
    sol = mf.evolve(model, b, mf.initial.perturbed_uniform(b), 2.0, [0.0, 0.5])
    assert np.array_equal(sol.t, [0.0, 0.5, 2.0])


def test_cached_arrays_are_read_only():
    model = mf.MeanFieldModel(mf.AttentionKernel(2.0), kappa=2.0)
    b = mf.CircleBasis(32)
    sol = mf.evolve(model, b, mf.initial.perturbed_uniform(b), 1.0)
    with pytest.raises(ValueError, match="read-only"):
        sol.rho[0, 0] = 5.0


def test_free_energy_input_guards():
    model = mf.MeanFieldModel(mf.AttentionKernel(2.0), kappa=2.0)
    b = mf.CircleBasis(16)
    with pytest.raises(ValueError, match="mass 1"):
        mf.free_energy(model, b, 5 * np.ones(b.shape))
    with pytest.raises(ValueError, match="NaN"):
        mf.free_energy(model, b, np.full(b.shape, np.nan))
    with pytest.raises(ValueError, match="48 points"):
        b.forward(np.ones(64))
    with pytest.raises(ValueError, match="2 pi: a density in d theta"):
        mf.evolve(model, b, 2 * np.pi * np.ones(b.shape), 1.0)


def test_checkpoint_holds_the_run(tmp_path, setup):
    model, b = setup
    ck = tmp_path / "run" / "ck.npz"
    sol = mf.evolve(model, b, mf.initial.perturbed_uniform(b), 2.0, [0, 1, 2], checkpoint=ck,
                    checkpoint_every=0.0)
    saved = np.load(ck)
    assert np.array_equal(saved["t"], sol.t)
    assert np.allclose(saved["coeffs"], sol.coeffs)
    assert str(saved["status"]) == "success"


@pytest.mark.filterwarnings("ignore:the solution became under-resolved")
def test_under_resolved_initial_data_warns():
    model = mf.MeanFieldModel(mf.KuramotoKernel(), kappa=1.0)
    b = mf.CircleBasis(8)
    with pytest.warns(UserWarning, match="rho0 is under-resolved.*increase the number of modes"):
        mf.evolve(model, b, mf.initial.von_mises(b, 5.0), 0.1, normalize=True)


def test_checkpoint_of_a_failed_run_holds_its_last_good_state(tmp_path):
    model = mf.MeanFieldModel(mf.AttentionKernel(5.0))
    b = mf.CircleBasis(16)
    ck = tmp_path / "ck.npz"
    sol = mf.evolve(model, b, mf.initial.perturbed_uniform(b, 0.5), 2.0, [0, 2],
                    resolution_tol=1.0, checkpoint=ck)
    saved = np.load(ck)
    assert np.array_equal(saved["t"], sol.t) and saved["t"][-1] > 0
