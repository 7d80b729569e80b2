"""Streaming spectrum assembler: points in, complete spectra out, as early as possible.

The boundaries are the ones the file readers find in bulk (`fastfit.io._assemble`), decided
point by point:

* a change of a grouping value (``loop``, ``cycle``, ``Ns``), also on a row that is itself
  dropped (frequency <= 0 or non-finite values, e.g. the DC rows some exports interleave);
* a frequency-sweep restart: a step against the sweep direction starts a new spectrum at
  the point after it (or at the second point of a run of equal frequencies just before
  it); a *single* backward step no larger than 1.5 median steps is measurement noise.
  Bulk reading takes the median over the whole file; here it is the median of the steps
  seen so far (``noise_step`` fixes the threshold instead).  A small backward step is
  therefore only decided when the next point shows whether the sweep turned round;
* optionally (``gap_s``), a gap in the time channel longer than ``gap_s`` seconds;
* a point flagged ``last`` by its sender.

A spectrum is normally complete when the first point of the next one arrives.  With
``early=True`` it is emitted as soon as its last point arrives: when it has the point
count and end frequencies of the previous complete sweep (the *template*), or reaches the
final frequency the file header states (``sweep`` = {fi, ff, Nd}).  If the next point
then turns out to continue that sweep, the assembler reports it in ``notices`` and starts
a new spectrum (the only case where streaming and bulk reading can differ).

Aborted sweeps: a spectrum that starts where the template (or the stated sweep) starts
but stops more than half a step short of its end is *partial*.  Partial spectra that
another sweep has definitely followed are emitted with ``partial=True`` (stored, not
fitted); a partial spectrum pending when the stream stops is returned by
`Assembler.finish` as incomplete unless the stop is final (the source may continue it).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace

import numpy as np

from ..io.parsing import assemble
from ..series import SpectrumSeries
from ._points import CHANNELS, GROUPS, Point, finite_point

__all__ = ["Assembler", "Assembled"]


@dataclass(frozen=True, eq=False)
class Assembled:
    """One spectrum cut from the point stream.

    Attributes
    ----------
    series : SpectrumSeries with one spectrum (info ``index`` = position in the source)
    index : int, 0-based position of the spectrum in its source
    partial : bool, the sweep stopped short (stored but not fitted)
    reason : str, what completed it: "boundary" (next sweep began), "template" / "sweep"
        (reached the expected end), "marked" (point flagged ``last``), "end" (stream end)
    arrival : float, time.monotonic() at which its last point arrived
    """

    series: SpectrumSeries
    index: int
    partial: bool
    reason: str
    arrival: float

    @property
    def n_points(self) -> int:
        return int(self.series.mask.sum())


def _differ(a: dict, b: dict) -> bool:
    for k in set(a) | set(b):
        x, y = a.get(k, math.nan), b.get(k, math.nan)
        if x != y and not (math.isnan(x) and math.isnan(y)):
            return True
    return False


class Assembler:
    """Cut a stream of :class:`~fastfit.stream.Point` into spectra.

    Parameters
    ----------
    meta : dict
        Series metadata of the source (format, technique, t0, source name...).
    sweep : dict, optional
        Stated sweep ``fi``, ``ff`` (Hz) and ``Nd`` (points per decade).
    gap_s : float, optional
        Start a new spectrum when the time channel jumps by more than this (s).
    noise_step : float, optional
        Largest single backward step (decades of frequency) taken as noise; default
        1.5 x the median step seen so far, as the bulk readers do over a whole file.
    early : bool
        Emit a spectrum as soon as it matches the template / stated sweep.
    """

    def __init__(self, meta: dict | None = None, sweep: dict | None = None, *,
                 gap_s: float | None = None, noise_step: float | None = None,
                 early: bool = True):
        self.meta = dict(meta or {})
        self.sweep = dict(sweep) if sweep else None
        self.gap_s = gap_s
        self.noise_step = noise_step
        self.early = early
        self.notices: list[str] = []
        self.n_dropped = 0
        self.n_duplicates = 0
        self.reset()

    # ----------------------------------------------------------------- state
    def reset(self) -> None:
        """Forget everything: the next point starts spectrum 0 of a new source generation."""
        self.index = 0
        self._pts: list[Point] = []
        self._arr: list[float] = []
        self._seen: set = set()
        self._k = 0                   # kept points so far (absolute position of the next)
        self._base = 0                # absolute position of _pts[0]
        self._last_groups: dict | None = None
        self._forced = False
        self._prev_lf: float | None = None
        self._last_t = math.nan
        self._d = 0.0
        self._zero_pos: int | None = None
        self._run: float | None = None
        self._pend: tuple | None = None
        self._steps: deque = deque(maxlen=4096)
        self._counts: deque = deque(maxlen=64)
        self._template: tuple | None = None
        self._early_base: int | None = None

    @property
    def pending(self) -> int:
        """Points waiting in the current, not yet complete spectrum."""
        return len(self._pts)

    def _big(self) -> float:
        if self.noise_step is not None:
            return float(self.noise_step)
        return 1.5 * float(np.median(np.fromiter(self._steps, float))) if self._steps else 0.0

    def _end_run(self) -> None:
        """The previous run of equal-sign steps ended: resolve what waited on its length."""
        if self._pend is None:
            return
        kind, a, b = self._pend
        if kind == "amb":             # a single small backward step: noise
            if a == self._early_base:
                self._conflict(a)
        else:                         # a one-step jump: direction unknown again
            self._d = 0.0
        self._pend = None

    def _conflict(self, pos: int) -> None:
        self.notices.append(f"spectrum {self.index - 1}: a point arrived after its sweep was "
                            "complete and continues it; it starts a new spectrum")
        self._early_base = None

    # ------------------------------------------------------------------ push
    def push(self, p: Point, arrival: float) -> list[Assembled]:
        """Add one point; return the spectra it completes (usually none)."""
        if self._last_groups is not None and _differ(p.groups, self._last_groups):
            self._forced = True
        self._last_groups = p.groups
        if not finite_point(p):
            self.n_dropped += 1
            return []
        t = p.channels.get("t", math.nan)
        key = (p.freq, p.Z, t)
        if key in self._seen:
            self.n_duplicates += 1
            return []
        if (self.gap_s is not None and math.isfinite(t) and math.isfinite(self._last_t)
                and abs(t - self._last_t) > self.gap_s):
            self._forced = True
        lf = math.log10(p.freq)
        pos = self._k
        split = self._step(lf, pos) if self._prev_lf is not None else None
        self._forced = False
        self._prev_lf, self._last_t = lf, t
        self._pts.append(p)
        self._arr.append(arrival)
        self._seen.add(key)
        self._k += 1
        out: list[Assembled] = []
        if split is not None:
            out += self._split_at(split)
        if self._early_base == pos and split != pos and not (
                self._pend is not None and self._pend[0] == "amb" and self._pend[1] == pos):
            self._conflict(pos)
        if p.last:
            out += self._emit(len(self._pts), "marked")
        elif self.early and self._pend is None:
            reason = self._expected_end()
            if reason:
                out += self._emit(len(self._pts), reason)
                self._early_base = self._k
        return out

    def _step(self, lf: float, pos: int) -> int | None:
        """Sweep-restart rules (see module docstring) for the step into point ``pos``;
        returns the absolute position where a new spectrum starts, if any."""
        dl = lf - self._prev_lf
        s = float(np.sign(dl))
        if s != 0:
            self._steps.append(abs(dl))
        if self._forced:
            self._end_run()
            self._d, self._zero_pos, self._run = 0.0, None, None
            return pos
        split = None
        if self._run is not None and s == self._run:          # the run goes on
            if self._pend is not None:
                kind, a, sign = self._pend
                if kind == "amb":
                    split = a
                self._d = sign
                self._pend = None
            return split
        self._end_run()
        if s == 0:
            self._zero_pos = pos
        elif self._d == 0:
            self._d, self._zero_pos = s, None
        elif s != self._d:
            if self._zero_pos is not None:
                split, self._pend = self._zero_pos, ("dafter", None, s)
            elif abs(dl) > self._big():
                split, self._pend = pos, ("dafter", None, s)
            else:
                self._pend = ("amb", pos, s)
            self._zero_pos = None
        else:
            self._zero_pos = None
        self._run = s
        return split

    def _split_at(self, pos: int) -> list[Assembled]:
        if pos == self._early_base:
            self._early_base = None
        if pos < self._base:
            self._conflict(pos)
            return []
        return self._emit(pos - self._base, "boundary")

    # ------------------------------------------------------------ completion
    def _expected_end(self) -> str | None:
        n = len(self._pts)
        if n < 2:
            return None
        lf0, lf1 = math.log10(self._pts[0].freq), math.log10(self._pts[-1].freq)
        if self._template is not None:
            tn, t0, t1, tol = self._template
            if n == tn and abs(lf0 - t0) <= tol and abs(lf1 - t1) <= tol:
                return "template"
        sw = self.sweep
        if sw and sw.get("fi") and sw.get("ff") and sw["fi"] != sw["ff"]:
            half = 0.5 / sw["Nd"] if sw.get("Nd") else 0.05
            if (abs(lf0 - math.log10(sw["fi"])) <= 0.02
                    and abs(lf1 - math.log10(sw["ff"])) <= min(half, 0.02)):
                return "sweep"
        return None

    def _cut_off(self, lf0: float, lf1: float, n: int) -> bool:
        """Started where a full sweep starts but stopped more than half a step short."""
        sw = self.sweep
        if sw and sw.get("fi") and sw.get("ff") and sw["fi"] != sw["ff"]:
            fi, ff = math.log10(sw["fi"]), math.log10(sw["ff"])
            half = 0.5 / sw["Nd"] if sw.get("Nd") else 0.05
            short = (lf1 - ff) if fi > ff else (ff - lf1)
            if abs(lf0 - fi) <= 0.02 and short > half:
                return True
        if self._template is not None:
            tn, t0, t1, tol = self._template
            step = abs(t1 - t0) / max(tn - 1, 1)
            short = (lf1 - t1) if t0 > t1 else (t1 - lf1)
            if n < tn and abs(lf0 - t0) <= 0.02 and short > 0.5 * step:
                return True
        return False

    def _emit(self, n: int, reason: str, partial: bool | None = None) -> list[Assembled]:
        if n <= 0:
            return []
        pts, arr = self._pts[:n], self._arr[:n]
        lf0, lf1 = math.log10(pts[0].freq), math.log10(pts[-1].freq)
        if partial is None:
            partial = self._cut_off(lf0, lf1, n)
        out = Assembled(self._series(pts), self.index, partial, reason, arr[-1])
        self.index += 1
        self._counts.append(n)
        if not partial and n >= 2:
            steps = np.abs(np.diff(np.log10([q.freq for q in pts])))
            steps = steps[steps > 0]
            tol = max(0.25 * float(np.median(steps)), 1e-9) if steps.size else 1e-9
            self._template = (n, lf0, lf1, tol)
        self._pts, self._arr = self._pts[n:], self._arr[n:]
        self._base += n
        self._seen = {(q.freq, q.Z, q.channels.get("t", math.nan)) for q in self._pts}
        return [out]

    def finish(self, final: bool = False) -> tuple[list[Assembled], Assembled | None]:
        """The stream stops: resolve the pending spectrum.

        Returns (emitted, incomplete): the pending spectrum is emitted when it looks
        complete (not cut off, at least the median length of earlier sweeps) or when
        ``final`` (the source can never continue it; then possibly ``partial``);
        otherwise it is returned as ``incomplete`` and left pending.
        """
        self._end_run()
        n = len(self._pts)
        if n == 0:
            return [], None
        lf0, lf1 = math.log10(self._pts[0].freq), math.log10(self._pts[-1].freq)
        partial = self._cut_off(lf0, lf1, n) or (
            len(self._counts) > 0 and n < float(np.median(np.fromiter(self._counts, float))))
        if final or not partial:
            return self._emit(n, "end", partial), None
        inc = Assembled(self._series(self._pts), self.index, True, "incomplete", self._arr[-1])
        return [], inc

    # --------------------------------------------------------------- series
    def _series(self, pts: list[Point]) -> SpectrumSeries:
        """One-spectrum SpectrumSeries built by the readers' own assembly code."""
        freq = np.array([q.freq for q in pts], np.float64)
        Z = np.array([q.Z for q in pts], np.complex128)
        ckeys = [k for k in CHANNELS if any(k in q.channels for q in pts)]
        gkeys = [k for k in GROUPS if any(k in q.groups for q in pts)]
        chans = {k: np.array([q.channels.get(k, np.nan) for q in pts], np.float64) for k in ckeys}
        groups = {k: np.array([q.groups.get(k, np.nan) for q in pts], np.float64) for k in gkeys}
        name = self.meta.get("source", "stream")
        s = assemble(freq, Z, path=name, meta={}, channels=chans, groups=groups, split="none")
        info = dict(s.info)
        info["index"] = np.array([self.index], np.int64)
        if not gkeys:
            info["loop"] = np.array([self.index], np.int64)
        meta = dict(self.meta)
        for k, v in (("technique", "unknown"), ("instrument", None), ("t0", None)):
            meta.setdefault(k, v)
        meta["source"] = name
        return replace(s, meta=meta, info=info)
