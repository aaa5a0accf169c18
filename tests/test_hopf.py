"""Hopf points along branches (a complex pair crossing the imaginary axis).

Reference: the spectrum at the located parameter recomputed independently (a fresh
stationary_state at that kappa, then the dense linear_stability): its leading eigenvalue
has real part 0 to the location's accuracy (Brent to 1e-13 in arclength, corrector 1e-11:
|Re| < 1e-7) and imaginary part the reported frequency; the stability flips across it.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

import meanfield as mf
from meanfield.diagram import BifurcationDiagram

matplotlib.use("Agg")

Q = np.array([[1.0, 0.3], [0.0, 0.8]])
V = np.array([[1.0, 0.5], [-0.2, 0.7]])  # not a gradient value: complex spectra


@pytest.fixture(scope="module")
def diagram():
    model = mf.MeanFieldModel(mf.AttentionLayer(2.0, Q=Q, V=V), kappa=1.0)
    basis = mf.CircleBasis(32)
    return model, basis, mf.bifurcation_diagram(model, basis, "kappa", (1.0, 2.5),
                                                 start=mf.initial.von_mises(basis, 1.0))


def test_hopf_point_is_located_where_the_leading_pair_crosses(diagram):
    model, basis, d = diagram
    assert len(d.hopf_points) == 1 and not d.folds
    h = d.hopf_points[0]
    br = d.branches[0]
    i = int(np.searchsorted(br.param, h.param))
    assert br.stable[i - 1] and not br.stable[i]  # stable before, unstable after
    for dk, sign in ((0.0, 0.0), (-0.02, -1.0), (0.02, 1.0)):
        m = model.replace(kappa=h.param + dk)
        st = mf.stationary_state(m, basis, br.coeffs[i])
        lead = st.stability.eigenvalues[0]
        if sign == 0.0:
            assert abs(lead.real) < 1e-7
            assert abs(abs(lead.imag) - h.frequency) < 1e-7
        else:
            assert np.sign(lead.real) == sign and abs(lead.imag) > 0.5


def test_hopf_points_are_reported_drawn_and_saved(diagram, tmp_path):
    _, _, d = diagram
    assert "hopf" in d.table()
    fig = d.plot()
    assert any(line.get_marker() == "s" for line in fig.axes[0].get_lines())
    back = BifurcationDiagram.from_json(d.to_json(tmp_path / "d.json"))
    assert back.hopf_points[0].param == d.hopf_points[0].param
    assert back.hopf_points[0].frequency == d.hopf_points[0].frequency


def test_gradient_flows_have_no_hopf_points():
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    d = mf.bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.2, 2.0), modes=(1, 2))
    assert d.hopf_points == []
