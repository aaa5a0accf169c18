"""Regenerate the tutorial notebooks (stored without outputs): python notebooks/make_notebooks.py.

The notebooks are the first thing a new user opens; tests/test_notebooks.py executes each one
top to bottom (nbclient), so a notebook that breaks fails the build.
"""

from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).resolve().parent

NOTEBOOKS = {
    "01_quickstart": [
        ("md", "# Quick start: evolve the mean-field transformer on the circle\n\n"
               "Densities are w.r.t. the normalized measure sigma (uniform state = 1); the "
               "attention kernel enters through G(t) = (e^{beta t} - 1)/beta; noise is "
               "(1/kappa) Lap (DESIGN.md §1)."),
        ("code", "import matplotlib.pyplot as plt\nimport numpy as np\n\nimport meanfield as mf\n"
                 "from meanfield.plotting import plot_free_energy, plot_spacetime"),
        ("code", "model = mf.MeanFieldModel(mf.AttentionKernel(beta=3.0), kappa=1.0)\n"
                 "basis = mf.CircleBasis(n_modes=64)\n"
                 "rho0 = mf.initial.perturbed_uniform(basis, amplitude=0.1, seed=0)\n"
                 "t_eval = np.linspace(0, 30, 121)\n"
                 "sol = mf.evolve(model, basis, rho0, t_final=30.0, t_eval=t_eval)\n"
                 "print(sol.status, sol.n_steps, 'steps')\n"
                 "print('growth rate of mode 1 at rho = 1:', model.growth_rates(1)[1])"),
        ("code", "fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))\n"
                 "plot_spacetime(sol, ax=a)\nplot_free_energy(sol, ax=b)\nplt.show()"),
        ("code", "# the end state is a stationary state: rho = exp(kappa G*rho)/Z\n"
                 "from meanfield.stationary import stationary_residual\n\n"
                 "print(stationary_residual(model, basis, sol.rho[-1]))\n"
                 "assert abs(sol.mass - 1).max() < 1e-13"),
    ],
    "02_bifurcations": [
        ("md", "# Stationary states, bifurcation diagrams, free energy\n\n"
               "At beta = 3 > beta_* = 2.4469 the 1-cluster transition is first order: a fold "
               "precedes kappa_1 = beta/I_1(beta) and the branch's free energy crosses the "
               "uniform state's at kappa_c."),
        ("code", "import matplotlib.pyplot as plt\nimport numpy as np\n\nimport meanfield as mf"),
        ("code", "model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)\n"
                 "basis = mf.CircleBasis(32)\n"
                 "st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 6.0))\n"
                 "print(st.amplitude(1), st.free_energy, st.stable, st.stability.leading(3))"),
        ("code", "diag = mf.bifurcation_diagram(model, basis, 'kappa', (0.2, 2.0),\n"
                 "                               modes=(1, 2, 3))\n"
                 "print(diag.table())\nfig = diag.plot()\nplt.show()"),
        ("code", "pd = mf.phase_diagram(np.arange(1.0, 5.01, 0.5))\n"
                 "print('tricritical beta_* =', pd.beta_star)\nfig = pd.plot()\nplt.show()"),
    ],
    "03_particles_vs_pde": [
        ("md", "# Particles against the PDE\n\nn tokens on the circle, noisy Kuramoto "
               "(beta = 0), against the mean-field PDE with error bars from replicas."),
        ("code", "import numpy as np\n\nimport meanfield as mf\n"
                 "from meanfield.particles.compare import compare"),
        ("code", "model = mf.MeanFieldModel(mf.AttentionKernel(0.0), kappa=4.0)\n"
                 "basis = mf.CircleBasis(32)\n"
                 "rho0 = mf.initial.von_mises(basis, 1.0)\n"
                 "c = compare(model, basis, rho0, n=1000, t_final=2.0,\n"
                 "            t_eval=np.linspace(0, 2, 5), replicas=8, seed=0)\n"
                 "print(c.table())"),
        ("code", "m3 = mf.MeanFieldModel(mf.AttentionKernel(1.0), dim=3)\n"
                 "ps = mf.simulate_particles(m3, n=200, t_final=10.0, dt=0.05, seed=1,\n"
                 "                           t_eval=[0, 10])\n"
                 "print('clusters at t = 10:', ps.clusters(-1, tol=1e-2))"),
        ("md", "## Layer normalization as speed regulation\n\n"
               "Karagodin et al. model normalization schemes as speed factors s_i: the "
               "direction of token i moves as dx_i/dt = s_i^{-1} P_{x_i} A_i. Post-LN (s = 1) "
               "and nGPT (s = |A_i|/alpha) collapse exponentially; Pre-, Peri- and Mix-LN grow "
               "the residual stream like t and collapse only like 1/t^2. Random tokens in high "
               "dimension have |A_i| ~ n^{-1/2}, so Peri-LN and nGPT start fast."),
        ("code", "import matplotlib.pyplot as plt\n\n"
                 "from meanfield.particles import MixLN\n\n"
                 "ts = np.linspace(0, 10, 51)\n"
                 "fig, ax = plt.subplots(figsize=(5, 3.5))\n"
                 "for scheme in ('post-ln', 'pre-ln', 'peri-ln', 'ngpt', MixLN(t_switch=2.0)):\n"
                 "    ps = mf.simulate_particles(beta=1.0, n=32, dim=128, dynamics='sa',\n"
                 "                               normalization=scheme, t_final=10.0, dt=0.02,\n"
                 "                               t_eval=ts, seed=1)\n"
                 "    ax.semilogy(ts, 1 - ps.mean_inner_product(), label=str(scheme))\n"
                 "ax.set_xlabel('t (depth)')\n"
                 "ax.set_ylabel('1 - <x_i, x_j>')\n"
                 "ax.legend()"),
    ],
    "04_spheres": [
        ("md", "# Spheres and high dimension\n\nZonal densities on S^{d-1} (Gegenbauer series, "
               "any d) and the full S^2 (spherical harmonics through ducc0)."),
        ("code", "import matplotlib.pyplot as plt\nimport numpy as np\n\nimport meanfield as mf\n"
                 "from meanfield.sphere_plots import plot_sphere_density"),
        ("code", "d = 64\nmodel = mf.MeanFieldModel(mf.AttentionKernel(2.0), kappa=1.0, dim=d)\n"
                 "zonal = mf.ZonalBasis(d, 32)\n"
                 "bp = mf.continuation.first_bifurcation(model, zonal)\n"
                 "print(f'S^{d-1}: kappa_1 = {bp.param:.10g} ({bp.kind}),')\n"
                 "print(f'closed form {bp.closed_form:.10g}')"),
        ("code", "s2 = mf.SphereBasis(24)\n"
                 "m3 = mf.MeanFieldModel(mf.AttentionKernel(2.0), kappa=6.0, dim=3)\n"
                 "def f(x):\n    return np.exp(0.5 * x[..., 2] + 0.5 * x[..., 0] * x[..., 1])\n\n"
                 "rho0 = s2.from_function(f)\n"
                 "sol = mf.evolve(m3, s2, rho0, 2.0, [0, 2.0], normalize=True)\n"
                 "fig, axs = plt.subplots(1, 2, figsize=(9, 3),\n"
                 "                        subplot_kw={'projection': 'mollweide'})\n"
                 "plot_sphere_density(s2, sol.rho[0], ax=axs[0])\n"
                 "plot_sphere_density(s2, sol.rho[-1], ax=axs[1])\nplt.show()"),
    ],
    "05_symbolic": [
        ("md", "# The symbolic toolkit\n\nThe stationary system, thresholds and the cubic "
               "normal form, exactly (sympy)."),
        ("code", "from meanfield import symbolic"),
        ("code", "fs = symbolic.fourier_system('attention', 2)\nfs.equations"),
        ("code", "nf = symbolic.normal_form('attention', mode=1, dim=2)\n"
                 "print(nf.c)\nprint([nf.kind(beta=b) for b in (2.3, 2.6)])"),
        ("code", "print(nf.latex())"),
    ],
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = nbf.v4.new_notebook()
        nb.cells = [nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src)
                    for kind, src in cells]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nbf.write(nb, HERE / f"{name}.ipynb")


if __name__ == "__main__":
    main()
