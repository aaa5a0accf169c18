"""Time integration of semi-linear systems ``du/dt = L u + N(u)``.

The state ``u`` is an array of any shape (real or complex spectral
coefficients), ``L`` is a diagonal linear operator given as an array that
broadcasts against ``u`` (typically ``<= 0``, e.g. diffusion ``-l(l+1)/kappa``),
and ``N`` is the (expensive) nonlinear term.

Three separate objects are involved, as in diffrax:

* the *stepper* (:class:`Stepper` subclasses, registered in :data:`STEPPERS`)
  advances the state by one step of size ``h``;
* the *step controller* (:class:`StepController`) accepts or rejects a step
  from an error norm and proposes the next step size;
* :func:`integrate` drives a stepper (fixed steps, or adaptive steps with an
  error estimate from :func:`step_doubling`) over a set of save times.

References
----------
.. [1] S. M. Cox and P. C. Matthews, "Exponential time differencing for stiff
   systems", J. Comput. Phys. 176 (2002) 430-455.
.. [2] A.-K. Kassam and L. N. Trefethen, "Fourth-order time-stepping for stiff
   PDEs", SIAM J. Sci. Comput. 26 (2005) 1214-1233.
.. [3] U. M. Ascher, S. J. Ruuth and R. J. Spiteri, "Implicit-explicit
   Runge-Kutta methods for time-dependent partial differential equations",
   Appl. Numer. Math. 25 (1997) 151-167.
.. [4] E. Hairer and G. Wanner, "Solving Ordinary Differential Equations II",
   2nd ed., Springer (1996), Sec. IV.2 (PI step size control).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ETDRK4",
    "STEPPERS",
    "ExplicitRK",
    "IMEXARS232",
    "IMEXARS443",
    "IMEXRK",
    "IntegrationResult",
    "RK4",
    "StepController",
    "Stepper",
    "get_stepper",
    "integrate",
    "phi_functions",
    "register",
    "step_doubling",
]

Array = NDArray[Any]
NonlinearTerm = Callable[[Array], Array]

_TAYLOR_TERMS = 24  # |z| < 1: the first omitted term is below 1/24! ~ 1.6e-24


# --------------------------------------------------------------------------
# phi-functions
# --------------------------------------------------------------------------


_INV_FACTORIAL = np.array([1.0 / math.factorial(j) for j in range(_TAYLOR_TERMS + 8)])


def _phi_taylor_all(z: Array, n: int) -> Array:
    """Taylor series ``phi_k(z) = sum_j z**j / (j + k)!`` for k = 1..n, shape (n, z.size).

    One Vandermonde matrix and one product instead of a Horner loop per k.
    """
    powers = np.vander(z, _TAYLOR_TERMS, increasing=True)  # (m, terms)
    j = np.arange(_TAYLOR_TERMS)[:, None]
    k = np.arange(1, n + 1)[None, :]
    return (powers @ _INV_FACTORIAL[j + k]).T


def phi_functions(z: ArrayLike, n: int = 3) -> list[Array]:
    """Evaluate the exponential-integrator functions ``phi_0, ..., phi_n``.

    ``phi_0(z) = exp(z)`` and ``phi_{k+1}(z) = (phi_k(z) - 1/k!) / z`` with
    ``phi_k(0) = 1/k!``.

    Parameters
    ----------
    z : array_like
        Real or complex arguments (evaluated elementwise).
    n : int, optional
        Highest index returned (default 3).

    Returns
    -------
    list of ndarray
        ``[phi_0(z), ..., phi_n(z)]``, each with the shape of ``z``.

    Notes
    -----
    For ``|z| < 1`` the Taylor series is summed (24 terms, truncation error
    below 1e-23), which avoids the cancellation of the closed forms near 0;
    for ``|z| >= 1`` the closed-form recursion loses at most a few ulps.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.inexact):
        z = z.astype(float)
    shape = z.shape
    z = z.reshape(-1)
    small = np.abs(z) < 1.0
    any_small = bool(np.any(small))
    z_big = np.where(small, 1.0, z) if any_small else z  # keeps the closed forms away from 0
    taylor = _phi_taylor_all(z[small], n) if any_small and n > 0 else None
    phis = [np.exp(z).reshape(shape)]
    closed = np.exp(z_big)
    for k in range(1, n + 1):
        closed = (closed - _INV_FACTORIAL[k - 1]) / z_big
        phi = closed.copy()
        if any_small:
            phi[small] = taylor[k - 1]
        phis.append(phi.reshape(shape))
    return phis


# --------------------------------------------------------------------------
# Steppers and their registry
# --------------------------------------------------------------------------


class Stepper:
    """One-step method for ``du/dt = L u + N(u)``.

    Subclasses implement :meth:`_step_impl` and, when they have
    step-size-dependent coefficients, :meth:`_compute_coefficients`
    (cached per ``h`` by :meth:`_coefficients`).

    Parameters
    ----------
    L : array_like
        Diagonal of the linear operator, broadcastable to the state.
    N : callable
        Nonlinear term ``u -> N(u)`` (same shape and dtype as ``u``).

    Attributes
    ----------
    nfev : int
        Number of evaluations of ``N`` so far.
    """

    name: ClassVar[str] = ""
    order: ClassVar[int] = 0
    handles_stiff: ClassVar[bool] = False
    cache_size: ClassVar[int] = 16
    quantize_steps: ClassVar[bool] = False
    """Adaptive runs round h down to powers of 2**(1/4), so that schemes with costly
    h-dependent coefficients (exponential, IMEX) reuse them from the cache."""

    def __init__(self, L: ArrayLike, N: NonlinearTerm) -> None:
        L = np.asarray(L)
        if not np.issubdtype(L.dtype, np.inexact):
            L = L.astype(float)
        if not callable(N):
            raise TypeError("N must be callable")
        self.L = L
        self.N = N
        self.nfev = 0
        self._cache: dict[float, Any] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, order={self.order})"

    def step(self, u: ArrayLike, h: float) -> Array:
        """Advance ``u`` by one step of size ``h`` and return the new state."""
        if not (np.isfinite(h) and h > 0):
            raise ValueError(f"step size h must be positive and finite, got {h!r}")
        return self._step_impl(np.asarray(u), float(h))

    def _step_impl(self, u: Array, h: float) -> Array:
        raise NotImplementedError

    def _nonlinear(self, u: Array) -> Array:
        """Evaluate ``N(u)``, counting the call in :attr:`nfev`."""
        self.nfev += 1
        return self.N(u)

    def _coefficients(self, h: float) -> Any:
        """Return the ``h``-dependent coefficients, from a small FIFO cache."""
        try:
            return self._cache[h]
        except KeyError:
            pass
        if len(self._cache) >= self.cache_size:
            del self._cache[next(iter(self._cache))]
        coeffs = self._cache[h] = self._compute_coefficients(h)
        return coeffs

    def _compute_coefficients(self, h: float) -> Any:
        return None


STEPPERS: dict[str, type[Stepper]] = {}
"""Registered stepper classes, keyed by their ``name``."""


def register(cls: type[Stepper]) -> type[Stepper]:
    """Class decorator adding a :class:`Stepper` subclass to :data:`STEPPERS`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if STEPPERS.get(cls.name, cls) is not cls:
        raise ValueError(f"a stepper named {cls.name!r} is already registered")
    STEPPERS[cls.name] = cls
    return cls


def get_stepper(name: str) -> type[Stepper]:
    """Return the registered stepper class called ``name``."""
    try:
        return STEPPERS[name]
    except KeyError:
        known = ", ".join(sorted(STEPPERS))
        raise ValueError(f"unknown time stepper {name!r}; registered: {known}") from None


def _combine(u: Array, h: float, weights: Array, terms: list[Array | None]) -> Array:
    """Return ``u + h * sum_j weights[j] * terms[j]`` skipping zero weights."""
    out = u
    for w, term in zip(weights, terms, strict=False):
        if w != 0:
            out = out + (h * w) * term
    return out


class ExplicitRK(Stepper):
    """Explicit Runge-Kutta method applied to ``f(u) = L u + N(u)``.

    Subclasses set the Butcher tableau class attributes ``A``, ``b``, ``c``.
    """

    A: ClassVar[Array]
    b: ClassVar[Array]
    c: ClassVar[Array]

    def _step_impl(self, u: Array, h: float) -> Array:
        k: list[Array | None] = []
        for i in range(len(self.b)):
            stage = _combine(u, h, self.A[i, :i], k)
            k.append(self.L * stage + self._nonlinear(stage))
        return _combine(u, h, self.b, k)


@register
class RK4(ExplicitRK):
    """Classical fourth-order Runge-Kutta method (non-stiff)."""

    name = "rk4"
    order = 4
    handles_stiff = False
    A = np.array([[0, 0, 0, 0], [0.5, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 1, 0]], dtype=float)
    b = np.array([1, 2, 2, 1], dtype=float) / 6
    c = np.array([0, 0.5, 0.5, 1], dtype=float)


@register
class ETDRK4(Stepper):
    """Cox-Matthews ETDRK4 in the Kassam-Trefethen form [1]_, [2]_.

    The linear part is integrated exactly; the coefficients are the
    phi-functions of ``h L`` and ``h L / 2`` (see :func:`phi_functions`).
    With ``L = 0`` the scheme is the classical RK4 method.
    """

    name = "etdrk4"
    order = 4
    handles_stiff = True
    quantize_steps = True

    def _compute_coefficients(self, h: float) -> tuple[Array, ...]:
        e, phi1, phi2, phi3 = phi_functions(h * self.L, 3)
        e2, half_phi1 = phi_functions(0.5 * h * self.L, 1)
        q = 0.5 * h * half_phi1
        f1 = h * (phi1 - 3 * phi2 + 4 * phi3)
        f2 = h * (phi2 - 2 * phi3)
        f3 = h * (4 * phi3 - phi2)
        return e, e2, q, f1, f2, f3

    def _step_impl(self, u: Array, h: float) -> Array:
        e, e2, q, f1, f2, f3 = self._coefficients(h)
        nu = self._nonlinear(u)
        a = e2 * u + q * nu
        na = self._nonlinear(a)
        b = e2 * u + q * na
        nb = self._nonlinear(b)
        c = e2 * a + q * (2 * nb - nu)
        nc = self._nonlinear(c)
        return e * u + f1 * nu + 2 * f2 * (na + nb) + f3 * nc


class IMEXRK(Stepper):
    """Implicit-explicit Runge-Kutta method: ``N`` explicit, ``L`` implicit.

    Subclasses set the tableau class attributes ``A_expl``, ``b_expl``,
    ``A_impl`` (lower triangular), ``b_impl`` and ``c``. Because ``L`` is
    diagonal, each implicit stage is an elementwise division by
    ``1 - h a_ii L``.
    """

    handles_stiff = True
    quantize_steps = True
    A_expl: ClassVar[Array]
    b_expl: ClassVar[Array]
    A_impl: ClassVar[Array]
    b_impl: ClassVar[Array]
    c: ClassVar[Array]

    def _compute_coefficients(self, h: float) -> list[Array | None]:
        diag = np.diag(self.A_impl)
        return [None if a == 0 else 1.0 / (1.0 - (h * a) * self.L) for a in diag]

    def _needs_nonlinear(self, i: int) -> bool:
        return bool(self.b_expl[i] != 0 or np.any(self.A_expl[i + 1 :, i] != 0))

    def _step_impl(self, u: Array, h: float) -> Array:
        inverse = self._coefficients(h)
        n_stages = len(self.c)
        k_expl: list[Array | None] = [None] * n_stages
        k_impl: list[Array | None] = [None] * n_stages  # L U_i
        for i in range(n_stages):
            rhs = _combine(u, h, self.A_expl[i, :i], k_expl)
            rhs = _combine(rhs, h, self.A_impl[i, :i], k_impl)
            a_ii = self.A_impl[i, i]
            if a_ii == 0:
                stage = rhs
                k_impl[i] = self.L * stage
            else:
                stage = rhs * inverse[i]
                # L U_i from the stage equation: avoids multiplying by a stiff L
                k_impl[i] = (stage - rhs) / (h * a_ii)
            if self._needs_nonlinear(i):
                k_expl[i] = self._nonlinear(stage)
        out = _combine(u, h, self.b_expl, k_expl)
        return _combine(out, h, self.b_impl, k_impl)


_GAMMA_232 = 1.0 - 1.0 / math.sqrt(2.0)
_DELTA_232 = -2.0 * math.sqrt(2.0) / 3.0


@register
class IMEXARS232(IMEXRK):
    """ARS(2,3,2), second order, L-stable implicit part ([3]_, Sec. 2.5).

    ``gamma = 1 - 1/sqrt(2)``, ``delta = -2 sqrt(2) / 3``.
    """

    name = "imex-ars232"
    order = 2
    A_expl = np.array([[0, 0, 0], [_GAMMA_232, 0, 0], [_DELTA_232, 1 - _DELTA_232, 0]], dtype=float)
    b_expl = np.array([0, 1 - _GAMMA_232, _GAMMA_232])
    A_impl = np.array([[0, 0, 0], [0, _GAMMA_232, 0], [0, 1 - _GAMMA_232, _GAMMA_232]], dtype=float)
    b_impl = np.array([0, 1 - _GAMMA_232, _GAMMA_232])
    c = np.array([0, _GAMMA_232, 1])


@register
class IMEXARS443(IMEXRK):
    """ARS(4,4,3), third order, L-stable implicit part ([3]_, Sec. 2.8)."""

    name = "imex-ars443"
    order = 3
    A_expl = np.array(
        [
            [0, 0, 0, 0, 0],
            [1 / 2, 0, 0, 0, 0],
            [11 / 18, 1 / 18, 0, 0, 0],
            [5 / 6, -5 / 6, 1 / 2, 0, 0],
            [1 / 4, 7 / 4, 3 / 4, -7 / 4, 0],
        ]
    )
    b_expl = np.array([1 / 4, 7 / 4, 3 / 4, -7 / 4, 0])
    A_impl = np.array(
        [
            [0, 0, 0, 0, 0],
            [0, 1 / 2, 0, 0, 0],
            [0, 1 / 6, 1 / 2, 0, 0],
            [0, -1 / 2, 1 / 2, 1 / 2, 0],
            [0, 3 / 2, -3 / 2, 1 / 2, 1 / 2],
        ]
    )
    b_impl = np.array([0, 3 / 2, -3 / 2, 1 / 2, 1 / 2])
    c = np.array([0, 1 / 2, 2 / 3, 1 / 2, 1])


# --------------------------------------------------------------------------
# Error estimation and step-size control
# --------------------------------------------------------------------------


def step_doubling(
    stepper: Stepper, u: ArrayLike, h: float, extrapolate: bool = False
) -> tuple[Array, Array]:
    """Take one step of ``h`` and two of ``h/2``; estimate the local error.

    Returns
    -------
    u_half : ndarray
        The solution after two half steps, or with ``extrapolate=True`` its
        Richardson extrapolation ``u_half + err`` (local extrapolation: one order
        higher; the linear part stays exact for the exponential scheme).
    err : ndarray
        ``(u_half - u_full) / (2**p - 1)`` for a method of order
        ``p = stepper.order``: up to its sign, the (Richardson) estimate of
        the local error of ``u_half``, i.e. ``u_half - u_exact ~ -err``.
        Only ``|err|`` enters :meth:`StepController.error_norm`.
    """
    u = np.asarray(u)
    u_full = stepper.step(u, h)
    u_half = stepper.step(stepper.step(u, 0.5 * h), 0.5 * h)
    err = (u_half - u_full) / (2.0**stepper.order - 1.0)
    return (u_half + err if extrapolate else u_half), err


class StepController:
    """PI step-size controller (Gustafsson; Hairer-Wanner II, Sec. IV.2).

    On an accepted step the next step size is
    ``h * safety * err**(-beta1/k) * err_prev**(beta2/k)`` with ``k = order + 1``
    (local error ~ h**k), clipped to ``[factor_min, factor_max] * h``. The
    defaults ``beta1 = 0.7``, ``beta2 = 0.4`` are the standard PI exponents
    ``0.7/k`` and ``0.4/k``. On a rejected step (``err > 1``) the plain
    I-controller ``safety * err**(-1/k)``, clipped to ``[factor_min, 1]``, is
    used. Non-finite error norms are rejected with ``factor_min``.

    Parameters
    ----------
    rtol, atol : float
        Relative and absolute tolerances (both > 0).
    safety : float
        Safety factor in (0, 1].
    factor_min, factor_max : float
        Bounds on the step-size ratio, ``0 < factor_min < 1 < factor_max``.
    beta1, beta2 : float
        Numerators of the PI exponents (divided by ``order + 1``).
    """

    def __init__(
        self,
        rtol: float = 1e-8,
        atol: float = 1e-12,
        safety: float = 0.9,
        factor_min: float = 0.2,
        factor_max: float = 5.0,
        beta1: float = 0.7,
        beta2: float = 0.4,
    ) -> None:
        for label, value in (("rtol", rtol), ("atol", atol)):
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{label} must be positive and finite, got {value!r}")
        if not 0 < safety <= 1:
            raise ValueError(f"safety must be in (0, 1], got {safety!r}")
        if not 0 < factor_min < 1 < factor_max:
            raise ValueError("need 0 < factor_min < 1 < factor_max")
        self.rtol, self.atol, self.safety = float(rtol), float(atol), float(safety)
        self.factor_min, self.factor_max = float(factor_min), float(factor_max)
        self.beta1, self.beta2 = float(beta1), float(beta2)
        self.reset()

    def __repr__(self) -> str:
        return f"StepController(rtol={self.rtol!r}, atol={self.atol!r})"

    def reset(self) -> None:
        """Forget the error history (done by :func:`integrate` at its start)."""
        self._err_prev = 1.0

    def error_norm(self, err: ArrayLike, u0: ArrayLike, u1: ArrayLike) -> float:
        """Norm-wise relative error ``max|err| / (atol + rtol * max(max|u0|, max|u1|))``.

        Norm-wise rather than per entry: spectral coefficients span many orders of
        magnitude, and a per-entry scale would make the tiny, physically irrelevant high
        modes dictate the step (5-10x more steps for the same error in the density).
        """
        scale = self.atol + self.rtol * max(float(np.max(np.abs(u0))), float(np.max(np.abs(u1))))
        return float(np.max(np.abs(err))) / scale

    def propose(self, h: float, err_norm: float, order: int) -> tuple[bool, float]:
        """Decide on a step of size ``h`` with error norm ``err_norm``.

        Returns
        -------
        accept : bool
            Whether the step is accepted (``err_norm <= 1``).
        h_next : float
            Proposed size of the next step (or of the retry).
        """
        k = order + 1
        if not np.isfinite(err_norm):
            return False, h * self.factor_min
        if err_norm > 1:
            factor = self.safety * err_norm ** (-1.0 / k)
            return False, h * min(1.0, max(self.factor_min, factor))
        if err_norm == 0:
            factor = self.factor_max
        else:
            factor = (
                self.safety * err_norm ** (-self.beta1 / k) * self._err_prev ** (self.beta2 / k)
            )
        self._err_prev = max(err_norm, 1e-4)
        return True, h * min(self.factor_max, max(self.factor_min, factor))


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


@dataclass
class IntegrationResult:
    """Output of :func:`integrate`.

    Attributes
    ----------
    t : ndarray
        Times at which the state was saved (a prefix of ``t_eval``).
    u : ndarray
        Saved states, shape ``(len(t), *u0.shape)``.
    status : str
        ``"success"`` or ``"failed"``.
    message : str
        Why the run stopped (empty on success).
    n_steps, n_rejected : int
        Accepted and rejected steps.
    nfev : int
        Evaluations of ``N`` during this run.
    h_last : float
        Step size to continue with (the controller's last proposal, or ``dt``).
    """

    t: Array
    u: Array
    status: str
    message: str
    n_steps: int
    n_rejected: int
    nfev: int
    h_last: float

    @property
    def success(self) -> bool:
        """Whether the run reached the last save time."""
        return self.status == "success"


class _Run:
    """Mutable state of one :func:`integrate` call (time, saves, counters)."""

    def __init__(
        self,
        stepper: Stepper,
        u0: Array,
        t_eval: Array,
        check: Callable[[float, Array], str | None] | None,
        on_save: Callable[[float, Array], None] | None,
        progress: Callable[[float], None] | None,
    ) -> None:
        self.stepper, self.check, self.on_save, self.progress = stepper, check, on_save, progress
        self.t, self.u = float(t_eval[0]), u0
        self.snap = 64 * np.finfo(float).eps * max(abs(t_eval[0]), abs(t_eval[-1]))
        self.t_base, self.h_run, self.k = self.t, 0.0, 0  # t = t_base + k * h_run
        self.ts: list[float] = []
        self.us: list[Array] = []
        self.n_steps = self.n_rejected = 0
        self.nfev0 = stepper.nfev
        self.message = ""

    def save(self) -> None:
        self.ts.append(self.t)
        self.us.append(np.array(self.u, copy=True))
        if self.on_save is not None:
            self.on_save(self.t, self.u)

    def plan(self, h: float, target: float) -> tuple[float, bool]:
        """Step size to use towards ``target`` and whether it lands there."""
        remaining = target - self.t
        if remaining > h + self.snap:
            return h, False
        # within round-off of h: keep h bit-identical so cached coefficients are reused
        return (h if abs(remaining - h) <= self.snap else remaining), True

    def accept(self, u_new: Array, h: float, target: float | None) -> bool:
        """Record an accepted step; return False if the run must stop."""
        if target is not None:
            t_new = target
            self.t_base, self.h_run, self.k = target, 0.0, 0
        else:
            if h != self.h_run:
                self.t_base, self.h_run, self.k = self.t, h, 0
            self.k += 1
            t_new = self.t_base + self.k * h
        if not np.all(np.isfinite(u_new)):
            return self.fail(
                f"solution became non-finite at t={t_new:.12g} "
                f"(last finite state at t={self.t:.12g})"
            )
        if self.check is not None:
            message = self.check(t_new, u_new)
            if message is not None:
                return self.fail(str(message))
        self.t, self.u = t_new, u_new
        self.n_steps += 1
        if self.progress is not None:
            self.progress(self.t)
        return True

    def fail(self, message: str) -> bool:
        self.message = message
        return False

    def result(self, h_last: float) -> IntegrationResult:
        if self.message and self.t > self.ts[-1]:
            # keep the last good state of a failed run (its time is not a save time)
            self.ts.append(self.t)
            self.us.append(np.array(self.u, copy=True))
            self.message += f" [last good state, t={self.t:.12g}, appended to the saves]"
        return IntegrationResult(
            t=np.array(self.ts),
            u=np.stack(self.us),
            status="failed" if self.message else "success",
            message=self.message,
            n_steps=self.n_steps,
            n_rejected=self.n_rejected,
            nfev=self.stepper.nfev - self.nfev0,
            h_last=h_last,
        )


def _validate_t_eval(t_eval: ArrayLike) -> Array:
    t_eval = np.asarray(t_eval, dtype=float)
    if t_eval.ndim != 1 or t_eval.size == 0:
        raise ValueError("t_eval must be a non-empty 1-D array")
    if not np.all(np.isfinite(t_eval)):
        raise ValueError("t_eval must be finite")
    if np.any(np.diff(t_eval) <= 0):
        raise ValueError("t_eval must be strictly increasing")
    return t_eval


def _run_fixed(run: _Run, t_eval: Array, dt: float, max_steps: int) -> bool:
    """Fixed steps of ``dt``, clipped at the save times."""
    for target in t_eval[1:]:
        while run.t < target:
            if run.n_steps >= max_steps:
                return run.fail(f"maximum number of steps ({max_steps}) reached at t={run.t:.12g}")
            h, lands = run.plan(dt, target)
            if not run.accept(run.stepper.step(run.u, h), h, target if lands else None):
                return False
        run.save()
    return True


def _initial_step(stepper: Stepper, controller: StepController, u0: Array, span: float) -> float:
    """Default first step: ``1e-3 * span`` rescaled after one trial step."""
    h = 1e-3 * span
    u1, err = step_doubling(stepper, u0, h)
    err_norm = controller.error_norm(err, u0, u1)
    if not np.isfinite(err_norm):
        return h * controller.factor_min
    if err_norm == 0:
        return min(100 * h, span)
    factor = controller.safety * err_norm ** (-1.0 / (stepper.order + 1))
    return min(span, h * min(100.0, max(1e-3, factor)))


def _run_adaptive(
    run: _Run,
    t_eval: Array,
    controller: StepController,
    h: float,
    h_min: float,
    max_steps: int,
    extrapolate: bool,
) -> tuple[bool, float]:
    """Adaptive steps with step-doubling error estimates; returns (ok, h_next)."""
    stepper = run.stepper
    for target in t_eval[1:]:
        while run.t < target:
            if run.n_steps + run.n_rejected >= max_steps:
                msg = f"maximum number of steps ({max_steps}) reached at t={run.t:.12g}"
                return run.fail(msg), h
            h_step, lands = run.plan(_quantize(h) if stepper.quantize_steps else h, target)
            u_new, err = step_doubling(stepper, run.u, h_step, extrapolate)
            err_norm = controller.error_norm(err, run.u, u_new)
            accept, h_next = controller.propose(h_step, err_norm, stepper.order)
            if accept:
                if not run.accept(u_new, h_step, target if lands else None):
                    return False, h
                # a step clipped at a save time does not shrink the following ones
                h = max(h_next, h) if (lands and h_step < h) else h_next
            else:
                run.n_rejected += 1
                h = h_next
            if h < h_min:
                return run.fail(_h_min_message(stepper, run.t, h, h_min)), h
        run.save()
    return True, h


def _quantize(h: float) -> float:
    """Round h down to the grid 2**(j/4) (at most 16% smaller)."""
    return 2.0 ** (math.floor(4.0 * math.log2(h)) / 4.0)


def _h_min_message(stepper: Stepper, t: float, h: float, h_min: float) -> str:
    cause = "the solution may be blowing up (finite-time singularity)"
    if not stepper.handles_stiff:
        cause += f", or the problem is too stiff for the explicit scheme {stepper.name!r}"
    return f"step size h={h:.3g} fell below h_min={h_min:.3g} at t={t:.12g}; {cause}"


def integrate(
    stepper: Stepper,
    u0: ArrayLike,
    t_eval: ArrayLike,
    *,
    dt: float | None = None,
    controller: StepController | None = None,
    h0: float | None = None,
    h_min: float | None = None,
    max_steps: int = 10_000_000,
    check: Callable[[float, Array], str | None] | None = None,
    on_save: Callable[[float, Array], None] | None = None,
    progress: Callable[[float], None] | None = None,
    extrapolate: bool = True,
) -> IntegrationResult:
    """Integrate ``du/dt = L u + N(u)`` and save the state at ``t_eval``.

    Parameters
    ----------
    stepper : Stepper
        The scheme (holds ``L`` and ``N``).
    u0 : array_like
        State at ``t_eval[0]``.
    t_eval : array_like
        Strictly increasing save times; the first is the start time. Steps are
        clipped to land exactly on each save time.
    dt : float, optional
        Fixed step size (if ``controller`` is None), else the initial step.
    controller : StepController, optional
        Enables adaptive stepping, with errors estimated by
        :func:`step_doubling`.
    h0 : float, optional
        Initial adaptive step if ``dt`` is None (default: ``1e-3`` of the
        time span, refined by one trial step).
    h_min : float, optional
        Adaptive runs stop when the proposed step falls below this
        (default ``1e-12`` of the time span).
    max_steps : int
        Limit on the number of (accepted plus rejected) steps.
    check : callable, optional
        ``check(t, u)`` after each accepted step; a returned string stops the
        run with that message (the offending state is not saved).
    on_save : callable, optional
        ``on_save(t, u)`` after each save, including the initial state.
    progress : callable, optional
        ``progress(t)`` after each accepted step.
    extrapolate : bool
        Adaptive runs advance with the Richardson-extrapolated step-doubling
        solution (default; about 3x smaller errors at the same cost on the
        mean-field benchmark), the error estimate being that of the two half steps.

    Returns
    -------
    IntegrationResult
        Failures (non-finite state, ``check`` message, step size below
        ``h_min``, ``max_steps``) do not raise: ``status`` is ``"failed"``
        and the states saved so far are returned.
    """
    t_eval = _validate_t_eval(t_eval)
    if dt is None and controller is None:
        raise ValueError("give a fixed step dt or a StepController")
    for label, value in (("dt", dt), ("h0", h0)):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise ValueError(f"{label} must be positive and finite, got {value!r}")
    u = np.asarray(u0)
    if not np.issubdtype(u.dtype, np.inexact):
        u = u.astype(float)
    run = _Run(stepper, u, t_eval, check, on_save, progress)
    run.save()
    span = float(t_eval[-1] - t_eval[0])
    if controller is None:
        _run_fixed(run, t_eval, float(dt), max_steps)
        return run.result(float(dt))
    controller.reset()
    h_min = 1e-12 * span if h_min is None else float(h_min)
    if dt is not None or h0 is not None:
        h = float(dt if dt is not None else h0)
    elif span > 0:
        h = _initial_step(stepper, controller, u, span)
    else:
        h = 1.0
    _, h = _run_adaptive(run, t_eval, controller, h, h_min, max_steps, extrapolate)
    return run.result(h)
