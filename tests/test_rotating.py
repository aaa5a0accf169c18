"""Rotating states (meanfield/rotating.py) against time integration and symmetry.

References: (1) evolve from the rotating profile: the solution is the profile translated
by speed * t, to the adaptive stepper's tolerance (1e-9 at rtol 1e-11); (2) with no
rotational part the speed is 0 and the profile is the stationary state of
meanfield.stationary_state (Newton 1e-12); (3) the mirror theta -> -theta maps V = I + wJ to
I - wJ: the speed changes sign, the order parameters are equal.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import iv

import meanfield as mf
from meanfield.rotating import rotating_branch, rotating_state

J = np.array([[0.0, -1.0], [1.0, 0.0]])
BASIS = mf.CircleBasis(48)


def _model(w, dynamics="usa", kappa=1.0):
    return mf.MeanFieldModel(mf.AttentionLayer(3.0, V=np.eye(2) + w * J), kappa=kappa,
                             dynamics=dynamics)


@pytest.mark.parametrize("dynamics", ["usa", "sa"])
def test_the_rotating_profile_translates_rigidly_under_evolve(dynamics):
    model = _model(0.5, dynamics, kappa=1.0 if dynamics == "usa" else 6.0)
    rs = rotating_state(model, BASIS, mf.initial.von_mises(BASIS, 4.0))
    assert rs.converged and rs.residual < 1e-12 and rs.amplitude(1) > 0.1
    t = 1.5
    sol = mf.evolve(model, BASIS, rs.rho, t, [0, t], rtol=1e-11, atol=1e-14)
    moved = rs.coeffs * np.exp(-1j * BASIS.degrees * rs.speed * t)
    assert np.max(np.abs(sol.coeffs[-1] - moved)) < 1e-9
    assert abs(rs.speed * t) > 0.5  # it really moves (half a radian at least)


def test_no_rotational_part_gives_the_stationary_state():
    rs = rotating_state(_model(0.0), BASIS, mf.initial.von_mises(BASIS, 4.0))
    st = mf.stationary_state(_model(0.0), BASIS, mf.initial.von_mises(BASIS, 4.0))
    assert abs(rs.speed) < 1e-12
    assert abs(rs.amplitude(1) - st.amplitude(1)) < 1e-10


def test_the_mirror_reverses_the_speed():
    a = rotating_state(_model(0.5), BASIS, mf.initial.von_mises(BASIS, 4.0))
    b = rotating_state(_model(-0.5), BASIS, mf.initial.von_mises(BASIS, 4.0))
    assert abs(a.speed + b.speed) < 1e-10 * abs(a.speed)
    assert abs(a.amplitude(1) - b.amplitude(1)) < 1e-10


def test_bad_input():
    with pytest.raises(ValueError, match="does not commute with rotations"):
        rotating_state(mf.MeanFieldModel(mf.AttentionLayer(3.0, K=np.diag([1.5, 0.5])),
                                         kappa=1.0), BASIS, mf.initial.von_mises(BASIS, 4.0))
    with pytest.raises(ValueError, match="non-uniform guess"):
        rotating_state(_model(0.5), BASIS, np.ones(BASIS.shape))
    with pytest.raises(ValueError, match="circle"):
        rotating_state(mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=1.0, dim=3),
                       mf.SphereBasis(4), np.ones(mf.SphereBasis(4).shape))


# -- a rigid rotation added to attention: closed forms (meanfield/interactions/rotation.py) --
OMEGA = 0.7


def _rotating_model(dynamics="usa", kappa=1.0):
    return mf.MeanFieldModel(mf.AttentionLayer(3.0) + mf.RigidRotation(OMEGA), kappa=kappa,
                             dynamics=dynamics)


@pytest.mark.parametrize("dynamics", ["usa", "sa"])
def test_a_rigid_rotation_moves_the_stationary_cluster_at_its_speed(dynamics):
    """The rotation commutes with the attention: the rotating profile is the stationary
    state of the attention alone and the speed is omega (Newton's tolerance)."""
    kappa = 1.0 if dynamics == "usa" else 6.0
    rs = rotating_state(_rotating_model(dynamics, kappa), BASIS, mf.initial.von_mises(BASIS, 4.0))
    st = mf.stationary_state(mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=kappa,
                                               dynamics=dynamics),
                             BASIS, mf.initial.von_mises(BASIS, 4.0))
    assert rs.converged and abs(rs.speed - OMEGA) < 1e-12
    assert abs(rs.amplitude(1) - st.amplitude(1)) < 1e-11 and rs.amplitude(1) > 0.5


def test_the_rotation_shifts_the_uniform_spectrum_by_i_k_omega():
    kappa = 0.8
    ls = mf.linear_stability(_rotating_model(kappa=kappa), mf.CircleBasis(32),
                             mf.CircleBasis(32).forward(np.ones(mf.CircleBasis(32).shape)))
    g = mf.AttentionKernel(3.0).coefficients(6, 2)
    expected = np.concatenate([[k * k * (g[k] - 1 / kappa) + s * 1j * k * OMEGA
                                for s in (1, -1)] for k in range(1, 7)])
    ev = np.asarray(ls.eigenvalues)
    for lam in expected:
        assert np.min(np.abs(ev - lam)) < 1e-12 * max(1.0, abs(lam))


def test_the_rotating_branch_is_born_at_the_hopf_point_and_matches_the_stationary_branch():
    basis = mf.CircleBasis(32)
    br = rotating_branch(_rotating_model(), basis, "kappa", (0.7, 1.0), max_points=40)
    # the Hopf point: kappa_1 = beta / I_1(beta) (closed form), frequency omega
    assert abs(br.hopf.param - 3.0 / iv(1, 3.0)) < 1e-12
    assert abs(br.hopf.frequency - OMEGA) < 1e-13
    assert np.max(np.abs(br.speeds - OMEGA)) < 1e-10  # the speed along the whole branch
    assert br.params.min() < 0.752 and br.params.max() > 1.0  # past the fold, out of the window
    # each profile is the stationary state of the attention alone at that kappa (subcritical:
    # unstable before the fold at 0.7503, stable after it)
    for p, c, stable in list(zip(br.params, br.coeffs, br.stable, strict=True))[::4]:
        alone = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=float(p))
        st = mf.stationary_state(alone, basis, basis.backward(c))
        assert abs(st.amplitude(1) - float(basis.amplitude(c, 1))) < 1e-9
        assert stable == (p > 0.7503 and float(basis.amplitude(c, 1)) > 0.2)
    fig = br.plot()
    assert "rotating states" in fig.axes[0].get_title()


def test_a_value_rotation_branch_continues_a_rotating_state():
    """V = I + w J: no closed form; each continued point is a rotating state of its own
    kappa (re-solved from scratch by rotating_state) with the same speed."""
    model = _model(0.5)
    start = rotating_state(model, BASIS, mf.initial.von_mises(BASIS, 4.0))
    br = rotating_branch(model, BASIS, "kappa", (0.9, 1.3), start=start, max_points=6)
    assert br.params.size >= 4 and np.ptp(br.speeds) > 1e-3  # the speed changes with kappa
    for p, c, speed in zip(br.params[1:3], br.coeffs[1:3], br.speeds[1:3], strict=True):
        again = rotating_state(model.replace(kappa=float(p)), BASIS, BASIS.backward(c))
        assert again.converged and abs(again.speed - speed) < 1e-9 * abs(speed)


def test_rotation_input_errors():
    with pytest.raises(ValueError, match="antisymmetric"):
        mf.RigidRotation(np.eye(2))
    with pytest.raises(ValueError, match=r"shape \(3, 3\)"):
        mf.MeanFieldModel(mf.RigidRotation(0.5), kappa=1.0, dim=3)
    with pytest.raises(ValueError, match="zonal"):
        rot = np.zeros((4, 4))
        rot[0, 1], rot[1, 0] = -1.0, 1.0
        model = mf.MeanFieldModel(mf.AttentionLayer(1.0) + mf.RigidRotation(rot), kappa=2.0,
                                  dim=4)
        model.rhs(mf.ZonalBasis(4, 8), np.eye(9)[0])
    with pytest.raises(ValueError, match="no Hopf point"):
        rotating_branch(_rotating_model(), mf.CircleBasis(32), "kappa", (1.0, 2.0))
    with pytest.raises(ValueError, match="ds must be"):
        rotating_branch(_rotating_model(), mf.CircleBasis(32), "kappa", (0.7, 1.0), ds=0)
