"""The batched fit pipeline, as a few compiled programs shared by every stage.

starts: the best combinations of the start scans (``kernels._scan``, any circuit) and any
        given starting points (user p0, warm starts)
  -> stage 1: each start, a few LM iterations (one call per start, same shape)
  -> stage 2: the best ``keep`` starts of every spectrum continue a few more iterations;
     the best of them goes on
  -> stage 3 ("rescue"): the spectra still running are gathered into fixed-size batches
     (a quarter of the chunk, then groups of 8) and get the remaining budget
  -> twin moves (circuits with an element that has twins, e.g. Paasch's T): every result
     with that element's parameters replaced by each of its twins (other parameter
     vectors of nearly the same impedance) as a tournament; kept where better, and the
     improved results get the twins of their new parameters (up to TWIN_ROUNDS rounds);
     a result that relocation or escalation moves by more than TWIN_GAIN gets its new
     twins too (``cfg.twins`` empty: no twin moves)
  -> relocation: a result whose parameters the data determine loosely (a relative standard
     error above ``reloc_rel``, a parameter pinned, singular) gets relocation moves: each
     top-level term moved to the best candidate shape of each time-constant band, the
     other terms kept in shape and every scale re-solved linearly
     (``_scan.relocate_terms``); every move runs ``reloc_iter`` iterations, the best
     continues to the end of the budget and is kept where it fits better
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
from ._lm import (FTOL, RUNNING, LMState, lm_covariance, lm_fresh_state, lm_init_state,
                  lm_iterate, vanished_params)
from ._scan import RelocTables, ScanTables, relocation_starts, scan_combos, scan_starts

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
    relocate: bool = True   # relocation moves for loosely determined results
    reloc_rel: float = 0.2  # ... where a parameter's relative standard error exceeds this
    reloc_iter: int = 50    # LM iterations of every relocation start before the tournament
    loose_mask: tuple = ()  # (P,) bool: parameters whose looseness counts (() = all); a
                            # CPE's Q is left out, its error follows n's through the units
    twins: tuple = ()       # ((first index, n params, fn), ...): elements whose result has
                            # twin starts (fn: physical (n, k) -> list of (n, k) points)


class FitOut(NamedTuple):
    """Result of :func:`fit_pipeline` for one chunk (batch axis first).

    x : (B, P) internal parameters;  p : (B, P) physical parameters
    cost : (B,) 0.5 chi2;  status : (B,) int32 LM status code (``_lm``);  n_iter : (B,) int
    cov_x : (B, P, P) (J^T J)^-1 in internal space (0 for fixed or pinned parameters)
    at_bound : (B, P) bool, free parameter pinned at a bound or vanished
    min_pivot : (B,) smallest relative Cholesky pivot of J^T J (singular when tiny)
    Z_fit : (B, F) complex128, ohm, model at the data frequencies
    escalated : (B,) bool, the spectrum was refitted from more starts (relocation moves or
        escalation)
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


# The rescue stage (the spectra still running after stage 2, in compacted batches), the
# escalation and relocation tournaments run the same LM program under its own name, so
# its compiled sizes (a quarter of the chunk, groups of 8) stay apart from the chunk-size
# program.  It used to be compiled without LLVM's optimisation passes (1.0 s less compile
# on a first call), but on hard circuits (diffusion tails, nested or hidden arcs) 10-30 %
# of the spectra need 70-500 iterations, and the unoptimised code made those tails 2.5x
# slower: the whole fit of a two-arc family ran at 278 instead of 605 fits/s.
lm_rescue = jax.jit(lm_continue.__wrapped__, static_argnums=(0, 1))


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
TWIN_ROUNDS = 3    # twin-move rounds; each on the results the previous round improved
TWIN_GAIN = 1e-4   # ... by more than this relative chi2 (a basin change; 28 % of the T
                   # fits gain > 1e-6 from a twin, a polish of the same optimum; a T whose
                   # B went to 0 first moved 6e-4 to a basin whose twins held the truth)
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


def _tournament(tree, cfg: FitConfig, st: LMState, idx, make_cands, short: int, data, free,
                p_fixed) -> LMState:
    """Run the candidate starts of the spectra ``idx`` for ``short`` iterations each,
    continue the best per spectrum to the end of the budget, and keep it where it beats
    the state it would replace.  ``make_cands(rows)`` returns the candidates (a list of
    (len(rows), P) physical points) of chunk rows ``rows``.  Many spectra run on the whole
    chunk with the optimised program, a few in rescue-size groups."""
    lm = cfg.logmask
    tols = (cfg.ftol, cfg.xtol, cfg.gtol)
    lo, hi = data[4], data[5]
    B = p_fixed.shape[0]
    best = _take(st, idx)
    if B > 8 and idx.size > B // 2:
        # the whole chunk in one call per candidate; rows outside idx start frozen
        on = np.zeros(B, bool)
        on[idx] = True
        lead = None
        for q in make_cands(np.arange(B)):
            s0 = fresh_state(lm, q, lo, hi, free, p_fixed)
            s0 = s0._replace(status=np.where(on, s0.status, FTOL).astype(np.int32))
            var = _take(_host(lm_continue(tree, lm, s0, *data, free, short, *tols)), idx)
            lead = var if lead is None else _better(var, lead)
    else:
        size = _rescue_size(cfg, B, idx.size)
        lead = best
        for g in _groups(np.arange(idx.size), size):
            rows = idx[g]
            glead = None
            for q in make_cands(rows):
                s0 = fresh_state(lm, q, lo[rows], hi[rows], free, p_fixed[rows])
                sub = _host(lm_rescue(tree, lm, s0, *(a[rows] for a in data), free, short,
                                      *tols))
                glead = sub if glead is None else _better(sub, glead)
            if glead is not None:
                lead = _put(lead, g, glead)
    if lead is None:
        return st
    running = np.nonzero(lead.status == RUNNING)[0]
    remaining = max(cfg.iter_stage1 + cfg.iter_stage2 + cfg.iter_stage3 - short, 0)
    if running.size and remaining > 0:
        gsize = _rescue_size(cfg, B, running.size)
        for g in _groups(running, gsize):
            rows = idx[g]
            sub = _host(lm_rescue(tree, lm, _take(lead, g), *(a[rows] for a in data), free,
                                  remaining, *tols))
            lead = _put(lead, g, sub)
    return _put(st, idx, _better(lead, best))


def _physical_np(x, logmask):
    lm = np.asarray(logmask, bool)
    return np.where(lm, np.exp(np.where(lm, x, 0.0)), x)


def _escalate(tree, cfg: FitConfig, st: LMState, out: FitOut, flag, starts, pool, data, free,
              p_fixed) -> LMState:
    """Refit the flagged spectra from more starts (a tournament; the winner runs to the end
    of the budget).  Never worse than the result it replaces."""
    idx = np.nonzero(flag)[0]
    positive = (np.asarray(free) & np.asarray(cfg.logmask))[None, :]

    def make_cands(rows):
        # the result with its offending parameters from each start, then the scan pool
        bad = out.at_bound[rows] & positive
        return ([np.where(bad, p0[rows], out.p[rows]) for p0 in starts]
                + [p[rows] for p in pool])

    return _tournament(tree, cfg, st, idx, make_cands, cfg.iter_stage1 + cfg.iter_stage2,
                       data, free, p_fixed)


def _loose(out: FitOut, free, logmask, n_res, rel_max: float, mask=()) -> np.ndarray:
    """(B,) bool: results with a parameter that the data hardly determine (relative
    standard error above ``reloc_rel``), pinned at a bound, or not finite -- where another
    placement of a term may fit as well or better."""
    n_free = int(np.sum(free))
    s2 = 2.0 * out.cost / np.maximum(n_res - n_free, 1)
    var = np.diagonal(out.cov_x, axis1=1, axis2=2) * s2[:, None]
    lm = np.asarray(logmask, bool)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rel = np.where(lm[None, :], np.sqrt(var), np.sqrt(var) / np.abs(out.x))
    use = np.asarray(free, bool) & (np.asarray(mask, bool) if len(mask) else True)
    rel = np.where(use[None, :], rel, 0.0)
    return (~np.isfinite(out.cost) | out.at_bound.any(axis=1) | (out.min_pivot < 1e-15)
            | np.any(~(rel <= rel_max), axis=1))


def _twin_moves(tree, cfg: FitConfig, st: LMState, out: FitOut, rows, data, free,
                p_fixed) -> tuple[LMState, np.ndarray]:
    """The results of chunk rows ``rows`` with each twin element's parameters replaced by
    each of its twins (``cfg.twins``; ``fastfit.fitting._twins``) as a tournament.  Never
    worse than the result; returns the state and the (B,) rows a twin improved by more than
    ``TWIN_GAIN``."""
    p = np.asarray(out.p)

    def make_cands(rows):
        cands = []
        for first, k, fn in cfg.twins:
            for q in fn(p[rows, first:first + k]):
                c = p[rows].copy()
                c[:, first:first + k] = q
                cands.append(c)
        return cands

    before = np.asarray(st.cost).copy()
    st = _tournament(tree, cfg, st, np.asarray(rows), make_cands,
                     cfg.iter_stage1 + cfg.iter_stage2, data, free, p_fixed)
    # a basin change, not a polish of the same optimum (which most results get)
    return st, np.asarray(st.cost) < before * (1.0 - TWIN_GAIN)


def _relocate(tree, cfg: FitConfig, st: LMState, out: FitOut, flag, reloc: RelocTables,
              scan_data, data, free, p_fixed) -> LMState:
    """Relocation moves (``kernels._scan.relocate_terms``) for the flagged spectra: every
    term moved to the best candidate of each time-constant band, a tournament as in
    escalation.  Never worse than the result it replaces."""
    idx = np.nonzero(flag)[0]
    p = np.asarray(out.p)

    def make_cands(rows):
        return relocation_starts(reloc, p[rows], tuple(np.asarray(a)[rows] for a in scan_data))

    return _tournament(tree, cfg, st, idx, make_cands, cfg.reloc_iter, data, free, p_fixed)


def fit_pipeline(tree, cfg: FitConfig, omega, Z, w_re, w_im, lo, hi, free, p_fixed, p_starts,
                 scans=(), scan_data=None, chi2_limit=None, reloc=None) -> FitOut:
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
    reloc : optional :class:`~fastfit.kernels._scan.RelocTables`: relocation moves for
        results whose parameters the data determine loosely (``cfg.relocate``)

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
    moved = np.zeros(B, bool)      # spectra refitted from more starts (moves, escalation)
    twins = bool(cfg.twins)

    def twin_rounds(st, out, rows):
        # a result that moved to another basin has other twins: up to TWIN_ROUNDS rounds
        for _ in range(TWIN_ROUNDS if len(rows) else 0):
            st, better = _twin_moves(tree, cfg, st, out, rows, data, free, p_fixed)
            out = _host_out(lm_finalize(tree, lm, st, omega, w_re, w_im, lo, hi, free))
            rows = np.nonzero(better)[0]      # unchanged results would give the same twins
            if not rows.size:
                break
        return st, out

    if twins:
        cost0 = out.cost
        st, out = twin_rounds(st, out, np.arange(B))
        moved |= out.cost < cost0 * (1.0 - TWIN_GAIN)
    if cfg.relocate and reloc is not None:
        n_res = np.sum(w_re > 0, axis=-1) + np.sum(w_im > 0, axis=-1)
        loose = _loose(out, free, lm, n_res, cfg.reloc_rel, cfg.loose_mask)
        if cfg.escalate:    # what escalation would refit gets the moves first
            loose |= _suspicious(out, free, lm, chi2_limit)
        if loose.any():
            cost0 = out.cost
            st = _relocate(tree, cfg, st, out, loose, reloc, scan_data, data, free, p_fixed)
            out = _host_out(lm_finalize(tree, lm, st, omega, w_re, w_im, lo, hi, free))
            moved |= loose
            if twins:
                st, out = twin_rounds(st, out, np.nonzero(out.cost < cost0 * (1.0 - TWIN_GAIN))[0])
    if not cfg.escalate:
        return out._replace(escalated=moved)
    flag = _suspicious(out, free, lm, chi2_limit)
    if not flag.any():
        return out._replace(escalated=moved)
    cost0 = out.cost
    st = _escalate(tree, cfg, st, out, flag, starts, pool, data, free, p_fixed)
    out = _host_out(lm_finalize(tree, lm, st, omega, w_re, w_im, lo, hi, free))
    if twins:
        st, out = twin_rounds(st, out, np.nonzero(out.cost < cost0 * (1.0 - TWIN_GAIN))[0])
    return out._replace(escalated=flag | moved)


def _host_out(out: FitOut) -> FitOut:
    return FitOut(*(np.array(v) for v in out))
