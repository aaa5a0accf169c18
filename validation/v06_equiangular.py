"""6. Equiangular reduction (GLPR, arXiv 2312.10794, Thm 6.8 / 6.9).

For n tokens with a common pairwise inner product gamma(t), gamma(0) = 0, the dynamics
reduces to an ODE (LITERATURE.md): SA dgamma/dt = 2 e^{beta gamma}(1-gamma)((n-1)gamma+1) /
(e^beta + (n-1) e^{beta gamma}), USA dgamma/dt = (2/n) e^{beta gamma}(1-gamma)((n-1)gamma+1).
Random tokens in high dimension d are nearly equiangular, and their mean inner product
follows the ODE up to a deviation ~ d^{-1/2} (Thm 6.9: physics, not solver error). Ours:
simulate_particles from random tokens (run exactly in the span of the n tokens, since the
noiseless identity-Q/K/V dynamics is rotation-equivariant) for d = 256 .. 16384; the fitted
slope of the deviation against d, with its standard error from the seeds.
"""

from __future__ import annotations

import numpy as np
from _common import Row, figure_path

import meanfield as mf
from meanfield.particles.compare import loglog_fit
from meanfield.particles.observables import equiangular_ode

TITLE = "equiangular reduction and its d^-1/2 deviation (GLPR)"


def run(quick: bool) -> tuple[list[Row], list[str]]:
    import matplotlib.pyplot as plt

    n, seeds = 32, (6 if quick else 16)
    ds = np.array([256, 1024, 4096, 16384])
    rows = []
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    for dynamics, beta, t_final, color in (("sa", 1.0, 10.0, "C0"), ("usa", 1.0, 4.0, "C1")):
        ts = np.linspace(0.0, t_final, int(round(t_final / 0.05)) + 1)
        gamma = equiangular_ode(beta, n, dynamics, ts)
        means, ses = [], []
        for d in ds:
            devs = []
            for s in range(seeds):
                rng = np.random.default_rng([int(d), s])
                x = rng.standard_normal((n, int(d)))
                x /= np.linalg.norm(x, axis=1, keepdims=True)
                r = np.linalg.qr(x.T, mode="r")
                ps = mf.simulate_particles(beta=beta, x0=r.T, dynamics=dynamics, dt=0.05,
                                           t_final=t_final, t_eval=ts, normalize_x0=True)
                g = ps.mean_inner_product()
                devs.append(np.max(np.abs(g - gamma)))
                if s == 0 and d == 1024:
                    ax.plot(ts, g, color=color, lw=1, label=f"particles {dynamics.upper()}, "
                            "d=1024")
            means.append(np.mean(devs))
            ses.append(np.std(devs, ddof=1) / np.sqrt(seeds))
        ax.plot(ts, gamma, "k--", lw=1)
        fit = loglog_fit(ds, np.array(means), np.array(ses))
        rows.append(Row(f"slope of the deviation in d, {dynamics.upper()} beta=1, n=32",
                        "GLPR Thm 6.9 (d^-1/2)", fit["slope"], -0.5,
                        max(3 * fit["slope_se"], 0.05), f"3 standard errors of the fit "
                        f"({seeds} seeds per d)"))
        ax2.errorbar(ds, means, yerr=ses, fmt="o-", color=color, label=dynamics.upper())
    ax.set_xlabel("t")
    ax.set_ylabel(r"mean $\langle x_i, x_j\rangle$ (ODE dashed)")
    ax.legend(fontsize=7)
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.plot(ds, 0.4 * ds ** -0.5, "k:", label=r"$d^{-1/2}$")
    ax2.set_xlabel("d")
    ax2.set_ylabel("max deviation from the ODE")
    ax2.legend(fontsize=7)
    fig.savefig(figure_path("v06_equiangular"), dpi=110)
    plt.close(fig)
    return rows, ["v06_equiangular"]
