"""The small batched SPD inverses of kernels._linalg against numpy (closed-form reference:
LAPACK's inverse), their pivots, and that the rolled inverse stays plain XLA."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from fastfit.kernels._linalg import (UNROLL_INVERSE_MAX, cholesky_inverse,
                                     cholesky_inverse_rolled, inverse_spd)


def spd(B, P, seed, cond=1e6):
    """B random SPD matrices with condition number ~cond (eigenvalues log-spaced)."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((B, P, P)))
    ev = np.logspace(0, np.log10(cond), P)
    return np.einsum("bij,j,bkj->bik", Q, ev, Q)


@pytest.mark.parametrize("P", [3, 9, 12])
def test_rolled_inverse_matches_numpy_and_the_unrolled_one(P):
    A = spd(16, P, seed=P)
    inv, piv = jax.jit(cholesky_inverse_rolled)(A)
    ref = np.linalg.inv(A)
    scale = np.abs(ref).max(axis=(1, 2), keepdims=True)
    assert np.max(np.abs(np.asarray(inv) - ref) / scale) < 1e-9
    inv_u, piv_u = jax.jit(cholesky_inverse)(A)
    np.testing.assert_allclose(np.asarray(piv), np.asarray(piv_u), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(inv), np.asarray(inv_u), rtol=1e-8,
                               atol=1e-12 * float(scale.max()))
    # the relative minimum pivot is the smallest Cholesky pivot over max(diag A)
    L = np.linalg.cholesky(A)
    want = np.min(np.diagonal(L, axis1=1, axis2=2) ** 2, axis=1) / np.max(
        np.diagonal(A, axis1=1, axis2=2), axis=1)
    np.testing.assert_allclose(np.asarray(piv), want, rtol=1e-8)


def test_singular_matrix_has_a_tiny_pivot_in_both():
    rng = np.random.default_rng(1)
    J = rng.standard_normal((4, 30, 10))
    J[:, :, 7] = J[:, :, 2] * 3.0                 # two collinear columns
    A = np.einsum("bfi,bfj->bij", J, J)
    for fn in (cholesky_inverse, cholesky_inverse_rolled):
        _, piv = jax.jit(fn)(A)
        assert np.all(np.asarray(piv) < 1e-12)


def test_inverse_spd_dispatch_and_no_library_calls():
    """Above UNROLL_INVERSE_MAX parameters the finaliser's inverse is the rolled one; it is
    plain XLA (no LAPACK custom call: see tests/test_devices.py)."""
    small, large = spd(4, UNROLL_INVERSE_MAX, 2), spd(4, UNROLL_INVERSE_MAX + 3, 3)
    for A in (small, large):
        inv, _ = jax.jit(inverse_spd)(A)
        np.testing.assert_allclose(np.asarray(inv) @ A, np.broadcast_to(np.eye(A.shape[-1]),
                                                                         A.shape), atol=1e-7)
    text = jax.jit(inverse_spd).lower(large).as_text()
    assert "custom_call" not in text and "while" in text
    assert "while" not in jax.jit(inverse_spd).lower(small).as_text()
