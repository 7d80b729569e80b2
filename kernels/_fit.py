"""The compiled LM programs of the batched fit and their configuration.

``lm_continue`` (the chunk-size program), ``lm_rescue`` (the same program under its own
name, for compacted batches), ``lm_report`` (covariance, bounds; numpy on the host),
``model_impedance`` (fitted impedance), ``lm_finalize`` (both) and the parameter
transforms; the host-side stages that drive them are in
:mod:`fastfit.kernels._pipeline` (multistart, then the moves of :mod:`._moves`).
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._circuit import eval_tree
from ._lm import LMState, lm_covariance, lm_fresh_state, lm_init_state, lm_iterate, vanished_params

__all__ = ["FitConfig", "FitOut", "to_internal", "to_physical", "lm_start",
           "lm_continue", "lm_rescue", "lm_finalize", "lm_report", "model_impedance",
           "fresh_state"]


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
    reloc_pairs: int = 0    # chained two-term moves for results still loose after the
                            # single moves (0: none)
    reloc_mid: int = 0      # further LM iterations of every relocation move still running
                            # after reloc_iter, before the winner is picked (0: none)
    loose_mask: tuple = ()  # (P,) bool: parameters whose looseness counts (() = all); a
                            # CPE's Q is left out, its error follows n's through the units
    move_twins: tuple = ()  # the same, tried with the relocation moves on loose results only
    twins: tuple = ()       # ((parameter indices, fn), ...): elements (or an element and
                            # its series resistor) whose result has twin starts (fn:
                            # physical (n, k) of those columns -> list of (n, k) points)
    late_twins: tuple = ()  # the same, tried on every result after the relocation moves
                            # (not before them: a result they change would take other
                            # moves), e.g. the smeared R||CPE arc (fastfit.fitting._arcs)
    twin_mid: int = 0       # further LM iterations of the twins (cfg.twins) still running
                            # after the short trip, before the winner is picked (0: none)
    late_mid: int = 0       # the same for the late twins (cfg.late_twins)
    exchange_twins: tuple = ()  # the same, tried on every result after the late twins,
                            # candidates still running after the short trip continuing
                            # reloc_iter more before the winner is picked (their way out
                            # is longer), e.g. two terms whose time constants traded
                            # places (fastfit.fitting._exchange)
    restarts: bool = False  # after escalation, results still above chi2_limit restart from
                            # themselves with an exponent reset or two swapped (_restarts)


class FitOut(NamedTuple):
    """Result of :func:`fit_pipeline` for one chunk (batch axis first).

    x : (B, P) internal parameters;  p : (B, P) physical parameters
    cost : (B,) 0.5 chi2;  status : (B,) int32 LM status code (``_lm``);  n_iter : (B,) int
    cov_x : (B, P, P) (J^T J)^-1 in internal space (0 for fixed or pinned parameters)
    at_bound : (B, P) bool, free parameter pinned at a bound or vanished
    min_pivot : (B,) smallest relative Cholesky pivot of J^T J (singular when tiny)
    Z_fit : (B, F) complex128, ohm, model at the data frequencies (None from
        :func:`lm_report`, between the pipeline's stages)
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
# escalation and relocation tournaments run the same LM program; the name stays for the
# call sites.  It was once a separate jit (compiled without LLVM's optimisation passes,
# which made the long tails of hard circuits 2.5x slower), then an identical copy under
# its own name; one jit object compiles each batch size once, and a small chunk, whose
# rescue batches are the chunk itself (``_states.rescue_size``), compiles one LM program
# instead of two (the 11-parameter three-arc circuit: 1.7 s less on a first call of 16
# spectra).
lm_rescue = lm_continue


def lm_report(logmask, state, w_re, w_im, lo, hi, free) -> FitOut:
    """What the pipeline reads from LM states between its stages, in numpy on the host:
    physical parameters, covariance of the free non-pinned parameters, pinned (at a bound
    or vanished) parameters and the relative minimum Cholesky pivot (:func:`lm_covariance`
    and :func:`vanished_params` with ``xp=numpy``).  ``Z_fit`` is left ``None``
    (:func:`model_impedance`, once per chunk at the end).

    J^T J is part of the LM state, so nothing here evaluates the model: it was a compiled
    program per chunk size, 0.6-0.85 s of compile each for 7 parameters (an unrolled
    Cholesky inverse), for work that takes 0.2-0.6 ms per 1,024 spectra in numpy.
    """
    state = LMState(*(np.asarray(v) for v in state))
    w_re, w_im, lo, hi, free = (np.asarray(a) for a in (w_re, w_im, lo, hi, free))
    n_res = np.sum(w_re > 0, axis=-1) + np.sum(w_im > 0, axis=-1)
    lm = np.asarray(logmask, bool)
    with np.errstate(all="ignore"):
        gone = vanished_params(state, lm, free, n_res, xp=np)
        cov_x, at_bound, piv = lm_covariance(state, lo, hi, free, gone, xp=np)
        p = np.where(lm, np.exp(np.where(lm, state.x, 0.0)), state.x)
    return FitOut(x=state.x, p=p, cost=state.cost, status=state.status, n_iter=state.n_iter,
                  cov_x=cov_x, at_bound=at_bound, min_pivot=piv, Z_fit=None,
                  escalated=np.zeros(state.cost.shape, bool))


@partial(jax.jit, static_argnums=(0,))
def model_impedance(tree, p, omega):
    """(B, F) complex128 model impedance (ohm) of physical parameters p (B, P) at omega
    (B, F) rad/s: the fitted spectra, one small program per chunk size."""
    Zf, _ = eval_tree(tree, [p[:, k][:, None] for k in range(p.shape[-1])], omega, False)
    return jnp.broadcast_to(Zf, (p.shape[0],) + omega.shape[-1:])


def lm_finalize(tree, logmask, state, omega, w_re, w_im, lo, hi, free) -> FitOut:
    """:func:`lm_report` with the fitted impedance ``Z_fit`` (numpy arrays)."""
    out = lm_report(logmask, state, w_re, w_im, lo, hi, free)
    return out._replace(Z_fit=np.asarray(model_impedance(tree, out.p, np.asarray(omega))))
