"""22. The tricritical point in every dimension, rotating clusters, deflated continuation.

Rows:

* beta_*^{(d)} from two-parameter continuation (meanfield.two_parameter.tricritical_curve: the
  fold curve continued by arclength in (state, null vector, beta, kappa) through the
  turning point where its amplitude vanishes; zonal densities for d > 2) against the
  published criterion of Mun–Rosenzweig (LITERATURE.md), d = 2, 3, 4
  (d = 8 agrees too, 1.26655302446 vs 1.26655302452 with the bracket (0.5, 3), but takes
  minutes: not run here): the first
  bifurcation is supercritical iff I_{d/2+1}(beta)/I_{d/2}(beta) < 1/d, so beta_*^{(d)} is the
  root of equality (scipy brentq to 1e-15). Tolerance 1e-8 (the issue's; measured 1e-10).
* A rigid rotation omega added to attention (beta = 3) commutes with it: the rotating state's
  speed is omega exactly (Newton to 1e-12), and the uniform state's mode-1 bifurcation is a
  Hopf point at kappa_1 = beta / I_1(beta) (LITERATURE.md) with frequency omega, located by
  meanfield.rotating.rotating_branch from the assembled Jacobian. Tolerance 1e-12.
* Deflated continuation (meanfield.deflated) on windows that contain no bifurcation point
  of the uniform state: at beta = 0 (noisy Kuramoto, kappa in [2.5, 4]) it finds the
  synchronized state, whose order parameter r solves the published self-consistency
  r = I_1(kappa r)/I_0(kappa r) (tolerance 1e-10, Newton 1e-11), and the uniform state with
  Morse index 2 (mode 1, two real directions; an integer, tolerance 0); at beta = 3
  (kappa in [1.4, 2]) the antipodal 2-cluster saddle, against stationary_state in the
  period-2 subspace (a second method, 1e-10).
"""

from __future__ import annotations

import numpy as np
from _common import Row, figure_path
from scipy.optimize import brentq
from scipy.special import iv

import meanfield as mf
from meanfield.deflated import deflated_continuation
from meanfield.rotating import rotating_branch, rotating_state
from meanfield.two_parameter import tricritical_curve

TITLE = "beta_* in dimension d, rotating clusters, deflated continuation"


def mun_rosenzweig(d: int) -> float:
    return brentq(lambda b: iv(d / 2 + 1, b) / iv(d / 2, b) - 1 / d, 0.5, 5.0, xtol=1e-15)


def kuramoto_r(kappa: float) -> float:
    return brentq(lambda r: r - iv(1, kappa * r) / iv(0, kappa * r), 1e-6, 1.0, xtol=1e-15)


def run(quick: bool) -> tuple[list[Row], list[str]]:
    import matplotlib.pyplot as plt

    rows = []
    dims = [2, 3] if quick else [2, 3, 4]
    tc = tricritical_curve(dims)
    for d, b in zip(tc.dim, tc.beta, strict=True):
        rows.append(Row(f"tricritical beta_*^(d), d = {d}, from the continued fold curve",
                        "Mun-Rosenzweig criterion (LITERATURE.md)", float(b),
                        mun_rosenzweig(int(d)), 1e-8,
                        "arclength fold path through amplitude 0; root of I_{d/2+1}/I_{d/2} = 1/d"))
    omega, basis = 0.7, mf.CircleBasis(32)
    rot = mf.MeanFieldModel(mf.AttentionLayer(3.0) + mf.RigidRotation(omega), kappa=1.0)
    rs = rotating_state(rot, mf.CircleBasis(48), mf.initial.von_mises(mf.CircleBasis(48), 4.0))
    rows.append(Row("rotating cluster speed, attention (beta = 3, kappa = 1) + rotation 0.7",
                    "closed form (the rotation commutes)", rs.speed, omega, 1e-12,
                    "Newton to 1e-12"))
    br = rotating_branch(rot, basis, "kappa", (0.7, 1.0), max_points=40)
    rows.append(Row("Hopf point of the uniform state with the rotation (mode 1)",
                    "kappa_1 = beta / I_1(beta) (LITERATURE.md)", br.hopf.param,
                    3.0 / iv(1, 3.0), 1e-12, "from the assembled Jacobian (Brent)"))
    rows.append(Row("its frequency", "closed form omega", br.hopf.frequency, omega, 1e-12,
                    "2 x 2 block of the linearization"))
    kur = mf.MeanFieldModel(mf.KuramotoKernel(), kappa=3.0)
    values = np.linspace(2.5, 4.0, 4 if quick else 7)
    dk = deflated_continuation(kur, basis, "kappa", values)
    sync = [b for b in dk.branches if b.kind == "mode 1"]
    uni = [b for b in dk.branches if b.kind == "uniform"]
    err = max(abs(float(basis.amplitude(c, 1)) - kuramoto_r(p))
              for p, c in zip(sync[0].params, sync[0].coeffs, strict=True)) if sync else np.inf
    rows.append(Row(f"deflated continuation, Kuramoto kappa in [2.5, 4]: max |r - r_exact| "
                    f"over {values.size} values", "noisy Kuramoto self-consistency "
                    "(LITERATURE.md)", err, 0.0, 1e-10, "Newton to 1e-11"))
    rows.append(Row("  its uniform branch: Morse index (max over the window)",
                    "2 (mode 1 unstable for kappa > 2)",
                    float(max(uni[0].morse_index)) if uni else np.nan, 2.0, 0, "an integer"))
    m3 = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    d3 = deflated_continuation(m3, basis, "kappa", np.linspace(1.4, 2.0, 4))
    two = [b for b in d3.branches if b.kind == "mode 2"]
    ref = mf.stationary_state(m3.replace(kappa=1.4), basis,
                              np.exp(2.0 * np.cos(2 * basis.grid)), period=2)
    rows.append(Row("deflated continuation, beta = 3, kappa = 1.4: the 2-cluster saddle |rho_2|",
                    "stationary_state, period 2 (second method)",
                    float(basis.amplitude(two[0].coeffs[0], 2)) if two else np.nan,
                    ref.amplitude(2), 1e-10, f"Morse index {two[0].morse_index[0]}"
                    if two else "not found"))

    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    dd = np.array([2, 3, 4, 6, 8, 16, 32, 64])
    ax.semilogx(dd, [mun_rosenzweig(int(d)) for d in dd], "-", color="0.6",
                label="Mun-Rosenzweig criterion")
    ax.semilogx(tc.dim, tc.beta, "o", label="continued fold curve")
    ax.axhline(1.0, ls=":", color="0.6")
    ax.set_xlabel("d")
    ax.set_ylabel(r"$\beta_*^{(d)}$")
    ax.legend(fontsize=8)
    ax.set_title("tricritical point in dimension d", fontsize=9)
    for flag, ls in ((True, "-"), (False, "--")):
        bx.plot(br.params, np.where(br.stable == flag, br.amplitudes, np.nan), ls, color="C0")
    bx.plot([br.hopf.param], [0], "s", mfc="white", mec="C3")
    bx.set_xlabel("kappa")
    bx.set_ylabel(r"$|\rho_1|$")
    bx.set_title(f"rotating clusters (speed {omega}), born at the Hopf point", fontsize=9)
    for i, b in enumerate(d3.branches):
        a = np.asarray(b.amplitudes)
        cx.plot(b.params, a[:, 0], "o-", color=f"C{i}", label=f"{b.kind}: |rho_1|")
        cx.plot(b.params, a[:, 1], "x--", color=f"C{i}", label=f"{b.kind}: |rho_2|")
    cx.set_xlabel("kappa")
    cx.set_title("deflated continuation, beta = 3 (no bifurcation in the window)", fontsize=9)
    cx.legend(fontsize=7)
    fig.savefig(figure_path("v22_branches"), dpi=110)
    plt.close(fig)
    return rows, ["v22_branches"]
