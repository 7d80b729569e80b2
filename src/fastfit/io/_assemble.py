"""Flat per-point columns -> `SpectrumSeries`: splitting into spectra and padding.

Every reader ends here.  A reader hands over one row per measured point (frequency,
complex impedance already in the Z = Z' + jZ'' convention, optional channels such as
time, Ewe, I) plus whatever grouping the file states (loop / cycle / sequence columns,
explicit start rows).  This module

1. drops rows that are not impedance points (frequency <= 0 such as the DC rows of
   Parstat files, or non-finite values) and counts them;
2. splits the remaining rows into spectra: a new spectrum starts where a grouping
   column changes value, at an explicit start row, and where the frequency sweep
   restarts (the frequency jumps back against the sweep direction, or the direction
   reverses);
3. pads the ragged spectra into ``[N, F]`` arrays with one vectorised gather;
4. reports (never drops) incomplete spectra in ``meta['partial']``: a trailing
   spectrum with fewer points than the others, a sweep that stops short of the final
   frequency the file's settings state, or an aborted experiment.
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError, FileFormatError
from ..series import SpectrumSeries

__all__ = ["assemble", "SPLIT_MODES"]

SPLIT_MODES = ("auto", "loop", "sweep", "none")
_GROUP_KEYS = ("loop", "cycle", "Ns")
_MEAN_INFO = {"Ewe": "E_dc", "I": "I_dc", "Ewe_ac": "E_ac", "I_ac": "I_ac"}


def _changes(v: np.ndarray) -> np.ndarray:
    """(n,) bool: True where v differs from the previous row (NaN == NaN)."""
    v = np.asarray(v, np.float64)
    out = np.zeros(v.size, bool)
    if v.size > 1:
        a, b = v[1:], v[:-1]
        out[1:] = (a != b) & ~(np.isnan(a) & np.isnan(b))
    return out


def _sweep_starts(f: np.ndarray, forced: np.ndarray) -> np.ndarray:
    """Add sweep-restart boundaries to ``forced`` (bool, True at spectrum starts).

    The direction of a spectrum is the sign of its first non-zero frequency step; a
    step of the opposite sign starts a new spectrum at the point after it (a one-step
    jump back, as when the next sweep starts at the top frequency again) or, when a run
    of opposite steps follows, a new spectrum running the other way (direction
    reversal).  A single step back no larger than 1.5 median steps is taken as noise.
    Equal consecutive frequencies never split by themselves.  The loop runs over runs
    of equal step sign (about two per spectrum), not over points.
    """
    new = forced.copy()
    m = f.size
    if m < 2:
        return new
    dlog = np.diff(np.log10(f))
    s = np.sign(dlog)
    nz = np.abs(dlog[s != 0])
    big = 1.5 * float(np.median(nz)) if nz.size else 0.0
    brk = forced[1:]                                   # step i crosses a forced start
    change = np.ones(m - 1, bool)
    change[1:] = (s[1:] != s[:-1]) | brk[1:] | brk[:-1]
    rs = np.flatnonzero(change)
    re_ = np.append(rs[1:], m - 1)
    d = 0.0
    prev_zero_start = -1
    for a, b in zip(rs.tolist(), re_.tolist()):
        if brk[a]:
            d, prev_zero_start = 0.0, -1
            continue
        sa = s[a]
        if sa == 0:
            prev_zero_start = a
            continue
        if d == 0:
            d = sa
        elif sa != d and b - a == 1 and abs(dlog[a]) <= big and prev_zero_start < 0:
            pass                                       # one small step back: noise, not a restart
        elif sa != d:
            # a run of equal frequencies just before: the new spectrum starts on its 2nd point
            new[prev_zero_start + 1 if prev_zero_start >= 0 else a + 1] = True
            d = sa if (b - a) > 1 else 0.0
        prev_zero_start = -1
    return new


def _cut_off(f_first: np.ndarray, f_last: np.ndarray, sweep: dict) -> np.ndarray:
    """(N,) bool: the sweep started at the stated initial frequency (within 0.02
    decade) but stopped more than half a point step short of the stated final one."""
    fi, ff, nd = sweep.get("fi"), sweep.get("ff"), sweep.get("Nd")
    if not (fi and ff and fi > 0 and ff > 0) or fi == ff:
        return np.zeros(f_first.shape, bool)
    half = 0.5 / nd if nd and nd > 0 else 0.05
    started = np.abs(np.log10(f_first / fi)) <= 0.02
    short = np.log10(f_last / ff) if fi > ff else np.log10(ff / f_last)
    return started & (short > half)


def assemble(freq, Z, **kwargs) -> SpectrumSeries:
    """See `_assemble` (the implementation); floating-point warnings from corrupt
    values are silenced: such rows are dropped or kept as numbers."""
    with np.errstate(all="ignore"):
        return _assemble(freq, Z, **kwargs)


def _assemble(freq, Z, *, path, meta: dict, channels: dict | None = None,
             groups: dict | None = None, starts=None, split: str = "auto",
             sweep: dict | None = None, aborted: bool = False,
             expected_points: int | None = None, where: dict | None = None) -> SpectrumSeries:
    """Build a `SpectrumSeries` from one row per measured point.

    Parameters
    ----------
    freq : (n,) float, Hz
    Z : (n,) complex, ohm, already Z' + jZ'' (capacitive Z'' < 0)
    path : path-like
        Source file (messages and ``meta['source']``).
    meta : dict
        Series metadata from the reader; ``format`` must be set.
    channels : dict of (n,) float, optional
        Per-point channels in SI units: ``t`` (s), ``Ewe`` (V), ``I`` (A), ``Ewe_ac``,
        ``I_ac``...  They become ``points``; ``t`` also gives ``time``/``time_end``.
    groups : dict of (n,), optional
        Grouping columns (``loop``, ``cycle``, ``Ns``): a change starts a spectrum.
    starts : sequence of int, optional
        Row indices that start a spectrum (BioLogic loop module, Gamry tables...).
    split : {"auto", "loop", "sweep", "none"}
        "auto": groups, starts and sweep restarts; "loop": groups and starts only;
        "sweep": sweep restarts only; "none": one spectrum.
    sweep : dict, optional
        Stated sweep settings ``fi``, ``ff`` (Hz) and ``Nd`` (points/decade) used to
        flag cut-off sweeps.
    aborted : bool
        The file says the experiment was aborted: its last spectrum is partial.
    expected_points : int, optional
        Number of rows the file header announces; fewer rows mark the last spectrum
        partial.
    where : dict, optional
        ``line=`` or ``offset=`` of the data block, named when it holds no points.
    """
    if split not in SPLIT_MODES:
        raise DataError(f"split={split!r}: expected one of {', '.join(SPLIT_MODES)}")
    freq = np.asarray(freq, np.float64).reshape(-1)
    Z = np.asarray(Z, np.complex128).reshape(-1)
    n = freq.size
    channels = {k: np.asarray(v, np.float64).reshape(-1) for k, v in (channels or {}).items()}
    groups = {k: np.asarray(v, np.float64).reshape(-1) for k, v in (groups or {}).items()}

    keep = np.isfinite(freq) & (freq > 0) & np.isfinite(Z.real) & np.isfinite(Z.imag)
    m = int(keep.sum())
    if m == 0:
        raise FileFormatError(f"no impedance points ({n} rows, none with a positive "
                              "frequency and finite impedance)", path=path, **(where or {}))
    f = freq[keep]
    first = np.flatnonzero(_spectrum_starts(f, keep, groups, starts, split))
    N = first.size
    counts = np.diff(np.append(first, m))
    F = int(counts.max())
    col = np.arange(F)
    idx = first[:, None] + np.minimum(col[None, :], counts[:, None] - 1)
    mask = col[None, :] < counts[:, None]
    last = first + counts - 1

    points = {k: v[keep][idx] for k, v in channels.items()}
    if "t" in channels:
        t = channels["t"][keep]
        time, time_end = t[first], t[last]
    else:
        time = time_end = np.full(N, np.nan)
    info = _info(keep, first, counts, groups, channels)
    partial = _partial(counts, f[first], f[last], sweep,
                       aborted or (expected_points is not None and n < expected_points))
    meta = dict(meta)
    meta.setdefault("technique", "unknown")
    meta.setdefault("instrument", None)
    meta.setdefault("t0", None)
    meta["source"] = str(path)
    meta["partial"] = partial
    meta["n_rows"] = n
    meta["n_dropped_rows"] = n - m
    meta["split"] = split
    return SpectrumSeries(freq=f[idx], Z=Z[keep][idx], mask=mask, time=time,
                          time_end=time_end, meta=meta, info=info, points=points)


def _spectrum_starts(f: np.ndarray, keep: np.ndarray, groups: dict, starts,
                     split: str) -> np.ndarray:
    """(m,) bool over the kept rows: True where a spectrum starts (grouping columns and
    explicit starts, counted on all rows, then sweep restarts on the kept ones)."""
    n, m = keep.size, f.size
    new = np.zeros(n, bool)
    new[0] = True
    if split in ("auto", "loop"):
        for g in groups.values():
            new |= _changes(g)
        if starts is not None:
            st = np.asarray(starts, np.int64)
            new[st[(st >= 0) & (st < n)]] = True
    seg_all = np.cumsum(new)
    seg = seg_all[keep]
    forced = np.ones(m, bool)
    forced[1:] = seg[1:] != seg[:-1]
    if split in ("auto", "sweep"):
        forced = _sweep_starts(f, forced)
    if split == "none":
        forced = np.zeros(m, bool)
        forced[0] = True
    return forced


def _info(keep, first, counts, groups: dict, channels: dict) -> dict:
    """Per-spectrum info: index, n_points, grouping values, loop, mean DC channels."""
    N = first.size
    rows = np.flatnonzero(keep)
    info = {"index": np.arange(N), "n_points": counts.astype(np.int64)}
    for k in _GROUP_KEYS:
        if k in groups:
            v = groups[k][rows[first]]
            integral = np.isfinite(v).all() and (v == np.round(v)).all() and np.abs(v).max() < 2**62
            info[k] = v.astype(np.int64) if integral else v
    loop_src = next((k for k in _GROUP_KEYS if k in groups), None)
    info["loop"] = (info[loop_src] if loop_src else np.arange(N)).copy()
    for ch, name in _MEAN_INFO.items():
        if ch in channels:
            info[name] = np.add.reduceat(channels[ch][keep], first) / counts
    return info


def _partial(counts, f_first, f_last, sweep: dict | None, last_cut: bool) -> list[int]:
    """Sorted indices of incomplete spectra: a short trailing one, sweeps cut off before
    the stated final frequency, and the last one when ``last_cut``."""
    N = counts.size
    partial = set()
    if N >= 2 and counts[-1] < np.median(counts[:-1]):
        partial.add(N - 1)
    if sweep:
        partial.update(np.flatnonzero(_cut_off(f_first, f_last, sweep)).tolist())
    if last_cut:
        partial.add(N - 1)
    return sorted(partial)
