"""Sign regions of a DRT with inductive features (``drt(..., sign="auto")``).

A low- or mid-frequency inductive loop (Im Z > 0 below the frequency of the last
capacitive point) is a negative contribution ``-R_k / (1 + j w tau_k)`` to the impedance:
in the DRT a negative peak.  ``auto`` constrains gamma to be non-negative where the
spectrum is capacitive and non-positive where it turns inductive, mapped to ln tau by
tau = 1/w, with the boundaries at the zero crossings of Im Z (linear in ln w between the
neighbouring points).  The part above the highest capacitive point (the high-frequency
inductance of cables and cell) stays positive: the series ``L`` models it.

A run of inductive points counts when it has at least ``MIN_RUN`` (3) points, its
largest Im Z exceeds ``THRESHOLD`` (2 %) times the largest capacitive -Im Z, and at one
of its points Im Z / |Z| exceeds ``NOISE_K`` (5) times the local noise of Im Z / |Z|
(1.4826 median |second difference| / sqrt 6 over 11 points): noise near Im Z = 0 at the
low-frequency end of a capacitive spectrum (which approaches the real axis) does not
flip a region.  Measured on 2,000 spectra each (71 points, 10 per decade): loop-free
``synthetic.drt_mixtures`` (0.1-1 % noise) get a negative region in 1.3 % of the cases
(43 % with the first two rules alone; 2 % with MIN_RUN = 2), ``synthetic.inductive_loops``
get one in 100 % (0.2 % noise) and 99.3 % (1 % noise).  A loop seen at fewer than three
points is left to the non-negative solution.  For one
capacitive process R1 at tau1 and one inductive R2 at tau2 (Debye), Im Z crosses 0 at
w_c = sqrt(R2/R1) / sqrt(tau1 tau2) (where R1 w tau1 = R2 / (w tau2)): between the two
time constants, half a decade per decade of R1/R2 away from their geometric midpoint.
Moving the boundary to the estimated midpoint (R1/R2 from the largest |Im Z| on either
side) was tried and made the peaks slightly worse on the test spectra (110 against 113
of 120 within 0.1 decade and 5 %), so the boundary is the crossing itself.  Processes
whose distributions overlap the other region (a broad ZARC next to a loop, less than
about 1.5 decades apart) lose that part to the constraint.  A Debye-like loop's
negative peak would need positive side lobes that its own region forbids; the solution
puts a bump of 10-15 % of the largest |gamma| against the boundary on the capacitive
side, which ``find_peaks`` recognises (it does not fall to half its height before the
wall) and does not report.
"""
from __future__ import annotations

import numpy as np

__all__ = ["auto_signs", "THRESHOLD", "MIN_RUN", "NOISE_K"]

THRESHOLD = 0.02
MIN_RUN = 3
NOISE_K = 5.0
NOISE_HALF_WINDOW = 5


def _runs(ind):
    """(k, n) run id of every True point (1, 2, ... per row; 0 outside runs)."""
    k, n = ind.shape
    start = ind & ~np.concatenate([np.zeros((k, 1), bool), ind[:, :-1]], axis=1)
    rid = np.cumsum(start, axis=1) * ind
    return rid


def _local_noise(y):
    """(k, n) local noise std of y (ascending frequency): 1.4826 median |second
    difference| / sqrt(6) over a window of ``2 NOISE_HALF_WINDOW + 1`` points (a smooth
    signal adds its curvature, so this errs high)."""
    d2 = np.abs(y[:, :-2] - 2 * y[:, 1:-1] + y[:, 2:])
    d2 = np.pad(d2, ((0, 0), (1 + NOISE_HALF_WINDOW, 1 + NOISE_HALF_WINDOW)), mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(d2, 2 * NOISE_HALF_WINDOW + 1, axis=1)
    return 1.4826 * np.median(win, axis=2) / np.sqrt(6.0)


def _inductive_points(im, absz):
    """(k, n) bool: points of qualifying inductive runs (ascending frequency order)."""
    k, n = im.shape
    cap_scale = np.max(np.maximum(-im, 0.0), axis=1, keepdims=True)
    thr = THRESHOLD * cap_scale
    cap = im < -thr
    has_cap = cap.any(axis=1)
    last_cap = np.where(has_cap, n - 1 - np.argmax(cap[:, ::-1], axis=1), -1)
    y = im / absz
    above_noise = y - NOISE_K * _local_noise(y)
    ind = im > 0
    rid = _runs(ind)
    key = (np.arange(k)[:, None] * (n + 1) + rid)[ind]
    size = k * (n + 1)
    count = np.bincount(key, minlength=size)
    peak = np.full(size, -np.inf)
    np.maximum.at(peak, key, im[ind])
    clear = np.full(size, -np.inf)
    np.maximum.at(clear, key, above_noise[ind])
    top = np.full(size, -1)
    np.maximum.at(top, key, np.broadcast_to(np.arange(n), (k, n))[ind])
    ok = (count >= MIN_RUN) & (peak > thr.repeat(n + 1)) & (clear > 0)
    ok &= top < np.repeat(last_cap, n + 1)
    ok = ok.reshape(k, n + 1)
    ok[:, 0] = False
    return np.take_along_axis(ok, rid, axis=1) & ind


def auto_signs(freq, Z, weight, log_tau) -> np.ndarray:
    """(k, T) +1 / -1: the constraint sign of every basis function centred at ``log_tau``
    (ln s) for spectra ``Z`` (k, F) on one grid ``freq`` (F,) Hz with row weights
    ``weight`` (F,) (0 = masked); see the module docstring."""
    used = np.nonzero(weight > 0)[0]
    order = used[np.argsort(freq[used])]
    u = np.log(2 * np.pi * freq[order])                       # ascending ln w
    im = np.asarray(Z)[:, order].imag
    k, n = im.shape
    ind = _inductive_points(im, np.abs(np.asarray(Z)[:, order]))
    # zero crossing of Im Z between points i-1 and i (i = 1..n-1), linear in ln w
    a, b = im[:, :-1], im[:, 1:]
    den = np.where(b != a, b - a, 1.0)
    t = np.clip(-a / den, 0.0, 1.0)
    uc = u[None, :-1] + t * (u[1:] - u[:-1])[None, :]
    # every qualifying run [i0, i1] -> the ln w interval (lo, hi) of a negative region
    prev = np.concatenate([np.zeros((k, 1), bool), ind[:, :-1]], axis=1)
    nxt = np.concatenate([ind[:, 1:], np.zeros((k, 1), bool)], axis=1)
    row, i0 = np.nonzero(ind & ~prev)
    _, i1 = np.nonzero(ind & ~nxt)                            # same order as the starts
    rid = np.cumsum(ind & ~prev, axis=1)
    peak_at = np.full((k, n + 1), -1)
    score = np.where(ind, im, -np.inf)
    for_run = np.where(ind, rid, 0)
    best = np.full((k, n + 1), -np.inf)
    np.maximum.at(best, (np.repeat(np.arange(k), n), for_run.ravel()), score.ravel())
    hit = ind & (score == np.take_along_axis(best, for_run, axis=1))
    np.maximum.at(peak_at, (np.nonzero(hit)[0], for_run[hit]), np.nonzero(hit)[1])
    u_peak = u[peak_at[row, rid[row, i0]]]
    lo = np.where(i0 == 0, -np.inf, np.minimum(uc[row, np.maximum(i0 - 1, 0)], u_peak))
    hi = np.maximum(uc[row, np.minimum(i1, n - 2)], u_peak)
    ub = -np.asarray(log_tau, np.float64)                     # basis centre as ln w
    inside = np.zeros((k, ub.size), bool)
    np.logical_or.at(inside, row, (ub[None, :] > lo[:, None]) & (ub[None, :] < hi[:, None]))
    return np.where(inside, -1.0, 1.0)
