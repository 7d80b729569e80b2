"""Starting points for `fit`: chain detection for variable projection, the tau grid,
generic data-scaled starts for circuits that are not chains, the start plan of a fit, and
the canonical order of interchangeable blocks."""
from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np

from ..circuit import Circuit

__all__ = ["chain_of", "tau_grid", "generic_starts", "StartPlan", "plan_starts",
           "canonical_permutation", "N_SCAN"]

# CPE/ZARC exponents used by the start scan: a typical dispersed arc, and the ideal
# capacitor limit (small ideal arcs are invisible to a scan at n = 0.85)
N_SCAN = (0.85, 1.0)

_MAX_COMBOS = 700
GRID_STEP = {1: 0.1, 2: 0.35, 3: 0.35}   # decades between scanned time constants


def _leaf(node):
    return node[0] == "E"


def chain_of(circuit: Circuit):
    """Variable-projection description of a chain circuit, or None.

    A chain is a series of R, L, C elements and blocks p(R, CPE), p(R, C), K, Zarc (at
    most 3 blocks).  Returns (statics, blocks) as used by kernels._varpro.
    """
    tree = circuit.tree
    items = tree[1] if tree[0] == "S" else (tree,)
    statics, blocks = [], []
    for node in items:
        if _leaf(node):
            kind, i = node[1], node[2]
            if kind in ("R", "L", "C"):
                statics.append((kind, i))
            elif kind == "K":
                blocks.append(("k", i, i + 1))
            elif kind == "Zarc":
                blocks.append(("zarc", i, i + 1, i + 2))
            else:
                return None
        elif node[0] == "P" and len(node[1]) == 2 and all(_leaf(c) for c in node[1]):
            kinds = {c[1]: c[2] for c in node[1]}
            if set(kinds) == {"R", "CPE"}:
                blocks.append(("rq", kinds["R"], kinds["CPE"], kinds["CPE"] + 1))
            elif set(kinds) == {"R", "C"}:
                blocks.append(("rc", kinds["R"], kinds["C"]))
            else:
                return None
        else:
            return None
    if not 1 <= len(blocks) <= 3:
        return None
    return tuple(statics), tuple(blocks)


def tau_grid(freq: np.ndarray, mask: np.ndarray, n_blocks: int, shared: bool):
    """ln(tau) grid covering each spectrum's measured range +-0.5 decade, and the ordered
    index tuples.  Returns log_tau (T,) for a shared frequency grid, else (B, T): every
    spectrum gets a grid over its own range, so a spectrum's starts do not depend on the
    other spectra in the batch.

    The step (0.1, 0.35, 0.35 decade for 1, 2, 3 blocks) keeps the number of tuples below
    ~700 for a 6-decade spectrum; for pairs, 0.35 finds the same optima as finer grids with
    fewer tuples (measurements: benchmarks/README.md, "Tuning history").
    """
    fm = np.where(mask, freq, np.nan)
    f_hi, f_lo = np.nanmax(fm, axis=1), np.nanmin(fm, axis=1)
    t_lo = np.log10(1.0 / (2 * np.pi * f_hi)) - 0.5
    t_hi = np.log10(1.0 / (2 * np.pi * f_lo)) + 0.5
    span = float(np.max(t_hi - t_lo))
    step = GRID_STEP[n_blocks]
    while True:
        T = int(np.ceil(span / step)) + 1
        combos = np.array(list(itertools.combinations(range(T), n_blocks)), np.int32)
        if len(combos) <= _MAX_COMBOS:
            break
        step *= 1.25
    grid = np.linspace(0.0, 1.0, T)[None, :] * (t_hi - t_lo)[:, None] + t_lo[:, None]
    grid = grid * np.log(10.0)
    return (grid[0] if shared else grid), combos


def generic_starts(circuit: Circuit, freq: np.ndarray, Z: np.ndarray, mask: np.ndarray,
                   n_starts: int, seed: int = 0) -> np.ndarray:
    """(B, n_starts, P) starting points scaled to each spectrum, for any circuit.

    Resistances share the spread of Re(Z); time constants are spread over the measured
    range in string order; capacitances/CPE Q follow from tau and the resistance scale;
    further starts are log-uniform perturbations (+-1 decade) of the first.
    """
    B = Z.shape[0]
    names = circuit.param_names
    P = len(names)
    zre = np.where(mask, Z.real, np.nan)
    zabs = np.where(mask, np.abs(Z), np.nan)
    r_hf = np.nanmin(zre, axis=1)
    r_lf = np.nanmax(zre, axis=1)
    scale = np.nanmax(zabs, axis=1)
    span = np.maximum(r_lf - np.maximum(r_hf, 0), 1e-3 * scale)
    w = 2 * np.pi * np.where(mask, freq, np.nan)
    lw_hi, lw_lo = np.log(np.nanmax(w, axis=1)), np.log(np.nanmin(w, axis=1))
    kinds = [n.partition("_")[0].rstrip("0123456789") for n in names]
    suffix = [n.partition("_")[2] for n in names]
    n_r = sum(1 for k, s in zip(kinds, suffix) if s in ("", "R") and k in ("R", "Wo", "Ws", "G", "K", "Zarc", "HN"))
    taus = [i for i, s in enumerate(suffix) if s == "tau"] + \
           [i for i, (k, s) in enumerate(zip(kinds, suffix)) if (k, s) in (("CPE", "Q"), ("C", ""))]
    taus = sorted(taus)
    tau_of = {}
    for j, i in enumerate(taus):
        frac = (j + 0.5) / len(taus)
        tau_of[i] = np.exp(-(lw_hi + frac * (lw_lo - lw_hi)))
    R_each = span / max(n_r, 1)
    p = np.zeros((B, P))
    for i, (k, s) in enumerate(zip(kinds, suffix)):
        if s in ("n", "phi", "alpha", "beta"):
            p[:, i] = 0.85
        elif s == "tau":
            p[:, i] = tau_of[i]
        elif (k, s) == ("CPE", "Q"):
            p[:, i] = tau_of[i] ** 0.85 / R_each
        elif (k, s) == ("C", ""):
            p[:, i] = tau_of[i] / R_each
        elif k in ("L", "La"):
            p[:, i] = 1e-7
        elif k == "W":
            p[:, i] = span * np.exp(0.5 * lw_lo)
        elif k == "R" and i == 0:
            p[:, i] = np.maximum(r_hf, 1e-3 * scale)
        else:
            p[:, i] = R_each
    out = np.repeat(p[:, None, :], n_starts, axis=1)
    if n_starts > 1:
        # further starts: every time constant log-uniform over the measured range, every
        # resistance-like scale log-uniform over [1e-2, 1] x the span of Re(Z), exponents
        # uniform in [0.6, 1]; derived capacitances follow from the sampled tau and R
        rng = np.random.default_rng(seed)
        S = n_starts - 1
        u = rng.uniform(0.0, 1.0, (B, S, P))
        lt = -(lw_hi[:, None, None] + (u * 1.4 - 0.2) * (lw_lo - lw_hi)[:, None, None])
        tau = np.exp(lt)
        Rs = span[:, None, None] * 10 ** rng.uniform(-2.0, 0.0, (B, S, P))
        nn = rng.uniform(0.6, 1.0, (B, S, P))
        q = out[:, 1:, :]
        for i, (k, sfx) in enumerate(zip(kinds, suffix)):
            if sfx in ("n", "phi", "alpha", "beta"):
                q[..., i] = nn[..., i]
            elif sfx == "tau":
                q[..., i] = tau[..., i]
            elif (k, sfx) == ("CPE", "Q"):
                q[..., i] = tau[..., i] ** nn[..., i] / Rs[..., i]
            elif (k, sfx) == ("C", ""):
                q[..., i] = tau[..., i] / Rs[..., i]
            elif k in ("L", "La"):
                q[..., i] = 1e-7 * 10 ** rng.uniform(-2, 1, (B, S))
            elif k == "W":
                q[..., i] = Rs[..., i] * np.exp(0.5 * lw_lo)[:, None]
            else:
                q[..., i] = Rs[..., i]
        out[:, 1:, :] = q
    return out

def _block_log_tau(kind, idx, p):
    """ln of the time constant (s) of a chain block from physical parameters p (B, P)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "rq":
            R, Q, n = p[:, idx[1]], p[:, idx[2]], p[:, idx[3]]
            out = np.log(R * Q) / np.maximum(n, 1e-6)
        elif kind == "rc":
            out = np.log(p[:, idx[1]] * p[:, idx[2]])
        else:
            out = np.log(p[:, idx[2]])  # k, zarc: tau parameter
    return np.nan_to_num(out, nan=np.inf)


def canonical_permutation(chain, params: np.ndarray, fixed: np.ndarray) -> np.ndarray | None:
    """(B, P) parameter permutation putting same-kind chain blocks in ascending tau.

    Blocks of one kind are interchangeable (the model is symmetric under swapping them),
    so a fit may return them in any order; fastfit reports them fastest first (R1 is the
    high-frequency arc), which keeps labels stable along a series.  Blocks with fixed
    parameters are left in place.  Returns None when nothing can move.
    """
    if chain is None:
        return None
    _, blocks = chain
    B, P = params.shape
    perm = np.tile(np.arange(P), (B, 1))
    moved = False
    for kind in {b[0] for b in blocks}:
        group = [b for b in blocks if b[0] == kind and not any(fixed[list(b[1:])])]
        if len(group) < 2:
            continue
        taus = np.stack([_block_log_tau(kind, b, params) for b in group], axis=1)   # (B, G)
        order = np.argsort(taus, axis=1, kind="stable")
        for slot, blk in enumerate(group):
            for pos in range(1, len(blk)):
                src_idx = np.array([g[pos] for g in group])[order[:, slot]]
                perm[:, blk[pos]] = src_idx
        moved = moved or bool(np.any(order != np.arange(len(group))))
    return perm if moved else None


class StartPlan(NamedTuple):
    """Where the starting points of a fit come from (inputs of ``kernels.fit_pipeline``).

    chain : variable-projection description (:func:`chain_of`), or None
    log_tau : (T,) or (B, T) ln(tau/s) scan grid (zeros(2) without a chain)
    combos : (K, n_blocks) int32 index tuples of the grid
    n_blocks : list, one set of block exponents per scan, (n_blocks,) shared or (B, n_blocks)
    vp_starts : int, starts kept from each scan
    p_starts : (B, S, P) float64, physical starting points given directly (user p0, warm
        starts, generic starts)
    """

    chain: tuple | None
    log_tau: np.ndarray
    combos: np.ndarray
    n_blocks: list
    vp_starts: int
    p_starts: np.ndarray


def _scan_exponents(chain, problem) -> list:
    """One exponent set per value of N_SCAN; a fixed block exponent keeps its value."""
    B = problem.n_spectra
    out = []
    for n_scan in N_SCAN:
        nb = np.ones((B, len(chain[1])))
        for k, blk in enumerate(chain[1]):
            if blk[0] in ("rq", "zarc"):
                i_n = blk[3]
                nb[:, k] = problem.p_fixed[:, i_n] if problem.fixed[i_n] else n_scan
        # shared exponents (K,): GEMM path in the start scan
        out.append(nb[0] if np.all(nb == nb[:1]) else nb)
    return out


def plan_starts(problem, starts: int, extra_starts=None) -> StartPlan:
    """The start plan of ``problem`` (a :class:`~fastfit.fitting.FitProblem`).

    Chain circuits get ``ceil(starts / 2)`` starts from each of the two variable-projection
    scans (exponents ``N_SCAN``); other circuits ``max(4 starts, 8)`` generic starts.  The
    user's ``p0`` comes first and ``extra_starts`` (B, S, P) last.
    """
    c, batch = problem.circuit, problem.batch
    B, P = batch.n_spectra, c.n_params
    chain = chain_of(c)
    if chain is not None and any(problem.fixed[[blk[1] for blk in chain[1]]]):
        chain = None  # a fixed block resistance breaks the linear projection
    if chain is not None:
        log_tau, combos = tau_grid(batch.freq, batch.mask, len(chain[1]), batch.shared_freq)
        n_blocks = _scan_exponents(chain, problem)
        vp_starts = max(1, -(-starts // len(N_SCAN)))
        p_starts = np.zeros((B, 0, P))
    else:
        log_tau, combos, n_blocks, vp_starts = np.zeros(2), np.zeros((1, 1), np.int32), [], 1
        p_starts = generic_starts(c, batch.freq, batch.Z, batch.mask, max(4 * starts, 8))
    if problem.have_p0:
        p_starts = np.concatenate([problem.p_fixed[:, None, :], p_starts], axis=1)
    if extra_starts is not None:
        extra = np.asarray(extra_starts, np.float64).reshape(B, -1, P)
        p_starts = np.concatenate([p_starts, extra], axis=1)
    return StartPlan(chain, log_tau, combos, n_blocks, vp_starts, p_starts)
