"""24. Branches by isotropy type at the degenerate bifurcations of the uniform state.

On S^{d-1} every degree-l harmonic has the same growth rate at rho = 1, so the mode-l
eigenspace V_l is degenerate and the equivariant branching lemma gives one branch per
axial isotropy subgroup (Golubitsky, Stewart & Schaeffer 1988, vol. II, ch. XIII; for O(3):
Ihrig & Golubitsky 1984). meanfield traces each type in a fixed-point subspace that imposes
only a subgroup of it; the rows check the rest of the group on the states found.

Rows:

* S^2, mode 3 (beta = 1, lmax 12): the three axial types of V_3 listed by Ihrig &
  Golubitsky, O(2)^-, D_6^d and O^-, each bifurcating at kappa_3 = 1/g_3 (closed form,
  LITERATURE.md; tolerance 1e-10, Brent on the assembled growth rate to round-off), all
  pitchforks (-I acts as -1 on odd V_l, so the quadratic equivariant vanishes; an integer,
  tolerance 0); the O^- branch, traced among D_2d-invariant densities, is invariant under
  the 3-fold rotation about (1, 1, 1) (T_d = O^-, not imposed; tolerance 1e-10, Newton 1e-11).
* S^2, mode 4: the octahedral branch O + Z_2^c, whose direction in the plane of (4, 0) and
  (4, 4) comes from the quadratic bifurcation equation, is invariant under x <-> z (not
  imposed by its D_4h subspace), on both halves of the transcritical branch (tolerance 1e-10).
* The planar class at d = 3 (x_3-symmetric densities on S^2): its D_4 square branch of mode 4
  is the octahedral state, invariant under x_1 <-> x_3 (tolerance 1e-10).
* The planar class at d = 16 (beta = 2, lmax 24): modes 1-4 give the zonal O(d-1), ring
  O(2) x O(d-2), triangle D_3 and square D_4 types, each at kappa_l = 1/g_l (1e-10); the
  uniform state's Morse index against planar perturbations at kappa_l is the number of
  planar harmonics of degree < l, sum_{j<l} (j + 1) (an integer, tolerance 0).
"""

from __future__ import annotations

import warnings

import numpy as np
from _common import Row, figure_path

import meanfield as mf

TITLE = "branches by isotropy type at degenerate bifurcations"


def _points(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _diagram(basis, beta: float, k: int, max_points: int):
    g = mf.AttentionKernel(beta).coefficients(k + 1, basis.dim)
    model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=1.0, dim=basis.dim)
    with warnings.catch_warnings():  # branches cut at max_points: intended
        warnings.simplefilter("ignore", UserWarning)
        diag = mf.bifurcation_diagram(model, basis, "kappa", (0.97 / g[k], 1.06 / g[k]),
                                      modes=(k,), max_points=max_points)
    return g, diag


def _state(basis, br):
    return basis.with_max_degree(int(br.n_modes[-1]) - 1), br.coeffs[-1]


def _asymmetry(basis, br, perm) -> float:
    bb, c = _state(basis, br)
    x = _points(400, basis.dim)
    return float(np.max(np.abs(bb.evaluate(c, x[:, perm]) - bb.evaluate(c, x))))


def _s2_rows(quick: bool, states: dict) -> list[Row]:
    rows = []
    b = mf.SphereBasis(12)
    g, d3 = _diagram(b, 1.0, 3, 4)
    names = [p.isotropy for p in d3.bifurcation_points]
    for p in d3.bifurcation_points:
        rows.append(Row(f"S^2 mode 3, type {p.isotropy}: branch point kappa", "closed form "
                        "1/g_3 (LITERATURE.md); types: Ihrig & Golubitsky 1984", p.param,
                        1 / g[3], 1e-10, "Brent on the assembled growth rate"))
    rows.append(Row("S^2 mode 3: number of axial types traced (O(2)^-, D_6^d, O^-)",
                    "Ihrig & Golubitsky 1984, axial subgroups of O(3) on V_3", len(names), 3, 0,
                    "an integer"))
    rows.append(Row("S^2 mode 3: branches that are not pitchforks", "-I acts as -1 on V_3: "
                    "no quadratic equivariant (GSS vol. II, ch. XIII)",
                    sum(p.kind not in ("supercritical", "subcritical")
                        for p in d3.bifurcation_points), 0, 0, "an integer"))
    o_minus = d3.branches[names.index("O^-")]
    rows.append(Row("S^2 mode 3, O^- branch traced in Fix(D_2d): 3-fold symmetry about "
                    "(1,1,1), max |rho(Cx) - rho(x)|", "T_d = O^- isotropy (Ihrig & "
                    "Golubitsky 1984)", _asymmetry(b, o_minus, [1, 2, 0]), 0.0, 1e-10,
                    "Newton 1e-11; not imposed by the subspace"))
    for br in d3.branches:
        states[f"mode 3, {br.isotropy}"] = _state(b, br)
    if quick:
        return rows
    _, d4 = _diagram(b, 1.0, 4, 4)
    for br in d4.branches:
        if br.isotropy == "O x Z_2^c":
            rows.append(Row(f"S^2 mode 4, octahedral branch (side {br.side:+d}) in Fix(D_4h), "
                            "direction from the quadratic bifurcation equation: x <-> z "
                            "asymmetry", "O + Z_2^c isotropy (Ihrig & Golubitsky 1984)",
                            _asymmetry(b, br, [2, 1, 0]), 0.0, 1e-10,
                            "Newton 1e-11; not imposed by the subspace"))
            states[f"mode 4, O x Z_2^c ({br.side:+d})"] = _state(b, br)
    return rows


def _planar_rows(quick: bool) -> list[Row]:
    rows = []
    p3 = mf.PlanarBasis(3, 12)
    _, d = _diagram(p3, 1.0, 4, 3)
    for br in d.branches:
        if br.isotropy == "D_4 x O(d-2)":
            rows.append(Row(f"planar d = 3, square branch D_4 (side {br.side:+d}): x_1 <-> x_3 "
                            "asymmetry", "it is the octahedral state of S^2 (Ihrig & "
                            "Golubitsky 1984)", _asymmetry(p3, br, [2, 1, 0]), 0.0, 1e-10,
                            "Newton 1e-11; the planar class cannot impose it"))
    if quick:
        return rows
    pb = mf.PlanarBasis(16, 24)
    for k in (1, 2, 3, 4):
        g, dk = _diagram(pb, 2.0, k, 2)
        for p in dk.bifurcation_points:
            rows.append(Row(f"planar d = 16, mode {k}, type {p.isotropy}: branch point kappa",
                            "closed form 1/g_l (LITERATURE.md)", p.param, 1 / g[k], 1e-10 / g[k],
                            "Brent on the assembled growth rate (relative 1e-10)"))
        br = dk.branches[0]
        rows.append(Row(f"planar d = 16, mode {k}: Morse index of rho = 1 at kappa_{k} "
                        "(planar perturbations)", "sum_{j<l} (j + 1) planar harmonics",
                        int(br.morse_index[0]), sum(j + 1 for j in range(1, k)), 0,
                        "an integer"))
    return rows


def _figure(states: dict) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(states), figsize=(3.2 * len(states), 2.6),
                             constrained_layout=True, squeeze=False)
    for ax, (name, (basis, c)) in zip(axes[0], states.items(), strict=True):
        theta, phi = basis.grid
        im = ax.pcolormesh(np.degrees(phi), 90 - np.degrees(theta), basis.backward(c),
                           shading="auto", cmap="viridis")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("longitude (deg)")
        fig.colorbar(im, ax=ax, label="density w.r.t. sigma", shrink=0.8)
    axes[0][0].set_ylabel("latitude (deg)")
    fig.suptitle("Branches by isotropy type on S^2 (noisy USA, beta = 1, near kappa_l)",
                 fontsize=10)
    fig.savefig(figure_path("v24_isotropy"), dpi=110)
    plt.close(fig)


def run(quick: bool) -> tuple[list[Row], list[str]]:
    states: dict = {}
    rows = _s2_rows(quick, states) + _planar_rows(quick)
    _figure(states)
    return rows, ["v24_isotropy"]
