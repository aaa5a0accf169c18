"""9. Long-context attention scaling (critical attention scaling, beta_n = g log n).

LITERATURE.md: with beta_n = g log n and equiangular inputs of correlation c, the limit
(n -> inf) inner product of the attention outputs is 1 if g < 1/(1-c), 4c/(1+3c) at
g = 1/(1-c), and c if g > 1/(1-c): the self-weight e^{beta} = n^g against the others'
(n-1) n^{g c} decides whether a token keeps itself, averages with the mean, or collapses.
Ours: the fused numba softmax kernel (meanfield.particles.attention_sums) applied to n
explicit equiangular tokens x_i = sqrt(c) u + sqrt(1-c) e_i, for n up to 4096, and the mean
normalized inner product of the outputs; the n -> inf value by a fit a + b n^{-p} over the
three largest n is compared with the limit. The approach to the limit is slow (powers of n,
logarithmic at the critical g), so the tolerance is the size of the last extrapolation step.
"""

from __future__ import annotations

import numpy as np
from _common import Row, figure_path

from meanfield.particles import attention_sums

TITLE = "long-context scaling beta_n = g log n: limits 1, 4c/(1+3c), c"


def output_inner_product(n: int, c: float, g: float) -> float:
    # the outputs only depend on the Gram matrix: tokens in R^{n+1} via an explicit frame
    x = np.zeros((n, n + 1))
    x[:, 0] = np.sqrt(c)
    x[np.arange(n), 1 + np.arange(n)] = np.sqrt(1 - c)
    y, _ = attention_sums(x, g * np.log(n), softmax=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    m = y.sum(axis=0)
    return float((m @ m - n) / (n * (n - 1)))  # mean over pairs i != j


def limit(c: float, g: float) -> float:
    gc = 1.0 / (1.0 - c)
    if np.isclose(g, gc):
        return 4 * c / (1 + 3 * c)
    return 1.0 if g < gc else c


def run(quick: bool) -> tuple[list[Row], list[str]]:
    import matplotlib.pyplot as plt

    c = 0.5  # critical g = 2
    ns = np.array([128, 256, 512, 1024] if quick else [128, 256, 512, 1024, 2048])
    rows = []
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for g, color in ((1.0, "C0"), (2.0, "C1"), (4.0, "C2")):
        vals = np.array([output_inner_product(int(n), c, g) for n in ns])
        ref = limit(c, g)
        # Richardson-like: assume val(n) = L + b n^{-p}; p from the last three points
        v1, v2, v3 = vals[-3:]
        ratio = (v2 - v3) / (v1 - v2) if v1 != v2 else 0.0
        est = v3 - (v2 - v3) * ratio / (1 - ratio) if 0 < ratio < 1 else v3
        tol = max(abs(est - v3), abs(v3 - v2), 1e-3)
        rows.append(Row(f"limit inner product, c={c}, g={g:g} (n -> inf from n <= {ns[-1]})",
                        "critical attention scaling (LITERATURE.md)", est, ref, tol,
                        "size of the last extrapolation step (slow power/log approach)"))
        ax.semilogx(ns, vals, "o-", color=color, label=f"g = {g:g}")
        ax.axhline(ref, color=color, ls=":")
    ax.set_xlabel("n (context length)")
    ax.set_ylabel("mean inner product of the outputs")
    ax.set_title(r"$\beta_n = g\log n$, equiangular inputs $c = 0.5$ (limits dotted)")
    ax.legend(fontsize=8)
    fig.savefig(figure_path("v09_long_context"), dpi=110)
    plt.close(fig)
    return rows, ["v09_long_context"]
