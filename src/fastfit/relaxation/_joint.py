"""The solve of one group of spectra (one system): constraint signs, the optional tail
profiled on its grid, credible bands.  Columns of x: [R_inf, L, x_1..x_T(, tail)]."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._bands import posterior_band
from ._qp import objective, solve_qp
from ._sign import auto_signs
from ._tail import tail_column, tail_grid

__all__ = ["Solution", "rhs", "group_signs", "solve_group", "group_bands"]


class Solution(NamedTuple):
    """x (k, T+2) [R_inf, L, coefficients]; amplitude, shape (k,) of the tail (None
    without one); status, n_solves (k,) int; shapes (G,) grid tried (None)."""

    x: np.ndarray
    amplitude: np.ndarray | None
    shape: np.ndarray | None
    status: np.ndarray
    n_solves: np.ndarray
    shapes: np.ndarray | None


def rhs(blocks, Zg) -> np.ndarray:
    """(k, 2F) weighted data [Re Z; Im Z]."""
    _, _, w_re, w_im = blocks
    return np.concatenate([Zg.real * w_re, Zg.imag * w_im], axis=1)


def group_signs(system, blocks, Zg, log_tau, sign) -> np.ndarray:
    """(k, T+2) constraint sign of every column (R_inf and L: +1)."""
    k, T = Zg.shape[0], log_tau.size
    s = np.ones((k, T + 2))
    if sign == "auto":
        _, _, w_re, w_im = blocks
        s[:, 2:] = auto_signs(system.freq, Zg, np.maximum(w_re, w_im), log_tau)
    return s


def _variant(system, blocks, tail, shape):
    """(A, M, free) of the system, with the tail column of ``shape`` appended."""
    if tail is None:
        return system.A, system.M, system.free
    _, _, w_re, w_im = blocks
    col = tail_column(tail, system.freq, w_re, w_im, shape)
    N = system.A.shape[1]
    M = np.zeros((N + 1, N + 1))
    M[:N, :N] = system.M
    return np.c_[system.A, col], M, np.r_[system.free, True]


def _by_lam(A, M, free, b, lam, constrained, sign, warm_start):
    """solve_qp once per distinct lambda; (x, status, n_solves, objective)."""
    k = b.shape[0]
    x = np.zeros((k, A.shape[1]))
    st, ns, J = np.zeros(k, np.int64), np.zeros(k, np.int64), np.zeros(k)
    for lv in np.unique(lam):
        sub = np.nonzero(lam == lv)[0]
        x[sub], st[sub], ns[sub] = solve_qp(A, M, free, b[sub], lv, constrained, sign[sub],
                                            warm_start)
        J[sub] = objective(A, M, b[sub], lv, x[sub])
    return x, st, ns, J


def solve_group(system, blocks, Zg, lam, signs, o, warm_start) -> Solution:
    """Exact solve of every spectrum of a group; with a tail, one solve of the group per
    grid value and per spectrum the value of smallest objective."""
    b = rhs(blocks, Zg)
    constrained = o["sign"] != "free"
    tail = o["tail"]
    if tail is None:
        x, st, ns, _ = _by_lam(system.A, system.M, system.free, b, lam, constrained, signs,
                               warm_start)
        return Solution(x, None, None, st, ns, None)
    shapes = tail_grid(tail, o["tail_grid"], system.freq[np.maximum(blocks[2], blocks[3]) > 0])
    k, N = b.shape[0], system.A.shape[1]
    sg = np.c_[signs, np.ones(k)]
    best = np.full(k, np.inf)
    x, st, ns_all = np.zeros((k, N + 1)), np.zeros(k, np.int64), np.zeros(k, np.int64)
    pick = np.zeros(k, np.int64)
    for g, shape in enumerate(shapes):
        A, M, free = _variant(system, blocks, tail, shape)
        xg, sg_st, sg_ns, J = _by_lam(A, M, free, b, lam, constrained, sg, warm_start)
        better = J < best
        best = np.where(better, J, best)
        x[better], st[better], pick[better] = xg[better], sg_st[better], g
        ns_all += sg_ns
    return Solution(x[:, :N], x[:, N], shapes[pick], st, ns_all, shapes)


def group_bands(system, blocks, Zg, E, sol: Solution, signs, lam, o, noise, rng):
    """lo, hi (k, To), samples (k, S, T), sigma (k,), sampled (k,) of a group: one
    posterior per (lambda, tail shape) subgroup."""
    b = rhs(blocks, Zg)
    k, T = b.shape[0], E.shape[1]
    To, S = E.shape[0], int(o["n_samples"])
    lo, hi = np.zeros((k, To)), np.zeros((k, To))
    samples, sigma, sampled = np.zeros((k, S, T)), np.zeros(k), np.zeros(k, bool)
    n_obs = int(np.sum(blocks[2] > 0) + np.sum(blocks[3] > 0))
    tail = o["tail"]
    shape = np.zeros(k) if sol.shape is None else sol.shape
    x = sol.x if tail is None else np.c_[sol.x, sol.amplitude]
    sg = signs if tail is None else np.c_[signs, np.ones(k)]
    for lv in np.unique(lam):
        for sv in np.unique(shape):
            sub = np.nonzero((lam == lv) & (shape == sv))[0]
            if not sub.size:
                continue
            A, M, free = _variant(system, blocks, tail, sv)
            r = posterior_band(A, M, free, b[sub], lv, x[sub], sg[sub], o["sign"] != "free",
                               slice(2, 2 + T), E, n_obs, level=float(o["bands"]),
                               n_samples=S, noise=None if noise is None else noise[sub],
                               rng=rng)
            lo[sub], hi[sub], samples[sub], sigma[sub], sampled[sub] = r
    return lo, hi, samples, sigma, sampled
