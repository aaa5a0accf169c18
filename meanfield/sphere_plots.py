"""Plots of densities on S^2 held by a :class:`~meanfield.SphereBasis` (matplotlib).

Densities are grid values w.r.t. the normalized measure sigma (uniform = 1), as everywhere.
Longitude phi in [0, 2 pi) is shown as lon = phi - pi in [-pi, pi), latitude lat = pi/2 - theta.
"""

from __future__ import annotations

import numpy as np

PROJECTIONS = ("mollweide", "hammer", "aitoff", "lambert", "rectilinear", "orthographic")


def _check(basis, rho) -> np.ndarray:
    rho = np.asarray(rho, dtype=float)
    if rho.shape != basis.shape:
        raise ValueError(f"rho must hold grid values of shape {basis.shape} (basis.grid), "
                         f"got shape {rho.shape}")
    return rho


def _cells(basis):
    """Cell edges in (lon, lat) around the grid nodes, for pcolormesh."""
    phi = basis.phi
    dphi = 2 * np.pi / basis.nphi
    lon_edges = np.append(phi - dphi / 2, phi[-1] + dphi / 2) - np.pi
    lat = np.pi / 2 - basis.theta
    lat_edges = np.concatenate([[np.pi / 2], 0.5 * (lat[1:] + lat[:-1]), [-np.pi / 2]])
    return lon_edges, lat_edges


def plot_sphere_density(basis, rho, ax=None, projection: str = "mollweide", cmap="viridis",
                        colorbar: bool = True, title: str | None = None, vmin=None, vmax=None,
                        view=(30.0, 45.0)):
    """Map of a density on S^2.

    Parameters
    ----------
    basis : SphereBasis
    rho : ndarray (ntheta, nphi)
        Grid values w.r.t. sigma.
    ax : matplotlib Axes, optional
        Must have the requested projection (created if None).
    projection : str
        A matplotlib geographic projection ("mollweide", "hammer", "aitoff", "lambert"),
        "rectilinear" (plain lon/lat), or "orthographic" (the visible hemisphere seen from
        ``view`` = (elevation, azimuth) in degrees, drawn on a 3-D axes).

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import meanfield as mf
    >>> from meanfield.sphere_plots import plot_sphere_density
    >>> basis = mf.SphereBasis(12)
    >>> rho = mf.initial.von_mises(basis, 2.0, mean=[0.0, 0.0, 1.0])  # a cap at the north pole
    >>> ax = plot_sphere_density(basis, rho, title="von Mises")
    >>> ax.name, ax.get_title()
    ('mollweide', 'von Mises')
    >>> plot_sphere_density(basis, rho, projection="orthographic").name
    '3d'
    """
    import matplotlib.pyplot as plt

    rho = _check(basis, rho)
    if projection not in PROJECTIONS:
        raise ValueError(f"projection must be one of {PROJECTIONS}, got {projection!r}")
    if projection == "orthographic":
        return _plot_orthographic(basis, rho, ax, cmap, colorbar, title, vmin, vmax, view)
    if ax is None:
        fig = plt.figure(figsize=(8, 4.5))
        ax = fig.add_subplot(111, projection=None if projection == "rectilinear"
                             else projection)
    lon_e, lat_e = _cells(basis)
    mesh = ax.pcolormesh(lon_e, lat_e, rho, cmap=cmap, shading="flat", vmin=vmin, vmax=vmax)
    ax.grid(True, alpha=0.3)
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, orientation="horizontal", shrink=0.6, pad=0.08,
                           label="density w.r.t. sigma")
    if title:
        ax.set_title(title)
    return ax


def _plot_orthographic(basis, rho, ax, cmap, colorbar, title, vmin, vmax, view):
    import matplotlib.pyplot as plt
    from matplotlib import cm, colors

    if ax is None:
        fig = plt.figure(figsize=(5, 5))
        ax = fig.add_subplot(111, projection="3d")
    x = basis.points
    # close the surface in phi
    xs = np.concatenate([x, x[:, :1]], axis=1)
    vals = np.concatenate([rho, rho[:, :1]], axis=1)
    norm = colors.Normalize(vmin=vals.min() if vmin is None else vmin,
                            vmax=vals.max() if vmax is None else vmax)
    cmap_obj = plt.get_cmap(cmap)
    ax.plot_surface(xs[..., 0], xs[..., 1], xs[..., 2], facecolors=cmap_obj(norm(vals)),
                    rstride=1, cstride=1, linewidth=0, antialiased=False, shade=False)
    ax.view_init(elev=view[0], azim=view[1])
    ax.set_proj_type("ortho")
    ax.set_box_aspect((1, 1, 1))
    ax.set_axis_off()
    if colorbar:
        ax.figure.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap_obj), ax=ax, shrink=0.6,
                           label="density w.r.t. sigma")
    if title:
        ax.set_title(title)
    return ax


def plot_sphere_evolution(solution, times=None, projection: str = "mollweide", ncols: int = 3,
                          cmap="viridis", common_scale: bool = True):
    """Small multiples of a :class:`~meanfield.Solution` on a SphereBasis at some save times.

    ``times`` (default: up to 6 save times, evenly picked) are matched to the nearest save
    time. Returns the Figure.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import meanfield as mf
    >>> from meanfield.sphere_plots import plot_sphere_evolution
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=4.0, dim=3)
    >>> basis = mf.SphereBasis(12)
    >>> rho0 = mf.initial.perturbed_uniform(basis, 0.1, seed=0)
    >>> sol = mf.evolve(model, basis, rho0, 2.0, [0, 1, 2])
    >>> fig = plot_sphere_evolution(sol)
    >>> [ax.get_title() for ax in fig.axes]  # three maps and their common colorbar
    ['t = 0', 't = 1', 't = 2', '']
    >>> fig.get_suptitle()
    'USA, beta=1, kappa=4, S^2 (lmax=12)'
    >>> "density" in fig.axes[-1].get_xlabel()
    True

    """
    import matplotlib.pyplot as plt

    basis = solution.basis
    t = np.asarray(solution.t)
    if times is None:
        idx = np.unique(np.linspace(0, t.size - 1, min(6, t.size)).round().astype(int))
    else:
        idx = np.array([int(np.argmin(np.abs(t - s))) for s in np.atleast_1d(times)])
    rho = solution.rho[idx]
    n = idx.size
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = plt.figure(figsize=(4 * ncols, 2.6 * nrows if projection != "orthographic"
                              else 4 * nrows))
    vmin, vmax = (float(rho.min()), float(rho.max())) if common_scale else (None, None)
    axes = []
    for j in range(n):
        kw = {"projection": "3d"} if projection == "orthographic" else (
            {} if projection == "rectilinear" else {"projection": projection})
        ax = fig.add_subplot(nrows, ncols, j + 1, **kw)
        plot_sphere_density(basis, rho[j], ax=ax, projection=projection, cmap=cmap,
                            colorbar=not common_scale, title=f"t = {t[idx[j]]:.3g}",
                            vmin=vmin, vmax=vmax)
        if projection != "orthographic":
            ax.tick_params(labelsize=6)
        axes.append(ax)
    if common_scale:  # one scale for all panels: one colorbar
        from matplotlib import cm, colors

        mappable = cm.ScalarMappable(norm=colors.Normalize(vmin, vmax), cmap=cmap)
        fig.colorbar(mappable, ax=axes, orientation="horizontal", shrink=0.5, pad=0.06,
                     label=r"density w.r.t. $\sigma$ (uniform = 1)")
    from .plotting import solution_title

    fig.suptitle(solution_title(solution), fontsize=10)
    return fig
