"""The batched fit pipeline, as a few compiled programs shared by every stage.

starts (variable projection for chain circuits, and/or given starting points)
  -> stage 1: each start, a few LM iterations (one call per start, same shape)
  -> best start per spectrum; stage 2: continue
  -> stage 3 ("rescue"): the spectra still running are gathered into a fixed-size batch
     (a quarter of the chunk) and get the remaining budget; the rest is frozen
  -> covariance of the free, non-pinned parameters.

Staging with compaction makes multi-start affordable: all starts run only briefly, and
the long tail runs on a fraction of the batch (docs/design-notes.md, "Fit engine").
Every stage reuses the same two compiled LM programs (chunk size and rescue size), so a
fit compiles a fixed, small number of programs per (circuit, chunk size).
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._circuit import eval_tree
from ._lm import LMState, RUNNING, lm_covariance, lm_fresh_state, lm_init_state, lm_iterate
from ._varpro import varpro_starts

__all__ = ["FitConfig", "FitOut", "fit_pipeline", "to_internal", "to_physical", "lm_start",
           "lm_continue", "lm_rescue", "lm_finalize", "varpro"]


class FitConfig(NamedTuple):
    """Static configuration of the compiled fit programs."""

    logmask: tuple          # (P,) bool: parameter fitted as ln p
    chain: tuple | None     # variable-projection description, or None
    n_starts: int           # variable-projection starting points per spectrum and scan exponent
    iter_stage1: int
    iter_stage2: int
    iter_stage3: int
    rescue_frac: float
    ftol: float
    xtol: float
    gtol: float
    keep: int = 1           # starts carried from stage 1 into stage 2 (best by cost)


class FitOut(NamedTuple):
    """Result of :func:`fit_pipeline` for one chunk (batch axis first).

    x : (B, P) internal parameters;  p : (B, P) physical parameters
    cost : (B,) 0.5 chi2;  status : (B,) int32 LM status code (``_lm``);  n_iter : (B,) int
    cov_x : (B, P, P) (J^T J)^-1 in internal space (0 for fixed or pinned parameters)
    at_bound : (B, P) bool, free parameter pinned at a bound
    min_pivot : (B,) smallest relative Cholesky pivot of J^T J (singular when tiny)
    Z_fit : (B, F) complex128, ohm, model at the data frequencies
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
def lm_finalize(tree, logmask, state, omega, lo, hi, free):
    cov_x, at_bound, piv = lm_covariance(state, lo, hi, free)
    p = to_physical(state.x, logmask)
    Zf, _ = eval_tree(tree, [p[:, k][:, None] for k in range(p.shape[-1])], omega, False)
    Zf = jnp.broadcast_to(Zf, (p.shape[0],) + omega.shape[-1:])
    return FitOut(x=state.x, p=p, cost=state.cost, status=state.status,
                  n_iter=state.n_iter, cov_x=cov_x, at_bound=at_bound, min_pivot=piv, Z_fit=Zf)


varpro = jax.jit(varpro_starts, static_argnums=(0, 1, 9))

TIER1_ITER = 150   # iterations for the first rescue tier (a quarter of the chunk)
TIER2_SIZE = 8     # batch size of the last tier (also the smallest bucket)
TIER1_MIN = 128    # fewer running spectra than this skip the first tier (measured: ~4 % of
                   # paper-style spectra run past stage 2 and finish within ~15 iterations)


def _host(state: LMState) -> LMState:
    return LMState(*(np.asarray(leaf) for leaf in state))


def _take(state: LMState, idx) -> LMState:
    return LMState(*(leaf[idx] for leaf in state))


def _put(state: LMState, idx, sub: LMState) -> LMState:
    out = LMState(*(leaf.copy() for leaf in state))
    for leaf, s in zip(out, sub):
        leaf[idx] = s
    return out


def fit_pipeline(tree, cfg: FitConfig, omega, Z, w_re, w_im, lo, hi, free, p_fixed, p_starts,
                 log_tau, combos, n_block, omega_shared=None):
    """Fit one chunk of spectra (all arrays already padded to the chunk size).

    Parameters
    ----------
    tree : static circuit tree;  cfg : static FitConfig
    omega : (B, F) rad/s;  Z : (B, F) complex128 ohm;  w_re, w_im : (B, F) weights (0 = unused)
    lo, hi : (B, P) bounds in internal (transformed) space
    free : (P,) bool;  p_fixed : (B, P) values used for fixed parameters (physical)
    p_starts : (B, S0, P) extra physical starting points (user p0 / warm starts / generic)
    log_tau, combos : variable-projection grid (ignored when cfg.chain is None)
    n_block : list of scan exponent sets, each (K,) when shared by all spectra, else (B, K);
        the start scan runs once per set (e.g. n = 0.85 and n = 1)
    omega_shared : (F,) when every spectrum has the same grid (faster start scan)

    Returns
    -------
    FitOut
    """
    B, P = p_fixed.shape
    lm = cfg.logmask
    # the glue between the compiled programs runs in numpy: selecting and compacting
    # states with jnp would compile a dozen one-operation programs per shape (~0.3 s of
    # every process start even with the persistent cache)
    omega, Z, w_re, w_im, lo, hi, free, p_fixed, p_starts = (
        np.asarray(a) for a in (omega, Z, w_re, w_im, lo, hi, free, p_fixed, p_starts))
    data = (omega, Z, w_re, w_im, lo, hi)
    tols = (cfg.ftol, cfg.xtol, cfg.gtol)
    starts = [p_starts[:, s, :] for s in range(p_starts.shape[1])]
    if cfg.chain is not None:
        vp_om = omega if omega_shared is None else omega_shared
        for nb in n_block:
            p_vp, _ = varpro(cfg.chain, P, vp_om, Z, w_re, w_im, log_tau, combos, nb, cfg.n_starts)
            p_vp = np.asarray(p_vp)
            starts += [p_vp[:, s, :] for s in range(cfg.n_starts)]
    stage1 = []
    for p0 in starts:                      # loop over starting points, not spectra
        st = fresh_state(lm, p0, lo, hi, free, p_fixed)
        stage1.append(_host(lm_continue(tree, lm, st, *data, free, cfg.iter_stage1, *tols)))
    # stage 2: the best `keep` starts of every spectrum continue; the best of them goes on
    costs = np.stack([s.cost for s in stage1], axis=1)                      # (B, S)
    order = np.argsort(costs, axis=1, kind="stable")
    rows = np.arange(B)
    st = None
    for j in range(min(cfg.keep, len(stage1))):
        pick = order[:, j]
        cand = LMState(*(np.stack([getattr(s, f) for s in stage1], axis=1)[rows, pick]
                         for f in LMState._fields))
        cand = _host(lm_continue(tree, lm, cand, *data, free, cfg.iter_stage2, *tols))
        if st is None:
            st = cand
        else:
            better = cand.cost < st.cost
            st = LMState(*(np.where(better.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)
                           for a, b in zip(cand, st)))
    # stage 3: compaction tiers -- a quarter of the chunk for up to TIER1_ITER iterations,
    # then groups of TIER2_SIZE for the rest of the budget (a pathological spectrum then
    # costs 8 problems per iteration, not a whole chunk)
    remaining = cfg.iter_stage3
    for size, cap in ((max(1, int(round(cfg.rescue_frac * B))), TIER1_ITER),
                      (min(TIER2_SIZE, B), None)):
        running = st.status == RUNNING
        n_run = int(running.sum())
        if not n_run:
            break
        if cap is not None and n_run <= TIER1_MIN:
            continue          # few stragglers: groups of 8 are cheaper than a quarter
                              # chunk, and no program of another shape is compiled
        iters = remaining if cap is None else min(cap, remaining)
        if iters <= 0:
            continue
        remaining -= iters
        order = np.argsort(~running, kind="stable")
        for lo_i in range(0, n_run, size):
            idx = order[lo_i:lo_i + size]
            if idx.shape[0] < size:
                idx = np.concatenate([idx, order[:size - idx.shape[0]]])
            sub = _take(st, idx)
            sub = _host(lm_rescue(tree, lm, sub, *(a[idx] for a in data), free, iters, *tols))
            st = _put(st, idx, sub)
    return lm_finalize(tree, lm, st, omega, lo, hi, free)
