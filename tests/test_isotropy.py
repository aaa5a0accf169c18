"""Branches from rho = 1 by isotropy type at degenerate bifurcations (meanfield.isotropy).

Each type is traced in a fixed-point subspace that imposes only part of its isotropy
group (a subgroup acting diagonally on the basis functions); the rest of the group is
checked on the states found, so these tests fail if a branch is not the pattern it is
named for: the O^- branch of mode 3 on S^2 is traced among D_2d-invariant densities and
must come out invariant under the 3-fold rotation about (1, 1, 1) as well; the octahedral
branch of mode 4 is traced among D_4h-invariant ones, its direction picked by the
quadratic bifurcation equation, and must be invariant under x <-> z; the planar square
branch at d = 3 must be the same octahedral state.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import meanfield as mf
from meanfield.isotropy import branch_types, quadratic_directions

BETA = 1.0


def _points(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _diagram(basis, k: int, max_points: int = 3):
    d = basis.dim
    g = mf.AttentionKernel(BETA).coefficients(k + 1, d)
    model = mf.MeanFieldModel(mf.AttentionKernel(BETA), kappa=1.0, dim=d)
    with warnings.catch_warnings():  # short branches ("max_points"): kept fast
        warnings.simplefilter("ignore", UserWarning)
        diag = mf.bifurcation_diagram(model, basis, "kappa", (0.97 / g[k], 1.06 / g[k]),
                                      modes=(k,), max_points=max_points)
    return model, g, diag


def _last_state(basis, br):
    return basis.with_max_degree(int(br.n_modes[-1]) - 1), br.coeffs[-1]


def test_quadratic_directions_against_closed_form():
    # the normal form of a D_k-symmetric plane: Q = (q1 a^2 + q2 b^2, q3 a b) with
    # q1 = 1, q2 = 2, q3 = 3: Q || v <=> b = 0 (the axis) or b^2 = a^2 (q3 - q1) / q2 = a^2
    Q2 = lambda v: np.array([v[0] ** 2 + 2 * v[1] ** 2, 3 * v[0] * v[1]])  # noqa: E731
    roots = quadratic_directions(Q2)
    angles = sorted(round(float(np.degrees(np.arctan2(v[1], v[0]))), 9) for v, _ in roots)
    assert angles == [0.0, 45.0]  # 135 deg is the conjugate (a, -b) line, reported once
    ((v, lam),) = quadratic_directions(Q2, exclude=(0,))
    assert abs(lam - 3 / np.sqrt(2)) < 1e-12 and np.allclose(Q2(v), lam * v, atol=1e-12)
    with pytest.raises(ValueError, match="cubic"):
        quadratic_directions(lambda v: np.zeros(2))


def test_s2_mode_3_three_axial_types():
    """Mode 3 on S^2: O(2)^-, D_6^d and O^- (the axial subgroups of O(3) on V_3), each at
    the closed-form threshold, each with its isotropy on the states found."""
    b = mf.SphereBasis(12)
    model, g, diag = _diagram(b, 3)
    assert [p.isotropy for p in diag.bifurcation_points] == ["O(2)^-", "D_6^d", "O^-"]
    for p in diag.bifurcation_points:
        assert abs(p.param * g[3] - 1) < 1e-12 and p.kind in ("supercritical", "subcritical")
    x = _points(300, 3)
    for br in diag.branches:
        bb, c = _last_state(b, br)
        assert br.param.size == 4 and br.amplitude[-1] > 1e-3
        rho = bb.evaluate(c, x)
        cyc = np.max(np.abs(bb.evaluate(c, x[:, [1, 2, 0]]) - rho))  # 3-fold about (1,1,1)
        if br.isotropy == "O^-":  # T_d: not imposed by its D_2d subspace
            assert cyc < 1e-11
        else:
            assert cyc > 1e-3
        if br.isotropy == "D_6^d":  # rotation by 2 pi / 3 about e_3, imposed: a check
            R = np.array([[-0.5, -np.sqrt(3) / 2, 0], [np.sqrt(3) / 2, -0.5, 0], [0, 0, 1]])
            assert np.max(np.abs(bb.evaluate(c, x @ R.T) - rho)) < 1e-11
    # the full-space Newton from the O^- state re-solves it (not an artifact of the mask)
    br = diag.branches[2]
    bb, c = _last_state(b, br)
    st = mf.stationary_state(model.replace(kappa=float(br.param[-1])), bb, c,
                             symmetric=False, stability=False)
    assert np.max(np.abs(st.coeffs - c)) < 1e-10
    # stability is against every perturbation: the three types' Morse indices differ
    assert len({int(br.morse_index[-1]) for br in diag.branches}) == 3
    assert all(int(br.morse_index[0]) == 8 for br in diag.branches)  # 3 + 5 at kappa_3


def test_s2_mode_4_octahedral_direction_from_the_bifurcation_equation():
    """In the D_4h subspace the mode-4 kernel is the plane of (4, 0) and (4, 4); the root
    of the quadratic equation off the axisymmetric axis must be the octahedral pattern:
    both halves (six clusters on the axes / eight at a cube's vertices) invariant under
    x <-> z, which D_4h does not impose."""
    b = mf.SphereBasis(12)
    _, g, diag = _diagram(b, 4)
    names = [(br.isotropy, br.side) for br in diag.branches]
    assert names == [("O(2) x Z_2^c", 1), ("O(2) x Z_2^c", -1), ("O x Z_2^c", 1),
                     ("O x Z_2^c", -1)]
    x = _points(300, 3)
    for br in diag.branches:
        bb, c = _last_state(b, br)
        swap = np.max(np.abs(bb.evaluate(c, x[:, [2, 1, 0]]) - bb.evaluate(c, x)))
        assert (swap < 1e-11) == (br.isotropy == "O x Z_2^c"), (br.isotropy, swap)
    # the two halves are different patterns: the density's maximum on e_3 (+) or not (-)
    up, down = (diag.branches[i] for i in (2, 3))
    e3 = np.array([[0.0, 0.0, 1.0], [1, 1, 1] / np.sqrt(3)])
    for br, sign in ((up, 1), (down, -1)):
        bb, c = _last_state(b, br)
        r = bb.evaluate(c, e3)
        assert sign * (r[0] - r[1]) > 0


def test_planar_d3_square_is_the_octahedral_state():
    """At d = 3 the planar class is the x_3-symmetric densities on S^2, and its D_4 branch
    of mode 4 (direction from the bifurcation equation in the (4, 0), (4, 4) plane) must be
    octahedral: invariant under x_1 <-> x_3, which the planar subspace cannot impose."""
    b = mf.PlanarBasis(3, 12)
    _, _, diag = _diagram(b, 4)
    gon = [br for br in diag.branches if br.isotropy == "D_4 x O(d-2)"]
    assert [br.side for br in gon] == [1, -1]
    x = _points(300, 3, seed=1)
    for br in gon:
        bb, c = _last_state(b, br)
        assert bb.amplitude(c, 4) > 1e-4  # a square, not the ring
        swap = np.max(np.abs(bb.evaluate(c, x[:, [2, 1, 0]]) - bb.evaluate(c, x)))
        assert swap < 1e-11
    ring = [br for br in diag.branches if br.isotropy == "O(2) x O(d-2)"][0]
    bb, c = _last_state(b, ring)
    assert np.max(np.abs(bb.evaluate(c, x[:, [2, 1, 0]]) - bb.evaluate(c, x))) > 1e-4


def test_planar_types_in_high_dimension():
    """d = 16: mode 2 gives the ring and the zonal branch (both halves), mode 3 the zonal
    branch and the triangle; zonal states are functions of x_1 alone and their stability is
    against planar perturbations (the uniform state has Morse index 2 at kappa_2 in the
    planar class, 1 among zonal densities)."""
    b = mf.PlanarBasis(16, 12)
    model, g, d2 = _diagram(b, 2)
    assert [(br.isotropy, br.side) for br in d2.branches] == [
        ("O(2) x O(d-2)", 1), ("O(2) x O(d-2)", -1), ("O(d-1)", 1), ("O(d-1)", -1)]
    assert all(p.kind == "transcritical" for p in d2.bifurcation_points)
    assert all(int(br.morse_index[0]) == 2 for br in d2.branches)
    x = _points(200, 16, seed=2)
    y = x.copy()
    y[:, 1] = -np.sqrt(np.maximum(0, 1 - x[:, 0] ** 2 - np.sum(x[:, 2:] ** 2, axis=1)))
    for br in d2.branches:
        bb, c = _last_state(b, br)
        if br.isotropy == "O(d-1)":  # x_2 -> -|x_2|: other points with the same x_1
            assert np.max(np.abs(bb.evaluate(c, y) - bb.evaluate(c, x))) < 1e-12
        else:  # a function of x_1^2 + x_2^2: only m = 0
            assert np.max(np.abs(c[b.with_max_degree(int(br.n_modes[-1]) - 1).orders != 0])) == 0
    # the zonal branch is the ZonalBasis branch (same parameter values, same states)
    with pytest.warns(UserWarning, match="max_points=3"):
        zd = mf.bifurcation_diagram(model, mf.ZonalBasis(16, 12), "kappa",
                                    (0.97 / g[2], 1.06 / g[2]), modes=(2,), max_points=3)
    zb = zd.branches[0]
    pb = d2.branches[2]
    assert np.allclose(zb.param, pb.param, rtol=1e-12)
    bb, c = _last_state(b, pb)
    assert np.max(np.abs(bb.evaluate(c, x) - mf.ZonalBasis(16, 12).evaluate(
        zb.coeffs[-1], x[:, 0]))) < 1e-12
    assert zb.morse_index[0] == 1  # restricted to zonal perturbations
    _, _, d3 = _diagram(b, 3)
    assert [br.isotropy for br in d3.branches] == ["O(d-1)", "D_3 x O(d-2)"]


def test_basis_without_types_keeps_one_branch_per_mode():
    (t,) = branch_types(mf.CircleBasis(16), 2)
    assert t.name == "" and np.array_equal(t.mask(mf.CircleBasis(16)),
                                           mf.CircleBasis(16).branch_mask(2))
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    d = mf.bifurcation_diagram(model, mf.CircleBasis(32), "kappa", (0.2, 2.0), modes=(1, 2))
    assert [(br.mode, br.isotropy, br.side) for br in d.branches] == [(1, "", 1), (2, "", 1)]


def test_typed_diagram_table_plot_and_json(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    b = mf.PlanarBasis(16, 12)
    _, _, diag = _diagram(b, 2)
    table = diag.table()
    for name in ("O(2) x O(d-2)", "O(d-1)", "Morse index"):
        assert name in table
    assert table.count("\n2         2 O(d-1)") == 1  # one row per branch
    fig = diag.plot()
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "mode 2, O(2) x O(d-2)" in labels and "mode 2, O(d-1)" in labels
    path = tmp_path / "diagram.json"
    diag.to_json(path)
    back = mf.BifurcationDiagram.from_json(path)
    assert [(br.isotropy, br.side) for br in back.branches] == [
        (br.isotropy, br.side) for br in diag.branches]
    assert [p.isotropy for p in back.bifurcation_points] == [
        p.isotropy for p in diag.bifurcation_points]
