"""Matrix-free Newton–Krylov and Arnoldi (meanfield/krylov.py) against the dense solvers.

References: the dense Newton solver and the dense full-space spectrum of
meanfield.stationary (independent: assembled Jacobians, LAPACK eig). Tolerances: both
solve to 1e-12 in the scaled residual, whose Jacobian is (1/kappa) I + compact, so states
agree to ~1e-11; ARPACK's eigenvalues to its tol 1e-10 relative to the largest.
"""

from __future__ import annotations

import numpy as np
import pytest

import meanfield as mf
from meanfield.krylov import leading_eigenvalues, newton_krylov
from meanfield.stationary import _newton, _System

J2 = np.array([[0.0, -1.0], [1.0, 0.0]])
A2 = np.diag([1.5, 0.5])

CASES = {
    "circle-kernel": (lambda: mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0),
                      lambda: mf.CircleBasis(32), None),
    "circle-sa": (lambda: mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=4.0, dynamics="sa"),
                  lambda: mf.CircleBasis(32), None),
    "circle-head": (lambda: mf.MeanFieldModel(mf.AttentionLayer(2.0, K=A2, V=A2 + 0.3 * J2),
                                              kappa=1.0), lambda: mf.CircleBasis(32), None),
    "sphere-kernel": (lambda: mf.MeanFieldModel(mf.AttentionKernel(2.0), kappa=8.0, dim=3),
                      lambda: mf.SphereBasis(14), np.array([0.6, 0.0, 0.8])),
}


def _solve_both(name):
    make_model, make_basis, mean = CASES[name]
    model, basis = make_model(), make_basis()
    guess = mf.initial.von_mises(basis, 6.0, mean=mean)
    system = _System(model, basis, basis.subspace_mask(False, 1))
    x0 = system.x_of(basis.forward(guess))
    xk, hk, ok_k, _ = newton_krylov(system, x0, 1e-12, 50)
    xd, hd, ok_d, _ = _newton(system, x0, 1e-12, 50, singular=True)
    return model, basis, system, (xk, hk, ok_k), (xd, hd, ok_d)


@pytest.mark.parametrize("name", sorted(CASES))
def test_newton_krylov_finds_the_dense_newton_state(name):
    model, basis, system, (xk, hk, ok_k), (xd, hd, ok_d) = _solve_both(name)
    assert ok_k and ok_d and hk[-1] <= 1e-12
    ck, cd = system.coeffs(xk), system.coeffs(xd)
    # full-space Newton may land anywhere on the rotation orbit: compare invariants
    for k in (1, 2):
        assert abs(float(basis.amplitude(ck, k)) - float(basis.amplitude(cd, k))) < 1e-9 or (
            basis.dim == 3)
    norm2 = float(basis.inner(cd, cd))
    assert abs(float(basis.inner(ck, ck)) - norm2) < 1e-10 * norm2
    assert len(hk) <= len(hd) + 4  # superlinear like Newton's


@pytest.mark.parametrize("name", sorted(CASES))
def test_arnoldi_leading_eigenvalues_equal_the_dense_spectrum(name):
    model, basis, system, (xk, *_), _ = _solve_both(name)
    c = system.coeffs(xk)
    vals, gens = leading_eigenvalues(model, basis, c, k=6)
    dense = mf.linear_stability(model, basis, c).eigenvalues[:6]
    scale = max(1.0, float(np.max(np.abs(dense))))
    for v in vals:  # every Arnoldi eigenvalue is in the dense spectrum
        assert np.min(np.abs(dense - v)) < 1e-7 * scale
    assert np.allclose(np.sort_complex(vals), np.sort_complex(dense), rtol=0, atol=1e-7 * scale)
    if model.interaction.symmetry is not None and float(basis.amplitude(c, 1)) > 1e-3:
        assert gens.shape[0] == (1 if basis.dim == 2 else 2)  # the orbit's tangent


def test_non_gradient_head_has_a_complex_leading_pair():
    # a larger rotational part of V: the leading pair is complex (dense spectrum: -0.698 +-
    # 1.707i), and Arnoldi finds it
    basis = mf.CircleBasis(32)
    model = mf.MeanFieldModel(mf.AttentionLayer(2.0, K=A2, V=A2 + 0.7 * J2), kappa=1.0)
    st = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 6.0))
    vals, _ = leading_eigenvalues(model, basis, st.coeffs, k=4)
    dense = st.stability.eigenvalues[:4]
    assert np.max(np.abs(vals.imag)) > 1.0
    assert np.allclose(np.sort_complex(vals), np.sort_complex(dense), rtol=0, atol=1e-8)


def test_leading_eigenvalues_refuses_a_bad_k():
    basis = mf.CircleBasis(8)
    model = mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=1.0)
    with pytest.raises(ValueError, match="k must be an integer"):
        leading_eigenvalues(model, basis, basis.forward(np.ones(basis.shape)), k=100)


def test_stationary_state_solver_choice_and_linear_stability_k():
    model = mf.MeanFieldModel(mf.AttentionKernel(3.0), kappa=1.0)
    basis = mf.CircleBasis(128)  # 254 full-space unknowns: "auto" takes Newton-Krylov
    guess = mf.initial.von_mises(basis, 6.0)
    auto = mf.stationary_state(model, basis, guess, symmetric=False, stability=False)
    dense = mf.stationary_state(model, basis, guess, symmetric=False, stability=False,
                                solver="dense")
    assert (auto.solver, dense.solver) == ("krylov", "dense")
    assert abs(auto.amplitude(1) - dense.amplitude(1)) < 1e-10
    even = mf.stationary_state(model, mf.CircleBasis(32), mf.initial.von_mises(
        mf.CircleBasis(32), 6.0), solver="krylov")
    assert even.solver == "krylov" and abs(even.amplitude(1) - 0.911615041547) < 1e-11
    full = mf.linear_stability(model, basis, auto.coeffs)
    lead = mf.linear_stability(model, basis, auto.coeffs, k=4)
    assert np.allclose(np.sort_complex(lead.eigenvalues), np.sort_complex(full.eigenvalues[:4]),
                       atol=1e-8)
    assert lead.stable == full.stable and lead.morse_index == full.morse_index
    with pytest.raises(ValueError, match="solver must be one of"):
        mf.stationary_state(model, basis, guess, solver="lu")


def test_a_non_uniform_guess_finds_the_state_near_it():
    # issue 14: beta = 0 (Kuramoto), kappa = 3: the uniform state is unstable and the
    # synchronized state has r = I_1(kappa r)/I_0(kappa r) = 0.724 (self-consistency, solved
    # by brentq as the reference); the guess 1 + 0.9 cos(theta) used to give rho = 1
    from scipy.optimize import brentq
    from scipy.special import i0, i1

    r_ref = brentq(lambda r: r - i1(3.0 * r) / i0(3.0 * r), 0.1, 1.0, xtol=1e-15)
    basis = mf.CircleBasis(32)
    model = mf.MeanFieldModel(mf.KuramotoKernel(), kappa=3.0)
    st = mf.stationary_state(model, basis, 1 + 0.9 * np.cos(basis.grid))
    assert abs(st.amplitude(1) - r_ref) < 1e-12  # |rho_1| = r (w.r.t. sigma)
    assert "deflated" in st.found_by and st.stable and st.residual < 1e-12
    plain = mf.stationary_state(model, basis, mf.initial.von_mises(basis, 2.0))
    assert plain.found_by.startswith("Newton (dense) from the guess")


def test_deflation_finds_a_different_state_from_the_same_guess():
    basis = mf.CircleBasis(32)
    model = mf.MeanFieldModel(mf.KuramotoKernel(), kappa=3.0)
    guess = mf.initial.von_mises(basis, 2.0)
    first = mf.stationary_state(model, basis, guess)
    second = mf.stationary_state(model, basis, guess, deflate=[first])
    # the cluster at theta = pi: the same |rho_1|, the opposite sign of Re rho_1
    assert abs(second.amplitude(1) - first.amplitude(1)) < 1e-10
    assert second.coeffs[1].real * first.coeffs[1].real < 0
    assert second.residual < 1e-12 and "deflated" in second.found_by
    for solver in ("dense", "krylov"):
        third = mf.stationary_state(model, basis, guess, deflate=[first, second],
                                    solver=solver, raise_on_failure=False)
        assert third.amplitude(1) < 1e-8  # only the uniform state is left


def test_gmres_iterations_do_not_grow_with_resolution(monkeypatch):
    """The scaled stationary equation (RHS / l(l+d-2)) has Jacobian (1/kappa) I + compact:
    the linear part is the preconditioner, so GMRES needs the same number of products per
    Newton step at every resolution (S^2 full space, 168 to 2400 unknowns)."""
    from meanfield import krylov

    orig, counts = krylov.gmres, []

    def counting(A, b, **kw):
        n = [0]

        def mv(v):
            n[0] += 1
            return A.matvec(v)

        out = orig(krylov.LinearOperator(A.shape, matvec=mv, dtype=float), b, **kw)
        counts.append(n[0])
        return out

    monkeypatch.setattr(krylov, "gmres", counting)
    model = mf.MeanFieldModel(mf.AttentionKernel(1.0), kappa=4.0, dim=3)
    per_level = []
    for lmax in (12, 24, 48):
        b = mf.SphereBasis(lmax)
        counts.clear()
        st = mf.stationary_state(model, b, np.exp(2.0 * b.points[..., 2]), solver="krylov",
                                 stability=False, symmetric=False)
        assert st.converged
        per_level.append(list(counts))
    assert per_level[0] == per_level[1] == per_level[2]  # measured: [6, 5, 6, 9, 13]
    assert max(per_level[0]) <= 20
