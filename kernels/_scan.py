"""Start search for any circuit: term-wise variable projection over candidate shapes.

A circuit is a series connection of top-level *terms* Z(w) = sum_t Z_t(w).  Every term
is either a *static* element (R, L, C: a fixed shape times one coefficient R, L or 1/C)
or a *shaped* term whose impedance is a scale times a shape,

    Z_t(w; s, theta) = s * z_t(w; theta),

because multiplying every impedance-like parameter of a sub-circuit by s (R -> sR,
L -> sL, C -> C/s, Q -> Q/s, ...) multiplies its impedance by s.  For fixed shape
parameters theta (time constants, ratios, exponents) the model is therefore linear in the
coefficients, which are found by weighted linear least squares (Golub & Pereyra,
SIAM J. Numer. Anal. 10 (1973) 413, for the separable idea).  The host picks a set of
candidate shapes per term (a grid over each term's time constants and ratios, see
``fastfit.fitting`` start planning); this kernel scores every *combination* of one
candidate per term for every spectrum and returns the best few, diverse ones.

All inner products come from a few GEMMs on a common frequency grid: per term
``<U_c, Z>``, ``<U_c, U_c>`` and ``<U_c, V_s>`` (candidates x spectra), per pair of terms
the products of the two candidates of each combination, then one small unrolled Cholesky
solve per (combination, spectrum).  Arrays are laid out candidates-first, spectra last, so
picking a combination's entries is a row gather.  No LAPACK calls (the program may run
on several host devices at once, see ``kernels._linalg``).
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._linalg import cholesky_solve_lists

__all__ = ["ScanOut", "ScanTables", "scan_combos", "scan_starts", "term_shapes"]


class ScanOut(NamedTuple):
    """Best combinations per spectrum.

    coef : (B, S, Ns + K) float64, least-squares coefficients (statics, then terms),
        floored at a tiny positive value
    pick : (B, S) int32, index of the combination (row of ``combos``)
    cost : (B, S) float64, 0.5 * weighted sum of squared residuals of the pick
    """

    coef: jax.Array
    pick: jax.Array
    cost: jax.Array


class ScanTables(NamedTuple):
    """One start scan: candidate shapes on the common grid and how to turn a pick back
    into parameters (built by the start planner of ``fastfit.fitting``).

    statics : tuple of (kind "R" | "L" | "C", parameter index), static
    V : (Ns, F) complex128;  Us : tuple of (C_k, F) complex128 per term
    combos : (NC, K) int32;  coords : (NC, D) float64
    term_idx : tuple of K tuples of global parameter indices, static
    term_vals : tuple of K arrays (C_k, P_k), unit-scale candidate parameters
    term_power : tuple of K arrays (P_k,), power of the term scale each parameter takes
    """

    statics: tuple
    V: np.ndarray
    Us: tuple
    combos: np.ndarray
    coords: np.ndarray
    term_idx: tuple
    term_vals: tuple
    term_power: tuple


def scan_starts(tab: ScanTables, scan_data, n_starts: int, n_params: int) -> np.ndarray:
    """(B, n_starts, P) physical starting points: the best, diverse combinations of one
    scan for every spectrum.  scan_data = (Z, wr2, wi2) on the scan's grid."""
    Zs, wr2, wi2 = scan_data
    out = scan_combos(len(tab.statics), len(tab.Us), n_starts, tab.V, tab.Us, tab.combos,
                      tab.coords, Zs, wr2, wi2)
    coef, pick = np.asarray(out.coef), np.asarray(out.pick)
    B = coef.shape[0]
    p0 = np.ones((B, n_starts, n_params))
    Ns = len(tab.statics)
    for i, (kind, gi) in enumerate(tab.statics):
        p0[..., gi] = 1.0 / coef[..., i] if kind == "C" else coef[..., i]
    for k, idx in enumerate(tab.term_idx):
        vals = tab.term_vals[k][tab.combos[pick, k]]                      # (B, S, P_k)
        p0[..., list(idx)] = vals * coef[..., Ns + k][..., None] ** tab.term_power[k]
    return p0


def _wdot(ur, ui, wr2, wi2):
    """Weighted real inner products of candidate rows with every spectrum's weights.
    ur, ui (N, F) real -> (N, B)."""
    return ur @ wr2.T + ui @ wi2.T


# combinations scored per pass of the scan's loop, times the spectra of the batch: the
# (combinations x spectra) tables of one pass (a dozen live at once) stay near the
# cache; one pass over a whole table of 276 x 1,024 took 2.1x the CPU time (24.8 ms
# against 11.9 ms for 92-combination passes, seed circuit, 2026-12-05)
SCAN_BLOCK_ELEMS = 1 << 17


@partial(jax.jit, static_argnums=(0, 1, 2), static_argnames=("block",))
def scan_combos(n_statics: int, n_terms: int, n_starts: int, V, Us, combos, coords, Z, wr2, wi2,
                block: int = 0):
    """Score every combination of candidate shapes for every spectrum.

    Parameters
    ----------
    n_statics, n_terms, n_starts : static ints (Ns, K, S)
    V : (Ns, F) complex128, shapes of the static elements (1, j w, 1/(j w))
    Us : tuple of K arrays (C_k, F) complex128, candidate shapes of each term (unit scale)
    combos : (NC, K) int32, candidate index of each term in each combination
    coords : (NC, D) float64, grid coordinates of each combination (in grid steps); picks
        after the first exclude combinations within one step of an earlier pick in every
        coordinate, so the starts are diverse
    Z : (B, F) complex128, ohm;  wr2, wi2 : (B, F) squared residual weights (0 = unused)
    block : static int, combinations per pass (0: from ``SCAN_BLOCK_ELEMS``)

    Returns
    -------
    ScanOut

    Every entry of the normal equations that involves at most one term is a GEMM over the
    candidates (``<U_c, Z>``, ``<U_c, U_c>``, ``<U_c, V_s>``: (C_k, B) tables); the
    combinations gather their rows and, per pair of terms, take the products of their two
    candidates.  The costs of all combinations are computed in passes of a few dozen to
    a few hundred combinations (``SCAN_BLOCK_ELEMS``); the coefficients only for the
    picks.
    """
    Ns, K = n_statics, n_terms
    C = Ns + K
    zr, zi = wr2 * Z.real, wi2 * Z.imag
    zz = jnp.sum(zr * Z.real + zi * Z.imag, axis=-1)                       # (B,)
    NC = combos.shape[0]
    B = Z.shape[0]
    G_s = [[None] * Ns for _ in range(Ns)]      # statics: (1, B)
    b_s = [None] * Ns
    for i in range(Ns):
        b_s[i] = (V[i].real @ zr.T + V[i].imag @ zi.T)[None, :]
        for j in range(i, Ns):
            v = _wdot((V[i].real * V[j].real)[None], (V[i].imag * V[j].imag)[None], wr2, wi2)
            G_s[i][j] = G_s[j][i] = v
    # per candidate: (C_k, B)
    b_t = [U.real @ zr.T + U.imag @ zi.T for U in Us]
    G_tt = [_wdot(U.real * U.real, U.imag * U.imag, wr2, wi2) for U in Us]
    G_ts = [[_wdot(U.real * V[i].real, U.imag * V[i].imag, wr2, wi2) for i in range(Ns)]
            for U in Us]

    def system(rows, pair):
        """Normal equations of the combinations ``rows`` (K index arrays (N,) or (N, B))
        as nested lists; ``pair(k, l)`` the products of terms k and l."""
        G = [[None] * C for _ in range(C)]
        b = b_s + [None] * K
        for i in range(Ns):
            for j in range(Ns):
                G[i][j] = G_s[i][j]
        for k in range(K):
            b[Ns + k] = _take(b_t[k], rows[k])
            G[Ns + k][Ns + k] = _take(G_tt[k], rows[k])
            for i in range(Ns):
                G[Ns + k][i] = G[i][Ns + k] = _take(G_ts[k][i], rows[k])
            for l in range(k + 1, K):
                G[Ns + k][Ns + l] = G[Ns + l][Ns + k] = pair(k, l)
        return G, b

    def block_cost(cb):                                                      # (n, K)
        rows = [cb[:, k] for k in range(K)]

        def pair(k, l):
            Uk, Ul = Us[k][rows[k]], Us[l][rows[l]]
            return _wdot(Uk.real * Ul.real, Uk.imag * Ul.imag, wr2, wi2)     # (n, B)

        return _vp_cost(*system(rows, pair), zz, C)[1]

    blk = min(NC, block or max(8, SCAN_BLOCK_ELEMS // B))
    n_blk = -(-NC // blk)
    blk = -(-NC // n_blk)                       # equal passes, least padding
    pad = n_blk * blk - NC
    cb = jnp.concatenate([combos, jnp.broadcast_to(combos[:1], (pad, K))]) if pad else combos
    if n_blk == 1:
        cost = block_cost(cb)
    else:
        cost = jax.lax.map(block_cost, cb.reshape(n_blk, blk, K)).reshape(n_blk * blk, B)[:NC]
    picks = []
    cst = cost
    cols = jnp.arange(B)
    for s in range(n_starts):
        best = _first_min(cst)                                               # (B,)
        picks.append(best)
        if s + 1 < n_starts:
            sel = coords[best]                                               # (B, D)
            near = jnp.all(jnp.abs(coords[:, None, :] - sel[None, :, :]) <= 1.0, axis=-1)
            cst = jnp.where(near, jnp.inf, cst).at[best, cols].set(jnp.inf)
    pick = jnp.stack(picks, axis=0)                                          # (S, B)
    prow = [combos[pick, k] for k in range(K)]                               # (S, B)

    def pick_pair(k, l):
        Uk, Ul = Us[k][prow[k]], Us[l][prow[l]]                              # (S, B, F)
        return jnp.sum(wr2 * Uk.real * Ul.real + wi2 * Uk.imag * Ul.imag, axis=-1)

    a, _ = _vp_cost(*system(prow, pick_pair), zz, C)                         # (S, B) each
    coef = jnp.stack([jnp.broadcast_to(v, pick.shape).T for v in a], axis=-1)  # (B, S, C)
    return ScanOut(coef=coef, pick=pick.T.astype(jnp.int32), cost=cost[pick, cols].T)


def _first_min(cost):
    """``jnp.argmin(cost, axis=0)`` of a (N, B) table (the first row on ties) as two
    plain min-reductions: XLA's CPU argmin, a variadic value-index reduction, took
    14 ms on a 276 x 1,024 table in a test program, as long as the whole scan."""
    low = jnp.min(cost, axis=0)
    N = cost.shape[0]
    return jnp.min(jnp.where(cost == low[None, :], jnp.arange(N)[:, None], N), axis=0)


def _take(table, rows):
    """Entries of a (C_k, B) candidate table for the combinations' candidate ``rows``:
    (N,) (whole rows) or (S, B) (one per spectrum)."""
    if rows.ndim == 1:
        return table[rows]
    return table[rows, jnp.arange(table.shape[1])[None, :]]


def term_shapes(node, n_params: int, idx: tuple, vals, omega):
    """Impedance of a sub-circuit for candidate parameter rows.

    node : static kernel subtree;  idx : static tuple of its global parameter indices
    vals : (C, len(idx)) float64;  omega : (F,) rad/s  ->  (C, F) complex128

    The subtree is renumbered onto its own parameters (``idx`` order) before it is
    compiled, so terms of the same structure share one program: the three arcs of a
    three-arc chain compiled three programs per table before, 0.05 s each.
    """
    local = _renumbered(node, {g: k for k, g in enumerate(idx)})
    if local is None:                       # parameters outside idx: the global program
        return _term_shapes(node, n_params, tuple(idx), vals, omega)
    return _term_shapes(local, len(idx), tuple(range(len(idx))), vals, omega)


def _renumbered(node, where: dict):
    """``node`` with every element's first parameter index mapped through ``where``, or
    None where an element's parameters are not consecutive entries of ``where``."""
    from ._circuit import n_params_of

    if node[0] == "E":
        first = node[2]
        k = n_params_of(node)
        if any(where.get(first + i) != where.get(first, -1) + i for i in range(k)):
            return None
        return (node[0], node[1], where[first]) + tuple(node[3:])
    kids = tuple(_renumbered(c, where) for c in node[1])
    if any(c is None for c in kids):
        return None
    return (node[0], kids) + tuple(node[2:])


@partial(jax.jit, static_argnums=(0, 1, 2))
def _term_shapes(node, n_params: int, idx: tuple, vals, omega):
    from ._circuit import eval_tree

    p = [jnp.zeros((1, 1))] * n_params
    for k, gi in enumerate(idx):
        p[gi] = vals[:, k][:, None]
    Zt, _ = eval_tree(node, p, omega[None, :], False)
    return jnp.broadcast_to(Zt, (vals.shape[0], omega.shape[0]))


def _vp_cost(G, b, zz, C):
    """Coefficients (floored at a tiny positive value) and cost of the weighted linear
    least-squares problems G a = b (nested lists of (N, B) or (1, B) arrays)."""
    shape = jnp.broadcast_shapes(*[g.shape for row in G for g in row], *[v.shape for v in b])
    G = [[jnp.broadcast_to(g, shape) for g in row] for row in G]
    b = [jnp.broadcast_to(v, shape) for v in b]
    dmax = G[0][0]
    for i in range(1, C):
        dmax = jnp.maximum(dmax, G[i][i])
    G_reg = [[G[i][j] + (1e-10 * G[i][i] + 1e-300 if i == j else 0.0) for j in range(C)]
             for i in range(C)]
    a, _ = cholesky_solve_lists(G_reg, b)
    a_floor = 1e-9 * jnp.sqrt(zz[None, :] / (dmax + 1e-300))
    a = [jnp.maximum(v, a_floor) for v in a]
    quad = 0.0
    lin = 0.0
    for i in range(C):
        lin = lin + a[i] * b[i]
        ga = 0.0
        for j in range(C):
            ga = ga + G[i][j] * a[j]
        quad = quad + a[i] * ga
    cost = 0.5 * (quad - 2.0 * lin + zz[None, :])
    return a, jnp.where(jnp.isfinite(cost), cost, jnp.inf)
