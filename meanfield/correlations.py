r"""The 1/N correlations of causal attention for general initial data, solved numerically.

:mod:`meanfield.causal` gives the retrieval profile ``S_t(s)`` in closed form for iid
*uniform* tokens on the circle. Here the same quantity is computed for any initial family
``rho0(s', .)`` (one density per position ``s'``, or one shared by all: iid tokens of that
law) by solving the linear-response equations numerically (the derivation is done here).

The model (suite time, DESIGN.md §1; module docstring of :mod:`meanfield.causal`)
---------------------------------------------------------------------------------
``N`` tokens on the circle, token ``i`` at position ``i/N``, noiseless causal USA with the
row-normalized ALiBi weights ``W_ij`` (``N W_ij -> w(s_i, s_j)``,
:func:`meanfield.causal.alibi_kernel`, slope ``lam``; ``lam = 0`` the plain causal average):

    d theta_i/dt = sum_{j < i} W_ij V_{delta_{theta_j}}(theta_i),   V_mu = d/d theta (G * mu),

``G`` the model's zonal potential (``G_beta = (e^{beta t} - 1)/beta`` for
``AttentionKernel``; any zonal kernel is accepted). Its mean-field limit is the kinetic
equation of :mod:`meanfield.kinetic` with ``weight="alibi"``:

    d_t rho(s') = -d_theta( rho(s') V[rho~(s')] ),
    rho~(s') = int_0^{s'} w(s', sig) rho(sig) d sig.

Linear response to the source (derived here)
--------------------------------------------
The source is the token at position ``s < 1`` with initial angle ``phi``; every other token
``j`` starts independently with the law ``rho0(s_j, .)``. Conditioned on ``phi``:

1. the source moves in the mean field at its own position (the earlier tokens do not
   feel it, causality): ``d X/dt = V[rho~(t, s)](X)``, ``X(0) = phi``, up to fluctuations
   whose effect on the later tokens is ``o(1/N)``; with uniform data ``X = phi``;
2. every later token ``s' > s`` sees, in its average, the atom ``(1/N) w(s', s)
   delta_{X(t)}`` in place of the mean-field share ``(1/N) w(s', s) rho(t, s)`` of position
   ``s`` (the source is one token: ``E_phi delta_{X(t; phi)} = rho(t, s)``). The row sums of
   the ALiBi weights do not depend on ``phi`` (USA: no softmax normalization), so this is
   the whole forcing; the laws of the later tokens are ``rho(t, s') + h/N + o(1/N)`` with
   ``h(0) = 0``, ``h = 0`` for ``s' < s`` and, for ``s' > s``,

       d_t h(s') = -d_theta( h(s') V[rho~(s')] + rho(s') V[h~(s')]
                             + rho(s') w(s', s) V[delta_{X(t; phi)} - rho(t, s)] ),
       h~(s') = int_s^{s'} w(s', sig) h(sig) d sig.

   (The ``phi``-independent ``-rho(t, s)`` puts into ``h`` only the part of the ``1/N``
   correction that depends on ``phi``; with uniform data it vanishes.)

For ``chi = sum_m omega_{|m|} e^{i m theta}`` (:func:`meanfield.causal.gaussian_weights`,
``omega_0 = 1``, truncated at ``n_max``) the soft accuracy of the reader (``s' = 1``) is

    E[chi(theta_N(t) - theta_src(0))] = E_0(t, s) + c_t(s)/N + (2/N) S_t(s) + o(1/N),
    E_0 = int int chi(theta - phi) rho(t, 1, theta) rho0(s, phi),
    S_t(s) = (1/2) int rho0(s, phi) int chi(theta - phi) h(t, 1, theta; phi),

(all integrals against the normalized measure), where ``c_t`` comes from the ``1/N``
correction of the reader's own marginal law, which does not involve the source's angle
(it is the same for an independent copy of ``theta_src(0)``; zero for uniform data). ``S_t``
is thus the *connected* part, ``(N/2) (E[chi(theta_N(t) - theta_src(0))] -
E[chi(theta_N(t) - phi')])`` with ``phi'`` an independent copy of the source's angle, and
for uniform data it is exactly :func:`meanfield.causal.retrieval_profile` (there ``h``'s
modes are ``G_{a_n t}(s', s) e^{-i n phi}``, and ``E_0 = 1``, ``c_t = 0``). ``c_t`` is not
computed (it also carries the ``O(1/N)`` ambiguity of the token positions ``i/N``); the
particle estimator :func:`particle_retrieval_profile` measures the connected part.

Discretization
--------------
* Moments instead of angles: ``S_t = Re sum_{m=1}^{n_max} omega_m hhat^{(m)}_{-m}(t, 1)``
  with ``h^{(m)} = int rho0(s, phi) e^{-i m phi} h(.; phi) d phi``, which solves the equation
  above with the forcing ``int rho0(s, phi) e^{-i m phi} (delta_{X(t; phi)} - rho(t, s))``:
  ``n_max`` complex linear solves per source, the ``phi`` integral by the trapezoid rule on
  the equispaced grid of the basis (spectrally accurate; ``X`` is followed at every node).
* Angles: the circle basis' grid, pseudo-spectral products, derivatives and the potential
  ``G`` as Fourier multipliers on the ``|k| < n_modes`` modes; ``V[delta_X]`` is the
  multiplier applied to ``e^{-i k X}`` (exact up to the kernel's tail ``g_{n_modes}``).
* Positions of the mean field: the Gauss–Legendre nodes and the matrix of
  :func:`meanfield.kinetic.position_weights` (``"alibi"``); values at other positions by
  Lagrange interpolation (:func:`meanfield.kinetic.lagrange_matrix`).
* Positions of the response ``s' in (s, 1)``: Gauss–Legendre nodes in the causal log ratio
  ``u = Y_lam(s', s)`` (:func:`meanfield.causal.causal_log_ratio`, ``u in (0, Y_lam(1, s))``),
  in which ``w(s', sig) d sig = e^{v - u} d v`` and ``w(s', s) = w(s, s) e^{-u}``: the
  response of uniform data is ``w(s, s) e^{-u} psi_c(u)``, entire in ``u``, so the
  quadrature converges faster than exponentially; the reader at ``s' = 1`` by Lagrange
  extrapolation to ``u = Y_lam(1, s)``.
* Time: the mean field, the source characteristics and the responses as one ODE system,
  DOP853 (:func:`scipy.integrate.solve_ivp`) with the tolerances ``rtol``, ``atol``.

Examples
--------
Uniform data against the closed form (``beta = lam = 1``, ``M = 8``, ``n_max = 20``):

>>> import numpy as np
>>> import meanfield as mf
>>> from meanfield import causal, correlations
>>> model = mf.MeanFieldModel(mf.AttentionKernel(1.0))
>>> basis = mf.CircleBasis(24)
>>> prof = correlations.retrieval_profile_kinetic(model, basis, np.ones(basis.shape),
...                                               [0.25, 0.5], [0.0, 1.2], lam=1.0)
>>> exact = causal.retrieval_profile(prof.s, 1.2, 1.0, 1.0, 8.0, 20)
>>> bool(np.allclose(prof.profile[1], exact, rtol=1e-8)), prof.profile[0].tolist()
(True, [0.0, 0.0])
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.integrate import solve_ivp
from scipy.special import roots_legendre

from . import causal
from .kinetic import lagrange_matrix, position_weights

__all__ = [
    "CorrelationProfile",
    "particle_retrieval_profile",
    "retrieval_profile_kinetic",
    "von_mises_sampler",
]

# extra Gauss points of the quadrature that builds the response's averaging matrix
_EXTRA_QUAD = 24


# ----------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------
def _check_model(model, basis) -> np.ndarray:
    """The circle coefficients g_0..g_{n_modes-1} of the model's potential (USA, noiseless)."""
    from .bases.circle import CircleBasis
    from .kernels import Kernel

    if not isinstance(basis, CircleBasis):
        raise ValueError(f"basis must be a CircleBasis (the circle, d = 2), got {basis!r}")
    if getattr(model, "dim", None) != 2 or not isinstance(getattr(model, "kernel", None),
                                                         Kernel):
        raise ValueError(f"model must be a MeanFieldModel on the circle (dim=2) with a zonal "
                         f"kernel (AttentionKernel, KuramotoKernel, ZonalKernel), got {model!r}")
    if model.dynamics != "usa":
        raise ValueError("model.dynamics must be 'usa' (for SA the source's atom also enters "
                         "the softmax normalization; not implemented)")
    if np.isfinite(model.kappa):
        raise ValueError(f"model.kappa must be inf (noiseless, the paper's case), got "
                         f"{model.kappa}")
    return np.asarray(model.kernel.coefficients(basis.n_modes - 1, 2), dtype=float)


def _check_sources(s) -> np.ndarray:
    pos = np.atleast_1d(causal._check_positions(s, "s"))
    if pos.ndim != 1 or np.any(pos >= 1):
        raise ValueError(f"s (the source positions) must be a 1-d array in (0, 1) (the reader "
                         f"is at 1), got {s!r}")
    return pos


def _check_times(t, units: str, beta: float) -> tuple[np.ndarray, np.ndarray]:
    t_a = np.atleast_1d(causal._check_time(t))
    if t_a.ndim != 1 or np.any(np.diff(t_a) < 0):
        raise ValueError(f"t must be a time or a nondecreasing 1-d array of times, got {t!r}")
    if units == "paper":
        if not beta >= 0:
            raise ValueError(f"units='paper' needs an AttentionKernel with beta >= 0, got "
                             f"beta = {beta}")
        return t_a, beta * t_a
    return t_a, t_a


def _check_count(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or \
            not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def _densities(rho0, basis, positions: np.ndarray) -> np.ndarray:
    """rho0 (grid values, or a callable of the positions) at ``positions``: (k, *grid)."""
    shape = (positions.size,) + basis.shape
    vals = rho0(positions) if callable(rho0) else rho0
    vals = np.asarray(vals, dtype=float)
    if vals.shape == basis.shape:
        vals = np.broadcast_to(vals, shape)
    if vals.shape != shape:
        raise ValueError(f"rho0 must be grid values of shape {basis.shape} (iid tokens) or a "
                         f"callable of positions s (shape (k,)) returning shape (k, "
                         f"{basis.shape[0]}), got shape {vals.shape}")
    if not np.all(np.isfinite(vals)) or vals.min() < 0:
        raise ValueError("rho0 must be finite and nonnegative (densities w.r.t. sigma)")
    mass = basis.integrate(vals)
    if np.any(np.abs(mass - 1.0) > 1e-8):
        raise ValueError(f"each rho0 must have mass 1 w.r.t. the normalized measure sigma, got "
                         f"{np.asarray(mass).ravel()[:3]}")
    return np.array(vals)


# ----------------------------------------------------------------------------------------
# discretization
# ----------------------------------------------------------------------------------------
class _Spectral:
    """Fourier multipliers on the basis grid (modes |k| < n_modes kept)."""

    def __init__(self, basis, g: np.ndarray) -> None:
        n = basis.grid_size
        self.k = np.fft.fftfreq(n, 1.0 / n)
        keep = np.abs(self.k) < basis.n_modes
        idx = np.minimum(np.abs(self.k).astype(int), g.size - 1)
        self.deriv = np.where(keep, 1j * self.k, 0.0)
        self.field = self.deriv * np.where(keep, g[idx], 0.0)
        self.size = n

    def coeffs(self, f: np.ndarray) -> np.ndarray:
        return np.fft.fft(f, axis=-1) / self.size

    def apply(self, f: np.ndarray, mult: np.ndarray) -> np.ndarray:
        return np.fft.ifft(np.fft.fft(f, axis=-1) * mult, axis=-1)


def _response_nodes(s: float, lam: float, n: int) -> dict:
    """Nodes of the response on (s, 1) in u = Y_lam(s', s) and its operators."""
    top = float(causal.causal_log_ratio(1.0, s, lam))
    x, _ = roots_legendre(n)
    u = 0.5 * top * (x + 1.0)
    if lam < 1e-150:
        pos = s * np.exp(u)
    else:
        pos = np.log1p(np.expm1(lam * s) * np.exp(u)) / lam
    xq, wq = roots_legendre(n + _EXTRA_QUAD)
    avg = np.empty((n, n))
    for a, ua in enumerate(u):  # (W h)(u_a) = e^{-u_a} int_0^{u_a} e^v h(v) dv
        v = 0.5 * ua * (xq + 1.0)
        avg[a] = (np.exp(v - ua) * 0.5 * ua * wq) @ lagrange_matrix(u, v)
    w_ss = float(causal.alibi_kernel(s, s, lam))
    return dict(pos=np.minimum(pos, 1.0), avg=avg, force=w_ss * np.exp(-u),
                reader=lagrange_matrix(u, np.array([top]))[0])


@dataclass
class _System:
    """Everything the right-hand side needs, per source (axis 0 of the per-source arrays)."""

    sp: _Spectral
    W: np.ndarray          # (p, p) mean-field positional weights
    to_src: np.ndarray     # (k, p) interpolation to the sources
    to_resp: np.ndarray    # (k, r, p) interpolation to the response nodes
    avg: np.ndarray        # (k, r, r) the response's causal average
    force: np.ndarray      # (k, r) w(s', s) at the response nodes
    moments: np.ndarray    # (k, m, q) rho0(s, phi_q) e^{-i m phi_q} / q
    shapes: tuple          # (p, N), (k, q), (k, m, r, N)

    def unpack(self, y: np.ndarray):
        (p, n), (k, q), hshape = self.shapes
        rho = y[:p * n].reshape(p, n)
        x = y[p * n:p * n + k * q].reshape(k, q)
        h = np.ascontiguousarray(y[p * n + k * q:]).view(np.complex128).reshape(hshape)
        return rho, x, h

    @staticmethod
    def pack(rho, x, h) -> np.ndarray:
        return np.concatenate([rho.ravel(), x.ravel(),
                               np.ascontiguousarray(h).view(np.float64).ravel()])

    def rhs(self, _t: float, y: np.ndarray) -> np.ndarray:
        sp = self.sp
        rho, x, h = self.unpack(y)
        mixed = self.W @ rho
        drho = -sp.apply(rho * sp.apply(mixed, sp.field).real, sp.deriv).real
        v_src = sp.field * sp.coeffs(self.to_src @ mixed)                  # (k, N)
        phase = np.exp(1j * x[..., None] * sp.k)                           # (k, q, N)
        dx = (phase @ v_src[..., None])[..., 0].real
        rho_src = sp.coeffs(self.to_src @ rho)                             # (k, N)
        atom = self.moments @ phase.conj()
        atom -= self.moments.sum(axis=-1)[..., None] * rho_src[:, None]
        forcing = np.fft.ifft(sp.field * atom, axis=-1) * sp.size          # (k, m, N)
        rho_r = self.to_resp @ rho
        v_r = sp.apply(self.to_resp @ mixed, sp.field).real
        v_h = sp.apply(self.avg[:, None] @ h, sp.field)
        flux = h * v_r[:, None] + rho_r[:, None] * (
            v_h + self.force[:, None, :, None] * forcing[:, :, None, :])
        return self.pack(drho, dx, -sp.apply(flux, sp.deriv))


def _build(model, basis, rho0, s, lam, n_max, n_positions) -> tuple[_System, dict]:
    sp = _Spectral(basis, _check_model(model, basis))
    nodes, W = position_weights(n_positions, "alibi", lam)
    rho_nodes = _densities(rho0, basis, nodes)
    rho_src = _densities(rho0, basis, s)
    resp = [_response_nodes(float(si), lam, n_positions) for si in s]
    m = np.arange(1, n_max + 1)
    q = basis.grid_size
    moments = rho_src[:, None, :] * np.exp(-1j * m[:, None] * basis.grid) / q
    system = _System(
        sp=sp, W=W, to_src=lagrange_matrix(nodes, s),
        to_resp=np.stack([lagrange_matrix(nodes, r["pos"]) for r in resp]),
        avg=np.stack([r["avg"] for r in resp]), force=np.stack([r["force"] for r in resp]),
        moments=moments,
        shapes=((nodes.size, q), (s.size, q), (s.size, n_max, n_positions, q)))
    y0 = _System.pack(rho_nodes, np.broadcast_to(basis.grid, (s.size, q)),
                      np.zeros(system.shapes[2], dtype=np.complex128))
    extra = dict(nodes=nodes, rho_src=rho_src, to_reader=lagrange_matrix(nodes, [1.0])[0],
                 reader=np.stack([r["reader"] for r in resp]))
    return system, dict(y0=y0, **extra)


def _readout(system: _System, extra: dict, ys: np.ndarray, omega: np.ndarray):
    """profile (m_t, k), E_0 (m_t, k) and the reader's responses (m_t, k, n_max, N)."""
    sp, n_max = system.sp, omega.size
    m = np.arange(1, n_max + 1)
    hat0 = sp.coeffs(extra["rho_src"])[:, m]                               # (k, n_max)
    prof, acc0, resp = [], [], []
    for y in ys:
        rho, _, h = system.unpack(y)
        reader = (extra["reader"][:, None, None, :] @ h)[:, :, 0]
        coef = sp.coeffs(reader)                                           # (k, m, N)
        prof.append((omega * coef[:, m - 1, -m]).real.sum(axis=-1))
        rho1 = sp.coeffs(extra["to_reader"] @ rho)[m]
        acc0.append(1.0 + 2.0 * (omega * np.conj(rho1) * hat0).real.sum(axis=-1))
        resp.append(reader)
    return np.array(prof), np.array(acc0), np.array(resp)


@dataclass
class CorrelationProfile:
    r"""Result of :func:`retrieval_profile_kinetic`.

    Attributes
    ----------
    s : ndarray (k,)
        Source positions in ``(0, 1)``.
    t : ndarray (m,)
        Times, in ``params["units"]``.
    profile : ndarray (m, k)
        The connected retrieval profile ``S_t(s)`` (module docstring; for uniform data
        :func:`meanfield.causal.retrieval_profile`).
    accuracy0 : ndarray (m, k)
        The order-1 soft accuracy ``E_0 = int int chi(theta - phi) rho(t, 1, theta)
        rho0(s, phi)`` (1 for uniform data).
    response : ndarray (m, k, n_max, grid_size), complex
        The reader's moment responses ``h^{(j)}(t, 1, theta; s) = int rho0(s, phi)
        e^{-i j phi} h(t, 1, theta; phi) d phi``, ``j = 1..n_max``, on the basis grid.
    params : dict
        beta, lam, M, n_max, n_positions, n_modes, units, rtol, atol, rhs_calls, wall_time.
    """

    s: np.ndarray
    t: np.ndarray
    profile: np.ndarray
    accuracy0: np.ndarray
    response: np.ndarray
    params: dict = field(default_factory=dict)


def retrieval_profile_kinetic(model, basis, rho0, s, t, *, lam: float, M: float = 8.0,
                              n_max: int = 20, n_positions: int = 16, units: str = "suite",
                              rtol: float = 1e-9, atol: float = 1e-11) -> CorrelationProfile:
    r"""The retrieval profile ``S_t(s)`` of the reader for general initial data (kinetic, 1/N).

    Solves the mean-field kinetic equation, the source's characteristics and the linearized
    kinetic equation driven by the source's atom (module docstring: derivation, the
    connected profile, discretization) and returns ``S_t(s)``, normalized as
    :func:`meanfield.causal.retrieval_profile` (for uniform data the two agree):
    ``E[chi(theta_N(t) - theta_src(0))] - E[chi(theta_N(t) - phi')] = (2/N) S_t(s) +
    o(1/N)``, ``phi'`` an independent copy of the source's initial angle.

    Parameters
    ----------
    model : MeanFieldModel
        Noiseless (``kappa = inf``) USA on the circle with a zonal kernel.
    basis : CircleBasis
        Angles: its grid carries ``rho0``, the products and the ``phi`` quadrature; needs
        ``n_modes > n_max``.
    rho0 : ndarray or callable
        Initial densities w.r.t. sigma on ``basis.grid``: shape ``basis.shape`` (iid tokens
        of that law) or a callable ``rho0(positions)`` of a 1-d array of positions in
        ``(0, 1]`` returning shape ``(len(positions), *basis.shape)``; each of mass 1.
    s : float or array_like
        Source positions in ``(0, 1)``.
    t : float or array_like
        Times ``>= 0``, nondecreasing, in ``units``.
    lam : float
        ALiBi slope ``>= 0`` (``0``: the plain causal average).
    M, n_max : float, int
        The test function (:func:`meanfield.causal.gaussian_weights`), ``1 <= n_max <
        basis.n_modes``.
    n_positions : int
        Gauss–Legendre nodes in ``[2, 256]``, of the mean field on (0, 1) and of each
        response on (s, 1) (module docstring).
    units : {"suite", "paper"}
        Time units of ``t`` (``"paper"``: ``t_suite = beta t_paper``, AttentionKernel).
    rtol, atol : float
        Tolerances of the DOP853 time integration.

    Returns
    -------
    CorrelationProfile
        ``.profile`` (m, k), ``.accuracy0``, ``.response``, ``.params``.

    Raises
    ------
    ValueError
        For arguments out of range (the message names the argument and the range).
    RuntimeError
        If the time integration fails or produces non-finite values.

    Examples
    --------
    Von Mises tokens of concentration 1 (``beta = lam = 1``): a U shape at ``t = 0.6``,
    above the uniform-data profile, most near ``s = 0``:

    >>> import numpy as np
    >>> import meanfield as mf
    >>> from meanfield import causal, correlations
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(1.0))
    >>> basis = mf.CircleBasis(24)
    >>> rho0 = mf.initial.von_mises(basis, 1.0)
    >>> s = [0.05, 0.35, 0.95]
    >>> prof = correlations.retrieval_profile_kinetic(model, basis, rho0, s, 0.6, lam=1.0,
    ...                                               n_positions=12)
    >>> prof.profile.round(3), prof.accuracy0.round(3)
    (array([[0.836, 0.724, 0.969]]), array([[1.552, 1.552, 1.552]]))
    >>> causal.retrieval_profile(np.array(s), 0.6, 1.0, 1.0, 8.0, 20).round(3)
    array([0.629, 0.634, 0.947])
    """
    t_wall0 = time.perf_counter()
    units = causal._check_units(units)
    lam = causal._check_lam(lam)
    omega = causal.gaussian_weights(M, n_max)
    n_positions = _check_count(n_positions, "n_positions", 2, 256)
    src = _check_sources(s)
    t_out, t_sim = _check_times(t, units, float(model.beta) if hasattr(model, "beta")
                                else np.nan)
    _check_model(model, basis)
    if omega.size >= basis.n_modes:
        raise ValueError(f"n_max must be < basis.n_modes = {basis.n_modes} (the test function's "
                         f"modes must be resolved), got {omega.size}")
    system, extra = _build(model, basis, rho0, src, lam, omega.size, n_positions)
    ys, calls = _integrate(system, extra["y0"], t_sim, rtol, atol)
    prof, acc0, resp = _readout(system, extra, ys, omega)
    params = dict(beta=float(model.beta), lam=lam, M=float(M), n_max=int(omega.size),
                  n_positions=n_positions, n_modes=basis.n_modes, units=units,
                  rtol=rtol, atol=atol, rhs_calls=calls,
                  wall_time=time.perf_counter() - t_wall0)
    return CorrelationProfile(s=src, t=t_out.copy(), profile=prof, accuracy0=acc0,
                              response=resp, params=params)


def _integrate(system: _System, y0: np.ndarray, times: np.ndarray, rtol: float,
               atol: float) -> tuple[np.ndarray, int]:
    for name, val in (("rtol", rtol), ("atol", atol)):
        if not (isinstance(val, numbers.Real) and np.isfinite(val) and val > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {val!r}")
    if times[-1] == 0.0:
        return np.repeat(y0[None], times.size, axis=0), 0
    sol = solve_ivp(system.rhs, (0.0, float(times[-1])), y0, method="DOP853",
                    t_eval=times, rtol=rtol, atol=atol)
    if not sol.success or not np.all(np.isfinite(sol.y)):
        raise RuntimeError(f"the time integration failed before t = {times[-1]:g}: "
                           f"{sol.message} (under-resolved concentration? increase n_modes)")
    return np.ascontiguousarray(sol.y.T), int(sol.nfev)


# ----------------------------------------------------------------------------------------
# particles: the connected profile measured on prompts of general iid tokens
# ----------------------------------------------------------------------------------------
def von_mises_sampler(concentration: float, mean: float = 0.0) -> Callable:
    r"""A sampler of iid von Mises tokens for :func:`particle_retrieval_profile`.

    The law has density ``e^{k cos(theta - mean)} / I_0(k)`` w.r.t. the normalized measure
    (:func:`meanfield.initial.von_mises`); ``concentration = 0`` is uniform.

    Parameters
    ----------
    concentration : float
        ``k >= 0``.
    mean : float
        Mean angle.

    Returns
    -------
    callable
        ``sampler(rng, size, positions)`` -> angles of shape ``size + (len(positions),)``.

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.correlations import von_mises_sampler
    >>> draw = von_mises_sampler(1.0)
    >>> x = draw(np.random.default_rng(0), (2000,), np.arange(1, 5) / 4)
    >>> x.shape, bool(abs(np.cos(x).mean() - 0.4464) < 0.03)   # I_1(1)/I_0(1)
    ((2000, 4), True)
    """
    k = float(concentration)
    if not (np.isfinite(k) and k >= 0):
        raise ValueError(f"concentration must be finite and >= 0, got {concentration!r}")
    mu = float(mean)

    def sampler(rng, size, positions):
        return rng.vonmises(mu, k, tuple(size) + (len(positions),)) % (2 * np.pi)

    return sampler


def _simulate_batch(rng, sampler, n, idx, draws, prompts, W, beta, t_sim, dt, omega):
    """Per-prompt connected estimates (m_t, prompts, k) for one batch of prompts."""
    from .particles.simulate import simulate_particles

    positions = np.arange(1, n + 1) / n
    theta = np.asarray(sampler(rng, (prompts,), positions), dtype=float)
    phi = np.asarray(sampler(rng, (prompts, draws), positions), dtype=float)[..., idx - 1]
    phi = np.moveaxis(phi, 1, 2)                                        # (p, k, K)
    ang = np.broadcast_to(theta[:, None, None, :], (prompts, idx.size, draws, n)).copy()
    for a, i in enumerate(idx):
        ang[:, a, :, i - 1] = phi[:, a, :]
    x0 = np.stack([np.cos(ang), np.sin(ang)], axis=-1).reshape(-1, n, 2)
    ps = simulate_particles(beta=beta, x0=x0, replicas=x0.shape[0], weights=W,
                            t_final=float(t_sim[-1]), dt=dt, t_eval=t_sim)
    last = ps.x[:, :, -1]
    reader = np.arctan2(last[..., 1], last[..., 0]).reshape(-1, prompts, idx.size, draws)
    # chi(theta^(c) - phi_c'): all pairs; the diagonal is the source's own angle
    pairs = causal._soft_accuracy(reader[..., :, None] - phi[:, :, None, :], omega)
    diag = np.trace(pairs, axis1=-2, axis2=-1)
    off = pairs.sum(axis=(-2, -1)) - diag
    return diag / draws - off / (draws * (draws - 1))


def particle_retrieval_profile(n: int, t, beta: float, lam: float, M: float, *,
                               sampler: Callable, replicas: int, dt: float, seed=None,
                               draws: int = 8, n_max: int = 20, s=None,
                               strict: bool = True,
                               batch: int = 2048) -> causal.RetrievalEstimate:
    r"""The connected retrieval profile measured on particles, prompts of general iid tokens.

    ``replicas`` prompts of ``n`` tokens drawn by ``sampler`` evolve by the noiseless causal
    USA dynamics with the ALiBi matrix :func:`meanfield.causal.alibi_weights` (RK4, suite
    time), as in :func:`meanfield.causal.empirical_retrieval_profile`. For each prompt and
    source token ``i`` (position ``i/n``) the prompt is simulated ``draws = K`` times with
    ``theta_i(0)`` replaced by independent draws ``phi_1..phi_K`` of the source's law
    (the other tokens unchanged), and the per-prompt value is the U-statistic

        D = (1/K) sum_c chi(theta_n^(c)(t) - phi_c)
            - (1/(K (K - 1))) sum_{c != c'} chi(theta_n^(c)(t) - phi_c'),

    whose mean is exactly ``E[chi(theta_n(t) - theta_i(0))] - E[chi(theta_n(t) - phi')]``
    (``phi'`` independent): the connected part, ``(2/n) S_t(s) + o(1/n)``
    (:func:`retrieval_profile_kinetic`). The reader's ``O(1)`` fluctuation cancels exactly
    (``D = 0`` when ``theta_n`` does not depend on the source; ``D(0) = 0``), so the
    standard error is ``O(1/sqrt(replicas))`` as with the rotations of
    :func:`meanfield.causal.empirical_retrieval_profile`, which need uniform data. The
    estimate returned is ``D n / 2``.

    Parameters
    ----------
    n : int
        Tokens per prompt, ``>= 2``.
    t : float or array_like
        Times ``> 0`` (suite time), nondecreasing.
    beta, lam, M : float
        Inverse temperature, ALiBi slope ``>= 0``, test-function parameter ``> 0``.
    sampler : callable
        ``sampler(rng, size, positions)`` -> initial angles of shape ``size +
        (len(positions),)``, independent tokens, token ``j`` at ``positions[j]``
        (e.g. :func:`von_mises_sampler`).
    replicas : int
        Prompts, ``>= 2``.
    dt : float
        RK4 step.
    seed : int, SeedSequence or Generator, optional
    draws : int
        Source draws ``K >= 2`` per prompt and source (cost ``replicas * len(s) * K``
        simulations).
    n_max, s, strict, batch
        As in :func:`meanfield.causal.empirical_retrieval_profile`.

    Returns
    -------
    meanfield.causal.RetrievalEstimate
        ``.profile``, ``.sem``, ``.samples`` (``closed_form()`` is the uniform-data formula).

    Examples
    --------
    >>> import numpy as np
    >>> from meanfield.correlations import particle_retrieval_profile, von_mises_sampler
    >>> est = particle_retrieval_profile(16, 0.6, 1.0, 1.0, 8.0, replicas=8, dt=0.05,
    ...                                  seed=1, s=[0.5], draws=4,
    ...                                  sampler=von_mises_sampler(1.0))
    >>> est.profile.shape, bool(np.all(est.sem > 0))
    ((1, 1), True)
    """
    from .particles.weighted import WEIGHTED_MAX_N

    t_wall0 = time.perf_counter()
    n = causal._check_count(n, "n (tokens per prompt)", 2, WEIGHTED_MAX_N)
    t_a = np.atleast_1d(causal._check_time(t))
    if t_a.ndim != 1 or np.any(np.diff(t_a) < 0) or t_a[0] <= 0:
        raise ValueError(f"t must be a time > 0 or a nondecreasing 1-d array of them, "
                         f"got {t!r}")
    beta = float(causal._check_beta(beta, "suite"))
    lam = causal._check_lam(lam)
    omega = causal.gaussian_weights(M, n_max)
    R = causal._check_count(replicas, "replicas (the number of prompts)", 2)
    K = causal._check_count(draws, "draws (source angles per prompt)", 2)
    batch = causal._check_count(batch, "batch", 1)
    if not callable(sampler):
        raise ValueError(f"sampler must be a callable sampler(rng, size, positions), got "
                         f"{sampler!r}")
    idx = causal._source_tokens(s, n)
    W = causal.alibi_weights(n, lam, strict=strict)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    chunk = max(1, batch // (idx.size * K))
    parts = [_simulate_batch(rng, sampler, n, idx, K, min(chunk, R - p0), W, beta,
                             t_a, dt, omega) for p0 in range(0, R, chunk)]
    samples = (0.5 * n) * np.concatenate(parts, axis=1)
    params = dict(n=n, beta=beta, lam=lam, M=float(M), n_max=int(omega.size),
                  replicas=R, draws=K, dt=float(dt), strict=bool(strict), units="suite",
                  seed=seed if isinstance(seed, int | None) else None,
                  wall_time=time.perf_counter() - t_wall0)
    return causal.RetrievalEstimate(s=idx / n, t=t_a.copy(), profile=samples.mean(axis=1),
                                    sem=samples.std(axis=1, ddof=1) / np.sqrt(R),
                                    samples=samples, params=params)
