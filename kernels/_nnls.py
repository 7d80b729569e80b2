"""Batched non-negative quadratic programs with one shared Hessian.

For every spectrum ``b`` of a batch, solve exactly

    minimise  1/2 x^T H x - q_b^T x     subject to  s_bi x_i >= 0 for i in ``nonneg``

where ``H`` (N, N, symmetric positive definite) is shared by the batch and ``q`` (B, N)
is not; ``s_b`` (``sign``, default +1) lets each spectrum constrain a variable to be
non-negative (+1) or non-positive (-1).  This is the normal-equation form of the Tikhonov problem
``min ||A x - b||^2 + lam x^T M x`` with ``H = A^T A + lam M`` and ``q = A^T b``.

Method (measurements behind it: docs/design-notes.md, "DRT solver"):

1. Jacobi scaling ``H~ = D H D`` with ``D = diag(H)^-1/2`` (the inductance column makes
   ``diag(H)`` span ~14 decades).
2. ``n_admm`` iterations of over-relaxed ADMM (Boyd et al., Found. Trends Mach. Learn.
   3 (2011) 1, sec. 3.4.3 and 5.2) with one explicit inverse ``(H~ + rho I)^-1`` per
   penalty stage (10 rho, rho, rho/10) for the whole batch: every iteration is a
   batched matrix product.  This only guesses which variables are positive.
3. Block principal pivoting (Judice & Pires, Comput. Oper. Res. 21 (1994) 587; Kim &
   Park, SIAM J. Sci. Comput. 33 (2011) 3261, alg. 2) from that guess: solve the
   equality-constrained problem on the passive set exactly (per spectrum, a Cholesky
   factor of the smaller of the passive set and its complement, the latter through the
   shared inverse -- see ``_reduced_solve``), exchange every infeasible variable, and
   fall back to exchanging only the last one
   when three block exchanges in a row did not reduce the number of infeasible
   variables -- this backup rule makes the method terminate.  It stops when the KKT
   conditions hold (``x_P >= 0``, gradient ``>= 0`` on the rest), i.e. at the exact optimum.
4. Compaction: every pivoting step gathers the first B/4 unfinished spectra, so
   converged spectra cost nothing.  A per-spectrum budget of factorisations hands the
   slow ones (a poor guess makes block pivoting crawl) back to the caller, which
   retries them in a smaller batch with a longer ADMM guess (same compiled program:
   the iteration count is traced).

Status per spectrum: 1 converged (KKT to ~1e-12 relative), 0 iteration budget exhausted
(the better, by objective, of the clipped pivoting iterate and the ADMM iterate is
returned), -1 non-finite numbers.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["nnls_qp", "NNLSOut", "MAX_SOLVES", "NNLS_STATUS"]

# status codes of nnls_qp (the API maps them to fastfit.DRTStatus)
NNLS_STATUS = {
    "CONVERGED": 1,   # KKT conditions hold: the exact optimum
    "BUDGET": 0,      # factorisation budget exhausted; the better feasible point returned
    "NONFINITE": -1,  # non-finite numbers
}


class NNLSOut(NamedTuple):
    """Result of :func:`nnls_qp` (batch axis first).

    x : (B, N) float64, the minimiser (pinned variables 0)
    status : (B,) int32, ``NNLS_STATUS`` code
    passive : (B, N) bool, final positive set (a warm start for a similar problem)
    n_solves : (B,) int32, per-spectrum factorisations used
    """

    x: jax.Array
    status: jax.Array
    passive: jax.Array
    n_solves: jax.Array

_CHUNK = 128
_TOL = 1e-12
_REFINE = True           # one step of iterative refinement per exact solve
_MIN_EIG = 1e-11         # smallest eigenvalue accepted for the scaled Hessian
_BUFFER = 4             # pivoting steps work on ceil(B / _BUFFER) rows at a time
MAX_SOLVES = 500        # per spectrum; beyond it the spectrum is reported unconverged


def _solve_on(Ht, Kt, q, p, S):
    """Rows of one chunk whose smaller set (P or C) has at most S members."""
    Cn, N = q.shape
    npas = p.sum(axis=1)
    dual = (N - npas) < npas                           # solve on the smaller set
    sel = jnp.where(dual[:, None], ~p, p)              # the set the system lives on
    cnt = jnp.where(dual, N - npas, npas)
    rows = jnp.arange(Cn)[:, None]
    # indices of the members of `sel`, by rank (cheaper than a sort)
    rank = jnp.cumsum(sel, axis=1) - 1
    slot = jnp.where(sel & (rank < S), rank, S)
    idx = jnp.zeros((Cn, S + 1), jnp.int32).at[rows, slot].set(
        jnp.arange(N, dtype=jnp.int32)[None, :])[:, :S]
    valid = jnp.arange(S)[None, :] < cnt[:, None]
    ii, jj = idx[:, :, None], idx[:, None, :]
    G = jnp.stack([Ht, Kt])[dual.astype(jnp.int32)[:, None, None], ii, jj]
    G = jnp.where(valid[:, :, None] & valid[:, None, :], G, 0.0) + jnp.eye(S) * (~valid)[:, None, :]
    L = jnp.linalg.cholesky(G)

    def one(r):
        """x with x_C = 0 and (H~ x - r)_P = 0, on whichever set is smaller."""
        w = r @ Kt
        rhs = jnp.where(dual[:, None], -jnp.take_along_axis(w, idx, axis=1),
                        jnp.take_along_axis(r, idx, axis=1))
        v = jax.scipy.linalg.cho_solve((L, True), (rhs * valid)[..., None])[..., 0]
        v = jnp.zeros_like(q).at[rows, idx].add(v * valid)
        return jnp.where(p, jnp.where(dual[:, None], w + v @ Kt, v), 0.0)

    x = one(q)
    if not _REFINE:
        return x
    return x + one(jnp.where(p, q - x @ Ht, 0.0))      # refinement (gradient on C is free)


def _reduced_solve(Ht, Kt, qt, P):
    """x with x_P = (H~_PP)^-1 q~_P and x = 0 elsewhere, for each row (chunked).

    Each row solves a system only as large as the smaller of its passive set P and its
    complement C: on P (gather H~_PP), or on C through the shared inverse K = H~^-1
    (Schur complement: x = K q + K_:C mu with K_CC mu = -(K q)_C, so that x_C = 0 and mu
    is the gradient on C).  Rows are sorted by that size and chunks of 128 rows pick the
    smallest of the sizes N/8, N/4, 3N/8, N/2 that fits all their rows (``lax.switch``:
    only that branch runs).  One step of
    iterative refinement removes the error of the explicit inverse.
    """
    B, N = qt.shape
    half = -(-N // 2)
    sizes = sorted({min(half, max(8, -(-(N * j) // 64) * 8)) for j in (1, 2, 3, 4)})
    branches = [partial(_solve_on, Ht, Kt, S=S) for S in sizes]
    C = min(B, _CHUNK)
    pad = (-B) % C
    if pad:
        qt = jnp.concatenate([qt, jnp.zeros((pad, N))])
        P = jnp.concatenate([P, jnp.zeros((pad, N), bool)])
    # order rows by the size they need so that chunks are homogeneous
    npas = P.sum(axis=1)
    perm = jnp.argsort(jnp.minimum(npas, N - npas))
    qt, P = qt[perm], P[perm]

    def chunk(args):
        q, p = args
        npas = p.sum(axis=1)
        need = jnp.max(jnp.minimum(npas, N - npas))
        which = jnp.searchsorted(jnp.asarray(sizes), need)
        return lax.switch(jnp.minimum(which, len(sizes) - 1), branches, q, p)

    n = qt.shape[0] // C
    if n == 1:
        x = chunk((qt, P))
    else:
        x = lax.map(chunk, (qt.reshape(n, C, N), P.reshape(n, C, N))).reshape(n * C, N)
    return jnp.zeros_like(x).at[perm].set(x)[:B]


def _infeasible(Ht, qt, nonneg, P, x, sg):
    """KKT violations of the constraint ``sg x >= 0``: a passive variable of the wrong
    sign, or an active one whose multiplier ``sg (H x - q)`` is negative."""
    xmax = jnp.max(jnp.abs(x), axis=1, keepdims=True)
    qmax = jnp.max(jnp.abs(qt), axis=1, keepdims=True)
    y = x @ Ht - qt
    tol_y = _TOL * jnp.maximum(qmax, xmax)
    return nonneg & ((P & (sg * x < -_TOL * xmax)) | (~P & (sg * y < -tol_y)))


def _unfinished(st):
    return (st[2].any(axis=1) | (st[5] == 0)) & (st[5] < st[6])


def _bpp_step(Ht, Kt, qt, sg, nonneg, st):
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
    Vn = jnp.where(act[:, None], _infeasible(Ht, qt, nonneg, Pn, xn, sg), V)
    Vn = Vn & jnp.isfinite(xn).all(axis=1, keepdims=True)
    return Pn, xn, Vn, alpha, beta, nsolve + act, cap


def _step_on(Ht, Kt, qt, sg, nonneg, st, k):
    """One pivoting step on the (up to) k first unfinished rows (gather, step, scatter)."""
    B = qt.shape[0]
    score = _unfinished(st).astype(jnp.float64) - jnp.arange(B) * (0.5 / B)
    _, idx = lax.top_k(score, k)
    sub = _bpp_step(Ht, Kt, qt[idx], sg[idx], nonneg,
                    jax.tree_util.tree_map(lambda a: a[idx], st))
    return jax.tree_util.tree_map(lambda a, s: a.at[idx].set(s), st, sub)


def _drain(Ht, Kt, qt, sg, nonneg, st, k, until, max_steps):
    """Repeat steps on k rows while more than ``until`` rows are unfinished."""
    def cond(c):
        i, s = c
        return (i < max_steps) & (_unfinished(s).sum() > until)

    def body(c):
        i, s = c
        return i + 1, _step_on(Ht, Kt, qt, sg, nonneg, s, k)

    return lax.while_loop(cond, body, (0, st))[1]


def _admm(Ht, qt, sg, nonneg, rho, n_iter, z0, u0, relax=1.8):
    """Over-relaxed ADMM (x = z split, scaled dual u) with one shared inverse; the
    projection onto ``sg x >= 0`` is ``sg max(sg v, 0)``."""
    N = Ht.shape[0]
    K = jnp.linalg.inv(Ht + rho * jnp.eye(N))
    K = 0.5 * (K + K.T)

    c0 = qt @ K
    rK = rho * K

    def body(_, c):
        z, u = c
        x = c0 + (z - u) @ rK
        xh = relax * x + (1.0 - relax) * z
        zn = jnp.where(nonneg, sg * jnp.maximum(sg * (xh + u), 0.0), xh + u)
        return zn, u + xh - zn

    return lax.fori_loop(0, n_iter, body, (z0, u0))


def _admm_staged(Ht, qt, sg, nonneg, rho, n_iter):
    """ADMM with a decreasing penalty: 20 % of the iterations at 10 rho, 40 % at rho,
    40 % at rho/10 (one shared inverse per stage).  Measured on 81-point grids at
    lam = 1e-6: the positive set after 200 staged iterations is as good as after 400
    at a fixed rho."""
    z = jnp.zeros_like(qt)
    u = jnp.zeros_like(qt)
    n1 = n_iter // 5
    n2 = 2 * n_iter // 5
    prev = None
    for r, n in ((10.0 * rho, n1), (rho, n2), (0.1 * rho, n_iter - n1 - n2)):
        if prev is not None:
            u = u * (prev / r)            # the scaled dual is y / rho
        z, u = _admm(Ht, qt, sg, nonneg, r, n, z, u)
        prev = r
    return z, u


@partial(jax.jit, static_argnames=("stride",))
def nnls_qp(H, q, nonneg, free, passive0=None, *, rho=0.01, n_admm=200, stride: int = 1,
            max_solves=MAX_SOLVES, sign=None):
    """Solve the batch of non-negative QPs sharing ``H`` (see module docstring).

    Parameters
    ----------
    H : (N, N) float64, symmetric positive semi-definite on the free variables
    q : (B, N) float64
    nonneg : (N,) bool, variables constrained to be >= 0
    free : (N,) bool, variables that exist (others are pinned to 0)
    passive0 : (B, N) bool or None, initial guess of the positive set; None runs
        ``n_admm`` staged ADMM iterations to guess it (``n_admm=0``: the sign pattern of
        the unconstrained optimum, one shared matrix product)
    rho : ADMM penalty on the Jacobi-scaled problem (unit diagonal; traced)
    n_admm : ADMM iterations (traced: one compiled program serves every stage)
    stride : time-series warm start (static): ADMM runs on every ``stride``-th row only
        and the rows in between start pivoting from the positive set of the row before
        them (1 = every row gets its own ADMM guess)
    max_solves : per-spectrum factorisation budget (traced); a spectrum that exhausts it
        is returned with status 0 and the better feasible point (the caller may rescue
        it with a better guess)
    sign : (B, N) float64 of +1 / -1, or None (all +1) -- the direction of each row's
        constraint: ``sign x >= 0`` for the variables in ``nonneg`` (-1 makes a variable
        non-positive).  The equality-constrained solves do not depend on it, so rows
        with different signs share ``H``, its inverse and the compiled program; only the
        feasibility tests, the ADMM projection and the final clip read it.

    Returns
    -------
    NNLSOut
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
    sg = jnp.ones_like(qt) if sign is None else jnp.where(jnp.asarray(sign) < 0, -1.0, 1.0)
    nonneg = nonneg & (d > 0)
    zero = jnp.zeros_like(qt)
    # a numerically singular H (e.g. very wide RBFs) gets the smallest shift that makes
    # it definite; well-posed problems (smallest eigenvalue > 1e-13 on the unit-diagonal
    # scale) are left exactly as they are
    shift = jnp.maximum(0.0, _MIN_EIG - jnp.linalg.eigvalsh(Ht)[0])
    Ht = Ht + shift * jnp.eye(N)
    Kt = jnp.linalg.inv(Ht)
    Kt = 0.5 * (Kt + Kt.T)
    if passive0 is None:
        za, _ = _admm_staged(Ht, qt[::stride], sg[::stride], nonneg, rho, n_admm)
        zr = jnp.repeat(za, stride, axis=0)[:B]
        # the in-between rows of a strided warm start only borrow the guess
        z = jnp.where((jnp.arange(B) % stride == 0)[:, None], zr, 0.0)
        P = jnp.where(n_admm > 0, sg * zr > 0, sg * (qt @ Kt) > 0) | ~nonneg
    else:
        z = zero
        P = passive0 | ~nonneg
    P = P & (d > 0)
    st = (P, zero, jnp.zeros_like(P), jnp.full(B, 3), jnp.full(B, N + 1),
          jnp.zeros(B, jnp.int32), jnp.full(B, max_solves, jnp.int32))
    # steps on a quarter of the batch at a time (the first unfinished rows; every row's
    # first solve is one of them) until every row is done or out of budget
    k = max(1, -(-B // _BUFFER))
    st = _drain(Ht, Kt, qt, sg, nonneg, st, k, 0, 4 * MAX_SOLVES + B // k)
    P, x, V, _, _, nsolve, _ = st
    finite = jnp.isfinite(x).all(axis=1) & jnp.isfinite(qt).all(axis=1)
    done = ~V.any(axis=1) & finite & (nsolve > 0)
    # guard: an unfinished solve returns the better feasible point
    xc = jnp.where(nonneg, sg * jnp.maximum(sg * jnp.where(finite[:, None], x, 0.0), 0.0), x)
    xc = jnp.where(finite[:, None], xc, 0.0)

    def obj(v):
        return 0.5 * jnp.sum((v @ Ht) * v, axis=1) - jnp.sum(qt * v, axis=1)

    use_z = (~done) & (obj(z) < obj(xc)) & (passive0 is None)
    xs = jnp.where(done[:, None], x, jnp.where(use_z[:, None], z, xc))
    status = jnp.where(done, NNLS_STATUS["CONVERGED"],
                       jnp.where(finite, NNLS_STATUS["BUDGET"], NNLS_STATUS["NONFINITE"])
                       ).astype(jnp.int32)
    xs = jnp.where((status < 0)[:, None], z, xs)   # failed: flagged, ADMM estimate kept
    xs = jnp.where(nonneg & done[:, None], sg * jnp.maximum(sg * xs, 0.0), xs)
    return NNLSOut(xs * d, status, P, nsolve.astype(jnp.int32))
