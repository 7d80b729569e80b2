"""Small dense linear algebra, unrolled over the (static) matrix size and vectorised over
the batch.

For the 3x3-15x15 systems of a circuit fit, batched LAPACK calls cost 5-9x an unrolled
Cholesky on XLA:CPU (docs/design-notes.md, "Fit engine"), so the factorisation is written
out element by element: every operation acts on a whole batch vector ``[B]``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["cholesky_solve", "cholesky_solve_lists", "cholesky_inverse",
           "cholesky_inverse_rolled", "inverse_spd", "UNROLL_INVERSE_MAX"]

# largest P whose inverse is unrolled (inverse_spd): the unrolled program grows as P^3
UNROLL_INVERSE_MAX = 8

_TINY = 1e-300


def _factor(A, xp=None):
    """Lower Cholesky factor as a nested list of [...] arrays, and the smallest pivot
    relative to the largest diagonal entry (<= 0 or tiny: numerically singular).
    ``A`` is an array (..., P, P) or a nested list of P x P arrays (...); ``xp`` the
    array module (None: ``jax.numpy``; ``numpy`` for the host-side report)."""
    xp = jnp if xp is None else xp
    if isinstance(A, (list, tuple)):
        P = len(A)
        get = lambda i, j: A[i][j]
        diag = [A[i][i] for i in range(P)]
        scale = diag[0]
        for d in diag[1:]:
            scale = xp.maximum(scale, xp.abs(d))
        scale = xp.abs(scale) + _TINY
    else:
        P = A.shape[-1]
        get = lambda i, j: A[..., i, j]
        scale = xp.max(xp.abs(xp.diagonal(A, axis1=-2, axis2=-1)), axis=-1) + _TINY
    L = [[None] * P for _ in range(P)]
    min_piv = xp.full(scale.shape, xp.inf)
    for j in range(P):
        s = get(j, j)
        for k in range(j):
            s = s - L[j][k] * L[j][k]
        min_piv = xp.minimum(min_piv, s / scale)
        d = xp.sqrt(xp.maximum(s, _TINY * scale))
        L[j][j] = d
        inv_d = 1.0 / d
        for i in range(j + 1, P):
            t = get(i, j)
            for k in range(j):
                t = t - L[i][k] * L[j][k]
            L[i][j] = t * inv_d
    return L, min_piv


def _subst(L, b_cols):
    P = len(L)
    y = [None] * P
    for i in range(P):
        t = b_cols[i]
        for k in range(i):
            t = t - L[i][k] * y[k]
        y[i] = t / L[i][i]
    x = [None] * P
    for i in reversed(range(P)):
        t = y[i]
        for k in range(i + 1, P):
            t = t - L[k][i] * x[k]
        x[i] = t / L[i][i]
    return x


def cholesky_solve(A, b):
    """Solve A x = b for symmetric positive definite A.

    A : (..., P, P), b : (..., P)  ->  x : (..., P), min_pivot : (...)
    ``min_pivot`` is the smallest Cholesky pivot relative to max(diag A).
    """
    L, min_piv = _factor(A)
    P = A.shape[-1]
    x = _subst(L, [b[..., i] for i in range(P)])
    return jnp.stack(x, axis=-1), min_piv


def cholesky_solve_lists(A, b):
    """Structure-of-arrays variant: A nested list P x P of (...) arrays, b list of P
    arrays -> x list of P arrays, relative minimum pivot."""
    L, min_piv = _factor(A)
    return _subst(L, list(b)), min_piv


def cholesky_inverse(A, xp=None):
    """Inverse of SPD A (..., P, P) and the relative minimum pivot (``xp``: the array
    module, None for ``jax.numpy``, or ``numpy``).

    The factor is the unrolled one (its pivots flag singular matrices); then
    M = L^-1 by forward substitution on the identity, touching only the lower triangle
    (M[i][c] = (delta_ic - sum_{c<=k<i} L[i][k] M[k][c]) / L[i][i]), and
    A^-1 = M^T M, again only its upper triangle.  No LAPACK call: a batched
    ``triangular_solve`` (a LAPACK custom call on XLA:CPU) deadlocked when two host
    devices ran the finaliser at the same time (jax 0.10.2; FASTFIT_CPU_DEVICES=2)."""
    xp = jnp if xp is None else xp
    L, min_piv = _factor(A, xp)
    P = A.shape[-1]
    M = [[None] * P for _ in range(P)]
    for c in range(P):
        for i in range(c, P):
            t = 1.0 if i == c else 0.0
            for k in range(c, i):
                t = t - L[i][k] * M[k][c]
            M[i][c] = t / L[i][i]
    inv = [[None] * P for _ in range(P)]
    for i in range(P):
        for j in range(i, P):
            t = M[j][i] * M[j][j]
            for k in range(j + 1, P):
                t = t + M[k][i] * M[k][j]
            inv[i][j] = inv[j][i] = t
    return xp.stack([xp.stack(r, axis=-1) for r in inv], axis=-2), min_piv


def cholesky_inverse_rolled(A):
    """:func:`cholesky_inverse` as two ``fori_loop`` passes over the columns / rows: the same
    left-looking factor (column j of L from A[:, j] minus the products of the finished
    columns) and M = L^-1 row by row, A^-1 = M^T M.  The program no longer grows with P:
    compiled in 0.25-0.37 s for P = 7-15 where the unrolled inverse takes 0.6 / 2.6 /
    9.5 s (P = 7 / 11 / 15), at 2.5-12 ms per 1,024 matrices instead of 0.26-3.5 ms
    (measured 2026-12-03 on the 2-core CPU; a compiled ``lm_covariance`` runs it; the fit
    pipeline's report runs the unrolled one in numpy).  Same relative minimum pivot."""
    P = A.shape[-1]
    scale = jnp.max(jnp.abs(jnp.diagonal(A, axis1=-2, axis2=-1)), axis=-1) + _TINY
    idx = jnp.arange(P)

    def column(j, carry):
        L, min_piv = carry
        Lj = jnp.take(L, j, axis=-2)                                  # row j (..., P)
        v = jnp.take(A, j, axis=-1) - jnp.sum(L * Lj[..., None, :], axis=-1)
        s = jnp.take(v, j, axis=-1)
        min_piv = jnp.minimum(min_piv, s / scale)
        d = jnp.sqrt(jnp.maximum(s, _TINY * scale))
        col = jnp.where(idx > j, v / d[..., None], jnp.where(idx == j, d[..., None], 0.0))
        return jnp.where(idx == j, col[..., :, None], L), min_piv

    L, min_piv = jax.lax.fori_loop(0, P, column, (jnp.zeros_like(A),
                                                  jnp.full(scale.shape, jnp.inf)))
    eye = jnp.eye(P, dtype=A.dtype)

    def row(i, M):
        Li = jnp.take(L, i, axis=-2)
        r = (eye[i] - jnp.sum(Li[..., :, None] * M, axis=-2)) / jnp.take(Li, i, axis=-1)[..., None]
        return jnp.where(idx[:, None] == i, r[..., None, :], M)

    M = jax.lax.fori_loop(0, P, row, jnp.zeros_like(A))
    return jnp.einsum("...ki,...kj->...ij", M, M), min_piv


def inverse_spd(A):
    """Inverse of SPD A (..., P, P) and the relative minimum pivot: the unrolled
    :func:`cholesky_inverse` up to ``UNROLL_INVERSE_MAX`` parameters, the rolled one
    above (compile time; see :func:`cholesky_inverse_rolled`)."""
    if A.shape[-1] <= UNROLL_INVERSE_MAX:
        return cholesky_inverse(A)
    return cholesky_inverse_rolled(A)
