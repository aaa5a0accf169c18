"""The interaction contract (docs/interactions.md), checked over every registered kind.

Each case is an interaction on a basis. The references are independent of the evaluator:
the derivative against central differences of the transport (error O(h^2) ~ 1e-10 with
h = 1e-5 on O(1) data), mass conservation (the transport is a divergence: coefficient 0 is
0 to round-off), and the batched linearization against the unbatched one.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import meanfield as mf
from meanfield.interactions import base

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(7)
Q3, K3, V3 = (RNG.normal(size=(3, 3)) / 2 for _ in range(3))
A2 = np.diag([1.5, 0.5])
J = np.array([[0.0, -1.0], [1.0, 0.0]])
MLP = mf.Perceptron(np.array([[1.0, 0.5], [-0.3, 1.0], [0.2, 0.2]]), np.array([0.1, -0.2, 0.0]),
                    np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.5]]), activation="tanh")
MLP3 = mf.Perceptron(RNG.normal(size=(4, 3)), RNG.normal(size=4), RNG.normal(size=(3, 4)) / 4,
                     activation="gelu")

CASES = {
    "iso-usa-circle": (lambda: mf.AttentionKernel(2.0), "usa", lambda: mf.CircleBasis(24)),
    "iso-sa-circle": (lambda: mf.AttentionKernel(2.0), "sa", lambda: mf.CircleBasis(24)),
    "iso-usa-sphere": (lambda: mf.AttentionKernel(1.5), "usa", lambda: mf.SphereBasis(8)),
    "iso-sa-zonal": (lambda: mf.AttentionKernel(1.5), "sa", lambda: mf.ZonalBasis(5, 16)),
    "scaled-head-zonal": (lambda: 0.7 * mf.AttentionLayer(1.5, V=2 * np.eye(5)), "usa",
                          lambda: mf.ZonalBasis(5, 16)),
    "head-usa-circle": (lambda: mf.AttentionLayer(2.0, K=A2, V=A2 + 0.4 * J), "usa",
                        lambda: mf.CircleBasis(24)),
    "head-sa-circle": (lambda: mf.AttentionLayer(2.0, K=A2, V=A2 + 0.4 * J), "sa",
                       lambda: mf.CircleBasis(24)),
    "head-usa-sphere": (lambda: mf.AttentionLayer(1.0, Q=Q3, K=K3, V=V3), "usa",
                        lambda: mf.SphereBasis(8)),
    "head-sa-sphere": (lambda: mf.AttentionLayer(1.0, Q=Q3, K=K3, V=V3), "sa",
                       lambda: mf.SphereBasis(8)),
    "perceptron-circle": (lambda: MLP, "usa", lambda: mf.CircleBasis(24)),
    "rotation-circle": (lambda: mf.AttentionLayer(2.0) + mf.RigidRotation(0.7), "usa",
                        lambda: mf.CircleBasis(24)),
    "rotation-sphere": (lambda: mf.RigidRotation(np.array([[0.0, -0.5, 0.2], [0.5, 0.0, 0.0],
                                                           [-0.2, 0.0, 0.0]])), "usa",
                        lambda: mf.SphereBasis(8)),
    "potential-sphere": (lambda: mf.ExternalPotential(lambda x: x[..., 0] * x[..., 2]), "usa",
                         lambda: mf.SphereBasis(8)),
    "sum-sphere": (lambda: mf.MultiHead([mf.AttentionLayer(1.0, Q=Q3, K=K3, V=V3),
                                         mf.AttentionLayer(2.0)], [0.5, 1.0]) + MLP3, "sa",
                   lambda: mf.SphereBasis(8)),
}


def _density(basis):
    x = basis.points
    e = np.linspace(0.3, 1.0, basis.dim)
    rho = np.exp(x @ e + 0.3 * x[..., 0] * x[..., -1])
    return rho / basis.integrate(rho)


@pytest.fixture(params=sorted(CASES), ids=sorted(CASES))
def case(request):
    source, dynamics, make_basis = CASES[request.param]
    basis = make_basis()
    model = mf.MeanFieldModel(source(), kappa=2.0, dynamics=dynamics, dim=basis.dim)
    return model, basis


def test_every_registered_interaction_kind_is_covered():
    covered = set()
    for source, dynamics, make_basis in CASES.values():
        basis = make_basis()
        inter = mf.MeanFieldModel(source(), dynamics=dynamics, dim=basis.dim).interaction
        stack = [inter]
        while stack:
            i = stack.pop()
            covered.add(type(i))
            stack += [p for _, p in getattr(i, "parts", [])]
    registered = {icls for icls, _ in base._REGISTRY if icls.__module__.startswith("meanfield")}
    assert registered <= covered, registered - covered


def test_transport_conserves_mass_and_velocity_has_the_basis_layout(case):
    model, basis = case
    c = basis.forward(_density(basis))
    ev = model.evaluator(basis)
    assert abs(ev.transport(c)[0]) < 1e-14
    assert ev.velocity(c).shape[1:] == basis.shape
    batch = np.stack([c, c])
    one = ev.transport(c)
    # batched products take another BLAS path: round-off, times cond(A) ~ 300 for the heads
    assert np.allclose(ev.transport(batch)[1], one, rtol=0, atol=1e-12 * np.abs(one).max())


def test_linearization_is_the_derivative_of_the_transport(case):
    model, basis = case
    c = basis.forward(_density(basis))
    dirs = [basis.forward(np.cos(3 * basis.points[..., 0]) * basis.points[..., 1]),
            basis.forward(basis.points[..., -1] ** 2)]
    lin = model.evaluator(basis).linearization(c)
    transport = model.evaluator(basis).transport
    h = 1e-5
    batched = lin(np.stack(dirs))
    for i, dc in enumerate(dirs):
        fd = (transport(c + h * dc) - transport(c - h * dc)) / (2 * h)
        exact = lin(dc)
        scale = np.max(np.abs(exact)) + 1e-300
        assert np.max(np.abs(exact - fd)) < 1e-8 * max(scale, 1.0)
        assert np.allclose(batched[i], exact, rtol=0, atol=1e-12 * max(scale, 1.0))


def test_declared_uniform_stationarity_holds(case):
    model, basis = case
    c1 = basis.forward(np.ones(basis.shape))
    res = np.max(np.abs(model.rhs(basis, c1)))
    if model.interaction.uniform_stationary:
        assert res < 1e-13
    else:
        assert res > 1e-6


def test_the_documented_example_adds_an_interaction_without_editing_the_library():
    text = (ROOT / "docs" / "interactions.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    exec(compile(code, "docs/interactions.md", "exec"), {})
