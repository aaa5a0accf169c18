"""5. Clustering (GLPR, "A mathematical perspective on Transformers", arXiv 2312.10794).

GLPR prove that for d >= 3 the noiseless SA and USA particle dynamics from (almost every)
initial configuration converge to a single cluster. Ours: simulate_particles from random
uniform tokens (n = 32, beta = 1, noiseless RK4) on S^2 (d = 3) and S^7 (d = 8), SA and USA,
several seeds; the number of clusters at the final time (observables.clusters, single
linkage at angular tolerance 1e-2) is compared with 1. The row reports the largest count over
the seeds; tolerance 0 (an integer). The final times are long enough that 1 - mean inner
product has reached round-off (~1e-15) in every seed, so the count is not a close call.

The (beta, time) phase diagram of GLPR is redrawn qualitatively only (not asserted): for
d = 3, SA, n = 32, the fraction of seeds whose mean pairwise inner product exceeds 0.99 at
time t, over a grid of beta, with the median time to reach it. The time grows quickly with
beta (at beta >~ 4 the runs sit in long multi-cluster metastable states within the window,
cf. item 7), which is the qualitative content of the picture; the exact shape depends on n
and the window and no number from the figure is compared.
"""

from __future__ import annotations

import numpy as np
from _common import Row, figure_path

import meanfield as mf

TITLE = "clustering: collapse to one cluster for d >= 3 (GLPR)"

SOURCE = "GLPR 2312.10794 (one cluster, d >= 3)"


def step(beta: float, dynamics: str) -> float:
    """A step safely inside the simulator's stability limit (dt * L <= 0.5)."""
    speed = np.exp(abs(beta)) if dynamics == "usa" else 2.0
    return min(0.1, 0.4 / (speed * (1 + abs(beta))))


def run(quick: bool) -> tuple[list[Row], list[str]]:
    import matplotlib.pyplot as plt

    rows = []
    seeds = 3 if quick else 8
    t_final = 40.0
    for d in (3, 8):
        for dynamics in ("sa", "usa"):
            counts, gaps = [], []
            for s in range(seeds):
                ps = mf.simulate_particles(beta=1.0, n=32, dim=d, dynamics=dynamics,
                                           t_final=t_final, dt=step(1.0, dynamics), seed=s)
                counts.append(ps.clusters().count)
                gaps.append(1.0 - ps.mean_inner_product()[-1])
            rows.append(Row(f"clusters at t={t_final:g}, d={d}, {dynamics.upper()}, beta=1, "
                            f"n=32 (max over {seeds} seeds)", SOURCE, max(counts), 1, 0,
                            f"an integer (max 1 - mean <x_i,x_j> at the end: {max(gaps):.0e})"))
    # qualitative (beta, t) picture, d = 3, SA
    betas = np.arange(0.0, 9.01, 1.0 if quick else 0.5)
    t_max = 50.0 if quick else 150.0
    ts = np.linspace(0.0, t_max, 301)
    pseeds = 2 if quick else 6
    frac = np.zeros((betas.size, ts.size))
    t_one = np.full(betas.size, np.nan)
    for i, beta in enumerate(betas):
        hit = []
        for s in range(pseeds):
            ps = mf.simulate_particles(beta=float(beta), n=32, dim=3, dynamics="sa",
                                       t_final=t_max, dt=step(beta, "sa"), t_eval=ts,
                                       seed=1000 + s)
            ok = ps.mean_inner_product() > 0.99
            frac[i] += ok
            hit.append(ts[np.argmax(ok)] if ok.any() else np.inf)
        frac[i] /= pseeds
        med = np.median(hit)
        t_one[i] = med if np.isfinite(med) else np.nan
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    im = ax.pcolormesh(betas, ts, frac.T, shading="nearest", cmap="viridis", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, label=r"fraction with mean $\langle x_i,x_j\rangle>0.99$")
    ax.set_xlabel(r"$\beta$")
    ax.set_ylabel("t")
    ax.set_title(f"d=3, SA, n=32, {pseeds} seeds (qualitative)", fontsize=9)
    ax2.semilogy(betas, t_one, "o-")
    ax2.set_xlabel(r"$\beta$")
    ax2.set_ylabel(f"median time to one cluster (missing: > {t_max:g})")
    fig.savefig(figure_path("v05_clustering"), dpi=110)
    plt.close(fig)
    return rows, ["v05_clustering"]
