"""Matrix-free solvers: Newton–Krylov for stationary states, Arnoldi for the leading spectrum.

Both use only Jacobian-vector products of the model's exact linearization
(``model.linearization(basis, c)``, one batched call per product), never an assembled
Jacobian, so their cost per iteration is a few right-hand-side evaluations whatever the
number of modes.

Newton–Krylov: the stationary equation of :mod:`meanfield.stationary` is already scaled by
the Laplacian's eigenvalue (R(x) = RHS / (l(l+d-2))), so its Jacobian is (1/kappa) I plus a
compact part: the linear part is the preconditioner, and GMRES needs a number of
iterations that does not grow with the resolution. Each Newton step solves J dx = -R to a
relative tolerance min(0.1, |R|) (superlinear convergence) with a backtracking line search
on the max-norm, as the dense solver does.

Arnoldi: the eigenvalues with the largest real parts of the linearized right-hand side in
real coordinates (``scipy.sparse.linalg.eigs``), with the tangent of the symmetry orbit
(``basis.rotation_generators``) set aside: the operator is taken on the quotient by the
orbit's tangent (P J on the range of the orthogonal projector P that removes it, exactly
the spectrum of J without its zero modes), the removed directions shifted far left.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigs, gmres


def _jvp_factory(system, x: np.ndarray):
    """v -> J(x) v for a stationary system (meanfield.stationary._System) on its subspace."""
    basis, mask = system.basis, system.mask
    lin = system.model.linearization(basis, system.coeffs(x))
    idx = np.nonzero(mask)[0]

    def jvp(v: np.ndarray) -> np.ndarray:
        v = np.atleast_2d(v)
        full = np.zeros((v.shape[0], basis.n_real))
        full[:, idx] = v
        out = basis.to_real(lin(basis.from_real(full, mass=0.0)))[:, mask] / system.scale
        return out
    return jvp


def newton_krylov(system, x0: np.ndarray, tol: float, max_iter: int,
                  gmres_maxiter: int = 200):
    """Newton's method with GMRES inner solves; returns (x, history, converged, message).

    The same contract as the dense solver of :mod:`meanfield.stationary` (max-norm residual
    history, backtracking line search).

    Examples
    --------
    >>> import meanfield as mf
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    >>> basis = mf.CircleBasis(32)
    >>> st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 6.0),
    ...                          solver="krylov")
    >>> round(st.amplitude(1), 8), st.converged
    (0.91161504, True)
    """
    from .stationary import _newton

    def direction(system, x, r, norm):
        n = x.size
        jvp = system.jvp(x) if hasattr(system, "jvp") else _jvp_factory(system, x)
        op = LinearOperator((n, n), matvec=lambda v: jvp(v)[0], dtype=float)
        rtol = min(0.1, max(norm, 1e-14 / max(norm, 1e-300)))
        dx, info = gmres(op, -r, rtol=rtol, atol=0.1 * tol, restart=min(n, 60),
                         maxiter=gmres_maxiter)
        if info < 0 or not np.all(np.isfinite(dx)):
            return None, f"GMRES failed (info {info})"
        return dx, ""

    return _newton(system, x0, tol, max_iter, singular=False, direction=direction,
                   name="Newton-Krylov")


def leading_eigenvalues(model, basis, coeffs, k: int = 6, tol: float = 1e-10,
                        set_aside: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The k eigenvalues of largest real part of the linearization at ``coeffs`` (Arnoldi).

    Returns (eigenvalues sorted by decreasing real part, the symmetry zero modes' tangents
    set aside as an (m, n_real) array). Real coordinates without the mass direction.

    Examples
    --------
    At the uniform state the leading eigenvalue is the growth rate of mode 1, twice:

    >>> import numpy as np
    >>> import meanfield as mf
    >>> from meanfield.krylov import leading_eigenvalues
    >>> model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=0.5, dim=3)
    >>> basis = mf.SphereBasis(12)
    >>> vals, _ = leading_eigenvalues(model, basis, basis.forward(np.ones(basis.shape)), k=3)
    >>> bool(np.allclose(vals.real, model.growth_rates(1)[1]))
    True
    """
    c = np.asarray(coeffs)
    n = basis.n_real
    if not (isinstance(k, int | np.integer) and 1 <= k <= n - 2):
        raise ValueError(f"k must be an integer in [1, {n - 2}] (n_real - 2), got {k!r}")
    lin = model.linearization(basis, c)
    gens = []
    if set_aside and model.interaction.symmetry is not None:
        gens = [basis.to_real(g) for g in basis.rotation_generators(c)]
        gens = [g for g in gens if np.linalg.norm(g) > 1e-10]
    Qg = np.zeros((n, 0))
    if gens:  # an orthonormal basis of the orbit's tangent (its span may be smaller than
        # the number of generators: a state symmetric about an axis)
        U, sv, _ = np.linalg.svd(np.array(gens).T, full_matrices=False)
        Qg = U[:, sv > 1e-8 * sv[0]]

    def J(v: np.ndarray) -> np.ndarray:
        return basis.to_real(lin(basis.from_real(v, mass=0.0)))

    # the removed directions go far left of any eigenvalue of J: the diffusion's stiffest
    # rate plus a bound of the transport's (first order: degree times the field's size)
    shift = 1e3 * (float(np.max(np.abs(basis.laplacian))) * model.noise + basis.max_degree + 1)

    def matvec(v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=float).ravel()
        if Qg.shape[1] == 0:
            return J(v)
        away = Qg @ (Qg.T @ v)
        Pv = v - away
        JPv = J(Pv)
        return JPv - Qg @ (Qg.T @ JPv) - shift * away

    op = LinearOperator((n, n), matvec=matvec, dtype=float)
    vals = eigs(op, k=k, which="LR", tol=tol, ncv=min(n, max(2 * k + 1, 40)),
                maxiter=max(1000, 20 * n), return_eigenvectors=False)
    vals = vals[np.argsort(-vals.real, kind="stable")]
    top = max(1.0, float(np.max(np.abs(vals))))
    vals = np.where(np.abs(vals.imag) < 1e-12 * top, vals.real, vals)
    return vals, (Qg.T if Qg.shape[1] else np.zeros((0, n)))
