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
- :func:`structure_factor_study` measures the static structure factor S_k = n E|rhohat_k|^2 of
  noisy USA particles around the uniform state (an O(1/n) quantity, since the PDE's rho_k = 0
  there) against its closed form from the Gibbs measure (:func:`gibbs_structure_factor`) and
  fits the n^{-1} slope of E|rhohat_k|^2.

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
from .._validate import check_modes
from ..bases.zonal import gauss_gegenbauer, log_harmonic_dimension, orthonormal_gegenbauer
from .simulate import simulate_particles

__all__ = ["compare", "Comparison", "convergence_study", "ConvergenceStudy",
           "stationary_comparison", "StationaryComparison", "structure_factor_study",
           "StructureFactorStudy", "gibbs_structure_factor", "loglog_fit",
           "integrated_autocorrelation_time"]

AMPLITUDES = ("|rho_1|", "|rho_2|", "|rho_3|")
COS = "<cos theta>"
#: highest mode of :func:`gibbs_structure_factor` (its quadrature grows with the mode)
MAX_STRUCTURE_MODE = 1000


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


def _batch_means(series: np.ndarray, batches: int) -> tuple[float, float]:
    """Mean and batch-means standard error of a (replicas, length) stationary series: each
    replica's series is cut into ``batches`` consecutive batches and the error is the spread
    of all batch means / sqrt(replicas * batches)."""
    s = np.atleast_2d(series)
    L = s.shape[1] // batches
    bm = s[:, : L * batches].reshape(s.shape[0], batches, L).mean(axis=2).ravel()
    return float(s.mean()), float(bm.std(ddof=1) / np.sqrt(bm.size))


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
        mean[name], sem[name] = _batch_means(s, batches)
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


# ---------------------------------------------------------------------------------------
# fluctuations around the uniform state: the static structure factor
# ---------------------------------------------------------------------------------------
def gibbs_structure_factor(kernel, kappa: float, dim: int = 2, modes=(1, 2, 3)) -> dict:
    """Structure factor of the finite-n Gibbs measure of noisy USA particles, to O(1/n).

    Noisy USA particles dx_i = P_{x_i}((1/n) sum_j e^{beta<x_i,x_j>} x_j) dt +
    sqrt(2/kappa) dB_i on S^{d-1} are the Langevin dynamics of H = (1/(2 beta n))
    sum_{i,j} e^{beta<x_i,x_j>} (beta = 0: (1/(2n)) sum <x_i,x_j>), so their invariant law is
    proportional to exp(kappa H) w.r.t. the product of the normalized uniform measures sigma.
    With the Funk–Hecke expansion e^{beta<x,y>} = sum_l lambda_l Z_l(<x,y>) (Z_l: the
    reproducing kernel of degree-l harmonics w.r.t. sigma, Z_l(1) = N_l) this is
    prod_l exp((n b_l / 2) <mu_n, Z_l mu_n>), b_l = kappa g_l = kappa lambda_l(beta)/beta, with
    <mu_n, Z_1 mu_n> = d |m|^2 (m = (1/n) sum x_j) and, on the circle, <mu_n, Z_k mu_n> =
    2 |rhohat_k|^2 (rhohat_k = (1/n) sum e^{ik theta_j}). A Hubbard–Stratonovich transform
    and a Laplace expansion of the field integral around 0 (valid while every b_l < 1, i.e.
    kappa < kappa_1 for beta >= 0) give, per harmonic component,

        S_l(n) = n E|rhohat_l|^2  (circle)  or  n E|m|^2  (l = 1, d >= 3)
               = 1/(1 - b_l) + c_l / n + O(n^{-2}),
        c_l = -b_l/(1 - b_l)^3 + D_l / (2 (1 - b_l)^2),

    where D_l is the Funk–Hecke coefficient of C(t)^2, C(t) = sum_{l>=1} G_l Z_l(t),
    G_l = b_l/(1 - b_l) (circle: D_k = sum_{p != 0, k} G_|p| G_|k-p|). The first term of c_l
    is the quartic cumulant of the uniform law, the second the cubic one at second order
    (both derived in this module; checked against the exact Kuramoto partition function
    Z = int e^{-n|h|^2/a} I_0(2|h|)^n, whose remainder (S - 1/(1-a) - c_1/n) n^2 lies within
    [0.5, 1.6] c_1^2 for a = b_1 <= 0.75). The n = infinity term is the Gaussian-fluctuation
    law (beta = 0, circle: 1/(1 - kappa/2), Bertini–Giacomin–Pakdaman 2010).

    Parameters
    ----------
    kernel : AttentionKernel or KuramotoKernel
    kappa : float
        Noise inverse temperature, finite, with every b_l < 1.
    dim : int
        d >= 2; for d >= 3 only ``modes=(1,)`` (the mean m) is available.
    modes : tuple of int
        Degrees l >= 1.

    Returns
    -------
    dict
        ``b`` (b_l for the modes), ``prediction`` (1/(1 - b_l)), ``correction`` (c_l),
        ``kappa_1`` (the first threshold), as float arrays over ``modes``.
    """
    modes = np.asarray(check_modes(modes, MAX_STRUCTURE_MODE), dtype=int)
    kappa = float(kappa)
    L = max(40, int(modes.max()) + 10, int(3 * abs(getattr(kernel, "beta", 0.0))) + 20)
    g = np.asarray(kernel.coefficients(L, dim), float)[1:]  # g_1..g_L
    b = kappa * g
    if np.any(b >= 1):
        raise ValueError(f"kappa={kappa:g} is not below the first bifurcation: need "
                         f"kappa * g_l < 1 for all l (kappa_1 = {1 / g[0]:.6g})")
    G = b / (1 - b)
    # Z_l(t) = sqrt(N_l) Q_l(t) with Q_l the sigma-orthonormal zonal polynomials; C^2 has
    # degree 2L and D_l needs degree <= 3L, within the rule's 2 (2L + 16) - 1
    sqrt_n = np.exp(0.5 * log_harmonic_dimension(np.arange(L + 1), dim))
    t, log_w = gauss_gegenbauer(2 * L + 16, dim)
    Q = orthonormal_gegenbauer(L, dim, t)  # (q, L+1)
    C = Q[:, 1:] @ (G * sqrt_n[1:])
    D = (np.exp(log_w) * C**2) @ Q / sqrt_n  # Funk–Hecke coefficients of C^2
    bm = b[modes - 1]
    corr = -bm / (1 - bm) ** 3 + D[modes] / (2 * (1 - bm) ** 2)
    return dict(modes=modes, b=bm, prediction=1.0 / (1.0 - bm), correction=corr,
                kappa_1=float(1.0 / g[0]))


@dataclass
class StructureFactorStudy:
    """Result of :func:`structure_factor_study`.

    Arrays are indexed (n, mode); ``modes`` are the circle Fourier modes k (or ``(1,)``, the
    mean m, for d >= 3).

    Attributes
    ----------
    n_values : (p,) int
    modes : tuple of int
    dim : int
    estimate, se : (p, q)
        S_k = n E|rhohat_k|^2 (d >= 3: n E|m|^2), time- and replica-averaged, and its
        batch-means standard error (Talay–Tubaro extrapolated when ``extrapolate_dt``).
    tau : (p, q)
        Integrated autocorrelation time of n |rhohat_k|^2 (time units).
    prediction : (q,)
        Gaussian-fluctuation limit 1/(1 - kappa g_k) = 1/(1 - kappa/kappa_k).
    correction : (q,)
        c_k: S_k(n) = prediction + c_k/n + O(n^{-2}) (:func:`gibbs_structure_factor`).
    budget : (p, q)
        Allowance for the unknown O(n^{-2}) remainder, 2 (c_k/n)^2.
    zscore : (p, q)
        (estimate - prediction - c_k/n) / sqrt(se^2 + budget^2).
    fits : {mode: dict}
        :func:`loglog_fit` of E|rhohat_k|^2 = estimate/n against n (expected slope -1).
    fits_predicted : {mode: dict}
        The same fit of (prediction + c_k/n)/n: the slope expected at these finite n.
    """

    n_values: np.ndarray
    modes: tuple
    dim: int
    estimate: np.ndarray
    se: np.ndarray
    tau: np.ndarray
    prediction: np.ndarray
    correction: np.ndarray
    budget: np.ndarray
    zscore: np.ndarray
    fits: dict
    fits_predicted: dict
    replicas: int
    params: dict = field(default_factory=dict)
    wall_time: float = 0.0

    @property
    def slope(self) -> float:
        """Fitted slope of E|rhohat_1|^2 (d >= 3: E|m|^2) against n."""
        return self.fits[self.modes[0]]["slope"]

    @property
    def slope_se(self) -> float:
        return self.fits[self.modes[0]]["slope_se"]

    def predicted(self, n=None) -> np.ndarray:
        """prediction + c_k/n at ``n`` (default ``n_values``), shape (len(n), q)."""
        nv = np.atleast_1d(self.n_values if n is None else np.asarray(n, float))
        return self.prediction[None, :] + self.correction[None, :] / nv[:, None]

    def summary(self) -> dict:
        return dict(observable="n E|rhohat_k|^2" if self.dim == 2 else "n E|m|^2",
                    n_values=self.n_values, modes=list(self.modes), dim=self.dim,
                    replicas=self.replicas, estimate=self.estimate, se=self.se, tau=self.tau,
                    prediction=self.prediction, correction=self.correction,
                    predicted=self.predicted(), budget=self.budget, zscore=self.zscore,
                    fits={str(k): v for k, v in self.fits.items()},
                    fits_predicted={str(k): v for k, v in self.fits_predicted.items()},
                    expected_slope=-1.0, params=self.params, wall_time_s=self.wall_time)

    def to_json(self, path) -> None:
        io.write_json(path, self.summary())

    def plot(self, path=None):
        """Left: S_k(n) +- 2 se with the Gaussian limit and the O(1/n)-corrected curve.
        Right: E|rhohat_k|^2 against n on log-log axes with the fit and n^{-1}."""
        fig, (ax, bx) = _figure(2, 1, (4.8, 3.6))
        nv = self.n_values.astype(float)
        nn = np.geomspace(nv.min(), nv.max(), 100)
        curve = self.predicted(nn)
        lab = "n E|m|^2" if self.dim > 2 else "S_{k}"
        for j, k in enumerate(self.modes):
            c = f"C{j}"
            name = lab if self.dim > 2 else f"S_{k}"
            ax.errorbar(nv, self.estimate[:, j], 2 * self.se[:, j], fmt="o", color=c,
                        label=f"{name} (particles)")
            ax.axhline(self.prediction[j], color=c, ls=":")
            ax.plot(nn, curve[:, j], color=c, ls="--")
            y = self.estimate[:, j] / nv
            bx.errorbar(nv, y, 2 * self.se[:, j] / nv, fmt="o", color=c,
                        label=f"k={k}: slope {self.fits[k]['slope']:.3f} +- "
                              f"{self.fits[k]['slope_se']:.3f}")
            bx.plot(nn, curve[:, j] / nn, color=c, ls="--")
        ax.set_xscale("log")
        ax.set_xlabel("n")
        ax.set_ylabel("n E|rhohat_k|^2" if self.dim == 2 else "n E|m|^2")
        ax.set_title("dotted: 1/(1-kappa/kappa_k); dashed: + c_k/n", fontsize=9)
        ax.legend(fontsize=7)
        bx.set_xscale("log")
        bx.set_yscale("log")
        bx.set_xlabel("n")
        bx.set_ylabel("E|rhohat_k|^2" if self.dim == 2 else "E|m|^2")
        bx.set_title("expected slope -1", fontsize=9)
        bx.legend(fontsize=7)
        if path is not None:
            fig.savefig(path, dpi=110)
        return fig


def _check_positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _power_series(x: np.ndarray, modes, dim: int) -> np.ndarray:
    """x: (m, n, d) -> (q, m): n |rhohat_k|^2 (circle) or n |m|^2."""
    n = x.shape[1]
    if dim == 2:
        z = x[..., 0] + 1j * x[..., 1]
        return np.stack([n * np.abs(np.mean(z**k, axis=1)) ** 2 for k in modes])
    return (n * np.sum(np.mean(x, axis=1) ** 2, axis=-1))[None, :]


def _structure_factor_runs(model, n, modes, *, burn_in, t_average, replicas, dt, seed,
                           sample_every, batches, method, accuracy):
    m = int(round(t_average / sample_every))
    series = np.empty((len(modes), replicas, m))
    chunk = 200
    used = None
    for r, rng in enumerate(_rngs(seed, replicas)):
        kw = dict(dt=dt, seed=rng, method=method, accuracy=accuracy)
        ps = simulate_particles(model, n, init="uniform", t_final=burn_in, t_eval=[burn_in],
                                **kw)
        used = ps.params["method"]
        x = ps.x[-1]
        for j0 in range(0, m, chunk):
            j1 = min(m, j0 + chunk)
            te = sample_every * np.arange(1, j1 - j0 + 1)
            ps = simulate_particles(model, x0=x, t_final=te[-1], t_eval=te, normalize_x0=True,
                                    **kw)
            x = ps.x[-1]
            series[:, r, j0:j1] = _power_series(ps.x, modes, model.dim)
    est, se, tau = (np.empty(len(modes)) for _ in range(3))
    for j in range(len(modes)):
        est[j], se[j] = _batch_means(series[j], batches)
        tau[j] = integrated_autocorrelation_time(series[j]) * sample_every
    return est, se, tau, used


def structure_factor_study(model, n_values, *, t_average: float, burn_in: float | None = None,
                           replicas: int = 2, dt: float = 0.01, seed=0,
                           sample_every: float | None = None, batches: int = 10,
                           modes=(1, 2, 3), method: str = "auto", accuracy: float = 1e-10,
                           extrapolate_dt: bool = False) -> StructureFactorStudy:
    """Static structure factor of noisy USA particles around the uniform state, against n.

    For each n in ``n_values``, ``replicas`` particle systems (:func:`simulate_particles`,
    uniform initial tokens) run ``burn_in``, then ``t_average`` while n |rhohat_k|^2
    (circle, rhohat_k = (1/n) sum_j e^{ik theta_j}) or n |m|^2 (d >= 3, m = (1/n) sum_j x_j)
    is sampled every ``sample_every``; the time and replica average estimates the structure
    factor S_k = n E|rhohat_k|^2 of the stationary (Gibbs) law, with a batch-means standard
    error (each replica cut into ``batches`` batches; the integrated autocorrelation time is
    reported in ``tau`` to check that a batch, t_average / batches, is much longer).

    Since the PDE's rho_k vanishes at the uniform state, E|rhohat_k|^2 - |rho_k|^2 = S_k / n
    is an O(1/n) bias of a quadratic observable with a closed form: below the first
    bifurcation (kappa < kappa_1 = beta / I_1(beta) on the circle, beta/lambda_1(beta) on
    S^{d-1}) S_k -> 1/(1 - kappa/kappa_k), kappa_k = 1/g_k (circle: beta/I_k(beta);
    beta = 0: 1/(1 - kappa/2); S^{d-1}, l = 1: 1/(1 - kappa lambda_1(beta)/beta)), with the
    O(1/n) term c_k/n of :func:`gibbs_structure_factor`. The fitted log-log slope of
    E|rhohat_k|^2 against n is expected to be -1 (``fits_predicted`` gives the slope of the
    corrected prediction at these n, which differs from -1 by O(c_k/(n S_k))).

    Euler–Maruyama bias. The stationary law of the discretized chain is off by O(dt): the
    retraction of the ambient Gaussian step enlarges the effective angular diffusion by
    about (1 + 2 dt/kappa), i.e. lowers the effective kappa, so S_k is biased low by about
    S_k^2 b_k (2 dt/kappa) (b_k = kappa/kappa_k). Measured at beta = 1, kappa = kappa_1/2,
    n = 30: S_1 ~ S_1(0) - 4.5 dt on the circle and S_1(0) - 2.8 dt on S^2, i.e. 2.3% and
    1.4% at dt = 0.01. Choose dt so that this is below the statistical error, or set
    ``extrapolate_dt=True``: the runs are repeated at dt/2 (independent seeds) and the
    Talay–Tubaro extrapolation 2 S(dt/2) - S(dt) is reported (bias O(dt^2), standard error
    sqrt(4 se(dt/2)^2 + se(dt)^2), about 3x the cost of a run at dt/2); the raw values are in
    ``params["raw"]``.

    Parameters
    ----------
    model : MeanFieldModel
        USA dynamics, AttentionKernel or KuramotoKernel, finite kappa < kappa_1, any dim.
    n_values : sequence of int
        Token numbers (>= 1 each; the slope fit needs >= 2 distinct values).
    t_average : float
        Averaging time per replica (after the burn-in).
    burn_in : float, optional
        Discarded time from the uniform start; default 5 / gamma_1, gamma_1 =
        (d-1)(1 - b_1)/kappa the relaxation rate of the first mode.
    replicas : int
        Independent systems per n (seeded by ``SeedSequence(seed).spawn``, per n then per
        replica).
    dt : float
        Euler–Maruyama step (see above).
    sample_every : float, optional
        Sampling interval (default 5 dt).
    batches : int
        Batches per replica for the error bar (>= 2).
    modes : tuple of int
        Circle Fourier modes k >= 1 (default 1, 2, 3); for d >= 3 only (1,) (the mean).
    method, accuracy : passed to :func:`simulate_particles` ("auto": direct O(n^2) summation
        below AUTO_SPECTRAL_N tokens).
    extrapolate_dt : bool
        Talay–Tubaro extrapolation in dt (see above).

    Returns
    -------
    StructureFactorStudy

    Examples
    --------
    >>> import meanfield as mf
    >>> from meanfield.particles.compare import structure_factor_study
    >>> kappa_1 = mf.AttentionKernel(1.0).threshold(1)          # beta / I_1(beta)
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=0.5 * kappa_1)
    >>> st = structure_factor_study(model, [10, 20], t_average=20.0, dt=0.05, replicas=1,
    ...                             modes=(1, 2), seed=0)
    >>> st.prediction.round(4)                                  # 1/(1 - kappa/kappa_k)
    array([2.    , 1.1365])
    >>> st.correction.round(3)                                  # S_k(n) = limit + c_k/n + ...
    array([-3.443,  0.496])
    >>> st.estimate.shape, st.se.shape                          # (n, mode)
    ((2, 2), (2, 2))
    """
    from ..kernels import AttentionKernel, KuramotoKernel
    from ..model import MeanFieldModel

    t0 = time.perf_counter()
    if not isinstance(model, MeanFieldModel):
        raise TypeError(f"model must be a MeanFieldModel, got {type(model).__name__}")
    if model.dynamics != "usa":
        raise ValueError("the structure factor's closed form holds for the USA dynamics (a "
                         "gradient flow with Gibbs invariant law); got "
                         f"dynamics={model.dynamics!r}")
    if not isinstance(model.kernel, AttentionKernel | KuramotoKernel):
        raise ValueError("structure_factor_study needs the attention kernel e^{beta<x,y>} "
                         f"(AttentionKernel or KuramotoKernel), got {model.kernel!r}")
    kappa = float(model.kappa)
    if not np.isfinite(kappa):
        raise ValueError("the structure factor needs noise: kappa must be finite")
    dim = int(model.dim)
    modes = tuple(int(_check_positive_int(k, "each mode")) for k in np.atleast_1d(modes))
    if len(modes) == 0 or len(set(modes)) != len(modes):
        raise ValueError(f"modes must be distinct positive integers, got {modes!r}")
    if dim > 2 and modes != (1,):
        raise ValueError(f"on S^{dim - 1} (d >= 3) only modes=(1,) (n|m|^2) is implemented, "
                         f"got {modes!r}")
    gib = gibbs_structure_factor(model.kernel, kappa, dim, modes)  # raises if kappa >= kappa_1
    nv_list = list(np.atleast_1d(n_values))
    if len(nv_list) == 0:
        raise ValueError("n_values must hold at least one positive integer")
    nv = np.array([_check_positive_int(n, "each of n_values") for n in nv_list], np.int64)
    replicas = _check_positive_int(replicas, "replicas")
    batches = _check_positive_int(batches, "batches", 2)
    dt = float(dt)
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be finite and > 0, got {dt}")
    sample_every = 5 * dt if sample_every is None else float(sample_every)
    g1 = float(model.kernel.coefficients(1, dim)[1])
    gamma1 = (dim - 1) * (1 - kappa * g1) / kappa
    burn_in = 5.0 / gamma1 if burn_in is None else float(burn_in)
    t_average = float(t_average)
    if not (burn_in >= 0 and t_average > 0 and sample_every > 0):
        raise ValueError("need burn_in >= 0, t_average > 0, sample_every > 0")
    if int(round(t_average / sample_every)) < 2 * batches:
        raise ValueError(f"t_average / sample_every = {int(round(t_average / sample_every))} "
                         f"samples; need >= 2 * batches = {2 * batches}")
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    seeds = ss.spawn(nv.size)
    q = len(modes)
    est, se, tau = (np.empty((nv.size, q)) for _ in range(3))
    raw = {}
    used = None
    kw = dict(burn_in=burn_in, t_average=t_average, replicas=replicas, batches=batches,
              sample_every=sample_every, method=method, accuracy=accuracy)
    for i, n in enumerate(nv):
        if extrapolate_dt:
            sa, sb = seeds[i].spawn(2)
            a = _structure_factor_runs(model, int(n), modes, dt=dt, seed=sa, **kw)
            b = _structure_factor_runs(model, int(n), modes, dt=dt / 2, seed=sb, **kw)
            est[i] = 2 * b[0] - a[0]
            se[i] = np.sqrt(4 * b[1] ** 2 + a[1] ** 2)
            tau[i] = b[2]
            used = b[3]
            raw[int(n)] = {str(dt): dict(estimate=a[0], se=a[1]),
                           str(dt / 2): dict(estimate=b[0], se=b[1])}
        else:
            est[i], se[i], tau[i], used = _structure_factor_runs(model, int(n), modes, dt=dt,
                                                                 seed=seeds[i], **kw)
    pred, corr = gib["prediction"], gib["correction"]
    predicted = pred[None, :] + corr[None, :] / nv[:, None]
    budget = 2.0 * (corr[None, :] / nv[:, None]) ** 2
    zscore = (est - predicted) / np.sqrt(se**2 + budget**2)
    fits, fits_pred = {}, {}
    for j, k in enumerate(modes):
        fits[k] = loglog_fit(nv, est[:, j] / nv, se[:, j] / nv)
        fits_pred[k] = loglog_fit(nv, predicted[:, j] / nv)
    params = dict(model=repr(model), beta=model.beta, kappa=kappa, dim=dim,
                  kappa_1=gib["kappa_1"], b=gib["b"], dt=dt, method=used, seed=_seed_repr(seed),
                  burn_in=burn_in, t_average=t_average, sample_every=sample_every,
                  batches=batches, extrapolate_dt=bool(extrapolate_dt))
    if extrapolate_dt:
        params["raw"] = raw
    return StructureFactorStudy(
        n_values=nv, modes=modes, dim=dim, estimate=est, se=se, tau=tau, prediction=pred,
        correction=corr, budget=budget, zscore=zscore, fits=fits, fits_predicted=fits_pred,
        replicas=replicas, params=params, wall_time=time.perf_counter() - t0)
