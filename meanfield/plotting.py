"""Figures for solutions: space-time density, free energy, order parameters.

Functions take an optional matplotlib Axes and return it; ``save_solution_figures``
writes the standard PNGs of a run. Matplotlib is imported lazily.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def parameters_label(model, omit: tuple[str, ...] = ()) -> str:
    """The parameters of a model as a figure states them: dynamics, beta, kappa, S^{d-1}.

    ``omit`` drops parameters a figure varies (say the continuation parameter).

    Examples
    --------
    >>> import meanfield as mf
    >>> from meanfield.plotting import parameters_label
    >>> parameters_label(mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0))
    'USA, beta=3, kappa=1, S^1'
    >>> parameters_label(mf.MeanFieldModel(mf.AttentionKernel(2.0), kappa=float("inf"),
    ...                                    dim=3), omit=("beta",))
    'USA, kappa=inf (no noise), S^2'
    """
    if model is None:  # a result loaded without its model
        return ""
    parts = [str(getattr(model, "dynamics", "")).upper()]
    beta = getattr(model, "beta", None)
    if "beta" not in omit and beta is not None:
        parts.append(f"beta={float(beta):g}")
    kappa = float(getattr(model, "kappa", np.inf))
    if "kappa" not in omit and "noise" not in omit:
        parts.append(f"kappa={kappa:g}" + (" (no noise)" if np.isinf(kappa) else ""))
    inter = getattr(model, "interaction", None)
    if inter is not None and type(inter).__name__ not in ("IsotropicUSA", "IsotropicSA"):
        parts.append(type(inter).__name__)
    if getattr(model, "dim", None) is not None:
        parts.append(f"S^{int(model.dim) - 1}")
    return ", ".join(p for p in parts if p)


def _basis_label(basis) -> str:
    if getattr(basis, "is_zonal", False):
        return f"zonal, lmax={basis.max_degree}"
    if basis.dim == 2:
        return f"{getattr(basis, 'n_modes', basis.max_degree + 1)} modes"
    return f"lmax={basis.max_degree}"


def solution_title(sol) -> str:
    """``parameters_label`` of the run's model with its resolution.

    Examples
    --------
    >>> import meanfield as mf
    >>> from meanfield.plotting import solution_title
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> sol = mf.evolve(model, basis, mf.initial.perturbed_uniform(basis, 0.1, seed=0), 1.0)
    >>> solution_title(sol)
    'USA, beta=3, kappa=1, S^1 (32 modes)'
    """
    return f"{parameters_label(sol.model)} ({_basis_label(sol.basis)})"


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    return ax


def plot_spacetime(sol, ax=None, cmap: str = "magma"):
    """Density rho(theta, t) w.r.t. sigma as a space-time image (circle).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import meanfield as mf
    >>> from meanfield import plotting
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> rho0 = mf.initial.perturbed_uniform(basis, 0.1, seed=0)
    >>> sol = mf.evolve(model, basis, rho0, 5.0, [0, 1, 2, 5])
    >>> ax = plotting.plot_spacetime(sol)
    >>> ax.get_title(), len(ax.figure.axes)  # the image and its colorbar
    ('USA, beta=3, kappa=1, S^1 (32 modes)', 2)
    """
    ax = _axes(ax)
    if len(sol.basis.shape) != 1:
        raise ValueError("plot_spacetime needs a one-dimensional grid (circle or zonal basis)")
    grid = np.asarray(sol.basis.grid)
    im = ax.pcolormesh(grid, sol.t, sol.rho, shading="nearest", cmap=cmap)
    ax.figure.colorbar(im, ax=ax, label=r"$\rho$ (w.r.t. $\sigma$)")
    ax.set_xlabel(r"$\theta$" if sol.basis.dim == 2 else "grid")
    ax.set_ylabel("t (depth)")
    ax.set_title(solution_title(sol))
    return ax


def plot_free_energy(sol, ax=None):
    """Free energy F(t) (noisy) or interaction energy (noiseless) along the run.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import meanfield as mf
    >>> from meanfield import plotting
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> rho0 = mf.initial.perturbed_uniform(basis, 0.1, seed=0)
    >>> sol = mf.evolve(model, basis, rho0, 5.0, [0, 1, 2, 5])
    >>> ax = plotting.plot_free_energy(sol)
    >>> line = ax.get_lines()[0]
    >>> len(line.get_xdata()), bool(line.get_ydata()[-1] <= line.get_ydata()[0])  # F decreases
    (4, True)
    """
    ax = _axes(ax)
    if not sol.model.interaction.reports_energy:  # a layer that is not a gradient flow
        ax.text(0.5, 0.5, "no free energy:\nthe flow is not a gradient flow", ha="center",
                va="center", transform=ax.transAxes)
        ax.set_ylabel("free energy")
    elif np.isinf(sol.model.kappa):
        ax.plot(sol.t, sol.energy, "-o", ms=2)
        ax.set_ylabel(r"energy $\frac{1}{2}\int\int G\rho\rho$")
    else:
        ax.plot(sol.t, sol.free_energy, "-o", ms=2)
        ax.set_ylabel(r"free energy $F(\rho)$")
    ax.set_xlabel("t (depth)")
    ax.set_title(solution_title(sol), fontsize=10)
    ax.grid(alpha=0.3)
    return ax


def plot_amplitudes(sol, modes=(1, 2, 3), ax=None):
    """Order parameters |rho_k|(t) on a log scale.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import meanfield as mf
    >>> from meanfield import plotting
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> rho0 = mf.initial.perturbed_uniform(basis, 0.1, seed=0)
    >>> sol = mf.evolve(model, basis, rho0, 5.0, [0, 1, 2, 5])
    >>> ax = plotting.plot_amplitudes(sol, modes=(1, 2))
    >>> [line.get_label() for line in ax.get_lines()], ax.get_yscale()
    (['k=1', 'k=2'], 'log')
    """
    ax = _axes(ax)
    for k in modes:
        if k <= sol.basis.max_degree:
            ax.semilogy(sol.t, np.maximum(sol.amplitude(k), 1e-300), label=f"k={k}")
    ax.set_xlabel("t (depth)")
    ax.set_ylabel(r"$|\rho_k|$")
    ax.set_title(solution_title(sol), fontsize=10)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def save_solution_figures(sol, out_dir) -> list[Path]:
    """Write spacetime.png (S^2: density_maps.png), free_energy.png and amplitudes.png.

    Returns the paths written.

    Examples
    --------
    >>> import tempfile
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import meanfield as mf
    >>> from meanfield import plotting
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> rho0 = mf.initial.perturbed_uniform(basis, 0.1, seed=0)
    >>> sol = mf.evolve(model, basis, rho0, 5.0, [0, 1, 2, 5])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     paths = plotting.save_solution_figures(sol, tmp)
    ...     print([p.name for p in paths], all(p.is_file() for p in paths))
    ['spacetime.png', 'free_energy.png', 'amplitudes.png'] True
    """
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


def plot_ensemble(ps, names=None, ax=None, z: float = 2.0):
    """Ensemble means of observables over time with bands of ``z`` standard errors.

    ``ps``: a :class:`~meanfield.particles.ParticleSolution` of an ensemble
    (``simulate_particles(..., replicas=R)``); ``names``: observables (default: those the run
    kept, else "order_parameter"), see :data:`meanfield.particles.ensemble.OBSERVABLES`.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> import meanfield as mf
    >>> from meanfield import plotting
    >>> ps = mf.simulate_particles(beta=1.0, n=8, dynamics="sa", replicas=32, t_final=4.0,
    ...                            dt=0.05, t_eval=np.linspace(0, 4, 9), seed=0,
    ...                            observables=["order_parameter", "pair_fraction"])
    >>> ax = plotting.plot_ensemble(ps)
    >>> [line.get_label() for line in ax.get_lines()]
    ['order_parameter', 'pair_fraction']
    """
    if ps.replicas is None:
        raise ValueError("plot_ensemble needs an ensemble: simulate with replicas=R")
    if names is None:
        names = sorted(ps.observables) or ["order_parameter"]
    ax = _axes(ax)
    for name in [names] if isinstance(names, str) else names:
        est = ps.ensemble(name)
        line, = ax.plot(ps.t, est.mean, label=name)
        ax.fill_between(ps.t, est.mean - z * est.sem, est.mean + z * est.sem,
                        color=line.get_color(), alpha=0.25, lw=0)
    p = ps.params
    ax.set_xlabel("t (depth)")
    ax.set_ylabel(f"ensemble mean (bands: {z:g} standard errors)")
    ax.set_title(f"{p['dynamics'].upper()}: beta={p['beta']:g}, n={p['n']}, d={p['dim']}, "
                 f"{ps.replicas} systems", fontsize=9)
    ax.legend(fontsize=8)
    return ax
