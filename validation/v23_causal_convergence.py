"""23. Causal ALiBi particles across t_crit, and the 1/n convergence of the retrieval profile.

Duerinckx, Geshkovski, Rossi (arXiv 2605.09213): for n iid uniform tokens on the circle the
soft accuracy of the last token against the source at position s is 1 + (2/n) S_t(s) +
o(1/n) (meanfield.causal, module docstring), so the particle profile (soft accuracy - 1) n/2
is S_t(s) + O(1/n); S_t is U shaped below t_crit and falls at the right end above it. Here
both are measured on particle ensembles (causal.empirical_retrieval_profile: noiseless
causal USA with the ALiBi matrix, RK4 dt = 0.09, 12 rotations of each source and the t = 0
control variate; beta = 1, M = 8, n_max = 20). Every statistic is a mean over independent
prompts; differences between sources are taken within each prompt (paired).

Estimator settings (measured here, loaded 2-core machine):
* 12 rotations, not the default 8: with 8 the aliased mode omega_8 = e^{-pi^2/2} = 7.2e-3 of
  the test function leaves a per-prompt noise of order n omega_8 (s.d. 0.20-0.28 at
  n = 32-64, t = 0.6); 12 rotations (omega_12 = 1.5e-5) cut it to 0.07 (n = 32) and 0.04
  (n = 64); 16 or 24 rotations change nothing more (what is left is the prompt-to-prompt
  fluctuation, s.d. ~ n^-1/2). Lowering n_max to 5-7 with 6-8 rotations (no zeroth-order
  aliasing) is worse: the source's response aliases (s.d. 0.1-0.4).
* dt = 0.09 (stability limit 0.092): per-prompt values differ from dt = 0.03 by < 6e-6.
* cost ~ n^2 per simulation: one prompt and source (12 simulations to t = 1.2) takes about
  0.013-0.02, 0.03-0.05, 0.09-0.12, 0.22-0.32, 0.9-1.3 s at n = 32, 64, 128, 256, 512 (the
  load varies); full mode 175-230 s, quick mode 33-40 s.

Rows:

1. The change of shape across t_crit (lambda = 0.3, t_crit = 1.008, both times small):
   t = 0.6 t_crit and 1.5 t_crit, n = 64 (128 prompts; quick: 96), sources s = 4/16, 8/16,
   12/16, 15/16 (quick: without 4/16). Statistic: the paired right-end rise D = S(15/16) -
   S(1/2), s = 1/2 fixed in advance next to the closed form's minimum 0.545 at 0.6 t_crit
   (no selection on the data); closed form +0.018 below and -0.25 above. Below t_crit
   D > 3 s.e. (recency), above D < -3 s.e. (the right end falls). The same for the
   last-quarter chord S(15/16) - S(12/16) (closed form +0.012, -0.074) in full mode.
   Measured (full): +0.0151 +- 0.0030 and -0.225 +- 0.022; chord +0.0113 +- 0.0017 and
   -0.064 +- 0.012. The finite-n bias at 1.5 t_crit is -11 to -13 % of S at n = 64 (-13 to
   -17 % at n = 32); it shrinks D above t_crit by 10-15 %, not its sign. Also: the closed
   form's right-end slope (Richardson of one-sided differences at s = 1) vanishes at
   t_crit (the formula of causal.t_crit), to 1.3e-7.
2. The 1/n convergence at t = 1.2, lambda = 1 (the paper's figure, below t_crit = 2.46) and
   s = 1/8, 1/2, 7/8: n = 32, 64, 128, 256, 512 with 256, 192, 96, 32, 16 prompts (quick:
   n = 32, 64, 128 with 128, 64, 20). At t = 0.6 the deviation is below 1 % already at
   n = 32 (measured: -0.015 +- 0.008, -0.004 +- 0.005 at s = 1/8, 1/2), too small to resolve
   a slope; at t = 1.2 it is -8 to -12 % at n = 32. The prompts are spent where the
   deviation is large (small n, which is also cheap): |deviation|/s.e. is about 7, 4, 3 at
   n = 32, 64, 128, while at 256 and 512 (-0.5 % expected) the points only bound it (s.e.
   0.8-1.3 %; resolving the 1/n deviation at n = 512 to 3 s.e. would take ~850 prompts,
   about an hour). Measured (full): r = -0.092, -0.038, -0.030, -0.005, +0.004; C = -2.80
   +- 0.32 (chi^2 1.9 for 4 dof), p = 1.11 +- 0.27, S_oo within 0.3-0.8 % of S_t
   (1/3 to 2/3 s.e.).
   Fits: the pooled relative deviation r(n) = mean_s S_n(s)/S(s) - 1 (pooled within each
   prompt) by C/n (chi^2 against its degrees of freedom) and by c n^-p (p against 1 within
   3 s.e.); the n -> oo value S_oo(s) by weighted least squares in 1/n (Richardson, the
   closed form not used) against S_t(s), within 3 s.e.
3. The interior minimum at the largest n (512; quick 128), t = 1.2: the vertex of the
   least-squares parabola through s = 2/16, 4/16, 6/16, 8/16 against the vertex of the
   same fit to the closed form (0.353; the closed form's own minimum is 0.319, the parabola
   is not symmetric about it); tolerance 3 bootstrap s.e. (resampling prompts, half the
   16-84 % range). The minimum value (the parabola at its vertex) against the same fit to
   the closed form, tolerance 3 bootstrap s.e. plus the 1/n deviation |C|/n fitted in 2.
   Measured (full): vertex 0.329 +- 0.015 against 0.353; value 1.535 +- 0.019 against
   1.539.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize
from _common import Row, figure_path

from meanfield import causal

TITLE = "Causal particles across t_crit; 1/n convergence of the retrieval profile"
SOURCE = "DGR 2605.09213"
BASE = dict(beta=1.0, M=8.0, n_max=20)
SHIFTS, DT = 12, 0.09

LAM_SHAPE = 0.3
FACTORS = (0.6, 1.5)                             # t / t_crit below and above
SHAPE_S = np.array([4, 8, 12, 15]) / 16
SHAPE_N = 64
CHORDS = ((15 / 16, 1 / 2, "S(15/16) - S(1/2)"), (15 / 16, 12 / 16, "S(15/16) - S(12/16)"))

LAM_CONV, T_CONV = 1.0, 1.2
CONV_S = np.array([1, 4, 7]) / 8
MIN_S = np.array([2, 4, 6, 8]) / 16
PROMPTS = {False: {32: 256, 64: 192, 128: 96, 256: 32, 512: 16},
           True: {32: 128, 64: 64, 128: 20}}
SHAPE_PROMPTS = {False: 128, True: 96}


def _estimate(n: int, t, lam: float, prompts: int, s: np.ndarray, seed: int):
    return causal.empirical_retrieval_profile(n, t, BASE["beta"], lam, BASE["M"],
                                              n_max=BASE["n_max"], replicas=prompts,
                                              dt=DT, seed=seed, s=s, shifts=SHIFTS)


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size))


# ----------------------------------------------------------------------------------------
# 1. the change of shape across t_crit
# ----------------------------------------------------------------------------------------
def _slope_root_row(tc: float) -> Row:
    h = 1e-3

    def slope(t):
        s = np.array([1.0 - h, 1.0 - h / 2, 1.0])
        S = causal.retrieval_profile(s, t, BASE["beta"], LAM_SHAPE, BASE["M"], BASE["n_max"])
        # Richardson of the one-sided differences D(h), D(h/2): dS/ds(1) + O(h^2)
        return 2 * (S[2] - S[1]) / (h / 2) - (S[2] - S[0]) / h

    root = scipy.optimize.brentq(slope, 0.5 * tc, 2.0 * tc, xtol=1e-13)
    return Row(f"closed form, lambda = {LAM_SHAPE:g}: the right-end slope dS/ds(1) (Richardson "
               "of one-sided differences, h = 1e-3) vanishes at t_crit = 2 (1 - e^-lambda) "
               "S_1/S_2", SOURCE, root, tc, 1e-4,
               "O(h^2) = 1e-6 error of the slope over d/dt dS/ds(1) ~ 0.1")


def _shape_rows(est, tc: float, quick: bool) -> list[Row]:
    cf, rows = est.closed_form(), []
    for s_hi, s_lo, name in CHORDS[:1] if quick else CHORDS:
        hi, lo = (int(np.argmin(abs(est.s - v))) for v in (s_hi, s_lo))
        for k, f in enumerate(FACTORS):
            d, se = _mean_se(est.samples[k][:, hi] - est.samples[k][:, lo])
            ref = float(cf[k, hi] - cf[k, lo])
            sign = 1.0 if f < 1 else -1.0
            ok = bool(np.sign(ref) == sign and sign * d > 3 * se)
            side = "below" if f < 1 else "above"
            what = "rises (recency)" if f < 1 else "falls"
            rows.append(Row(f"particles, n = {est.params['n']}, t = {f:g} t_crit ({side}): the "
                            f"right end {what}, paired {name} = {d:.4f} +- {se:.4f} "
                            f"({d / se:+.1f} s.e.; closed form {ref:+.4f}) (1 = yes)", SOURCE,
                            float(ok), 1.0, 0.0, f"sign as the closed form's and |z| > 3 "
                            f"({est.params['replicas']} prompts x {SHIFTS} rotations)"))
    return rows


# ----------------------------------------------------------------------------------------
# 2. the 1/n convergence
# ----------------------------------------------------------------------------------------
def _pooled(est, cols) -> tuple[float, float]:
    """Mean over sources of S_n(s)/S(s) - 1, pooled within each prompt: mean, s.e."""
    x = est.samples[0][:, cols] / est.closed_form()[0, cols]
    return _mean_se(x.mean(axis=1) - 1.0)


def _wls(ns: np.ndarray, y: np.ndarray, se: np.ndarray, powers) -> tuple:
    """Weighted least squares y = sum_k c_k n^-k over `powers`: coefficients, covariance, chi2."""
    A = np.stack([ns ** -float(k) for k in powers], axis=1) / se[:, None]
    coef, *_ = np.linalg.lstsq(A, y / se, rcond=None)
    cov = np.linalg.inv(A.T @ A)
    chi2 = float(np.sum((A @ coef - y / se) ** 2))
    return coef, cov, chi2


def _power_fit(ns, r, se) -> tuple[float, float, float]:
    """r = c n^-p (nonlinear least squares, absolute s.e.): c, p, s.e. of p."""
    (c, p), cov = scipy.optimize.curve_fit(lambda n, c, p: c * n ** -p, ns, r,
                                           p0=(r[0] * ns[0], 1.0), sigma=se,
                                           absolute_sigma=True)
    return float(c), float(p), float(np.sqrt(cov[1, 1]))


def _convergence(ests: dict) -> dict:
    ns = np.array(sorted(ests), dtype=float)
    cols = {n: [int(np.argmin(abs(e.s - s))) for s in CONV_S] for n, e in ests.items()}
    pooled = np.array([_pooled(ests[n], cols[n]) for n in sorted(ests)])
    prof = np.array([ests[n].profile[0, cols[n]] for n in sorted(ests)])      # (n, s)
    sem = np.array([ests[n].sem[0, cols[n]] for n in sorted(ests)])
    exact = causal.retrieval_profile(CONV_S, T_CONV, BASE["beta"], LAM_CONV, BASE["M"],
                                     BASE["n_max"])
    C, covC, chi2 = _wls(ns, pooled[:, 0], pooled[:, 1], [1])
    rich = [_wls(ns, prof[:, a], sem[:, a], [0, 1]) for a in range(CONV_S.size)]
    r_oo = _wls(ns, pooled[:, 0], pooled[:, 1], [0, 1])
    return dict(ns=ns, pooled=pooled, prof=prof, sem=sem, exact=exact, C=float(C[0]),
                C_se=float(np.sqrt(covC[0, 0])), chi2=chi2,
                power=_power_fit(ns, pooled[:, 0], pooled[:, 1]), rich=rich, r_oo=r_oo)


def _convergence_rows(cv: dict, prompts: dict, resolved: int) -> list[Row]:
    ns, (r, se) = cv["ns"], cv["pooled"].T
    span = f"n = {int(ns[0])}..{int(ns[-1])}"
    counts = ", ".join(str(prompts[int(n)]) for n in ns)
    zs = np.abs(r) / se
    ok = bool(np.all(zs[:resolved] > 3))
    rows = [Row(f"pooled relative deviation r(n) = mean_s S_n/S - 1 at t = {T_CONV:g}: resolved "
                f"at the smaller n (1 = yes; r = {', '.join(f'{v:+.4f}' for v in r)}, "
                f"|r|/s.e. = {', '.join(f'{z:.1f}' for z in zs)} at {span})", SOURCE,
                float(ok), 1.0, 0.0, "|r|/s.e. > 3 at " + ("the smallest n" if resolved == 1
                                                          else f"the {resolved} smallest n")),
            Row(f"C/n law of r(n), {span}: chi^2 of the one-parameter fit (C = {cv['C']:.2f} "
                f"+- {cv['C_se']:.2f}) against its {ns.size - 1} degrees of freedom", SOURCE,
                cv["chi2"], float(ns.size - 1), 3 * np.sqrt(2 * (ns.size - 1)),
                "3 s.d. of chi^2 (2 dof)^1/2")]
    c, p, p_se = cv["power"]
    rows.append(Row(f"exponent p of r(n) = c n^-p, {span} (c = {c:.2f}; prompts {counts})",
                    SOURCE, p, 1.0, 3 * p_se, f"3 s.e. of the fit ({p_se:.2f})"))
    coef, cov, _ = cv["r_oo"]
    rows.append(Row(f"pooled relative deviation extrapolated to n -> oo (weighted LS in 1/n, "
                    f"{span})", SOURCE, float(coef[0]), 0.0, 3 * float(np.sqrt(cov[0, 0])),
                    "3 s.e. of the extrapolation"))
    for a, s in enumerate(CONV_S):
        coef, cov, chi2 = cv["rich"][a]
        rows.append(Row(f"S_oo(s = {s:g}, t = {T_CONV:g}) by Richardson in 1/n over {span} "
                        f"(slope {coef[1]:.2f}, chi^2 {chi2:.1f}/{ns.size - 2})", SOURCE,
                        float(coef[0]), float(cv["exact"][a]), 3 * float(np.sqrt(cov[0, 0])),
                        "3 s.e. of the extrapolation"))
    return rows


# ----------------------------------------------------------------------------------------
# 3. the interior minimum at the largest n
# ----------------------------------------------------------------------------------------
def _vertex(s: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    c2, c1, c0 = np.polyfit(s, y, 2)
    if c2 <= 0:
        return np.nan, np.nan
    v = -c1 / (2 * c2)
    return float(v), float(np.polyval([c2, c1, c0], v))


def _minimum_rows(est, C: float, boot: int, rng) -> list[Row]:
    cols = [int(np.argmin(abs(est.s - s))) for s in MIN_S]
    x, s = est.samples[0][:, cols], est.s[cols]
    ours = _vertex(s, x.mean(axis=0))
    ref = _vertex(s, est.closed_form()[0, cols])
    draws = np.array([_vertex(s, x[rng.integers(0, x.shape[0], x.shape[0])].mean(axis=0))
                      for _ in range(boot)])
    q16, q84 = np.nanpercentile(draws, [16, 84], axis=0)
    se = (q84 - q16) / 2
    n, R = est.params["n"], est.params["replicas"]
    s_min = causal.retrieval_minimum(T_CONV, BASE["beta"], LAM_CONV, BASE["M"], BASE["n_max"])
    bias = abs(C) / n * ref[1]
    why = f"3 bootstrap s.e. ({boot} resamples of {R} prompts)"
    return [Row(f"interior minimum's position, n = {n}, t = {T_CONV:g}: vertex of the parabola "
                f"through s = 2/16..8/16 (closed form's own minimum {s_min:.3f})", SOURCE,
                ours[0], ref[0], 3 * float(se[0]), why),
            Row(f"interior minimum's value, n = {n}, t = {T_CONV:g} (same parabola)", SOURCE,
                ours[1], ref[1], 3 * float(se[1]) + bias,
                why + f" + the fitted 1/n deviation |C|/n S = {bias:.3f}")]


# ----------------------------------------------------------------------------------------
# figure and driver
# ----------------------------------------------------------------------------------------
def _deviation_panel(ax, cv: dict) -> None:
    from matplotlib.ticker import NullFormatter

    ns, (r, se) = cv["ns"], cv["pooled"].T
    pos = -r > 0
    ax.errorbar(ns[pos], -r[pos], yerr=se[pos], fmt="o", capsize=3,
                label="particles: -r(n), pooled over s")
    if np.any(~pos):
        ax.plot(ns[~pos], se[~pos], "v", color="C0", mfc="none",
                label="-r <= 0: 1 s.e. upper bound")
    grid = np.geomspace(ns[0] / 1.3, ns[-1] * 1.3, 50)
    c, p, p_se = cv["power"]
    ax.plot(grid, -c * grid ** -p, label=f"fit c n^-p, p = {p:.2f} +- {p_se:.2f}")
    ax.plot(grid, -cv["C"] / grid, "k--", lw=0.8, label=f"C/n, C = {cv['C']:.2f}")
    ax.set(xscale="log", yscale="log", xlabel="tokens n", ylabel="-(S_n / S - 1)",
           title=f"1/n convergence, t = {T_CONV:g}, lambda = {LAM_CONV:g}, s = 1/8, 1/2, 7/8")
    ax.set_xticks(ns, [str(int(n)) for n in ns], minor=False)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=7)


def _shape_panel(ax, shape, tc: float) -> None:
    ref = int(np.argmin(abs(shape.s - 0.5)))
    fine = np.linspace(0.2, 1.0, 200)
    axes = (ax, ax.twinx())
    for k, f in enumerate(shape.t / tc):
        S = causal.retrieval_profile(np.append(fine, 0.5), shape.t[k], BASE["beta"],
                                     LAM_SHAPE, BASE["M"], BASE["n_max"])
        d = shape.samples[k] - shape.samples[k][:, ref:ref + 1]
        axes[k].plot(fine, S[:-1] - S[-1], color=f"C{k}", lw=1,
                     label=f"t = {f:.1f} t_crit (closed form, axis {'left right'.split()[k]})")
        axes[k].errorbar(shape.s, d.mean(axis=0), yerr=d.std(axis=0, ddof=1)
                         / np.sqrt(d.shape[0]), fmt="o", ms=3, capsize=2, color=f"C{k}")
        axes[k].tick_params(axis="y", colors=f"C{k}")
        top = max(abs(v) for v in axes[k].get_ylim())
        axes[k].set_ylim(-top, top)                 # zero at mid-height on both axes
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="source position s", ylabel="paired S(s) - S(1/2)",
           title=f"across t_crit = {tc:.2f} (lambda = {LAM_SHAPE:g}, n = {shape.params['n']})")
    lines = [h for a in axes for h in a.get_legend_handles_labels()[0]]
    ax.legend(lines, [ln.get_label() for ln in lines], fontsize=7, loc="upper center")


def _figure(cv: dict, shape, tc: float, big) -> None:
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4.0), constrained_layout=True)
    _deviation_panel(ax1, cv)
    _shape_panel(ax2, shape, tc)
    fine = np.linspace(0.05, 1.0, 200)
    ax3.plot(fine, causal.retrieval_profile(fine, T_CONV, BASE["beta"], LAM_CONV, BASE["M"],
                                            BASE["n_max"]), "k", lw=1, label="closed form")
    ax3.errorbar(big.s, big.profile[0], yerr=big.sem[0], fmt="o", ms=3, capsize=2,
                 label=f"particles, n = {big.params['n']} ({big.params['replicas']} prompts)")
    ax3.set(xlabel="source position s", ylabel="(soft accuracy - 1) n / 2",
            title=f"largest n, t = {T_CONV:g}, lambda = {LAM_CONV:g}")
    ax3.legend(fontsize=7)
    fig.savefig(figure_path("v23_causal_convergence"), dpi=120)
    plt.close(fig)


def run(quick: bool) -> tuple[list[Row], list[str]]:
    tc = float(causal.t_crit(BASE["beta"], LAM_SHAPE, BASE["M"], BASE["n_max"]))
    shape = _estimate(SHAPE_N, [f * tc for f in FACTORS], LAM_SHAPE, SHAPE_PROMPTS[quick],
                      SHAPE_S[1:] if quick else SHAPE_S, 2301)
    rows = [_slope_root_row(tc)] + _shape_rows(shape, tc, quick)
    prompts = PROMPTS[quick]
    n_big = max(prompts)
    ests = {n: _estimate(n, [T_CONV], LAM_CONV, R,
                         np.union1d(CONV_S, MIN_S) if n == n_big else CONV_S, 2300 + n)
            for n, R in prompts.items()}
    cv = _convergence(ests)
    rows += _convergence_rows(cv, prompts, 1 if quick else 2)
    rows += _minimum_rows(ests[n_big], cv["C"], 400, np.random.default_rng(23))
    _figure(cv, shape, tc, ests[n_big])
    return rows, ["v23_causal_convergence"]
