"""Gibbs fixed-point map: closed forms at beta = 0 and agreement between USA and SA forms."""

import numpy as np
import pytest
from scipy.special import ive

import meanfield as mf
from meanfield.stationary import gibbs_map, stationary_residual


@pytest.mark.parametrize("dynamics", ["usa", "sa"])
def test_von_mises_is_the_kuramoto_stationary_state(dynamics):
    # Noisy Kuramoto (beta = 0): rho = e^{a cos theta}/I_0(a), a = kappa r, r = I_1(a)/I_0(a)
    # (Bertini–Giacomin–Pakdaman). Solve r = I_1(kappa r)/I_0(kappa r) by fixed-point iteration.
    kappa, r = 4.0, 0.9
    for _ in range(500):
        r = ive(1, kappa * r) / ive(0, kappa * r)
    b = mf.CircleBasis(48)
    rho = mf.initial.von_mises(b, kappa * r)
    model = mf.MeanFieldModel(mf.AttentionKernel(0.0), kappa=kappa, dynamics=dynamics)
    assert stationary_residual(model, b, rho) < 1e-13
    wrong = mf.initial.von_mises(b, kappa * r * 1.01)
    assert stationary_residual(model, b, wrong) > 1e-3


def test_sa_small_beta_form_is_continuous():
    b = mf.CircleBasis(32)
    rho = mf.initial.perturbed_uniform(b, 0.4, seed=3)
    maps = [gibbs_map(mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=2.0, dynamics="sa"),
                      b, rho) for beta in (0.999999, 1.000001)]
    assert np.max(np.abs(maps[0] - maps[1])) < 1e-5


def test_noiseless_model_has_no_gibbs_state():
    b = mf.CircleBasis(16)
    with pytest.raises(ValueError, match="kappa must be finite"):
        stationary_residual(mf.MeanFieldModel(mf.AttentionKernel(1.0)), b, np.ones(b.shape))


@pytest.mark.parametrize("dynamics", ["usa", "sa"])
def test_growth_rates_closed_form(dynamics):
    from scipy.special import iv
    beta, kappa = 2.5, 1.5
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=kappa, dynamics=dynamics)
    k = np.arange(6)
    gain = iv(k, beta) / beta / (iv(0, beta) if dynamics == "sa" else 1.0)
    expect = k**2 * (gain - 1 / kappa)
    assert np.allclose(model.growth_rates(5)[1:], expect[1:], rtol=1e-14)
    assert model.growth_rates(5)[0] == 0
