"""25. The deflated bifurcation diagram, and the compiled RODAS4 and ETDRK4 adaptive loops.

Deflated diagram (``mf.bifurcation_diagram(..., deflation=True)``, meanfield/deflated.py:
deflation of Farrell, Beentjes & Birkisson, arXiv:1603.00809, then pseudo-arclength
continuation of each family found). Case: noisy USA on the circle, beta = 3, kappa in
[1.2, 2] (CircleBasis(48) and 5 discovery values; quick mode 32 and 3). The uniform state
bifurcates at kappa_l = beta / I_l(beta) (DESIGN.md, LITERATURE.md): kappa_1 = 0.759 lies
left of the window, kappa_2 = 1.336 inside it, kappa_3 = 3.126 right of it. Rows:

* the 2-cluster branch ends on rho = 1 at kappa_2 = 3 / I_2(3) (closed form, scipy.special.iv);
  tolerance 1e-12 (Brent on the assembled growth rate: round-off).
* The synchronized branch (mode 1, found by deflation, continued to both bounds): |rho_1| at
  its points nearest kappa = 1.2, 1.6, 2 against the USA self-consistency equation
  rho = exp(kappa G_beta * rho) / Z (DESIGN.md), solved here without meanfield: Newton
  (least squares: the rotation zero mode) on 512 equispaced nodes, the convolution by the
  trapezoid rule (spectrally accurate for this analytic periodic density), from a von Mises
  guess. Tolerance 1e-10 (Newton 1e-11 in the diagram, 1e-13 here). The 2-cluster saddle at
  kappa = 2 the same way, from a 2-cluster guess.
* Distinct branches found: 2 (integer, tolerance 0). The families of stationary states in
  the window are rho = 1 (the diagram's ``uniform_*`` samples, not a branch) and the branches
  of the modes l with kappa_l < 2 (l = 1, 2): the synchronized state, whose bifurcation point
  lies outside the window and which the ordinary diagram cannot reach, and the two antipodal
  clusters (a branch with a rotated copy of itself beyond rho = 1, counted once). No other
  family was found from the 1-, 2- and 3-cluster guesses.
* Their Morse indices (integers, tolerance 0, the same at every point of the branch): the
  synchronized state is the free energy's minimizer, 0; the 2-cluster branch is a supercritical
  pitchfork of mode 2, so it inherits the unstable directions of rho = 1 just below kappa_2,
  mode 1 (two real directions: 2) and stays a saddle with index 2 (no further bifurcation on
  it). The uniform samples: 2 #{l : kappa g_l > 1} (closed-form growth rates), counted as
  the number of mismatches over the 201 samples.
* The ordinary diagram (deflation=False, modes 1-3) over [1.4, 2] holds no bifurcation point
  of rho = 1 (none of the kappa_l lies there) and so finds no branch: 0 (integer).

Compiled RODAS4 (meanfield/rosenbrock.py: ``RODAS4.run_adaptive``, what ``mf.evolve(...,
method="rodas4")`` runs for USA on the circle with <= 96 modes). Case of
benchmarks/bench_evolve.py (beta = 3, kappa = 1, perturbed uniform data, 64 modes, both
modes), t = 10, rtol = 1e-8, atol = 1e-11 (the benchmark's atol = 1e-3 rtol). Rows:

* the compiled loop against the Python stages (``compiled = False``) through
  ``meanfield.timestepping.integrate``, with the controller evolve builds for rtol = 1e-8
  (rtol and atol times RODAS4.tolerance_factor = 100): max |difference| of the 11 saved
  coefficient vectors,
  tolerance 1e-12 (the controller is reproduced bit for bit: round-off of the stages), and
  the same number of accepted steps (integer, tolerance 0).
* ``evolve(method="rodas4")`` at t = 10 against scipy solve_ivp DOP853 (rtol 1e-13, atol
  1e-15) on the same right-hand side L c + N(c) in real coordinates: max-norm error on the
  grid relative to max rho, tolerance 10 rtol (the controller bounds local errors; the class
  documents 0.4-0.8 rtol globally on this case; the reference itself is good to ~1e-12).
* Mass along that run: max |c_0(t) - c_0(0)| over 11 save times, tolerance 1e-13 (the
  transport has no mode-0 component and L_0 = 0: round-off of the linear solves only).

Compiled ETDRK4 (meanfield/etdrk4_loop.py, what ``mf.evolve`` runs by default for USA on the
circle up to 512 modes: step doubling with Richardson extrapolation, quantized steps): the
same rows, at 64 modes (and at 256 in the full mode for the comparison with the Python loop,
which there runs the same compiled transport step by step), with ETDRK4.tolerance_factor = 64
and the global error at the default method against DOP853.
"""

from __future__ import annotations

import warnings

import numpy as np
from _common import Row, figure_path
from scipy.integrate import solve_ivp
from scipy.special import iv

import meanfield as mf
from meanfield.fused import fused_transport
from meanfield.rosenbrock import RODAS4
from meanfield.timestepping import ETDRK4, StepController, integrate

TITLE = "deflated bifurcation diagram, compiled RODAS4 and ETDRK4 loops"
BETA = 3.0
MODEL = mf.MeanFieldModel(mf.AttentionKernel(BETA), kappa=1.0)
RTOL, T_FINAL = 1e-8, 10.0


def self_consistent_amplitude(kappa: float, mode: int, conc: float, m: int = 512) -> float:
    """|rho_mode| of the solution of rho = exp(kappa G_beta * rho) / Z near the guess
    exp(conc cos(mode t)) (meanfield not used): Newton on m equispaced nodes, least-squares
    steps (the rotation zero mode; the even guess stays even), to 1e-13."""
    t = 2 * np.pi * np.arange(m) / m
    K = np.exp(BETA * np.cos(t[:, None] - t[None, :])) / m  # G_beta * rho up to a constant
    rho = np.exp(conc * np.cos(mode * t))
    rho /= rho.mean()
    for _ in range(50):
        e = np.exp(kappa / BETA * (K @ rho))
        T = e / e.mean()
        F = rho - T
        if np.max(np.abs(F)) < 1e-13:
            break
        dE = (kappa / BETA) * e[:, None] * K
        J = np.eye(m) - (dE - T[:, None] * dE.mean(axis=0)[None, :]) / e.mean()
        rho = rho - np.linalg.lstsq(J, F, rcond=1e-12)[0]
    else:
        raise RuntimeError(f"self-consistency Newton did not converge at kappa={kappa}")
    return float(abs(np.mean(rho * np.exp(-1j * mode * t))))


def _deflated_rows(quick: bool) -> tuple[list[Row], object]:
    basis = mf.CircleBasis(32 if quick else 48)
    d = mf.bifurcation_diagram(MODEL, basis, "kappa", (1.2, 2.0), deflation=True,
                               n_values=3 if quick else 5)
    kl = BETA / iv(np.arange(1, 4), BETA)  # kappa_1, kappa_2, kappa_3
    by_mode = {b.mode: b for b in d.branches}
    two = [p for p in d.bifurcation_points if p.mode == 2]
    rows = [Row("deflated diagram, beta = 3, kappa in [1.2, 2]: the 2-cluster branch ends on "
                "rho = 1 at", "kappa_2 = beta / I_2(beta) (LITERATURE.md; scipy iv)",
                two[0].param if two else np.nan, kl[1], 1e-12,
                "Brent on the assembled growth rate")]
    sync = by_mode.get(1)
    for kap in (1.2, 1.6, 2.0):
        i = int(np.argmin(np.abs(sync.param - kap))) if sync is not None else 0
        p = float(sync.param[i]) if sync is not None else kap
        rows.append(Row(f"  synchronized branch (found by deflation) at kappa = {p:.4f}: "
                        "|rho_1|", "self-consistency rho = exp(kappa G*rho)/Z, 512 nodes "
                        "(independent Newton)",
                        float(sync.amplitude[i]) if sync is not None else np.nan,
                        self_consistent_amplitude(p, 1, 3.0), 1e-10,
                        "Newton 1e-11 (diagram), 1e-13 (reference)"))
    c2 = by_mode.get(2)
    rows.append(Row("  2-cluster saddle at kappa = 2: |rho_2|", "the same self-consistency "
                    "solve, 2-cluster guess", float(c2.amplitude[-1]) if c2 is not None else np.nan,
                    self_consistent_amplitude(2.0, 2, 2.0), 1e-10,
                    "Newton 1e-11 (diagram), 1e-13 (reference)"))
    rows.append(Row("  distinct branches found", "modes l with kappa_l < 2: l = 1, 2 "
                    "(kappa_3 = 3.13)", len(d.branches), int(np.sum(kl < 2.0)), 0,
                    "an integer"))
    for mode, ref, why in ((1, 0, "minimizer"), (2, 2, "inherits mode 1 of rho = 1")):
        b = by_mode.get(mode)
        ours = sorted(set(b.morse_index.tolist())) if b is not None else []
        rows.append(Row(f"  Morse index on the mode-{mode} branch (every point)",
                        f"{ref}: {why}", ours[0] if len(ours) == 1 else np.nan, ref, 0,
                        "an integer"))
    g = MODEL.kernel.coefficients(8, 2)
    closed = np.array([2 * int(np.sum(k * g[1:] > 1)) for k in d.uniform_param])
    rows.append(Row("  uniform samples: Morse index mismatches (201 samples)",
                    "2 #{l : kappa g_l > 1} (closed-form growth rates)",
                    int(np.sum(d.uniform_morse_index != closed)), 0, 0, "an integer"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            n_plain = len(mf.bifurcation_diagram(MODEL, basis, "kappa", (1.4, 2.0),
                                                 modes=(1, 2, 3)).branches)
    except ValueError:  # "no bifurcation point in the window"
        n_plain = 0
    rows.append(Row("  ordinary diagram (deflation=False) over [1.4, 2]: branches found",
                    "no kappa_l in [1.4, 2]", n_plain, 0, 0, "an integer"))
    return rows, d


def _case(n_modes: int):
    basis = mf.CircleBasis(n_modes)
    rho0 = mf.initial.perturbed_uniform(basis, amplitude=0.3, max_degree=4, seed=0)
    return basis, rho0, basis.forward(rho0)


def _rel_error(basis, c, c_ref) -> float:
    rho, ref = basis.backward(c), basis.backward(c_ref)
    return float(np.max(np.abs(rho - ref)) / np.max(np.abs(ref)))


def _reference(basis, c0):
    """solve_ivp DOP853 (rtol 1e-13) on L c + N(c) in real coordinates, at T_FINAL."""
    n, lin, nonlin = basis.n_modes, MODEL.linear_operator(basis), MODEL.nonlinear_term(basis)

    def f_real(_t, y):
        c = y[:n] + 1j * y[n:]
        dc = lin * c + nonlin(c)
        return np.concatenate([dc.real, dc.imag])

    ref = solve_ivp(f_real, (0.0, T_FINAL), np.concatenate([c0.real, c0.imag]),
                    method="DOP853", rtol=1e-13, atol=1e-15)
    return ref.y[:n, -1] + 1j * ref.y[n:, -1]


def _compiled_rows(cls, method: str, sizes: tuple[int, ...], reference: str
                   ) -> tuple[list[Row], dict]:
    """The compiled loop of ``cls`` against its Python loop, and evolve(method) against
    DOP853 at the first size."""
    rows, times = [], np.linspace(0.0, T_FINAL, 11)
    f = cls.tolerance_factor  # the controller evolve builds for rtol (evolution.py)
    for n_modes in sizes:
        basis, rho0, c0 = _case(n_modes)
        L, N = MODEL.linear_operator(basis), fused_transport(MODEL, basis)
        fast, slow = cls(L, N), cls(L, N)
        slow.compiled = False
        a, b = (integrate(s, c0, times, controller=StepController(rtol=f * RTOL,
                                                                  atol=f * 1e-3 * RTOL))
                for s in (fast, slow))
        rows += [Row(f"compiled {cls.name} loop vs Python loop ({n_modes} modes, t = 10, rtol "
                     "1e-8): max |c difference|", f"{cls.name} with compiled = False "
                     f"({reference})", float(np.max(np.abs(a.u - b.u))), 0.0, 1e-12,
                     "round-off of the stages"),
                 Row("  accepted steps, compiled vs Python", "the Python loop's count",
                     a.n_steps, b.n_steps, 0, "an integer (the controller bit for bit)")]
    basis, rho0, c0 = _case(sizes[0])
    sol = mf.evolve(MODEL, basis, rho0, T_FINAL, times, method=method, rtol=RTOL,
                    atol=1e-3 * RTOL)
    err = _rel_error(basis, sol.coeffs[-1], _reference(basis, c0))
    rows.append(Row(f"evolve(method='{method}', rtol = 1e-8) at t = 10 ({sizes[0]} modes, "
                    f"{sol.n_steps} steps): error / max rho", "solve_ivp DOP853, rtol 1e-13, "
                    "same right-hand side", err, 0.0, 10 * RTOL, "10 rtol (global error ~rtol)"))
    mass = float(np.max(np.abs(sol.coeffs[:, 0] - sol.coeffs[0, 0])))
    rows.append(Row("  mass along that run: max |c_0(t) - c_0(0)|, 11 save times",
                    "conservation (no mode-0 transport)", mass, 0.0, 1e-13, "round-off"))
    return rows, {"basis": basis, "t": sol.t, "coeffs": sol.coeffs}


def _figure(d, run: dict) -> None:
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(13, 6), constrained_layout=True)
    left, right = fig.subfigures(1, 2, width_ratios=[1.4, 1])
    axes = left.subplots(2, 1, sharex=True)
    d.plot(axes=axes)
    axes[0].set_title("deflated diagram, beta = 3 (the ordinary one finds nothing in "
                      "[1.4, 2])", fontsize=9)
    ax = right.subplots()
    basis = run["basis"]
    for t, c in zip(run["t"][::2], run["coeffs"][::2], strict=True):
        ax.plot(basis.grid, basis.backward(c), label=f"t = {t:g}")
    ax.set_xlabel("theta")
    ax.set_ylabel("rho (w.r.t. sigma)")
    ax.set_title("evolve(method='rodas4'), beta = 3, kappa = 1", fontsize=9)
    ax.legend(fontsize=7)
    fig.savefig(figure_path("v25_deflated_diagram"), dpi=110)
    plt.close(fig)


def run(quick: bool) -> tuple[list[Row], list[str]]:
    rows, d = _deflated_rows(quick)
    # 64 modes: the benchmark's size (32 modes under-resolve t = 10 beyond 1e-8)
    more, traj = _compiled_rows(RODAS4, "rodas4", (64,), "Hairer-Wanner RODAS")
    etd, _ = _compiled_rows(ETDRK4, "etdrk4", (64,) if quick else (64, 256),
                            "Cox-Matthews ETDRK4, Kassam-Trefethen")
    _figure(d, traj)
    return rows + more + etd, ["v25_deflated_diagram"]
