"""11. Causal attention (Karagodin, Polyanskiy, Rigollet, arXiv 2411.04990; the causal-attention
seed on "lost in the middle").

Karagodin–Polyanskiy–Rigollet prove that causally masked self-attention dynamics (token i
attends to j <= i only; value matrix the identity) converges to a single cluster. Ours:
simulate_particles(causal=True), noiseless SA (softmax, as in the paper), beta = 1, n = 32
random uniform tokens on S^2 and S^7, several seeds; the number of clusters at the end
(single linkage at angular tolerance 1e-2) against 1, tolerance 0 (an integer). By t = 60
the gap 1 - mean <x_i, x_j> has reached round-off, so the count is not a close call.
(Causal USA also collapses but much more slowly: with the 1/n prefactor the early tokens
feel only a fraction i/n of the field; it is not asserted here.)

The U-shaped retrieval profile (primacy, recency, an interior minimum) is proven in the seed
paper for iid uniform tokens through a limiting correlation equation that meanfield does not
implement, so it is checked qualitatively only. Our operationalization: the profile
P(j) = E <x_n(T), x_j(0)> (how much of source token j the last token carries at depth T),
averaged over iid uniform prompts (n = 32, d = 32, SA, beta = 1, T = 2). What is checked:
the minimum of P is at an interior position and both endpoints P(1) (primacy) and P(n)
(recency) exceed it by more than 3 standard errors (s.e. from the seeds). The row is this
indicator (1 = U-shaped) against 1; the shape is shown in the figure and the exact location
of the minimum and the smallness condition of the paper are not compared.
"""

from __future__ import annotations

import numpy as np
from _common import Row, figure_path

import meanfield as mf

TITLE = "causal attention: one cluster and the U-shaped retrieval profile"


def run(quick: bool) -> tuple[list[Row], list[str]]:
    import matplotlib.pyplot as plt

    rows = []
    seeds = 3 if quick else 8
    t_final = 60.0
    for d in (3, 8):
        counts, gaps = [], []
        for s in range(seeds):
            ps = mf.simulate_particles(beta=1.0, n=32, dim=d, dynamics="sa", causal=True,
                                       t_final=t_final, dt=0.05, seed=s)
            counts.append(ps.clusters().count)
            gaps.append(1.0 - ps.mean_inner_product()[-1])
        rows.append(Row(f"clusters at t={t_final:g}, causal SA, d={d}, beta=1, n=32 (max over "
                        f"{seeds} seeds)", "Karagodin-Polyanskiy-Rigollet 2411.04990",
                        max(counts), 1, 0, f"an integer (max 1 - mean <x_i,x_j> at the end: "
                        f"{max(gaps):.0e})"))
    # retrieval profile
    n, d, t_ret = 32, 32, 2.0
    prompts = 60 if quick else 300
    ts = np.array([0.0, 0.5, 1.0, t_ret])
    prof = np.zeros((prompts, ts.size, n))
    for s in range(prompts):
        ps = mf.simulate_particles(beta=1.0, n=n, dim=d, dynamics="sa", causal=True,
                                   t_final=t_ret, dt=0.05, t_eval=ts, seed=10_000 + s)
        prof[s] = ps.x[:, -1, :] @ ps.x[0].T
    mean = prof.mean(axis=0)
    se = prof.std(axis=0, ddof=1) / np.sqrt(prompts)
    p, e = mean[-1], se[-1]
    j_min = int(np.argmin(p))
    interior = 0 < j_min < n - 1
    floor = p[j_min] + 3 * np.hypot(e[j_min], np.maximum(e[0], e[-1]))
    u_shaped = bool(interior and p[0] > floor and p[-1] > floor)
    rows.append(Row(f"U-shaped retrieval profile E<x_n(T), x_j(0)>, T={t_ret:g} (1 = yes; "
                    f"min at j={j_min + 1}, P(1)={p[0]:.3f}, P(n)={p[-1]:.3f}, "
                    f"P(min)={p[j_min]:.3f})", "causal-attention seed (lost in the middle), "
                    "qualitative", float(u_shaped), 1.0, 0,
                    f"qualitative: interior minimum, endpoints > min + 3 s.e. ({prompts} "
                    "prompts)"))
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    ps = mf.simulate_particles(beta=1.0, n=32, dim=3, dynamics="sa", causal=True,
                               t_final=20.0, dt=0.05, t_eval=np.linspace(0, 20, 201), seed=0)
    ax.semilogy(ps.t, np.maximum(1 - ps.mean_inner_product(), 1e-16))
    ax.set_xlabel("t")
    ax.set_ylabel(r"$1 - $ mean $\langle x_i, x_j\rangle$")
    ax.set_title("causal SA, d=3, n=32, beta=1: one cluster", fontsize=9)
    jj = np.arange(1, n + 1)
    for k in range(1, ts.size):
        ax2.errorbar(jj, mean[k], yerr=se[k], fmt=".-", ms=3, lw=1, label=f"T={ts[k]:g}")
    ax2.set_xlabel("source position j")
    ax2.set_ylabel(r"$E\langle x_n(T), x_j(0)\rangle$")
    ax2.set_ylim(-0.05, 0.4)
    ax2.set_title(f"retrieval profile (qualitative), d={d}, {prompts} prompts "
                  "(P(n) off scale)", fontsize=9)
    ax2.legend(fontsize=7)
    fig.savefig(figure_path("v11_causal"), dpi=110)
    plt.close(fig)
    return rows, ["v11_causal"]
