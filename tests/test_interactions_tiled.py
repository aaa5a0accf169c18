"""Tiled-BLAS attention path against the numpy reference and the fused numba kernel."""

from __future__ import annotations

import numpy as np
import pytest

from meanfield.particles import interactions as it
from meanfield.particles.interactions import (
    TILED_MIN_WIDTH,
    _attention_sums,
    attention_sums,
    attention_sums_numpy,
)


def _tokens(n, d, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _both(x, beta, softmax, causal, **mats):
    a = _attention_sums(x, beta, softmax, causal, mats.get("Q"), mats.get("K"), mats.get("V"),
                        "tiled")
    b = _attention_sums(x, beta, softmax, causal, mats.get("Q"), mats.get("K"), mats.get("V"),
                        "fused")
    return a, b


def _close(a, b, rtol):
    scale = np.abs(b).max() if b.size else 1.0
    return np.allclose(a, b, rtol=rtol, atol=rtol * scale)


@pytest.fixture
def small_tiles(monkeypatch):
    """A few rows per tile, so that n = 150 spans several tiles (150 not a multiple of them)."""
    monkeypatch.setattr(it, "_TILE_ELEMS", 150 * 32)  # 32 rows per tile at n = 150


@pytest.mark.parametrize("d", [16, 64, 200])
@pytest.mark.parametrize("softmax", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_tiled_matches_numpy_and_fused(small_tiles, d, softmax, causal):
    n = 150
    x = _tokens(n, d)
    betas = (-3.0, 0.5, 4.0, 200.0) if softmax else (-3.0, 0.5, 4.0)
    for beta in betas:
        (a, la), (f, lf) = _both(x, beta, softmax, causal)
        r, lr = attention_sums_numpy(x, beta, softmax=softmax, causal=causal)
        assert np.all(np.isfinite(a)) and a.dtype == np.float64
        assert _close(a, r, 1e-12) and _close(a, f, 1e-13)
        assert np.allclose(la, lr, rtol=1e-13, atol=1e-12)
        assert np.allclose(la, lf, rtol=1e-14, atol=1e-12)


@pytest.mark.parametrize("softmax", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_tiled_general_qkv(small_tiles, softmax, causal):
    rng = np.random.default_rng(1)
    n, d, k = 150, 24, 9
    x = _tokens(n, d, seed=2)
    mats = dict(Q=rng.standard_normal((k, d)) / np.sqrt(d),
                K=rng.standard_normal((k, d)) / np.sqrt(d),
                V=rng.standard_normal((d, d)))
    assert k + d >= TILED_MIN_WIDTH  # "auto" takes the tiled path here
    for beta in (-3.0, 0.5, 4.0):
        (a, la), (f, lf) = _both(x, beta, softmax, causal, **mats)
        r, lr = attention_sums_numpy(x, beta, softmax=softmax, causal=causal, **mats)
        auto, _ = attention_sums(x, beta, softmax=softmax, causal=causal, **mats)
        assert a.shape == (n, d) and np.array_equal(auto, a)
        assert _close(a, r, 1e-12) and _close(a, f, 1e-13)
        assert np.allclose(la, lr, rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("softmax", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_tiled_float32(small_tiles, softmax, causal):
    x = _tokens(150, 64, seed=3)
    x32 = x.astype(np.float32)
    (a, la), (f, lf) = _both(x32, 4.0, softmax, causal)
    assert a.dtype == np.float32 and la.dtype == np.float64
    # float64 accumulation of the same float32 data: tiled and fused agree to rounding
    assert _close(a, f, 1e-6) and np.allclose(la, lf, rtol=1e-14, atol=1e-12)
    a64, _ = _attention_sums(x32.astype(np.float64), 4.0, softmax, causal, None, None, None,
                             "tiled")
    assert np.array_equal(a, a64.astype(np.float32))


@pytest.mark.parametrize("n", [1, 2, 33])
@pytest.mark.parametrize("causal", [False, True])
def test_tiled_tiny_n(n, causal):
    x = _tokens(n, 16, seed=4)
    for softmax in (False, True):
        (a, la), (f, lf) = _both(x, 2.0, softmax, causal)
        r, lr = attention_sums_numpy(x, 2.0, softmax=softmax, causal=causal)
        assert _close(a, r, 1e-13) and _close(a, f, 1e-13)
        assert np.allclose(la, lr, rtol=1e-14, atol=1e-13)
    out, logz = _attention_sums(x[:1], 7.0, True, causal, None, None, None, "tiled")
    assert np.allclose(out, x[:1], rtol=1e-15) and np.allclose(logz, 7.0)


def test_tiled_usa_overflow_matches_fused():
    """USA at huge beta overflows legitimately; the tiled path does what the fused one does."""
    x = _tokens(40, 16, seed=5)
    (a, la), (f, lf) = _both(x, 1000.0, False, False)
    assert np.array_equal(np.isfinite(a), np.isfinite(f)) and not np.all(np.isfinite(a))
    assert np.allclose(la, lf, rtol=1e-14)


def test_auto_dispatch_width():
    x = _tokens(40, 3)
    a, _ = attention_sums(x, 2.0, softmax=True)
    f, _ = _attention_sums(x, 2.0, True, False, None, None, None, "fused")
    assert np.array_equal(a, f)  # d = 3: fused kernel
    x = _tokens(40, 16)
    a, _ = attention_sums(x, 2.0, softmax=True)
    t, _ = _attention_sums(x, 2.0, True, False, None, None, None, "tiled")
    assert np.array_equal(a, t)  # d = 16: tiled path
