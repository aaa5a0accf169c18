"""The ``meanfield`` command line: ``meanfield evolve ...``, ``meanfield demo``, ``meanfield sweep
...``."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

from . import initial, io, manifest
from ._signals import Terminated, sigterm_raises
from .bases import CircleBasis
from .evolution import _unfinished, evolve
from .kernels import AttentionKernel
from .model import MeanFieldModel
from .stationary import stationary_residual

INITS = ("perturbed", "vonmises", "wrapped-cauchy", "uniform")


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


def _kappa(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"kappa must be > 0 (or inf for no noise), got {text}")
    return value


def _add_evolve_args(p: argparse.ArgumentParser, defaults: dict) -> None:
    p.add_argument("--beta", type=float, default=defaults.get("beta", 3.0),
                   help="inverse temperature of the attention kernel (any real)")
    p.add_argument("--kappa", type=_kappa, default=defaults.get("kappa", 1.0),
                   help="inverse noise level, > 0; 'inf' for the noiseless flow")
    p.add_argument("--dynamics", choices=("usa", "sa"), default="usa")
    p.add_argument("--n-modes", type=_positive(int), default=defaults.get("n_modes", 64),
                   help="Fourier modes (circle) or Gegenbauer degrees + 1 (dim > 2)")
    p.add_argument("--dim", type=int, default=2,
                   help="sphere S^(dim-1); dim > 2 uses zonal densities (functions of x.e)")
    p.add_argument("--sphere", action="store_true",
                   help="full S^2 in spherical harmonics (lmax = n-modes - 1)")
    p.add_argument("--t-final", type=_positive(float), default=defaults.get("t_final", 30.0))
    p.add_argument("--saves", type=_positive(int), default=201, help="number of save times")
    p.add_argument("--init", choices=INITS, default="perturbed")
    p.add_argument("--amplitude", type=float, default=0.1, help="perturbation size (perturbed)")
    p.add_argument("--concentration", type=float, default=1.0, help="von Mises k0")
    p.add_argument("--r", type=float, default=0.3, help="wrapped Cauchy r")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", default="etdrk4")
    p.add_argument("--rtol", type=_positive(float), default=1e-8)
    p.add_argument("--dt", type=_positive(float), default=None,
                   help="fixed step size (default: adaptive steps with --rtol)")
    p.add_argument("--out", default=defaults.get("out", "results/evolve"),
                   help="output folder (its manifest.json lists what the run wrote)")
    p.add_argument("--checkpoint-every", type=_nonnegative, default=10.0, metavar="SECONDS",
                   help="seconds between writes of OUT/checkpoint.npz (0: at every save "
                   "time; default 10); it is also written when the run is interrupted "
                   "(Ctrl-C, SIGTERM)")
    p.add_argument("--resume", nargs="?", const=True, default=None, metavar="CHECKPOINT",
                   help="continue the interrupted run of the same command from its "
                   "checkpoint (default OUT/checkpoint.npz); the result is that of the "
                   "uninterrupted run")
    p.add_argument("--no-progress", action="store_true")


def _nonnegative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _initial(args, basis) -> np.ndarray:
    if args.init == "perturbed":
        return initial.perturbed_uniform(basis, args.amplitude, max_degree=4, seed=args.seed)
    if args.init == "vonmises":
        return initial.von_mises(basis, args.concentration)
    if args.init == "wrapped-cauchy":
        return initial.wrapped_cauchy(basis, args.r)
    return np.ones(basis.shape)


def _basis(args):
    """CircleBasis for dim = 2, SphereBasis with --sphere (S^2, no symmetry assumed), else the
    zonal Gegenbauer basis on S^{dim-1} (densities of x.e only)."""
    if getattr(args, "sphere", False):
        if args.dim not in (2, 3):
            raise ValueError(f"--sphere is S^2 (dim 3), got --dim {args.dim}")
        args.dim = 3
        from .bases import SphereBasis

        return SphereBasis(args.n_modes - 1)
    if args.dim < 2:
        raise ValueError(f"--dim must be >= 2, got {args.dim}")
    if args.dim == 2:
        return CircleBasis(args.n_modes)
    from .bases import ZonalBasis

    return ZonalBasis(args.dim, args.n_modes - 1)


def run_evolve(args) -> int:
    out = Path(args.out)
    kernel = AttentionKernel(args.beta)
    basis = _basis(args)  # first: --sphere sets dim = 3
    model = MeanFieldModel(kernel, kappa=args.kappa, dynamics=args.dynamics, dim=args.dim)
    rho0 = _initial(args, basis)
    t_eval = np.linspace(0.0, args.t_final, args.saves)
    checkpoint = out / "checkpoint.npz"
    resume = getattr(args, "resume", None)
    if resume is not None:
        resume = checkpoint if resume is True else Path(resume)
        if not resume.is_file():
            raise ValueError(f"--resume: no checkpoint at {resume}")
    elif _unfinished(checkpoint) is not None:
        data = _unfinished(checkpoint)
        raise ValueError(f"{checkpoint} holds an unfinished run (saved up to t="
                         f"{float(data['t'][-1]):g} of {float(data['times'][-1]):g}); continue "
                         "it with the same command and --resume, or remove the file or give "
                         "another --out to start afresh")
    sol = evolve(model, basis, rho0, args.t_final, t_eval, method=args.method, rtol=args.rtol,
                 dt=getattr(args, "dt", None), checkpoint=checkpoint,
                 checkpoint_every=getattr(args, "checkpoint_every", 10.0), resume=resume,
                 progress=not args.no_progress)
    from .plotting import save_solution_figures

    sol.save(out / "solution.npz")
    summary = sol.summary()
    rates = model.growth_rates(4)
    summary["linear_growth_rates_of_uniform"] = {str(k): float(rates[k]) for k in range(1, 5)}
    if np.isfinite(model.kappa):
        summary["stationary_residual_end"] = stationary_residual(model, basis, sol.rho[-1])
    io.write_json(out / "summary.json", summary)
    figs = save_solution_figures(sol, out)
    _print_table(sol)
    print("\nlinear growth rates of rho = 1, modes 1-4: "
          + ", ".join(f"{r:+.4f}" for r in rates[1:]))
    if "stationary_residual_end" in summary:
        print(f"final state: Gibbs fixed-point residual max |rho - T(rho)| = "
              f"{summary['stationary_residual_end']:.2e} (0 at a stationary state)")
    print(f"\nstatus: {sol.status} {sol.message}".rstrip())
    print(f"wrote {out / 'solution.npz'}, {out / 'summary.json'}, "
          + ", ".join(str(f) for f in figs))
    return 0 if sol.success else 1


def _print_table(sol, rows: int = 6) -> None:
    idx = np.unique(np.linspace(0, sol.t.size - 1, rows).round().astype(int))
    names = ("|rho_1|", "|rho_2|", "|rho_3|") if sol.basis.dim == 2 else ("<P_1>", "<P_2>",
                                                                          "<P_3>")
    print(f"\n{'t':>8} {names[0]:>11} {names[1]:>11} {names[2]:>11} {'max rho':>10} "
          f"{'F':>13} {'mass-1':>10}")
    F, a1, a2, a3 = sol.free_energy, sol.amplitude(1), sol.amplitude(2), sol.amplitude(3)
    for i in idx:
        print(f"{sol.t[i]:8.3f} {a1[i]:11.4e} {a2[i]:11.4e} {a3[i]:11.4e} "
              f"{sol.rho[i][sol.basis.reliable_nodes].max():10.4f} {F[i]:13.8f} "
              f"{sol.mass[i] - 1:10.1e}")


def _range(text: str) -> tuple[float, ...]:
    """'lo:hi' or 'lo:hi:step' -> floats."""
    try:
        parts = tuple(float(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected lo:hi or lo:hi:step, got {text!r}") from None
    if len(parts) not in (2, 3) or not parts[0] < parts[1] or (len(parts) == 3 and parts[2] <= 0):
        raise argparse.ArgumentTypeError(f"expected lo:hi (lo < hi) or lo:hi:step (step > 0), "
                                         f"got {text!r}")
    return parts


def _modes(text: str) -> tuple[int, ...]:
    try:
        modes = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected modes like 1,2,3, got {text!r}") from None
    if not modes or min(modes) < 1:
        raise argparse.ArgumentTypeError(f"modes must be integers >= 1, got {text!r}")
    return modes


def run_bifurcate(args) -> int:
    from .continuation import bifurcation_diagram

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    basis = _basis(args)  # first: --sphere sets dim = 3
    model = MeanFieldModel(AttentionKernel(args.beta), kappa=args.kappa, dynamics=args.dynamics,
                           dim=args.dim)
    lo, hi = args.range[:2]
    diag = bifurcation_diagram(model, basis, args.param, (lo, hi), modes=args.modes,
                               progress=not args.no_progress)
    diag.to_json(out / "diagram.json")
    diag.to_npz(out / "diagram.npz")
    diag.plot(out / "diagram.png")
    print(f"\nbifurcation diagram: beta={args.beta:g}, {args.dynamics.upper()}, {args.param} in "
          f"[{lo:g}, {hi:g}], modes {','.join(map(str, args.modes))} "
          f"({diag.wall_time:.2f} s)\n")
    print(diag.table())
    for br in diag.branches:
        print(f"branch mode {br.mode}: {br.param.size} points, n_modes up to "
              f"{br.n_modes.max()}, {br.message}")
    found = {p.mode for p in diag.bifurcation_points}
    for k in args.modes:
        if k not in found:
            print(f"mode {k}: no bifurcation from the uniform state for {args.param} in "
                  f"[{lo:g}, {hi:g}]")
    print(f"\nwrote {out / 'diagram.json'}, {out / 'diagram.npz'}, {out / 'diagram.png'}")
    return 0


def run_phase_diagram(args) -> int:
    from .continuation import phase_diagram

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lo, hi, *step = args.beta
    betas = np.arange(lo, hi + 1e-12, step[0] if step else (hi - lo) / 20)
    pd = phase_diagram(betas, dynamics=args.dynamics, progress=not args.no_progress)
    pd.to_json(out / "phase_diagram.json")
    pd.plot(out / "phase_diagram.png")
    print()
    print(pd.table())
    print(f"\nwrote {out / 'phase_diagram.json'}, {out / 'phase_diagram.png'}")
    return 0


def run_demo(args) -> int:
    """The flagship: the beta = 3 bifurcation diagram, then one evolution into the cluster."""
    print("== 1. Bifurcation diagram of the noisy transformer on the circle, beta = 3 ==")
    code = run_bifurcate(args)
    print("\n== 2. Evolution from a perturbed uniform state at kappa = 1 (beyond kappa_1) ==")
    code = code or run_evolve(args)
    if code == 0:
        _compare_with_branch(args)
    return code


def _compare_with_branch(args) -> None:
    """Cross-check: the run's end state against Newton's stationary state at its kappa."""
    from .stationary import stationary_state

    model = MeanFieldModel(AttentionKernel(args.beta), kappa=args.kappa, dynamics=args.dynamics)
    basis = CircleBasis(args.n_modes)
    data = np.load(Path(args.out) / "solution.npz")
    end = data["coeffs"][-1]
    st = stationary_state(model, basis, initial.von_mises(basis, 6.0))
    aligned = end * np.exp(-1j * np.arange(basis.n_modes) * np.angle(end[1]))
    print(f"\ncross-check at kappa={args.kappa:g}: evolve's end state vs Newton's 1-cluster "
          f"state: max |coefficient difference| = {np.max(np.abs(aligned - st.coeffs)):.2e}, "
          f"|rho_1| = {st.amplitude(1):.10f}, stable = {st.stable}")


def run_particles(args) -> int:
    """Simulate n tokens; write observables (npz + JSON), a figure, and print a table."""
    import time

    from .particles import observables as pobs
    from .particles import simulate_particles

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.dim < 2:
        raise ValueError(f"--dim must be >= 2, got {args.dim}")
    outside = [t for t in args.times or () if not 0.0 <= t <= args.t_final]
    if outside:
        raise ValueError(f"--times must lie in [0, t_final={args.t_final:g}], got "
                         + ", ".join(f"{t:g}" for t in outside))
    t_eval = np.linspace(0.0, args.t_final, args.saves)
    if args.times and args.dim >= 3:  # the scatter panels show exactly the requested times
        t_eval = np.union1d(t_eval, np.asarray(args.times, dtype=float))
    extra = {}
    if args.init == "vonmises":
        extra["concentration"] = args.concentration
    from .particles.normalization import NGPT, MixLN, normalization_scheme

    scheme = {"ngpt": lambda: NGPT(alpha=args.alpha),
              "mix-ln": lambda: MixLN(t_switch=args.t_switch)}.get(
        args.normalization, lambda: normalization_scheme(args.normalization))()
    dt = _particle_dt(args) if args.dt is None else args.dt
    t0 = time.perf_counter()

    def simulate(dt):
        return simulate_particles(beta=args.beta, kappa=args.kappa, dynamics=args.dynamics,
                                  dim=args.dim, n=args.n, init=args.init, t_final=args.t_final,
                                  dt=dt, t_eval=t_eval, seed=args.seed, method=args.method,
                                  normalization=scheme, progress=not args.no_progress, **extra)

    try:
        try:
            ps = simulate(dt)
        except ValueError as err:  # the default step: lowered to the limit found at t = 0
            limit = re.search(r"is too large .*; use dt <= ([0-9.eE+-]+)$", str(err))
            if args.dt is not None or limit is None:
                raise
            dt = float(f"{0.8 * float(limit.group(1)):.2g}")
            print(f"(the default step is lowered to dt={dt:g}, within the stability limit of "
                  f"this run at t = 0; give --dt to choose)", file=sys.stderr)
            t0 = time.perf_counter()
            ps = simulate(dt)
    except MemoryError as err:
        raise MemoryError(f"{err} (on the command line: fewer --saves, a smaller --n or "
                          "--dim, or 'meanfield sweep particles' for ensembles)") from None
    wall = time.perf_counter() - t0
    obs = dict(order_parameter=ps.order_parameter(), mean_inner_product=ps.mean_inner_product()
               if ps.n > 1 else np.zeros(ps.t.size))
    if args.dim == 2:
        mom = np.abs(ps.moments(np.array([1, 2, 3])))
        for k in range(3):
            obs[f"abs_rho_{k + 1}"] = mom[:, k]
        obs["cos_mean"] = ps.x[..., 0].mean(axis=-1)
    if ps.n <= 20000:
        obs["energy"] = np.asarray(pobs.energy(ps.x, args.beta))
    if ps.radius is not None:
        obs["mean_residual_norm"] = ps.radius.mean(axis=-1)
    arrays = dict(t=ps.t, **obs)
    if ps.n * ps.t.size * args.dim <= 5_000_000:
        arrays["x"] = ps.x
    io.save_npz(out / "particles.npz", **arrays)
    last = pobs.clusters(ps.x[-1], args.cluster_tol) if ps.n <= 20000 else None
    summary = dict(params=ps.params, n_steps=ps.n_steps, wall_time_s=wall, t=ps.t,
                   final={k: float(v[-1]) for k, v in obs.items()},
                   clusters_end=None if last is None else dict(count=last.count,
                                                               sizes=last.sizes[:10]))
    io.write_json(out / "summary.json", summary)
    fig_path = _particle_figure(ps, out, args.times)
    idx = np.unique(np.linspace(0, ps.t.size - 1, 6).round().astype(int))
    cols = [k for k in ("order_parameter", "abs_rho_2", "abs_rho_3", "mean_inner_product",
                        "energy", "mean_residual_norm") if k in obs]
    heads = {"order_parameter": "|m|", "abs_rho_2": "|rho_2|", "abs_rho_3": "|rho_3|",
             "mean_inner_product": "<x_i,x_j>", "energy": "E_beta", "mean_residual_norm": "|y|"}
    print(f"\n{'t':>8} " + " ".join(f"{heads[c]:>11}" for c in cols))
    for i in idx:
        print(f"{ps.t[i]:8.3f} " + " ".join(f"{obs[c][i]:11.4e}" for c in cols))
    if last is not None:
        print(f"\nclusters at t={ps.t[-1]:g} (tol {args.cluster_tol:g}): {last.count}")
    print(f"{ps.n_steps} steps, method {ps.params['method']}, {wall:.2f} s")
    print(f"wrote {out / 'particles.npz'}, {out / 'summary.json'}, {fig_path}")
    return 0


def _particle_dt(args) -> float:
    """Default step of ``meanfield particles``: 1e-2, or 80% of the documented stability
    limit of :func:`meanfield.simulate_particles` (Q = K = V = identity) when smaller."""
    from .particles.simulate import STABILITY_LIMIT

    vmax = float(np.exp(min(abs(args.beta), 700.0))) if args.dynamics == "usa" else 1.0
    dt = min(1e-2, 0.8 * STABILITY_LIMIT / (vmax * (1.0 + abs(args.beta))))
    if np.isfinite(args.kappa):
        dt = min(dt, 0.8 * STABILITY_LIMIT * args.kappa / max(args.dim - 1, 1))
    return float(f"{dt:.2g}")


#: ``meanfield particles`` on the circle draws every token as a dot up to this many tokens,
#: and the empirical density (a histogram per save time) above
DOTS_UP_TO = 1000


def _particle_figure(ps, out: Path, times) -> Path:
    from matplotlib.figure import Figure

    if ps.dim == 2:
        fig = Figure(figsize=(6, 4), constrained_layout=True)
        ax = fig.subplots()
        th = np.mod(ps.angles(), 2 * np.pi)
        if ps.n <= DOTS_UP_TO:  # every token a dot
            tt = np.broadcast_to(ps.t[:, None], th.shape)
            ax.scatter(th.ravel(), tt.ravel(), s=0.5, c="k", alpha=0.4, linewidths=0)
        else:  # thousands of tokens: the empirical density, not stripes of dots
            bins = int(min(256, max(32, np.sqrt(ps.n) * 2)))
            edges = np.linspace(0.0, 2 * np.pi, bins + 1)
            dens = np.stack([np.histogram(row, edges)[0] for row in th]) * (bins / ps.n)
            centres = 0.5 * (edges[1:] + edges[:-1])
            im = ax.pcolormesh(centres, ps.t, dens, shading="nearest", cmap="magma")
            fig.colorbar(im, ax=ax, label=r"empirical density w.r.t. $\sigma$")
        ax.set_xlim(0, 2 * np.pi)
        ax.set_xlabel(r"$\theta_j$")
        ax.set_ylabel("t (depth)")
        p = ps.params
        ax.set_title(f"{p['dynamics'].upper()} particles: n={ps.n}, beta={p['beta']:g}, "
                     f"kappa={p['kappa']:g}")
        path = out / "spacetime.png"
    else:
        ts = ps.t[[0, ps.t.size // 2, -1]] if times is None else np.asarray(times, float)
        idx = [int(np.argmin(np.abs(ps.t - t))) for t in ts]
        fig = Figure(figsize=(4 * len(idx), 4), constrained_layout=True)
        for j, i in enumerate(idx):
            ax = fig.add_subplot(1, len(idx), j + 1, projection="3d")
            x = ps.x[i]
            ax.scatter(x[:, 0], x[:, 1], x[:, 2], s=2)
            ax.set_xlim(-1, 1)
            ax.set_ylim(-1, 1)
            ax.set_zlim(-1, 1)
            ax.set_title(f"t = {ps.t[i]:.3g}" + ("" if ps.dim == 3 else " (first 3 coords)"))
        p = ps.params
        fig.suptitle(f"{p['dynamics'].upper()} particles: n={ps.n}, beta={p['beta']:g}, "
                     f"kappa={p['kappa']:g}, S^{ps.dim - 1}", fontsize=10)
        path = out / "scatter3d.png"
    fig.savefig(path, dpi=110)
    return path


def _times(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected times like 0,1,5, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The ``meanfield`` command-line parser (subcommands evolve, demo, bifurcate,
    phase-diagram, symbolic, validate, particles, sweep).

    Examples
    --------
    >>> args = build_parser().parse_args(["particles", "--normalization", "ngpt", "--n", "64"])
    >>> args.command, args.normalization, args.n, args.beta
    ('particles', 'ngpt', 64, 3.0)
    """
    from . import __version__

    parser = argparse.ArgumentParser(prog="meanfield", description=__doc__)
    parser.add_argument("--version", action="version", version=f"meanfield {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("evolve", help="evolve the mean-field PDE on the circle")
    _add_evolve_args(p, {})
    d = sub.add_parser("demo", help="the flagship: beta = 3 bifurcation diagram and a run")
    _add_evolve_args(d, {"out": "demo_output"})
    _add_bifurcate_args(d, exclude_common=True)
    b = sub.add_parser("bifurcate", help="bifurcation diagram of stationary states")
    _add_bifurcate_args(b)
    ph = sub.add_parser("phase-diagram", help="first transition over beta: kappa_1, kappa_c, "
                        "the tricritical beta_*")
    ph.add_argument("--beta", type=_range, default=(0.5, 6.0, 0.25), help="lo:hi:step")
    ph.add_argument("--dynamics", choices=("usa", "sa"), default="usa")
    ph.add_argument("--out", default="results/phase-diagram")
    ph.add_argument("--no-progress", action="store_true")
    va = sub.add_parser("validate", help="reproduce the published results (validation/)")
    va.add_argument("--quick", action="store_true")
    va.add_argument("--out", default=None, help="folder for REPORT.md (default validation/, "
                    "validation/quick/ with --quick)")
    sy = sub.add_parser("symbolic", help="the stationary system, thresholds and normal form "
                        "derived with sympy")
    sy.add_argument("--kernel", choices=("attention", "kuramoto", "generic"),
                    default="attention")
    sy.add_argument("--beta", type=float, default=None,
                    help="numeric beta (default: symbolic)")
    sy.add_argument("--modes", type=_positive(int), default=4)
    sy.add_argument("--dim", type=int, default=2)
    sy.add_argument("--normal-form", type=int, default=0, metavar="MODE")
    sy.add_argument("--latex", action="store_true")
    pa = sub.add_parser("particles", help="simulate n tokens of the attention dynamics on "
                        "S^(dim-1); observables (npz + JSON) and a figure")
    pa.add_argument("--beta", type=float, default=3.0)
    pa.add_argument("--kappa", type=_kappa, default=float("inf"),
                    help="inverse noise level, > 0; 'inf' (default) for the noiseless flow")
    pa.add_argument("--dynamics", choices=("usa", "sa"), default="usa",
                    help="usa (default, as in evolve, bifurcate and simulate_particles) or sa "
                    "(softmax-normalized attention)")
    pa.add_argument("--n", type=_positive(int), default=256, help="number of tokens")
    pa.add_argument("--dim", type=int, default=2)
    pa.add_argument("--t-final", type=_positive(float), default=10.0)
    pa.add_argument("--dt", type=_positive(float), default=None,
                    help="fixed step (default 1e-2, or 80%% of the stability limit when that "
                    "is smaller, e.g. USA at large beta)")
    pa.add_argument("--saves", type=_positive(int), default=101, help="number of save times")
    pa.add_argument("--init", choices=("uniform", "vonmises"), default="uniform")
    pa.add_argument("--concentration", type=float, default=1.0, help="von Mises k0")
    pa.add_argument("--seed", type=int, default=0)
    pa.add_argument("--method", choices=("auto", "direct", "spectral", "numpy"), default="auto")
    pa.add_argument("--normalization", choices=("post-ln", "pre-ln", "peri-ln", "ngpt",
                                                "mix-ln"), default="post-ln",
                    help="layer-normalization scheme (speed factor; Karagodin et al.)")
    pa.add_argument("--alpha", type=_positive(float), default=1.0,
                    help="nGPT eigen learning rate per unit depth")
    pa.add_argument("--t-switch", type=float, default=1.0,
                    help="Mix-LN: depth of the switch from Post-LN to Pre-LN")
    pa.add_argument("--times", type=_times, default=None,
                    help="times of the 3-D scatter panels (dim >= 3), e.g. 0,5,10")
    pa.add_argument("--cluster-tol", type=_positive(float), default=1e-2)
    pa.add_argument("--out", default="results/particles")
    pa.add_argument("--no-progress", action="store_true")
    from .sweep.command import _NEGATIVE_VALUE, add_sweep_parser

    for sp_ in (p, d, b, ph, va, sy, pa):  # "--range -1:2" is a value, not an option
        sp_._negative_number_matcher = _NEGATIVE_VALUE
    for sp_ in (p, d, b, ph, pa):
        sp_.add_argument("--overwrite", action="store_true",
                         help="replace another command's results in --out (see manifest.json)")
    add_sweep_parser(sub)
    return parser


def _add_bifurcate_args(p: argparse.ArgumentParser, exclude_common: bool = False) -> None:
    if not exclude_common:
        p.add_argument("--beta", type=float, default=3.0)
        p.add_argument("--kappa", type=_kappa, default=1.0,
                       help="kappa of the model (ignored when param=kappa)")
        p.add_argument("--dynamics", choices=("usa", "sa"), default="usa")
        p.add_argument("--n-modes", type=_positive(int), default=32)
        p.add_argument("--dim", type=int, default=2)
        p.add_argument("--sphere", action="store_true", help="full S^2 (spherical harmonics)")
        p.add_argument("--out", default="results/bifurcate")
        p.add_argument("--no-progress", action="store_true")
    p.add_argument("--param", choices=("kappa", "noise", "beta"), default="kappa")
    p.add_argument("--range", type=_range, default=(0.2, 2.0), help="lo:hi of the parameter")
    p.add_argument("--modes", type=_modes, default=(1, 2, 3), help="e.g. 1,2,3")


def run_symbolic(args) -> int:
    import sympy as sp

    from . import symbolic

    kernel = (AttentionKernel(args.beta) if args.kernel == "attention" and args.beta is not None
              else args.kernel)
    fs = symbolic.fourier_system(kernel, args.modes, dim=args.dim)
    show = sp.latex if args.latex else sp.pretty
    print(f"Stationary system (USA, S^{args.dim - 1}, moments b_l = <P_l>, degrees "
          f"1..{args.modes}); residual_l = (d b_l/dt) / (l(l+d-2)):")
    print(fs.latex() if args.latex else fs.pretty())
    print("\nThresholds kappa_l = 1/g_l:")
    for l, thr in enumerate(symbolic.thresholds(kernel, args.modes, args.dim), start=1):
        print(f"  kappa_{l} = {show(thr)}")
    if args.normal_form:
        nf = symbolic.normal_form(kernel, mode=args.normal_form, dim=args.dim)
        print(f"\nNormal form at mode {nf.mode}: kappa = kappa_m (1 + c1 a + c a^2), "
              f"a = <P_{nf.mode}>")
        print(nf.latex() if args.latex else f"  c1 = {show(nf.c1)}\n  c  = {show(nf.c)}")
        if args.beta is not None or args.kernel != "attention":
            print(f"  kind: {nf.kind(beta=args.beta) if args.beta is not None else nf.kind()}"
                  + (f", c = {float(nf.c):.12g}" if not nf.c.free_symbols else ""))
    return 0


def run_sweep(args) -> int:
    """``meanfield sweep particles|phase-diagram``: see :mod:`meanfield.sweep.command`."""
    from .sweep.command import run_sweep as run

    return run(args)


def run_validate(args) -> int:
    """Run validation/run_all.py of a source checkout (the scripts are not installed)."""
    import subprocess

    script = Path(__file__).resolve().parents[1] / "validation" / "run_all.py"
    if not script.exists():
        raise ValueError(f"validation scripts not found at {script}: run from a source checkout")
    cmd = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
    return subprocess.call(cmd + (["--out", args.out] if args.out else []))


COMMANDS = {"evolve": run_evolve, "symbolic": run_symbolic, "demo": run_demo,
            "validate": run_validate,
            "bifurcate": run_bifurcate, "phase-diagram": run_phase_diagram,
            "particles": run_particles, "sweep": run_sweep}


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``meanfield <command> [options]``; returns the exit status.

    Bad parameter values end with status 2 and a message on stderr naming the argument.
    An interrupted command (Ctrl-C: status 130; SIGTERM: status 143) says so in one line
    on stderr, without a traceback, and says how to resume an interrupted ``evolve`` (its
    checkpoint is written first).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as out:
    ...     ok = main(["particles", "--n", "32", "--t-final", "0.5", "--saves", "2",
    ...                "--out", out, "--no-progress"])  # doctest: +ELLIPSIS
    ...     bad = main(["particles", "--dim", "1", "--out", out])  # message on stderr
    <BLANKLINE>
    ...
    >>> ok, bad
    (0, 2)
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    try:
        with sigterm_raises():
            if getattr(args, "out", None) is None or args.command == "validate":
                return COMMANDS[args.command](args)
            _check_out(args.out)
            with manifest.Run(args.out, args.command, argv,
                              overwrite=getattr(args, "overwrite", False)) as run:
                run.exit_status = COMMANDS[args.command](args)
                return run.exit_status
    except (KeyboardInterrupt, Terminated) as err:
        name = "SIGTERM" if isinstance(err, Terminated) else "Ctrl-C (SIGINT)"
        print(f"meanfield: interrupted by {name}{_resume_hint(args)}", file=sys.stderr)
        return err.code if isinstance(err, Terminated) else 130
    except (ValueError, OverflowError, MemoryError) as err:
        print(f"meanfield: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a write that failed after the checks (disk full, permissions)
        print(f"meanfield: error: {err}", file=sys.stderr)
        return 2


def _resume_hint(args) -> str:
    """Where an interrupted evolve's checkpoint is and how to continue it."""
    if args.command not in ("evolve", "demo") or getattr(args, "out", None) is None:
        return ""
    checkpoint = Path(args.out) / "checkpoint.npz"
    if isinstance(getattr(args, "resume", None), str):
        checkpoint = Path(args.resume)
    data = _unfinished(checkpoint)
    if data is None:
        return ""
    return (f"; {checkpoint} holds the run up to t={float(data['t'][-1]):g} of "
            f"{float(data['times'][-1]):g}: continue it with the same command and --resume")


def _check_out(out) -> Path:
    """Create the output folder ``--out`` up front (before any computation); ValueError if
    it is a file, cannot be created, or is not writable."""
    import os

    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {out}: is a file, not a folder; give a folder for the results")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"--out {out}: cannot create the output folder "
                         f"({err.strerror or err})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"--out {out}: the folder is not writable")
    return path


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
