r"""Causal attention as a kinetic equation: the closed-form retrieval profile on the circle.

Source
------
M. Duerinckx, B. Geshkovski, S. Rossi, "Kinetic theory for Transformers and the
lost-in-the-middle phenomenon", arXiv 2605.09213 (2026). The paper proves the mean-field
limit of causal self-attention (a non-exchangeable particle system), characterizes the
next-order (1/n) correlations, solves the correlation equation in closed form for iid
uniform tokens on the circle and shows that the *retrieval profile* -- the soft accuracy
of the last token as a function of the source position -- is U-shaped (primacy, recency,
one interior minimum) below a threshold time ``t_crit``.

What could be read, and what could not (state of the record)
------------------------------------------------------------
Only the abstract and the first paragraphs of the paper's introduction were reachable
with the search tool; its body (section and equation numbers included) was not. The
formulas below are therefore taken from, and checked against, two other primary sources:

* the authors' public code, github.com/borjanG/2026-lost-in-the-middle:
  ``generate_u_shape_numerology_data.py`` (its docstring says its formulas "match the
  current notation" of the paper: ``a_n``, ``omega_{n,M}``, ``g_{a_n}(t,1;s)``,
  ``Y_lambda``, ``psi_c`` and ``t_crit`` below) and
  ``generate_alibi_particle_circle_dynamics.py`` (the particle model and its ALiBi weights);
* the paper's profile figure in that repository (``img/2.jpg``: the centred profile at
  ``t = 1.2`` for ``beta = lambda = 1``, ``M = 8``, ``n_max = 20``), which
  tests/test_causal.py reproduces.

The derivation of the closed form from the linearized causal equation (next section) is
done here, not read in the paper; it reproduces the code's formulas exactly. Equation
numbers of the paper are not cited because they could not be seen.

The model (paper's code, in the paper's time)
---------------------------------------------
``N`` tokens ``theta_1, ..., theta_N`` on the circle, token ``i`` at position
``s = i/N`` in the prompt, move by

    d theta_i / dt = sum_{j < i} W_ij d/d theta_i exp(beta cos(theta_i - theta_j)),
    W_ij = exp(-lambda (i - j)/N) / sum_{k < i} exp(-lambda (i - k)/N),

(strictly lower-triangular, row-normalized ALiBi weights of slope ``lambda``; token 1 does
not move). As ``N -> oo`` the weights become the density, in ``sigma in [0, s)``,

    w_lambda(s, sigma) = lambda e^{lambda sigma} / (e^{lambda s} - 1)     (w_0 = 1/s),

(:func:`alibi_kernel`), and the state is a family ``rho(t, s, .)`` of densities on the
circle with velocity ``d/d theta int_0^s w_lambda(s, sigma) (K_beta * rho(t, sigma))
d sigma``, ``K_beta(theta) = e^{beta cos theta}``.

Linearized causal equation and its propagator (derived here)
------------------------------------------------------------
``rho = 1`` is stationary for every ``s``. Writing ``rho = 1 + f`` and
``f(t, s, theta) = sum_n f_n(t, s) e^{i n theta}``, the linearization is, mode by mode,

    d/dt f_n(t, s) = a_n (W_lambda f_n)(t, s),
    (W_lambda g)(s) = int_0^s w_lambda(s, sigma) g(sigma) d sigma,

with rate ``a_n = n^2 I_n(beta)`` in the paper's time (``I_n`` modified Bessel; ``I_n(beta)``
is the Fourier coefficient of ``e^{beta cos}`` against the normalized measure). In the
variable ``u = e^{lambda s} - 1`` the operator ``W_lambda`` is the Hardy average
``(1/u) int_0^u``, whose ``k``-th power has the kernel
``w_lambda(s, sigma) Y^{k-1}/(k-1)!`` with

    Y_lambda(s, sigma) = log((e^{lambda s} - 1) / (e^{lambda sigma} - 1))   (Y_0 = log(s/sigma)),

(:func:`causal_log_ratio`). Summing the exponential series gives the propagator
``exp(c W_lambda) = I + G_c`` with the regular kernel (:func:`causal_propagator`)

    G_c(s, sigma) = w_lambda(s, sigma) psi_c(Y_lambda(s, sigma)),   sigma < s,
    psi_c(y) = sum_{k >= 0} c^{k+1} y^k / (k! (k+1)!) = c 0F1(; 2; c y)
             = sqrt(c / y) I_1(2 sqrt(c y))   (c > 0),

and ``G_c = 0`` for ``sigma > s`` (causality). The code's ``g_{a_n}(t, 1; s)`` is
``G_{a_n t}(1, s)``: the response of the last token at time ``t`` to a unit perturbation
of the source token at position ``s`` at time 0. For iid uniform tokens this is the
``1/N`` correlation of the last token with the source (linear response, derived here):
given the source's initial angle ``phi``, its point mass of weight ``1/N`` enters the
later tokens' velocities, so their law is ``1 + h/N + o(1/N)`` with ``h_n`` solving the
linearized equation driven by ``a_n w_lambda(., s) e^{-i n phi}``, i.e.
``h_n(t, .) = G_{a_n t}(., s) e^{-i n phi}``, and
``E[e^{i n (theta_N(t) - theta_src(0))}] = G_{a_n t}(1, s)/N + o(1/N)``.

Retrieval profile and threshold (formulas of the authors' code)
---------------------------------------------------------------
With the test-function weights ``omega_{n,M} = exp(-pi^2 n^2 / (2 M^2))``
(:func:`gaussian_weights`; these are the Fourier coefficients of the wrapped normal density,
w.r.t. the normalized measure, of angular standard deviation ``pi/M`` -- an identification
made here) and the truncation ``n_max``,

    S_t(s) = sum_{n=1}^{n_max} omega_{n,M} G_{a_n t}(1, s)        (:func:`retrieval_profile`).

``S_t(s) -> +oo`` as ``s -> 0`` (primacy) for ``beta >= 0``, ``t > 0``, ``lambda >= 0``,
and the slope at the right end is
``d S_t/ds (1) = lambda w_lambda(1, 1) t [S_1 - t S_2 / (2 (1 - e^{-lambda}))]``,
``S_1 = sum omega_n a_n``, ``S_2 = sum omega_n a_n^2``, so recency (an increasing right end)
holds exactly for ``t < t_crit`` (:func:`t_crit`),

    t_crit = 2 (1 - e^{-lambda}) S_1 / S_2.

Below ``t_crit`` the profile therefore has an interior minimum (its uniqueness is the
paper's theorem; here it is only checked numerically). Above ``t_crit`` it decreases near
``s = 1``; whether it is then monotone depends on ``lambda`` (derived here, see
:func:`t_crit`): the right-end curvature at ``t = t_crit`` has the sign of
``q - 2 + (2/3) S_1 S_3 / S_2^2``, ``q = 1/(1 - e^{-lambda})``, ``S_3 = sum omega_n a_n^3``,
which is positive for every ``beta >= 0`` when ``lambda < log 4`` (Cauchy-Schwarz,
``S_2^2 <= S_1 S_3``): the minimum then leaves through ``s = 1`` and the profile decreases
(monotonically, in the cases tested, e.g. the paper's ``lambda = 1``). For larger
``lambda`` (e.g. 2) an interior local maximum survives just above ``t_crit``.

Conventions: the paper's (code's) versus the suite's (shared/DESIGN.md §1)
--------------------------------------------------------------------------
* **Time.** The paper's velocity is ``grad (K_beta * rho)`` with ``K_beta = e^{beta <x,y>}``;
  the suite's USA velocity is ``grad (G_beta * rho)`` with ``G_beta = (e^{beta t} - 1)/beta``,
  i.e. ``1/beta`` times the paper's. Hence ``t_suite = beta * t_paper``
  (:func:`suite_time`, :func:`paper_time`), the suite's rates are
  ``a_n = n^2 I_n(beta)/beta = n^2 g_n`` (``g_n`` the circle coefficients of ``G_beta``; at
  ``beta = 0``, the Kuramoto limit, ``a_1 = 1/2`` and ``a_n = 0`` for ``n >= 2``) and
  ``t_crit`` in suite time is ``beta`` times the paper's. Every function here takes
  ``units="suite"`` (default) or ``units="paper"``; at ``beta = 1`` the two agree.
  The suite's causal USA particles (``v_i = sum_j W_ij e^{beta <x_i, x_j>} P_{x_i} x_j``)
  run in suite time.
* **Measures.** Densities are w.r.t. the normalized uniform measure (``rho = 1`` uniform),
  as in the suite; ``I_n(beta)`` and ``omega_{n,M}`` are coefficients against that measure.
  Positions ``s`` are in ``(0, 1]`` with the Lebesgue measure; ``s = 1`` is the last token.
  ``S_t`` is normalized as in the authors' code: the sum over ``n >= 1`` only, without the
  factor 2 of the ``+-n`` pair and without ``1/N``; by the linear response above,
  ``E[chi(theta_N(t) - theta_src(0))] = 1 + (2/N) S_t(s) + o(1/N)`` for
  ``chi = sum_n omega_{n,M} e^{i n theta}`` and ``n_max = oo`` (derived here).
* **beta.** Same meaning (inverse temperature of ``e^{beta <x, y>}``). The paper's figures
  use ``beta > 0``. :func:`retrieval_profile` accepts any real ``beta`` in suite units (the
  linearization holds for any ``beta``; for ``beta < 0`` the rates of even modes are
  negative and the profile need not be positive); :func:`t_crit` requires ``beta >= 0``,
  and ``units="paper"`` requires ``beta >= 0`` (for ``beta < 0`` the paper's time runs
  backwards relative to the suite's).

Examples
--------
The paper's figure parameters: ``beta = lambda = 1``, ``M = 8``, ``n_max = 20``
(at ``beta = 1`` suite and paper time coincide).

>>> import numpy as np
>>> from meanfield import causal
>>> round(causal.t_crit(1.0, 1.0, 8.0, 20), 4)
2.4575
>>> s = np.linspace(0.02, 1.0, 50)
>>> S = causal.retrieval_profile(s, 1.2, 1.0, 1.0, 8.0, 20)
>>> bool(S[0] > S.min() < S[-1])          # U shape below t_crit
True
>>> S5 = causal.retrieval_profile(s, 5.0, 1.0, 1.0, 8.0, 20)
>>> bool(np.all(np.diff(S5) < 0))         # monotone above t_crit
True
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize
import scipy.special as sc

from .kernels import AttentionKernel

__all__ = [
    "RetrievalEstimate",
    "alibi_kernel",
    "alibi_weights",
    "causal_log_ratio",
    "causal_propagator",
    "empirical_retrieval_profile",
    "gaussian_weights",
    "mode_rates",
    "paper_time",
    "retrieval_minimum",
    "retrieval_profile",
    "suite_time",
    "t_crit",
]

_UNITS = ("suite", "paper")
# below this ALiBi slope the lambda = 0 formulas are used (relative difference O(lambda))
_LAM_TINY = 1e-150
# 0F1(;2;x) by its power series for |x| <= 1: 18 terms leave < 1e-30 (1/(17! 18!))
_SERIES_TERMS = 18
_SERIES_COEFFS = np.array([1.0 / (math.factorial(k) * math.factorial(k + 1))
                           for k in range(_SERIES_TERMS)])


# ----------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------
def _real_array(x, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be real number(s), got {x!r}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return arr


def _check_positions(x, name: str, *, allow_zero: bool = False) -> np.ndarray:
    arr = _real_array(x, name)
    low_ok = (arr >= 0) if allow_zero else (arr > 0)
    if not np.all(low_ok & (arr <= 1)):
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name} must lie in {interval} (positions in the prompt, the last "
                         f"token at 1), got {x!r}")
    return arr


def _check_lam(lam) -> float:
    if isinstance(lam, bool) or not isinstance(lam, numbers.Real):
        raise ValueError(f"lam (the ALiBi slope) must be a real number >= 0, got {lam!r}")
    lam = float(lam)
    if not (math.isfinite(lam) and lam >= 0):
        raise ValueError(f"lam (the ALiBi slope) must be a finite real number >= 0, got {lam}")
    return lam


def _check_M(M) -> float:
    if isinstance(M, bool) or not isinstance(M, numbers.Real):
        raise ValueError(f"M (the test-function parameter) must be a real number > 0, got {M!r}")
    M = float(M)
    if not M > 0:  # also rejects NaN; M = inf is allowed (omega_n = 1)
        raise ValueError(f"M (the test-function parameter) must be > 0 (inf allowed), got {M}")
    return M


def _check_n_max(n_max) -> int:
    if isinstance(n_max, bool) or not isinstance(n_max, numbers.Integral):
        raise ValueError(f"n_max (the Fourier truncation) must be an integer >= 1, "
                         f"got {n_max!r}")
    n_max = int(n_max)
    if n_max < 1:
        raise ValueError(f"n_max (the Fourier truncation) must be an integer >= 1, got {n_max}")
    return n_max


def _check_units(units) -> str:
    if units not in _UNITS:
        raise ValueError(f"units must be 'suite' (shared/DESIGN.md §1 time) or 'paper' (the "
                         f"paper's time, t_suite = beta t_paper), got {units!r}")
    return units


def _check_beta(beta, units: str, *, nonnegative: bool = False, what: str = "") -> np.ndarray:
    arr = _real_array(beta, "beta")
    if (nonnegative or units == "paper") and np.any(arr < 0):
        why = (what if nonnegative else
               "with units='paper' (for beta < 0 the paper's time runs backwards relative "
               "to the suite's)")
        raise ValueError(f"beta must be >= 0 {why}, got {beta!r}")
    return arr


def _check_time(t) -> np.ndarray:
    arr = _real_array(t, "t")
    if np.any(arr < 0):
        raise ValueError(f"t (the time, i.e. depth) must be >= 0, got {t!r}")
    return arr


def _out(arr: np.ndarray, scalar: bool):
    return float(arr) if scalar else arr


# ----------------------------------------------------------------------------------------
# building blocks
# ----------------------------------------------------------------------------------------
def _log_expm1(x: np.ndarray) -> np.ndarray:
    """``log(e^x - 1)`` for ``x > 0`` without overflow or cancellation."""
    with np.errstate(divide="ignore"):
        return x + np.log(-np.expm1(-x))


def _hyp0f1_2(x: np.ndarray) -> np.ndarray:
    """``0F1(; 2; x) = sum_k x^k / (k! (k+1)!)`` for real ``x`` (any sign)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    small = np.abs(x) <= 1.0
    if np.any(small):
        out[small] = np.polynomial.polynomial.polyval(x[small], _SERIES_COEFFS)
    pos = x > 1.0
    if np.any(pos):
        z = 2.0 * np.sqrt(x[pos])
        with np.errstate(over="ignore"):
            out[pos] = np.exp(np.log(2.0 * sc.ive(1, z) / z) + z)
    neg = x < -1.0
    if np.any(neg):
        z = 2.0 * np.sqrt(-x[neg])
        out[neg] = 2.0 * sc.j1(z) / z
    return out


def _alibi(s: np.ndarray, sigma: np.ndarray, lam: float) -> np.ndarray:
    """``w_lambda(s, sigma)`` on validated arrays (0 where ``sigma > s``)."""
    if lam < _LAM_TINY:
        w = 1.0 / s
    else:
        w = lam * np.exp(lam * sigma - _log_expm1(lam * s))
    return np.asarray(np.where(sigma <= s, w, 0.0), dtype=np.float64)


def _log_ratio(s: np.ndarray, sigma: np.ndarray, lam: float) -> np.ndarray:
    """``Y_lambda(s, sigma)`` on validated arrays with ``0 < sigma <= s``."""
    if lam < _LAM_TINY:
        y = np.log(s / sigma)
    else:
        y = _log_expm1(lam * s) - _log_expm1(lam * sigma)
    return np.maximum(np.asarray(y, dtype=np.float64), 0.0)


def alibi_kernel(s, sigma, lam):
    r"""Mean-field ALiBi weight ``w_lambda(s, sigma)``: the token at ``s`` attending to ``sigma``.

    The limit of the paper's strictly lower-triangular, row-normalized ALiBi weights
    ``W_ij ~ e^{-lambda (i - j)/N}``: ``N W_ij -> w_lambda(i/N, j/N)`` with

        w_lambda(s, sigma) = lambda e^{lambda sigma} / (e^{lambda s} - 1),   0 <= sigma <= s,

    ``w_0(s, sigma) = 1/s`` (plain causal average), and ``0`` for ``sigma > s``. For each
    ``s`` it is a probability density in ``sigma`` on ``[0, s]``.

    Parameters
    ----------
    s : float or array_like
        Position of the attending token, in ``(0, 1]``.
    sigma : float or array_like
        Position of the attended token, in ``[0, 1]``; broadcast against ``s``.
    lam : float
        ALiBi slope ``lambda >= 0`` (per unit of position: the weight decays as
        ``e^{-lambda (s - sigma)}``).

    Returns
    -------
    float or ndarray
        ``w_lambda(s, sigma)``, a density w.r.t. ``d sigma``.

    Raises
    ------
    ValueError
        If a position is outside its range, or ``lam`` is negative or not finite.

    Examples
    --------
    The weights integrate to one over ``[0, s]``:

    >>> import numpy as np
    >>> from scipy.integrate import quad
    >>> from meanfield.causal import alibi_kernel
    >>> round(quad(lambda x: alibi_kernel(0.7, x, 2.0), 0.0, 0.7)[0], 12)
    1.0
    >>> float(alibi_kernel(0.5, 0.2, 0.0)), float(alibi_kernel(0.5, 0.6, 1.0))
    (2.0, 0.0)
    """
    s_a = _check_positions(s, "s")
    sig_a = _check_positions(sigma, "sigma", allow_zero=True)
    lam = _check_lam(lam)
    s_a, sig_a = np.broadcast_arrays(s_a, sig_a)
    return _out(_alibi(s_a, sig_a, lam), s_a.ndim == 0)


def causal_log_ratio(s, sigma, lam):
    r"""``Y_lambda(s, sigma) = log((e^{lambda s} - 1)/(e^{lambda sigma} - 1))``, ``sigma <= s``.

    The variable in which the iterated causal ALiBi average is explicit: the ``k``-th power
    of ``W_lambda`` has the kernel ``w_lambda(s, sigma) Y_lambda^{k-1}/(k-1)!``. For
    ``lambda = 0`` it is ``log(s/sigma)``. The paper's ``Y_lambda(s)`` is
    ``causal_log_ratio(1, s, lam)``.

    Parameters
    ----------
    s : float or array_like
        Later position, in ``(0, 1]``.
    sigma : float or array_like
        Earlier position, in ``(0, s]``; broadcast against ``s``.
    lam : float
        ALiBi slope ``>= 0``.

    Returns
    -------
    float or ndarray
        ``Y_lambda(s, sigma) >= 0``.

    Raises
    ------
    ValueError
        If ``sigma`` is not in ``(0, s]`` or ``s`` not in ``(0, 1]``, or ``lam`` is invalid.

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.causal import causal_log_ratio
    >>> y = causal_log_ratio(1.0, 0.5, 1.0)
    >>> bool(np.isclose(y, np.log(np.expm1(1.0) / np.expm1(0.5))))
    True
    >>> round(causal_log_ratio(1.0, 0.25, 0.0), 12)   # log 4
    1.38629436112
    """
    s_a = _check_positions(s, "s")
    sig_a = _check_positions(sigma, "sigma")
    lam = _check_lam(lam)
    s_a, sig_a = np.broadcast_arrays(s_a, sig_a)
    if np.any(sig_a > s_a):
        raise ValueError("sigma must not exceed s in causal_log_ratio (sigma is the earlier "
                         "position)")
    return _out(_log_ratio(s_a, sig_a, lam), s_a.ndim == 0)


def causal_propagator(c, s, sigma, lam):
    r"""Regular kernel ``G_c(s, sigma)`` of ``exp(c W_lambda) = I + G_c`` (the causal propagator).

    ``W_lambda`` is the causal ALiBi average ``(W_lambda g)(s) = int_0^s w_lambda(s, sigma)
    g(sigma) d sigma`` (:func:`alibi_kernel`). Mode ``n`` of the linearized causal equation
    around ``rho = 1`` obeys ``d_t f_n = a_n W_lambda f_n``, so ``f_n(t) = exp(a_n t W_lambda)
    f_n(0)``; with ``c = a_n t`` the kernel is

        G_c(s, sigma) = w_lambda(s, sigma) psi_c(Y_lambda(s, sigma)),   0 < sigma <= s,
        psi_c(y) = sum_{k>=0} c^{k+1} y^k / (k! (k+1)!) = c 0F1(; 2; c y),

    and ``0`` for ``sigma > s`` (``Y_lambda``: :func:`causal_log_ratio`). On the diagonal the
    value is the left limit ``c w_lambda(s, s)``. ``G_c(1, sigma)`` is the paper's
    ``g_a(t, 1; sigma)``: the response of the last token to the token at ``sigma``.

    Parameters
    ----------
    c : float or array_like
        ``a t``, rate times time (any real; the kernel depends on ``a`` and ``t`` only
        through their product).
    s : float or array_like
        Position of the responding token, in ``(0, 1]``.
    sigma : float or array_like
        Position of the source token, in ``(0, 1]``. ``c``, ``s``, ``sigma`` broadcast.
    lam : float
        ALiBi slope ``>= 0``.

    Returns
    -------
    float or ndarray
        ``G_c(s, sigma)``, a density w.r.t. ``d sigma``.

    Raises
    ------
    ValueError
        For positions out of range, non-finite ``c`` or an invalid ``lam``.
    OverflowError
        If the kernel overflows float64 (``c Y`` beyond about ``1.3e5``).

    Examples
    --------
    To first order in ``c`` the propagator is ``c W_lambda``:

    >>> import numpy as np
    >>> from meanfield.causal import alibi_kernel, causal_propagator
    >>> g = causal_propagator(1e-8, 1.0, 0.3, 1.0)
    >>> bool(np.isclose(g / 1e-8, alibi_kernel(1.0, 0.3, 1.0), rtol=1e-7))
    True

    With ``lambda = 0`` and ``s = 1``: ``G_c(1, sigma) = sqrt(c/y) I_1(2 sqrt(c y))``,
    ``y = log(1/sigma)``:

    >>> from scipy.special import iv
    >>> y = np.log(1 / 0.2)
    >>> bool(np.isclose(causal_propagator(2.0, 1.0, 0.2, 0.0),
    ...                 np.sqrt(2.0 / y) * iv(1, 2 * np.sqrt(2.0 * y)), rtol=1e-14))
    True
    """
    c_a = _real_array(c, "c")
    s_a = _check_positions(s, "s")
    sig_a = _check_positions(sigma, "sigma")
    lam = _check_lam(lam)
    c_a, s_a, sig_a = np.broadcast_arrays(c_a, s_a, sig_a)
    scalar = c_a.ndim == 0
    causal = sig_a <= s_a
    sig_c = np.where(causal, sig_a, s_a)  # keep Y defined; zeroed below
    y = _log_ratio(s_a, sig_c, lam)
    w = _alibi(s_a, sig_c, lam)
    with np.errstate(over="ignore", invalid="ignore"):
        g = np.where(causal, w * c_a * _hyp0f1_2(c_a * y), 0.0)
    if not np.all(np.isfinite(g)):
        raise OverflowError(f"causal_propagator overflows float64 (c Y = {np.max(c_a * y):.3g};"
                            " the kernel grows like exp(2 sqrt(c Y))): reduce t or beta")
    return _out(np.asarray(g, dtype=np.float64), scalar)


def gaussian_weights(M, n_max: int) -> np.ndarray:
    r"""Test-function weights ``omega_{n,M} = exp(-pi^2 n^2 / (2 M^2))``, ``n = 1..n_max``.

    These are the Fourier coefficients, against the normalized measure on the circle, of the
    wrapped normal density ``chi_M = sum_n omega_{n,M} e^{i n theta}`` of angular standard
    deviation ``pi/M`` (``omega_0 = 1``); a larger ``M`` is a sharper test of retrieval.
    ``M = inf`` gives ``omega_n = 1`` (the truncated Dirac comb).

    Parameters
    ----------
    M : float
        Test-function parameter ``> 0`` (``inf`` allowed).
    n_max : int
        Fourier truncation ``>= 1``.

    Returns
    -------
    ndarray, shape (n_max,)
        ``omega_{1,M}, ..., omega_{n_max,M}``.

    Raises
    ------
    ValueError
        If ``M <= 0`` or ``n_max`` is not an integer ``>= 1``.

    Examples
    --------
    >>> from meanfield.causal import gaussian_weights
    >>> gaussian_weights(8.0, 3).round(6)
    array([0.925791, 0.734603, 0.499595])
    """
    M = _check_M(M)
    n_max = _check_n_max(n_max)
    n = np.arange(1, n_max + 1, dtype=np.float64)
    return np.exp(-0.5 * (np.pi * n / M) ** 2)


def mode_rates(beta, n_max: int, *, units: str = "suite") -> np.ndarray:
    r"""Growth rates ``a_n`` of the Fourier modes ``n = 1..n_max`` of the linearized causal flow.

    Around ``rho = 1`` mode ``n`` obeys ``d_t f_n = a_n W_lambda f_n`` with

        a_n = n^2 I_n(beta) / beta = n^2 g_n   (units="suite", DESIGN.md §1: potential G_beta)
        a_n = n^2 I_n(beta)                    (units="paper": the paper's a_n, kernel e^{beta cos})

    ``g_n`` the circle Fourier coefficients of ``G_beta`` (``AttentionKernel.coefficients``).
    In suite units ``beta = 0`` is the Kuramoto limit ``a = (1/2, 0, 0, ...)``.

    Parameters
    ----------
    beta : float or array_like
        Inverse temperature; any real in suite units, ``>= 0`` in paper units.
    n_max : int
        Fourier truncation ``>= 1``.
    units : {"suite", "paper"}
        Time units of the rates (``a_suite = a_paper / beta``).

    Returns
    -------
    ndarray, shape ``np.shape(beta) + (n_max,)``

    Raises
    ------
    ValueError
        For invalid ``beta``, ``n_max`` or ``units``.
    OverflowError
        If ``I_n(beta)`` overflows float64 (``|beta|`` beyond about 700).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.special import iv
    >>> from meanfield.causal import mode_rates
    >>> a = mode_rates(2.0, 3, units="paper")
    >>> bool(np.allclose(a, [1, 4, 9] * iv([1, 2, 3], 2.0), rtol=1e-13))
    True
    >>> bool(np.allclose(mode_rates(2.0, 3), a / 2.0, rtol=1e-13))
    True
    >>> mode_rates(0.0, 3)
    array([0.5, 0. , 0. ])
    """
    units = _check_units(units)
    b = _check_beta(beta, units)
    n_max = _check_n_max(n_max)
    uniq, inv = np.unique(b.ravel(), return_inverse=True)
    n = np.arange(1, n_max + 1)
    table = np.empty((uniq.size, n_max))
    for i, bv in enumerate(uniq):
        kern = AttentionKernel(float(bv))
        if units == "suite":
            table[i] = n**2 * kern.coefficients(n_max, 2)[1:]
        else:
            table[i] = n**2 * kern.fourier(n)
    if not np.all(np.isfinite(table)):
        raise OverflowError(f"mode rates n^2 I_n(beta) overflow float64 for beta={beta!r}")
    return table[inv].reshape(b.shape + (n_max,))


def suite_time(t_paper, beta):
    r"""Convert the paper's time to the suite's: ``t_suite = beta * t_paper``.

    The paper's velocity ``grad (e^{beta <x,.>} * rho)`` is ``beta`` times the suite's USA
    velocity ``grad (G_beta * rho)`` (shared/DESIGN.md §1), so the same state is reached at
    ``t_suite = beta t_paper``.

    Parameters
    ----------
    t_paper : float or array_like
        Time in the paper's units, ``>= 0``.
    beta : float or array_like
        Inverse temperature ``>= 0`` (broadcast against ``t_paper``).

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> from meanfield.causal import suite_time
    >>> suite_time(1.5, 2.0)
    3.0
    """
    t_a = _check_time(t_paper)
    b = _check_beta(beta, "paper")
    out = np.asarray(b * t_a, dtype=np.float64)
    return _out(out, out.ndim == 0)


def paper_time(t, beta):
    r"""Convert the suite's time to the paper's: ``t_paper = t / beta`` (inverse of suite_time).

    Parameters
    ----------
    t : float or array_like
        Time in the suite's units (shared/DESIGN.md §1), ``>= 0``.
    beta : float or array_like
        Inverse temperature ``> 0`` (at ``beta = 0`` the paper's dynamics does not move and
        no paper time corresponds to ``t > 0``).

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        If ``beta <= 0`` or ``t < 0``.

    Examples
    --------
    >>> from meanfield.causal import paper_time
    >>> paper_time(3.0, 2.0)
    1.5
    """
    t_a = _check_time(t)
    b = _real_array(beta, "beta")
    if np.any(b <= 0):
        raise ValueError(f"beta must be > 0 to convert to the paper's time (its dynamics is "
                         f"frozen at beta = 0), got {beta!r}")
    out = np.asarray(t_a / b, dtype=np.float64)
    return _out(out, out.ndim == 0)


# ----------------------------------------------------------------------------------------
# the retrieval profile and its threshold
# ----------------------------------------------------------------------------------------
def retrieval_profile(s, t, beta, lam, M, n_max: int, *, units: str = "suite"):
    r"""Closed-form retrieval profile ``S_t(s)`` of the last token (iid uniform tokens, circle).

    ``S_t(s) = sum_{n=1}^{n_max} omega_{n,M} G_{a_n t}(1, s)``: the response of the last
    token (position 1) at time ``t`` to the source token at position ``s``, tested against
    the wrapped-normal test function of parameter ``M`` (:func:`gaussian_weights`), with the
    rates ``a_n`` of :func:`mode_rates` and the causal propagator ``G`` of
    :func:`causal_propagator` (module docstring: derivation, sources, conventions). In the
    paper's notation ``S_t^{[n_max]}(s) = sum_n omega_{n,M} g_{a_n}(t, 1; s)``.

    Normalization (the authors' code): sum over ``n >= 1`` without the factor 2 of the
    ``+-n`` pair and without the ``1/N`` of the correlations; for ``n_max = oo`` the soft
    accuracy of ``N`` iid uniform tokens is ``E[chi_M(theta_N(t) - theta_src(0))] =
    1 + (2/N) S_t(s) + o(1/N)`` (derived here by linear response). ``S_0 = 0``; the singular
    (self) part of the propagator at ``s = 1`` is not included.

    Parameters
    ----------
    s : float or array_like
        Source position(s) in ``(0, 1]`` (``s = i/N`` for token ``i``; the profile diverges
        as ``s -> 0`` for ``t > 0``, ``beta >= 0``).
    t : float or array_like
        Time (depth) ``>= 0`` in ``units``.
    beta : float or array_like
        Inverse temperature (any real in suite units, ``>= 0`` in paper units).
        ``s``, ``t``, ``beta`` broadcast against each other.
    lam : float
        ALiBi slope ``lambda >= 0`` (``0``: plain causal average).
    M : float
        Test-function parameter ``> 0`` (angular width ``pi/M``; ``inf`` allowed).
    n_max : int
        Fourier truncation ``>= 1``.
    units : {"suite", "paper"}
        Time units of ``t``: the suite's (DESIGN.md §1, default) or the paper's
        (``t_suite = beta t_paper``; they agree at ``beta = 1``).

    Returns
    -------
    float or ndarray
        ``S_t(s)``, shape of the broadcast inputs (dimensionless).

    Raises
    ------
    ValueError
        For inputs out of range (the message names the argument and the range).
    OverflowError
        If the profile overflows float64 (very large ``t`` or ``beta``).

    Examples
    --------
    Primacy and recency at the paper's parameters, ``t = 1.2`` (``beta = 1``):

    >>> import numpy as np
    >>> from meanfield.causal import retrieval_profile
    >>> S = retrieval_profile([0.02, 0.32, 0.98], 1.2, 1.0, 1.0, 8.0, 20)
    >>> (S - S[1]).round(2)
    array([0.83, 0.  , 0.4 ])

    Paper time and suite time at ``beta = 2``:

    >>> a = retrieval_profile(0.5, 0.6, 2.0, 1.0, 8.0, 20, units="paper")
    >>> b = retrieval_profile(0.5, 1.2, 2.0, 1.0, 8.0, 20)
    >>> bool(np.isclose(a, b, rtol=1e-14))
    True

    Vectorized over ``s`` and ``t`` (and ``beta``):

    >>> retrieval_profile(np.linspace(0.1, 1, 4), np.array([[0.5], [1.0]]), 1.0, 1.0,
    ...                   8.0, 20).shape
    (2, 4)
    """
    units = _check_units(units)
    s_a = _check_positions(s, "s")
    t_a = _check_time(t)
    b_a = _check_beta(beta, units)
    lam = _check_lam(lam)
    omega = gaussian_weights(M, n_max)
    s_a, t_a, b_a = np.broadcast_arrays(s_a, t_a, b_a)
    scalar = s_a.ndim == 0
    rates = mode_rates(b_a, omega.size, units=units)            # (..., n_max)
    c = rates * t_a[..., None]
    one = np.ones_like(s_a)
    y = _log_ratio(one, s_a, lam)[..., None]
    w = _alibi(one, s_a, lam)[..., None]
    with np.errstate(over="ignore", invalid="ignore"):
        terms = omega * w * c * _hyp0f1_2(c * y)
        total = terms.sum(axis=-1)
    if not np.all(np.isfinite(total)):
        raise OverflowError("retrieval_profile overflows float64 (the profile grows like "
                            "exp(2 sqrt(a_n t Y_lambda(s)))): reduce t or beta, or raise "
                            "the smallest s")
    return _out(np.asarray(total, dtype=np.float64), scalar)


def t_crit(beta, lam, M, n_max: int, *, units: str = "suite"):
    r"""Threshold time of the U shape: the right-end slope of ``S_t`` changes sign at ``t_crit``.

    From ``psi_c(0) = c``, ``psi_c'(0) = c^2/2`` and ``Y_lambda'(1) = -lambda e^lambda /
    (e^lambda - 1)``, ``dS_t/ds`` at ``s = 1`` is ``lambda w_lambda(1,1) t (S_1 - t S_2 /
    (2 (1 - e^{-lambda})))`` with ``S_1 = sum omega_n a_n``, ``S_2 = sum omega_n a_n^2``, so

        t_crit = 2 (1 - e^{-lambda}) S_1 / S_2      (the authors' code's formula).

    For ``0 < t < t_crit`` the profile rises at the right end (recency) and, diverging at
    ``s -> 0`` (primacy), has an interior minimum; for ``t > t_crit`` it decreases at the
    right end. At ``t = t_crit`` the right-end curvature is
    ``S_t''(1) = lambda^2 w_lambda(1,1) t S_1 (q - 2 + (2/3) S_1 S_3/S_2^2)``,
    ``q = 1/(1 - e^{-lambda})``, ``S_3 = sum omega_n a_n^3`` (derived here from
    ``psi_c''(0) = c^3/6``): positive for all ``beta >= 0`` if ``lambda < log 4``, and then
    the profile just above ``t_crit`` decreases towards ``s = 1``; where it is negative an
    interior local maximum remains just above ``t_crit`` (not monotone).
    Limits: ``t_crit = 0`` for ``lambda = 0`` (no U shape),
    ``t_crit ~ 2 lambda S_1/S_2`` as ``lambda -> 0``; in suite units at ``beta = 0`` only
    mode 1 is active and ``t_crit = 4 (1 - e^{-lambda})``; in paper units
    ``t_crit(beta = 0) = inf`` (frozen dynamics) and ``t_crit_suite = beta t_crit_paper``.

    Parameters
    ----------
    beta : float or array_like
        Inverse temperature ``>= 0`` (the U-shape analysis is for non-negative ``beta``).
    lam : float
        ALiBi slope ``>= 0``.
    M : float
        Test-function parameter ``> 0`` (``inf`` allowed).
    n_max : int
        Fourier truncation ``>= 1``.
    units : {"suite", "paper"}
        Units of the returned time (see :func:`retrieval_profile`).

    Returns
    -------
    float or ndarray
        ``t_crit``, shape of ``beta``.

    Raises
    ------
    ValueError
        For ``beta < 0`` or other inputs out of range.

    Examples
    --------
    The paper's threshold curve at ``lambda = 1``, ``M = 8``, ``n_max = 20`` (paper time):

    >>> import numpy as np
    >>> from meanfield.causal import t_crit
    >>> t_crit(np.array([1.0, 2.0, 3.0]), 1.0, 8.0, 20, units="paper").round(4)
    array([2.4575, 0.6007, 0.174 ])
    >>> bool(np.isclose(t_crit(0.0, 1.0, 8.0, 20), 4 * (1 - np.exp(-1.0)), rtol=1e-14))
    True
    """
    units = _check_units(units)
    b = _check_beta(beta, units, nonnegative=True,
                    what="in t_crit (the U-shape threshold is for beta >= 0)")
    lam = _check_lam(lam)
    omega = gaussian_weights(M, n_max)
    a = mode_rates(b, omega.size, units=units)
    s1 = (omega * a).sum(axis=-1)
    s2 = (omega * a * a).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        tc = np.where(s2 > 0, -2.0 * np.expm1(-lam) * s1 / np.where(s2 > 0, s2, 1.0), np.inf)
    if lam == 0.0:
        tc = np.zeros_like(tc)
    return _out(np.asarray(tc, dtype=np.float64), b.ndim == 0)


def retrieval_minimum(t, beta, lam, M, n_max: int, *, units: str = "suite", s_min=1e-3):
    r"""Position of the global minimum of the retrieval profile ``S_t`` over ``[s_min, 1]``.

    The minimum is bracketed on a grid of 2001 points and refined by Brent's method to
    ``1e-10`` in ``s``. ``1.0`` means the profile is lowest at the last position (no recency
    rise, ``t >= t_crit``); ``nan`` at ``t = 0`` (``S_0 = 0`` everywhere).

    Parameters
    ----------
    t, beta : float or array_like
        Time (in ``units``) and inverse temperature, broadcast against each other.
    lam, M, n_max, units
        As in :func:`retrieval_profile`.
    s_min : float
        Left end of the search interval, in ``(0, 1)`` (the profile diverges at 0).

    Returns
    -------
    float or ndarray
        Minimizing source position(s).

    Examples
    --------
    The paper's figure at ``t = 1.2`` (``beta = lambda = 1``, ``M = 8``, ``n_max = 20``) marks
    the minimum near ``s = 0.32``:

    >>> from meanfield.causal import retrieval_minimum
    >>> round(retrieval_minimum(1.2, 1.0, 1.0, 8.0, 20), 3)
    0.319
    >>> retrieval_minimum(5.0, 1.0, 1.0, 8.0, 20)
    1.0
    """
    units = _check_units(units)
    t_a = _check_time(t)
    b_a = _check_beta(beta, units)
    lam = _check_lam(lam)
    _check_M(M)
    n_max = _check_n_max(n_max)
    s_lo = float(_real_array(s_min, "s_min"))
    if not 0 < s_lo < 1:
        raise ValueError(f"s_min must lie in (0, 1), got {s_min!r}")
    t_a, b_a = np.broadcast_arrays(t_a, b_a)
    grid = np.linspace(s_lo, 1.0, 2001)
    out = np.empty(t_a.shape)
    for idx in np.ndindex(t_a.shape):
        tv, bv = float(t_a[idx]), float(b_a[idx])
        if tv == 0.0:
            out[idx] = np.nan
            continue

        def f(x, tv=tv, bv=bv):
            return retrieval_profile(x, tv, bv, lam, M, n_max, units=units)

        vals = f(grid)
        i = int(np.argmin(vals))
        if i == grid.size - 1:
            out[idx] = 1.0
            continue
        if i == 0:
            out[idx] = grid[0]
            continue
        res = scipy.optimize.minimize_scalar(f, bounds=(grid[i - 1], grid[i + 1]),
                                             method="bounded", options={"xatol": 1e-10})
        out[idx] = float(res.x)
    return _out(out, out.ndim == 0)


# ----------------------------------------------------------------------------------------
# particles: the paper's ALiBi matrix and the empirical retrieval profile
# ----------------------------------------------------------------------------------------
def _check_count(value, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low or (
            high is not None and value > high):
        rng = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an integer {rng}, got {value!r}")
    return int(value)


def alibi_weights(n: int, lam: float, *, strict: bool = True,
                  normalize: bool = True) -> np.ndarray:
    r"""The paper's ALiBi matrix for ``n`` tokens: ``W_ij ~ e^{-lam (i - j)/n}``, ``j < i``.

    As in the authors' code (``build_causal_weights`` of
    ``generate_alibi_particle_circle_dynamics.py``): strictly lower triangular, each row
    divided by its sum, so token 1 (row 0, which has no earlier token) has a zero row and
    does not move; ``N W_ij -> w_lambda(i/N, j/N)`` (:func:`alibi_kernel`). It is the
    ``weights=`` of :func:`meanfield.simulate_particles` (USA: ``v_i = sum_j W_ij
    e^{beta <x_i, x_j>} P_{x_i} x_j``, in suite time, module docstring).

    Parameters
    ----------
    n : int
        Number of tokens, in ``[1, WEIGHTED_MAX_N]`` (8192).
    lam : float
        ALiBi slope ``>= 0`` per unit of position (``0``: the plain causal average).
    strict : bool
        ``True`` (the paper): ``j < i``. ``False``: ``j <= i``, the token also attends to
        itself (its weight ``e^0`` counts in the row sum; under USA ``P_x x = 0``, so it only
        rescales the row).
    normalize : bool
        ``True``: rows sum to 1 (zero rows stay zero). ``False``: ``e^{-lam (i - j)/n} / n``,
        the ``1/n`` prefactor of ``simulate_particles(causal=True)`` (with ``strict=False``
        and ``lam = 0`` exactly its causal USA).

    Returns
    -------
    ndarray, shape (n, n)

    Raises
    ------
    ValueError
        If ``n`` or ``lam`` is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.causal import alibi_weights
    >>> alibi_weights(3, 0.0)
    array([[0. , 0. , 0. ],
           [1. , 0. , 0. ],
           [0.5, 0.5, 0. ]])
    >>> W = alibi_weights(4, 2.0, strict=False)
    >>> bool(np.allclose(W.sum(axis=1), 1.0)), round(float(W[3, 3] / W[3, 2]), 12)  # e^{1/2}
    (True, 1.6487212707)
    """
    from .particles.weighted import WEIGHTED_MAX_N

    n = _check_count(n, "n (the number of tokens)", 1, WEIGHTED_MAX_N)
    lam = _check_lam(lam)
    lag = np.subtract.outer(np.arange(n, dtype=np.float64), np.arange(n, dtype=np.float64))
    keep = lag > 0 if strict else lag >= 0
    W = np.exp(np.where(keep, -(lam / n) * lag, -np.inf))
    if not normalize:
        return W / n
    rows = W.sum(axis=1, keepdims=True)
    return np.divide(W, rows, out=np.zeros_like(W), where=rows > 0)


@dataclass
class RetrievalEstimate:
    r"""Result of :func:`empirical_retrieval_profile`.

    Attributes
    ----------
    s : ndarray (k,)
        Source positions ``i/n`` (token ``i``, 1-based; the last token is at 1).
    t : ndarray (m,)
        Times, in ``params["units"]``.
    profile : ndarray (m, k)
        Estimated ``(soft accuracy - 1) n / 2``, the normalization of
        :func:`retrieval_profile` (``S_t(s) + O(1/n)``).
    sem : ndarray (m, k)
        Standard errors of ``profile`` (std over prompts / sqrt(prompts), ddof 1).
    samples : ndarray (m, replicas, k)
        The per-prompt values whose mean is ``profile`` (independent across prompts).
    params : dict
        n, beta, lam, M, n_max, replicas, shifts, dt, strict, units, seed, wall_time.
    """

    s: np.ndarray
    t: np.ndarray
    profile: np.ndarray
    sem: np.ndarray
    samples: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def accuracy(self) -> np.ndarray:
        """Estimated soft accuracy ``1 + (2/n) profile``, shape (m, k).

        Examples
        --------
        >>> import numpy as np
        >>> from meanfield.causal import RetrievalEstimate
        >>> est = RetrievalEstimate(s=np.array([0.5]), t=np.array([1.0]),
        ...                         profile=np.array([[2.0]]), sem=np.array([[0.1]]),
        ...                         samples=np.zeros((1, 2, 1)), params={"n": 8})
        >>> est.accuracy
        array([[1.5]])
        """
        return 1.0 + (2.0 / self.params["n"]) * self.profile

    def closed_form(self) -> np.ndarray:
        """:func:`retrieval_profile` at the same positions, times and parameters, (m, k).

        Examples
        --------
        >>> import numpy as np
        >>> from meanfield.causal import RetrievalEstimate
        >>> p = dict(n=8, beta=1.0, lam=1.0, M=8.0, n_max=20, units="suite")
        >>> est = RetrievalEstimate(s=np.array([0.5]), t=np.array([0.0, 1.2]),
        ...                         profile=np.zeros((2, 1)), sem=np.zeros((2, 1)),
        ...                         samples=np.zeros((2, 2, 1)), params=p)
        >>> est.closed_form().round(4)
        array([[0.    ],
               [1.5908]])
        """
        p = self.params
        return retrieval_profile(self.s[None, :], self.t[:, None], p["beta"], p["lam"],
                                 p["M"], p["n_max"], units=p["units"])


def _source_tokens(s, n: int) -> np.ndarray:
    """Source positions -> 1-based token indices i = round(s n) in [1, n - 1], distinct."""
    pos = _real_array(np.arange(1, 8) / 8 if s is None else s, "s")
    if pos.ndim != 1 or pos.size == 0:
        raise ValueError(f"s (the source positions) must be a nonempty 1-d array, got {s!r}")
    idx = np.rint(pos * n).astype(np.int64)
    if np.any(idx < 1) or np.any(idx > n - 1):
        raise ValueError(f"s (the source positions) must round to tokens i = s n in [1, "
                         f"n - 1] = [1, {n - 1}] (the last token, s = 1, is the reader), "
                         f"got {s!r}")
    if np.unique(idx).size != idx.size:
        raise ValueError(f"s (the source positions) round to repeated tokens {idx.tolist()} "
                         f"for n = {n}")
    return idx


def _soft_accuracy(delta: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """chi_M(delta) = 1 + 2 sum_{k=1}^{n_max} omega_k cos(k delta), truncated at n_max."""
    k = np.arange(1, omega.size + 1, dtype=np.float64)
    return 1.0 + 2.0 * (np.cos(delta[..., None] * k) @ omega)


def _prompt_batch(rng, prompts: int, n: int, idx: np.ndarray, shifts: int):
    """Initial tokens (prompts * k * shifts, n, 2) and the rotated source angles (p, k, K).

    Each prompt is n iid uniform angles; copy (a, c) of it puts source token idx[a] at
    phi_a + 2 pi c / K (phi_a uniform), every other token unchanged."""
    theta = rng.uniform(0.0, 2.0 * np.pi, (prompts, n))
    phi = rng.uniform(0.0, 2.0 * np.pi, (prompts, idx.size))
    src = phi[..., None] + (2.0 * np.pi / shifts) * np.arange(shifts)
    ang = np.broadcast_to(theta[:, None, None, :], (prompts, idx.size, shifts, n)).copy()
    for a, i in enumerate(idx):
        ang[:, a, :, i - 1] = src[:, a, :]
    x0 = np.stack([np.cos(ang), np.sin(ang)], axis=-1).reshape(-1, n, 2)
    return x0, src


def empirical_retrieval_profile(n: int, t, beta: float, lam: float, M: float, *,
                                replicas: int, dt: float, seed=None, n_max: int = 20,
                                s=None, shifts: int = 8, strict: bool = True,
                                units: str = "suite",
                                batch: int = 2048) -> RetrievalEstimate:
    r"""The retrieval profile of the last token measured on particles (iid uniform prompts).

    ``replicas`` prompts of ``n`` iid uniform tokens on the circle evolve by the paper's
    noiseless causal USA dynamics with the ALiBi matrix :func:`alibi_weights` (RK4,
    :func:`meanfield.simulate_particles` with ``weights=``; in suite time, DESIGN.md §1).
    The soft accuracy of the last token (``s = 1``) against the source token ``i`` at
    ``s = i/n`` is ``E[chi(theta_n(t) - theta_i(0))]`` with the test function
    ``chi = 1 + 2 sum_{k=1}^{n_max} omega_{k,M} cos(k .)`` (:func:`gaussian_weights`,
    truncated at ``n_max`` as the closed form is), and the estimate returned is
    ``(soft accuracy - 1) n / 2``, which tends to ``S_t(s)`` of :func:`retrieval_profile`
    as ``n -> oo`` (module docstring: ``E chi = 1 + (2/n) S_t(s) + o(1/n)``). The authors'
    code has no such particle measurement; the estimator is defined here.

    Estimator (rotated sources and the ``t = 0`` control variate): for each prompt and
    source ``i`` the prompt is simulated ``shifts = K`` times with ``theta_i(0)`` replaced
    by ``phi_c = phi + 2 pi c / K`` (``phi`` uniform, the other tokens unchanged), and the
    per-prompt value is

        D = (1/K) sum_c [chi(theta_n^{(c)}(t) - phi_c) - chi(theta_n(0) - phi_c)].

    Each copy is a prompt of iid uniform tokens and ``theta_n(0)`` is independent of
    ``phi_c``, so ``E D = soft accuracy - 1`` exactly (unbiased). The O(1) fluctuation of
    ``chi(theta_n - phi)`` averages out over the rotations (the trapezoid rule in ``phi``
    is exact for the modes ``k < K`` of ``chi``; ``omega_K`` is the residue, ``e^{-pi^2 K^2
    / (2 M^2)}``, ``e^{-pi^2/2} = 7.2e-3`` for ``K = M = 8``, whose noise is of order
    ``n omega_K``: ``shifts=12`` cuts the per-prompt s.d. about 3x further at ``n = 32..64``,
    validation/v23), what is left is the ``O(1/n)`` response
    itself: the standard error of the profile is ``O(1/sqrt(replicas))`` instead of the
    plain estimator's ``O(n / sqrt(replicas))`` (measured at ``n = 64``, ``t = 1.2``,
    ``beta = lam = 1``, ``M = 8``: 0.21 versus 9 per prompt and source, for ``K = 8`` times
    the simulations). ``shifts=1`` is the plain estimator with the ``t = 0`` control variate.

    Finite ``n`` (measured, ``beta = lam = 1``, ``M = 8``, ``n_max = 20``): the profile
    differs from ``S_t`` by ``O(1/n)`` -- within 3 % at ``t <= 0.6`` and ``n = 64``, 2-5 % at
    ``t = 1.2``, and -15 to -20 % at ``t = 1.8`` for ``n = 64``, -9 % for ``n = 128`` (the
    growing fluctuations of the linearly unstable uniform state), plus the ``O(1/n)``
    ambiguity of the position ``s = i/n`` of a token.

    Parameters
    ----------
    n : int
        Tokens per prompt, ``>= 2``.
    t : float or array_like
        Time(s) ``>= 0`` in ``units``, nondecreasing.
    beta : float
        Inverse temperature (any real in suite units, ``>= 0`` in paper units).
    lam : float
        ALiBi slope ``>= 0``.
    M : float
        Test-function parameter ``> 0`` (``inf`` allowed).
    replicas : int
        Number of prompts, ``>= 2`` (standard errors need two).
    dt : float
        RK4 step (suite time); refused beyond the simulator's stability limit.
    seed : int, SeedSequence or Generator, optional
        Draws the prompts and the source rotations (the dynamics is deterministic).
    n_max : int
        Fourier truncation of ``chi`` (as in :func:`retrieval_profile`).
    s : array_like, optional
        Source positions, rounded to tokens ``i = round(s n)`` in ``[1, n - 1]``
        (default ``1/8, 2/8, ..., 7/8``).
    shifts : int
        Rotations ``K >= 1`` of each source (the cost is ``replicas * len(s) * K``
        simulations of ``n`` tokens).
    strict : bool
        ALiBi without (default, the paper) or with the diagonal (:func:`alibi_weights`).
    units : {"suite", "paper"}
        Time units of ``t`` (``t_suite = beta t_paper``).
    batch : int
        Simulations per call of ``simulate_particles`` (memory: ``len(t) + 1`` states of
        ``batch * n`` tokens).

    Returns
    -------
    RetrievalEstimate
        ``.s``, ``.t``, ``.profile``, ``.sem``, ``.samples``, ``.accuracy``,
        ``.closed_form()``.

    Raises
    ------
    ValueError
        For arguments out of range (the message names the argument and the range), or a
        ``dt`` beyond the stability limit.

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.causal import empirical_retrieval_profile
    >>> est = empirical_retrieval_profile(32, [0.0, 0.6], 1.0, 1.0, 8.0, replicas=16,
    ...                                   dt=0.05, seed=1, s=[0.25, 0.5], shifts=4)
    >>> est.profile.shape, est.s.tolist(), est.profile[0].tolist()
    ((2, 2), [0.25, 0.5], [0.0, 0.0])
    >>> z = (est.profile[1] - est.closed_form()[1]) / est.sem[1]
    >>> bool(np.all(np.abs(z) < 4))
    True
    """
    import time

    from .particles.simulate import simulate_particles
    from .particles.weighted import WEIGHTED_MAX_N

    t_wall0 = time.perf_counter()
    n = _check_count(n, "n (tokens per prompt)", 2, WEIGHTED_MAX_N)
    units = _check_units(units)
    t_a = np.atleast_1d(_check_time(t))
    if t_a.ndim != 1 or np.any(np.diff(t_a) < 0):
        raise ValueError(f"t must be a time or a nondecreasing 1-d array of times, got {t!r}")
    b = float(_check_beta(beta, units))
    lam = _check_lam(lam)
    omega = gaussian_weights(M, n_max)
    R = _check_count(replicas, "replicas (the number of prompts)", 2)
    K = _check_count(shifts, "shifts (rotations of each source)", 1)
    batch = _check_count(batch, "batch", 1)
    idx = _source_tokens(s, n)
    t_sim = b * t_a if units == "paper" else t_a
    W = alibi_weights(n, lam, strict=strict)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    per_prompt = idx.size * K
    chunk = max(1, batch // per_prompt)
    parts = []
    for p0 in range(0, R, chunk):
        pc = min(chunk, R - p0)
        x0, src = _prompt_batch(rng, pc, n, idx, K)
        ps = simulate_particles(beta=b, x0=x0, replicas=x0.shape[0], weights=W,
                                t_final=float(t_sim[-1]), dt=dt,
                                t_eval=np.concatenate([[0.0], t_sim]))
        last = ps.x[:, :, -1]                                          # (m + 1, B, 2)
        ang = np.arctan2(last[..., 1], last[..., 0]).reshape(-1, pc, idx.size, K)
        hit = _soft_accuracy(ang[1:] - src, omega) - _soft_accuracy(ang[0] - src, omega)
        parts.append(hit.mean(axis=-1))                                # (m, pc, k)
    samples = (0.5 * n) * np.concatenate(parts, axis=1)
    params = dict(n=n, beta=b, lam=lam, M=float(M), n_max=int(omega.size), replicas=R,
                  shifts=K, dt=float(dt), strict=bool(strict), units=units,
                  seed=seed if isinstance(seed, int | None) else None,
                  wall_time=time.perf_counter() - t_wall0)
    return RetrievalEstimate(s=idx / n, t=t_a.copy(), profile=samples.mean(axis=1),
                             sem=samples.std(axis=1, ddof=1) / np.sqrt(R), samples=samples,
                             params=params)
