"""Regularisation-parameter scores for a batch of spectra sharing one DRT system.

All scores use the *unconstrained* ridge solution (as pyDRTtools does; Maradesa, Py,
Wan, Effat, Ciucci, J. Electrochem. Soc. 170 (2023) 030502, eqs. 13, 17, 19), for the
problem ``min ||A x - b||^2 + lam x^T M x`` with ``A`` (n, N) shared and ``b`` (B, n).

GCV and the L-curve come from one shared decomposition per system ("standard form",
Hansen, Rank-Deficient and Discrete Ill-Posed Problems, SIAM 1998, sec. 2.3):
``M = V diag(m) V^T``; directions with ``m ~ 0`` (R_inf, L, polynomials for finite
differences) are unpenalised and projected out with ``Q0`` (orthonormal basis of their
columns of A); the rest is scaled to a plain ridge problem ``A1 = P A V1 m^-1/2`` with
SVD ``A1 = U diag(s) W^T``.  With ``beta = U^T b`` and ``f_i = s_i^2 / (s_i^2 + lam)``:

    ||(I - K) b||^2 = ||P b||^2 - ||beta||^2 + sum (1 - f_i)^2 beta_i^2
    tr(I - K)       = n_used - rank(Q0) - sum f_i
    GCV(lam)        = n_used ||(I - K) b||^2 / tr(I - K)^2          (Wahba 1985)
    ||x||_M^2       = sum (f_i beta_i / s_i)^2

so a whole lambda grid costs one (B, r) x (r, G) product.  The L-curve corner is the
maximum of the curvature of (ln ||(I-K)b||^2, ln ||x||_M^2) against ln lam, with exact
derivatives (df/dln lam = -f (1 - f)).

The re-im score (pyDRTtools' "re-im" discrepancy, Saccoccio et al. 2014 eq. 13) fits the
real and the imaginary parts separately and predicts each part from the other's
distribution: ``||Re b - R_inf,re - A_re gamma_im||^2 + ||Im b - w L_im - A_im gamma_re||^2``;
here with one shared Cholesky factor per lambda for the whole batch.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["StandardForm", "standard_form", "gcv_scores", "lcurve_curvature", "reim_scores",
           "ridge_scores"]


class StandardForm(NamedTuple):
    """Shared decomposition of one DRT system (:func:`standard_form`): U (n, r), s (r,),
    Q0 (n, k) (zero columns where unused), k0 (rank of the unpenalised part), n_used."""

    U: jax.Array
    s: jax.Array
    Q0: jax.Array
    k0: jax.Array
    n_used: jax.Array


@partial(jax.jit, static_argnames=("null_tol",))
def standard_form(A, M, row_used, null_tol: float = 1e-11):
    """Shared decomposition for GCV / L-curve.

    Parameters
    ----------
    A : (n, N) weighted design matrix (zero rows for unused points, zero columns for
        pinned variables);  M : (N, N) penalty;  row_used : (n,) bool

    Returns
    -------
    StandardForm
    """
    A = jnp.asarray(A, jnp.float64)
    m, V = jnp.linalg.eigh(0.5 * (M + M.T))             # ascending: null space first
    pen = m > null_tol * jnp.max(jnp.abs(m))
    AV = A @ V
    Q0, R0 = jnp.linalg.qr(AV * (~pen)[None, :])
    r0 = jnp.abs(jnp.diag(R0))
    keep0 = r0 > 1e-12 * jnp.maximum(jnp.max(r0), 1e-300)
    Q0 = Q0 * keep0[None, :]
    A1 = AV * jnp.where(pen, 1.0 / jnp.sqrt(jnp.where(pen, m, 1.0)), 0.0)[None, :]
    A1 = A1 - Q0 @ (Q0.T @ A1)
    U, s, _ = jnp.linalg.svd(A1, full_matrices=False)
    # singular vectors of (numerically) zero singular values are arbitrary and may leave
    # range(P): drop them (their f is 0 for every lam on any sensible grid anyway)
    keep = s > 1e-12 * s[0]
    return StandardForm(U=U * keep[None, :], s=s * keep, Q0=Q0, k0=jnp.sum(keep0),
                        n_used=jnp.sum(row_used))


def _parts(sf, b, lam_grid):
    beta = b @ sf.U                                   # (B, r)
    pb2 = jnp.sum(b * b, axis=1) - jnp.sum((b @ sf.Q0) ** 2, axis=1)
    s2 = sf.s ** 2
    f = s2[None, :] / (s2[None, :] + lam_grid[:, None])  # (G, r)
    rem = jnp.maximum(pb2 - jnp.sum(beta * beta, axis=1), 0.0)
    return beta * beta, rem, f, s2


@jax.jit
def gcv_scores(sf, b, lam_grid):
    """GCV score (B, G) for every spectrum and every lambda of the grid."""
    beta2, rem, f, _ = _parts(sf, b, lam_grid)
    res = rem[:, None] + beta2 @ ((1.0 - f) ** 2).T
    tr = sf.n_used - sf.k0 - jnp.sum(f, axis=1)
    return sf.n_used * res / (tr[None, :] ** 2)


@jax.jit
def lcurve_curvature(sf, b, lam_grid):
    """Signed curvature (B, G) of the L-curve (ln residual^2, ln penalty) vs ln lam."""
    beta2, rem, f, s2 = _parts(sf, b, lam_grid)
    inv_s2 = jnp.where(s2 > 0, 1.0 / jnp.where(s2 > 0, s2, 1.0), 0.0)
    g = 1.0 - f
    rho = rem[:, None] + beta2 @ (g ** 2).T
    drho = 2.0 * beta2 @ (f * g ** 2).T
    d2rho = -2.0 * beta2 @ (f * g ** 2 * (1.0 - 3.0 * f)).T
    eta = (beta2 * inv_s2) @ (f ** 2).T
    deta = -2.0 * (beta2 * inv_s2) @ (f ** 2 * g).T
    d2eta = 2.0 * (beta2 * inv_s2) @ (f ** 2 * g * (2.0 - 3.0 * f)).T
    tiny = 1e-300
    u1 = drho / (rho + tiny)
    u2 = d2rho / (rho + tiny) - u1 ** 2
    v1 = deta / (eta + tiny)
    v2 = d2eta / (eta + tiny) - v1 ** 2
    return (u1 * v2 - u2 * v1) / (u1 ** 2 + v1 ** 2 + tiny) ** 1.5


@jax.jit
def reim_scores(A_re, A_im, omega, M, free, b_re, b_im, w_re, w_im, lam_grid):
    """pyDRTtools-style re-im discrepancy (B, G), unconstrained ridge fits.

    ``A_re``/``A_im`` (F, T) basis blocks, ``M`` (T, T) penalty, ``free`` (2,) whether
    R_inf / L are fitted, ``w_re``/``w_im`` (F,) row weights (0 = unused point).
    """
    T = A_re.shape[1]
    Ar = jnp.concatenate([jnp.ones((A_re.shape[0], 1)) * free[0], A_re], axis=1) * w_re[:, None]
    Ai = jnp.concatenate([(omega * free[1])[:, None], A_im], axis=1) * w_im[:, None]
    Mp = jnp.zeros((T + 1, T + 1)).at[1:, 1:].set(M)
    qr = (b_re * w_re) @ Ar                              # (B, T+1)
    qi = (b_im * w_im) @ Ai
    Hr0 = Ar.T @ Ar
    Hi0 = Ai.T @ Ai
    pin = jnp.zeros(T + 1).at[0].set(1.0)

    def one(lam):
        out = []
        for H0, q, keep in ((Hr0, qr, free[0]), (Hi0, qi, free[1])):
            H = H0 + lam * Mp + jnp.diag(pin * (1.0 - keep))
            d = 1.0 / jnp.sqrt(jnp.diag(H))              # Jacobi scaling, then a tiny ridge
            Hs = H * d[:, None] * d[None, :] + 1e-14 * jnp.eye(T + 1)
            L = jnp.linalg.cholesky(Hs)
            out.append(jax.scipy.linalg.cho_solve((L, True), (q * d).T).T * d)
        xr, xi = out
        pred_re = xr[:, :1] * free[0] + xi[:, 1:] @ A_re.T
        pred_im = xi[:, :1] * free[1] * omega[None, :] + xr[:, 1:] @ A_im.T
        return (jnp.sum(((b_re - pred_re) * w_re) ** 2, axis=1)
                + jnp.sum(((b_im - pred_im) * w_im) ** 2, axis=1))

    return jax.lax.map(one, jnp.asarray(lam_grid)).T


@partial(jax.jit, static_argnames=("how",))
def ridge_scores(A, M, row_used, b, lam_grid, how: str):
    """GCV scores (``how="gcv"``) or L-curve curvature (``"lcurve"``), (B, G), in one
    compiled call (decomposition + scores)."""
    sf = standard_form(A, M, row_used)
    if how == "gcv":
        return gcv_scores(sf, b, lam_grid)
    return lcurve_curvature(sf, b, lam_grid)
