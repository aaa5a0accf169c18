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

import meanfield as mf
from meanfield.rotating import rotating_state

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
