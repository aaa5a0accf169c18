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

from .interactions import as_interaction, evaluator_for
from .interactions.base import lift as _lift  # noqa: F401  (kept for importers)
from .interactions.isotropic import SA_FLOOR  # noqa: F401
from .interactions.isotropic import floored as _floored  # noqa: F401
from .interactions.isotropic import sa_field as _sa_field  # noqa: F401
from .interactions.layers import Layer
from .kernels import Kernel

DYNAMICS = ("usa", "sa")


class MeanFieldModel:
    """The noisy mean-field self-attention PDE on S^{dim-1}.

    Parameters
    ----------
    kernel : Kernel or Layer
        Interaction kernel, given by its potential G (``AttentionKernel(beta)`` gives
        G_beta(t) = (e^{beta t} - 1)/beta), or a layer with weights
        (``AttentionLayer(beta, Q, K, V)``, ``MultiHead``, ``Perceptron``,
        ``ExternalPotential`` and their sums; :mod:`meanfield.interactions.layers`). The
        model holds it as ``model.interaction`` (:mod:`meanfield.interactions`) and never
        asks which kind it is.
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
        if not isinstance(kernel, Kernel | Layer):
            raise TypeError("kernel must be a meanfield Kernel or a layer (AttentionLayer, "
                            f"MultiHead, Perceptron, ...), got {type(kernel).__name__}")
        if isinstance(kappa, str | bytes | bool) or not isinstance(
                kappa, int | float | np.integer | np.floating):
            raise TypeError(f"kappa must be a positive number or inf, got {kappa!r}")
        kappa = float(kappa)
        if np.isnan(kappa) or kappa <= 0:
            raise ValueError(
                f"kappa must be > 0 (inverse noise level; inf = no noise), got {kappa}")
        if dynamics not in DYNAMICS:
            raise ValueError(f"dynamics must be one of {DYNAMICS}, got {dynamics!r}")
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 2:
            raise ValueError(f"dim must be an integer >= 2 (the sphere S^(dim-1)), got {dim!r}")
        self.interaction = as_interaction(kernel, dynamics, int(dim))
        self.kernel = kernel
        self.kappa = kappa
        self.dynamics = dynamics
        self.dim = int(dim)

    def __repr__(self) -> str:
        return (f"MeanFieldModel({self.kernel!r}, kappa={self.kappa}, "
                f"dynamics={self.dynamics!r}, dim={self.dim})")

    @property
    def beta(self) -> float:
        """Inverse temperature of the kernel (0 for Kuramoto, nan for a general zonal one).

        Examples
        --------
        >>> import meanfield as mf
        >>> mf.MeanFieldModel(mf.AttentionKernel(3.0)).beta
        3.0
        >>> mf.MeanFieldModel(mf.KuramotoKernel()).beta
        0.0
        """
        return float(getattr(self.kernel, "beta", np.nan))

    @property
    def noise(self) -> float:
        """Diffusion coefficient 1/kappa.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=4.0).noise
        0.25
        >>> mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=np.inf).noise  # noiseless
        0.0
        """
        return 1.0 / self.kappa

    def replace(self, **changes) -> MeanFieldModel:
        """A copy with some of (kernel, kappa, dynamics, dim) changed.

        Examples
        --------
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> model.replace(kappa=2.0, dynamics="sa")
        MeanFieldModel(AttentionKernel(beta=3.0), kappa=2.0, dynamics='sa', dim=2)
        """
        args = dict(kernel=self.kernel, kappa=self.kappa, dynamics=self.dynamics, dim=self.dim)
        args.update(changes)
        return MeanFieldModel(**args)

    # -- against a basis ------------------------------------------------------------------
    def _check_basis(self, basis) -> None:
        if basis.dim != self.dim:
            raise ValueError(f"basis is for dim={basis.dim} but the model has dim={self.dim}")

    def potential_multiplier(self, basis) -> np.ndarray:
        """Per-coefficient multiplier of G * (Funk–Hecke coefficients g_l of the potential).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> g = model.potential_multiplier(basis)
        >>> g.shape, bool(np.allclose(g[:4], model.kernel.coefficients(3)))
        ((32,), True)
        """
        self._check_basis(basis)
        if not hasattr(self.interaction, "potential_multiplier"):
            raise ValueError(f"{self.kernel!r} is not a zonal kernel: it has no diagonal "
                             "potential multiplier (evaluate it with model.velocity)")
        return self.interaction.potential_multiplier(basis)

    def evaluator(self, basis):
        """The interaction's evaluator on ``basis`` (:mod:`meanfield.interactions.base`).

        Examples
        --------
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0, dynamics="sa")
        >>> type(model.evaluator(mf.CircleBasis(32))).__name__
        'MultiplierSA'
        """
        self._check_basis(basis)
        return evaluator_for(self.interaction, basis)

    def linear_operator(self, basis) -> np.ndarray:
        """Diagonal linear part (1/kappa) Lap as a per-coefficient array (zeros if kappa = inf).

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> model.linear_operator(basis)[:4]  # -k^2 / kappa
        array([-0., -1., -4., -9.])
        """
        self._check_basis(basis)
        return basis.laplacian * self.noise

    def nonlinear_term(self, basis) -> Callable[[np.ndarray], np.ndarray]:
        """The transport term -div(rho v[rho]) as a function of the coefficients.

        Examples
        --------
        The uniform state is stationary: its transport term vanishes.

        >>> import numpy as np
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> N = model.nonlinear_term(basis)
        >>> c = basis.forward(np.ones(basis.shape))
        >>> bool(np.max(np.abs(N(c))) < 1e-14)
        True
        """
        return self.evaluator(basis).transport

    def linearization(self, basis, c: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """The derivative of the full right-hand side at c, as a map dc -> dRHS.

        dc may carry leading batch axes (*batch, *coeff_shape); the derivative is exact
        (differentiated by hand, not by finite differences).

        Examples
        --------
        At the uniform state each Fourier mode is an eigenvector with eigenvalue
        :meth:`growth_rates`:

        >>> import numpy as np
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> J = model.linearization(basis, basis.forward(np.ones(basis.shape)))
        >>> dc = np.zeros(basis.coeff_shape, dtype=complex)
        >>> dc[1] = 1.0
        >>> bool(np.allclose(J(dc), model.growth_rates(1)[1] * dc, atol=1e-13))
        True
        """
        L = self.linear_operator(basis)
        transport = self.evaluator(basis).linearization(c)

        def derivative(dc: np.ndarray) -> np.ndarray:
            return L * dc + transport(dc)
        return derivative

    def velocity(self, basis, c: np.ndarray) -> np.ndarray:
        """Velocity field v[rho] on the grid (basis vector layout) for coefficients c.

        Examples
        --------
        For rho = 1 + eps cos(theta), G * rho = g_0 + eps g_1 cos(theta), so
        v = -eps g_1 sin(theta):

        >>> import numpy as np
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> rho = 1 + 0.1 * np.cos(basis.grid)
        >>> v = model.velocity(basis, basis.forward(rho))
        >>> g1 = model.kernel.coefficients(1)[1]
        >>> v.shape, bool(np.allclose(v[0], -0.1 * g1 * np.sin(basis.grid), rtol=0, atol=1e-14))
        ((1, 96), True)
        """
        return self.evaluator(basis).velocity(c)

    def rhs(self, basis, c: np.ndarray) -> np.ndarray:
        """Full right-hand side d_t c = L c + N(c) in coefficient space.

        Examples
        --------
        >>> import numpy as np
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> basis = mf.CircleBasis(32)
        >>> c = basis.forward(np.ones(basis.shape))
        >>> float(np.max(np.abs(model.rhs(basis, c))))  # rho = 1 is stationary
        0.0
        """
        return self.linear_operator(basis) * c + self.nonlinear_term(basis)(c)

    def growth_rates(self, lmax: int) -> np.ndarray:
        """Linear growth rates of degree l = 0..lmax perturbations of rho = 1.

        sigma_l = l(l+d-2) (gain_l - 1/kappa) with gain_l = g_l (USA: lambda_l/beta for the
        attention kernel) or lambda_l / (beta lambda_0) (SA); DESIGN.md §1.

        Examples
        --------
        On the circle, USA: ``sigma_k = k^2 (I_k(beta)/beta - 1/kappa)``:

        >>> import numpy as np
        >>> import meanfield as mf
        >>> from scipy.special import iv
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> k = np.arange(1, 4)
        >>> bool(np.allclose(model.growth_rates(3)[1:], k**2 * (iv(k, 3.0) / 3.0 - 1.0)))
        True
        >>> np.round(model.replace(dynamics="sa").growth_rates(2), 6) + 0.0  # SA: I_k / (beta I_0)
        array([ 0.      , -0.730005, -3.386654])
        """
        return self.interaction.growth_rates(lmax, self.noise)

    # -- resolution -------------------------------------------------------------------
    def _resolution_coefficients(self, lmax: int) -> np.ndarray:
        return np.abs(np.asarray(self.interaction.resolution_coefficients(lmax), dtype=float))

    def kernel_tail(self, lmax: int) -> float:
        """max_{l > lmax} |k_l| / max_{l >= 1} |k_l| for the kernel's multiplier k.

        Looks at degrees up to 2 lmax + 16; 0 if the kernel vanishes beyond degree 0.

        Examples
        --------
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> model.kernel_tail(8) > 1e-12, model.kernel_tail(32) < 1e-30
        (True, True)
        """
        k = np.abs(self._resolution_coefficients(2 * lmax + 16)[1:])
        top = k.max() if k.size else 0.0
        return float(k[lmax:].max() / top) if top > 0 else 0.0

    def required_degree(self, tol: float, limit: int = 1 << 14) -> int | None:
        """Smallest lmax with kernel_tail(lmax) < tol (None if beyond ``limit``).

        Examples
        --------
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> lmax = model.required_degree(1e-12)
        >>> lmax, model.kernel_tail(lmax) < 1e-12 <= model.kernel_tail(lmax - 1)
        (16, True)
        """
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
        """Raise ValueError if the basis truncates the kernel above ``tol`` (relative).

        Examples
        --------
        >>> import meanfield as mf
        >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
        >>> model.check_resolution(mf.CircleBasis(32))  # fine: returns None
        >>> model.check_resolution(mf.CircleBasis(8))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        ValueError: CircleBasis(n_modes=8, ...) is too coarse for AttentionKernel(beta=3.0): ...
        """
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
