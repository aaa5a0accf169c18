"""7. Metastability (Geshkovski, Koubbi, Polyanskiy, Rigollet, arXiv 2410.06833).

Multi-cluster states of noiseless SA are long plateaus whose lifetime grows exponentially in
beta. The quantitative core on the circle: two tight clusters at angle theta attract each
other only through e^{beta cos theta} against the self-weight e^{beta}, so (mean-field, two
point masses) d theta/dt = -2 sin(theta) / (1 + e^{beta (1 - cos theta)}), and the time to go
from theta_0 to theta_1 is T = int_{theta_1}^{theta_0} (1 + e^{beta(1-cos)})/(2 sin) d theta
~ e^{beta (1 - cos theta_0)}. Ours: simulate_particles with two clusters of 10 tokens
(spread 1e-3) at theta_0 = pi/2, the time until their centers are pi/4 apart, against the
quadrature of T (relative tolerance from the spread and the time step), for beta = 3..7, and
the fitted growth rate of log T in beta against 1 - cos(theta_0) = 1. The energy staircase from
random tokens is shown in the figure (qualitative).
"""

from __future__ import annotations

import numpy as np
from _common import Row, figure_path
from scipy.integrate import quad

import meanfield as mf

TITLE = "metastability: two-cluster lifetimes ~ e^{beta (1 - cos theta)} (GKPR)"


def t_exact(beta: float, th0: float, th1: float) -> float:
    f = lambda th: (1 + np.exp(beta * (1 - np.cos(th)))) / (2 * np.sin(th))  # noqa: E731
    return quad(f, th1, th0, epsabs=0, epsrel=1e-12)[0]


def t_particles(beta: float, th0: float, th1: float, rng) -> float:
    m = 10
    ang = np.concatenate([1e-3 * rng.standard_normal(m), th0 + 1e-3 * rng.standard_normal(m)])
    x0 = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    T = 1.5 * t_exact(beta, th0, th1)
    ts = np.linspace(0, T, 3001)
    ps = mf.simulate_particles(x0=x0, beta=beta, dynamics="sa", t_final=T, dt=T / 3000,
                               t_eval=ts, method="direct")
    a = ps.angles()  # (m_times, n)
    ca = np.angle(np.exp(1j * a[:, :m]).mean(axis=1))
    cb = np.angle(np.exp(1j * a[:, m:]).mean(axis=1))
    gap = np.abs(np.angle(np.exp(1j * (cb - ca))))
    i = int(np.nonzero(gap <= th1)[0][0])
    # linear interpolation between saves
    return float(ts[i - 1] + (ts[i] - ts[i - 1]) * (gap[i - 1] - th1) / (gap[i - 1] - gap[i]))


def run(quick: bool) -> tuple[list[Row], list[str]]:
    import matplotlib.pyplot as plt

    th0, th1 = np.pi / 2, np.pi / 4
    betas = np.array([3.0, 5.0, 7.0] if quick else [3.0, 4.0, 5.0, 6.0, 7.0])
    rng = np.random.default_rng(0)
    ours = np.array([t_particles(b, th0, th1, rng) for b in betas])
    exact = np.array([t_exact(b, th0, th1) for b in betas])
    rows = [Row(f"two-cluster merging time, beta={b:g}", "GKPR two-cluster ODE (quadrature)",
                o, e, 2e-2, "cluster spread 1e-3, 3000 RK4 steps: seen <= 7e-3", "rel")
            for b, o, e in zip(betas, ours, exact, strict=True)]
    # exponential growth: log T = beta (1 - cos th0) - log beta + O(1), so fit log(T beta)
    slope = np.polyfit(betas, np.log(ours * betas), 1)[0]
    rows.append(Row("growth rate of log(T beta) in beta", "1 - cos(theta_0) = 1", slope, 1.0,
                    0.1, "Laplace's method: O(1/beta) corrections over beta in [3, 7]"))
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    ax.semilogy(betas, exact, "k-", label="two-cluster ODE")
    ax.semilogy(betas, ours, "o", label="particles")
    ax.set_xlabel(r"$\beta$")
    ax.set_ylabel("merging time")
    ax.legend(fontsize=8)
    # the staircase: random tokens on the circle, SA beta = 6
    ps = mf.simulate_particles(n=64, dim=2, beta=6.0, dynamics="sa", seed=3, t_final=300.0,
                               dt=0.05, t_eval=np.linspace(0, 300, 301), method="direct")
    ax2.plot(ps.t, ps.energy(), "C1")
    ax2.set_xlabel("t")
    ax2.set_ylabel(r"energy $E_\beta$ (staircase)")
    ax2.set_title(r"SA, $\beta=6$, 64 random tokens", fontsize=9)
    fig.savefig(figure_path("v07_metastability"), dpi=110)
    plt.close(fig)
    return rows, ["v07_metastability"]
