"""A figure per sweep kind: the (beta, t) clustering phase diagram and the (beta, kappa)
phase diagram of the noisy transformer (matplotlib, no pyplot state)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
from scipy.optimize import brentq


def equiangular_boundary(betas, n: int, dynamics: str = "sa", level: float = 1e-3,
                         t_max: float = 100.0, points: int = 2001) -> np.ndarray:
    """Per beta, the time at which equiangular tokens reach <x_i, x_j> = 1 - ``level``.

    The common inner product gamma(t) of n equiangular tokens with gamma(0) = 0 follows the
    ODE of :func:`meanfield.particles.observables.equiangular_ode` (GLPR Thm 6.8); the
    crossing is bracketed on ``points`` equally spaced times in [0, t_max] and refined by
    brentq (to 1e-10). nan where gamma stays below 1 - level up to t_max. Time in units of
    depth, as in the particle simulations.

    Examples
    --------
    USA, beta = 0, n = 2: gamma(t) = tanh(t), so the time is artanh(1 - level):

    >>> t = equiangular_boundary([0.0], 2, "usa", level=1e-3, t_max=10.0)
    >>> bool(abs(t[0] - np.arctanh(1 - 1e-3)) < 1e-9)
    True
    """
    from ..particles.observables import equiangular_ode

    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    if not t_max > 0:
        raise ValueError(f"t_max must be > 0, got {t_max!r}")
    target = 1.0 - level
    grid = np.linspace(0.0, t_max, points)
    out = np.full(len(np.atleast_1d(betas)), np.nan)
    for k, beta in enumerate(np.atleast_1d(betas)):
        gamma = equiangular_ode(float(beta), n, dynamics, grid)
        above = np.nonzero(gamma >= target)[0]
        if above.size == 0:
            continue
        i = int(above[0])
        if i == 0:
            out[k] = 0.0
            continue

        def gap(t, beta=float(beta)):
            return equiangular_ode(beta, n, dynamics, [0.0, t])[-1] - target

        out[k] = brentq(gap, grid[i - 1], grid[i], xtol=1e-12, rtol=1e-12)
    return out


def _params(ds) -> dict:
    return json.loads(ds.attrs.get("params", "{}"))


def _panels(ds, keep: tuple[str, ...]):
    """(label, selection dict) per combination of the grid dims not in ``keep``."""
    others = [d for d in ds.status.dims if d not in keep]
    combos = itertools.product(*(ds[d].values for d in others))
    for combo in combos:
        sel = {d: v.item() if hasattr(v, "item") else v for d, v in zip(others, combo,
                                                                           strict=True)}
        yield ", ".join(f"{d}={v}" for d, v in sel.items()), sel


def plot_clustering(ds, path=None, level: float = 1e-3, max_panels: int = 12):
    """The GLPR clustering phase diagram of a "particles" sweep: the ensemble-mean fraction
    of token pairs with <x_i, x_j> > threshold over (beta, t), with the equiangular boundary
    (the time at which equiangular tokens reach 1 - ``level``, per beta) overlaid; one panel
    per combination of the other grid axes (at most ``max_panels``).

    Parameters
    ----------
    ds : xarray.Dataset
        A particles sweep (``xarray.open_zarr(store)``), with ``beta`` and ``time``.
    path : str or Path, optional
        Where to save the figure (PNG).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    if "pair_fraction" not in ds or "beta" not in ds.dims:
        raise ValueError("plot_clustering needs a particles sweep with a beta axis "
                         "(variables pair_fraction over beta and time)")
    fixed = _params(ds)
    panels = list(_panels(ds, ("beta",)))[:max_panels]
    fig = Figure(figsize=(4.6 * len(panels), 3.8), constrained_layout=True)
    axes = np.atleast_1d(fig.subplots(1, len(panels), squeeze=False)[0])
    beta, t = ds.beta.values, ds.time.values
    for ax, (label, sel) in zip(axes, panels, strict=True):
        pf = ds.pair_fraction.sel(sel).transpose("beta", "time").values
        mesh = ax.pcolormesh(beta, t, pf.T, shading="nearest", vmin=0, vmax=1, cmap="viridis")
        n = int(sel.get("n", fixed.get("n", 32)))
        dyn = str(sel.get("dynamics", fixed.get("dynamics", "sa")))
        fine = np.linspace(beta.min(), beta.max(), 60) if beta.size > 1 else beta
        tb = equiangular_boundary(fine, n, dyn, level=level, t_max=float(t.max()))
        ax.plot(fine, tb, "r-", lw=1.5, label=rf"equiangular: $\gamma(t)=1-10^{{"
                f"{np.log10(level):.0f}}}$")
        ax.set_xlabel(r"$\beta$")
        ax.set_ylabel("t (depth)")
        ax.set_ylim(t.min(), t.max())
        others = ", ".join(part for part in label.split(", ")
                           if not part.startswith(("n=", "dynamics=")))
        ax.set_title(f"n={n}, {dyn.upper()}" + (f", {others}" if others else ""), fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.colorbar(mesh, ax=list(axes), label=f"fraction of pairs with <x_i,x_j> > "
                 f"{fixed.get('threshold', 0.999)}")
    fig.suptitle("clustering phase diagram (ensemble mean over replicas)", fontsize=10)
    if path is not None:
        fig.savefig(Path(path), dpi=120)
    return fig


def plot_phase_diagram(ds, path=None):
    """The (beta, kappa) phase diagram of a "phase-diagram" sweep: kappa_1(beta), and for the
    first-order transitions kappa_c and the fold, one colour per combination of the other
    grid axes (dim, dynamics); the tricritical beta_* (sign change of the curvature, linear
    interpolation) marked where bracketed.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    if "kappa_1" not in ds or "beta" not in ds.dims:
        raise ValueError("plot_phase_diagram needs a phase-diagram sweep with a beta axis")
    fig = Figure(figsize=(6.5, 4.5), constrained_layout=True)
    ax = fig.subplots()
    beta = ds.beta.values
    for c, (label, sel) in enumerate(_panels(ds, ("beta",))):
        sub = ds.sel(sel)
        color = f"C{c % 10}"
        k1, kc, kf = (sub[v].values for v in ("kappa_1", "kappa_c", "kappa_fold"))
        ax.plot(beta, k1, "-", color=color, lw=1.2,
                label=r"$\kappa_1$" + (f" ({label})" if label else ""))
        ax.plot(beta, kc, "o", color=color, ms=4, label=r"$\kappa_c$ (first order)")
        ax.plot(beta, kf, "^--", color=color, ms=4, lw=0.8, mfc="none", label="fold")
        curv = sub.curvature.values
        flips = np.nonzero(np.sign(curv[:-1]) * np.sign(curv[1:]) < 0)[0]
        if flips.size:
            i = int(flips[0])
            bstar = beta[i] - curv[i] * (beta[i + 1] - beta[i]) / (curv[i + 1] - curv[i])
            ax.axvline(bstar, color=color, ls=":", lw=1,
                       label=rf"$\beta_*\approx{bstar:.3f}$")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\beta$")
    ax.set_ylabel(r"$\kappa$")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("first transition of the noisy transformer (uniform below the curves)",
                 fontsize=9)
    if path is not None:
        fig.savefig(Path(path), dpi=120)
    return fig


def plot_sweep(ds, path=None):
    """The figure of a sweep by its task (particles or phase-diagram); ``ds`` a Dataset or
    the store's path. Raises ValueError for other tasks."""
    import xarray as xr

    if not isinstance(ds, xr.Dataset):
        ds = xr.open_zarr(str(ds))
    task = ds.attrs.get("task")
    if task == "particles":
        return plot_clustering(ds, path)
    if task == "phase-diagram":
        return plot_phase_diagram(ds, path)
    raise ValueError(f"no figure for sweeps of task {task!r} (particles, phase-diagram)")
