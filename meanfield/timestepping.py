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
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "ETDRK4",
    "ETDRK4Embedded",
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

    Examples
    --------
    >>> import math
    >>> from meanfield.timestepping import phi_functions
    >>> z = 2.0
    >>> p0, p1, p2, p3 = phi_functions(z)
    >>> bool(abs(p1 - (math.exp(z) - 1) / z) < 1e-14)
    True
    >>> bool(abs(p3 - (math.exp(z) - 1 - z - z**2 / 2) / z**3) < 1e-14)
    True

    At ``z = 0`` the values are ``1/k!`` (no cancellation near 0 either):

    >>> [round(float(p), 12) for p in phi_functions(0.0)]
    [1.0, 1.0, 0.5, 0.166666666667]
    >>> z = 1e-6
    >>> bool(abs(phi_functions(z, 1)[1] - (1 + z / 2 + z**2 / 6)) < 1e-16)
    True
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

    Examples
    --------
    Steppers are used through a registered subclass:

    >>> import numpy as np
    >>> from meanfield.timestepping import RK4
    >>> s = RK4(L=-1.0, N=lambda u: 0 * u)
    >>> s
    RK4(name='rk4', order=4)
    >>> u1 = s.step(np.array([1.0]), 0.1)
    >>> s.nfev  # four stages
    4
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
        """Advance ``u`` by one step of size ``h`` and return the new state.

        Examples
        --------
        RK4 on ``u' = -u`` reproduces the Taylor polynomial of ``exp(-h)`` to degree 4:

        >>> import numpy as np
        >>> from meanfield.timestepping import RK4
        >>> h = 0.1
        >>> u1 = RK4(-1.0, lambda u: 0 * u).step(np.array([1.0]), h)
        >>> bool(abs(u1[0] - (1 - h + h**2 / 2 - h**3 / 6 + h**4 / 24)) < 1e-15)
        True
        """
        if not (np.isfinite(h) and h > 0):
            raise ValueError(f"step size h must be positive and finite, got {h!r}")
        return self._step_impl(np.asarray(u), float(h))

    def _step_impl(self, u: Array, h: float) -> Array:
        raise NotImplementedError

    embedded_order: ClassVar[int | None] = None
    """Order of the embedded solution of :meth:`step_pair` (None: the scheme has none)."""
    adaptive_estimate: ClassVar[str] = "doubling"
    """How adaptive runs estimate errors by default: ``"doubling"`` (:func:`step_doubling`)
    or ``"embedded"`` (:meth:`step_pair`)."""
    tolerance_factor: ClassVar[float] = 1.0
    """:func:`meanfield.evolve` runs the controller at ``tolerance_factor * rtol`` so that
    the global error at the end of its benchmark run (``benchmarks/bench_evolve.py``) is
    about ``rtol``."""

    def step_pair(
        self, u: ArrayLike, h: float, f0: Array | None = None
    ) -> tuple[Array, Array, Array]:
        """One step with an embedded error estimate, first-same-as-last.

        Parameters
        ----------
        u : array_like
            State at the start of the step.
        h : float
            Step size (> 0).
        f0 : ndarray, optional
            ``N(u)`` if known (the ``f_new`` of the previous step): saves one evaluation.

        Returns
        -------
        u_new : ndarray
            The solution of order :attr:`order` (the run continues with it).
        err : ndarray
            ``u_new`` minus the embedded solution of order :attr:`embedded_order`: an
            estimate of the local error of order ``embedded_order + 1`` in ``h``.
        f_new : ndarray
            ``N(u_new)``, the first stage of the next step.

        Examples
        --------
        >>> import numpy as np
        >>> from meanfield.timestepping import ETDRK4
        >>> s = ETDRK4(-1.0, lambda u: -u**2)
        >>> u1, err, f1 = s.step_pair(np.array([1.0]), 0.1)
        >>> s.nfev, bool(np.array_equal(f1, -u1**2))  # four stages and N(u_new)
        (5, True)
        >>> _ = s.step_pair(u1, 0.1, f1)  # the next step reuses N(u_new)
        >>> s.nfev
        9
        """
        if self.embedded_order is None:
            raise NotImplementedError(f"{self.name!r} has no embedded error estimate")
        if not (np.isfinite(h) and h > 0):
            raise ValueError(f"step size h must be positive and finite, got {h!r}")
        return self._step_pair_impl(np.asarray(u), float(h), f0)

    def _step_pair_impl(
        self, u: Array, h: float, f0: Array | None
    ) -> tuple[Array, Array, Array]:
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
    """Class decorator adding a :class:`Stepper` subclass to :data:`STEPPERS`.

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.timestepping import STEPPERS, ExplicitRK, get_stepper, register
    >>> @register
    ... class Heun(ExplicitRK):
    ...     name = "doc-heun"
    ...     order = 2
    ...     A = np.array([[0.0, 0.0], [1.0, 0.0]])
    ...     b = np.array([0.5, 0.5])
    ...     c = np.array([0.0, 1.0])
    >>> get_stepper("doc-heun") is Heun
    True
    >>> del STEPPERS["doc-heun"]  # keep the registry as it was

    A second class with a name already taken is refused:

    >>> class Other(ExplicitRK):
    ...     name = "rk4"
    >>> register(Other)
    Traceback (most recent call last):
    ...
    ValueError: a stepper named 'rk4' is already registered
    """
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if STEPPERS.get(cls.name, cls) is not cls:
        raise ValueError(f"a stepper named {cls.name!r} is already registered")
    STEPPERS[cls.name] = cls
    return cls


def get_stepper(name: str) -> type[Stepper]:
    """Return the registered stepper class called ``name``.

    Examples
    --------
    >>> from meanfield.timestepping import ETDRK4, STEPPERS, get_stepper
    >>> get_stepper("etdrk4") is ETDRK4
    True
    >>> sorted(STEPPERS)
    ['etdrk4', 'etdrk4-embedded', 'imex-ars232', 'imex-ars443', 'rk4', 'rodas4']
    >>> get_stepper("euler")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown time stepper 'euler'; registered: etdrk4, etdrk4-embedded, imex-ars232, ...
    """
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

    Examples
    --------
    Forward Euler as a one-stage tableau:

    >>> import numpy as np
    >>> from meanfield.timestepping import ExplicitRK
    >>> class Euler(ExplicitRK):
    ...     name, order = "doc-euler", 1
    ...     A, b, c = np.zeros((1, 1)), np.array([1.0]), np.array([0.0])
    >>> float(Euler(-1.0, lambda u: 0 * u).step(1.0, 0.1))  # 1 - h
    0.9
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
    """Classical fourth-order Runge-Kutta method (non-stiff).

    Examples
    --------
    Observed order on ``u' = -u`` (split as ``L = -1/2``, ``N(u) = -u/2``),
    from the errors at ``t = 1`` with steps ``0.1`` and ``0.05``:

    >>> import math
    >>> from meanfield.timestepping import RK4, integrate
    >>> def error(dt):
    ...     res = integrate(RK4(-0.5, lambda u: -0.5 * u), 1.0, [0.0, 1.0], dt=dt)
    ...     return abs(float(res.u[-1]) - math.exp(-1.0))
    >>> round(math.log2(error(0.1) / error(0.05)))
    4
    """

    name = "rk4"
    order = 4
    handles_stiff = False
    A = np.array([[0, 0, 0, 0], [0.5, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 1, 0]], dtype=float)
    b = np.array([1, 2, 2, 1], dtype=float) / 6
    c = np.array([0, 0.5, 0.5, 1], dtype=float)


@register
class ETDRK4(Stepper):
    """Cox-Matthews ETDRK4 in the Kassam-Trefethen form (module references [1], [2]).

    The linear part is integrated exactly; the coefficients are the
    phi-functions of ``h L`` and ``h L / 2`` (see :func:`phi_functions`).
    With ``L = 0`` the scheme is the classical RK4 method.

    Examples
    --------
    A constant forcing is integrated exactly, however stiff ``L``:
    ``u' = -1000 u + 1``, ``u(0) = 0`` gives ``u(h) = (1 - exp(-1000 h)) / 1000``.

    >>> import math
    >>> import numpy as np
    >>> from meanfield.timestepping import ETDRK4
    >>> s = ETDRK4(-1000.0, lambda u: np.ones_like(u))
    >>> u1 = s.step(np.array([0.0]), 0.01)
    >>> bool(abs(u1[0] - (1 - math.exp(-10.0)) / 1000) < 1e-16)
    True

    Observed order on ``u' = -u`` (split as ``L = -1/2``, ``N(u) = -u/2``),
    from the errors at ``t = 1`` with steps ``0.1`` and ``0.05``:

    >>> import math
    >>> from meanfield.timestepping import ETDRK4, integrate
    >>> def error(dt):
    ...     res = integrate(ETDRK4(-0.5, lambda u: -0.5 * u), 1.0, [0.0, 1.0], dt=dt)
    ...     return abs(float(res.u[-1]) - math.exp(-1.0))
    >>> round(math.log2(error(0.1) / error(0.05)))
    4
    """

    name = "etdrk4"
    order = 4
    embedded_order = 3
    handles_stiff = True
    quantize_steps = True
    # Adaptive runs: Richardson-extrapolated step doubling (order 5, 12 evaluations per
    # step, 11 in the compiled loop) reaches 1e-8 with about 20% fewer evaluations and 3x
    # fewer steps than the embedded pair on the benchmark; its global error is 0.012-0.03
    # of the local rtol.
    tolerance_factor = 64.0

    compiled: bool = True
    """Run :func:`integrate`'s adaptive loop as compiled code where ``N`` is the fused
    circle transport and the state its coefficient vector (:mod:`meanfield.etdrk4_loop`);
    False: always the Python loop (same steps and results to round-off)."""
    buffer_size: ClassVar[int] = 256
    """Most accepted steps the compiled loop takes before it hands them to the run's
    ``check`` and ``progress`` (:mod:`meanfield.compiled_loop`)."""

    def run_adaptive(self, run: Any, t_eval: Array, controller: StepController, h: float,
                     h_min: float, max_steps: int, embedded: bool = False,
                     extrapolate: bool = True) -> tuple[bool, float] | None:
        """:func:`integrate`'s adaptive loop, compiled (:mod:`meanfield.etdrk4_loop`); None
        where it does not apply (then ``integrate`` runs its own loop).

        It applies to this scheme itself (not to a subclass that changes its steps or
        coefficients) with the fused transport of :mod:`meanfield.fused`, a real ``L`` and
        the standard :class:`StepController`, and takes the steps of the Python loop
        (module example of :mod:`meanfield.etdrk4_loop`).
        """
        cls = type(self)
        if not (self.compiled and type(controller) is StepController and h_min > 0
                and self.quantize_steps and self.order == 4
                and cls._step_impl is ETDRK4._step_impl
                and cls._step_pair_impl is ETDRK4._step_pair_impl
                and cls._compute_coefficients is ETDRK4._compute_coefficients):
            return None
        from .etdrk4_loop import compiled_run  # imports meanfield.fused (numba)

        return compiled_run(self, run, t_eval, controller, h, h_min, max_steps, embedded,
                            extrapolate, _h_min_message)

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

    def _step_pair_impl(
        self, u: Array, h: float, f0: Array | None
    ) -> tuple[Array, Array, Array]:
        """ETDRK4 and, from its stages and ``N(u_new)``, an embedded third-order solution.

        The embedded solution replaces the last stage ``N(c)`` by ``N(u_new)`` in the final
        combination, ``u_hat = u_new - h b_4(hL) (N(c) - N(u_new))``, ``b_4 = 4 phi_3 -
        phi_2``. It has classical order 3 (the weights of the stages at ``c = 1`` still sum
        to ``b_4``), so ``err = u_new - u_hat = h b_4(hL) (N(u_new) - N(c))`` is
        ``O(h**4)``. In stiff modes (``h L -> -inf``, ``h b_4 -> -1/L``) it is the error of
        the slaved value ``-N/L`` taken at the stage ``c`` instead of at ``u_new``, which
        is where ETDRK4's error sits on parabolic problems. ``N(u_new)`` is the first stage
        of the next step, so an accepted step costs four evaluations.
        """
        coeffs = self._coefficients(h)
        fused = getattr(self.N, "etdrk4_pair", None)
        if fused is not None:
            out = fused(u, f0, coeffs)
            if out is not None:
                self.nfev += 4 if f0 is not None else 5
                return out
        e, e2, q, f1, f2, f3 = coeffs
        nu = self._nonlinear(u) if f0 is None else f0
        a = e2 * u + q * nu
        na = self._nonlinear(a)
        b = e2 * u + q * na
        nb = self._nonlinear(b)
        c = e2 * a + q * (2 * nb - nu)
        nc = self._nonlinear(c)
        u_new = e * u + f1 * nu + 2 * f2 * (na + nb) + f3 * nc
        f_new = self._nonlinear(u_new)
        return u_new, f3 * (f_new - nc), f_new


@register
class ETDRK4Embedded(ETDRK4):
    """ETDRK4 whose adaptive runs use its embedded third-order estimate (no step doubling).

    The steps are those of :class:`ETDRK4`; adaptive runs control the error of
    :meth:`ETDRK4.step_pair` (four evaluations per accepted step, first same as last,
    against twelve for step doubling) and continue with the fourth-order solution.

    Examples
    --------
    The embedded solution ``u_new - err`` has order 3: its error at ``t = 1`` on
    ``u' = -u - u**2`` drops 8-fold when the step is halved.

    >>> import math
    >>> import numpy as np
    >>> from meanfield.timestepping import ETDRK4Embedded
    >>> def embedded_error(h):
    ...     s, u = ETDRK4Embedded(-1.0, lambda u: -u**2), np.array([1.0])
    ...     for _ in range(round(1 / h)):
    ...         u_new, err, _ = s.step_pair(u, h)
    ...         u = u_new - err
    ...     return abs(u[0] - 1 / (2 * math.e - 1))
    >>> round(math.log2(embedded_error(0.1) / embedded_error(0.05)))
    3
    """

    name = "etdrk4-embedded"
    adaptive_estimate = "embedded"
    tolerance_factor = 16.0  # global error 0.05-0.07 of the local rtol on the benchmark


class IMEXRK(Stepper):
    """Implicit-explicit Runge-Kutta method: ``N`` explicit, ``L`` implicit.

    Subclasses set the tableau class attributes ``A_expl``, ``b_expl``,
    ``A_impl`` (lower triangular), ``b_impl`` and ``c``. Because ``L`` is
    diagonal, each implicit stage is an elementwise division by
    ``1 - h a_ii L``.

    Examples
    --------
    IMEX Euler (forward Euler for ``N``, backward Euler for ``L``) as a tableau:

    >>> import numpy as np
    >>> from meanfield.timestepping import IMEXRK
    >>> class IMEXEuler(IMEXRK):
    ...     name, order = "doc-imex-euler", 1
    ...     A_expl = np.array([[0.0, 0.0], [1.0, 0.0]])
    ...     b_expl = np.array([1.0, 0.0])
    ...     A_impl = np.array([[0.0, 0.0], [0.0, 1.0]])
    ...     b_impl = np.array([0.0, 1.0])
    ...     c = np.array([0.0, 1.0])
    >>> s = IMEXEuler(-1.0, lambda u: np.ones_like(u))  # u' = -u + 1
    >>> float(s.step(0.0, 0.5))  # (u + h) / (1 + h)
    0.3333333333333333
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
    """ARS(2,3,2), second order, L-stable implicit part (module reference [3], Sec. 2.5).

    ``gamma = 1 - 1/sqrt(2)``, ``delta = -2 sqrt(2) / 3``.

    Examples
    --------
    Observed order on ``u' = -u`` (split as ``L = -1/2``, ``N(u) = -u/2``),
    from the errors at ``t = 1`` with steps ``0.1`` and ``0.05``:

    >>> import math
    >>> from meanfield.timestepping import IMEXARS232, integrate
    >>> def error(dt):
    ...     res = integrate(IMEXARS232(-0.5, lambda u: -0.5 * u), 1.0, [0.0, 1.0], dt=dt)
    ...     return abs(float(res.u[-1]) - math.exp(-1.0))
    >>> round(math.log2(error(0.1) / error(0.05)))
    2

    The implicit part is L-stable: a very stiff mode is damped in one step.

    >>> import numpy as np
    >>> u1 = IMEXARS232(-1e6, lambda u: 0 * u).step(np.array([1.0]), 1.0)
    >>> bool(abs(u1[0]) < 1e-5)
    True
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
    """ARS(4,4,3), third order, L-stable implicit part (module reference [3], Sec. 2.8).

    Examples
    --------
    Observed order on ``u' = -u`` (split as ``L = -1/2``, ``N(u) = -u/2``),
    from the errors at ``t = 1`` with steps ``0.1`` and ``0.05``:

    >>> import math
    >>> from meanfield.timestepping import IMEXARS443, integrate
    >>> def error(dt):
    ...     res = integrate(IMEXARS443(-0.5, lambda u: -0.5 * u), 1.0, [0.0, 1.0], dt=dt)
    ...     return abs(float(res.u[-1]) - math.exp(-1.0))
    >>> round(math.log2(error(0.1) / error(0.05)))
    3
    """

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

    Examples
    --------
    RK4 on ``u' = -u`` with ``h = 1/2``: ``-err`` estimates the actual error of the
    two half steps, and the extrapolated solution is more accurate.

    >>> import math
    >>> from meanfield.timestepping import RK4, step_doubling
    >>> s = RK4(-1.0, lambda u: 0 * u)
    >>> u_half, err = step_doubling(s, 1.0, 0.5)
    >>> exact = math.exp(-0.5)
    >>> round(float((u_half - exact) / -err), 1)
    0.8
    >>> u_extra, _ = step_doubling(s, 1.0, 0.5, extrapolate=True)
    >>> bool(abs(u_extra - exact) < abs(u_half - exact) / 3)
    True
    """
    u = np.asarray(u)
    u_full = stepper.step(u, h)
    u_half = stepper.step(stepper.step(u, 0.5 * h), 0.5 * h)
    err = (u_half - u_full) / (2.0**stepper.order - 1.0)
    return (u_half + err if extrapolate else u_half), err


def _max_abs(x: ArrayLike) -> float:
    x = np.asarray(x)
    return float(np.abs(x).max()) if x.size else 0.0


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

    Examples
    --------
    >>> from meanfield.timestepping import StepController
    >>> c = StepController(rtol=1e-3, atol=1e-6)
    >>> c
    StepController(rtol=0.001, atol=1e-06)
    >>> accept, h_next = c.propose(0.1, c.error_norm(1e-5, 1.0, 1.0), order=4)
    >>> accept, h_next > 0.1  # small error: accepted, larger next step
    (True, True)
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
        """Forget the error history (done by :func:`integrate` at its start).

        Examples
        --------
        The PI proposal depends on the previous error; after a reset it is the same
        as for a fresh controller:

        >>> from meanfield.timestepping import StepController
        >>> c = StepController()
        >>> first = c.propose(0.1, 0.5, order=4)
        >>> c.propose(0.1, 0.5, order=4) == first  # remembers err_prev = 0.5
        False
        >>> c.reset()
        >>> c.propose(0.1, 0.5, order=4) == first
        True
        """
        self._err_prev = 1.0

    @property
    def err_prev(self) -> float:
        """Error norm of the last accepted step (1 after :meth:`reset`), the PI memory.

        Set it to continue a run with the step sizes it would have taken.

        Examples
        --------
        >>> from meanfield.timestepping import StepController
        >>> c = StepController()
        >>> _ = c.propose(0.1, 0.5, order=4)
        >>> c.err_prev
        0.5
        >>> fresh = StepController()
        >>> fresh.err_prev = c.err_prev  # same memory: same proposals
        >>> fresh.propose(0.1, 0.3, order=4) == c.propose(0.1, 0.3, order=4)
        True
        """
        return self._err_prev

    @err_prev.setter
    def err_prev(self, value: float) -> None:
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"err_prev must be positive and finite, got {value!r}")
        self._err_prev = float(value)

    def error_norm(self, err: ArrayLike, u0: ArrayLike, u1: ArrayLike) -> float:
        """Norm-wise relative error ``max|err| / (atol + rtol * max(max|u0|, max|u1|))``.

        Norm-wise rather than per entry: spectral coefficients span many orders of
        magnitude, and a per-entry scale would make the tiny, physically irrelevant high
        modes dictate the step (5-10x more steps for the same error in the density).

        Examples
        --------
        >>> from meanfield.timestepping import StepController
        >>> c = StepController(rtol=1e-3, atol=1e-6)
        >>> e = c.error_norm([1e-4, -2e-4], [1.0, 0.5], [2.0, 0.1])
        >>> bool(abs(e - 2e-4 / (1e-6 + 1e-3 * 2.0)) < 1e-15)
        True
        """
        scale = self.atol + self.rtol * max(_max_abs(u0), _max_abs(u1))
        return _max_abs(err) / scale

    def propose(self, h: float, err_norm: float, order: int) -> tuple[bool, float]:
        """Decide on a step of size ``h`` with error norm ``err_norm``.

        Returns
        -------
        accept : bool
            Whether the step is accepted (``err_norm <= 1``).
        h_next : float
            Proposed size of the next step (or of the retry).

        Examples
        --------
        >>> from meanfield.timestepping import StepController
        >>> c = StepController()  # safety 0.9, factor_min 0.2, factor_max 5
        >>> accept, h = c.propose(0.1, 4.0, order=4)  # rejected: 0.9 * 4**(-1/5) * h
        >>> accept, round(h, 6)
        (False, 0.068207)
        >>> c.propose(0.1, float("nan"), order=4)[1] == 0.1 * 0.2
        True
        >>> c.propose(0.1, 0.0, order=4)  # exact step: grow by factor_max
        (True, 0.5)
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
    step_errors : ndarray (k, 2)
        Fixed-step runs with ``estimate_error=True``: rows ``(t, e)``, ``e`` the
        step-doubling estimate of the local error of one step of ``dt`` taken from the
        state at time ``t`` (just before a save time), relative to the largest entry of
        the state (see :func:`step_doubling`). Empty otherwise.

    Examples
    --------
    >>> from meanfield.timestepping import RK4, integrate
    >>> res = integrate(RK4(-1.0, lambda u: 0 * u), 1.0, [0.0, 0.5, 1.0], dt=0.1)
    >>> res.t.tolist(), res.u.shape, res.status, res.n_steps, res.nfev
    ([0.0, 0.5, 1.0], (3,), 'success', 10, 40)
    """

    t: Array
    u: Array
    status: str
    message: str
    n_steps: int
    n_rejected: int
    nfev: int
    h_last: float
    step_errors: Array = field(default_factory=lambda: np.zeros((0, 2)))

    @property
    def success(self) -> bool:
        """Whether the run reached the last save time.

        Examples
        --------
        >>> from meanfield.timestepping import RK4, integrate
        >>> s = RK4(0.0, lambda u: 0 * u)
        >>> integrate(s, 1.0, [0.0, 1.0], dt=0.1).success
        True
        >>> integrate(s, 1.0, [0.0, 1.0], dt=0.1, max_steps=3).success
        False
        """
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
        on_save_state: Callable[[float, Array, dict], None] | None = None,
        controller: StepController | None = None,
    ) -> None:
        self.stepper, self.check, self.on_save, self.progress = stepper, check, on_save, progress
        self.on_save_state, self.controller = on_save_state, controller
        self.h_next = math.nan  # the step size the run continues with after a save
        self.step_errors: list[tuple[float, float]] = []
        self.check_steps = 0  # steps spent on error estimates (fixed-step runs)
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
        if self.on_save_state is not None:
            self.on_save_state(self.t, self.u, self.state())

    def state(self) -> dict:
        """What a run continued from the last save needs to take the same steps."""
        err_prev = math.nan if self.controller is None else self.controller.err_prev
        return dict(h=self.h_next, err_prev=err_prev, n_steps=self.n_steps,
                    n_rejected=self.n_rejected, nfev=self.stepper.nfev - self.nfev0)

    def estimate_error(self, u_prev: Array, t_prev: float, dt: float,
                       u_full: Array | None) -> None:
        """Step doubling from ``u_prev``: one step of ``dt`` against two of ``dt / 2``."""
        stepper = self.stepper
        if u_full is None:
            u_full = stepper.step(u_prev, dt)
            self.check_steps += 1
        u_half = stepper.step(stepper.step(u_prev, 0.5 * dt), 0.5 * dt)
        self.check_steps += 2
        with np.errstate(all="ignore"):
            diff = float(np.max(np.abs(u_half - u_full))) / (2.0**stepper.order - 1.0)
            scale = max(float(np.max(np.abs(u_full))), float(np.max(np.abs(u_half))))
            est = diff / scale if scale > 0 else diff
        self.step_errors.append((t_prev, est if np.isfinite(est) else math.inf))

    def plan(self, h: float, target: float) -> tuple[float, bool]:
        """Step size to use towards ``target`` and whether it lands there."""
        remaining = target - self.t
        if remaining > h + self.snap:
            return h, False
        # within round-off of h: keep h bit-identical so cached coefficients are reused
        return (h if abs(remaining - h) <= self.snap else remaining), True

    def accept(self, u_new: Array, h: float, target: float | None, checked: bool = False
               ) -> bool:
        """Record an accepted step; return False if the run must stop (``checked``: ``u_new``
        is known to be finite and to pass the run's ``check``)."""
        if target is not None:
            t_new = target
            self.t_base, self.h_run, self.k = target, 0.0, 0
        else:
            if h != self.h_run:
                self.t_base, self.h_run, self.k = self.t, h, 0
            self.k += 1
            t_new = self.t_base + self.k * h
        if not checked and not np.all(np.isfinite(u_new)):
            return self.fail(
                f"solution became non-finite at t={t_new:.12g} "
                f"(last finite state at t={self.t:.12g})"
            )
        if self.check is not None and not checked:
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
            step_errors=np.array(self.step_errors, dtype=float).reshape(-1, 2),
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


def _run_fixed(
    run: _Run, t_eval: Array, dt: float, max_steps: int, estimate_error: bool = False
) -> bool:
    """Fixed steps of ``dt``, clipped at the save times.

    With ``estimate_error``, the step that lands on a save time is repeated as two half
    steps (:meth:`_Run.estimate_error`) when the extra steps stay within about 20% of the
    run's steps (always at the first and the last save time).
    """
    for i, target in enumerate(t_eval[1:], start=1):
        prev = None
        while run.t < target:
            if run.n_steps >= max_steps:
                return run.fail(f"maximum number of steps ({max_steps}) reached at t={run.t:.12g}")
            h, lands = run.plan(dt, target)
            u_new = run.stepper.step(run.u, h)
            if lands:
                prev = (run.u, run.t, u_new if h == dt else None)
            if not run.accept(u_new, h, target if lands else None):
                return False
        last = i == len(t_eval) - 1
        if estimate_error and prev is not None and (
            last or run.check_steps + 2 <= 0.2 * run.n_steps + 2
        ):
            run.estimate_error(prev[0], prev[1], dt, prev[2])
        run.save()
    return True


def _initial_step(stepper: Stepper, controller: StepController, u0: Array, span: float,
                  embedded: bool = False) -> float:
    """Default first step: ``1e-3 * span`` rescaled after one trial step."""
    h = 1e-3 * span
    if embedded:
        u1, err, _ = stepper.step_pair(u0, h)
        order = stepper.embedded_order
    else:
        u1, err = step_doubling(stepper, u0, h)
        order = stepper.order
    err_norm = controller.error_norm(err, u0, u1)
    if not np.isfinite(err_norm):
        return h * controller.factor_min
    if err_norm == 0:
        return min(100 * h, span)
    factor = controller.safety * err_norm ** (-1.0 / (order + 1))
    return min(span, h * min(100.0, max(1e-3, factor)))


def _run_adaptive(
    run: _Run,
    t_eval: Array,
    controller: StepController,
    h: float,
    h_min: float,
    max_steps: int,
    extrapolate: bool,
    embedded: bool = False,
) -> tuple[bool, float]:
    """Adaptive steps with embedded or step-doubling error estimates; returns (ok, h_next).

    With ``embedded``, :meth:`Stepper.step_pair` gives the error estimate and ``N`` at the
    new state, which the next step starts from (first same as last).
    """
    stepper = run.stepper
    if hasattr(stepper, "run_adaptive"):  # a compiled loop (meanfield.compiled_loop)
        done = stepper.run_adaptive(run, t_eval, controller, h, h_min, max_steps,
                                    embedded=embedded, extrapolate=extrapolate)
        if done is not None:
            return done
    order = stepper.embedded_order if embedded else stepper.order
    f = None  # N(run.u) once known
    for target in t_eval[1:]:
        while run.t < target:
            if run.n_steps + run.n_rejected >= max_steps:
                msg = f"maximum number of steps ({max_steps}) reached at t={run.t:.12g}"
                return run.fail(msg), h
            h_step, lands = run.plan(_quantize(h) if stepper.quantize_steps else h, target)
            if embedded:
                u_new, err, f_new = stepper.step_pair(run.u, h_step, f)
            else:
                u_new, err = step_doubling(stepper, run.u, h_step, extrapolate)
            err_norm = controller.error_norm(err, run.u, u_new)
            accept, h_next = controller.propose(h_step, err_norm, order)
            if accept:
                if not run.accept(u_new, h_step, target if lands else None):
                    return False, h
                if embedded:
                    f = f_new
                # a step clipped at a save time does not shrink the following ones
                h = max(h_next, h) if (lands and h_step < h) else h_next
            else:
                run.n_rejected += 1
                h = h_next
            if h < h_min:
                return run.fail(_h_min_message(stepper, run.t, h, h_min)), h
        run.h_next = h
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
    estimate_error: bool = False,
    on_save_state: Callable[[float, Array, dict], None] | None = None,
    state: dict | None = None,
    embedded: bool | None = None,
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
        Enables adaptive stepping, with errors estimated by :func:`step_doubling` or the
        scheme's embedded pair (see ``embedded``).
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
        run with that message (the offending state is not saved). A compiled loop
        (:mod:`meanfield.compiled_loop`) first asks ``check.first_failure(us)``, if the
        check has it, for the index of the first of a batch of states ``us`` (stacked on
        the first axis) that would fail, or None; the states before it pass unchecked.
    on_save : callable, optional
        ``on_save(t, u)`` after each save, including the initial state.
    progress : callable, optional
        ``progress(t)`` after each accepted step.
    extrapolate : bool
        Adaptive runs with step doubling advance with the Richardson-extrapolated
        solution (default; about 3x smaller errors at the same cost on the
        mean-field benchmark), the error estimate being that of the two half steps.
    estimate_error : bool
        Fixed-step runs: estimate the local error of a step of ``dt`` by step doubling
        at save times (the landing step again as two half steps; at most about 20% more
        steps); see ``IntegrationResult.step_errors``.
    on_save_state : callable, optional
        ``on_save_state(t, u, state)`` after each save, ``state`` a dict with the step
        size to continue with (``h``), the controller's error history (``err_prev``) and
        the counters so far (``n_steps``, ``n_rejected``, ``nfev``).
    state : dict, optional
        Continue a run from one of its save times: the ``state`` reported there by
        ``on_save_state`` (its ``h`` and ``err_prev``; ``u0`` the state saved then). The
        steps taken are then those of the uninterrupted run.
    embedded : bool, optional
        Adaptive runs: estimate errors with the embedded pair (``stepper.step_pair``) or
        by step doubling (default: ``stepper.adaptive_estimate``).

    Returns
    -------
    IntegrationResult
        Failures (non-finite state, ``check`` message, step size below
        ``h_min``, ``max_steps``) do not raise: ``status`` is ``"failed"``
        and the states saved so far are returned.

    Examples
    --------
    Fixed steps on ``u' = -u`` against ``exp(-t)``:

    >>> import numpy as np
    >>> from meanfield.timestepping import ETDRK4, RK4, StepController, integrate
    >>> t = np.linspace(0.0, 1.0, 5)
    >>> res = integrate(RK4(-1.0, lambda u: 0 * u), 1.0, t, dt=0.05)
    >>> bool(np.max(np.abs(res.u - np.exp(-t))) < 1e-7)
    True

    Adaptive steps on ``u' = -u - u**2``, ``u(0) = 1``, whose solution is
    ``1 / (2 exp(t) - 1)``:

    >>> res = integrate(ETDRK4(-1.0, lambda u: -u**2), np.array([1.0]), [0.0, 1.0, 2.0],
    ...                 controller=StepController(rtol=1e-8))
    >>> res.status, res.u.shape
    ('success', (3, 1))
    >>> bool(np.max(np.abs(res.u[:, 0] - 1 / (2 * np.exp(res.t) - 1))) < 1e-8)
    True

    A blow-up does not raise: ``u' = u + u**2``, ``u(0) = 1`` is singular at
    ``t = log 2``, where the step size collapses.

    >>> res = integrate(RK4(1.0, lambda u: u**2), np.array([1.0]), [0.0, 1.0],
    ...                 controller=StepController(rtol=1e-6))
    >>> res.status, round(float(res.t[-1]), 5) == round(float(np.log(2)), 5)
    ('failed', True)

    A run continued from a save time with the ``state`` reported there takes the
    same steps as the uninterrupted run:

    >>> states = {}
    >>> def keep(t, u, state):
    ...     states[t] = state
    >>> s = ETDRK4(-1.0, lambda u: -u**2)
    >>> full = integrate(s, np.array([1.0]), [0.0, 1.0, 2.0],
    ...                  controller=StepController(rtol=1e-8), on_save_state=keep)
    >>> rest = integrate(s, full.u[1], [1.0, 2.0], controller=StepController(rtol=1e-8),
    ...                  state=states[1.0], h_min=2e-12)
    >>> bool(rest.u[-1, 0] == full.u[-1, 0]), rest.n_steps == full.n_steps - states[1.0]["n_steps"]
    (True, True)
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
    run = _Run(stepper, u, t_eval, check, on_save, progress, on_save_state, controller)
    span = float(t_eval[-1] - t_eval[0])
    if controller is None:
        run.h_next = float(dt)
        run.save()
        _run_fixed(run, t_eval, float(dt), max_steps, estimate_error)
        return run.result(float(dt))
    controller.reset()
    if embedded is None:
        embedded = stepper.adaptive_estimate == "embedded"
    elif embedded and stepper.embedded_order is None:
        raise ValueError(f"embedded=True, but the scheme {stepper.name!r} has no embedded "
                         "error estimate (use embedded=False: step doubling)")
    h_min = 1e-12 * span if h_min is None else float(h_min)
    if state is not None and np.isfinite(state.get("h", math.nan)):
        h = float(state["h"])
        if np.isfinite(state.get("err_prev", math.nan)):
            controller.err_prev = float(state["err_prev"])
    elif dt is not None or h0 is not None:
        h = float(dt if dt is not None else h0)
    elif span > 0:
        h = _initial_step(stepper, controller, u, span, embedded)
    else:
        h = 1.0
    run.h_next = h
    run.save()
    _, h = _run_adaptive(run, t_eval, controller, h, h_min, max_steps, extrapolate, embedded)
    return run.result(h)
