"""Host-side (numpy) glue between the compiled LM programs: selecting, merging and
grouping LM states of a chunk, and the compaction sizes of the rescue tiers.  In numpy on
purpose: doing it with jnp would compile a dozen one-operation programs per shape."""
from __future__ import annotations

import numpy as np

from ._fit import FitConfig
from ._lm import LMState

__all__ = ["host_state", "take_rows", "put_rows", "better_of", "row_groups", "rescue_size",
           "TIER1_ITER", "TIER2_SIZE", "TIER1_MIN", "SMALL_CHUNK"]

TIER1_ITER = 150   # iterations for the first rescue tier (a quarter of the chunk)
TIER2_SIZE = 8     # batch size of the last tier (also the smallest bucket)
TIER1_MIN = 128    # fewer running spectra than this skip the first tier
SMALL_CHUNK = 16   # chunks up to this size run every stage on the whole chunk: compacting
                   # them saves little LM work and would compile a second LM program
                   # (three arcs, 16 spectra: first call 9.9 -> 8.3 s, warm 0.20 ->
                   # 0.24 s; at 64 the warm 64-spectra fit was 0.73 -> 1.20 s, its long
                   # tails then running 64 rows wide)


def host_state(state: LMState) -> LMState:
    return LMState(*(np.asarray(leaf) for leaf in state))


def take_rows(state: LMState, idx) -> LMState:
    return LMState(*(leaf[idx] for leaf in state))


def put_rows(state: LMState, idx, sub: LMState) -> LMState:
    out = LMState(*(leaf.copy() for leaf in state))
    for leaf, s in zip(out, sub):
        leaf[idx] = s
    return out


def better_of(a: LMState, b: LMState) -> LMState:
    """Per spectrum, the state with the lower cost."""
    m = a.cost < b.cost
    return LMState(*(np.where(m.reshape((-1,) + (1,) * (u.ndim - 1)), u, v) for u, v in zip(a, b)))


def row_groups(idx: np.ndarray, size: int):
    """Index groups of exactly ``size`` (the last one padded with repeats of its own first
    index: a group computes its padding rows from the same input as the row they copy, so
    a row never runs twice when the groups are processed one after another on one state)."""
    for lo in range(0, idx.shape[0], size):
        g = idx[lo:lo + size]
        if g.shape[0] < size:
            g = np.concatenate([g, np.full(size - g.shape[0], g[0])])
        yield g


def rescue_size(cfg: FitConfig, B: int, n: int) -> int:
    """Rows per compacted LM call for ``n`` running spectra of a chunk of ``B``."""
    if B <= SMALL_CHUNK:
        return B
    return max(1, int(round(cfg.rescue_frac * B))) if n > TIER1_MIN else min(TIER2_SIZE, B)
