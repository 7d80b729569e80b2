"""Starting-point machinery for `fit`: chain detection for variable projection, the tau
grid, and generic data-scaled starts for circuits that are not chains."""
from __future__ import annotations

import itertools

import numpy as np

from .circuit import Circuit

__all__ = ["chain_of", "tau_grid", "generic_starts"]

_MAX_COMBOS = 700


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


def tau_grid(freq: np.ndarray, n_blocks: int):
    """ln(tau) grid covering the measured range +-0.5 decade, and ordered index tuples.

    The step (0.1, 0.2, 0.35 decade for 1, 2, 3 blocks) keeps the number of tuples below
    ~700 for a 6-decade spectrum.
    """
    f_hi, f_lo = float(np.max(freq)), float(np.min(freq))
    t_lo = np.log10(1.0 / (2 * np.pi * f_hi)) - 0.5
    t_hi = np.log10(1.0 / (2 * np.pi * f_lo)) + 0.5
    step = {1: 0.1, 2: 0.2, 3: 0.35}[n_blocks]
    while True:
        T = int(np.ceil((t_hi - t_lo) / step)) + 1
        combos = np.array(list(itertools.combinations(range(T), n_blocks)), np.int32)
        if len(combos) <= _MAX_COMBOS:
            break
        step *= 1.25
    return np.linspace(t_lo, t_hi, T) * np.log(10.0), combos


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
        rng = np.random.default_rng(seed)
        log = circuit.log_scale
        pert = rng.uniform(-np.log(10), np.log(10), (B, n_starts - 1, P))
        out[:, 1:, :] = np.where(log, out[:, 1:, :] * np.exp(pert), out[:, 1:, :])
        nlike = ~log
        out[:, 1:, nlike] = np.clip(rng.uniform(0.6, 1.0, (B, n_starts - 1, int(nlike.sum()))), 0, 1)
    return out
