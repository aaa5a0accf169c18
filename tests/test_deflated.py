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

deflated_diagram (the same case): the families continued over the whole window, each
branch point re-solved from itself to 1e-10 and checked against the independent solves
above; the mode-2 branch ending on rho = 1 in [1.2, 2] against bifurcation_diagram and the
closed form kappa_2 = beta / I_2(beta); the full-space path against the von Mises closed form.
"""

from __future__ import annotations

import numpy as np
import pytest

import meanfield as mf
from meanfield.deflated import _even_form, _on_branch, deflated_continuation, deflated_diagram

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


# ---------------------------------------------------------------------------------------
# deflated_diagram: the families continued over the window, as a BifurcationDiagram
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def continued():
    return deflated_diagram(MODEL, BASIS, "kappa", (1.4, 2.0), n_values=VALUES.size)


def _resolved(p, c, period=1):
    """stationary_state at p from the branch point itself (its own resolution)."""
    basis = BASIS.with_max_degree(len(c) - 1)
    return mf.stationary_state(MODEL.replace(kappa=float(p)), basis, basis.backward(c),
                               period=period, tol=1e-12)


def test_every_family_is_continued_once_over_the_whole_window(continued, diagram):
    by_mode = {b.mode: b for b in continued.branches}
    assert sorted(by_mode) == [1, 2] and len(continued.branches) == 2  # no duplicates
    assert continued.bifurcation_points == [] and continued.folds == []
    for b in continued.branches:
        assert b.param[0] == 1.4 and b.param[-1] == 2.0 and b.param.size >= 5
        assert b.message.startswith("found by deflation at kappa=")
        assert "to the bound kappa=1.4" in b.message and "to the bound kappa=2" in b.message
        assert np.all(np.diff(b.param) > 0)
        for p, c, morse in zip(b.param, b.coeffs, b.morse_index, strict=True):
            ref = _resolved(p, c)  # every point is a stationary state to Newton's tolerance
            assert np.max(np.abs(ref.coeffs - c)) < 1e-10
            assert ref.morse_index == morse
    # the uniform state: its samples carry the closed-form Morse index (modes 1, 2 unstable)
    g = MODEL.kernel.coefficients(8, 2)
    closed = [2 * int(np.sum(kap * g[1:] > 1)) for kap in continued.uniform_param]
    assert continued.uniform_morse_index.tolist() == closed == [4] * 201
    assert np.all(by_mode[1].morse_index == 0) and np.all(by_mode[1].stable)
    found = {b.kind: b for b in diagram.branches}
    assert set(by_mode[2].morse_index.tolist()) == set(found["mode 2"].morse_index) == {2}
    assert not np.any(by_mode[2].stable)
    for mode, kind in ((1, "mode 1"), (2, "mode 2")):  # the window's ends: as deflation found
        for end in (0, -1):
            a = by_mode[mode].amplitude[end]
            assert abs(a - float(BASIS.amplitude(found[kind].coeffs[end], mode))) < 1e-10


def test_branch_points_against_independent_solves(continued):
    by_mode = {b.mode: b for b in continued.branches}
    for p, a in zip(by_mode[1].param, by_mode[1].amplitude, strict=True):
        ref = mf.stationary_state(MODEL.replace(kappa=float(p)), BASIS,
                                  mf.initial.von_mises(BASIS, 6.0))
        assert abs(ref.amplitude(1) - a) < 1e-10
    guess = np.exp(2.0 * np.cos(2 * BASIS.grid))
    for p, a, c in zip(by_mode[2].param, by_mode[2].amplitude, by_mode[2].coeffs, strict=True):
        ref = mf.stationary_state(MODEL.replace(kappa=float(p)), BASIS, guess, period=2)
        assert abs(ref.amplitude(2) - a) < 1e-10
        assert np.max(np.abs(np.asarray(c)[1::2])) < 1e-12  # two antipodal clusters


def test_a_branch_that_ends_on_the_uniform_state():
    # kappa_2 = 3 / I_2(3) = 1.3362 lies in [1.2, 2]: the continued 2-cluster branch ends
    # there, at the bifurcation point, as the ordinary diagram's branch starts there
    d = deflated_diagram(MODEL, BASIS, "kappa", (1.2, 2.0), n_values=4)
    ref = mf.bifurcation_diagram(MODEL, BASIS, "kappa", (1.2, 2.0), modes=(2,))
    (bp,) = d.bifurcation_points
    (bp_ref,) = ref.bifurcation_points
    assert bp.mode == 2 and bp.kind == bp_ref.kind == "supercritical"
    assert abs(bp.param - bp.closed_form) < 1e-12 and abs(bp.param - bp_ref.param) < 1e-12
    assert d.folds == []  # no spurious fold from the pitchfork's turn through rho = 1
    two = [b for b in d.branches if b.mode == 2]
    assert len(two) == 1 and sorted(b.mode for b in d.branches) == [1, 2]
    assert two[0].param[0] == bp.param and two[0].amplitude[0] == 0.0
    assert two[0].param[-1] == ref.branches[0].param[-1] == 2.0
    assert abs(two[0].amplitude[-1] - ref.branches[0].amplitude[-1]) < 1e-10
    assert "to the uniform state at kappa=1.3361764" in two[0].message


def test_membership_is_up_to_rotation_and_reflection(continued):
    by_mode = {b.mode: b for b in continued.branches}
    b1, b2 = by_mode[1], by_mode[2]
    p = 0.5 * (b1.param[3] + b1.param[4])  # between two points of the branch
    c = mf.stationary_state(MODEL.replace(kappa=p), BASIS,
                            mf.initial.von_mises(BASIS, 6.0)).coeffs
    turned = np.conj(c) * np.exp(-1j * BASIS.degrees * 0.7)  # reflected, then rotated
    assert _on_branch(MODEL, BASIS, "kappa", b1, p, turned, 1e-11, 1e-6)
    assert not _on_branch(MODEL, BASIS, "kappa", b2, p, turned, 1e-11, 1e-6)
    aligned, period = _even_form(BASIS, turned)
    assert period == 1 and np.max(np.abs(aligned - c)) < 1e-12
    c2 = b2.coeffs[2][:BASIS.n_modes]  # (the branch may have been refined: truncate)
    aligned, period = _even_form(BASIS, c2 * np.exp(-1j * BASIS.degrees * 1.1))
    assert period == 2 and np.max(np.abs(aligned.imag)) == 0
    assert abs(abs(aligned[2]) - b2.amplitude[2]) < 1e-14
    lopsided = BASIS.forward(1 + 0.5 * np.cos(BASIS.grid) + 0.3 * np.sin(2 * BASIS.grid))
    assert _even_form(BASIS, lopsided) is None  # no reflection axis


def test_continued_table_and_plot(continued, tmp_path):
    assert continued.table().splitlines()[-1] == "(no special points)"
    continued.plot(tmp_path / "continued.png")
    assert (tmp_path / "continued.png").stat().st_size > 10_000
    fig = continued.plot()
    assert len(fig.axes) == 2 and "beta=3" in fig.axes[0].get_title()


def test_deflated_diagram_bad_input():
    with pytest.raises(ValueError, match="n_values must be"):
        deflated_diagram(MODEL, BASIS, "kappa", (1.4, 2.0), n_values=1)
    with pytest.raises(ValueError, match="bounds for kappa must be > 0"):
        deflated_diagram(MODEL, BASIS, "kappa", (0.0, 2.0))
    with pytest.raises(ValueError, match="param must be one of"):
        deflated_diagram(MODEL, BASIS, "temperature", (1.4, 2.0))
    with pytest.raises(ValueError, match="ds must be"):
        deflated_diagram(MODEL, BASIS, "kappa", (1.4, 2.0), ds=0.0)


def test_full_space_branch_without_symmetry_against_closed_form():
    # An external potential V = -<x, h> has no symmetry and keeps no uniform state: its one
    # family (von Mises, |rho_1| = I_1(kappa |h|) / I_0(kappa |h|), F = -log I_0(kappa |h|)
    # / kappa) is continued in the full space; Newton tolerance 1e-11, 1e-10 allowed.
    from scipy.special import iv

    h = np.array([0.54, 0.72])
    H = np.linalg.norm(h)
    model = mf.MeanFieldModel(mf.ExternalPotential(lambda x: -(x @ h)), kappa=1.0)
    d = deflated_diagram(model, BASIS, "kappa", (0.5, 3.0), n_values=3)
    (br,) = d.branches
    assert br.param[0] == 0.5 and br.param[-1] == 3.0 and br.mode == 1
    assert np.max(np.abs(br.amplitude - iv(1, br.param * H) / iv(0, br.param * H))) < 1e-10
    assert np.max(np.abs(br.free_energy + np.log(iv(0, br.param * H)) / br.param)) < 1e-10
    assert np.all(br.morse_index == 0) and d.uniform_param.size == 0
    assert d.bifurcation_points == [] and len(d.plot().axes) == 2


def test_states_that_cannot_be_continued_keep_their_deflation_points(monkeypatch, diagram):
    # as if no state had a reflection axis (the rotation zero mode cannot be removed):
    # each family is reported at the grid values where deflation found it, Morse indices kept
    import meanfield.deflated as deflated

    monkeypatch.setattr(deflated, "_subspace", lambda model, basis, c: None)
    d = deflated_diagram(MODEL, BASIS, "kappa", (1.4, 2.0), n_values=VALUES.size)
    found = {b.kind: b for b in diagram.branches}
    assert sorted(b.mode for b in d.branches) == [1, 2]
    for b in d.branches:
        ref = found[f"mode {b.mode}"]
        assert np.allclose(b.param, VALUES) and b.morse_index.tolist() == ref.morse_index
        assert "not continued" in b.message and b.message.startswith("found by deflation")
        assert np.allclose(b.amplitude, np.asarray(ref.amplitudes)[:, b.mode - 1], atol=1e-12)


def test_bifurcation_diagram_deflation_mode_is_deflated_diagram(continued):
    """bifurcation_diagram(..., deflation=True) is the deflated diagram (same branches),
    where the ordinary mode finds nothing."""
    d = mf.bifurcation_diagram(MODEL, BASIS, "kappa", (1.4, 2.0), deflation=True,
                               n_values=VALUES.size)
    assert [b.mode for b in d.branches] == [b.mode for b in continued.branches]
    for b, ref in zip(d.branches, continued.branches, strict=True):
        assert np.array_equal(b.param, ref.param)
        assert np.max(np.abs(b.amplitude - ref.amplitude)) < 1e-12
        assert b.message.startswith("found by deflation")
