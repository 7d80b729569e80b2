"""What the stream pipeline reports: one `StreamResult` per spectrum, a `StreamSummary`."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["StreamResult", "StreamSummary", "STATUSES"]

#: result statuses and their meaning
STATUSES = {
    "fitted": "stored and fitted",
    "stored": "stored (no circuit given: nothing to fit)",
    "resumed": "already stored and fitted by an earlier run (nothing redone)",
    "partial": "sweep stopped short: stored, not fitted",
    "failed": "stored, but the fit could not run (message says why)",
    "incomplete": "the stream stopped inside this sweep: not stored (a re-run continues it)",
}


@dataclass(frozen=True, eq=False)
class StreamResult:
    """One spectrum through the pipeline.

    Attributes
    ----------
    status : str, one of `STATUSES`
    store_index : int, row in the store's spectra (-1 when not stored)
    source_index : int, position of the spectrum in its source (0-based)
    n_points : int
    time, time_end : float, s, first / last point (NaN without a time channel)
    freq : (F,) Hz;  Z : (F,) complex ohm -- the spectrum
    param_names : list of str
    params, stderr : (P,) float or None
    chi2, chi2_red : float (NaN when not fitted)
    fit_status : int, :class:`fastfit.FitStatus` value (or None)
    ok : bool, fit converged
    kk_valid : bool or None; kk_mu : float (NaN without a KK check)
    n_excluded : int, points removed by the KK check
    reason : str, what ended the sweep ("boundary", "template", "sweep", "marked", "end")
    arrival : float, time.monotonic() when its last point arrived
    stored_at : float, time.monotonic() when its results were committed (NaN if not)
    message : str
    """

    status: str
    store_index: int
    source_index: int
    n_points: int
    time: float
    time_end: float
    freq: np.ndarray
    Z: np.ndarray
    param_names: list = field(default_factory=list)
    params: np.ndarray | None = None
    stderr: np.ndarray | None = None
    chi2: float = float("nan")
    chi2_red: float = float("nan")
    fit_status: int | None = None
    ok: bool = False
    kk_valid: bool | None = None
    kk_mu: float = float("nan")
    n_excluded: int = 0
    reason: str = ""
    arrival: float = float("nan")
    stored_at: float = float("nan")
    message: str = ""

    @property
    def latency(self) -> float:
        """Seconds from the arrival of the spectrum's last point to its results stored."""
        return self.stored_at - self.arrival

    def param(self, name: str) -> float:
        if self.params is None:
            return float("nan")
        return float(self.params[self.param_names.index(name)])

    def line(self) -> str:
        """One-line summary (what the CLI prints)."""
        head = (f"#{self.store_index:<5d} src {self.source_index:<5d} {self.n_points:3d} pts  "
                f"t={self.time:10.1f}s  {self.status:<10s}")
        if self.params is not None:
            vals = "  ".join(f"{n}={v:.4g}" for n, v in zip(self.param_names, self.params))
            head += f" {vals}  chi2_red={self.chi2_red:.3g}"
        if self.kk_valid is not None:
            head += f"  KK {'ok' if self.kk_valid else 'FAIL'}"
        if self.message:
            head += f"  ({self.message})"
        return head


@dataclass(eq=False)
class StreamSummary:
    """Counts and results of one pipeline run.

    Attributes
    ----------
    counts : dict, status -> number of spectra
    n_points : int, points received;  n_dropped : points without a positive frequency or
        with non-finite values;  n_duplicates : repeated points dropped
    notices : list of str, what the sources and the assembler reported
    results : list of StreamResult (empty when the pipeline keeps none)
    latencies : (N,) float, s, `StreamResult.latency` of every fitted spectrum
    stopped : bool, the run ended by `stop()` (Ctrl-C) rather than by its source
    """

    counts: dict = field(default_factory=lambda: {k: 0 for k in STATUSES})
    n_points: int = 0
    n_dropped: int = 0
    n_duplicates: int = 0
    notices: list = field(default_factory=list)
    results: list = field(default_factory=list)
    latencies: list = field(default_factory=list)
    stopped: bool = False

    @property
    def n_stored(self) -> int:
        return sum(self.counts[k] for k in ("fitted", "stored", "resumed", "partial", "failed"))

    def __repr__(self) -> str:
        c = ", ".join(f"{k} {v}" for k, v in self.counts.items() if v)
        return f"StreamSummary({self.n_points} points; {c or 'no spectra'})"
