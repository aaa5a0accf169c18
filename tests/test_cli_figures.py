"""Every figure of every CLI command, for every kind of run, is drawn here (issue 16).

Each case runs the command at a small size, and every PNG its manifest lists must be a real
image (readable, not blank). The figures' parameter statements are checked on the figure
objects in the plotting tests (titles name dynamics, beta, kappa and the sphere).
"""

from __future__ import annotations

import numpy as np
import pytest

from meanfield import manifest
from meanfield.cli import main

EV = ["evolve", "--t-final", "0.2", "--saves", "3", "--no-progress"]
BI = ["bifurcate", "--no-progress"]
PA = ["particles", "--t-final", "0.2", "--saves", "3", "--no-progress"]
CASES = {
    "evolve-circle-noisy": (EV + ["--n-modes", "32"],
                            {"spacetime.png", "free_energy.png", "amplitudes.png"}),
    "evolve-circle-noiseless": (EV + ["--n-modes", "32", "--kappa", "inf"],
                                {"spacetime.png", "free_energy.png", "amplitudes.png"}),
    "evolve-circle-sa": (EV + ["--n-modes", "32", "--dynamics", "sa"],
                         {"spacetime.png", "free_energy.png", "amplitudes.png"}),
    "evolve-zonal": (EV + ["--dim", "5", "--n-modes", "24"],
                     {"spacetime.png", "free_energy.png", "amplitudes.png"}),
    "evolve-sphere": (EV + ["--sphere", "--beta", "1", "--kappa", "4", "--n-modes", "16"],
                      {"density_maps.png", "free_energy.png", "amplitudes.png"}),
    "evolve-sphere-noiseless": (EV + ["--sphere", "--beta", "1", "--kappa", "inf",
                                      "--n-modes", "16"],
                                {"density_maps.png", "free_energy.png", "amplitudes.png"}),
    "bifurcate-kappa": (BI + ["--n-modes", "24", "--range", "0.6:1.2", "--modes", "1"],
                        {"diagram.png"}),
    "bifurcate-beta-zonal": (BI + ["--dim", "4", "--n-modes", "20", "--param", "beta",
                                   "--kappa", "2", "--range", "2:4", "--modes", "1"],
                             {"diagram.png"}),
    "phase-diagram": (["phase-diagram", "--beta", "1:2:0.5", "--no-progress"],
                      {"phase_diagram.png"}),
    "particles-circle": (PA + ["--n", "64"], {"spacetime.png"}),
    "particles-circle-many": (PA + ["--n", "3000", "--kappa", "2"], {"spacetime.png"}),
    "particles-s2": (PA + ["--n", "64", "--dim", "3"], {"scatter3d.png"}),
    "particles-high-dim-sa": (PA + ["--n", "64", "--dim", "16", "--dynamics", "sa",
                                    "--normalization", "peri-ln"], {"scatter3d.png"}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_figure_of_every_command_is_drawn(name, tmp_path, capsys):
    import matplotlib.image as mpimg

    argv, expected = CASES[name]
    assert main(argv + ["--out", str(tmp_path)]) == 0, capsys.readouterr().err
    written = set(manifest.read(tmp_path)["files"])
    figures = {f for f in written if f.endswith(".png")}
    assert figures == expected
    for f in figures:
        img = mpimg.imread(tmp_path / f)
        assert img.ndim == 3 and min(img.shape[:2]) > 100
        assert float(np.std(img[..., :3])) > 0.01  # not blank


def test_many_tokens_are_drawn_as_a_density(tmp_path, monkeypatch):
    """Above DOTS_UP_TO tokens the circle figure is a density image with a colorbar, and its
    mass per save time is 1 (density w.r.t. sigma)."""
    from matplotlib.figure import Figure

    from meanfield import cli

    seen = {}
    real = Figure.savefig

    def spy(self, *args, **kwargs):
        seen["fig"] = self
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    n = cli.DOTS_UP_TO + 500
    assert main(PA + ["--n", str(n), "--out", str(tmp_path)]) == 0
    fig = seen["fig"]
    assert len(fig.axes) == 2 and "density" in fig.axes[1].get_ylabel()
    mesh = fig.axes[0].collections[0]
    dens = np.asarray(mesh.get_array()).reshape(3, -1)
    assert np.allclose(dens.mean(axis=1), 1.0)  # sum over bins of dens / bins = 1
    assert f"n={n}" in fig.axes[0].get_title() and "beta=3" in fig.axes[0].get_title()


def test_figures_state_their_parameters():
    import matplotlib

    matplotlib.use("Agg")
    import meanfield as mf
    from meanfield import plotting
    from meanfield.sphere_plots import plot_sphere_evolution

    model = mf.MeanFieldModel(mf.AttentionKernel(1.5), kappa=3.0, dim=3, dynamics="sa")
    basis = mf.SphereBasis(14)
    sol = mf.evolve(model, basis, mf.initial.perturbed_uniform(basis, 0.1, seed=1), 0.5,
                    [0, 0.25, 0.5])
    fig = plot_sphere_evolution(sol)
    assert fig.get_suptitle() == "SA, beta=1.5, kappa=3, S^2 (lmax=14)"
    assert len(fig.axes) == 4  # three maps, one colorbar
    for fn in (plotting.plot_free_energy, plotting.plot_amplitudes):
        assert "beta=1.5, kappa=3" in fn(sol).get_title()
    diag = mf.bifurcation_diagram(mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0),
                                  mf.CircleBasis(24), "kappa", (0.6, 1.2), modes=(1,))
    title = diag.plot().axes[0].get_title()
    assert "beta=3" in title and "kappa=" not in title and "S^1" in title


@pytest.mark.skipif(__import__("shutil").which("latex") is None,
                    reason="no LaTeX installation here: the mathtext path is drawn above")
def test_figures_render_with_usetex(tmp_path):
    """With a LaTeX installation, the same labels render through usetex (text.usetex)."""
    import matplotlib

    import meanfield as mf
    from meanfield import plotting

    model = mf.MeanFieldModel(mf.AttentionKernel(2.0), kappa=float("inf"))
    basis = mf.CircleBasis(32)
    sol = mf.evolve(model, basis, mf.initial.perturbed_uniform(basis, 0.1, seed=0), 0.5,
                    [0, 0.25, 0.5])
    with matplotlib.rc_context({"text.usetex": True}):
        paths = plotting.save_solution_figures(sol, tmp_path)
    assert all(p.stat().st_size > 10_000 for p in paths)
