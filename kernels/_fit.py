"""The batched fit pipeline, as a few compiled programs shared by every stage.

starts: the best combinations of the start scans (``kernels._scan``, any circuit) and any
        given starting points (user p0, warm starts)
  -> stage 1: each start, a few LM iterations (one call per start, same shape)
  -> stage 2: the best ``keep`` starts of every spectrum continue a few more iterations;
     the best of them goes on
  -> stage 3 ("rescue"): the spectra still running are gathered into fixed-size batches
     (a quarter of the chunk, then groups of 8) and get the remaining budget
  -> escalation: a spectrum that ends at the budget, singular, with a parameter at a bound
     or vanished (R, Q, L -> 0 or infinity), or with chi2 above ``chi2_limit`` (a multiple
     of what its noise makes attainable), is fitted again from more starts -- its result with the offending
     parameters replaced by each initial start's values, and the next-best scan
     combinations -- each run to convergence; the best result is kept
  -> covariance of the free, non-pinned parameters.

Staging with compaction makes multi-start affordable: all starts run only briefly, and
the long tail runs on a fraction of the batch (docs/design-notes.md, "Fit engine").
Every stage reuses the same compiled LM programs (chunk size, rescue sizes), so a fit
compiles a fixed, small number of programs per (circuit, chunk size).
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._circuit import eval_tree
from ._lm import (LMState, RUNNING, lm_covariance, lm_fresh_state, lm_init_state, lm_iterate,
                  vanished_params)
from ._scan import ScanTables, scan_combos, scan_starts

__all__ = ["FitConfig", "FitOut", "fit_pipeline", "to_internal", "to_physical", "lm_start",
           "lm_continue", "lm_rescue", "lm_finalize", "fresh_state"]


class FitConfig(NamedTuple):
    """Static configuration of the compiled fit programs."""

    logmask: tuple          # (P,) bool: parameter fitted as ln p
    n_picks: int            # scan combinations per scan tried from the start
    n_escalate: int         # further scan combinations per scan kept for escalation
    iter_stage1: int
    iter_stage2: int
    iter_stage3: int
    rescue_frac: float
    ftol: float
    xtol: float
    gtol: float
    keep: int = 2           # starts carried from stage 1 into stage 2 (best by cost)
    keep_ratio: float = 3.0  # ... where their stage-1 cost is within this factor of the best
    escalate: bool = True   # refit suspicious spectra from more starts


class FitOut(NamedTuple):
    """Result of :func:`fit_pipeline` for one chunk (batch axis first).

    x : (B, P) internal parameters;  p : (B, P) physical parameters
    cost : (B,) 0.5 chi2;  status : (B,) int32 LM status code (``_lm``);  n_iter : (B,) int
    cov_x : (B, P, P) (J^T J)^-1 in internal space (0 for fixed or pinned parameters)
    at_bound : (B, P) bool, free parameter pinned at a bound or vanished
    min_pivot : (B,) smallest relative Cholesky pivot of J^T J (singular when tiny)
    Z_fit : (B, F) complex128, ohm, model at the data frequencies
    escalated : (B,) bool, the spectrum was refitted from more starts
    """

    x: jax.Array
    p: jax.Array
    cost: jax.Array
    status: jax.Array
    n_iter: jax.Array
    cov_x: jax.Array
    at_bound: jax.Array
    min_pivot: jax.Array
    Z_fit: jax.Array
    escalated: jax.Array


def to_internal(p, logmask):
    cols = [jnp.log(jnp.maximum(p[..., k], 1e-300)) if logmask[k] else p[..., k]
            for k in range(p.shape[-1])]
    return jnp.stack(cols, axis=-1)


def to_physical(x, logmask):
    cols = [jnp.exp(x[..., k]) if logmask[k] else x[..., k] for k in range(x.shape[-1])]
    return jnp.stack(cols, axis=-1)


@partial(jax.jit, static_argnums=(0, 1))
def lm_start(tree, logmask, p0, omega, Z, w_re, w_im, lo, hi, free, p_fixed):
    """Initial LM state from physical starting points p0 (B, P); fixed params forced."""
    p0 = jnp.where(free[None, :], p0, p_fixed)
    return lm_init_state(tree, logmask, to_internal(p0, logmask), omega, Z, w_re, w_im, lo, hi)


def fresh_state(logmask, p0, lo, hi, free, p_fixed) -> LMState:
    """Host-side (numpy) starting state from physical p0 (B, P): :func:`lm_continue`
    evaluates it on its first trip, so no program of its own is compiled."""
    p0 = np.where(np.asarray(free)[None, :], np.asarray(p0, np.float64), np.asarray(p_fixed))
    lm = np.asarray(logmask, bool)
    x0 = np.where(lm, np.log(np.maximum(np.where(lm, p0, 1.0), 1e-300)), p0)
    return lm_fresh_state(x0, np.asarray(lo), np.asarray(hi))


@partial(jax.jit, static_argnums=(0, 1))
def lm_continue(tree, logmask, state, omega, Z, w_re, w_im, lo, hi, free, max_iter, ftol, xtol, gtol):
    return lm_iterate(tree, logmask, state, omega, Z, w_re, w_im, lo, hi, free, max_iter,
                      ftol, xtol, gtol)


# The rescue stage (the few % of spectra still running after stage 2, in compacted
# batches) runs the same LM program compiled without LLVM's optimisation passes: 1.0 s
# instead of 1.5 s of a first call's compile (1.6 vs 2.6 CPU-s), for ~2x the time per
# iteration of those few spectra (~5 % of a 10,000-spectrum fit).  Every rescued
# spectrum goes through this program, whatever the batch size, so results stay independent
# of how a batch is split into chunks, devices or Dask tasks.
lm_rescue = jax.jit(lm_continue.__wrapped__, static_argnums=(0, 1),
                    compiler_options={"xla_backend_optimization_level": 0})


@partial(jax.jit, static_argnums=(0, 1),
         # runs once per chunk: LLVM's cheaper pipeline halves its compile time (0.5 s)
         # at no measurable run time; every chunk size gets the same code generation, so
         # results stay independent of how a batch is split
         compiler_options={"xla_backend_optimization_level": 1})
def lm_finalize(tree, logmask, state, omega, w_re, w_im, lo, hi, free):
    n_res = jnp.sum(w_re > 0, axis=-1) + jnp.sum(w_im > 0, axis=-1)
    gone = vanished_params(state, logmask, free, n_res)
    cov_x, at_bound, piv = lm_covariance(state, lo, hi, free, gone)
    p = to_physical(state.x, logmask)
    Zf, _ = eval_tree(tree, [p[:, k][:, None] for k in range(p.shape[-1])], omega, False)
    Zf = jnp.broadcast_to(Zf, (p.shape[0],) + omega.shape[-1:])
    return FitOut(x=state.x, p=p, cost=state.cost, status=state.status,
                  n_iter=state.n_iter, cov_x=cov_x, at_bound=at_bound, min_pivot=piv, Z_fit=Zf,
                  escalated=jnp.zeros(state.cost.shape, bool))


TIER1_ITER = 150   # iterations for the first rescue tier (a quarter of the chunk)
SAME_BASIN = 0.3   # runner-up within this of the best in every internal coordinate: same basin
TIER2_SIZE = 8     # batch size of the last tier (also the smallest bucket)
TIER1_MIN = 128    # fewer running spectra than this skip the first tier


def _host(state: LMState) -> LMState:
    return LMState(*(np.asarray(leaf) for leaf in state))


def _take(state: LMState, idx) -> LMState:
    return LMState(*(leaf[idx] for leaf in state))


def _put(state: LMState, idx, sub: LMState) -> LMState:
    out = LMState(*(leaf.copy() for leaf in state))
    for leaf, s in zip(out, sub):
        leaf[idx] = s
    return out


def _better(a: LMState, b: LMState) -> LMState:
    """Per spectrum, the state with the lower cost."""
    m = a.cost < b.cost
    return LMState(*(np.where(m.reshape((-1,) + (1,) * (u.ndim - 1)), u, v) for u, v in zip(a, b)))


def _groups(idx: np.ndarray, size: int):
    """Index groups of exactly ``size`` (the last one padded with repeats of idx[0])."""
    for lo in range(0, idx.shape[0], size):
        g = idx[lo:lo + size]
        if g.shape[0] < size:
            g = np.concatenate([g, np.full(size - g.shape[0], idx[0])])
        yield g


def _rescue_size(cfg: FitConfig, B: int, n: int) -> int:
    return max(1, int(round(cfg.rescue_frac * B))) if n > TIER1_MIN else min(TIER2_SIZE, B)


def _multistart(tree, cfg: FitConfig, starts, data, free, p_fixed) -> LMState:
    """Stages 1-3 for every spectrum from a list of (B, P) physical starting points."""
    lm = cfg.logmask
    lo, hi = data[4], data[5]
    tols = (cfg.ftol, cfg.xtol, cfg.gtol)
    B = p_fixed.shape[0]
    stage1 = []
    for p0 in starts:                      # loop over starting points, not spectra
        st = fresh_state(lm, p0, lo, hi, free, p_fixed)
        stage1.append(_host(lm_continue(tree, lm, st, *data, free, cfg.iter_stage1, *tols)))
    costs = np.stack([s.cost for s in stage1], axis=1)                      # (B, S)
    order = np.argsort(costs, axis=1, kind="stable")
    rows = np.arange(B)
    sorted_cost = costs[rows[:, None], order]
    st = None
    for j in range(min(cfg.keep, len(stage1))):
        pick = order[:, j]
        cand = LMState(*(np.stack(leaves, axis=1)[rows, pick] for leaves in zip(*stage1)))
        if st is None:
            st = _host(lm_continue(tree, lm, cand, *data, free, cfg.iter_stage2, *tols))
            continue
        # a runner-up continues only where it is close to the best after stage 1 (a
        # different basin of similar depth); gathered into rescue-size groups
        best0 = LMState(*(np.stack(leaves, axis=1)[rows, order[:, 0]] for leaves in zip(*stage1)))
        apart = np.max(np.abs(cand.x - best0.x), axis=1) > SAME_BASIN
        close = np.nonzero((sorted_cost[:, j] <= cfg.keep_ratio * sorted_cost[:, 0])
                           & apart)[0]
        size = _rescue_size(cfg, B, close.size)
        for idx in _groups(close, size):
            sub = _host(lm_rescue(tree, lm, _take(cand, idx), *(a[idx] for a in data), free,
                                  cfg.iter_stage2, *tols))
            st = _put(st, idx, _better(sub, _take(st, idx)))
    # stage 3: compaction tiers -- a quarter of the chunk for up to TIER1_ITER iterations,
    # then groups of TIER2_SIZE for the rest of the budget (a pathological spectrum then
    # costs 8 problems per iteration, not a whole chunk)
    remaining = cfg.iter_stage3
    for tier in (1, 2):
        running = np.nonzero(st.status == RUNNING)[0]
        if not running.size or remaining <= 0:
            break
        if tier == 1 and running.size <= TIER1_MIN:
            continue
        size = max(1, int(round(cfg.rescue_frac * B))) if tier == 1 else min(TIER2_SIZE, B)
        iters = min(TIER1_ITER, remaining) if tier == 1 else remaining
        remaining -= iters
        for idx in _groups(running, size):
            sub = _host(lm_rescue(tree, lm, _take(st, idx), *(a[idx] for a in data), free,
                                  iters, *tols))
            st = _put(st, idx, sub)
    return st


def _suspicious(out: FitOut, free, logmask, chi2_limit) -> np.ndarray:
    """(B,) bool: results that get more starts (see the module docstring)."""
    flag = (out.status == RUNNING) | (out.min_pivot < 1e-15) | ~np.isfinite(out.cost)
    # a positive (log-space) parameter at its bound or vanished (R, Q, L, tau -> 0): a
    # term switched off, the typical trace of a wrong basin.  An exponent at n = 1 is not
    # (a legitimate optimum, and frequent).
    positive = np.asarray(free) & np.asarray(logmask)
    flag |= np.any(out.at_bound & positive[None, :], axis=1)
    if chi2_limit is not None:
        flag |= 2.0 * out.cost > np.asarray(chi2_limit)
    return flag


def _escalate(tree, cfg: FitConfig, st: LMState, out: FitOut, flag, starts, pool, data, free,
              p_fixed) -> LMState:
    """Refit the flagged spectra from more starts (a tournament; the winner runs to the end
    of the budget).  Never worse than the result it replaces."""
    lm = cfg.logmask
    idx = np.nonzero(flag)[0]
    tols = (cfg.ftol, cfg.xtol, cfg.gtol)
    lo, hi = data[4], data[5]
    bad = out.at_bound[idx] & (np.asarray(free) & np.asarray(lm))[None, :]
    cands = []
    for p0 in starts:       # the result with its offending parameters from each start
        q = np.where(bad, p0[idx], out.p[idx])
        cands.append(q)
    cands += [p[idx] for p in pool]
    # a tournament like the first pass: every variant runs the first two stages' budget,
    # the best per spectrum continues with the rest (a full budget for every variant would
    # let one slow spectrum hold each group for the whole budget)
    short = cfg.iter_stage1 + cfg.iter_stage2
    size = _rescue_size(cfg, p_fixed.shape[0], idx.size)
    best = _take(st, idx)
    lead = None
    every = np.arange(idx.size)
    for q in cands:
        var = best
        for g in _groups(every, size):
            rows = idx[g]
            s0 = fresh_state(lm, q[g], lo[rows], hi[rows], free, p_fixed[rows])
            sub = _host(lm_rescue(tree, lm, s0, *(a[rows] for a in data), free, short, *tols))
            var = _put(var, g, sub)
        lead = var if lead is None else _better(var, lead)
    running = np.nonzero(lead.status == RUNNING)[0] if lead is not None else np.zeros(0, int)
    if running.size and cfg.iter_stage3 > 0:
        for g in _groups(running, size):
            rows = idx[g]
            sub = _host(lm_rescue(tree, lm, _take(lead, g), *(a[rows] for a in data), free,
                                  cfg.iter_stage3, *tols))
            lead = _put(lead, g, sub)
    if lead is not None:
        best = _better(lead, best)
    return _put(st, idx, best)


def fit_pipeline(tree, cfg: FitConfig, omega, Z, w_re, w_im, lo, hi, free, p_fixed, p_starts,
                 scans=(), scan_data=None, chi2_limit=None) -> FitOut:
    """Fit one chunk of spectra (all arrays already padded to the chunk size).

    Parameters
    ----------
    tree : static circuit tree;  cfg : static FitConfig
    omega : (B, F) rad/s;  Z : (B, F) complex128 ohm;  w_re, w_im : (B, F) weights (0 = unused)
    lo, hi : (B, P) bounds in internal (transformed) space
    free : (P,) bool;  p_fixed : (B, P) values used for fixed parameters (physical)
    p_starts : (B, S0, P) given physical starting points (user p0 / warm starts)
    scans : tuple of :class:`~fastfit.kernels._scan.ScanTables` (start scans)
    scan_data : (Z, wr2, wi2) of the chunk on the scans' common frequency grid
    chi2_limit : optional (B,) chi2 above which a result escalates (a multiple of what the
        spectrum's noise makes attainable)

    Returns
    -------
    FitOut
    """
    B, P = p_fixed.shape
    lm = cfg.logmask
    # the glue between the compiled programs runs in numpy: selecting and compacting
    # states with jnp would compile a dozen one-operation programs per shape
    omega, Z, w_re, w_im, lo, hi, free, p_fixed, p_starts = (
        np.asarray(a) for a in (omega, Z, w_re, w_im, lo, hi, free, p_fixed, p_starts))
    data = (omega, Z, w_re, w_im, lo, hi)
    starts = [p_starts[:, s, :] for s in range(p_starts.shape[1])]
    pool = []
    for tab in scans:
        p_sc = scan_starts(tab, scan_data, cfg.n_picks + cfg.n_escalate, P)
        starts += [p_sc[:, s] for s in range(cfg.n_picks)]
        pool += [p_sc[:, s] for s in range(cfg.n_picks, p_sc.shape[1])]
    if not starts:
        raise ValueError("fit_pipeline needs at least one start or scan")
    st = _multistart(tree, cfg, starts, data, free, p_fixed)
    out = _host_out(lm_finalize(tree, lm, st, omega, w_re, w_im, lo, hi, free))
    if not cfg.escalate:
        return out
    flag = _suspicious(out, free, lm, chi2_limit)
    if not flag.any():
        return out
    st = _escalate(tree, cfg, st, out, flag, starts, pool, data, free, p_fixed)
    out = _host_out(lm_finalize(tree, lm, st, omega, w_re, w_im, lo, hi, free))
    return out._replace(escalated=flag)


def _host_out(out: FitOut) -> FitOut:
    return FitOut(*(np.array(v) for v in out))
