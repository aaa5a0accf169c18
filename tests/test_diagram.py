"""BifurcationDiagram: global minimizer, export/import, table and figure.

The diagram is synthetic, built by hand, so every expected number below is computed by
hand from piecewise-linear data (linear interpolation is exact on it):

- uniform state: F_u(p) = -0.1 p on p = 0.5, 0.6, ..., 2.0;
- mode 1, subcritical: p = 1.0 -> 0.9 -> 0.8 (fold) -> 0.9 -> 1.0 -> 1.2 -> 1.5, unstable
  before the fold, stable after; its upper part crosses F_u at p = 0.9;
- mode 2, supercritical from p = 1.3, below F_u.
"""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pytest

from meanfield.diagram import (
    BifurcationDiagram,
    BifurcationPoint,
    Branch,
    Fold,
    Transition,
)

matplotlib.use("Agg")


def _diagram() -> BifurcationDiagram:
    up = np.round(np.linspace(0.5, 2.0, 16), 12)
    b1 = Branch(
        mode=1, param_name="kappa",
        param=np.array([1.0, 0.9, 0.8, 0.9, 1.0, 1.2, 1.5]),
        amplitude=np.array([0.0, 0.1, 0.25, 0.4, 0.5, 0.6, 0.7]),
        free_energy=np.array([-0.1, -0.08, -0.06, -0.09, -0.12, -0.17, -0.25]),
        stable=np.array([False, False, False, True, True, True, True]),
        morse_index=np.array([1, 1, 1, 0, 0, 0, 0]),
        n_modes=np.array([16, 16, 16, 16, 32, 32, 32]),
        coeffs=[np.arange(16) + 1j * k for k in range(4)]
        + [np.arange(32) - 1j * k for k in range(3)],
        message="reached the parameter bound",
    )
    b2 = Branch(
        mode=2, param_name="kappa",
        param=np.array([1.3, 1.6, 2.0]),
        amplitude=np.array([0.0, 0.3, 0.45]),
        free_energy=np.array([-0.13, -0.17, -0.25]),
        stable=np.array([True, True, True]),
        morse_index=np.array([0, 0, 0]),
        n_modes=np.array([16, 16, 16]),
        coeffs=[np.ones(16, dtype=complex) * k for k in range(3)],
        message="",
    )
    return BifurcationDiagram(
        model=None, param_name="kappa", bounds=(0.5, 2.0), branches=[b1, b2],
        bifurcation_points=[
            BifurcationPoint(1.0, 1, "subcritical", curvature=-0.5, closed_form=1.0000000001),
            BifurcationPoint(1.3, 2, "supercritical", curvature=np.inf, closed_form=np.nan),
        ],
        folds=[Fold(param=0.8, mode=1, amplitude=0.25, free_energy=-0.06)],
        first_order_transitions=[Transition(param=0.9, mode=1, amplitude=0.4)],
        uniform_param=up,
        uniform_free_energy=-0.1 * up,
        uniform_morse_index=np.where(up < 1.0, 0, np.where(up < 1.3, 1, 2)),
        wall_time=1.5,
    )


@pytest.mark.parametrize("p, label, mode, F", [
    (0.7, "uniform", 0, -0.07),        # only the uniform state exists
    (0.85, "uniform", 0, -0.085),      # upper mode-1 part: -0.075 > -0.085
    (0.95, "mode 1", 1, -0.105),       # upper: -0.105 < uniform -0.095 < lower -0.09
    (1.1, "mode 1", 1, -0.145),        # upper: (-0.12 - 0.17)/2
    (1.4, "mode 1", 1, -0.17 - 0.16 / 3),  # 2/3 of 1.2 -> 1.5; mode 2: -0.13 - 0.04/3
    (1.8, "mode 2", 2, -0.21),         # mode 1 ended at 1.5; uniform -0.18
])
def test_minimizer(p, label, mode, F):
    got = _diagram().minimizer(p)
    assert got[:2] == (label, mode)
    assert got[2] == pytest.approx(F, abs=1e-14)


def test_minimizer_sees_every_monotone_piece():
    d = _diagram()
    # at 0.95: uniform, the lower (unstable) and the upper (stable) piece of mode 1
    energies = sorted(c[2] for c in d._candidates(0.95, stable_only=False))
    np.testing.assert_allclose(energies, [-0.105, -0.095, -0.09], atol=1e-14)
    # by default only stable states compete: the unstable lower piece drops out
    energies = sorted(c[2] for c in d._candidates(0.95))
    np.testing.assert_allclose(energies, [-0.105, -0.095], atol=1e-14)
    # the turning point itself is covered (by both pieces, with the same value)
    assert d.minimizer(0.8) == ("uniform", 0, pytest.approx(-0.08))


def test_minimizer_tie_goes_to_uniform_and_outside_raises():
    d = _diagram()
    # at the crossing p = 0.9 both states have F = -0.09
    assert d.minimizer(0.9)[:2] == ("uniform", 0)
    with pytest.raises(ValueError, match="no stable state"):
        d.minimizer(3.0)


def test_minimizer_map_consistent():
    d = _diagram()
    m = d.minimizer_map(n=151)
    assert set(m) >= {"param", "mode", "free_energy"}
    np.testing.assert_allclose(m["param"], np.linspace(0.5, 2.0, 151))
    assert m["mode"].dtype.kind == "i"
    for p, k, f in zip(m["param"], m["mode"], m["free_energy"], strict=True):
        assert d.minimizer(p)[1:] == (k, f)
        if abs(p - 0.9) < 1e-9 or abs(p - 1.5) < 1e-9:
            continue
        assert k == (0 if p < 0.9 else 1 if p < 1.5 else 2)
    # the minimum never lies above the uniform state
    assert np.all(m["free_energy"] <= -0.1 * m["param"] + 1e-14)


def _assert_same(a: BifurcationDiagram, b: BifurcationDiagram) -> None:
    assert (a.param_name, tuple(a.bounds), a.wall_time) == (b.param_name, tuple(b.bounds),
                                                           b.wall_time)
    assert len(a.branches) == len(b.branches)
    for x, y in zip(a.branches, b.branches, strict=True):
        assert (x.mode, x.param_name, x.message) == (y.mode, y.param_name, y.message)
        for name in ("param", "amplitude", "free_energy", "stable", "morse_index", "n_modes"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name))
            kinds = {np.asarray(getattr(z, name)).dtype.kind for z in (x, y)}
            assert len(kinds) == 1
    # (nan fields make dataclass == fail, hence the field-wise comparison)
    assert len(a.bifurcation_points) == len(b.bifurcation_points)
    assert all(
        (p.param, p.mode, p.kind) == (q.param, q.mode, q.kind)
        and np.array_equal([p.curvature, p.closed_form], [q.curvature, q.closed_form],
                           equal_nan=True)
        for p, q in zip(a.bifurcation_points, b.bifurcation_points, strict=True))
    assert a.folds == b.folds
    assert a.first_order_transitions == b.first_order_transitions
    np.testing.assert_array_equal(a.uniform_param, b.uniform_param)
    np.testing.assert_array_equal(a.uniform_free_energy, b.uniform_free_energy)
    np.testing.assert_array_equal(a.uniform_morse_index, b.uniform_morse_index)


def test_to_dict_json_ready_and_round_trip(tmp_path):
    d = _diagram()
    data = d.to_dict()
    json.dumps(data, allow_nan=False)  # plain JSON: no NaN/inf literals, no numpy types
    assert data["bifurcation_points"][1]["curvature"] == "inf"
    assert data["bifurcation_points"][1]["closed_form"] == "nan"
    assert "coeffs" not in data["branches"][0]
    assert data["branches"][0]["stable"][:4] == [False, False, False, True]
    assert data["branches"][0]["message"] == "reached the parameter bound"

    path = d.to_json(tmp_path / "sub" / "diag.json")
    assert path.exists()
    back = BifurcationDiagram.from_json(path)
    assert back.model is None
    assert all(b.coeffs == [] for b in back.branches)
    _assert_same(d, back)
    assert np.isinf(back.bifurcation_points[1].curvature)
    assert np.isnan(back.bifurcation_points[1].closed_form)
    # the rebuilt diagram answers the same questions
    assert back.minimizer(0.95) == d.minimizer(0.95)
    assert back.table() == d.table()


def test_to_npz(tmp_path):
    d = _diagram()
    path = d.to_npz(tmp_path / "diag.npz")
    with np.load(path, allow_pickle=False) as z:
        for i, b in enumerate(d.branches):
            for name in ("param", "amplitude", "free_energy", "stable", "morse_index",
                         "n_modes"):
                np.testing.assert_array_equal(z[f"branch{i}_{name}"], getattr(b, name))
            assert int(z[f"branch{i}_mode"]) == b.mode
        c = z["branch0_coeffs"]
        assert c.dtype == complex and c.shape == (7, 32)
        np.testing.assert_array_equal(c[1, :16], np.arange(16) + 1j)
        np.testing.assert_array_equal(c[1, 16:], 0)
        np.testing.assert_array_equal(c[6], np.arange(32) - 2j)
        assert z["branch1_coeffs"].shape == (3, 16)
        assert str(z["param_name"]) == "kappa"
        assert int(z["n_branches"]) == 2
        np.testing.assert_array_equal(z["uniform_free_energy"], d.uniform_free_energy)
        np.testing.assert_array_equal(z["bifurcation_param"], [1.0, 1.3])
        assert list(z["bifurcation_kind"]) == ["subcritical", "supercritical"]
        np.testing.assert_array_equal(z["fold_param"], [0.8])
        np.testing.assert_array_equal(z["transition_amplitude"], [0.4])


def test_table():
    t = _diagram().table()
    lines = t.splitlines()
    assert "kappa" in lines[0]
    assert len({len(line) for line in lines[:-1]}) <= 2  # fixed width
    bif = [line for line in lines if line.startswith("bifurcation")]
    assert len(bif) == 2
    assert "subcritical" in bif[0] and "1.0000000001" in bif[0] and "-1.00e-10" in bif[0]
    assert "supercritical" in bif[1] and "1.3" in bif[1]
    fold = [line for line in lines if line.startswith("fold")]
    assert len(fold) == 1 and "0.8" in fold[0] and "0.25" in fold[0]
    jump = [line for line in lines if line.startswith("first-order")]
    assert len(jump) == 1 and "0.9" in jump[0] and "0.4" in jump[0]
    empty = BifurcationDiagram(None, "beta", (0.0, 1.0), [], [], [], [], np.zeros(0),
                               np.zeros(0), np.zeros(0, dtype=int))
    assert "no special points" in empty.table()


def test_plot(tmp_path):
    import matplotlib.pyplot as plt

    d = _diagram()
    path = tmp_path / "diag.png"
    fig = d.plot(path=path)
    assert len(fig.axes) == 2
    assert fig.axes[0].get_shared_x_axes().joined(fig.axes[0], fig.axes[1])
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # stable (solid) and unstable (dashed) pieces of the subcritical branch are both drawn
    styles = {line.get_linestyle() for line in fig.axes[0].lines}
    assert {"-", "--"} <= styles

    fig2, axes = plt.subplots(2, 1, sharex=True)
    assert d.plot(axes=axes) is fig2
    plt.close(fig2)
