"""Spectra of one batch grouped by their measured window, so that each is fitted as it
would be alone.

The start search is planned over the batch's frequency window: the scan's time-constant
grids, the relocation bands and the diffusion elements' slow candidates span it, the
scan interpolates every spectrum onto one log grid over it, and the attainable chi2's
lin-KK model takes as many time constants as its widest spectrum needs.  In a batch of
spectra from different instruments or settings, a spectrum's fit then depended on its
batch-mates: ten spectra of hybriddrt Sample2 (10 mHz - 7 MHz) fitted with
``R0-p(R1-Wo1,CPE1)`` ended 4-8e-5 above the best of 20 scipy starts inside the bundled
real files' 42 spectra (windows 0.1 mHz - 7 MHz) and at it when fitted alone.  The fit
driver therefore fits each group of spectra with (nearly) the same window as a batch of
its own (:func:`window_groups`); a batch from one instrument setting stays one group, also
when lin-KK masks drop a few points at its ends.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

__all__ = ["window_groups", "group_problem", "merge_rows", "WINDOW_TOL", "MAX_GROUPS"]

WINDOW_TOL = 0.5       # decades: a group's spectra have their lowest (and highest) used
                       # frequencies within this of each other
MAX_GROUPS = 8         # more groups than this: the tolerance doubles until they fit (each
                       # group plans its own starts, and a window of another width
                       # compiles its own scan and relocation programs, ~1-3 s each)


def window_groups(batch) -> list[np.ndarray]:
    """Row indices (ascending) of the spectra of ``batch`` measured over the same window:
    spectra are taken in order of their lowest used frequency into the first group whose
    lowest and highest used frequencies (log10) all stay within ``WINDOW_TOL`` decades of
    theirs (doubled while there are more than ``MAX_GROUPS`` groups).  One group when the
    batch shares one frequency grid, or when masks only drop a few points at the ends
    (the usual lin-KK masks); groups in the order of their first row."""
    B = batch.n_spectra
    if batch.shared_freq or B == 1:
        return [np.arange(B)]
    fm = np.where(batch.mask, batch.freq, np.nan)
    ends = np.log10(np.stack([np.nanmin(fm, axis=1), np.nanmax(fm, axis=1)], axis=1))
    # distinct windows only (to 1e-6 decade): a long series has few
    windows, inverse = np.unique(np.round(ends, 6), axis=0, return_inverse=True)
    tol = WINDOW_TOL
    while True:
        label = _cluster(windows, tol)[inverse.reshape(-1)]
        if label.max() < MAX_GROUPS:
            break
        tol *= 2.0
    first = [np.nonzero(label == g)[0] for g in range(label.max() + 1)]
    return sorted(first, key=lambda rows: rows[0])


def _cluster(ends: np.ndarray, tol: float) -> np.ndarray:
    """(B,) group label of every row of ``ends`` (B, 2): greedy, rows by ascending lower
    end; a row joins the first group whose ends' spans stay within ``tol`` with it."""
    label = np.empty(ends.shape[0], np.int64)
    spans: list[list[float]] = []          # per group: min/max of the low and high ends
    for i in np.lexsort((ends[:, 1], ends[:, 0])):
        lo, hi = ends[i]
        for g, (a, b, c, d) in enumerate(spans):
            if max(b, lo) - min(a, lo) <= tol and max(d, hi) - min(c, hi) <= tol:
                spans[g] = [min(a, lo), max(b, lo), min(c, hi), max(d, hi)]
                label[i] = g
                break
        else:
            label[i] = len(spans)
            spans.append([lo, lo, hi, hi])
    return label


def group_problem(problem, rows: np.ndarray):
    """The :class:`FitProblem` of the spectra ``rows``, its batch marked as sharing one
    frequency grid where those rows do (their padded frequencies and masks equal)."""
    sub = problem.rows(rows)
    b = sub.batch
    shared = bool(np.all(b.freq == b.freq[:1]) and np.all(b.mask == b.mask[:1]))
    return replace(sub, batch=replace(b, shared_freq=shared))


def merge_rows(parts: list, groups: list[np.ndarray], n: int):
    """One NamedTuple of (n, ...) arrays from the groups' NamedTuples ``parts`` (rows of
    group g at ``groups[g]``)."""
    first = parts[0]
    out = []
    for k, name in enumerate(first._fields):
        v0 = np.asarray(first[k])
        full = np.empty((n,) + v0.shape[1:], v0.dtype)
        for part, rows in zip(parts, groups):
            full[rows] = np.asarray(part[k])
        out.append(full)
    return type(first)(*out)
