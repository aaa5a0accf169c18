"""The 1/N correlation equation of causal attention for general data (meanfield.correlations).

References (each independent of the code under test):
- uniform data: the closed form meanfield.causal.retrieval_profile (Duerinckx, Geshkovski,
  Rossi, arXiv 2605.09213; derivation in meanfield/causal.py). The response is entire in the
  log-ratio variable, so the error falls faster than exponentially with n_positions (measured,
  lam = 0 / 1: 1e-1 / 2e-1, 2e-3 / 6e-3, 2e-5 / 7e-5, 6e-11 / 2e-9 at 4, 6, 8, 12 nodes); at
  16 nodes the floor is the time integration (DOP853, rtol 1e-9: 4e-10 / 1.2e-9 measured),
  allowed as 1e-8 relative;
- iid data: with row-normalized ALiBi weights the mean field does not depend on the position
  and is the ordinary mean-field PDE (meanfield.evolve, its own stepper): E_0 to 1e-8;
- the linear response against a central finite difference of two full kinetic solutions
  (meanfield.kinetic.evolve_kinetic, ETDRK4, fixed dt, its own position quadrature) perturbed
  by +-eps eta(s') at every position: by superposition the reader's response is
  int eta(sigma) Re h^(1)(t, 1; sigma) d sigma. Measured: 3e-9 at eps = 1e-3, dt = 0.005
  (eps^2 part 1.4e-9, dt part 2e-9) on a response of size 0.58; allowed 2e-8;
- particles (simulate_particles with the ALiBi matrix, n = 64 iid von Mises tokens): the
  connected U-statistic estimator within 3 standard errors plus the O(1/n) allowance of
  tests/test_weighted_particles.py (4/n relative; measured here with 600 prompts: +1 to +7 %
  at n = 64).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import roots_legendre

import meanfield as mf
from meanfield import causal
from meanfield.correlations import (
    particle_retrieval_profile,
    retrieval_profile_kinetic,
    von_mises_sampler,
)
from meanfield.kinetic import evolve_kinetic, position_weights

BASIS = mf.CircleBasis(21)          # n_max = 20 needs n_modes > 20
MODEL = mf.MeanFieldModel(mf.AttentionKernel(1.0))
SOURCES = np.array([0.05, 0.3, 0.6, 0.9])
TIMES = np.array([0.0, 0.4, 1.2, 2.0])


def _uniform_error(model, beta, lam, n_positions, units="suite"):
    prof = retrieval_profile_kinetic(model, BASIS, np.ones(BASIS.shape), SOURCES, TIMES,
                                     lam=lam, n_positions=n_positions, units=units)
    exact = causal.retrieval_profile(SOURCES[None], TIMES[:, None], beta, lam, 8.0, 20,
                                     units=units)
    assert np.array_equal(prof.profile[0], np.zeros(SOURCES.size))
    assert np.allclose(prof.accuracy0, 1.0, rtol=0, atol=1e-14)
    return np.max(np.abs(prof.profile[1:] / exact[1:] - 1))


@pytest.mark.parametrize("lam", [0.0, 1.0])
def test_uniform_data_matches_the_closed_form_spectrally(lam):
    errors = [_uniform_error(MODEL, 1.0, lam, n) for n in (4, 6, 8, 16)]
    assert errors[-1] < 1e-8
    assert errors[0] > 1e-2  # the coarse rule is visibly wrong: the test has power
    assert all(a > 30 * b for a, b in zip(errors[:-2], errors[1:-1], strict=True))


@pytest.mark.parametrize("kernel, beta, units", [
    (mf.AttentionKernel(2.0), 2.0, "paper"),   # t_suite = beta t_paper
    (mf.KuramotoKernel(), 0.0, "suite"),       # beta = 0: only mode 1, a_1 = 1/2
])
def test_uniform_data_other_kernels_and_units(kernel, beta, units):
    # beta = 2 up to t_suite = 4 (S = 613 at s = 0.05): the DOP853 floor at rtol 1e-9 is
    # 1.1e-8 relative there (1e-10 at rtol 1e-11, measured), allowed as 5e-8
    assert _uniform_error(mf.MeanFieldModel(kernel), beta, 1.0, 16, units) < 5e-8


def test_iid_mean_field_is_the_ordinary_pde():
    # the noiseless flow concentrates: |rho_k(1.2)| ~ 0.77^k: 96 modes (tail < 1e-10)
    basis = mf.CircleBasis(96)
    rho0 = mf.initial.von_mises(basis, 1.0, mean=0.7)
    prof = retrieval_profile_kinetic(MODEL, basis, rho0, [0.2, 0.7], [0.0, 0.6, 1.2],
                                     lam=1.0, n_max=6, n_positions=8)
    rho = mf.evolve(MODEL, basis, rho0, 1.2, [0.0, 0.6, 1.2], rtol=1e-11, atol=1e-13).rho
    omega = causal.gaussian_weights(8.0, 6)
    diff = basis.grid[:, None] - basis.grid[None, :]
    chi = 1 + 2 * np.cos(diff[..., None] * np.arange(1, 7)) @ omega  # chi(theta - phi)
    e0 = np.einsum("mi,ij,j->m", rho, chi, rho0) / basis.grid_size**2
    assert abs(e0[0] - prof.accuracy0[0, 0]) < 1e-13
    assert np.allclose(prof.accuracy0, e0[:, None], rtol=1e-8, atol=0)
    assert e0[-1] > e0[0] + 0.1  # the mean field moves (clustering)


def _position_dependent(pos):
    # von Mises whose concentration and mean angle vary with the position
    pos = np.atleast_1d(pos)[:, None]
    f = np.exp((0.5 + pos) * np.cos(BASIS.grid - 0.3 * pos))
    return f / f.mean(axis=1, keepdims=True)


def test_linear_response_against_finite_difference_of_kinetic_solutions():
    lam, times, eps, grid = 1.0, [0.6, 1.2], 1e-3, BASIS.grid

    def eta(sig):  # smooth, 0 at the reader (s = 1) and flat at s = 0
        return sig**3 * (1 - sig)

    def perturbed(pos, e):
        r = _position_dependent(pos)
        c1 = (r * np.cos(grid)).mean(axis=1, keepdims=True)
        return r * (1 + e * eta(pos)[:, None] * (np.cos(grid) - c1))

    nodes, _ = position_weights(20, "alibi", lam)
    reader = []
    for e in (eps, -eps):
        ks = evolve_kinetic(MODEL, BASIS, perturbed(nodes, e), 1.2, [0.0] + times,
                            weight="alibi", lam=lam, n_positions=20, dt=0.005)
        reader.append(ks.at_positions(np.moveaxis(ks.rho[1:], 1, -1), 1.0)[..., 0])
    fd = (reader[0] - reader[1]) / (2 * eps)
    x, w = roots_legendre(16)
    sig = 0.5 * (x + 1)
    prof = retrieval_profile_kinetic(MODEL, BASIS, _position_dependent, sig, times, lam=lam,
                                     n_max=1, n_positions=16)
    linear = np.einsum("k,mkj->mj", 0.5 * w * eta(sig), prof.response[:, :, 0].real)
    assert np.max(np.abs(linear)) > 0.1
    assert np.max(np.abs(fd - linear)) < 2e-8


@pytest.fixture(scope="module")
def von_mises_case():
    s, times = [0.25, 0.5, 0.75], [0.6, 1.2]
    kin = retrieval_profile_kinetic(MODEL, BASIS, mf.initial.von_mises(BASIS, 1.0), s,
                                    times, lam=1.0)
    est = particle_retrieval_profile(64, times, 1.0, 1.0, 8.0, sampler=von_mises_sampler(1.0),
                                     replicas=100, draws=8, dt=0.05, seed=0, s=s)
    return kin, est


def test_von_mises_tokens_kinetic_against_particles(von_mises_case):
    kin, est = von_mises_case
    n = est.params["n"]
    assert np.array_equal(est.s, kin.s)
    assert np.all(est.profile > 10 * est.sem)  # power
    allowed = 3 * est.sem + 4.0 / n * np.abs(kin.profile)
    assert np.all(np.abs(est.profile - kin.profile) < allowed)
    # ... and the same check rejects the uniform-data closed form at t = 1.2, s >= 1/2
    uniform = causal.retrieval_profile(est.s, 1.2, 1.0, 1.0, 8.0, 20)
    assert np.all(np.abs(est.profile[1, 1:] - uniform[1:]) > allowed[1, 1:])


def test_particle_estimator_on_uniform_data_matches_the_closed_form():
    # the U-statistic with iid uniform source draws against causal.retrieval_profile:
    # 3 standard errors + 4/n relative (the O(1/n) part of tests/test_weighted_particles.py)
    n = 32
    est = particle_retrieval_profile(n, [0.6], 1.0, 1.0, 8.0, sampler=von_mises_sampler(0.0),
                                     replicas=48, draws=8, dt=0.05, seed=3, s=[0.5])
    exact = est.closed_form()
    assert np.all(est.profile > 8 * est.sem)
    assert np.all(np.abs(est.profile - exact) < 3 * est.sem + 4.0 / n * exact)


def test_bad_input():
    ones = np.ones(BASIS.shape)
    kw = dict(lam=1.0)
    with pytest.raises(ValueError, match="s \\(the source positions\\)"):
        retrieval_profile_kinetic(MODEL, BASIS, ones, 1.0, 1.0, **kw)
    with pytest.raises(ValueError, match="n_max must be < basis.n_modes"):
        retrieval_profile_kinetic(MODEL, mf.CircleBasis(8), np.ones(16 * 3), 0.5, 1.0, **kw)
    with pytest.raises(ValueError, match="kappa must be inf"):
        retrieval_profile_kinetic(MODEL.replace(kappa=2.0), BASIS, ones, 0.5, 1.0, **kw)
    with pytest.raises(ValueError, match="dynamics must be 'usa'"):
        retrieval_profile_kinetic(MODEL.replace(dynamics="sa"), BASIS, ones, 0.5, 1.0, **kw)
    with pytest.raises(ValueError, match="mass 1"):
        retrieval_profile_kinetic(MODEL, BASIS, 2 * ones, 0.5, 1.0, **kw)
    with pytest.raises(ValueError, match="rho0 must be grid values"):
        retrieval_profile_kinetic(MODEL, BASIS, np.ones(5), 0.5, 1.0, **kw)
    with pytest.raises(ValueError, match="n_positions"):
        retrieval_profile_kinetic(MODEL, BASIS, ones, 0.5, 1.0, n_positions=1, **kw)
    with pytest.raises(ValueError, match="lam"):
        retrieval_profile_kinetic(MODEL, BASIS, ones, 0.5, 1.0, lam=-1.0)
    with pytest.raises(ValueError, match="nondecreasing"):
        retrieval_profile_kinetic(MODEL, BASIS, ones, 0.5, [1.0, 0.5], **kw)
    with pytest.raises(ValueError, match="draws"):
        particle_retrieval_profile(8, 1.0, 1.0, 1.0, 8.0, sampler=von_mises_sampler(1.0),
                                   replicas=2, draws=1, dt=0.05)
    with pytest.raises(ValueError, match="sampler"):
        particle_retrieval_profile(8, 1.0, 1.0, 1.0, 8.0, sampler=None, replicas=2, dt=0.05)
    with pytest.raises(ValueError, match="concentration"):
        von_mises_sampler(-1.0)
