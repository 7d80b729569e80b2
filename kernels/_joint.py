"""Joint LM for a series with *shared* parameters (the same value in every spectrum).

Unknowns: local parameters x_L,b of each spectrum b and shared parameters x_S.  The
Gauss-Newton normal matrix has block-arrow structure, so each damped step is solved
exactly by eliminating the local blocks (Schur complement, as in bundle adjustment;
Triggs et al., "Bundle adjustment - a modern synthesis", LNCS 1883 (2000), sec. 6.1):

    Y_b = (A_LL,b + mu D_L,b)^-1 A_LS,b,          y_b = (A_LL,b + mu D_L,b)^-1 g_L,b
    S   = sum_b (A_SS,b - A_SL,b Y_b) + mu D_S,   r_S = -(sum_b g_S,b - A_SL,b y_b)
    delta_S = S^-1 r_S,                           delta_L,b = -y_b - Y_b delta_S

with one damping parameter for the whole series (the objective is the sum over
spectra).  Bounds are enforced by projecting the step onto the box.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._linalg import _factor, _subst
from ._lm import _normal_equations

__all__ = ["joint_lm", "JointOut"]


class JointOut(NamedTuple):
    """Result of :func:`joint_lm`: x (B, P) internal, cost (B,), n_iter, converged (bool),
    and the blocks of the inverse of the undamped normal matrix (unscaled by s^2):
    cov_S (S, S), cov_L (B, L, L), cov_LS (B, L, S)."""

    x: jax.Array
    cost: jax.Array
    n_iter: jax.Array
    converged: jax.Array
    cov_S: jax.Array
    cov_L: jax.Array
    cov_LS: jax.Array


def _gather(A, rows, cols):
    return A[:, jnp.asarray(rows)][:, :, jnp.asarray(cols)]


def _solve_local(A_LL, rhs_cols):
    """A_LL (B,L,L) SPD; rhs_cols list of (B,L) -> list of solutions (B,L)."""
    L, _ = _factor(A_LL)
    n = A_LL.shape[-1]
    return [jnp.stack(_subst(L, [c[:, i] for i in range(n)]), axis=-1) for c in rhs_cols]


def _step(A, g, mu, loc, sh):
    Dg = jnp.diagonal(A, axis1=-2, axis2=-1)
    Dg = jnp.maximum(Dg, 1e-12 * jnp.max(Dg, axis=-1, keepdims=True) + 1e-300)
    A_LL = _gather(A, loc, loc) + mu * jax.vmap(jnp.diag)(Dg[:, jnp.asarray(loc)])
    A_LS = _gather(A, loc, sh)                                        # (B, L, S)
    A_SS = jnp.sum(_gather(A, sh, sh), axis=0)                        # (S, S)
    g_L = g[:, jnp.asarray(loc)]
    g_S = jnp.sum(g[:, jnp.asarray(sh)], axis=0)
    sols = _solve_local(A_LL, [A_LS[:, :, j] for j in range(len(sh))] + [g_L])
    Y = jnp.stack(sols[:-1], axis=-1)                                 # (B, L, S)
    y = sols[-1]                                                      # (B, L)
    D_S = jnp.sum(Dg[:, jnp.asarray(sh)], axis=0)
    S = A_SS - jnp.einsum("bls,blt->st", A_LS, Y) + mu * jnp.diag(D_S)
    r_S = -(g_S - jnp.einsum("bls,bl->s", A_LS, y))
    d_S = jnp.linalg.solve(S, r_S)
    d_L = -y - jnp.einsum("bls,s->bl", Y, d_S)
    return d_L, d_S


@partial(jax.jit, static_argnums=(0, 1, 2, 3))
def joint_lm(tree, logmask, loc, sh, x0, omega, Z, w_re, w_im, lo, hi, max_iter, ftol):
    """Fit local + shared parameters jointly.

    loc, sh : static tuples of parameter indices (free local / free shared); other
    parameters stay at x0.  x0 (B, P) internal, with shared entries equal across rows.

    Returns a :class:`JointOut`: x (B,P), cost (B,), n_iter, converged (bool), and the
    blocks of the inverse of the undamped block-arrow normal matrix (unscaled by s^2),
    with Y = A_LL^-1 A_LS: cov_S (S,S) = S^-1,  cov_L (B,L,L) = A_LL^-1 + Y S^-1 Y^T,
    cov_LS (B,L,S) = -Y S^-1.
    """
    loc_a, sh_a = jnp.asarray(loc), jnp.asarray(sh)

    def ne(x):
        c, A, g = _normal_equations(tree, logmask, x, omega, Z, w_re, w_im)
        return c, A, g

    def put(x, d_L, d_S):
        x = x.at[:, loc_a].add(d_L)
        x = x.at[:, sh_a].add(d_S[None, :])
        return jnp.clip(x, lo, hi)

    cost, A, g = ne(x0)
    dmax = jnp.max(jnp.sum(jnp.diagonal(A, axis1=-2, axis2=-1), axis=0))
    state = (jnp.int32(0), x0, cost, A, g, 1e-3 * dmax, jnp.float64(2.0), jnp.bool_(False))

    def cond(s):
        return (s[0] < max_iter) & ~s[7]

    def body(s):
        k, x, cost, A, g, mu, nu, _ = s
        d_L, d_S = _step(A, g, mu, loc, sh)
        x_n = put(x, d_L, d_S)
        c_n, A_n, g_n = ne(x_n)
        tot, tot_n = jnp.sum(cost), jnp.sum(c_n)
        ok = jnp.isfinite(tot_n) & (tot_n < tot)
        step = x_n - x
        pred = -jnp.sum(step * g) - 0.5 * jnp.sum(step * jnp.einsum("bij,bj->bi", A, step))
        rho = (tot - tot_n) / jnp.where(pred > 0, pred, 1e-300)
        conv = (ok & (tot - tot_n <= ftol * tot_n)) | (jnp.max(jnp.abs(step)) < 1e-13)
        mu_n = jnp.where(ok, mu * jnp.maximum(1 / 3, 1 - (2 * rho - 1) ** 3), mu * nu)
        nu_n = jnp.where(ok, 2.0, jnp.minimum(nu * 2, 1e6))
        sel = lambda a, b: jnp.where(ok, a, b)
        return (k + 1, sel(x_n, x), sel(c_n, cost), sel(A_n, A), sel(g_n, g),
                jnp.clip(mu_n, 1e-20, 1e20), nu_n, conv)

    k, x, cost, A, g, mu, nu, conv = jax.lax.while_loop(cond, body, state)
    # undamped covariance blocks
    A_LL = _gather(A, loc, loc)
    A_LS = _gather(A, loc, sh)
    eye = jnp.eye(len(loc))
    sols = _solve_local(A_LL, [A_LS[:, :, j] for j in range(len(sh))]
                        + [jnp.broadcast_to(eye[i], (x.shape[0], len(loc))) for i in range(len(loc))])
    Y = jnp.stack(sols[:len(sh)], axis=-1)
    inv_LL = jnp.stack(sols[len(sh):], axis=-1)
    S = jnp.sum(_gather(A, sh, sh), axis=0) - jnp.einsum("bls,blt->st", A_LS, Y)
    cov_S = jnp.linalg.inv(S)
    cov_LS = -jnp.einsum("bls,st->blt", Y, cov_S)
    cov_L = inv_LL - jnp.einsum("bls,bms->blm", cov_LS, Y)
    return JointOut(x=x, cost=cost, n_iter=k, converged=conv, cov_S=cov_S, cov_L=cov_L,
                    cov_LS=cov_LS)
