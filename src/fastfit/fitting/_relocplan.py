"""Relocation candidates of the fit engine: for every shaped top-level term, candidate
shapes on a finer grid than the start scans', grouped into time-constant bands; the
kernel (``fastfit.kernels.relocate_terms``) moves one term of a fitted result to the best
candidate of each band with every scale re-solved (docs/design-notes.md, "Generic start
search", step 4)."""
from __future__ import annotations

import numpy as np

from ._scanplan import (N_SCAN, Term, param_roles, spec_of, split_terms, static_shape,
                        term_candidates, term_log_tau, walk_elements)

__all__ = ["plan_relocation", "reloc_tables", "arc_like", "RELOC_BANDS", "RELOC_BANDS_DIFFUSION"]


# exponent grids of the relocation candidates (finer than the start scans': a relocated
# term must come close enough to fit better than the term it replaces)
RELOC_N = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
RELOC_TAIL_N = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
# dimensionless shape parameters without a role (a finite Gerischer's phi, Paasch's a):
# factors around their default
RELOC_OTHER = tuple(np.log(10.0) * np.array([-1.0, -0.5, 0.0, 0.5, 1.0]))


def arc_like(node, elements) -> bool:
    """Whether a term is built of resistors, capacitors, CPEs and inductors only (arcs,
    nested arcs; no diffusion element with a time constant or shape parameter of its own)."""
    return all(role in ("R", "Q", "n", "C", "L") for sym, _, _ in walk_elements(node)
               for role in param_roles(spec_of(elements, sym)))


def plan_relocation(tree, elements, freq_lo: float, freq_hi: float, fixed_vals=None,
                    step: float = 0.2, step_multi: float = 0.5, max_term: int = 800,
                    n_bands: int = 4) -> list:
    """Candidate shapes of every shaped term for relocation moves (``kernels.relocate_terms``):
    one term at a time, so each term's own grid can be fine.  The rows of both scan
    exponents (``N_SCAN``) are merged; grids coarsen until each term has at most
    ``max_term`` candidates.  Returns [(Term, band (C,) int32)] per shaped term: the
    band (0 .. n_bands-1) of each candidate's time constant in the window."""
    fixed_vals = fixed_vals or {}
    _, nodes = split_terms(tree)
    out = []
    for node in nodes:
        s, sm = step, step_multi
        for _ in range(40):
            rows = [term_candidates([node], elements, freq_lo, freq_hi, n, fixed_vals, s, sm,
                                    RELOC_N, RELOC_TAIL_N, RELOC_OTHER)[0] for n in N_SCAN]
            vals = np.unique(np.concatenate([t.vals for t in rows]), axis=0)
            if len(vals) <= max_term:
                break
            s, sm = s * 1.25, sm * 1.25
        t = rows[0]
        full = np.ones((len(vals), int(t.idx.max()) + 1))
        full[:, t.idx] = vals
        t = Term(node=t.node, idx=t.idx, vals=vals, power=t.power,
                 coords=np.zeros((len(vals), 0)), ptau=np.zeros(len(vals)), sig=t.sig,
                 tau_rule=t.tau_rule)
        # bands of the candidates' time constants (row order where a term has none)
        key = term_log_tau(t, full)
        order = np.argsort(key if np.all(np.isfinite(key)) else np.arange(len(vals)),
                           kind="stable")
        nb = n_bands if arc_like(node, elements) else min(n_bands, RELOC_BANDS_DIFFUSION)
        band = np.empty(len(vals), np.int32)
        band[order] = np.arange(len(vals)) * nb // len(vals)
        out.append((t, band))
    return out


# time-constant bands per term, one relocation move each: arc-like terms (R, C, CPE, L,
# nested) get RELOC_BANDS, terms with a diffusion element (W, Wo, G, T, ...) at most
# RELOC_BANDS_DIFFUSION.  Measured (scratch A/B, 400 spectra per family, seed 23,
# 2026-12-04; 4 bands for every term before): misses of three arcs 52 -> 36, two arcs +
# CPE tail 25 -> 16, nested 25 -> 22, two arcs 8 -> 6, Wo tail and Gerischer 0 and 2
# unchanged; fits/s 30-42 % lower on the arc families (twice the moves for the loose
# results), 10-19 % on the others.  Eight bands for every term halved the Warburg
# families' fits/s for no gain there; eight bands of which only the moves of lowest
# start chi2 (or of lowest chi2 after 10 LM iterations) ran cost nothing but lost
# basins (two arcs 9 -> 15 misses): the move that matters often does not look best early.
RELOC_BANDS = 8
RELOC_BANDS_DIFFUSION = 4


def reloc_tables(tree, elements, freq_lo: float, freq_hi: float, fixed_vals, n_params: int,
                 freq: np.ndarray, n_bands: int | None = None):
    """Relocation candidates (:func:`plan_relocation`) evaluated on the scan grid ``freq``
    (F,) Hz, as the kernel's :class:`~fastfit.kernels.RelocTables`."""
    from fastfit.kernels import RelocTables, term_shapes

    n_bands = RELOC_BANDS if n_bands is None else n_bands
    statics, _ = split_terms(tree)
    planned = plan_relocation(tree, elements, freq_lo, freq_hi, fixed_vals, n_bands=n_bands)
    omega = 2 * np.pi * np.asarray(freq, np.float64)
    V = (np.stack([static_shape(k, omega) for k, _ in statics]) if statics
         else np.zeros((0, omega.size), complex))
    terms = [t for t, _ in planned]
    Us = tuple(np.asarray(term_shapes(t.node, n_params, tuple(int(i) for i in t.idx), t.vals,
                                      omega)) for t in terms)
    return RelocTables(statics=statics, V=V, nodes=tuple(t.node for t in terms), omega=omega,
                       Us=Us, bands=tuple(b for _, b in planned), n_bands=n_bands,
                       term_bands=tuple(int(b.max()) + 1 for _, b in planned),
                       term_idx=tuple(tuple(int(i) for i in t.idx) for t in terms),
                       term_vals=tuple(t.vals for t in terms),
                       term_power=tuple(t.power for t in terms))
