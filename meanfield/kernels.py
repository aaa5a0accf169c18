"""Interaction kernels and their spectral (Fourier / Funk–Hecke) coefficients.

Convention (shared/DESIGN.md §1)
--------------------------------
Densities are taken with respect to the *normalized* uniform measure ``sigma`` on the
sphere S^{d-1} (``sigma(S^{d-1}) = 1``). A zonal kernel is given by its *potential*
``G(t)``, ``t = <x, y>`` in ``[-1, 1]``; convolution is

    (G * rho)(x) = ∫ G(<x, y>) rho(y) dsigma(y).

By the Funk–Hecke theorem, ``G *`` multiplies every degree-``l`` spherical harmonic by

    g_l = c_d ∫_{-1}^{1} G(t) P_l^{(d)}(t) (1 - t^2)^{(d-3)/2} dt,
    c_d = Γ(d/2) / (√π Γ((d-1)/2)),

with ``P_l^{(d)}`` the Gegenbauer polynomial normalized by ``P_l^{(d)}(1) = 1`` (d = 2:
Chebyshev ``T_l``; d = 3: Legendre ``P_l``). On the circle ``g_k = (1/2π) ∫ G(cos t) e^{-ikt} dt``.

Attention kernel with inverse temperature ``beta`` (any real): ``K_beta(t) = exp(beta t)``,
potential ``G_beta(t) = (exp(beta t) - 1)/beta`` (``G_0(t) = t``, the Kuramoto limit). Its
Funk–Hecke coefficients are

    lambda_l(beta, d) = Γ(d/2) (2/beta)^{d/2-1} I_{l+d/2-1}(beta)      (d = 2: I_l(beta)),

so ``g_l = lambda_l/beta`` (l >= 1), ``g_0 = (lambda_0 - 1)/beta``, and the uniform state
loses stability in mode ``l`` at ``kappa_l = 1/g_l``.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable

import numpy as np
import scipy.fft
import scipy.special as sc

__all__ = [
    "log_bessel_i",
    "Kernel",
    "AttentionKernel",
    "KuramotoKernel",
    "ZonalKernel",
]

_LOG_MAX = math.log(np.finfo(np.float64).max)  # ~709.78
_TINY_OK = 1e-280  # values above this are safely normal (far from the subnormal range)
_LOG2 = math.log(2.0)


# ----------------------------------------------------------------------------------------
# validation helpers
# ----------------------------------------------------------------------------------------
def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def _check_lmax(lmax) -> int:
    return _check_int(lmax, "lmax", 0)


def _check_dim(dim) -> int:
    return _check_int(dim, "dim", 2)


def _check_degrees(l, name: str = "l", allow_negative: bool = False) -> np.ndarray:
    """Return ``l`` as an int64 array (any shape); ValueError for non-integers/negatives."""
    if isinstance(l, bool):
        raise ValueError(f"{name} must be integer(s), got {l!r}")
    arr = np.asarray(l)
    if arr.dtype.kind in "iu":
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    else:
        raise ValueError(f"{name} must be integer(s), got {l!r}")
    if not allow_negative and np.any(arr < 0):
        raise ValueError(f"{name} must be integer(s) >= 0, got {l!r}")
    return arr


def _scalar_or_array(arr: np.ndarray, like: np.ndarray):
    return float(arr) if np.ndim(like) == 0 else arr


# ----------------------------------------------------------------------------------------
# log I_nu(x)
# ----------------------------------------------------------------------------------------
def _log_bessel_series(nu: float, x: float) -> float:
    """log I_nu(x) from the power series, summed in the log domain (x > 0, nu >= 0).

    I_nu(x) = Σ_m (x/2)^{2m+nu} / (m! Γ(m+nu+1)); all terms are positive, so a
    log-sum-exp over the terms around the largest one is accurate to round-off.
    """
    # largest term: m (m + nu) ≈ x^2/4
    mstar = 0.5 * (math.sqrt(nu * nu + x * x) - nu)
    width = 12.0 * math.sqrt(mstar + 1.0) + 40.0
    m_lo = max(0, int(mstar - width))
    m_hi = int(mstar + width) + 1
    m = np.arange(m_lo, m_hi + 1, dtype=np.float64)
    logt = (2.0 * m + nu) * math.log(0.5 * x) - sc.gammaln(m + 1.0) - sc.gammaln(m + nu + 1.0)
    top = logt.max()
    return float(top + math.log(np.exp(logt - top).sum()))


def log_bessel_i(nu, x):
    """Natural logarithm of the modified Bessel function of the first kind, ``log I_nu(x)``.

    Accurate to (close to) full double precision without overflow or underflow for any
    ``nu >= 0`` and ``x >= 0``: where the exponentially scaled ``scipy.special.ive`` is a
    safely normal number the result is ``log(ive(nu, x)) + x``; elsewhere (large order,
    small argument, where ``I_nu(x)`` underflows) the power series
    ``Σ_m (x/2)^{2m+nu} / (m! Γ(m+nu+1))`` is summed in the log domain.

    Parameters
    ----------
    nu : float or array_like
        Order(s), real, ``>= 0``.
    x : float or array_like
        Argument(s), real, ``>= 0``. Broadcast against ``nu``.

    Returns
    -------
    float or ndarray
        ``log I_nu(x)``; at ``x = 0`` this is ``0`` for ``nu = 0`` and ``-inf`` for ``nu > 0``.
        NaN inputs give NaN.

    Raises
    ------
    ValueError
        If any ``nu < 0`` or ``x < 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.special import i0
    >>> from meanfield.kernels import log_bessel_i
    >>> bool(abs(log_bessel_i(0, 2.0) - np.log(i0(2.0))) < 1e-14)
    True

    It stays finite where ``I_nu(x)`` itself overflows or underflows:

    >>> round(log_bessel_i(0, 1000.0), 6), round(log_bessel_i(100, 1e-3), 6)
    (995.627309, -1123.829622)
    """
    nu_a, x_a = np.broadcast_arrays(np.asarray(nu, dtype=np.float64),
                                    np.asarray(x, dtype=np.float64))
    if np.any(nu_a < 0):
        raise ValueError("nu must be >= 0 in log_bessel_i")
    if np.any(x_a < 0):
        raise ValueError("x must be >= 0 in log_bessel_i")
    scalar = nu_a.ndim == 0
    nu_f = np.atleast_1d(nu_a).ravel()
    x_f = np.atleast_1d(x_a).ravel()
    out = np.full(nu_f.shape, np.nan)
    with np.errstate(all="ignore"):
        v = sc.ive(nu_f, x_f)
        good = np.isfinite(v) & (v > _TINY_OK) & (x_f > 0)
        out[good] = np.log(v[good]) + x_f[good]
    zero = x_f == 0
    out[zero] = np.where(nu_f[zero] == 0, 0.0, -np.inf)
    rest = ~good & ~zero & np.isfinite(nu_f) & np.isfinite(x_f)
    for i in np.flatnonzero(rest):
        out[i] = _log_bessel_series(float(nu_f[i]), float(x_f[i]))
    # x = inf: I_nu(inf) = inf
    out[np.isposinf(x_f) & np.isfinite(nu_f)] = np.inf
    out = out.reshape(np.shape(nu_a))
    return float(out) if scalar else out


# ----------------------------------------------------------------------------------------
# Gegenbauer polynomials and quadrature
# ----------------------------------------------------------------------------------------
def _gegenbauer_rows(lmax: int, t: np.ndarray, d: int):
    """Yield ``(l, P_l^{(d)}(t))`` for l = 0..lmax (normalized: P_l(1) = 1)."""
    p_prev = np.ones_like(t)
    yield 0, p_prev
    if lmax == 0:
        return
    p = t.copy()
    yield 1, p
    for l in range(1, lmax):
        p_next = ((2 * l + d - 2) * t * p - l * p_prev) / (l + d - 2)
        p_prev, p = p, p_next
        yield l + 1, p


def _log_harmonic_dim(l: np.ndarray, d: int) -> np.ndarray:
    """log of N(d, l), the dimension of degree-l spherical harmonics on S^{d-1}."""
    l = np.asarray(l, dtype=np.float64)
    out = np.zeros_like(l)
    pos = l >= 1
    lp = l[pos]
    if d == 2:
        out[pos] = _LOG2
    else:
        out[pos] = (np.log(2 * lp + d - 2) - np.log(lp + d - 2) + sc.gammaln(lp + d - 1)
                    - sc.gammaln(lp + 1) - sc.gammaln(d - 1))
    return out


_FEJER_CACHE: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _fejer_jacobi(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the n-point Fejér (first kind) rule for the normalized weight
    ``c_d (1 - t^2)^{(d-3)/2} dt`` on [-1, 1].

    Nodes ``t_j = cos((2j+1)π/(2n))``. The rule integrates polynomials of degree < n
    exactly: with ``m = d - 2`` and ``t = cos θ`` the weight is ``sin^m θ dθ``, whose
    normalized cosine moments are, for even k = 2j,
    ``ν_k = (-1)^j Γ(1+m/2)^2 / (Γ(1+m/2+j) Γ(1+m/2-j))`` (zero for odd k), and the
    weights are ``w = DCT-III(ν)/n``. Moments are formed by their (exact) ratio
    recurrence, so any dimension works. For d = 2 this is Gauss–Chebyshev (all weights 1/n).
    """
    key = (n, d)
    hit = _FEJER_CACHE.get(key)
    if hit is not None:
        return hit
    theta = (2.0 * np.arange(n) + 1.0) * np.pi / (2.0 * n)
    t = np.cos(theta)
    h = 0.5 * (d - 2)
    # nu_{2j} = nu_{2j-2} * (-(h + 1 - j)/(h + j)), nu_0 = 1 (exact ratio of the closed form;
    # vanishes from j = h + 1 on when d is even); odd moments are zero.
    half = (n + 1) // 2
    j = np.arange(1, half)
    ratios = -(h + 1.0 - j) / (h + j)
    even_moments = np.concatenate(([1.0], np.cumprod(ratios)))
    nu = np.zeros(n)
    nu[0::2] = even_moments[: len(nu[0::2])]
    w = scipy.fft.dct(nu, type=3) / n
    _FEJER_CACHE[key] = (t, w)
    return t, w


# ----------------------------------------------------------------------------------------
# kernels
# ----------------------------------------------------------------------------------------
class Kernel:
    """Base class of zonal interaction kernels, described by their potential ``G(t)``.

    Conventions: densities are w.r.t. the normalized uniform measure ``sigma`` on
    S^{d-1}; ``(G * rho)(x) = ∫ G(<x, y>) rho(y) dsigma(y)``; ``G *`` multiplies degree-l
    spherical harmonics by the Funk–Hecke coefficient ``g_l`` (see module docstring).

    Attributes
    ----------
    name : str
        Short human-readable name.

    Examples
    --------
    A subclass defines :meth:`potential` and :meth:`coefficients`; :meth:`threshold` follows:

    >>> import numpy as np
    >>> from meanfield.kernels import Kernel
    >>> class Linear(Kernel):
    ...     def potential(self, t):
    ...         return np.asarray(t, dtype=float)
    ...     def coefficients(self, lmax, dim=2):
    ...         return np.array([0.0, 1.0 / dim] + [0.0] * (lmax - 1))[: lmax + 1]
    >>> Linear().threshold([1, 2], dim=3)
    array([ 3., inf])
    """

    name: str = "kernel"

    def potential(self, t):
        """Potential ``G(t)`` at inner products ``t = <x, y>`` (array in, array out).

        Examples
        --------
        >>> import meanfield as mf
        >>> mf.KuramotoKernel().potential([-1.0, 0.5])
        array([-1. ,  0.5])
        """
        raise NotImplementedError

    def coefficients(self, lmax: int, dim: int = 2) -> np.ndarray:
        """Funk–Hecke coefficients ``g_0, ..., g_lmax`` of the potential on S^{dim-1}.

        Parameters
        ----------
        lmax : int
            Highest degree, ``>= 0``.
        dim : int
            Ambient dimension ``d >= 2`` (d = 2: the circle, ``g_k`` = Fourier coefficients
            of ``G(cos t)``).

        Returns
        -------
        ndarray, shape (lmax + 1,), float64

        Examples
        --------
        >>> import meanfield as mf
        >>> mf.KuramotoKernel().coefficients(3, dim=3)  # g_1 = 1/d
        array([0.        , 0.33333333, 0.        , 0.        ])
        """
        raise NotImplementedError

    def threshold(self, l, dim: int = 2):
        """Instability threshold ``kappa_l = 1/g_l`` of mode ``l`` of the uniform state.

        Mode ``l`` of ``rho = 1`` is linearly unstable (noisy USA) iff ``kappa g_l > 1``.
        Returns ``inf`` where ``g_l <= 0`` (never unstable).

        Parameters
        ----------
        l : int or array_like of int
            Degree(s), ``>= 0``.
        dim : int
            Ambient dimension ``d >= 2``.

        Returns
        -------
        float or ndarray
            Same shape as ``l``.

        Examples
        --------
        On the circle ``g_k = I_k(beta)/beta`` (k >= 1) for the attention kernel:

        >>> import numpy as np
        >>> import meanfield as mf
        >>> from scipy.special import iv
        >>> kappa = mf.AttentionKernel(2.0).threshold([1, 2])
        >>> bool(np.allclose(kappa, 2.0 / iv([1, 2], 2.0), rtol=1e-13))
        True
        >>> float(mf.ZonalKernel(coefficients=[0.0, 0.5, -0.1], dim=2).threshold(2))  # g_2 < 0
        inf
        """
        larr = _check_degrees(l)
        dim = _check_dim(dim)
        lmax = int(larr.max()) if larr.size else 0
        g = self.coefficients(lmax, dim)[larr]
        with np.errstate(divide="ignore", over="ignore"):
            kappa = np.where(g > 0, 1.0 / np.where(g > 0, g, 1.0), np.inf)
        return _scalar_or_array(kappa, larr)

    def _repr_args(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._repr_args()})"


class AttentionKernel(Kernel):
    """Attention kernel ``K_beta(x, y) = exp(beta <x, y>)``.

    Its potential is ``G_beta(t) = (exp(beta t) - 1)/beta`` (``G_0(t) = t``), and its
    Funk–Hecke coefficients (normalized ``sigma``) are
    ``lambda_l(beta, d) = Γ(d/2) (2/beta)^{d/2-1} I_{l+d/2-1}(beta)``, with
    ``lambda_l(-beta) = (-1)^l lambda_l(beta)``; the potential's coefficients are
    ``g_l = lambda_l/beta`` (l >= 1) and ``g_0 = (lambda_0 - 1)/beta``. The limit
    ``beta -> 0`` (Kuramoto: ``g_1 = 1/d``, all others 0) is taken analytically.

    Parameters
    ----------
    beta : float
        Inverse temperature; any finite real (negative allowed, 0 = Kuramoto limit).

    Raises
    ------
    TypeError
        If ``beta`` is not a real number (a string, complex, None).
    ValueError
        If ``beta`` is not finite.

    Examples
    --------
    >>> import meanfield as mf
    >>> round(mf.AttentionKernel(1.0).threshold(1, dim=3), 12)  # kappa_1 = e on S^2
    2.718281828459
    """

    name = "attention"

    def __init__(self, beta: float):
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
            raise TypeError(f"beta must be a finite real number, got {beta!r} "
                            f"({type(beta).__name__})")
        beta = float(beta)
        if not math.isfinite(beta):
            raise ValueError(f"beta must be a finite real number, got {beta!r}")
        self.beta = beta

    def _repr_args(self) -> str:
        return f"beta={self.beta!r}"

    # --- internal: |lambda_l(|beta|)| with optional scalings -------------------------
    def _abs_lambda(self, larr: np.ndarray, d: int, scaled: bool, over_b: bool):
        """Return ``(value, logvalue)`` of ``lambda_l(b, d) * s`` for ``b = |beta| > 0``,
        where ``s = exp(-b)`` if ``scaled`` and is divided by ``b`` if ``over_b``.

        Two regimes, both free of overflow (values carried as mantissa * 2**exponent):

        * ``b^2 <= 60 d``: hypergeometric form
          ``lambda_l = (b/2)^l / (d/2)_l * 0F1(; l + d/2; b^2/4)`` (positive series);
        * otherwise the Bessel form with the prefactor ``Γ(d/2) (2/b)^{d/2-1}`` formed as a
          product and ``ive`` (or ``log_bessel_i`` where ``ive`` underflows).

        ``value`` may legitimately be ``inf`` (overflow) or 0 (underflow); ``logvalue`` is
        always finite (or ``-inf``).
        """
        b = abs(self.beta)
        lmax = int(larr.max()) if larr.size else 0
        ls = np.arange(lmax + 1)
        h = 0.5 * d
        logb = math.log(b)
        mb, eb = math.frexp(b)
        shift = (b if scaled else 0.0) + (logb if over_b else 0.0)
        with np.errstate(all="ignore"):
            if b * b <= 60.0 * d:
                # prod_{j<l} (b/2)/(j + d/2) as mantissa * 2**exp
                mant = np.empty(lmax + 1)
                expo = np.zeros(lmax + 1, dtype=np.int64)
                m_cur, e_cur = 1.0, 0
                mant[0] = 1.0
                for j in range(lmax):
                    m_cur, de = math.frexp(m_cur * (0.5 * mb) / (j + h))
                    e_cur += de + eb  # b = mb * 2**eb (safe for subnormal b)
                    mant[j + 1], expo[j + 1] = m_cur, e_cur
                # 0F1(; l + d/2; q), q = b^2/4, all l at once
                q = 0.25 * b * b
                a = ls + h
                term = np.ones(lmax + 1)
                total = np.ones(lmax + 1)
                for m in range(1, 5000):
                    term = term * (q / (m * (a + m - 1.0)))
                    total = total + term
                    if np.all(term <= 1e-17 * total):
                        break
                core = mant * total
                if scaled:
                    core = core * math.exp(-b)
                if over_b:
                    core = core / mb
                    expo = expo - eb
                val = np.ldexp(core, expo)
                logv = np.log(mant * total) + expo * _LOG2 + (eb * _LOG2 if over_b else 0.0)
                logv = logv - shift
            else:
                # Γ(d/2) (2/b)^{d/2-1} = Γ(c0+1)(2/b)^{c0} prod_{k=c0+1}^{c} (2k/b)
                c = h - 1.0
                c0 = c - math.floor(c)
                m_cur, e_cur = math.frexp(math.gamma(c0 + 1.0) * (2.0 / b) ** c0)
                k = c0 + 1.0
                while k <= c + 1e-9:
                    m_cur, de = math.frexp(m_cur * (2.0 * k / b))
                    e_cur += de
                    k += 1.0
                nu = ls + h - 1.0
                logpref = math.log(m_cur) + e_cur * _LOG2
                logv = logpref + log_bessel_i(nu, b) - shift
                bes = sc.ive(nu, b)
                x = np.ldexp(m_cur * bes, e_cur)
                if scaled or b < 700.0:
                    val = x * (1.0 if scaled else math.exp(b))
                    if over_b:
                        val = val / b
                else:
                    val = np.full(lmax + 1, np.inf)
                ok = (np.isfinite(bes) & (bes > _TINY_OK) & (x > _TINY_OK) & np.isfinite(val)
                      & (val > _TINY_OK))
                val = np.where(ok, val, np.exp(logv))
        return val[larr], np.asarray(logv, dtype=np.float64)[larr]

    def _signs(self, larr: np.ndarray, shift: int = 0) -> np.ndarray:
        """(-1)^(l + shift) if beta < 0, else 1."""
        if self.beta >= 0:
            return np.ones(larr.shape)
        return np.where((larr + shift) % 2 == 0, 1.0, -1.0)

    # --- public ----------------------------------------------------------------------
    def potential(self, t):
        """Potential ``G_beta(t) = expm1(beta t)/beta`` (``t`` for beta = 0).

        Raises
        ------
        OverflowError
            If ``exp(beta t)`` overflows float64.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> G = mf.AttentionKernel(2.0).potential(np.array([0.0, 1.0]))
        >>> bool(G[0] == 0.0 and abs(G[1] - np.expm1(2.0) / 2.0) < 1e-15)
        True
        >>> mf.AttentionKernel(0.0).potential([0.5])  # beta = 0: G(t) = t
        array([0.5])
        """
        t = np.asarray(t, dtype=np.float64)
        if self.beta == 0.0:
            return t.copy()
        with np.errstate(over="ignore"):
            out = np.expm1(self.beta * t) / self.beta
        if np.any(np.isinf(out) & np.isfinite(t)):
            raise OverflowError(
                f"potential exp(beta t)/beta overflows float64 for beta={self.beta}")
        return out

    def fourier(self, k):
        """Circle Fourier coefficients of ``exp(beta cos t)``: ``I_k(beta)``.

        ``exp(beta cos t) = Σ_k I_k(beta) e^{ikt}``; ``I_{-k} = I_k``.

        Parameters
        ----------
        k : int or array_like of int
            Wavenumber(s), any sign.

        Returns
        -------
        float or ndarray

        Raises
        ------
        OverflowError
            If ``I_k(beta)`` overflows float64 (use ``funk_hecke_scaled(|k|, 2)``).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> from scipy.special import iv
        >>> I = mf.AttentionKernel(2.0).fourier([0, 1, -1])
        >>> bool(np.allclose(I, iv([0, 1, 1], 2.0), rtol=1e-14))
        True
        """
        karr = _check_degrees(k, "k", allow_negative=True)
        return self.funk_hecke(np.abs(karr) if karr.ndim else int(abs(karr)), 2)

    def funk_hecke(self, l, dim: int = 2):
        """Funk–Hecke coefficients ``lambda_l(beta, d)`` of ``exp(beta t)`` (normalized sigma).

        ``lambda_l = Γ(d/2) (2/beta)^{d/2-1} I_{l+d/2-1}(beta)``; beta = 0 gives
        ``lambda_0 = 1``, ``lambda_l = 0`` (l >= 1).

        Parameters
        ----------
        l : int or array_like of int
            Degree(s) >= 0.
        dim : int
            Ambient dimension d >= 2.

        Returns
        -------
        float or ndarray

        Raises
        ------
        OverflowError
            If a value overflows float64 (use ``funk_hecke_scaled``).

        Examples
        --------
        On S^2 (d = 3), ``lambda_0 = sinh(beta)/beta``:

        >>> import numpy as np
        >>> import meanfield as mf
        >>> lam0 = mf.AttentionKernel(2.0).funk_hecke(0, dim=3)
        >>> bool(abs(lam0 - np.sinh(2.0) / 2.0) < 1e-14)
        True
        """
        larr = _check_degrees(l)
        d = _check_dim(dim)
        if self.beta == 0.0:
            return _scalar_or_array(np.where(larr == 0, 1.0, 0.0), larr)
        val, logv = self._abs_lambda(larr, d, scaled=False, over_b=False)
        if np.any(logv > _LOG_MAX) or np.any(np.isinf(val)):
            raise OverflowError(
                f"lambda_l(beta={self.beta}, d={d}) overflows float64; "
                "use funk_hecke_scaled (lambda_l * exp(-|beta|))")
        return _scalar_or_array(self._signs(larr) * val, larr)

    def funk_hecke_scaled(self, l, dim: int = 2):
        """Exponentially scaled Funk–Hecke coefficients ``lambda_l(beta, d) exp(-|beta|)``.

        Never overflows (``|value| <= 1``); computed from ``log_bessel_i`` / ``ive`` and
        ``lgamma`` terms, not from the unscaled value.

        Parameters
        ----------
        l : int or array_like of int
            Degree(s) >= 0.
        dim : int
            Ambient dimension d >= 2.

        Returns
        -------
        float or ndarray

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> s = mf.AttentionKernel(2.0).funk_hecke_scaled(0, dim=3)
        >>> bool(abs(s - np.sinh(2.0) / 2.0 * np.exp(-2.0)) < 1e-15)
        True
        >>> round(mf.AttentionKernel(1000.0).funk_hecke_scaled(0, dim=3), 12)  # 1/(2 beta)
        0.0005
        """
        larr = _check_degrees(l)
        d = _check_dim(dim)
        if self.beta == 0.0:
            return _scalar_or_array(np.where(larr == 0, 1.0, 0.0), larr)
        val, _ = self._abs_lambda(larr, d, scaled=True, over_b=False)
        return _scalar_or_array(self._signs(larr) * val, larr)

    def _abs_g(self, larr: np.ndarray, d: int):
        """``(|g_l|, log|g_l|)`` for beta != 0 (values may be inf where they overflow)."""
        b = abs(self.beta)
        val, logv = self._abs_lambda(larr, d, scaled=False, over_b=True)
        val = val.copy()
        logv = logv.copy()
        zero = larr == 0
        if np.any(zero):
            g0, lg0 = self._abs_g0(b, d)
            val[zero] = g0
            logv[zero] = lg0
        return val, logv

    @staticmethod
    def _abs_g0(b: float, d: int) -> tuple[float, float]:
        """|g_0| = (lambda_0(b) - 1)/b without cancellation, and its log."""
        if b * b < 4.0 * d:
            # lambda_0 - 1 = Σ_{m>=1} Γ(d/2) (b/2)^{2m} / (m! Γ(m+d/2)); factor out b/(2d)
            q = 0.25 * b * b
            term, total, m = 1.0, 1.0, 1
            while m < 10000:
                term *= q / ((m + 1) * (m + 0.5 * d))
                total += term
                m += 1
                if term <= 1e-17 * total:
                    break
            val = b / (2.0 * d) * total
            return val, math.log(b) - math.log(2.0 * d) + math.log(total)
        v0, lv0 = AttentionKernel(b)._abs_lambda(np.zeros(1, dtype=np.int64), d, False, False)
        lam0, loglam0 = float(v0[0]), float(lv0[0])
        # here lambda_0 >= 1 + b^2/(2d) >= 3: log(lambda_0 - 1) = log lambda_0 + log1p(-1/lambda_0)
        lg = loglam0 + math.log1p(-math.exp(-loglam0)) - math.log(b)
        if math.isfinite(lam0):
            val = (lam0 - 1.0) / b
            return (val if math.isfinite(val) else math.inf), lg
        return math.inf, lg

    def coefficients(self, lmax: int, dim: int = 2) -> np.ndarray:
        return _memoized(self, "coefficients", self._coefficients, lmax, dim)

    def sa_coefficients(self, lmax: int, dim: int = 2) -> tuple[np.ndarray, np.ndarray]:
        return _memoized(self, "sa_coefficients", self._sa_coefficients, lmax, dim)

    def _coefficients(self, lmax: int, dim: int = 2) -> np.ndarray:
        """Funk–Hecke coefficients ``g_l`` of the potential ``G_beta`` (normalized sigma).

        Results are memoized per (lmax, dim) (the kernel is immutable); a copy is returned.

        ``g_l = lambda_l(beta)/beta`` for l >= 1, ``g_0 = (lambda_0 - 1)/beta`` (summed as a
        series without cancellation for small ``|beta|``); beta = 0: ``g = (0, 1/d, 0, ...)``.

        Parameters
        ----------
        lmax : int
            Highest degree >= 0.
        dim : int
            Ambient dimension d >= 2.

        Returns
        -------
        ndarray, shape (lmax + 1,)

        Raises
        ------
        OverflowError
            If some ``g_l`` is not representable in float64 (``|beta|`` too large).

        Examples
        --------
        On the circle ``g_0 = (I_0(beta) - 1)/beta`` and ``g_k = I_k(beta)/beta``:

        >>> import numpy as np
        >>> import meanfield as mf
        >>> from scipy.special import iv
        >>> g = mf.AttentionKernel(2.0).coefficients(3)
        >>> exact = np.r_[(iv(0, 2.0) - 1) / 2.0, iv([1, 2, 3], 2.0) / 2.0]
        >>> g.shape, bool(np.allclose(g, exact, rtol=1e-13))
        ((4,), True)
        >>> mf.AttentionKernel(0.0).coefficients(2, dim=3)  # Kuramoto limit: g_1 = 1/d
        array([0.        , 0.33333333, 0.        ])
        """
        lmax = _check_lmax(lmax)
        d = _check_dim(dim)
        larr = np.arange(lmax + 1)
        if self.beta == 0.0:
            g = np.zeros(lmax + 1)
            if lmax >= 1:
                g[1] = 1.0 / d
            return g
        val, logv = self._abs_g(larr, d)
        if np.any(logv >= _LOG_MAX) or not np.all(np.isfinite(val)):
            raise OverflowError(
                f"AttentionKernel(beta={self.beta}).coefficients(dim={d}): the Funk–Hecke "
                "coefficients g_l = lambda_l/beta of the unnormalized (USA) potential "
                "overflow float64 (the USA velocity scale exp(|beta|)/|beta| is too large); "
                "use the softmax (SA) dynamics (sa_coefficients) or a smaller |beta|")
        return self._signs(larr, shift=1) * val

    def threshold(self, l, dim: int = 2):
        """Instability threshold ``kappa_l = beta/lambda_l(beta)`` (``inf`` if ``g_l <= 0``).

        Computed in the log domain where ``g_l`` itself would overflow (the threshold then
        underflows towards 0). beta = 0: ``kappa_1 = d``, other modes ``inf``.

        Parameters
        ----------
        l : int or array_like of int
            Degree(s) >= 0.
        dim : int
            Ambient dimension d >= 2.

        Returns
        -------
        float or ndarray

        Examples
        --------
        >>> import meanfield as mf
        >>> round(mf.AttentionKernel(1.0).threshold(1, dim=3), 12)  # kappa_1 = e on S^2
        2.718281828459
        >>> mf.AttentionKernel(0.0).threshold([1, 2], dim=3)  # Kuramoto: kappa_1 = d
        array([ 3., inf])
        """
        larr = _check_degrees(l)
        d = _check_dim(dim)
        if self.beta == 0.0:
            return _scalar_or_array(np.where(larr == 1, float(d), np.inf), larr)
        val, logv = self._abs_g(larr, d)
        sign = self._signs(larr, shift=1)
        with np.errstate(all="ignore"):
            normal = np.isfinite(val) & (val > _TINY_OK)
            kappa = np.where(normal, 1.0 / np.where(normal, val, 1.0), np.exp(-logv))
        kappa = np.where(sign > 0, kappa, np.inf)
        return _scalar_or_array(kappa, larr)

    def _sa_coefficients(self, lmax: int, dim: int = 2) -> tuple[np.ndarray, np.ndarray]:
        """Multipliers for the softmax (SA) velocity ``X = grad(num * rho) / (den * rho)``.

        ``den_l = lambda_l(beta) exp(-|beta|)`` (the scaled kernel ``K_beta * rho``) and
        ``num_l = den_l / beta`` for l >= 1, ``num_0 = 0`` (``grad`` kills constants).
        At beta = 0: ``den = (1, 0, ...)`` and ``num = (0, 1/d, 0, ...)`` (the limit).
        Finite for every finite beta.

        Parameters
        ----------
        lmax : int
            Highest degree >= 0.
        dim : int
            Ambient dimension d >= 2.

        Returns
        -------
        num, den : ndarray, shape (lmax + 1,)

        Examples
        --------
        On the circle ``den_k = ive(k, beta)`` (= ``I_k(beta) e^{-beta}``) and
        ``num_k = den_k/beta``:

        >>> import numpy as np
        >>> import meanfield as mf
        >>> from scipy.special import ive
        >>> num, den = mf.AttentionKernel(2.0).sa_coefficients(3)
        >>> bool(np.allclose(den, ive([0, 1, 2, 3], 2.0), rtol=1e-13))
        True
        >>> float(num[0]), bool(np.allclose(num[1:], den[1:] / 2.0, rtol=1e-13))
        (0.0, True)
        """
        lmax = _check_lmax(lmax)
        d = _check_dim(dim)
        larr = np.arange(lmax + 1)
        if self.beta == 0.0:
            den = np.zeros(lmax + 1)
            den[0] = 1.0
            return self.coefficients(lmax, d), den
        den_abs, _ = self._abs_lambda(larr, d, scaled=True, over_b=False)
        num_abs, _ = self._abs_lambda(larr, d, scaled=True, over_b=True)
        den = self._signs(larr) * den_abs
        num = self._signs(larr, shift=1) * num_abs
        num[0] = 0.0
        return num, den


AttentionKernel.coefficients.__doc__ = AttentionKernel._coefficients.__doc__
AttentionKernel.sa_coefficients.__doc__ = AttentionKernel._sa_coefficients.__doc__


def _memoized(kernel, name: str, compute, lmax: int, dim: int):
    """Per-instance memo of coefficient vectors (kernels are immutable); returns copies."""
    memo = kernel.__dict__.setdefault("_memo", {})
    key = (name, lmax, dim)
    if key not in memo:
        if len(memo) > 64:
            memo.clear()
        memo[key] = compute(lmax, dim)
    out = memo[key]
    return tuple(a.copy() for a in out) if isinstance(out, tuple) else out.copy()


class KuramotoKernel(Kernel):
    """Kuramoto kernel: potential ``G(t) = t`` (the ``beta -> 0`` limit of attention).

    Funk–Hecke coefficients: ``g_1 = 1/d``, all others 0, so ``kappa_1 = d``.

    Examples
    --------
    >>> import meanfield as mf
    >>> k = mf.KuramotoKernel()
    >>> k.coefficients(2, dim=3), float(k.threshold(1, dim=3))
    (array([0.        , 0.33333333, 0.        ]), 3.0)
    """

    name = "kuramoto"
    beta = 0.0

    def potential(self, t):
        """Potential ``G(t) = t``.

        Examples
        --------
        >>> import meanfield as mf
        >>> mf.KuramotoKernel().potential([0.25, -1.0])
        array([ 0.25, -1.  ])
        """
        return np.array(t, dtype=np.float64, copy=True)

    def coefficients(self, lmax: int, dim: int = 2) -> np.ndarray:
        """``g = (0, 1/d, 0, ..., 0)``, shape ``(lmax + 1,)``.

        Examples
        --------
        >>> import meanfield as mf
        >>> mf.KuramotoKernel().coefficients(2)  # circle: g_1 = 1/2
        array([0. , 0.5, 0. ])
        """
        lmax = _check_lmax(lmax)
        d = _check_dim(dim)
        g = np.zeros(lmax + 1)
        if lmax >= 1:
            g[1] = 1.0 / d
        return g


class ZonalKernel(Kernel):
    """General zonal kernel given by its potential ``W(t)`` or by its coefficients.

    Parameters
    ----------
    W : callable, optional
        Vectorized potential ``W(t)`` on ``[-1, 1]`` (``G = W``); must return finite values.
        Coefficients are computed by an adaptive quadrature for the weight
        ``c_d (1 - t^2)^{(d-3)/2}`` (Fejér rule at Chebyshev nodes; Gauss–Chebyshev for
        d = 2), doubling the nodes until two successive coefficient vectors agree to
        ``1e-14 max|g|``; cached per ``(lmax, dim)``.
    coefficients : array_like, optional (keyword only)
        1-D Funk–Hecke coefficients ``g_0, g_1, ...`` valid on S^{dim-1}; ``dim`` is then
        required. Requests beyond the given length are padded with zeros.
    dim : int, optional (keyword only)
        Dimension the given ``coefficients`` belong to.
    name : str, optional
        Name shown in ``repr`` (default: ``W.__name__`` or ``"zonal"``).

    Raises
    ------
    ValueError
        Neither or both of ``W`` and ``coefficients``; non-finite coefficients; missing
        ``dim``; ``dim`` without ``coefficients``.

    Examples
    --------
    ``W(t) = t^2`` on the circle: ``cos^2 = 1/2 + cos(2 theta)/2``, so ``g_0 = 1/2``,
    ``g_2 = 1/4`` (``g_{-2} = 1/4`` too) and the other coefficients vanish:

    >>> import numpy as np
    >>> import meanfield as mf
    >>> k = mf.ZonalKernel(lambda t: t**2)
    >>> np.round(k.coefficients(3), 12) + 0.0
    array([0.5 , 0.  , 0.25, 0.  ])

    From coefficients (here on the circle):

    >>> k2 = mf.ZonalKernel(coefficients=[0.0, 0.5, 0.25], dim=2)
    >>> k2, k2.threshold([1, 2])
    (ZonalKernel(coefficients=<3 values>, dim=2), array([2., 4.]))
    """

    max_nodes = 2**17

    def __init__(self, W: Callable | None = None, *, coefficients=None,
                 dim: int | None = None, name: str | None = None):
        if (W is None) == (coefficients is None):
            raise ValueError("give exactly one of W (a callable potential) or coefficients")
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self.W = None
        self.dim = None
        self._coef = None
        if W is not None:
            if not callable(W):
                raise ValueError(f"W must be callable, got {W!r}")
            if dim is not None:
                raise ValueError("dim may only be given together with coefficients")
            self.W = W
            default = getattr(W, "__name__", "zonal")
            self.name = name or ("zonal" if default == "<lambda>" else default)
        else:
            if dim is None:
                raise ValueError("dim is required when coefficients are given")
            self.dim = _check_dim(dim)
            c = np.asarray(coefficients, dtype=np.float64)
            if c.ndim != 1 or c.size == 0:
                raise ValueError("coefficients must be a non-empty 1-D array (g_0, g_1, ...)")
            if not np.all(np.isfinite(c)):
                raise ValueError("coefficients must be finite")
            self._coef = c.copy()
            self.name = name or "zonal"

    def _repr_args(self) -> str:
        if self.W is not None:
            return f"W={self.name}"
        return f"coefficients=<{self._coef.size} values>, dim={self.dim}"

    def _eval_W(self, t: np.ndarray) -> np.ndarray:
        vals = np.asarray(self.W(np.array(t, copy=True)), dtype=np.float64)
        try:
            vals = np.broadcast_to(vals, t.shape)
        except ValueError:
            raise ValueError(
                f"W must return an array of the same shape as its input {t.shape}, "
                f"got {vals.shape}") from None
        if not np.all(np.isfinite(vals)):
            raise ValueError("W returned non-finite values (NaN or inf) on [-1, 1]")
        return vals

    def potential(self, t):
        """Potential ``G(t)``: ``W(t)``, or ``Σ_l g_l N(d, l) P_l^{(d)}(t)`` from coefficients
        (``N(d, l)`` = dimension of degree-l harmonics, addition theorem for normalized sigma).

        Examples
        --------
        On the circle ``G(cos theta) = Σ_k g_k e^{ik theta}`` over k in Z, i.e. ``g_0 + 2 Σ_{k>=1}
        g_k cos(k theta)``:

        >>> import meanfield as mf
        >>> k = mf.ZonalKernel(coefficients=[0.0, 0.5, 0.25], dim=2)
        >>> k.potential([1.0, 0.0])  # theta = 0: 1 + 0.5; theta = pi/2: -0.5
        array([ 1.5, -0.5])
        """
        t = np.asarray(t, dtype=np.float64)
        if self.W is not None:
            return np.array(self._eval_W(t))
        d = self.dim
        c = self._coef
        lmax = c.size - 1
        logn = _log_harmonic_dim(np.arange(lmax + 1), d)
        with np.errstate(all="ignore"):
            amp = np.where(c == 0, 0.0,
                           np.sign(c) * np.exp(np.log(np.abs(np.where(c == 0, 1.0, c))) + logn))
        out = np.zeros_like(t)
        for l, p in _gegenbauer_rows(lmax, t, d):
            if amp[l] != 0:
                out = out + amp[l] * p
        return out

    def _quadrature(self, lmax: int, d: int, n: int) -> np.ndarray:
        t, w = _fejer_jacobi(n, d)
        fw = self._eval_W(t) * w
        g = np.empty(lmax + 1)
        for l, p in _gegenbauer_rows(lmax, t, d):
            g[l] = fw @ p
        return g

    def coefficients(self, lmax: int, dim: int | None = None) -> np.ndarray:
        """Funk–Hecke coefficients ``g_0..g_lmax`` on S^{dim-1}.

        Parameters
        ----------
        lmax : int
            Highest degree >= 0.
        dim : int, optional
            Ambient dimension d >= 2. Defaults to the given coefficients' ``dim``, else 2.
            For a kernel built from coefficients, any other ``dim`` raises ValueError.

        Returns
        -------
        ndarray, shape (lmax + 1,)

        Examples
        --------
        The Kuramoto potential ``W(t) = t`` on S^2 has ``g_1 = 1/3`` only:

        >>> import numpy as np
        >>> import meanfield as mf
        >>> g = mf.ZonalKernel(lambda t: t).coefficients(3, dim=3)
        >>> bool(np.allclose(g, [0.0, 1 / 3, 0.0, 0.0], atol=1e-14))
        True
        """
        lmax = _check_lmax(lmax)
        if dim is None:
            dim = self.dim if self.dim is not None else 2
        d = _check_dim(dim)
        if self._coef is not None:
            if d != self.dim:
                raise ValueError(
                    f"this ZonalKernel's coefficients are given for dim={self.dim}; "
                    f"dim={d} was requested")
            g = np.zeros(lmax + 1)
            m = min(lmax + 1, self._coef.size)
            g[:m] = self._coef[:m]
            return g
        key = (lmax, d)
        if key not in self._cache:
            n = max(2 * lmax + 32, 64)
            g = self._quadrature(lmax, d, n)
            while True:
                n2 = 2 * n
                g2 = self._quadrature(lmax, d, n2)
                diff = float(np.max(np.abs(g2 - g)))
                # round-off floor of the quadrature sums: Σ_j |w_j W(t_j)|
                t2, w2 = _fejer_jacobi(n2, d)
                floor = float(np.abs(w2 * self._eval_W(t2)).sum())
                if diff < 1e-14 * max(float(np.max(np.abs(g2))), floor) + 1e-300:
                    break
                if n2 >= self.max_nodes:
                    warnings.warn(
                        f"ZonalKernel {self.name}: Funk–Hecke quadrature not converged with "
                        f"{n2} nodes (last change {diff:.2e}); W may be non-smooth",
                        RuntimeWarning, stacklevel=2)
                    break
                n, g = n2, g2
            self._cache[key] = g2
        return self._cache[key].copy()

    def threshold(self, l, dim: int | None = None):
        """``kappa_l = 1/g_l`` (``inf`` if ``g_l <= 0``); ``dim`` defaults as in
        :meth:`coefficients`.

        Examples
        --------
        >>> import meanfield as mf
        >>> mf.ZonalKernel(coefficients=[0.0, 0.5, 0.25], dim=2).threshold([1, 2])
        array([2., 4.])
        """
        if dim is None:
            dim = self.dim if self.dim is not None else 2
        return super().threshold(l, dim)
