"""Relocation moves of the fit engine: a fitted term moved elsewhere in the window.

A result whose parameters the data determine loosely may have a term in the wrong place
(a small arc on the wrong side of a large one, a diffusion tail used as a series
resistance).  :func:`relocate_terms` moves one top-level term of a fitted model to every
candidate shape of a table (built by ``fastfit.fitting``'s relocation planner) with the
other terms held in shape and every scale re-solved by weighted linear least squares
(the variable projection of ``kernels._scan``), and returns the best candidate of each
time-constant band.  :func:`relocation_starts` turns those into starting points, one per
term and band; :func:`pair_starts` chains two such moves -- one term moved to a band,
then the best move of another term with the first at its new place -- for results that
stay loose after the single moves: two terms that trade places (an arc taking the
diffusion element's frequencies while the diffusion element takes the arc's) cannot be
undone one term at a time, because either move alone fits worse than the swap of both.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._scan import _vp_cost, _wdot

__all__ = ["RelocOut", "RelocTables", "relocate_terms", "relocation_starts", "pair_starts",
           "term_impedances"]


class RelocOut(NamedTuple):
    """Best relocation of each term (:func:`relocate_terms`), batch first.

    base_cost : (B,) 0.5 chi2 of the current shapes with every scale re-solved
    cost : (B, K, NB) 0.5 chi2 of the best candidate for term k in band j (the other terms
        at their shapes)
    pick : (B, K, NB) int32 candidate index of term k
    coef : (B, K, NB, Ns + K) coefficients (statics, then term scales) of that best point
    """

    base_cost: jax.Array
    cost: jax.Array
    pick: jax.Array
    coef: jax.Array


@partial(jax.jit, static_argnums=(0, 1, 2))
def relocate_terms(n_statics: int, n_terms: int, n_bands: int, V, Us, bands, Ucur, Z, wr2,
                   wi2) -> RelocOut:
    """Move one term of a fitted model to every candidate shape, the rest held in shape.

    For each term k and candidate shape c (``Us[k][c]``, unit scale), and every spectrum
    b, the model  sum_i a_i V_i + a_k U_c + sum_{j != k} a_j Ucur_j,b  -- statics, the
    candidate, and the other terms at their current fitted shapes -- is a linear model in
    the scales a, solved by weighted least squares (the variable projection of
    ``scan_combos`` with the other terms' shapes taken from the fit).  Each solution is a
    feasible parameter point whose cost is exact, so an LM started there ends at most at
    that cost: a relocation that beats ``base_cost`` is a guaranteed improvement (a term
    stuck in the wrong place -- a small arc on the wrong side of a large one, a
    diffusion tail used as a series resistance -- is moved where it belongs).

    V : (Ns, F) static shapes;  Us : K arrays (C_k, F) candidate shapes
    bands : K int arrays (C_k,), band (0 .. n_bands-1) of each candidate (its time
        constant's place in the window): the best candidate of every band is returned, so
        the moves are diverse
    Ucur : (K, B, F) complex128, current impedance of each term (fitted scale)
    Z : (B, F);  wr2, wi2 : (B, F) squared residual weights (0 = unused)
    """
    Ns, K = n_statics, n_terms
    C = Ns + K
    zr, zi = wr2 * Z.real, wi2 * Z.imag
    zz = jnp.sum(zr * Z.real + zi * Z.imag, axis=-1)

    def pdot(a, b_):      # per-spectrum weighted products (B, F) x (B, F) -> (1, B)
        return jnp.sum(wr2 * a.real * b_.real + wi2 * a.imag * b_.imag, axis=-1)[None, :]

    Vb = [jnp.broadcast_to(V[i], Z.shape) for i in range(Ns)]
    cur = [Vb[i] for i in range(Ns)] + [Ucur[k] for k in range(K)]
    Gc = [[None] * C for _ in range(C)]
    bc = [pdot(cur[i], Z) for i in range(C)]
    for i in range(C):
        for j in range(i, C):
            Gc[i][j] = Gc[j][i] = pdot(cur[i], cur[j])
    _, base = _vp_cost(Gc, bc, zz, C)
    costs, picks, coefs = [], [], []
    cols = jnp.arange(Z.shape[0])
    for k in range(K):
        U = Us[k]
        G = [row[:] for row in Gc]
        b = bc[:]
        s = Ns + k
        b[s] = U.real @ zr.T + U.imag @ zi.T                                  # (C_k, B)
        G[s][s] = _wdot(U.real * U.real, U.imag * U.imag, wr2, wi2)
        for i in range(C):
            if i == s:
                continue
            w = cur[i]
            v = U.real @ (wr2 * w.real).T + U.imag @ (wi2 * w.imag).T          # (C_k, B)
            G[s][i] = G[i][s] = v
        a, cost = _vp_cost(G, b, zz, C)
        # the best candidate of every band at once (segment minima over the candidates;
        # the first one on ties): no loop over the bands, so the program stays small
        Ck = cost.shape[0]
        low = jax.ops.segment_min(cost, bands[k], num_segments=n_bands)          # (NB, B)
        first = jnp.where(cost == low[bands[k]], jnp.arange(Ck)[:, None], Ck)
        best = jnp.minimum(jax.ops.segment_min(first, bands[k], num_segments=n_bands),
                           Ck - 1)                                               # (NB, B)
        costs.append(low.T)                                                      # (B, NB)
        picks.append(best.T.astype(jnp.int32))
        coefs.append(jnp.stack([jnp.broadcast_to(v, cost.shape)[best, cols[None, :]].T
                                for v in a], axis=-1))                           # (B, NB, C)
    return RelocOut(base_cost=base[0], cost=jnp.stack(costs, 1), pick=jnp.stack(picks, 1),
                    coef=jnp.stack(coefs, 1))


@partial(jax.jit, static_argnums=(0, 1))
def term_impedances(nodes: tuple, n_params: int, p, omega):
    """(K, B, F) impedance of each top-level term (``nodes``, static) for parameters
    p (B, P) at omega (F,) rad/s."""
    from ._circuit import eval_tree

    cols = [p[:, k][:, None] for k in range(n_params)]
    out = []
    for node in nodes:
        Zt, _ = eval_tree(node, cols, omega[None, :], False)
        out.append(jnp.broadcast_to(Zt, (p.shape[0], omega.shape[0])))
    return jnp.stack(out)


class RelocTables(NamedTuple):
    """Candidate shapes for relocation moves (built by the start planner of
    ``fastfit.fitting``): one table per shaped top-level term, on the scan grid.

    statics : tuple of (kind, parameter index), static;  V : (Ns, F) complex128
    nodes : tuple of K kernel subtrees, static;  omega : (F,) rad/s of the scan grid
    Us : K arrays (C_k, F) complex128, unit-scale candidate shapes
    bands : K int32 arrays (C_k,), time-constant band of each candidate
    n_bands : int, static
    term_idx, term_vals, term_power : as :class:`ScanTables`
    term_bands : K ints, bands in use per term (``bands[k] < term_bands[k]``; () = n_bands
        each)
    """

    statics: tuple
    V: np.ndarray
    nodes: tuple
    omega: np.ndarray
    Us: tuple
    bands: tuple
    n_bands: int
    term_idx: tuple
    term_vals: tuple
    term_power: tuple
    term_bands: tuple = ()


def _n_bands(tab: RelocTables, k: int) -> int:
    return tab.term_bands[k] if tab.term_bands else tab.n_bands


def _moves(tab: RelocTables, p: np.ndarray, scan_data) -> RelocOut:
    """:func:`relocate_terms` of the fitted parameters ``p`` (B, P).

    The rows (the loose results of a chunk: any number) are padded to a power of two
    (at least 8) with copies of the first, so that the programs compile once per bucket:
    unpadded, every new count of loose results compiled ``term_impedances`` and
    ``relocate_terms`` again (0.9-1.7 s each, on warm fits of new spectra)."""
    n = p.shape[0]
    size = max(8, 1 << max(n - 1, 0).bit_length())
    rows = np.concatenate([np.arange(n), np.zeros(size - n, int)])
    p_pad = np.asarray(p)[rows]
    Zs, wr2, wi2 = (np.asarray(a)[rows] for a in scan_data)
    Ucur = term_impedances(tab.nodes, p.shape[1], p_pad, tab.omega)
    out = relocate_terms(len(tab.statics), len(tab.Us), tab.n_bands, tab.V, tab.Us, tab.bands,
                         Ucur, Zs, wr2, wi2)
    return RelocOut(*(np.asarray(v)[:n] for v in out))


def _moved(tab: RelocTables, p: np.ndarray, out: RelocOut, k: int, band: np.ndarray):
    """(B, P) physical point: term k of ``p`` at its best candidate of band ``band`` (B,)
    (one band per spectrum), every scale as re-solved by the move."""
    Ns = len(tab.statics)
    rows = np.arange(p.shape[0])
    cf = out.coef[rows, k, band]                                          # (B, Ns + K)
    q = np.array(p, np.float64)
    for i, (kind, gi) in enumerate(tab.statics):
        q[:, gi] = 1.0 / cf[:, i] if kind == "C" else cf[:, i]
    # a term whose re-solved scale is floored (the move drops it) can overflow a
    # parameter that takes the scale's inverse (Q/s): inf is clipped to the parameter's
    # bound when the LM state is built, a valid (poor) start
    with np.errstate(over="ignore"):
        for t, idx in enumerate(tab.term_idx):
            scale = cf[:, Ns + t][:, None] ** tab.term_power[t]
            shape = tab.term_vals[k][out.pick[rows, k, band]] if t == k else p[:, list(idx)]
            q[:, list(idx)] = shape * scale
    return q


def relocation_starts(tab: RelocTables, p: np.ndarray, scan_data) -> list:
    """Starting points (one array (B, P), physical, per term and band in use) that move one
    term of the fitted parameters ``p`` (B, P) to the best candidate shape of each
    time-constant band, with every scale re-solved (:func:`relocate_terms`)."""
    if not tab.Us:
        return []
    out = _moves(tab, p, scan_data)
    B = p.shape[0]
    return [_moved(tab, p, out, k, np.full(B, j)) for k in range(len(tab.Us))
            for j in range(_n_bands(tab, k))]


def pair_starts(tab: RelocTables, p: np.ndarray, scan_data, n_keep: int) -> list:
    """Starting points (``n_keep`` arrays (B, P), physical) that move two terms of ``p``:
    every single move of :func:`relocation_starts` (term k to band j), followed by the
    best move of any other term (its best band, with k at its new place and every scale
    re-solved again).  Per spectrum the ``n_keep`` chained moves of lowest cost are
    returned (fewer when there are fewer); [] for circuits with fewer than two shaped
    terms."""
    K = len(tab.Us)
    if K < 2 or n_keep <= 0:
        return []
    B = p.shape[0]
    rows = np.arange(B)
    first = _moves(tab, p, scan_data)
    costs, points = [], []
    for k in range(K):
        for j in range(_n_bands(tab, k)):
            q1 = _moved(tab, p, first, k, np.full(B, j))
            second = _moves(tab, q1, scan_data)
            cost = np.array(second.cost)                                  # (B, K, NB)
            cost[:, k, :] = np.inf                                        # another term
            for t in range(K):
                cost[:, t, _n_bands(tab, t):] = np.inf                    # bands in use
            flat = np.argmin(cost.reshape(B, -1), axis=1)
            t_best, band = flat // tab.n_bands, flat % tab.n_bands
            q2 = q1
            for t in range(K):
                if t != k:
                    q2 = np.where((t_best == t)[:, None], _moved(tab, q1, second, t, band), q2)
            costs.append(cost.reshape(B, -1)[rows, flat])
            points.append(q2)
    order = np.argsort(np.stack(costs, axis=1), axis=1, kind="stable")   # (B, M)
    points = np.stack(points, axis=1)                                     # (B, M, P)
    return [points[rows, order[:, i]] for i in range(min(n_keep, order.shape[1]))]
