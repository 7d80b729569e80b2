"""Batched non-negative quadratic programs with one shared Hessian.

For every spectrum ``b`` of a batch, solve exactly

    minimise  1/2 x^T H x - q_b^T x     subject to  x_i >= 0 for i in ``nonneg``

where ``H`` (N, N, symmetric positive definite) is shared by the batch and ``q`` (B, N)
is not.  This is the normal-equation form of the Tikhonov problem
``min ||A x - b||^2 + lam x^T M x`` with ``H = A^T A + lam M`` and ``q = A^T b``.

Method (measured facts in the project notes, drt-findings.md):

1. Jacobi scaling ``H~ = D H D`` with ``D = diag(H)^-1/2`` (the inductance column makes
   ``diag(H)`` span ~14 decades).
2. ``n_admm`` iterations of over-relaxed ADMM (Boyd et al., Found. Trends Mach. Learn.
   3 (2011) 1, sec. 3.4.3 and 5.2) with ONE explicit inverse ``(H~ + rho I)^-1`` for the
   whole batch: every iteration is a batched matrix product.  This only guesses which
   variables are positive.
3. Block principal pivoting (Judice & Pires, Comput. Oper. Res. 21 (1994) 587; Kim &
   Park, SIAM J. Sci. Comput. 33 (2011) 3261, alg. 2) from that guess: solve the
   equality-constrained problem on the passive set exactly (per-spectrum Cholesky),
   exchange every infeasible variable, and fall back to exchanging only the last one
   when three block exchanges in a row did not reduce the number of infeasible
   variables -- this backup rule makes the method terminate.  It stops when the KKT
   conditions hold (``x_P >= 0``, gradient ``>= 0`` on the rest), i.e. at the exact optimum.
4. Compaction: every pivoting step gathers the first B/4 unfinished spectra, so
   converged spectra cost nothing; with ``stop_at`` the call returns when few are left
   and the caller continues those in a small batch (one compiled program per shape).

Status per spectrum: 1 converged (KKT to ~1e-12 relative), 0 iteration budget exhausted
(the better, by objective, of the clipped pivoting iterate and the ADMM iterate is
returned), -1 non-finite numbers.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["nnls_qp", "MAX_SOLVES"]

_CHUNK = 128
_TOL = 1e-12
MAX_SOLVES = 500        # per spectrum; beyond it the spectrum is reported unconverged


def _reduced_solve(Ht, Kt, qt, P):
    """x with x_P = (H~_PP)^-1 q~_P and x = 0 elsewhere, for each row (chunked).

    Each row solves a system of size S = ceil(N/2) only: on the passive set P when it
    is the smaller one (gather H~_PP), else on its complement C through the shared
    inverse K = H~^-1 (Schur complement: x = K q + K_:C mu with K_CC mu = -(K q)_C, so
    that x_C = 0 and mu is the gradient on C).  One step of iterative refinement
    removes the error of the explicit inverse.
    """
    B, N = qt.shape
    S = -(-N // 2)
    C = min(B, _CHUNK)
    pad = (-B) % C
    if pad:
        qt = jnp.concatenate([qt, jnp.broadcast_to(qt[:1], (pad, N))])
        P = jnp.concatenate([P, jnp.broadcast_to(P[:1], (pad, N))])
    eye = jnp.eye(S)
    ar = jnp.arange(S)

    def chunk(args):
        q, p = args
        npas = p.sum(axis=1)
        dual = (N - npas) < npas                       # solve on the smaller set
        sel = jnp.where(dual[:, None], ~p, p)          # the set the system lives on
        cnt = jnp.where(dual, N - npas, npas)
        idx = jnp.argsort(~sel, axis=1, stable=True)[:, :S]
        valid = ar[None, :] < cnt[:, None]
        ii, jj = idx[:, :, None], idx[:, None, :]
        G = jnp.where(dual[:, None, None], Kt[ii, jj], Ht[ii, jj])
        G = jnp.where(valid[:, :, None] & valid[:, None, :], G, 0.0) + eye * (~valid)[:, None, :]
        L = jnp.linalg.cholesky(G)

        rows = jnp.arange(q.shape[0])[:, None]

        def one(r):
            """x with x_C = 0 and (H~ x - r)_P = 0, on whichever set is smaller."""
            w = r @ Kt
            rhs = jnp.where(dual[:, None], -jnp.take_along_axis(w, idx, axis=1),
                            jnp.take_along_axis(r, idx, axis=1))
            v = jax.scipy.linalg.cho_solve((L, True), (rhs * valid)[..., None])[..., 0]
            v = jnp.zeros_like(q).at[rows, idx].add(v * valid)
            return jnp.where(p, jnp.where(dual[:, None], w + v @ Kt, v), 0.0)

        x = one(q)
        x = x + one(jnp.where(p, q - x @ Ht, 0.0))      # refinement (gradient on C is free)
        return x

    n = qt.shape[0] // C
    if n == 1:
        return chunk((qt, P))[:B]
    x = lax.map(chunk, (qt.reshape(n, C, N), P.reshape(n, C, N)))
    return x.reshape(n * C, N)[:B]


def _infeasible(Ht, qt, nonneg, P, x):
    xmax = jnp.max(jnp.abs(x), axis=1, keepdims=True)
    qmax = jnp.max(jnp.abs(qt), axis=1, keepdims=True)
    y = x @ Ht - qt
    tol_y = _TOL * jnp.maximum(qmax, xmax)
    return nonneg & ((P & (x < -_TOL * xmax)) | (~P & (y < -tol_y)))


def _unfinished(st):
    return (st[2].any(axis=1) | (st[5] == 0)) & (st[5] < st[6])


def _bpp_step(Ht, Kt, qt, nonneg, st):
    P, x, V, alpha, beta, nsolve, cap = st
    N = P.shape[1]
    nv = V.sum(axis=1)
    act = _unfinished(st)
    upd = act & (nsolve > 0)             # the first solve only evaluates the guess
    better = nv < beta
    full = better | (alpha > 0)
    beta = jnp.where(upd & better, nv, beta)
    alpha = jnp.where(upd, jnp.where(better, 3, jnp.where(full, alpha - 1, alpha)), alpha)
    last = N - 1 - jnp.argmax(V[:, ::-1], axis=1)
    single = (jnp.arange(N)[None, :] == last[:, None]) & V
    flip = jnp.where(full[:, None], V, single) & upd[:, None]
    Pn = P ^ flip
    xn = _reduced_solve(Ht, Kt, qt, Pn)
    xn = jnp.where(act[:, None], xn, x)
    Vn = jnp.where(act[:, None], _infeasible(Ht, qt, nonneg, Pn, xn), V)
    Vn = Vn & jnp.isfinite(xn).all(axis=1, keepdims=True)
    return Pn, xn, Vn, alpha, beta, nsolve + act, cap


def _step_on(Ht, Kt, qt, nonneg, st, k):
    """One pivoting step on the (up to) k first unfinished rows (gather, step, scatter)."""
    B = qt.shape[0]
    score = _unfinished(st).astype(jnp.float64) - jnp.arange(B) * (0.5 / B)
    _, idx = lax.top_k(score, k)
    sub = _bpp_step(Ht, Kt, qt[idx], nonneg, jax.tree_util.tree_map(lambda a: a[idx], st))
    return jax.tree_util.tree_map(lambda a, s: a.at[idx].set(s), st, sub)


def _drain(Ht, Kt, qt, nonneg, st, k, until, max_steps):
    """Repeat steps on k rows while more than ``until`` rows are unfinished."""
    def cond(c):
        i, s = c
        return (i < max_steps) & (_unfinished(s).sum() > until)

    def body(c):
        i, s = c
        return i + 1, _step_on(Ht, Kt, qt, nonneg, s, k)

    return lax.while_loop(cond, body, (0, st))[1]


def _admm(Ht, qt, nonneg, rho, n_iter, z0, u0, relax=1.6):
    N = Ht.shape[0]
    K = jnp.linalg.inv(Ht + rho * jnp.eye(N))
    K = 0.5 * (K + K.T)

    def body(_, c):
        z, u = c
        x = (qt + rho * (z - u)) @ K
        xh = relax * x + (1.0 - relax) * z
        zn = jnp.where(nonneg, jnp.maximum(xh + u, 0.0), xh + u)
        return zn, u + xh - zn

    return lax.fori_loop(0, n_iter, body, (z0, u0))


@partial(jax.jit, static_argnames=("n_admm", "stride", "stop_at"))
def nnls_qp(H, q, nonneg, free, passive0=None, *, rho=0.01, n_admm: int = 100,
            stride: int = 1, stop_at: int = 0, max_solves=MAX_SOLVES):
    """Solve the batch of non-negative QPs sharing ``H`` (see module docstring).

    Parameters
    ----------
    H : (N, N) float64, symmetric positive semi-definite on the free variables
    q : (B, N) float64
    nonneg : (N,) bool, variables constrained to be >= 0
    free : (N,) bool, variables that exist (others are pinned to 0)
    passive0 : (B, N) bool or None, initial guess of the positive set (e.g. the
        predecessor's in a time series); None runs ``n_admm`` ADMM iterations to guess it
        (``n_admm=0``: the sign pattern of the unconstrained optimum)
    rho : ADMM penalty on the Jacobi-scaled problem (unit diagonal)
    n_admm : ADMM iterations (static)
    stride : time-series warm start (static): ADMM runs on every ``stride``-th row only
        and the rows in between start pivoting from the positive set of the row before
        them (1 = every row gets its own ADMM guess)
    stop_at : return once at most this many rows are unfinished (static; 0 = run every
        row to convergence or budget).  The caller gathers the few left into a small
        batch and calls again with ``passive0`` = the returned positive set, so the tail
        does not cost full-batch factorisations.
    max_solves : per-spectrum factorisation budget (traced); a spectrum that exhausts it
        is returned with status 0 (the caller may rescue it with a better guess)

    Returns
    -------
    x : (B, N) float64, the minimiser (pinned variables 0)
    status : (B,) int32, 1 converged / 0 budget exhausted / -1 non-finite
    passive : (B, N) bool, final positive set (a warm start for a similar problem, or
        the point to continue from when ``stop_at`` ended the call early)
    n_solves : (B,) int32, per-spectrum factorisations used (< max_solves with status 0
        means "stopped early by stop_at")
    """
    H = jnp.asarray(H, jnp.float64)
    q = jnp.asarray(q, jnp.float64)
    B, N = q.shape
    both = free[:, None] & free[None, :]
    H = jnp.where(both, 0.5 * (H + H.T), 0.0)
    dg = jnp.diag(H)
    d = jnp.where(free & (dg > 0), 1.0 / jnp.sqrt(jnp.where(dg > 0, dg, 1.0)), 0.0)
    Ht = H * d[:, None] * d[None, :] + jnp.diag(jnp.where(d > 0, 0.0, 1.0))
    qt = q * d
    nonneg = nonneg & (d > 0)
    zero = jnp.zeros_like(qt)
    Kt = jnp.linalg.inv(Ht)
    Kt = 0.5 * (Kt + Kt.T)
    if passive0 is None and n_admm == 0:      # sign pattern of the unconstrained optimum
        z = zero
        P = ((qt @ Kt) > 0) | ~nonneg
    elif passive0 is None:
        qa = qt[::stride]
        za, _ = _admm(Ht, qa, nonneg, rho, n_admm, jnp.zeros_like(qa), jnp.zeros_like(qa))
        z = jnp.repeat(za, stride, axis=0)[:B]
        if stride > 1:      # the in-between rows only borrow the guess; z is not theirs
            z = jnp.where((jnp.arange(B) % stride == 0)[:, None], z, 0.0)
        P = (jnp.repeat(za, stride, axis=0)[:B] > 0) | ~nonneg
    else:
        z = zero
        P = passive0 | ~nonneg
    P = P & (d > 0)
    st = (P, zero, jnp.zeros_like(P), jnp.full(B, 3), jnp.full(B, N + 1),
          jnp.zeros(B, jnp.int32), jnp.full(B, max_solves, jnp.int32))
    # steps on a quarter of the batch at a time (the first unfinished rows; every row's
    # first solve is one of them) until at most stop_at rows are unfinished
    k = max(1, -(-B // 4))
    st = _drain(Ht, Kt, qt, nonneg, st, k, stop_at, 4 * MAX_SOLVES + B // k)
    P, x, V, _, _, nsolve, _ = st
    finite = jnp.isfinite(x).all(axis=1) & jnp.isfinite(qt).all(axis=1)
    done = ~V.any(axis=1) & finite & (nsolve > 0)
    # guard: an unfinished solve returns the better feasible point
    xc = jnp.where(nonneg, jnp.maximum(jnp.where(finite[:, None], x, 0.0), 0.0), x)
    xc = jnp.where(finite[:, None], xc, 0.0)

    def obj(v):
        return 0.5 * jnp.sum((v @ Ht) * v, axis=1) - jnp.sum(qt * v, axis=1)

    use_z = (~done) & (obj(z) < obj(xc)) & (passive0 is None)
    xs = jnp.where(done[:, None], x, jnp.where(use_z[:, None], z, xc))
    status = jnp.where(done, 1, jnp.where(finite, 0, -1)).astype(jnp.int32)
    xs = jnp.where((status < 0)[:, None], z, xs)   # failed: flagged, ADMM estimate kept
    xs = jnp.where(nonneg & done[:, None], jnp.maximum(xs, 0.0), xs)
    return xs * d, status, P, nsolve.astype(jnp.int32)
