"""Regenerate the tutorial notebooks (stored without outputs): python notebooks/make_notebooks.py
[NAME ...] (all of them, or only the named ones, e.g. 07_attention_layers).

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
    "07_attention_layers": [
        ("md", "# Attention layers with weights\n\n"
               "A kernel `AttentionKernel(beta)` is one head with Q = K = V = I. "
               "`mf.AttentionLayer(beta, Q, K, V)` gives the head its weights, with the "
               "matrices of `simulate_particles`: scores <Q x, K y> = x^T Q^T K y, values V "
               "y, and under USA\n"
               "\nv(x) = P_x int e^{beta <Qx, Ky>} V y rho(y) d sigma(y)\n\n"
               "(SA divides by int e^{beta <Qx, Ky>} rho). `mf.MultiHead`, `mf.Perceptron`, "
               "`mf.ExternalPotential` and `+` build whole layers; a layer goes where a "
               "kernel stood in `MeanFieldModel`, and evolve, particles, stationary states, "
               "spectra and bifurcation diagrams work with it (docs/layers.md)."),
        ("code", "import matplotlib.pyplot as plt\nimport numpy as np\n"
                 "from scipy.special import iv\n\nimport meanfield as mf\n"
                 "from meanfield.sphere_plots import plot_sphere_evolution"),
        ("md", "## A head with weights on the circle\n\n"
               "Q^T K is not a multiple of the identity and V is not a multiple of Q^T K: "
               "the head has no symmetry, rho = 1 is not stationary and there is no free "
               "energy. It is evaluated through a dense operator in coefficient space, "
               "built once per (head, basis)."),
        ("code", "Q = np.array([[1.0, 0.3], [0.0, 0.8]])    # K = I: scores x^T Q^T y\n"
                 "V = np.array([[1.0, 0.5], [-0.2, 0.7]])\n"
                 "head = mf.AttentionLayer(2.0, Q=Q, V=V)\n"
                 'model = mf.MeanFieldModel(head, kappa=1.0, dynamics="usa", dim=2)\n'
                 "inter = model.interaction\n"
                 'print(inter, "| symmetry:", inter.symmetry, "| rho = 1 stationary:", '
                 "inter.uniform_stationary,\n"
                 '      "| free energy:", inter.has_free_energy)\n\nbasis = mf.CircleBasis(32)\n'
                 "t = np.linspace(0, 6, 25)\n"
                 "sol = mf.evolve(model, basis, mf.initial.von_mises(basis, 1.0), "
                 "t_final=6.0, t_eval=t)\n"
                 'print(sol.status, sol.n_steps, "steps")'),
        ("md", "### Particles of the same layer\n\n"
               "`simulate_particles(model, ...)` runs the n-token system of the same head "
               "(the compiled kernels, with the layer's beta, Q, K, V). The moments <cos k "
               "theta>, <sin k theta> averaged over tokens and replicas are unbiased "
               "estimates of the PDE's (|rho_k| of a finite system is biased upwards by "
               "~n^{-1/2})."),
        ("code", "R, n = 8, 400\n"
                 "ps = mf.simulate_particles(model, n=n, replicas=R, t_final=6.0, dt=0.01, "
                 "seed=0, t_eval=t,\n"
                 '                           init="vonmises", concentration=1.0)\n'
                 "theta = np.arctan2(ps.x[..., 1], ps.x[..., 0])          # (time, replica, "
                 "token)\n"
                 "fig, ax = plt.subplots(figsize=(6, 3.5))\n"
                 'for k, f, name in ((1, np.cos, "cos"), (2, np.cos, "cos"), (2, np.sin, '
                 '"sin")):\n'
                 "    pde = basis.integrate(sol.rho * f(k * basis.grid))\n"
                 "    per_replica = f(k * theta).mean(axis=-1)\n"
                 '    line, = ax.plot(t, pde, label=f"PDE <{name} {k} theta>")\n'
                 "    ax.errorbar(t, per_replica.mean(axis=1), 2 * per_replica.std(axis=1, "
                 "ddof=1) / np.sqrt(R),\n"
                 '                fmt=".", color=line.get_color())\nax.set_xlabel("t (depth)")\n'
                 'ax.set_title(f"lines: PDE; dots: {R} x {n} particles (2 s.e.)", fontsize=9)\n'
                 "ax.legend(fontsize=8)\nfig.tight_layout()\nplt.show()"),
        ("md", "## A stationary state and its complex spectrum\n\n"
               "Newton's method works in the full space (the head has no reflection "
               "symmetry). The state is a two-lobed (mode 2) density, and since V is not a "
               "gradient value the linearization is not self-adjoint: its eigenvalues are "
               "complex. At kappa = 1 the state is a stable focus, which is why the "
               "evolution above oscillates into it."),
        ("code", "st = mf.stationary_state(model, basis, sol.rho[-1])\n"
                 'print(f"residual {st.residual:.1e}, |rho_1| = {st.amplitude(1):.1e}, "\n'
                 '      f"|rho_2| = {st.amplitude(2):.4f}, stable: {st.stable}")\n'
                 'print("leading eigenvalues:", np.round(st.stability.leading(4), 4))\n'
                 "fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))\n"
                 'a.plot(basis.grid, st.rho, label="stationary state")\n'
                 'a.plot(basis.grid, sol.rho[-1], "--", label="evolve, t = 6")\n'
                 'a.set_xlabel("theta")\na.legend()\nev = st.stability.eigenvalues\n'
                 'b.plot(ev.real, ev.imag, "o", ms=3)\nb.axvline(0, color="k", lw=0.5)\n'
                 'b.set_xlim(-15, 1)\nb.set_xlabel("Re")\nb.set_ylabel("Im")\n'
                 'b.set_title("leading part of the spectrum at the state")\nfig.tight_layout()\n'
                 "plt.show()"),
        ("md", "As the noise decreases the leading complex pair crosses the imaginary axis "
               "(a Hopf point near kappa = 1.87) and the flow settles on a periodic orbit "
               "instead. (The crossing modes are odd in theta: started from the even state "
               "itself, the flow would stay in the invariant even subspace, so we start "
               "from a von Mises density.) `bifurcation_diagram` follows this branch too "
               "(the branch through a computed state, for layers without a stationary "
               "uniform state); the loss of stability shows in the branch's `stable` flags."),
        ("code", "for kappa in (1.0, 1.5, 1.75, 2.0, 2.5):\n"
                 "    s = mf.stationary_state(model.replace(kappa=kappa), basis, "
                 "np.ones(basis.shape))\n"
                 '    print(f"kappa = {kappa:4.2f}: |rho_2| = {s.amplitude(2):.4f}, "\n'
                 '          f"leading eigenvalue {s.stability.leading(1)[0]:.4f}")\n\n'
                 "b48 = mf.CircleBasis(48)\n"
                 "hot = mf.evolve(model.replace(kappa=2.5), b48, mf.initial.von_mises(b48, "
                 "1.0), t_final=15.0,\n"
                 "                t_eval=np.linspace(0, 15, 151))\n"
                 "fig, ax = plt.subplots(figsize=(6, 3))\nfor k in (1, 2):\n"
                 '    ax.plot(hot.t, hot.amplitude(k), label=f"|rho_{k}|")\nax.set_xlabel("t")\n'
                 'ax.set_title("kappa = 2.5: past the Hopf point the flow oscillates (a '
                 'periodic orbit)", fontsize=9)\n'
                 "ax.legend()\nfig.tight_layout()\nplt.show()"),
        ("md", "## A gradient layer: the free energy decreases\n\n"
               "With Q^T K = A symmetric and V = c A the USA flow is a Wasserstein gradient "
               "flow, of F = (1/kappa) int rho log rho - (c/2) int int (e^{beta x^T A y} - "
               "1)/beta rho rho; the layer declares it and `sol.free_energy` is defined "
               "(for the head above it raises a ValueError)."),
        ("code", "A = np.array([[1.5, 0.4], [0.4, 0.6]])\n"
                 "grad_model = mf.MeanFieldModel(mf.AttentionLayer(1.0, Q=A, V=A), kappa=2.0, "
                 "dim=2)\n"
                 'print("free energy:", grad_model.interaction.has_free_energy)\n'
                 "gsol = mf.evolve(grad_model, b48, mf.initial.perturbed_uniform(b48, 0.1, "
                 "seed=0),\n"
                 "                 t_final=15.0, t_eval=np.linspace(0, 15, 61))\n"
                 'print("max increase of F between saves:", np.diff(gsol.free_energy).max())\n'
                 "fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3))\n"
                 'a.plot(gsol.t, gsol.free_energy)\na.set_xlabel("t")\na.set_ylabel("F(rho)")\n'
                 'b.plot(b48.grid, gsol.rho[-1])\nb.set_xlabel("theta")\n'
                 'b.set_title("t = 15", fontsize=9)\nfig.tight_layout()\nplt.show()'),
        ("md", "## Two heads and a perceptron on S^2\n\n"
               "A transformer block (attention, then the MLP) is, in the continuous-depth "
               "limit, the flow of the sum of their fields (Lie–Trotter): `MultiHead([...]) "
               "+ Perceptron(...)`. Under SA each head would be normalized by its own softmax."),
        ("code", "rng = np.random.default_rng(0)\n"
                 "heads = mf.MultiHead([mf.AttentionLayer(1.0, Q=rng.normal(size=(3, 3)) / "
                 "np.sqrt(3)),\n"
                 "                      mf.AttentionLayer(1.0, Q=rng.normal(size=(3, 3)) / "
                 "np.sqrt(3),\n"
                 "                                        V=np.diag([1.0, 1.0, -0.5]))],\n"
                 "                     weights=[1.0, 0.5])\n"
                 "mlp = mf.Perceptron(rng.normal(size=(8, 3)) / np.sqrt(3), np.zeros(8),\n"
                 '                    rng.normal(size=(3, 8)) / 8, activation="gelu")\n'
                 "m3 = mf.MeanFieldModel(heads + mlp, kappa=2.0, dim=3)\nprint(m3.interaction)\n"
                 "s2 = mf.SphereBasis(20)\n"
                 "sol3 = mf.evolve(m3, s2, mf.initial.perturbed_uniform(s2, 0.2, seed=1), "
                 "t_final=3.0,\n"
                 "                 t_eval=[0, 1, 2, 3])\n"
                 'print(sol3.status, "max rho at t = 3:", sol3.rho[-1].max())\n'
                 "fig = plot_sphere_evolution(sol3)\nplt.show()"),
        ("md", "## A bifurcation diagram for several isotropic heads\n\n"
               "Heads with Q^T K and V multiples of the identity are isotropic kernels "
               "(diagonal multipliers, reflection symmetric): the diagram branches from rho "
               "= 1, at kappa_k = 1 / (sum of the heads' gains), here 1/(I_k(1) - 0.1 I_k(3)/3)."),
        ("code", "mh = mf.MultiHead([mf.AttentionLayer(1.0), mf.AttentionLayer(3.0, V=-0.1 * "
                 "np.eye(2))])\n"
                 "mm = mf.MeanFieldModel(mh, kappa=1.0, dim=2)\n"
                 'print(mm.interaction, "| symmetry:", mm.interaction.symmetry)\n'
                 'diag = mf.bifurcation_diagram(mm, basis, "kappa", (0.5, 20.0), modes=(1, 2))\n'
                 "print(diag.table())\n"
                 'print("closed form kappa_1, kappa_2:", [1 / (iv(k, 1.0) - 0.1 * iv(k, 3.0) '
                 "/ 3.0) for k in (1, 2)])\n"
                 "fig = diag.plot()\nplt.show()"),
    ],
    "08_solvers_and_causal": [
        ("md", "# Finding every state, at any size; causal attention\n\n"
               "`stationary_state` solves the stationary equation by Newton's method. Three "
               "things help on real problems: matrix-free Newton–Krylov (`solver='krylov'`, "
               "the default above 200 unknowns), deflation of states already found "
               "(`deflate=[...]`), and the leading part of the spectrum by Arnoldi "
               "(`linear_stability(..., k=6)`)."),
        ("code", "import matplotlib.pyplot as plt\nimport numpy as np\n\nimport meanfield as mf\n"
                 "from meanfield import causal\nfrom meanfield.kinetic import evolve_kinetic"),
        ("md", "A clearly non-uniform guess finds the state near it: at beta = 0, kappa = 3 the "
               "guess 1 + 0.9 cos(theta) first converges to the (unstable) uniform state; the "
               "solver then deflates it, and `found_by` says so."),
        ("code", "basis = mf.CircleBasis(32)\n"
                 "kur = mf.MeanFieldModel(mf.KuramotoKernel(), kappa=3.0)\n"
                 "st = mf.stationary_state(kur, basis, 1 + 0.9 * np.cos(basis.grid))\n"
                 "print(round(st.amplitude(1), 6), st.stable)\nprint(st.found_by)"),
        ("md", "Deflation: from the same guess, a different state (here the antipodal "
               "cluster)."),
        ("code", "first = mf.stationary_state(kur, basis, mf.initial.von_mises(basis, 2.0))\n"
                 "second = mf.stationary_state(kur, basis, mf.initial.von_mises(basis, 2.0),\n"
                 "                             deflate=[first])\n"
                 "print(first.coeffs[1].real, second.coeffs[1].real)"),
        ("md", "On S^2 the full-space problem has (lmax + 1)^2 - 1 unknowns: Newton–Krylov "
               "and Arnoldi never assemble the Jacobian."),
        ("code", "s2 = mf.SphereBasis(14)\n"
                 "model = mf.MeanFieldModel(mf.AttentionKernel(2.0), kappa=8.0, dim=3)\n"
                 "g = mf.initial.von_mises(s2, 6.0, mean=np.array([0.6, 0.0, 0.8]))\n"
                 "st = mf.stationary_state(model, s2, g, symmetric=False, stability=False,\n"
                 "                         raise_on_failure=False)\n"
                 "print(st.solver, st.iterations, f'{st.residual:.1e}')\n"
                 "print(mf.linear_stability(model, s2, st.coeffs, k=4).eigenvalues)"),
        ("md", "## Causal attention\n\nThe closed-form linear theory of the lost-in-the-middle "
               "profile (Duerinckx, Geshkovski, Rossi): the retrieval profile S_t(s) of the "
               "source position s, U-shaped below t_crit and monotone above."),
        ("code", "s = np.linspace(0.02, 1.0, 300)\n"
                 "tc = float(causal.t_crit(1.0, 1.0, 8.0, 20))\n"
                 "for t in (0.5 * tc, tc, 1.5 * tc):\n"
                 "    plt.plot(s, causal.retrieval_profile(s, t, 1.0, 1.0, 8.0, 20),\n"
                 "             label=f't = {t:.2f}')\n"
                 "plt.xlabel('source position s')\nplt.ylabel('S_t(s)')\nplt.legend()\n"
                 "plt.title(f't_crit = {tc:.3f}')\nplt.show()"),
        ("md", "The causal kinetic equation: densities rho(t, s, .) indexed by the token "
               "position, each attending to the positions before it (here with ALiBi weights)."),
        ("code", "model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=2.0)\n"
                 "basis = mf.CircleBasis(48)\n"
                 "ks = evolve_kinetic(model, basis, mf.initial.von_mises(basis, 1.0), 4.0,\n"
                 "                    np.linspace(0, 4, 21), weight='alibi', lam=2.0,\n"
                 "                    n_positions=16)\n"
                 "ks.plot(1)\nplt.show()"),
    ],
    "09_branches_rotations_dimensions": [
        ("md", "# Every branch, rotating clusters, and beta_* in every dimension\n\n"
               "Three continuation tools beyond `bifurcation_diagram`: deflated continuation "
               "(branches not connected to the uniform state inside the window), rotating "
               "states of layers that are not gradient flows (continued from their Hopf "
               "point), and the tricritical point beta_*^(d) as a curve in the dimension."),
        ("code", "import matplotlib.pyplot as plt\nimport numpy as np\n\nimport meanfield as mf\n"
                 "from meanfield.deflated import deflated_continuation\n"
                 "from meanfield.rotating import rotating_branch\n"
                 "from meanfield.two_parameter import tricritical_curve"),
        ("md", "## Deflated continuation\n\nAt beta = 3 the uniform state's bifurcation "
               "points kappa_1 = 0.759 and kappa_2 = 1.336 lie left of the window "
               "[1.4, 2]: `bifurcation_diagram` has nothing to follow there (its error says "
               "so and points here). Deflated continuation finds the three families present "
               "in the window, each point with its Morse index (0: stable; > 0: a saddle)."),
        ("code", "model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)\n"
                 "dd = deflated_continuation(model, mf.CircleBasis(32), 'kappa',\n"
                 "                           np.linspace(1.4, 2.0, 7))\n"
                 "print(dd.table())\ndd.plot()\nplt.show()"),
        ("md", "## Rotating clusters\n\nA rigid rotation `RigidRotation(omega)` added to "
               "attention commutes with it: every stationary cluster of the attention becomes "
               "a cluster rotating at exactly omega, and the uniform state's bifurcation "
               "becomes a Hopf point (a complex pair +-i omega crossing). `rotating_branch` "
               "starts there and continues the relative equilibria (profile and speed)."),
        ("code", "rot = mf.MeanFieldModel(mf.AttentionLayer(3.0) + mf.RigidRotation(0.7), "
                 "kappa=1.0)\n"
                 "br = rotating_branch(rot, mf.CircleBasis(32), 'kappa', (0.7, 1.0), "
                 "max_points=40)\n"
                 "print(br.hopf)\nprint('speed range:', br.speeds.min(), br.speeds.max())\n"
                 "br.plot()\nplt.show()"),
        ("md", "A value matrix with a rotational part, V = I + 0.5 J, also makes clusters "
               "travel, now at a speed that changes along the branch."),
        ("code", "from meanfield.rotating import rotating_state\n\n"
                 "J = np.array([[0.0, -1.0], [1.0, 0.0]])\n"
                 "head = mf.MeanFieldModel(mf.AttentionLayer(3.0, V=np.eye(2) + 0.5 * J), "
                 "kappa=1.0)\n"
                 "basis = mf.CircleBasis(48)\n"
                 "start = rotating_state(head, basis, mf.initial.von_mises(basis, 4.0))\n"
                 "br2 = rotating_branch(head, basis, 'kappa', (0.9, 1.5), start=start, "
                 "max_points=10)\n"
                 "print(np.round(br2.params, 3))\nprint(np.round(br2.speeds, 4))"),
        ("md", "## The tricritical point in dimension d\n\nBelow beta_*^(d) the first "
               "transition is continuous, above it first order. Each point comes from the fold "
               "curve continued in (beta, kappa) down to where its amplitude vanishes (zonal "
               "densities for d > 2)."),
        ("code", "tc = tricritical_curve([2, 3, 4])\n"
                 "print(dict(zip(tc.dim.tolist(), np.round(tc.beta, 9).tolist(), strict=True)))\n"
                 "tc.plot()\nplt.show()"),
    ],
    "10_planar_s3_and_causal_particles": [
        ("md", "# k clusters in any dimension, the full 3-sphere, causal particles\n\n"
               "`PlanarBasis(dim, lmax)` holds densities on S^{d-1} that depend only on "
               "(x_1, x_2): the k-cluster polygon states, at a cost independent of d. "
               "`SphereBasis(lmax, dim=4)` is the full 3-sphere. Both plug into every solver."),
        ("code", "import matplotlib.pyplot as plt\nimport numpy as np\n\nimport meanfield as mf\n"
                 "from meanfield import causal, correlations"),
        ("md", "The uniform state of noisy USA on S^15 loses stability in mode l at "
               "kappa_l = 1/g_l(beta); the planar basis sees every mode with its in-plane "
               "multiplicity."),
        ("code", "d, beta = 16, 2.0\nplanar = mf.PlanarBasis(d, 24)\n"
                 "g = mf.AttentionKernel(beta).coefficients(4, d)\n"
                 "print('kappa_l =', np.round(1 / g[1:], 4))\n"
                 "diag = mf.bifurcation_diagram(mf.MeanFieldModel(mf.AttentionKernel(beta), "
                 "kappa=1.0, dim=d),\n"
                 "                              planar, 'kappa', (0.9 / g[2], 1.3 / g[2]), "
                 "modes=(2,))\n"
                 "print(diag.table())"),
        ("md", "A two-cluster state in d = 16, found by Newton from a guess with two bumps "
               "in the plane, and drawn on the disk of (x_1, x_2)."),
        ("code", "model = mf.MeanFieldModel(mf.AttentionKernel(beta), kappa=1.2 / g[2], dim=d)\n"
                 "guess = planar.from_function(lambda x: np.exp(3 * (x[..., 0] ** 2 - "
                 "x[..., 1] ** 2)))\n"
                 "st = mf.stationary_state(model, planar, guess / planar.integrate(guess))\n"
                 "print(st.converged, round(st.residual, 14), st.morse_index)\n"
                 "x = planar.points  # one ambient representative per grid node\n"
                 "plt.tripcolor(x[..., 0].ravel(), x[..., 1].ravel(), st.rho.ravel(), "
                 "shading='gouraud')\n"
                 "plt.gca().set_aspect('equal')\nplt.colorbar(label='density w.r.t. sigma')\n"
                 "plt.title('2-cluster state on S^15, as a function of (x_1, x_2)')\nplt.show()"),
        ("md", "## The full 3-sphere\n\nTwo von Mises–Fisher bumps with different centres "
               "(not zonal) under noisy USA, and the uniform state's spectrum on S^3."),
        ("code", "s3 = mf.SphereBasis(12, dim=4)\n"
                 "mu1, mu2 = np.eye(4)[0], np.eye(4)[2]\n"
                 "rho0 = s3.from_function(lambda x: np.exp(3 * x @ mu1) + np.exp(3 * x @ mu2))\n"
                 "rho0 /= s3.integrate(rho0)\n"
                 "m4 = mf.MeanFieldModel(mf.AttentionKernel(1.5), kappa=3.0, dim=4)\n"
                 "sol = mf.evolve(m4, s3, rho0, 1.0, [0, 0.5, 1.0])\n"
                 "for t, rho in zip(sol.t, sol.rho, strict=True):  # the two bumps attract\n"
                 "    print(t, [round(float(s3.integrate(rho * s3.points[..., i])), 4)\n"
                 "              for i in (0, 2)])\n"
                 "ls = mf.linear_stability(m4, s3, s3.forward(np.ones(s3.shape)))\n"
                 "lead = np.sort(ls.eigenvalues.real)[::-1][:5]\n"
                 "print('leading eigenvalues:', np.round(lead, 6))"),
        ("md", "## Causal attention on particles\n\n`simulate_particles(weights=W)` runs "
               "tokens with positional weights (here the paper's ALiBi matrix); the empirical "
               "retrieval profile of an ensemble of prompts sits on the closed form of "
               "Duerinckx–Geshkovski–Rossi, up to its 1/n bias. For non-uniform data the "
               "1/n correlation equation is solved numerically by `correlations`."),
        ("code", "W = causal.alibi_weights(8, 1.0)\nprint(np.round(W[:4, :4], 3))\n"
                 "est = causal.empirical_retrieval_profile(32, 0.6, 1.0, 1.0, 8.0, replicas=60,\n"
                 "                                         dt=0.02, seed=1)\n"
                 "s = np.linspace(0.03, 1, 200)\n"
                 "plt.plot(s, causal.retrieval_profile(s, 0.6, 1.0, 1.0, 8.0, 20), "
                 "label='closed form')\n"
                 "plt.errorbar(est.s, est.profile[0], yerr=est.sem[0], fmt='.',\n"
                 "             label='particles, n = 32')\n"
                 "plt.xlabel('source position s')\nplt.ylabel('S_t(s)')\nplt.legend()\nplt.show()"),
        ("code", "circle = mf.CircleBasis(32)\n"
                 "usa = mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=float('inf'))\n"
                 "vm = mf.initial.von_mises(circle, 1.0)\n"
                 "prof = correlations.retrieval_profile_kinetic(usa, circle, vm,\n"
                 "                                              [0.25, 0.5, 0.75], 1.2, lam=1.0)\n"
                 "print('von Mises data:', np.round(prof.profile, 4))\n"
                 "uniform = causal.retrieval_profile([0.25, 0.5, 0.75], 1.2, 1.0, 1.0, 8.0, 20)\n"
                 "print('uniform data  :', np.round(uniform, 4))"),
    ],
}


def write(name: str) -> None:
    """Write one notebook of NOTEBOOKS (stored without outputs)."""
    nb = nbf.v4.new_notebook()
    nb.cells = [nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src)
                for kind, src in NOTEBOOKS[name]]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbf.write(nb, HERE / f"{name}.ipynb")


def main(names=None) -> None:
    """Write the named notebooks (all of them by default)."""
    for name in names or NOTEBOOKS:
        write(name)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
