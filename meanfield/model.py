"""The mean-field PDE of DESIGN.md §1, written once against the basis interface.

USA (unnormalized attention, a Wasserstein gradient flow of the free energy):
    d_t rho = (1/kappa) Lap rho - div(rho grad(G * rho))
SA (softmax attention):
    d_t rho = (1/kappa) Lap rho - div(rho X[rho]),   X[rho] = (1/beta) grad log(K_beta * rho)

Densities are w.r.t. the normalized uniform measure sigma. The SA field is evaluated as
X = grad(A * rho) / (B * rho) with A_l = lambda_l e^{-|beta|}/beta and B_l = lambda_l e^{-|beta|}
(the common factor e^{-|beta|} cancels), which has a finite limit at beta = 0 and never
overflows for large |beta|.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .kernels import AttentionKernel, Kernel

DYNAMICS = ("usa", "sa")
SA_FLOOR = 1e-14


def _floored(basis, d: np.ndarray) -> np.ndarray:
    """K*rho on the grid, floored at SA_FLOOR of its maximum over the (reliable) grid nodes.

    Where the exact K*rho is below round-off of its maximum (far from a tight cluster), its
    spectral reconstruction is noise and may even be negative; there rho is negligible too.
    """
    top = np.max(d[..., basis.reliable_nodes], axis=-1)
    return np.maximum(d, SA_FLOOR * top.reshape(top.shape + (1,) * len(basis.shape)))


def _sa_field(basis, num: np.ndarray, den: np.ndarray, c: np.ndarray) -> np.ndarray:
    """X[rho] = grad(A*rho) / (B*rho), floored and capped at |X| <= 1.

    The exact field is a weighted average of tangent projections P_x y of unit vectors,
    so |X| <= 1; the cap only acts where round-off dominates (see ``_floored``).
    """
    v = basis.grad(num * c) / _floored(basis, basis.backward(den * c))
    return v / np.maximum(basis.vector_norm(v), 1.0)


def _lift(v: np.ndarray, n_batch: int) -> np.ndarray:
    """A vector field (n_components, *grid) made to broadcast against (*batch, *grid):
    (n_components, 1, ..., 1, *grid), so multi-component layouts work with batches."""
    return v.reshape(v.shape[:1] + (1,) * n_batch + v.shape[1:]) if n_batch > 0 else v


class MeanFieldModel:
    """The noisy mean-field self-attention PDE on S^{dim-1}.

    Parameters
    ----------
    kernel : Kernel
        Interaction kernel, given by its potential G (``AttentionKernel(beta)`` gives
        G_beta(t) = (e^{beta t} - 1)/beta).
    kappa : float
        Inverse noise level: the diffusion coefficient is 1/kappa; ``np.inf`` (default)
        is the noiseless continuity equation. Must be > 0.
    dynamics : {"usa", "sa"}
        Unnormalized or softmax-normalized attention. "sa" requires an AttentionKernel.
    dim : int
        Ambient dimension d of the sphere S^{d-1} (2: the circle). Must be >= 2.

    Examples
    --------
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> [round(float(s), 6) for s in model.growth_rates(3)]  # l^2 (I_l(3)/3 - 1)
    [0.0, 0.31779, -1.006383, -6.120739]
    """

    def __init__(self, kernel: Kernel, kappa: float = np.inf, dynamics: str = "usa",
                 dim: int = 2) -> None:
        if not isinstance(kernel, Kernel):
            raise TypeError(f"kernel must be a meanfield Kernel, got {type(kernel).__name__}")
        try:
            kappa = float(kappa)
        except (TypeError, ValueError):
            raise TypeError(f"kappa must be a positive number or inf, got {kappa!r}") from None
        if np.isnan(kappa) or kappa <= 0:
            raise ValueError(
                f"kappa must be > 0 (inverse noise level; inf = no noise), got {kappa}")
        if dynamics not in DYNAMICS:
            raise ValueError(f"dynamics must be one of {DYNAMICS}, got {dynamics!r}")
        if dynamics == "sa" and not isinstance(kernel, AttentionKernel):
            raise ValueError("dynamics='sa' (softmax) is defined for AttentionKernel only, "
                             f"got {type(kernel).__name__}")
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 2:
            raise ValueError(f"dim must be an integer >= 2 (the sphere S^(dim-1)), got {dim!r}")
        self.kernel = kernel
        self.kappa = kappa
        self.dynamics = dynamics
        self.dim = int(dim)

    def __repr__(self) -> str:
        return (f"MeanFieldModel({self.kernel!r}, kappa={self.kappa}, "
                f"dynamics={self.dynamics!r}, dim={self.dim})")

    @property
    def beta(self) -> float:
        """Inverse temperature of the kernel (0 for Kuramoto, nan for a general zonal one)."""
        return float(getattr(self.kernel, "beta", np.nan))

    @property
    def noise(self) -> float:
        """Diffusion coefficient 1/kappa."""
        return 1.0 / self.kappa

    def replace(self, **changes) -> MeanFieldModel:
        """A copy with some of (kernel, kappa, dynamics, dim) changed."""
        args = dict(kernel=self.kernel, kappa=self.kappa, dynamics=self.dynamics, dim=self.dim)
        args.update(changes)
        return MeanFieldModel(**args)

    # -- against a basis ------------------------------------------------------------------
    def _check_basis(self, basis) -> None:
        if basis.dim != self.dim:
            raise ValueError(f"basis is for dim={basis.dim} but the model has dim={self.dim}")

    def potential_multiplier(self, basis) -> np.ndarray:
        """Per-coefficient multiplier of G * (Funk–Hecke coefficients g_l of the potential)."""
        self._check_basis(basis)
        return basis.multiplier(self.kernel.coefficients(basis.max_degree, self.dim))

    def linear_operator(self, basis) -> np.ndarray:
        """Diagonal linear part (1/kappa) Lap as a per-coefficient array (zeros if kappa = inf)."""
        self._check_basis(basis)
        return basis.laplacian * self.noise

    def nonlinear_term(self, basis) -> Callable[[np.ndarray], np.ndarray]:
        """The transport term -div(rho v[rho]) as a function of the coefficients."""
        self._check_basis(basis)
        if self.dynamics == "usa":
            g = self.potential_multiplier(basis)

            def transport(c: np.ndarray) -> np.ndarray:
                return -basis.div(basis.backward(c) * basis.grad(g * c))
        else:
            num, den = (basis.multiplier(m) for m in
                        self.kernel.sa_coefficients(basis.max_degree, self.dim))

            def transport(c: np.ndarray) -> np.ndarray:
                return -basis.div(basis.backward(c) * _sa_field(basis, num, den, c))
        return transport

    def linearization(self, basis, c: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """The derivative of the full right-hand side at c, as a map dc -> dRHS.

        dc may carry leading batch axes (*batch, *coeff_shape); the derivative is exact
        (differentiated by hand, not by finite differences).
        """
        self._check_basis(basis)
        L = self.linear_operator(basis)
        rho = basis.backward(c)
        if self.dynamics == "usa":
            g = self.potential_multiplier(basis)
            grad_u = basis.grad(g * c)

            def derivative(dc: np.ndarray) -> np.ndarray:
                gu = _lift(grad_u, dc.ndim - L.ndim)
                flux = basis.backward(dc) * gu + rho * basis.grad(g * dc)
                return L * dc - basis.div(flux)
            return derivative
        num, den = (basis.multiplier(m) for m in
                    self.kernel.sa_coefficients(basis.max_degree, self.dim))
        a = basis.grad(num * c)
        d = _floored(basis, basis.backward(den * c))

        def derivative_sa(dc: np.ndarray) -> np.ndarray:
            dd = basis.backward(den * dc)
            aa = _lift(a, dc.ndim - L.ndim)
            flux = (basis.backward(dc) * aa + rho * basis.grad(num * dc)) / d - rho * aa * dd / d**2
            return L * dc - basis.div(flux)
        return derivative_sa

    def velocity(self, basis, c: np.ndarray) -> np.ndarray:
        """Velocity field v[rho] on the grid (basis vector layout) for coefficients c."""
        self._check_basis(basis)
        if self.dynamics == "usa":
            return basis.grad(self.potential_multiplier(basis) * c)
        num, den = (basis.multiplier(m) for m in
                    self.kernel.sa_coefficients(basis.max_degree, self.dim))
        return _sa_field(basis, num, den, c)

    def rhs(self, basis, c: np.ndarray) -> np.ndarray:
        """Full right-hand side d_t c = L c + N(c) in coefficient space."""
        return self.linear_operator(basis) * c + self.nonlinear_term(basis)(c)

    def growth_rates(self, lmax: int) -> np.ndarray:
        """Linear growth rates of degree l = 0..lmax perturbations of rho = 1.

        sigma_l = l(l+d-2) (gain_l - 1/kappa) with gain_l = g_l (USA: lambda_l/beta for the
        attention kernel) or lambda_l / (beta lambda_0) (SA); DESIGN.md §1.
        """
        l = np.arange(lmax + 1)
        if self.dynamics == "usa":
            gain = np.asarray(self.kernel.coefficients(lmax, self.dim), dtype=float)
        else:
            num, den = self.kernel.sa_coefficients(lmax, self.dim)
            gain = np.asarray(num, dtype=float) / float(den[0])
        return l * (l + self.dim - 2) * (gain - self.noise)

    # -- resolution -------------------------------------------------------------------
    def _resolution_coefficients(self, lmax: int) -> np.ndarray:
        if self.dynamics == "sa":
            return np.asarray(self.kernel.sa_coefficients(lmax, self.dim)[1], dtype=float)
        return np.asarray(self.kernel.coefficients(lmax, self.dim), dtype=float)

    def kernel_tail(self, lmax: int) -> float:
        """max_{l > lmax} |k_l| / max_{l >= 1} |k_l| for the kernel's multiplier k.

        Looks at degrees up to 2 lmax + 16; 0 if the kernel vanishes beyond degree 0.
        """
        k = np.abs(self._resolution_coefficients(2 * lmax + 16)[1:])
        top = k.max() if k.size else 0.0
        return float(k[lmax:].max() / top) if top > 0 else 0.0

    def required_degree(self, tol: float, limit: int = 1 << 14) -> int | None:
        """Smallest lmax with kernel_tail(lmax) < tol (None if beyond ``limit``)."""
        top_degree = 64
        while top_degree <= 2 * limit:
            k = np.abs(self._resolution_coefficients(top_degree)[1:])
            top = k.max() if k.size else 0.0
            if top == 0:
                return 0
            beyond = np.maximum.accumulate(k[::-1])[::-1] / top  # beyond[i] = max_{l>=i+1}
            ok = np.nonzero(beyond[: top_degree // 2] < tol)[0]
            if ok.size:
                return int(ok[0])
            top_degree *= 2
        return None

    def check_resolution(self, basis, tol: float = 1e-12) -> None:
        """Raise ValueError if the basis truncates the kernel above ``tol`` (relative)."""
        tail = self.kernel_tail(basis.max_degree)
        if tail > tol:
            need = self.required_degree(tol)
            need_txt = (f"needs {basis.size_hint(need)}" if need is not None
                        else "needs more than 16384 modes")
            raise ValueError(
                f"{basis!r} is too coarse for {self.kernel!r}: the kernel's coefficients beyond "
                f"degree {basis.max_degree} reach {tail:.2e} of its largest (resolution_tol "
                f"{tol:.0e}); {need_txt}. Increase the number of modes or pass a larger "
                "resolution_tol.")
