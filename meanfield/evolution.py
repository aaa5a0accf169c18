"""Time evolution of the mean-field PDE: ``evolve`` and its ``Solution``.

The PDE d_t rho = (1/kappa) Lap rho - div(rho v[rho]) is integrated in the basis's
coefficient space as du/dt = L u + N(u), with L = (1/kappa) Lap diagonal (treated exactly
by the exponential integrator, implicitly by the IMEX schemes) and N the transport term.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import io
from ._signals import sigterm_raises
from ._validate import (
    check_basis,
    check_int,
    check_model,
    check_positive,
    check_real,
    real_grid_values,
)
from .free_energy import entropy, interaction_energy
from .fused import fused_transport
from .progress import ProgressBar
from .rosenbrock import RODAS4  # noqa: F401  (registers the 'rodas4' stepper)
from .timestepping import STEPPERS, StepController, get_stepper, integrate


@dataclass
class Solution:
    """Result of :func:`evolve`.

    Attributes
    ----------
    t : ndarray (m,)
        Save times.
    coeffs : ndarray (m, *basis.coeff_shape)
        Spectral coefficients at the save times (w.r.t. sigma).
    status : {"success", "failed"}
        "failed" when the run stopped early; ``message`` says when and why, and the
        arrays hold everything saved before.
    step_error : float
        Fixed-step runs: the largest step-doubling estimate of the local error of one step
        of ``dt`` (relative to the mass coefficient) at the save times checked; above
        ``step_tol`` the run warns and ``message`` says so. NaN for adaptive runs.

    Examples
    --------
    >>> import numpy as np
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> rho0 = mf.initial.perturbed_uniform(basis, 0.1, seed=0)
    >>> sol = mf.evolve(model, basis, rho0, 5.0, [0, 1, 5])
    >>> sol.t, sol.coeffs.shape, sol.status
    (array([0., 1., 5.]), (3, 32), 'success')
    """

    model: object
    basis: object
    t: np.ndarray
    coeffs: np.ndarray
    status: str = "success"
    message: str = ""
    method: str = ""
    n_steps: int = 0
    n_rejected: int = 0
    nfev: int = 0
    wall_time: float = 0.0
    max_tail: float = 0.0
    step_error: float = math.nan
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def success(self) -> bool:
        """True if the run reached ``t_final`` (``status == "success"``).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> rho0 = mf.initial.perturbed_uniform(basis, 0.1, seed=0)
        >>> sol = mf.evolve(model, basis, rho0, 5.0, [0, 1, 5])
        >>> sol.success
        True
        """
        return self.status == "success"

    @property
    def rho(self) -> np.ndarray:
        """Densities on ``basis.grid`` at the save times, shape (m, *grid shape).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> rho0 = mf.initial.perturbed_uniform(basis, 0.1, seed=0)
        >>> sol = mf.evolve(model, basis, rho0, 5.0, [0, 1, 5])
        >>> sol.rho.shape  # (save times, grid)
        (3, 96)
        """
        if "rho" not in self._cache:
            rho = self.basis.backward(self.coeffs)
            rho.setflags(write=False)  # cached: copy before modifying
            self._cache["rho"] = rho
        return self._cache["rho"]

    @property
    def mass(self) -> np.ndarray:
        """int rho d sigma at the save times.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> rho0 = mf.initial.perturbed_uniform(basis, 0.1, seed=0)
        >>> sol = mf.evolve(model, basis, rho0, 5.0, [0, 1, 5])
        >>> np.round(sol.mass, 12)  # conserved
        array([1., 1., 1.])
        """
        return self.basis.mass(self.coeffs)

    @property
    def energy(self) -> np.ndarray:
        """(1/2) int int G rho rho at the save times (see :mod:`meanfield.free_energy`).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> rho0 = mf.initial.perturbed_uniform(basis, 0.1, seed=0)
        >>> sol = mf.evolve(model, basis, rho0, 5.0, [0, 1, 5])
        >>> bool(np.all(np.diff(sol.energy) > 0))  # the state concentrates
        True
        """
        if "energy" not in self._cache:
            energy = interaction_energy(self.model, self.basis, self.rho)
            energy.setflags(write=False)
            self._cache["energy"] = energy
        return self._cache["energy"]

    @property
    def free_energy(self) -> np.ndarray:
        """F(rho) of DESIGN.md §1 at the save times (-energy when kappa = inf).

        F is the Lyapunov functional of the USA flow; for SA runs it is the same
        functional evaluated along the run, which need not decrease.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> rho0 = mf.initial.perturbed_uniform(basis, 0.1, seed=0)
        >>> sol = mf.evolve(model, basis, rho0, 5.0, [0, 1, 5])
        >>> bool(np.all(np.diff(sol.free_energy) <= 0))  # a Lyapunov functional of USA
        True
        """
        if np.isinf(self.model.kappa):
            return -self.energy
        return entropy(self.basis, self.rho) / self.model.kappa - self.energy

    def amplitude(self, k: int) -> np.ndarray:
        """Order parameter of degree k at the save times (circle: |rho_k|).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> rho0 = mf.initial.perturbed_uniform(basis, 0.1, seed=0)
        >>> sol = mf.evolve(model, basis, rho0, 5.0, [0, 1, 5])
        >>> np.round(sol.amplitude(1), 4)  # mode 1 grows: kappa > kappa_1
        array([0.0382, 0.0525, 0.1896])
        """
        return self.basis.amplitude(self.coeffs, k)

    def summary(self) -> dict:
        """JSON-ready description of the run and its final state.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> rho0 = mf.initial.perturbed_uniform(basis, 0.1, seed=0)
        >>> sol = mf.evolve(model, basis, rho0, 5.0, [0, 1, 5])
        >>> s = sol.summary()
        >>> s["status"], s["t_final"], s["n_saves"], s["mass_drift"] < 1e-12
        ('success', 5.0, 3, True)
        """
        rho_end = self.rho[-1]
        has_f = self.model.interaction.reports_energy
        return {
            "model": repr(self.model), "basis": repr(self.basis), "method": self.method,
            "status": self.status, "message": self.message,
            "t_final": float(self.t[-1]), "n_saves": int(self.t.size),
            "n_steps": self.n_steps, "n_rejected": self.n_rejected, "nfev": self.nfev,
            "max_tail": self.max_tail,
            "step_error": None if math.isnan(self.step_error) else self.step_error,
            "wall_time_s": self.wall_time,
            "mass_drift": float(np.max(np.abs(self.mass - self.mass[0]))),
            "free_energy_start": float(self.free_energy[0]) if has_f else None,
            "free_energy_end": float(self.free_energy[-1]) if has_f else None,
            "rho_min_end": float(rho_end.min()), "rho_max_end": float(rho_end.max()),
            "amplitudes_end": {str(k): float(self.amplitude(k)[-1])
                               for k in range(1, min(4, self.basis.max_degree) + 1)},
        }

    def save(self, path) -> None:
        """Write t, coefficients, densities and histories to an .npz file atomically.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> rho0 = mf.initial.perturbed_uniform(basis, 0.1, seed=0)
        >>> sol = mf.evolve(model, basis, rho0, 5.0, [0, 1, 5])
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     sol.save(Path(tmp) / "run.npz")
        ...     data = np.load(Path(tmp) / "run.npz")
        ...     print(data["rho"].shape, str(data["status"]))
        (3, 96) success
        """
        energies = (dict(free_energy=self.free_energy, energy=self.energy)
                    if self.model.interaction.reports_energy else {})
        io.save_npz(path, t=self.t, coeffs=self.coeffs, grid=self.basis.grid, rho=self.rho,
                    mass=self.mass, **energies, status=self.status, message=self.message,
                    model=repr(self.model), basis=repr(self.basis))


def _prepare_rho0(basis, rho0, normalize: bool) -> np.ndarray:
    if callable(rho0):
        rho0 = rho0(basis.grid)
    rho0 = real_grid_values(rho0, "rho0")
    if rho0.shape != basis.shape:
        raise ValueError(f"rho0 must hold grid values of shape {basis.shape} "
                         f"(basis.grid), got shape {rho0.shape}")
    if not np.all(np.isfinite(rho0)):
        raise ValueError(f"rho0 contains {np.count_nonzero(~np.isfinite(rho0))} NaN/inf values")
    vals = np.where(basis.reliable_nodes, rho0, 0.0)  # see docs/basis_interface.md
    if vals.min() < -1e-14 * np.max(np.abs(vals)):
        i = np.unravel_index(np.argmin(vals), rho0.shape)
        raise ValueError(f"rho0 must be nonnegative (a density w.r.t. sigma); min = "
                         f"{vals.min():.3e} at grid index {i}")
    mass = float(basis.integrate(rho0))
    if mass <= 0:
        raise ValueError(f"rho0 has mass {mass:.3e}; a density needs positive mass")
    if abs(mass - 1.0) > 1e-10:
        if not normalize:
            hint = (" (that is 2 pi: a density in d theta? use CircleBasis.from_dtheta)"
                    if abs(mass - 2 * np.pi) < 1e-8 else "")
            raise ValueError(f"rho0 is not normalized: int rho0 d sigma = {mass:.12g} (must be 1 "
                             f"w.r.t. the normalized measure sigma){hint}; pass normalize=True "
                             "to rescale")
        rho0 = rho0 / mass
    return rho0


def _save_times(t_final: float, t_eval) -> tuple[np.ndarray, bool]:
    if not (np.isfinite(t_final) and t_final > 0):
        raise ValueError(f"t_final must be finite and > 0, got {t_final}")
    if t_eval is None:
        return np.linspace(0.0, t_final, 51), True
    t_eval = np.atleast_1d(np.asarray(t_eval, dtype=float))
    if t_eval.ndim != 1 or t_eval.size == 0 or not np.all(np.isfinite(t_eval)):
        raise ValueError("t_eval must be a non-empty 1-D array of finite times")
    if np.any(np.diff(t_eval) <= 0):
        raise ValueError("t_eval must be strictly increasing")
    if t_eval[0] < 0 or t_eval[-1] > t_final * (1 + 1e-14):
        raise ValueError(f"t_eval must lie in [0, t_final={t_final}], got "
                         f"[{t_eval[0]}, {t_eval[-1]}]")
    if t_eval[-1] < t_final:  # the run always reaches t_final, which is always saved
        t_eval = np.append(t_eval, t_final)
    has_zero = t_eval[0] == 0
    return (t_eval if has_zero else np.concatenate([[0.0], t_eval])), has_zero


def evolve(model, basis, rho0, t_final: float, t_eval=None, *, method: str = "etdrk4",
           dt: float | None = None, adaptive: bool | None = None, rtol: float = 1e-8,
           atol: float = 1e-12, normalize: bool = False, resolution_tol: float = 1e-12,
           positivity_tol: float = 1e-8, checkpoint=None, checkpoint_every: float = 10.0,
           resume=None, progress: bool | Callable = False, max_steps: int = 10_000_000,
           step_tol: float = 1e-3) -> Solution:
    """Evolve the mean-field PDE of ``model`` on ``basis`` from ``rho0`` to ``t_final``.

    Parameters
    ----------
    model : MeanFieldModel
    basis : a basis (e.g. CircleBasis) with ``basis.dim == model.dim``.
    rho0 : ndarray or callable
        Initial density w.r.t. sigma on ``basis.grid`` (or a function of the grid).
        Must be finite, nonnegative and of mass 1 (or pass ``normalize=True``).
    t_final : float
        End time (> 0); time is Transformer depth.
    t_eval : array_like, optional
        Save times in [0, t_final], strictly increasing (default: 51 equispaced);
        t_final is always saved. The solution is computed exactly at these times
        (steps land on them).
    method : str
        A registered time stepper (``meanfield.timestepping.STEPPERS``): "etdrk4"
        (default, exponential), "etdrk4-embedded" (the same steps, adaptive runs control
        its embedded error estimate), "imex-ars443", "imex-ars232", "rk4" (explicit).
    dt : float, optional
        Fixed step size (``adaptive`` defaults to False when given) or the initial
        step of an adaptive run.
    adaptive : bool, optional
        Error control with a PI controller (default when dt is None): step doubling, or
        the scheme's embedded estimate ("etdrk4-embedded").
    rtol, atol : float
        Accuracy asked of an adaptive run: the global error of the coefficients, relative
        to the mass coefficient, is about rtol (0.1-10 rtol on smooth data, tested for
        rtol = 1e-4..1e-10). The controller bounds each step's estimated error norm-wise,
        max |error of a coefficient| <= f (atol + rtol max |c|) (for a density, max |c| =
        c_0 = 1), with the scheme's ``tolerance_factor`` f (64 for "etdrk4") calibrated on
        ``benchmarks/bench_evolve.py`` so that the global error tracks rtol.
    normalize : bool
        Rescale rho0 to mass 1 instead of raising.
    resolution_tol : float
        Largest kernel coefficient beyond the basis's highest degree, relative to the
        largest; a coarser basis raises ValueError saying how many modes are needed.
    positivity_tol : float
        The run stops ("failed") when min rho < -positivity_tol * max rho.
    checkpoint : path, optional
        .npz file rewritten atomically (at most every ``checkpoint_every`` seconds, at
        the end, and when the run is interrupted: KeyboardInterrupt, or SIGTERM, which
        raises :class:`meanfield._signals.Terminated` while the run has a checkpoint)
        with everything saved so far and the step-size state needed to continue. A
        checkpoint of an unfinished run (status "running" or "interrupted") is never
        overwritten by a new run: pass ``resume`` to continue it.
    checkpoint_every : float
        Seconds between checkpoint writes (0: at every save time).
    resume : path, optional
        Continue the run recorded in this checkpoint from its last save time, with the
        steps the uninterrupted run takes (fixed steps and adaptive ones alike: the
        result is the same). The other arguments must be those of the interrupted run
        (checked: model, basis, rho0, save times, method, dt, tolerances). Checkpoints
        go to the same file unless ``checkpoint`` says otherwise. A finished run is
        returned as recorded; a failed one is refused.
    progress : bool or callable
        Show a progress bar on stderr (or call ``progress(t)`` after each step).
    max_steps : int
        Limit on the number of steps (accepted plus rejected).
    step_tol : float
        Fixed-step runs check their step: at save times (the extra steps stay within
        about 20% of the run's), one step of ``dt`` is compared with two of ``dt/2``.
        When the estimated local error, relative to the mass coefficient, exceeds
        ``step_tol`` the run warns (``dt`` is beyond the time scale of the dynamics) and
        says so in ``message``; a failure names the time step as its cause when it is.

    Returns
    -------
    Solution
        ``status`` is "failed" with a message (time and cause) if the run blew up,
        lost positivity or its step size collapsed; the arrays hold what was computed.

    Examples
    --------
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(64)
    >>> rho0 = mf.initial.perturbed_uniform(basis, 0.1, seed=0)
    >>> sol = mf.evolve(model, basis, rho0, 30.0, [0, 30])
    >>> sol.status, round(float(sol.amplitude(1)[-1]), 6)  # the 1-cluster state
    ('success', 0.911615)

    One fixed step across the whole run is far too large, and is reported as such:

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     sol = mf.evolve(model, basis, rho0, 20.0, [0, 20], dt=20.0)
    >>> sol.status, sol.step_error > 1e-3, "time step" in str(caught[-1].message)
    ('success', True, True)

    An interrupted run continues from its checkpoint (``resume``) with the result of
    the uninterrupted one:

    >>> import tempfile
    >>> from pathlib import Path
    >>> def stop(t):
    ...     if t > 2:
    ...         raise KeyboardInterrupt
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     ck = Path(tmp) / "ck.npz"
    ...     try:
    ...         mf.evolve(model, basis, rho0, 5.0, [0, 1, 2, 3, 4, 5], checkpoint=ck,
    ...                   checkpoint_every=0, progress=stop)
    ...     except KeyboardInterrupt:
    ...         pass
    ...     rest = mf.evolve(model, basis, rho0, 5.0, [0, 1, 2, 3, 4, 5], resume=ck)
    >>> whole = mf.evolve(model, basis, rho0, 5.0, [0, 1, 2, 3, 4, 5])
    >>> bool(np.array_equal(rest.coeffs, whole.coeffs)), rest.n_steps == whole.n_steps
    (True, True)
    """
    check_model(model)
    check_basis(basis)
    if method not in STEPPERS:
        get_stepper(method)  # raises with the list of registered schemes
    rtol = check_positive(rtol, "rtol")
    atol = check_positive(atol, "atol", allow_zero=True)
    resolution_tol = check_positive(resolution_tol, "resolution_tol")
    positivity_tol = check_positive(positivity_tol, "positivity_tol", allow_zero=True)
    max_steps = check_int(max_steps, "max_steps")
    t_final = check_real(t_final, "t_final")
    if dt is not None and not (np.isfinite(check_real(dt, "dt")) and dt > 0):
        raise ValueError(f"dt must be finite and > 0, got {dt}")
    if adaptive is None:
        adaptive = dt is None
    if not adaptive and dt is None:
        raise ValueError("a fixed-step run (adaptive=False) needs dt")
    model._check_basis(basis)
    model.check_resolution(basis, resolution_tol)
    rho0 = _prepare_rho0(basis, rho0, normalize)
    times, keep_first = _save_times(float(t_final), t_eval)

    c0 = basis.forward(rho0).astype(basis.coeff_dtype)
    tail0 = float(basis.tail(c0))
    if tail0 > 1e-8:
        warnings.warn(f"rho0 is under-resolved by {basis!r}: the top modes hold {tail0:.1e} of "
                      "the mass coefficient; increase the number of modes", stacklevel=2)

    L = model.linear_operator(basis)
    N = fused_transport(model, basis)  # compiled, where it applies (same N to round-off)
    stepper = get_stepper(method)(L, N if N is not None else model.nonlinear_term(basis))
    if hasattr(stepper, "linearization"):  # Rosenbrock: the exact Jacobian
        stepper.linearization = lambda c: model.linearization(basis, c)
    stiffness = float(np.max(np.abs(L)))
    if not adaptive and not stepper.handles_stiff and dt * stiffness > 2.78:
        raise ValueError(
            f"dt={dt:g} is beyond the stability limit of the explicit scheme {method!r} for "
            f"the diffusion (1/kappa) Lap: dt * max|L| = {dt * stiffness:.3g} > 2.78; use "
            f"dt <= {2.78 / stiffness:.3g}, an adaptive run, or method='etdrk4'")
    factor = stepper.tolerance_factor  # local tolerance giving a global error ~ rtol
    controller = StepController(rtol=rtol * factor, atol=atol * factor) if adaptive else None
    checkpoint_every = check_positive(checkpoint_every, "checkpoint_every", allow_zero=True)
    step_tol = check_positive(step_tol, "step_tol")
    if checkpoint is not None and (resume is None or Path(checkpoint) != Path(resume)):
        _refuse_to_overwrite(checkpoint)
    done = None
    if resume is not None:
        done = _resumable(resume, times, c0, dict(
            model=repr(model), basis=repr(basis), method=method, adaptive=bool(adaptive),
            dt=math.nan if adaptive else float(dt), rtol=rtol if adaptive else math.nan,
            atol=atol if adaptive else math.nan))
        checkpoint = resume if checkpoint is None else checkpoint
    identity = dict(method=method, adaptive=bool(adaptive),
                    dt=math.nan if adaptive else float(dt),
                    rtol=rtol if adaptive else math.nan, atol=atol if adaptive else math.nan,
                    times=times, format=_CHECKPOINT_FORMAT)
    last_ok = [float(times[0]), c0]  # the last accepted state (diagnoses a failed step)

    def step_estimate(t_prev: float, c_prev: np.ndarray, h: float, c_full: np.ndarray) -> float:
        half = stepper.step(stepper.step(c_prev, 0.5 * h), 0.5 * h)
        with np.errstate(all="ignore"):
            diff = float(np.max(np.abs(half - c_full))) / (2.0**stepper.order - 1.0)
            est = diff / max(float(np.max(np.abs(half))), float(np.max(np.abs(c_full))))
        return est if np.isfinite(est) else math.inf

    def check(t: float, c: np.ndarray) -> str | None:
        rho = basis.backward(c)[..., basis.reliable_nodes]
        lo, hi = float(rho.min()), float(rho.max())
        if lo < -positivity_tol * hi:
            tail = float(basis.tail(c))
            causes = []
            est = math.nan
            if not adaptive:
                t_prev, c_prev = last_ok
                est = step_estimate(t_prev, c_prev, t - t_prev, c)
                if est > step_tol:
                    causes.append(
                        f"the time step is too large: one step of {t - t_prev:.3g} from "
                        f"t={t_prev:.6g} and two of half the size differ by {est:.1e} of the "
                        f"mass coefficient (step doubling; step_tol={step_tol:g}): decrease dt "
                        "or use an adaptive run")
            if tail > 1e-2 * abs(lo):  # the truncated modes can account for the dip
                causes.append(f"the top modes hold {tail:.1e} of the mass coefficient "
                              "(under-resolved concentration: increase the number of modes)")
            elif not causes:
                causes.append(
                    f"the top modes hold only {tail:.1e} of the mass coefficient, so the "
                    "modes resolve the state; " + (
                        f"the error tolerance may be too loose (decrease rtol={rtol:g})"
                        if adaptive else f"the step passes its check (step-doubling "
                        f"estimate {est:.1e} <= step_tol={step_tol:g})") +
                    f", or positivity_tol={positivity_tol:g} is too strict")
            elif tail > 1e-10:
                causes.append(f"(the top modes hold {tail:.1e} of the mass coefficient, too "
                              "little to explain the dip)")
            return (f"the density lost positivity at t={t:.6g}: min rho = {lo:.3e}, max rho = "
                    f"{hi:.3e}; " + "; ".join(causes))
        last_ok[0], last_ok[1] = t, c
        return None

    def first_failure(cs: np.ndarray) -> int | None:
        """check's batch form (meanfield.compiled_loop): the first state of ``cs`` that
        loses positivity, or None (transforms of 16 states at a time: one FFT plan)."""
        block = np.zeros((16,) + cs.shape[1:], dtype=cs.dtype)
        for start in range(0, len(cs), 16):
            part = cs[start:start + 16]
            block[:len(part)] = part
            block[len(part):] = 0
            rho = basis.backward(block)[:len(part)][..., basis.reliable_nodes]
            rho = rho.reshape(len(part), -1)
            lo, hi = rho.min(axis=1), rho.max(axis=1)
            bad = np.flatnonzero(~(lo >= -positivity_tol * hi))
            if bad.size:
                return start + int(bad[0])
        return None

    check.first_failure = first_failure  # type: ignore[attr-defined]

    saved_t: list[float] = []
    saved_c: list[np.ndarray] = []
    last_write = [-np.inf]
    max_tail = [0.0]
    run_state: dict = {}
    prior = dict(n_steps=0, n_rejected=0, nfev=0, wall_time=0.0)
    start = time.perf_counter()

    def write_checkpoint(status: str = "running", message: str = "", t=None, c=None) -> None:
        t = np.array(saved_t) if t is None else t
        if checkpoint is not None and len(t):
            counts = {k: prior[k] + run_state.get(k, 0) for k in ("n_steps", "n_rejected",
                                                                     "nfev")}
            io.save_npz(checkpoint, t=t, coeffs=np.array(saved_c) if c is None else c,
                        grid=basis.grid, status=status, message=message, model=repr(model),
                        basis=repr(basis), **identity,
                        h_next=run_state.get("h", math.nan),
                        err_prev=run_state.get("err_prev", math.nan), **counts,
                        wall_time=prior["wall_time"] + time.perf_counter() - start)

    def on_save(t: float, c: np.ndarray, state: dict) -> None:
        saved_t.append(t)
        saved_c.append(np.array(c))
        run_state.update(state)
        max_tail[0] = max(max_tail[0], float(basis.tail(c)))
        if checkpoint is not None and time.perf_counter() - last_write[0] >= checkpoint_every:
            write_checkpoint()
            last_write[0] = time.perf_counter()

    t_start, c_start, state = float(times[0]), c0, None
    if done is not None:  # continue from the last save time of the checkpoint
        k = done["t"].size - 1
        saved_t.extend(float(x) for x in done["t"][:-1])
        saved_c.extend(np.array(x) for x in done["coeffs"][:-1])
        max_tail[0] = float(np.max(basis.tail(done["coeffs"])))
        prior.update({key: done[key] for key in prior})
        t_start, c_start = float(times[k]), np.array(done["coeffs"][-1])
        last_ok[:] = [t_start, c_start]
        state = dict(h=done["h_next"], err_prev=done["err_prev"])
        if k == times.size - 1:  # nothing left to compute
            return _finished(model, basis, method, done, keep_first)
    bar = None
    if progress is True:
        bar = ProgressBar(t_start, float(times[-1]))
        prog = bar
    else:
        prog = progress or None

    left = max_steps - prior["n_steps"] - prior["n_rejected"]
    guard = sigterm_raises() if checkpoint is not None else nullcontext()
    try:
        with guard:
            res = integrate(stepper, c_start, times[times >= t_start], dt=dt,
                            controller=controller, check=check, on_save_state=on_save,
                            progress=prog, max_steps=max(left, 0), state=state,
                            h_min=1e-12 * float(times[-1] - times[0]),
                            estimate_error=not adaptive)
    except BaseException as err:  # keep what was saved (KeyboardInterrupt, SIGTERM included)
        write_checkpoint("interrupted", f"{type(err).__name__}: {err}")
        raise
    finally:
        if bar is not None:
            bar.close()
    wall = prior["wall_time"] + time.perf_counter() - start
    if max_tail[0] > 1e-10:
        warnings.warn(f"the solution became under-resolved: the top modes reached "
                      f"{max_tail[0]:.1e} of the mass coefficient (at a save time); increase "
                      "the number of modes for accurate results", stacklevel=2)

    status, message = res.status, res.message
    step_error = math.nan
    if not adaptive:
        if res.step_errors.size:
            i = int(np.argmax(res.step_errors[:, 1]))
            step_error = float(res.step_errors[i, 1])
        if status == "failed" and message.startswith("solution became non-finite"):
            message += (f"; the fixed step dt={dt:g} is the likely cause: decrease dt or use "
                        "an adaptive run")
        if step_error > step_tol:
            note = (f"the time step dt={dt:g} is too large for the dynamics: one step of dt "
                    f"from t={res.step_errors[i, 0]:.6g} and two of dt/2 differ by "
                    f"{step_error:.1e} of the mass coefficient (step doubling at the save "
                    f"times; step_tol={step_tol:g}), so the result may be far off; decrease "
                    "dt or use an adaptive run (adaptive=True)")
            warnings.warn(note, stacklevel=2)
            if "time step is too large" not in message:
                message = f"{message}; {note}" if message else note

    t_all, c_all = np.asarray(res.t), np.asarray(res.u)
    if done is not None:  # the saves before the checkpoint's last one, then this run's
        t_all = np.concatenate([done["t"][:-1], t_all])
        c_all = np.concatenate([done["coeffs"][:-1].astype(c_all.dtype), c_all])
    t_out, c_out = t_all, c_all
    if not keep_first and t_out.size:
        t_out, c_out = t_out[1:], c_out[1:]
        if t_out.size == 0:  # failed before the first requested time: keep t = 0
            t_out, c_out = t_all, c_all
    run_state.update(h=res.h_last, n_steps=res.n_steps, n_rejected=res.n_rejected,
                     nfev=res.nfev)
    write_checkpoint(status, message, t_all, c_all)
    return Solution(model=model, basis=basis, t=t_out, coeffs=c_out, status=status,
                    message=message, method=method, n_steps=prior["n_steps"] + res.n_steps,
                    n_rejected=prior["n_rejected"] + res.n_rejected,
                    nfev=prior["nfev"] + res.nfev, wall_time=wall, max_tail=max_tail[0],
                    step_error=step_error)


_CHECKPOINT_FORMAT = 1
_UNFINISHED = ("running", "interrupted")


def read_checkpoint(path) -> dict:
    """The contents of a checkpoint written by :func:`evolve`, strings as ``str``.

    Raises ValueError when ``path`` is not such a file.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import meanfield as mf
    >>> from meanfield.evolution import read_checkpoint
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> rho0 = mf.initial.perturbed_uniform(basis, 0.1, seed=0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = mf.evolve(model, basis, rho0, 2.0, [0, 1, 2], checkpoint=Path(tmp) / "ck.npz")
    ...     ck = read_checkpoint(Path(tmp) / "ck.npz")
    >>> ck["status"], ck["t"].tolist(), ck["method"]
    ('success', [0.0, 1.0, 2.0], 'etdrk4')
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            out = {key: data[key] for key in data.files}
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is not a checkpoint of evolve ({err})") from None
    if "t" not in out or "coeffs" not in out or "status" not in out:
        raise ValueError(f"{path} is not a checkpoint of evolve (no t, coeffs, status)")
    for key, value in out.items():
        if value.ndim == 0:
            out[key] = str(value) if value.dtype.kind in "US" else value.item()
    return out


def _unfinished(path) -> dict | None:
    """The checkpoint at ``path`` if it holds a run that could be resumed, else None."""
    if not Path(path).is_file():
        return None
    try:
        data = read_checkpoint(path)
    except ValueError:
        return None
    return data if data["status"] in _UNFINISHED and "times" in data else None


def _refuse_to_overwrite(path) -> None:
    data = _unfinished(path)
    if data is not None:
        raise ValueError(
            f"checkpoint {path} holds an unfinished run (status {data['status']!r}, saved up "
            f"to t={float(data['t'][-1]):g} of {float(data['times'][-1]):g}); continue it with "
            f"evolve(..., resume={str(path)!r}) (meanfield evolve ... --resume), or remove the "
            "file or choose another checkpoint path to start afresh")


def _resumable(path, times: np.ndarray, c0: np.ndarray, expected: dict) -> dict:
    """The checkpoint at ``path``, checked to be a run of these arguments that can go on."""
    if not Path(path).is_file():
        raise ValueError(f"resume={str(path)!r}: no such checkpoint file")
    data = read_checkpoint(path)
    if data.get("format") != _CHECKPOINT_FORMAT or "times" not in data:
        raise ValueError(f"cannot resume from {path}: it was written without the state a run "
                         "needs to continue (an older version of meanfield); start afresh")
    if data["status"] == "failed":
        raise ValueError(f"cannot resume from {path}: the run failed ({data['message']}); it "
                         "would fail the same way; change the arguments and start afresh")
    diffs = []
    for key, want in expected.items():
        got = data.get(key)
        same = (got == want or (isinstance(want, float) and isinstance(got, float)
                                and math.isnan(want) and math.isnan(got)))
        if not same:
            diffs.append(f"{key} {got!r} there, {want!r} here")
    if not np.array_equal(data["times"], times):
        diffs.append(f"save times [{data['times'][0]:g} .. {data['times'][-1]:g}] "
                     f"({data['times'].size}) there, [{times[0]:g} .. {times[-1]:g}] "
                     f"({times.size}) here")
    n = data["t"].size
    coeffs = data["coeffs"]
    if coeffs.shape[1:] != c0.shape:
        diffs.append(f"coefficients of shape {coeffs.shape[1:]} there, {c0.shape} here")
    elif np.max(np.abs(coeffs[0] - c0)) > 1e-12 * np.max(np.abs(c0)):
        diffs.append(f"rho0 differs (max |coefficient difference| "
                     f"{np.max(np.abs(coeffs[0] - c0)):.1e})")
    if not diffs and (n > times.size or not np.array_equal(data["t"], times[:n])):
        diffs.append("its saved times are not the first save times of this run")
    if diffs:
        raise ValueError(f"cannot resume from {path}: it holds a different run ("
                         + "; ".join(diffs) + "); give the arguments of the interrupted run")
    return data


def _finished(model, basis, method, done: dict, keep_first: bool) -> Solution:
    """The Solution of a run that the checkpoint holds complete."""
    t, c = np.asarray(done["t"]), np.asarray(done["coeffs"])
    if not keep_first and t.size > 1:
        t, c = t[1:], c[1:]
    return Solution(model=model, basis=basis, t=t, coeffs=c, status="success",
                    message=done["message"] if done["status"] == "success" else "",
                    method=method, n_steps=int(done["n_steps"]),
                    n_rejected=int(done["n_rejected"]), nfev=int(done["nfev"]),
                    wall_time=float(done["wall_time"]),
                    max_tail=float(np.max(basis.tail(np.asarray(done["coeffs"])))))
