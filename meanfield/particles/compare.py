"""Particles against the PDE: ensembles with error bars, mean-field convergence, stationary states.

The mean-field PDE is the n -> infinity limit of the token system (LITERATURE.md, "Mean-field
limit"): for smooth test functions |<phi, mu_n(t)> - <phi, rho(t)>| = O(n^{-1/2}) (fluctuations)
and the bias of the ensemble mean is O(1/n). This module checks it on the circle (d = 2, a
:class:`~meanfield.bases.CircleBasis`):

- :func:`compare` evolves the PDE (:func:`meanfield.evolve`) and ``replicas`` independent particle
  systems sampled from the same initial law, and reports per save time the PDE value, the
  ensemble mean, its standard error and a 95% (Student t) band of rotation-invariant observables
  |rho_k| (k = 1, 2, 3; particles: |(1/n) sum_j e^{ik theta_j}|) and, when the initial law is not
  rotation-invariant, <cos theta> (= Re rho_1 of the PDE).
- :func:`convergence_study` measures the error of one observable over a range of n and fits the
  log-log slopes of the mean absolute error (expected -1/2) and of the bias of the ensemble
  mean (expected -1), with standard errors.
- :func:`stationary_comparison` runs long noisy particle systems, discards a burn-in, averages
  |rho_1| over time and replicas with a batch-means error bar (autocorrelation-corrected; the
  integrated autocorrelation time is reported too) and compares with
  :func:`meanfield.stationary_state`.

Conventions. The PDE coefficient is rho_k = int rho e^{-ik theta} d sigma, the empirical moment
(1/n) sum e^{+ik theta_j} is its complex conjugate; moduli and <cos theta> agree. Note that the
modulus of an empirical moment is biased upwards by O(1/(n |rho_k|)) (and by O(n^{-1/2}) where
rho_k = 0): the bands below are the ensemble's statistical error only, so compare |rho_k| where
it is well away from zero.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from .. import io
from .simulate import simulate_particles

__all__ = ["compare", "Comparison", "convergence_study", "ConvergenceStudy",
           "stationary_comparison", "StationaryComparison", "loglog_fit",
           "integrated_autocorrelation_time"]

AMPLITUDES = ("|rho_1|", "|rho_2|", "|rho_3|")
COS = "<cos theta>"


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
def _check_circle(model, basis) -> None:
    if getattr(model, "dim", None) != 2 or getattr(basis, "dim", None) != 2 \
            or getattr(basis, "is_zonal", False):
        raise ValueError("the particle-PDE comparison is implemented on the circle: a model of "
                         "dim=2 and a CircleBasis")


def _grid_density(basis, rho0) -> np.ndarray:
    rho = rho0(basis.grid) if callable(rho0) else rho0
    rho = np.asarray(rho, dtype=float)
    if rho.shape != tuple(basis.shape):
        raise ValueError(f"rho0 must hold grid values of shape {basis.shape}, got {rho.shape}")
    return rho


def _rotation_invariant(basis, rho, tol: float = 1e-12) -> bool:
    c = basis.forward(rho)
    return bool(np.max(np.abs(c[1:])) <= tol * abs(c[0]))


def _pde_observables(basis, coeffs: np.ndarray, names) -> dict:
    out = {}
    for name in names:
        if name == COS:
            out[name] = np.real(coeffs[:, 1])  # int rho cos = Re rho_1
        else:
            out[name] = basis.amplitude(coeffs, int(name[5]))
    return out


def _particle_observables(x: np.ndarray, names) -> dict:
    """x: (m, n, 2) unit vectors -> {name: (m,)}."""
    z = x[..., 0] + 1j * x[..., 1]
    out = {}
    for name in names:
        if name == COS:
            out[name] = x[..., 0].mean(axis=-1)
        else:
            out[name] = np.abs(np.mean(z ** int(name[5]), axis=-1))
    return out


def _rngs(seed, count: int) -> list[np.random.Generator]:
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [np.random.default_rng(s) for s in ss.spawn(count)]


def _seed_repr(seed):
    if isinstance(seed, np.random.SeedSequence):
        return dict(entropy=seed.entropy, spawn_key=list(seed.spawn_key))
    return seed if isinstance(seed, int | None) else repr(seed)


def loglog_fit(x, y, y_se=None) -> dict:
    """Least squares fit of log y = a + s log x; returns slope, its standard error, intercept.

    With ``y_se`` the fit is weighted by the propagated errors of log y (se/y) and the slope's
    standard error is the weighted-fit one, inflated by sqrt(chi^2/dof) when the scatter exceeds
    the stated errors (Birge ratio); without, the ordinary residual-based standard error.
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    ok = (x > 0) & (y > 0) & np.isfinite(y)
    if y_se is not None:
        s = np.asarray(y_se, float) / np.where(y > 0, y, 1.0)
        ok &= np.isfinite(s) & (s > 0)
    if ok.sum() < 2:
        return dict(slope=float("nan"), slope_se=float("nan"), intercept=float("nan"),
                    points=int(ok.sum()), chi2_dof=float("nan"))
    lx, ly = np.log(x[ok]), np.log(y[ok])
    w = np.ones_like(lx) if y_se is None else 1.0 / s[ok] ** 2
    A = np.stack([np.ones_like(lx), lx], axis=1)
    cov = np.linalg.inv(A.T @ (A * w[:, None]))
    coef = cov @ (A.T @ (w * ly))
    resid = ly - A @ coef
    dof = lx.size - 2
    chi2_dof = float(np.sum(w * resid**2) / dof) if dof > 0 else float("nan")
    if y_se is None:
        scale = chi2_dof if dof > 0 else float("nan")
    else:
        scale = max(1.0, chi2_dof) if dof > 0 else 1.0
    return dict(slope=float(coef[1]), slope_se=float(np.sqrt(cov[1, 1] * scale)),
                intercept=float(coef[0]), points=int(lx.size), chi2_dof=chi2_dof)


def integrated_autocorrelation_time(series, c: float = 5.0) -> float:
    """Integrated autocorrelation time tau = 1 + 2 sum_{l>=1} r(l) (in samples), with Sokal's
    automatic window (smallest W with W >= c tau(W)). ``series``: (length,) or (replicas,
    length) (autocovariances averaged over replicas)."""
    a = np.atleast_2d(np.asarray(series, float))
    a = a - a.mean(axis=1, keepdims=True)
    L = a.shape[1]
    f = np.fft.rfft(a, 2 * L, axis=1)
    acov = np.fft.irfft(f * np.conj(f), axis=1)[:, :L].mean(axis=0) / L
    if acov[0] <= 0:
        return 1.0
    r = acov / acov[0]
    taus = 1.0 + 2.0 * np.cumsum(r[1:])
    for W in range(1, L - 1):
        if W >= c * taus[W - 1]:
            return float(taus[W - 1])
    return float(taus[-1])


def _figure(ncols: int = 1, nrows: int = 1, size=(6.0, 4.0)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), constrained_layout=True)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes.ravel()


# ---------------------------------------------------------------------------------------
# per-time comparison
# ---------------------------------------------------------------------------------------
@dataclass
class Comparison:
    """Result of :func:`compare`.

    Attributes
    ----------
    t : (m,) save times
    names : observable names ("|rho_1|", "|rho_2|", "|rho_3|" and possibly "<cos theta>")
    pde : {name: (m,)} PDE values
    samples : {name: (replicas, m)} one value per particle system
    n, replicas : ensemble size
    params : resolved parameters (beta, kappa, dynamics, dt, method, seed, ...)
    """

    t: np.ndarray
    names: tuple
    pde: dict
    samples: dict
    n: int
    replicas: int
    params: dict = field(default_factory=dict)
    wall_time_pde: float = 0.0
    wall_time_particles: float = 0.0
    _solution: object = field(default=None, repr=False)  # the PDE Solution

    def mean(self, name: str) -> np.ndarray:
        return self.samples[name].mean(axis=0)

    def sem(self, name: str) -> np.ndarray:
        """Standard error of the ensemble mean (sample std / sqrt(replicas))."""
        return self.samples[name].std(axis=0, ddof=1) / np.sqrt(self.replicas)

    def diff(self, name: str) -> np.ndarray:
        """Ensemble mean minus PDE value."""
        return self.mean(name) - self.pde[name]

    def zscore(self, name: str) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.diff(name) / self.sem(name)

    def band(self, name: str, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Student-t confidence band for the ensemble mean (replicas - 1 degrees of freedom)."""
        q = stats.t.ppf(0.5 + level / 2, self.replicas - 1)
        m, s = self.mean(name), self.sem(name)
        return m - q * s, m + q * s

    def within(self, name: str, sigmas: float | None = None, level: float = 0.95) -> np.ndarray:
        """Whether the PDE value lies in the band: |diff| <= sigmas * sem (given), else inside
        the ``level`` Student-t band."""
        if sigmas is not None:
            return np.abs(self.diff(name)) <= sigmas * self.sem(name)
        lo, hi = self.band(name, level)
        return (self.pde[name] >= lo) & (self.pde[name] <= hi)

    def summary(self) -> dict:
        out = dict(n=self.n, replicas=self.replicas, params=self.params, t=self.t,
                   wall_time_pde_s=self.wall_time_pde,
                   wall_time_particles_s=self.wall_time_particles, observables={})
        for name in self.names:
            lo, hi = self.band(name)
            out["observables"][name] = dict(
                pde=self.pde[name], mean=self.mean(name), sem=self.sem(name),
                band95_lo=lo, band95_hi=hi, diff=self.diff(name), zscore=self.zscore(name),
                within95=self.within(name), max_abs_zscore=float(np.max(np.abs(
                    np.nan_to_num(self.zscore(name), nan=0.0)))))
        return out

    def to_json(self, path) -> None:
        io.write_json(path, self.summary())

    def table(self) -> str:
        lines = [f"n = {self.n}, {self.replicas} replicas; mean +- sem (z = diff/sem)"]
        for name in self.names:
            lines.append(f"{name}:  {'t':>7} {'PDE':>10} {'particles':>10} {'sem':>9} {'z':>6}")
            m, s, z = self.mean(name), self.sem(name), self.zscore(name)
            for i, ti in enumerate(self.t):
                lines.append(f"{'':{len(name) + 3}}{ti:7.3f} {self.pde[name][i]:10.5f} "
                             f"{m[i]:10.5f} {s[i]:9.2e} {z[i]:6.2f}")
        return "\n".join(lines)

    def plot(self, path=None):
        """One panel per observable: PDE curve, ensemble mean with the 95% band, replicas."""
        fig, axes = _figure(len(self.names), 1, (4.5, 3.5))
        for ax, name in zip(axes, self.names, strict=True):
            for r in range(self.replicas):
                ax.plot(self.t, self.samples[name][r], color="0.8", lw=0.6)
            lo, hi = self.band(name)
            ax.fill_between(self.t, lo, hi, color="C0", alpha=0.3, label="95% band")
            ax.plot(self.t, self.mean(name), "C0o-", ms=3, label=f"particles, n={self.n}")
            ax.plot(self.t, self.pde[name], "k--", label="PDE")
            ax.set_xlabel("t")
            ax.set_title(name)
        axes[0].legend(fontsize=8)
        if path is not None:
            fig.savefig(path, dpi=110)
        return fig


def compare(model, basis, rho0, n: int, t_final: float, t_eval=None, *, replicas: int = 8,
            seed=0, dt: float = 1e-2, method: str = "auto", accuracy: float = 1e-10,
            pde_kwargs: dict | None = None, pde_solution=None) -> Comparison:
    """Evolve the PDE and ``replicas`` particle systems of ``n`` tokens from the same law rho0.

    Parameters
    ----------
    model : MeanFieldModel (dim = 2; attention or Kuramoto kernel)
    basis : CircleBasis
    rho0 : grid values (w.r.t. sigma) on ``basis.grid``, or a function of the grid; particles
        are sampled from it by the inverse CDF (:func:`sample_circle_density`).
    n : tokens per system
    t_final, t_eval : end time and save times (default 11 equispaced, t_final included)
    replicas : independent particle systems (>= 2 for error bars)
    seed : seeds the replicas through ``numpy.random.SeedSequence(seed).spawn``
    dt, method, accuracy : passed to :func:`simulate_particles`
    pde_kwargs : extra keyword arguments for :func:`meanfield.evolve` (default rtol 1e-9)
    pde_solution : a :class:`~meanfield.evolution.Solution` of this model and rho0 saved at
        ``t_eval`` (reused instead of evolving again, e.g. by :func:`convergence_study`)
    """
    from ..evolution import evolve

    _check_circle(model, basis)
    if isinstance(replicas, bool) or not isinstance(replicas, int | np.integer) or replicas < 2:
        raise ValueError(f"replicas must be an integer >= 2 (error bars), got {replicas!r}")
    rho = _grid_density(basis, rho0)
    t_final = float(t_final)
    if t_eval is None:
        t_eval = np.linspace(0.0, t_final, 11)
    t_eval = np.asarray(t_eval, float)
    names = AMPLITUDES if _rotation_invariant(basis, rho) else AMPLITUDES + (COS,)
    t0 = time.perf_counter()
    kw = dict(rtol=1e-9)
    kw.update(pde_kwargs or {})
    if pde_solution is not None:
        sol = pde_solution
        if sol.t.shape != t_eval.shape or not np.allclose(sol.t, t_eval, rtol=0, atol=1e-12):
            raise ValueError("pde_solution must be saved at t_eval")
    else:
        sol = evolve(model, basis, rho, t_final, t_eval, **kw)
    if not sol.success:
        raise RuntimeError(f"the PDE run failed: {sol.message}")
    t_pde = time.perf_counter() - t0
    pde = _pde_observables(basis, sol.coeffs, names)
    t0 = time.perf_counter()
    samples = {name: np.empty((replicas, sol.t.size)) for name in names}
    used = None
    for r, rng in enumerate(_rngs(seed, replicas)):
        ps = simulate_particles(model, n, init="density", density=rho, t_final=t_final, dt=dt,
                                t_eval=sol.t, seed=rng, method=method, accuracy=accuracy)
        used = ps.params["method"]
        for name, v in _particle_observables(ps.x, names).items():
            samples[name][r] = v
    params = dict(model=repr(model), basis=repr(basis), beta=model.beta, kappa=model.kappa,
                  dynamics=model.dynamics, dt=dt, method=used, seed=_seed_repr(seed),
                  accuracy=accuracy, t_final=t_final)
    out = Comparison(t=sol.t.copy(), names=names, pde=pde, samples=samples, n=int(n),
                     replicas=int(replicas), params=params, wall_time_pde=t_pde,
                     wall_time_particles=time.perf_counter() - t0, _solution=sol)
    return out


# ---------------------------------------------------------------------------------------
# convergence in n
# ---------------------------------------------------------------------------------------
@dataclass
class ConvergenceStudy:
    """Result of :func:`convergence_study`.

    ``mae`` (mean over replicas of the error, max over the comparison times) with ``mae_se``;
    ``bias`` (ensemble mean minus PDE at the last comparison time) with ``bias_se``;
    ``fit_mae`` and ``fit_bias``: :func:`loglog_fit` results (slope, slope_se, intercept);
    the bias fit uses only the n where |bias| > 2 bias_se (else its slope is nan).
    """

    n_values: np.ndarray
    observable: str
    t: np.ndarray
    mae: np.ndarray
    mae_se: np.ndarray
    bias: np.ndarray
    bias_se: np.ndarray
    fit_mae: dict
    fit_bias: dict
    replicas: int
    params: dict = field(default_factory=dict)
    wall_time: float = 0.0

    @property
    def slope(self) -> float:
        return self.fit_mae["slope"]

    @property
    def slope_se(self) -> float:
        return self.fit_mae["slope_se"]

    def summary(self) -> dict:
        return dict(observable=self.observable, t=self.t, n_values=self.n_values,
                    replicas=self.replicas, mae=self.mae, mae_se=self.mae_se, bias=self.bias,
                    bias_se=self.bias_se, fit_mae=self.fit_mae, fit_bias=self.fit_bias,
                    expected_slopes=dict(mae=-0.5, bias=-1.0), params=self.params,
                    wall_time_s=self.wall_time)

    def to_json(self, path) -> None:
        io.write_json(path, self.summary())

    def plot(self, path=None):
        fig, (ax,) = _figure()
        nv = self.n_values.astype(float)
        ax.errorbar(nv, self.mae, self.mae_se, fmt="o", color="C0",
                    label=f"mean |error|: slope {self.fit_mae['slope']:.3f} +- "
                          f"{self.fit_mae['slope_se']:.3f}")
        if np.isfinite(self.fit_mae["slope"]):
            ax.plot(nv, np.exp(self.fit_mae["intercept"]) * nv ** self.fit_mae["slope"], "C0-")
        ax.errorbar(nv, np.abs(self.bias), self.bias_se, fmt="s", color="C1", mfc="none",
                    label=f"|bias|: slope {self.fit_bias['slope']:.3f} +- "
                          f"{self.fit_bias['slope_se']:.3f}")
        if np.isfinite(self.fit_bias["slope"]):
            ax.plot(nv, np.exp(self.fit_bias["intercept"]) * nv ** self.fit_bias["slope"],
                    "C1-")
        ref = self.mae[0] * (nv / nv[0]) ** -0.5
        ax.plot(nv, ref, "k:", label=r"$n^{-1/2}$")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("n")
        ax.set_ylabel(f"error in {self.observable}")
        ax.legend(fontsize=8)
        if path is not None:
            fig.savefig(path, dpi=110)
        return fig


def convergence_study(model, basis, rho0, n_values, t, *, replicas: int = 16, seed=0,
                      observable: str = COS, dt: float = 1e-2, method: str = "auto",
                      accuracy: float = 1e-10) -> ConvergenceStudy:
    """Error of ``observable`` against the PDE over ``n_values`` with fitted log-log slopes.

    ``t``: comparison time(s); the per-replica error is max over these times of
    |particles - PDE|. Expected: mean absolute error ~ n^{-1/2} (fluctuations), bias of the
    ensemble mean ~ n^{-1} (resolving it needs replicas >> n |bias|^{-2}...; unresolved points
    are left out of its fit). Seeds differ per n (``SeedSequence(seed).spawn``).
    """
    t0 = time.perf_counter()
    ts = np.atleast_1d(np.asarray(t, float))
    if ts.ndim != 1 or np.any(ts <= 0) or np.any(np.diff(ts) <= 0):
        raise ValueError("t must be positive, increasing comparison time(s)")
    nv = np.asarray(n_values, dtype=np.int64)
    if nv.ndim != 1 or nv.size < 2 or np.any(nv < 1):
        raise ValueError("n_values must hold at least two positive integers")
    seeds = (seed if isinstance(seed, np.random.SeedSequence)
             else np.random.SeedSequence(seed)).spawn(nv.size)
    mae, mae_se, bias, bias_se = (np.empty(nv.size) for _ in range(4))
    sol = None
    for i, n in enumerate(nv):
        c = compare(model, basis, rho0, int(n), ts[-1], np.concatenate([[0.0], ts]),
                    replicas=replicas, seed=seeds[i], dt=dt, method=method, accuracy=accuracy,
                    pde_solution=sol)
        sol = c._solution
        if observable not in c.names:
            raise ValueError(f"observable {observable!r} not available (have {c.names})")
        dev = c.samples[observable][:, 1:] - c.pde[observable][1:]
        err = np.max(np.abs(dev), axis=1)
        mae[i], mae_se[i] = err.mean(), err.std(ddof=1) / np.sqrt(replicas)
        bias[i], bias_se[i] = dev[:, -1].mean(), dev[:, -1].std(ddof=1) / np.sqrt(replicas)
    resolved = np.abs(bias) > 2 * bias_se
    fit_bias = loglog_fit(nv[resolved], np.abs(bias[resolved]), bias_se[resolved])
    fit_bias["resolved"] = int(resolved.sum())
    return ConvergenceStudy(
        n_values=nv, observable=observable, t=ts, mae=mae, mae_se=mae_se, bias=bias,
        bias_se=bias_se, fit_mae=loglog_fit(nv, mae, mae_se), fit_bias=fit_bias,
        replicas=int(replicas), params=dict(model=repr(model), dt=dt, method=method,
                    seed=_seed_repr(seed)),
        wall_time=time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------
# stationary states
# ---------------------------------------------------------------------------------------
@dataclass
class StationaryComparison:
    """Result of :func:`stationary_comparison`: per observable ("|rho_1|", "|rho_2|") the
    stationary-state value ``pde``, the time- and replica-averaged particle value ``mean``,
    its batch-means standard error ``sem``, the z-score ``(mean - pde) / sem`` and the
    integrated autocorrelation time ``tau`` (in time units); ``series`` holds the sampled
    time series (replicas, samples)."""

    pde: dict
    mean: dict
    sem: dict
    z: dict
    tau: dict
    series: dict
    sample_times: np.ndarray
    n: int
    replicas: int
    params: dict = field(default_factory=dict)
    wall_time: float = 0.0

    @property
    def zscore(self) -> float:
        return self.z["|rho_1|"]

    def summary(self) -> dict:
        return dict(n=self.n, replicas=self.replicas, params=self.params, pde=self.pde,
                    mean=self.mean, sem=self.sem, z=self.z, tau=self.tau,
                    wall_time_s=self.wall_time)

    def to_json(self, path) -> None:
        io.write_json(path, self.summary())

    def plot(self, path=None):
        fig, axes = _figure(len(self.series), 1, (4.5, 3.5))
        for ax, (name, s) in zip(axes, self.series.items(), strict=True):
            for r in range(s.shape[0]):
                ax.plot(self.sample_times, s[r], lw=0.5, alpha=0.6)
            ax.axhline(self.pde[name], color="k", ls="--", label="stationary state")
            ax.axhspan(self.mean[name] - 2 * self.sem[name], self.mean[name] + 2 * self.sem[name],
                       color="C0", alpha=0.3, label="particles, mean +- 2 sem")
            ax.set_title(f"{name}: z = {self.z[name]:.2f}")
            ax.set_xlabel("t")
        axes[0].legend(fontsize=8)
        if path is not None:
            fig.savefig(path, dpi=110)
        return fig


def stationary_comparison(model, basis, n: int, *, burn_in: float, t_average: float,
                          replicas: int = 4, dt: float = 1e-2, seed=0, guess=None,
                          sample_every: float = 0.1, batches: int = 10, method: str = "auto",
                          accuracy: float = 1e-8, init: str = "stationary",
                          extrapolate_dt: bool = False) -> StationaryComparison:
    """Long noisy particle runs against :func:`meanfield.stationary_state`.

    Each replica starts from ``init`` ("stationary": sampled from the stationary density;
    "uniform"), runs ``burn_in``, then ``t_average`` while |rho_1| and |rho_2| are sampled
    every ``sample_every``. Error bar: batch means — each replica's series is cut into
    ``batches`` consecutive batches and the standard error is the spread of all batch means
    / sqrt(replicas * batches); valid while a batch (t_average / batches) is much longer than
    the integrated autocorrelation time, which is reported (``tau``) to check.
    ``guess``: the Newton guess (default a von Mises density of concentration 6).

    The Euler–Maruyama scheme has weak order 1: its stationary law is off by O(dt) (at
    beta = 3, kappa = 1 about -1.8 dt in |rho_1|, measured), which long runs resolve. With
    ``extrapolate_dt=True`` the runs are repeated at dt/2 (independent seeds) and the
    Talay–Tubaro extrapolation 2 a(dt/2) - a(dt) is reported (error O(dt^2), standard error
    sqrt(4 sem(dt/2)^2 + sem(dt)^2)); the raw values are kept in ``params["raw"]``.
    """
    if extrapolate_dt:
        kw = dict(burn_in=burn_in, t_average=t_average, replicas=replicas, guess=guess,
                  sample_every=sample_every, batches=batches, method=method,
                  accuracy=accuracy, init=init)
        seeds = (seed if isinstance(seed, np.random.SeedSequence)
                 else np.random.SeedSequence(seed)).spawn(2)
        t0 = time.perf_counter()
        a = stationary_comparison(model, basis, n, dt=dt, seed=seeds[0], **kw)
        b = stationary_comparison(model, basis, n, dt=dt / 2, seed=seeds[1], **kw)
        mean = {k: 2 * b.mean[k] - a.mean[k] for k in a.mean}
        sem = {k: float(np.sqrt(4 * b.sem[k] ** 2 + a.sem[k] ** 2)) for k in a.mean}
        z = {k: (mean[k] - a.pde[k]) / sem[k] for k in a.mean}
        params = dict(b.params, dt=dt, seed=_seed_repr(seed), extrapolate_dt=True,
                      raw={str(dt): dict(mean=a.mean, sem=a.sem, z=a.z),
                           str(dt / 2): dict(mean=b.mean, sem=b.sem, z=b.z)})
        return StationaryComparison(pde=a.pde, mean=mean, sem=sem, z=z, tau=b.tau,
                                    series=b.series, sample_times=b.sample_times, n=int(n),
                                    replicas=int(replicas), params=params,
                                    wall_time=time.perf_counter() - t0)
    from ..initial import von_mises
    from ..stationary import stationary_state

    _check_circle(model, basis)
    if not np.isfinite(model.kappa):
        raise ValueError("the stationary comparison needs noise: kappa must be finite")
    if not (burn_in >= 0 and t_average > 0 and sample_every > 0):
        raise ValueError("need burn_in >= 0, t_average > 0, sample_every > 0")
    t0 = time.perf_counter()
    st = stationary_state(model, basis, von_mises(basis, 6.0) if guess is None else guess)
    names = ("|rho_1|", "|rho_2|")
    pde = {name: st.amplitude(int(name[5])) for name in names}
    m = int(round(t_average / sample_every))
    if m < 2 * batches:
        raise ValueError(f"t_average / sample_every = {m} samples; need >= 2 * batches")
    sample_times = burn_in + sample_every * np.arange(1, m + 1)
    series = {name: np.empty((replicas, m)) for name in names}
    chunk = 200
    used = None
    for r, rng in enumerate(_rngs(seed, replicas)):
        kw = dict(dt=dt, seed=rng, method=method, accuracy=accuracy)
        if init == "stationary":
            ps = simulate_particles(model, n, init="density", density=st.rho,
                                    t_final=max(burn_in, 0.0), t_eval=[burn_in], **kw)
        elif init == "uniform":
            ps = simulate_particles(model, n, t_final=burn_in, t_eval=[burn_in], **kw)
        else:
            raise ValueError(f"init must be 'stationary' or 'uniform', got {init!r}")
        used = ps.params["method"]
        x = ps.x[-1]
        for j0 in range(0, m, chunk):
            j1 = min(m, j0 + chunk)
            te = sample_every * np.arange(1, j1 - j0 + 1)
            ps = simulate_particles(model, x0=x, t_final=te[-1], t_eval=te,
                                    normalize_x0=True, **kw)
            x = ps.x[-1]
            for name, v in _particle_observables(ps.x, names).items():
                series[name][r, j0:j1] = v
    mean, sem, z, tau = {}, {}, {}, {}
    for name in names:
        s = series[name]
        L = m // batches
        bm = s[:, : L * batches].reshape(replicas, batches, L).mean(axis=2).ravel()
        mean[name] = float(s.mean())
        sem[name] = float(bm.std(ddof=1) / np.sqrt(bm.size))
        z[name] = (mean[name] - pde[name]) / sem[name]
        tau[name] = integrated_autocorrelation_time(s) * sample_every
    params = dict(model=repr(model), basis=repr(basis), beta=model.beta, kappa=model.kappa,
                  dynamics=model.dynamics, dt=dt, method=used, seed=_seed_repr(seed),
                  burn_in=burn_in, t_average=t_average, sample_every=sample_every,
                  batches=batches, init=init, stationary_residual=st.residual,
                  stationary_stable=st.stable)
    return StationaryComparison(pde=pde, mean=mean, sem=sem, z=z, tau=tau, series=series,
                                sample_times=sample_times, n=int(n), replicas=int(replicas),
                                params=params, wall_time=time.perf_counter() - t0)
