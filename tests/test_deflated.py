"""Deflated continuation (meanfield/deflated.py): branches the ordinary diagram misses.

The case: beta = 3 on the circle, kappa in [1.4, 2]. The uniform state's bifurcation
points kappa_1 = 0.7588 and kappa_2 = 1.3362 lie left of the window, so
``bifurcation_diagram`` finds no branch there; yet three families of stationary states
exist in the whole window: the uniform state (Morse index 4: modes 1 and 2 unstable, two
real directions each, the closed form of its growth rates), the synchronized cluster (the
global minimizer, stable) and the two antipodal clusters of the mode-2 branch (a saddle).
References: every point is re-solved independently (stationary_state from a von Mises
guess, or in the period-2 subspace) and must agree to Newton's tolerance (1e-10), and the
Morse indices against linear_stability and the closed-form growth rates.
"""

from __future__ import annotations

import numpy as np
import pytest

import meanfield as mf
from meanfield.deflated import deflated_continuation

BASIS = mf.CircleBasis(32)
MODEL = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
VALUES = np.linspace(1.4, 2.0, 5)


@pytest.fixture(scope="module")
def diagram():
    return deflated_continuation(MODEL, BASIS, "kappa", VALUES)


def test_the_ordinary_diagram_misses_the_branches():
    with pytest.raises(ValueError, match="no bifurcation point.*deflated_continuation"):
        mf.bifurcation_diagram(MODEL, BASIS, "kappa", (1.4, 2.0), modes=(1, 2))


def test_deflation_finds_every_family_with_its_morse_index(diagram):
    kinds = {b.kind: b for b in diagram.branches}
    assert sorted(kinds) == ["mode 1", "mode 2", "uniform"]
    for b in diagram.branches:
        assert np.allclose(b.params, VALUES)  # each followed across the whole window
        assert max(b.residual) < 1e-11
    g = MODEL.kernel.coefficients(8, 2)
    closed = [2 * int(np.sum(kap * g[1:] > 1)) for kap in VALUES]  # 2 per unstable mode
    assert kinds["uniform"].morse_index == closed == [4] * 5
    assert kinds["mode 1"].morse_index == [0] * 5
    for p, c, morse in zip(VALUES, kinds["mode 1"].coeffs, kinds["mode 1"].morse_index,
                           strict=True):
        ref = mf.stationary_state(MODEL.replace(kappa=float(p)), BASIS,
                                  mf.initial.von_mises(BASIS, 6.0))
        assert abs(ref.amplitude(1) - float(BASIS.amplitude(c, 1))) < 1e-10
        assert ref.morse_index == morse
    for p, c, morse in zip(VALUES, kinds["mode 2"].coeffs, kinds["mode 2"].morse_index,
                           strict=True):
        guess = np.exp(2.0 * np.cos(2 * BASIS.grid))
        ref = mf.stationary_state(MODEL.replace(kappa=float(p)), BASIS, guess, period=2)
        assert abs(ref.amplitude(2) - float(BASIS.amplitude(c, 2))) < 1e-10
        assert float(BASIS.amplitude(c, 1)) < 1e-10  # two antipodal clusters
        assert ref.morse_index == morse and morse >= 1  # a saddle


def test_table_and_plot(diagram, tmp_path):
    text = diagram.table()
    assert "mode 2" in text and text.count("\n") == len(diagram.branches)
    diagram.plot(tmp_path / "deflated.png")
    assert (tmp_path / "deflated.png").stat().st_size > 10_000
    fig = diagram.plot()
    assert "beta=3" in fig.get_suptitle()


def test_bad_input():
    with pytest.raises(ValueError, match="values must be"):
        deflated_continuation(MODEL, BASIS, "kappa", [1.0])
    with pytest.raises(ValueError, match="tries must be"):
        deflated_continuation(MODEL, BASIS, "kappa", VALUES, tries=0)
