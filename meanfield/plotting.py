"""Figures for solutions: space-time density, free energy, order parameters.

Functions take an optional matplotlib Axes and return it; ``save_solution_figures``
writes the standard PNGs of a run. Matplotlib is imported lazily.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    return ax


def plot_spacetime(sol, ax=None, cmap: str = "magma"):
    """Density rho(theta, t) w.r.t. sigma as a space-time image (circle)."""
    ax = _axes(ax)
    if len(sol.basis.shape) != 1:
        raise ValueError("plot_spacetime needs a one-dimensional grid (circle or zonal basis)")
    grid = np.asarray(sol.basis.grid)
    im = ax.pcolormesh(grid, sol.t, sol.rho, shading="nearest", cmap=cmap)
    ax.figure.colorbar(im, ax=ax, label=r"$\rho$ (w.r.t. $\sigma$)")
    ax.set_xlabel(r"$\theta$" if sol.basis.dim == 2 else "grid")
    ax.set_ylabel("t (depth)")
    m = sol.model
    ax.set_title(f"{m.dynamics.upper()}: beta={m.beta:g}, kappa={m.kappa:g}")
    return ax


def plot_free_energy(sol, ax=None):
    """Free energy F(t) (noisy) or interaction energy (noiseless) along the run."""
    ax = _axes(ax)
    if np.isinf(sol.model.kappa):
        ax.plot(sol.t, sol.energy, "-o", ms=2)
        ax.set_ylabel(r"energy $\frac12\iint G\rho\rho$")
    else:
        ax.plot(sol.t, sol.free_energy, "-o", ms=2)
        ax.set_ylabel(r"free energy $F(\rho)$")
    ax.set_xlabel("t (depth)")
    ax.grid(alpha=0.3)
    return ax


def plot_amplitudes(sol, modes=(1, 2, 3), ax=None):
    """Order parameters |rho_k|(t) on a log scale."""
    ax = _axes(ax)
    for k in modes:
        if k <= sol.basis.max_degree:
            ax.semilogy(sol.t, np.maximum(sol.amplitude(k), 1e-300), label=f"k={k}")
    ax.set_xlabel("t (depth)")
    ax.set_ylabel(r"$|\rho_k|$")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def save_solution_figures(sol, out_dir) -> list[Path]:
    """Write spacetime.png (S^2: density_maps.png), free_energy.png and amplitudes.png."""
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    if len(sol.basis.shape) == 2:  # S^2: density maps at a few times instead of space-time
        from .sphere_plots import plot_sphere_evolution

        fig = plot_sphere_evolution(sol)
        fig = fig if hasattr(fig, "savefig") else fig.figure
        paths.append(out / "density_maps.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
        plots = (("free_energy", plot_free_energy), ("amplitudes", plot_amplitudes))
    else:
        plots = (("spacetime", plot_spacetime), ("free_energy", plot_free_energy),
                 ("amplitudes", plot_amplitudes))
    for name, fn in plots:
        ax = fn(sol)
        path = out / f"{name}.png"
        ax.figure.savefig(path, dpi=120)
        plt.close(ax.figure)
        paths.append(path)
    return paths
