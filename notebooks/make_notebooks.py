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
    "06_ensembles_and_sweeps": [
        ("md", "# Ensembles of particle systems\n\nThe papers' figures are statistics over "
               "thousands of systems: `simulate_particles(..., replicas=R)` runs R independent "
               "systems in one compiled kernel (parallel over systems and tokens), each with "
               "its own random stream, and reduces observables over the replica axis to "
               "ensemble means with standard errors."),
        ("code", "import matplotlib.pyplot as plt\nimport numpy as np\n\nimport meanfield as mf\n"
                 "from meanfield.particles import random_attention_weights, replica_seeds\n"
                 "from meanfield.particles.observables import equiangular_ode\n"
                 "from meanfield.plotting import plot_ensemble"),
        ("md", "GLPR's statistic: the fraction of token pairs with <x_i, x_j> > 0.999 (SA, "
               "n = 32, Euler steps of 0.05 then renormalization). `keep='observables'` keeps "
               "only the observables at the save times, not the trajectories."),
        ("code", "ps = mf.simulate_particles(beta=1.0, n=32, dim=2, dynamics='sa', replicas=512,\n"
                 "                           t_final=20.0, dt=0.05, integrator='euler', seed=0,\n"
                 "                           t_eval=np.linspace(0, 20, 81), keep='observables',\n"
                 "                           observables={'pair_fraction': {'threshold': 0.999},\n"
                 "                                        'order_parameter': {}})\n"
                 "est = ps.ensemble('pair_fraction')\n"
                 "print(f'pair fraction at t = 20: {est.mean[-1]:.3f} +- {est.sem[-1]:.3f} '\n"
                 "      f'({ps.replicas} systems, {ps.wall_time:.2f} s)')\n"
                 "plot_ensemble(ps)\nplt.show()"),
        ("md", "Replica r of an ensemble is, bit for bit, the ensemble of one with its seed "
               "`replica_seeds(seed, R)[r]` (and the plain single run agrees to rounding):"),
        ("code", "kw = dict(beta=2.0, n=16, dim=3, dynamics='usa', kappa=5.0, t_final=1.0, "
                 "dt=0.01)\n"
                 "ens = mf.simulate_particles(replicas=100, seed=7, **kw)\n"
                 "one = mf.simulate_particles(replicas=1, seed=[replica_seeds(7, 100)[42]], **kw)\n"
                 "plain = mf.simulate_particles(seed=replica_seeds(7, 100)[42], **kw)\n"
                 "print(np.array_equal(ens.x[:, 42], one.x[:, 0]),\n"
                 "      np.abs(ens.x[:, 42] - plain.x).max())"),
        ("md", "Random key-query matrices per system (GLPR's Gaussian product G1 G2 / sqrt(d), "
               "or its GOE variant), passed with a leading replica axis:"),
        ("code", "w = random_attention_weights(256, 8, kind='goe', seed=1)\n"
                 "ts = np.linspace(0, 10, 41)\n"
                 "fig, ax = plt.subplots(figsize=(5, 3.5))\n"
                 "for label, weights in (('identity', {}), ('GOE per system', w)):\n"
                 "    ps = mf.simulate_particles(beta=1.0, n=16, dim=8, dynamics='sa',\n"
                 "                               replicas=256, t_final=10.0, dt=0.01,\n"
                 "                               t_eval=ts, seed=2, **weights)\n"
                 "    e = ps.ensemble('mean_inner_product')\n"
                 "    ax.plot(ts, e.mean, label=label)\n"
                 "    ax.fill_between(ts, e.mean - 2 * e.sem, e.mean + 2 * e.sem, alpha=0.3)\n"
                 "ax.set_xlabel('t (depth)')\nax.set_ylabel('mean <x_i, x_j>')\nax.legend()\n"
                 "plt.show()"),
        ("md", "In high dimension random tokens are nearly equiangular, and the ensemble "
               "clusters when the equiangular ODE reaches 1 - 1e-3 (GLPR's boundary). With "
               "n < d and no noise the simulator runs exactly in the span of the tokens."),
        ("code", "ts = np.linspace(0, 15, 151)\n"
                 "for beta in (1.0, 2.0, 3.0, 4.0):\n"
                 "    ps = mf.simulate_particles(beta=beta, n=32, dim=128, dynamics='sa',\n"
                 "                               replicas=128, t_final=15.0, dt=0.05,\n"
                 "                               integrator='euler', t_eval=ts, seed=3,\n"
                 "                               keep='observables',\n"
                 "                               observables=['pair_fraction'])\n"
                 "    f = ps.ensemble('pair_fraction').mean\n"
                 "    g = equiangular_ode(beta, 32, 'sa', ts)\n"
                 "    print(f'beta = {beta}: t(fraction 1/2) = {ts[np.argmax(f >= 0.5)]:.2f}, '\n"
                 "          f'ODE time = {ts[np.argmax(g >= 1 - 1e-3)]:.2f}')"),
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
