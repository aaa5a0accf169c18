"""One weighted attention head evaluated through its dense operator in coefficient space.

For the head e^{beta x^T A y} V y (A = Q^T K) and a density rho with real coordinates r
(``coords``: the mass, then ``basis.to_real``), the fields

    W(x)   = int g(x, y) rho(y) d sigma(y),  g = (e^{beta x^T A y} - 1)/beta  (x^T A y at 0)
    u_a(x) = int e^{beta x^T A y} (V y)_a rho(y) d sigma(y),   a = 1..d

are linear in r: their coordinates are G_a r with dense (n_c x n_c) matrices G_0..G_d
(two of them when A is invertible: :class:`DenseHead`), computed once per (head, basis) by
quadrature on the basis grid:

    G_a[p, q] = coords_p( x -> int k_a(x, y) phi_q(y) d sigma(y) ),

phi_q the grid function of coordinate q. Because the coordinates are orthogonal,
int k_a(x, .) phi_q = |phi_q|^2 coords_q(forward k_a(x, .)): two batched forward transforms
of the kernel sampled on the grid. The grid integrates the kernel times a degree-lmax
density to the kernel's tail beyond ~2 lmax, and the field is kept to degree lmax, so the
result is spectrally accurate (identity weights reproduce the multiplier path to the
kernel's coefficient at degree lmax + 1). Each step then costs two (or d + 1) dense
products and as many backward transforms. USA: v = P_x u; SA: v = P_x u / (m + beta W), m the mass.

Needs of the basis (docs/basis_interface.md): ``points``, ``forward`` as the orthogonal
projection, ``to_real`` / ``from_real``, and ``tangent_from_cartesian`` (ambient vectors ->
the basis's vector layout). The zonal basis has no tangent map for non-zonal fields and
refuses heads it cannot hold.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..bases.planar import PlanarBasis
from ..bases.zonal import ZonalBasis
from ..kernels import AttentionKernel
from .base import FieldEvaluator, Interaction, cached, register
from .isotropic import floored
from .layers import _scalar

MAX_OPERATOR_BYTES = 8 << 30
BLOCK_BYTES = 1 << 26


def coords(basis, c: np.ndarray) -> np.ndarray:
    """Real coordinates with the mass first: (..., 1 + n_real)."""
    c = np.asarray(c)
    return np.concatenate([c[..., :1].real, basis.to_real(c)], axis=-1)


def from_coords(basis, r: np.ndarray) -> np.ndarray:
    """The inverse of :func:`coords`."""
    c = basis.from_real(r[..., 1:], mass=0.0)
    c[..., 0] += r[..., 0]
    return c


def coordinate_norms(basis) -> np.ndarray:
    """|phi_q|^2 = int phi_q^2 d sigma of each coordinate's grid function."""
    n = basis.n_real + 1
    out = np.empty(n)
    step = max(1, BLOCK_BYTES // (8 * int(np.prod(basis.shape))))
    for lo in range(0, n, step):
        eye = np.zeros((min(step, n - lo), n))
        eye[np.arange(eye.shape[0]), lo + np.arange(eye.shape[0])] = 1.0
        phi = basis.backward(from_coords(basis, eye))
        out[lo:lo + eye.shape[0]] = basis.integrate(phi * phi)
    return out


def operator_bytes(basis, n_fields: int) -> int:
    """Memory of 1 + n_fields dense operators (and of the largest temporary) for one head."""
    n, N = basis.n_real + 1, int(np.prod(basis.shape))
    return 8 * ((n_fields + 1) * n * n + 2 * N * n)


class AttentionHead(Interaction):
    """A head e^{beta x^T A y} V y with general A, V (see the module docstring).

    Declarations: symmetry "O(d)" when A and V are multiples of I, "SO(d)" when they
    commute with the rotations (d = 2: a I + b J), None otherwise; a free energy under USA
    when A is symmetric and V = c A, energy = (c/2) int int g(x, y) rho rho.
    """

    def __init__(self, beta: float, A: np.ndarray, V: np.ndarray, dynamics: str, dim: int,
                 token: int) -> None:
        super().__init__(dim)
        self.beta, self.A, self.V, self.dynamics, self.token = beta, A, V, dynamics, token
        iso = _scalar(A) is not None and _scalar(V) is not None
        rot = dim == 2 and all(_commutes_with_rotation(M) for M in (A, V))
        self.symmetry = "O(d)" if iso else ("SO(d)" if rot else None)
        self.uniform_stationary = self.symmetry is not None
        self.value_scale = _gradient_scale(A, V)
        self.has_free_energy = dynamics == "usa" and self.value_scale is not None
        self.value_norm = float(np.linalg.norm(V, 2))

    def __repr__(self) -> str:
        return f"AttentionHead(beta={self.beta}, dynamics={self.dynamics!r}, dim={self.dim})"

    def evaluator(self, basis):
        return cached(basis, ("head", self.token, self.dynamics, self.dim),
                      lambda: DenseHead(self, basis))

    @property
    def reports_energy(self) -> bool:
        """USA's functional is also reported under SA (as for the isotropic SA kernel)."""
        return self.value_scale is not None

    def energy(self, basis, c: np.ndarray) -> np.ndarray:
        if not self.reports_energy:
            return super().energy(basis, c)
        W = self.evaluator(basis).potential(c)
        return 0.5 * self.value_scale * basis.integrate(basis.backward(c) * W)

    def _effective(self) -> AttentionKernel:
        return AttentionKernel(self.beta * float(np.linalg.norm(self.A, 2)))

    def resolution_coefficients(self, lmax: int) -> np.ndarray:
        return np.asarray(self._effective().sa_coefficients(lmax, self.dim)[1], dtype=float)

    def growth_rates(self, lmax: int, noise: float) -> np.ndarray:
        a, v = _scalar(self.A), _scalar(self.V)
        if a is None or v is None:
            return super().growth_rates(lmax, noise)
        from .isotropic import isotropic

        iso = isotropic(AttentionKernel(self.beta * a), self.dynamics, self.dim)
        l = np.arange(lmax + 1)
        return v * iso.growth_rates(lmax, 0.0) - l * (l + self.dim - 2) * noise


def _commutes_with_rotation(M: np.ndarray) -> bool:
    J = np.array([[0.0, -1.0], [1.0, 0.0]])
    return bool(np.abs(M @ J - J @ M).max() <= 1e-14 * max(np.abs(M).max(), 1e-300))


def _gradient_scale(A: np.ndarray, V: np.ndarray) -> float | None:
    """c when A is symmetric and V = c A (then USA is a gradient flow), else None."""
    scale = max(np.abs(A).max(), 1e-300)
    if np.abs(A - A.T).max() > 1e-14 * scale:
        return None
    c = float(np.sum(V * A) / np.sum(A * A)) if np.any(A) else 0.0
    return c if np.abs(V - c * A).max() <= 1e-14 * max(np.abs(V).max(), 1e-300) else None


class DenseHead(FieldEvaluator):
    """The dense-operator evaluation of one head on one basis (module docstring).

    When A is invertible (condition number below ``MAX_CONDITION``) two operators suffice:
    with W = int g(x, y) rho and R = int <x, A y> e^{beta <x, A y>} rho(y), the ambient
    gradient of int e^{beta x^T A y} rho is beta (grad_S W + x R), so

        int e^{beta x^T A y} y rho(y) d sigma(y) = A^{-1} (grad_S W + x R),

    grad_S W taken spectrally (``basis.grad``). Otherwise the d components u_a are d
    operators of their own.
    """

    MAX_CONDITION = 1e6

    def __init__(self, head: AttentionHead, basis) -> None:
        super().__init__(basis)
        if not hasattr(basis, "tangent_from_cartesian"):
            raise TypeError(f"{type(basis).__name__} cannot evaluate a weighted attention head "
                            "(it has no tangent_from_cartesian)")
        self.head = head
        self.reduced = bool(np.linalg.cond(head.A) < self.MAX_CONDITION)
        n_ops = 2 if self.reduced else head.dim + 1
        need = operator_bytes(basis, n_ops - 1)
        if need > MAX_OPERATOR_BYTES:
            raise MemoryError(
                f"the dense operator of a weighted head on {basis!r} needs {need / 2**30:.1f} "
                f"GiB (limit {MAX_OPERATOR_BYTES / 2**30:.0f} GiB); use fewer modes, or a head "
                "with Q^T K and V multiples of the identity (diagonal multipliers)")
        self.G = self._operators(head, basis, self.reduced)
        if self.reduced:
            self.M = head.V @ np.linalg.inv(head.A)  # u = M (grad_S W + x R)

    @staticmethod
    def _operators(head: AttentionHead, basis, reduced: bool) -> np.ndarray:
        X = basis.points.reshape(-1, head.dim)
        N = X.shape[0]
        norms = coordinate_norms(basis)
        XA = X @ head.A
        VY = X @ head.V.T
        beta = head.beta
        n = norms.size
        n_ops = 2 if reduced else head.dim + 1
        G = np.empty((n_ops, n, n))
        step = max(1, BLOCK_BYTES // (8 * N))
        for a in range(n_ops):
            P = np.empty((N, n))
            for lo in range(0, N, step):
                t = XA[lo:lo + step] @ X.T  # x^T A y, (block, N)
                if a == 0:
                    k = np.expm1(beta * t) / beta if beta != 0 else t
                elif reduced:
                    k = t * np.exp(beta * t)
                else:
                    k = np.exp(beta * t) * VY[:, a - 1]
                rows = basis.forward(k.reshape((k.shape[0],) + basis.shape))
                P[lo:lo + step] = coords(basis, rows) * norms
            cols = basis.forward(np.ascontiguousarray(P.T).reshape((n,) + basis.shape))
            G[a] = coords(basis, cols).T
        return G

    def _apply(self, c: np.ndarray, ops: slice) -> np.ndarray:
        """Coefficients of the operators' fields, (n_ops, *batch, *coeff_shape)."""
        r = coords(self.basis, c)
        flat = r.reshape(-1, r.shape[-1])
        out = np.matmul(flat, np.swapaxes(self.G[ops], 1, 2))  # (ops, B, n)
        return from_coords(self.basis, out.reshape(out.shape[:1] + r.shape))

    def potential(self, c: np.ndarray) -> np.ndarray:
        """W = int g(x, y) rho(y) on the grid."""
        return self.basis.backward(self._apply(c, slice(0, 1))[0])

    def _fields(self, c: np.ndarray, need_w: bool):
        """(W on the grid or None, the ambient field u (*batch, *shape, d))."""
        b = self.basis
        if self.reduced:
            wc, rc = self._apply(c, slice(0, 2))
            grad = b.tangent_to_cartesian(b.grad(wc)) + b.backward(rc)[..., None] * b.points
            u = grad @ self.M.T
            return (b.backward(wc) if need_w else None), u
        F = b.backward(self._apply(c, slice(0 if need_w else 1, None)))
        u = np.moveaxis(F[1:] if need_w else F, 0, -1)
        return (F[0] if need_w else None), u

    def _sa_parts(self, c: np.ndarray):
        W, u = self._fields(c, True)
        mass = coords(self.basis, c)[..., 0]
        mass = np.reshape(mass, np.shape(mass) + (1,) * len(self.basis.shape))
        D = floored(self.basis, mass + self.head.beta * W)
        return self.basis.tangent_from_cartesian(u), D

    def velocity(self, c: np.ndarray) -> np.ndarray:
        if self.head.dynamics == "usa":
            return self.basis.tangent_from_cartesian(self._fields(c, False)[1])
        pu, D = self._sa_parts(c)
        v = pu / D
        cap = self.head.value_norm
        return v / np.maximum(self.basis.vector_norm(v) / max(cap, 1e-300), 1.0)

    def linearization_field(self, c: np.ndarray) -> np.ndarray:
        if self.head.dynamics == "usa":
            return self.velocity(c)
        pu, D = self._sa_parts(c)
        return pu / D

    def velocity_derivative(self, c: np.ndarray) -> Callable:
        tangent = self.basis.tangent_from_cartesian
        if self.head.dynamics == "usa":
            return lambda dc: tangent(self._fields(dc, False)[1])
        pu, D = self._sa_parts(c)
        nb = len(self.basis.shape)

        def dv(dc: np.ndarray) -> np.ndarray:
            dW, du = self._fields(dc, True)
            dm = coords(self.basis, dc)[..., 0]
            dD = np.reshape(dm, np.shape(dm) + (1,) * nb) + self.head.beta * dW
            return tangent(du) / D - pu * dD / D**2
        return dv


@register(AttentionHead)
def _dense(head, basis):
    return head.evaluator(basis)


@register(AttentionHead, ZonalBasis)
def _zonal_refusal(head, basis):
    if head.symmetry == "O(d)":
        raise ValueError(
            "the zonal basis evaluates attention heads by diagonal multipliers only: this "
            "head has Q^T K and V multiples of the identity, so build it with "
            "method='auto' (the default)")
    raise ValueError(
        "the zonal basis holds densities of <x, e> only, and this head does not keep them "
        "zonal: it needs Q^T K and V multiples of the identity (heads that commute with the "
        "rotations fixing e are not implemented on the zonal basis); use CircleBasis "
        "(d = 2) or SphereBasis (d = 3)")


@register(AttentionHead, PlanarBasis)
def _planar_refusal(head, basis):
    raise ValueError(
        "the planar basis holds densities of (x_1, x_2) only (invariant under O(d-2) on the "
        "other coordinates): weighted attention heads are not implemented on it (its grid "
        "nodes stand for whole O(d-2)-orbits); heads with Q^T K and V multiples of the "
        "identity run by multipliers (method='auto'), other heads on CircleBasis or "
        "SphereBasis")
