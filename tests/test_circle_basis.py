"""CircleBasis: transforms, calculus and conventions (densities w.r.t. sigma = dtheta/2pi)."""

import numpy as np
import pytest
from scipy.special import ive

import meanfield as mf

BACKENDS = ["pyfftw", "numpy"]


@pytest.mark.parametrize("fft", BACKENDS)
def test_forward_of_cosines_and_round_trip(fft):
    b = mf.CircleBasis(16, fft=fft)
    th = b.grid
    f = 1.0 + 0.5 * np.cos(3 * th) - 0.25 * np.sin(5 * th)
    c = b.forward(f)
    expect = np.zeros(16, complex)
    expect[0], expect[3], expect[5] = 1.0, 0.25, 0.125j  # -0.25 sin = -0.25 (e - e*)/2i
    assert np.allclose(c, expect, atol=1e-15)
    assert np.allclose(b.backward(c), f, atol=1e-14)


def test_backends_agree_on_batches():
    rng = np.random.default_rng(1)
    c = rng.standard_normal((3, 20)) + 1j * rng.standard_normal((3, 20))
    c[:, 0] = c[:, 0].real
    a, n = mf.CircleBasis(20, fft="pyfftw"), mf.CircleBasis(20, fft="numpy")
    assert np.allclose(a.backward(c), n.backward(c), atol=1e-13)
    f = a.backward(c)
    assert np.allclose(a.forward(f), n.forward(f), atol=1e-15)
    assert np.allclose(a.forward(f), c, atol=1e-14)


def test_grid_sizes_and_dealiasing():
    assert mf.CircleBasis(64).grid_size == 192  # 3/2 rule: 3 n_modes
    assert mf.CircleBasis(64, dealias=1.0).grid_size == 128
    # a product of two band-limited functions is exact on the dealiased grid
    b = mf.CircleBasis(8)
    f = np.cos(7 * b.grid) * np.cos(6 * b.grid)  # modes 1 and 13: 13 must not alias to < 8
    assert np.allclose(b.forward(f)[1], 0.25, atol=1e-15)
    assert np.max(np.abs(np.delete(b.forward(f), 1))) < 1e-15


def test_integrate_von_mises_is_one():
    # int e^{k0 cos} dsigma = I_0(k0): the von Mises density has mass 1 (to round-off)
    b = mf.CircleBasis(64)
    rho = mf.initial.von_mises(b, 5.0, mean=1.0)
    assert abs(b.integrate(rho) - 1) < 1e-14
    c = b.forward(rho)
    # rho_k = I_k(k0)/I_0(k0) e^{-ik mean}
    k = np.arange(64)
    assert np.allclose(c, ive(k, 5.0) / ive(0, 5.0) * np.exp(-1j * k), atol=1e-15)


def test_spectral_derivative_converges_exponentially():
    # d/dtheta e^{sin theta} = cos theta e^{sin theta}: error falls like e^{-n log n}
    errs = []
    for n in (4, 8, 12, 16):
        b = mf.CircleBasis(n, dealias=1.0)
        c = b.forward(np.exp(np.sin(b.grid)))
        d = b.backward(b.derivative(c))
        errs.append(np.max(np.abs(d - np.cos(b.grid) * np.exp(np.sin(b.grid)))))
    assert errs[-1] < 1e-13
    assert all(e2 < e1 / 20 for e1, e2 in zip(errs[:-2], errs[1:-1], strict=True))


def test_grad_div_is_laplacian_and_evaluate():
    b = mf.CircleBasis(12)
    rng = np.random.default_rng(0)
    c = rng.standard_normal(12) + 1j * rng.standard_normal(12)
    c[0] = c[0].real
    assert np.allclose(b.div(b.grad(c)), b.laplacian * c, atol=1e-12)
    assert np.allclose(b.evaluate(c, b.grid), b.backward(c), atol=1e-12)
    # Parseval: int f g dsigma
    f, g = b.backward(c), b.backward(np.roll(c, 1))
    assert np.isclose(b.inner(c, np.roll(c, 1)), b.integrate(f * g), atol=1e-12)


def test_density_conversions():
    b = mf.CircleBasis(32)
    rho = mf.initial.von_mises(b, 2.0)
    p = b.to_dtheta(rho)  # density w.r.t. dtheta on [0, 2pi)
    assert np.isclose(np.sum(p) * 2 * np.pi / b.grid_size, 1.0, atol=1e-14)
    assert np.allclose(b.from_dtheta(p), rho)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_modes must be >= 2"):
        mf.CircleBasis(1)
    with pytest.raises(TypeError, match="n_modes must be an int"):
        mf.CircleBasis(8.0)
    with pytest.raises(ValueError, match="dealias"):
        mf.CircleBasis(8, dealias=0.5)
    with pytest.raises(ValueError, match="fft must be one of"):
        mf.CircleBasis(8, fft="mkl")
