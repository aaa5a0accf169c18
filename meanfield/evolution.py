"""Time evolution of the mean-field PDE: ``evolve`` and its ``Solution``.

The PDE d_t rho = (1/kappa) Lap rho - div(rho v[rho]) is integrated in the basis's
coefficient space as du/dt = L u + N(u), with L = (1/kappa) Lap diagonal (treated exactly
by the exponential integrator, implicitly by the IMEX schemes) and N the transport term.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import io
from ._validate import (
    check_basis,
    check_int,
    check_model,
    check_positive,
    check_real,
    real_grid_values,
)
from .free_energy import entropy, interaction_energy
from .progress import ProgressBar
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
           progress: bool | Callable = False, max_steps: int = 10_000_000) -> Solution:
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
        (default, exponential), "imex-ars443", "imex-ars232", "rk4" (explicit).
    dt : float, optional
        Fixed step size (``adaptive`` defaults to False when given) or the initial
        step of an adaptive run.
    adaptive : bool, optional
        Step-doubling error control with a PI controller (default when dt is None).
    rtol, atol : float
        Local error tolerances of the adaptive controller, norm-wise: each step's estimated
        error satisfies max |error of a coefficient| <= atol + rtol max |c| (for a density,
        max |c| = c_0 = 1). The global error at t_final is typically 1-100 rtol.
    normalize : bool
        Rescale rho0 to mass 1 instead of raising.
    resolution_tol : float
        Largest kernel coefficient beyond the basis's highest degree, relative to the
        largest; a coarser basis raises ValueError saying how many modes are needed.
    positivity_tol : float
        The run stops ("failed") when min rho < -positivity_tol * max rho.
    checkpoint : path, optional
        .npz file rewritten atomically (at most every ``checkpoint_every`` seconds and
        at the end) with everything saved so far.
    progress : bool or callable
        Show a progress bar on stderr (or call ``progress(t)`` after each step).

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
    stepper = get_stepper(method)(L, model.nonlinear_term(basis))
    stiffness = float(np.max(np.abs(L)))
    if not adaptive and not stepper.handles_stiff and dt * stiffness > 2.78:
        raise ValueError(
            f"dt={dt:g} is beyond the stability limit of the explicit scheme {method!r} for "
            f"the diffusion (1/kappa) Lap: dt * max|L| = {dt * stiffness:.3g} > 2.78; use "
            f"dt <= {2.78 / stiffness:.3g}, an adaptive run, or method='etdrk4'")
    controller = StepController(rtol=rtol, atol=atol) if adaptive else None

    def check(t: float, c: np.ndarray) -> str | None:
        rho = basis.backward(c)[..., basis.reliable_nodes]
        lo, hi = float(rho.min()), float(rho.max())
        if lo < -positivity_tol * hi:
            return (f"the density lost positivity at t={t:.6g}: min rho = {lo:.3e}, max rho = "
                    f"{hi:.3e}; the top modes hold {float(basis.tail(c)):.1e} of the mass "
                    "coefficient (under-resolved concentration: increase the number of modes)")
        return None

    saved_t: list[float] = []
    saved_c: list[np.ndarray] = []
    last_write = [-np.inf]
    max_tail = [0.0]

    def write_checkpoint(status: str = "running", message: str = "", t=None, c=None) -> None:
        t = np.array(saved_t) if t is None else t
        if checkpoint is not None and len(t):
            io.save_npz(checkpoint, t=t, coeffs=np.array(saved_c) if c is None else c,
                        grid=basis.grid, status=status, message=message, model=repr(model),
                        basis=repr(basis))

    def on_save(t: float, c: np.ndarray) -> None:
        saved_t.append(t)
        saved_c.append(np.array(c))
        max_tail[0] = max(max_tail[0], float(basis.tail(c)))
        if checkpoint is not None and time.perf_counter() - last_write[0] > checkpoint_every:
            write_checkpoint()
            last_write[0] = time.perf_counter()

    bar = None
    if progress is True:
        bar = ProgressBar(0.0, float(times[-1]))
        prog = bar
    else:
        prog = progress or None

    start = time.perf_counter()
    try:
        res = integrate(stepper, c0, times, dt=dt, controller=controller, check=check,
                        on_save=on_save, progress=prog, max_steps=max_steps)
    except BaseException as err:  # keep what was saved (KeyboardInterrupt included)
        write_checkpoint("interrupted", f"{type(err).__name__}: {err}")
        raise
    finally:
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - start
    if max_tail[0] > 1e-10:
        warnings.warn(f"the solution became under-resolved: the top modes reached "
                      f"{max_tail[0]:.1e} of the mass coefficient (at a save time); increase "
                      "the number of modes for accurate results", stacklevel=2)

    t_out, c_out = np.asarray(res.t), np.asarray(res.u)
    if not keep_first and t_out.size:
        t_out, c_out = t_out[1:], c_out[1:]
        if t_out.size == 0:  # failed before the first requested time: keep t = 0
            t_out, c_out = np.asarray(res.t), np.asarray(res.u)
    write_checkpoint(res.status, res.message, np.asarray(res.t), np.asarray(res.u))
    return Solution(model=model, basis=basis, t=t_out, coeffs=c_out, status=res.status,
                    message=res.message, method=method, n_steps=res.n_steps,
                    n_rejected=res.n_rejected, nfev=res.nfev, wall_time=wall,
                    max_tail=max_tail[0])
