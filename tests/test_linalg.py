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


@pytest.mark.parametrize("P", [4, 11])
def test_numpy_inverse_is_the_compiled_one(P):
    """The host-side finaliser runs the same unrolled factorisation in numpy
    (``xp=numpy``): same inverse and pivots as the compiled one, also for a singular
    matrix (tiny pivot in both)."""
    A = spd(8, P, seed=10 + P)
    J = np.random.default_rng(P).standard_normal((8, 30, P))
    J[:, :, -1] = 2.0 * J[:, :, 0]
    inv, piv = jax.jit(inverse_spd)(A)
    inv_np, piv_np = cholesky_inverse(A, np)
    assert isinstance(inv_np, np.ndarray)
    scale = np.abs(np.asarray(inv)).max(axis=(1, 2), keepdims=True)
    assert np.max(np.abs(inv_np - np.asarray(inv)) / scale) < 1e-9     # cond 1e6
    np.testing.assert_allclose(piv_np, np.asarray(piv), rtol=1e-10)
    # singular: the inverse is meaningless, the pivot says so in both
    S = np.einsum("bfi,bfj->bij", J, J)
    piv_s = np.asarray(jax.jit(inverse_spd)(S)[1])
    piv_s_np = cholesky_inverse(S, np)[1]
    assert np.all(piv_s < 1e-12) and np.all(piv_s_np < 1e-12)


def test_host_covariance_matches_the_compiled_one():
    """kernels.lm_covariance / vanished_params with ``xp=numpy`` (the pipeline's host
    report) against the same functions compiled, on states with a parameter at a bound,
    one vanished and one fixed."""
    import jax.numpy as jnp

    from fastfit.kernels._lm import LMState, lm_covariance, vanished_params

    B, P = 6, 5
    rng = np.random.default_rng(4)
    J = rng.standard_normal((B, 40, P))
    J[:, :, 3] *= 1e-9                        # no effect on the fit: vanished
    A = np.einsum("bfi,bfj->bij", J, J)
    x = rng.uniform(-1, 1, (B, P))
    lo, hi = np.full((B, P), -5.0), np.full((B, P), 5.0)
    x[:, 1] = lo[:, 1]                        # at its bound
    free = np.array([True, True, True, True, False])
    lm = (True, True, False, True, True)
    st = LMState(x=x, cost=np.full(B, 20.0), A=A, g=np.zeros((B, P)), mu=np.ones(B),
                 nu=np.ones(B), n_iter=np.zeros(B, np.int32), status=np.ones(B, np.int32))
    n_res = np.full(B, 80)

    def both(xp):
        gone = vanished_params(st, np.asarray(lm) if xp is np else lm, free, n_res, xp=xp)
        return (gone,) + tuple(lm_covariance(st, lo, hi, free, gone, xp=xp))

    ref = jax.jit(lambda: both(jnp))()
    got = both(np)
    assert got[0][:, 3].all() and not got[0][:, [0, 2]].any()
    np.testing.assert_array_equal(got[0], np.asarray(ref[0]))
    np.testing.assert_array_equal(got[2], np.asarray(ref[2]))
    assert got[2][:, 1].all() and got[2][:, 3].all() and not got[2][:, 4].any()
    np.testing.assert_allclose(got[1], np.asarray(ref[1]), rtol=1e-9, atol=0)
    assert np.all(got[1][:, [1, 3, 4], :] == 0.0)
    np.testing.assert_allclose(got[3], np.asarray(ref[3]), rtol=1e-9)


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
