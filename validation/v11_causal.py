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

The U-shaped retrieval profile (primacy, recency, an interior minimum) of the seed paper is
checked quantitatively in v20_causal_particles.py (particle ensembles against the closed form
of Duerinckx–Geshkovski–Rossi); the qualitative stand-in this script had is gone.
"""

from __future__ import annotations

import numpy as np
from _common import Row, figure_path

import meanfield as mf

TITLE = "causal attention: one cluster"


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
    fig, ax = plt.subplots(figsize=(5, 3.6), constrained_layout=True)
    ps = mf.simulate_particles(beta=1.0, n=32, dim=3, dynamics="sa", causal=True,
                               t_final=20.0, dt=0.05, t_eval=np.linspace(0, 20, 201), seed=0)
    ax.semilogy(ps.t, np.maximum(1 - ps.mean_inner_product(), 1e-16))
    ax.set_xlabel("t")
    ax.set_ylabel(r"$1 - $ mean $\langle x_i, x_j\rangle$")
    ax.set_title("causal SA, d=3, n=32, beta=1: one cluster", fontsize=9)
    fig.savefig(figure_path("v11_causal"), dpi=110)
    plt.close(fig)
    return rows, ["v11_causal"]
