"""`SpectrumSeries`: a batch of impedance spectra as padded numpy arrays.

This is what the readers return and what `fit`, `kk` and `drt` accept directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import ShapeError

__all__ = ["SpectrumSeries"]


@dataclass(frozen=True, eq=False)
class SpectrumSeries:
    """N impedance spectra, padded to a common length F.

    Attributes
    ----------
    freq : (N, F) float64, Hz
        Frequencies.  Padded entries (``mask`` False) repeat a valid frequency of the
        same spectrum so that kernels never see NaN.
    Z : (N, F) complex128, ohm
        Impedance Z = Z' + jZ'' (capacitive arcs have Z'' < 0), whatever the sign
        convention of the source file.
    mask : (N, F) bool
        True for measured points.
    time : (N,) float64, s
        Start time of each spectrum, seconds since ``meta['t0']`` when the file
        gives an absolute acquisition start, else since the start of the file's
        time column.  NaN when the source has no time information.
    time_end : (N,) float64, s
        Time of each spectrum's last point (same origin as ``time``).
    meta : dict
        Series-level metadata: ``source`` (path), ``format``, ``technique`` ("PEIS",
        "GEIS", or "unknown"), ``instrument``, ``t0`` (ISO-8601 string or None),
        ``area_cm2`` and anything else the file states (DC bias, AC amplitude...).
    info : dict of (N,) arrays
        Per-spectrum values: ``loop`` (loop/cycle index in the file), ``index``
        (0-based spectrum number within its source), ``source_id`` (index into
        ``meta['sources']`` after `concat`), DC current/potential when known...
    points : dict of (N, F) arrays
        Per-point channels other than Z, e.g. ``Ewe`` (V), ``I`` (A), ``t`` (s).
    """

    freq: np.ndarray
    Z: np.ndarray
    mask: np.ndarray
    time: np.ndarray
    time_end: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    points: dict = field(default_factory=dict)

    def __post_init__(self):
        freq = np.atleast_2d(np.asarray(self.freq, np.float64))
        Z = np.atleast_2d(np.asarray(self.Z, np.complex128))
        mask = np.atleast_2d(np.asarray(self.mask, bool))
        if not (freq.shape == Z.shape == mask.shape):
            raise ShapeError(f"SpectrumSeries: freq {freq.shape}, Z {Z.shape} and mask "
                             f"{mask.shape} must have one shape (N, F)")
        n = Z.shape[0]
        time = np.asarray(self.time, np.float64).reshape(-1)
        if time.shape != (n,):
            raise ShapeError(f"SpectrumSeries: time has {time.shape[0]} entries for {n} spectra")
        time_end = time.copy() if self.time_end is None else np.asarray(self.time_end, np.float64).reshape(-1)
        if time_end.shape != (n,):
            raise ShapeError(f"SpectrumSeries: time_end has {time_end.shape[0]} entries for {n} spectra")
        info = {k: np.asarray(v) for k, v in self.info.items()}
        for k, v in info.items():
            if v.shape[:1] != (n,):
                raise ShapeError(f"SpectrumSeries: info[{k!r}] has shape {v.shape}, expected ({n},)")
        points = {k: np.asarray(v) for k, v in self.points.items()}
        for k, v in points.items():
            if v.shape != Z.shape:
                raise ShapeError(f"SpectrumSeries: points[{k!r}] has shape {v.shape}, expected {Z.shape}")
        object.__setattr__(self, "freq", freq)
        object.__setattr__(self, "Z", Z)
        object.__setattr__(self, "mask", mask)
        object.__setattr__(self, "time", time)
        object.__setattr__(self, "time_end", time_end)
        object.__setattr__(self, "meta", dict(self.meta))
        object.__setattr__(self, "info", info)
        object.__setattr__(self, "points", points)

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return self.Z.shape[0]

    @property
    def n_points(self) -> np.ndarray:
        """(N,) int: measured points per spectrum."""
        return self.mask.sum(axis=1)

    def __getitem__(self, key) -> "SpectrumSeries":
        if isinstance(key, (int, np.integer)):
            n = len(self)
            if not -n <= key < n:
                raise IndexError(f"spectrum index {key} out of range for {n} spectra")
            key = slice(key % n, key % n + 1)
        return replace(
            self,
            freq=self.freq[key], Z=self.Z[key], mask=self.mask[key], time=self.time[key],
            time_end=self.time_end[key],
            info={k: v[key] for k, v in self.info.items()},
            points={k: v[key] for k, v in self.points.items()},
        )

    def spectrum(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(freq, Z) of spectrum ``i`` with padding removed."""
        m = self.mask[i]
        return self.freq[i][m], self.Z[i][m]

    def __repr__(self) -> str:
        tech = self.meta.get("technique", "?")
        src = self.meta.get("source", "?")
        return (f"SpectrumSeries({len(self)} spectra x {self.Z.shape[1]} points, "
                f"technique={tech}, source={src})")

    # ------------------------------------------------------------ construction
    @classmethod
    def from_spectra(cls, spectra: Sequence[tuple[np.ndarray, np.ndarray]],
                     time: Sequence[float] | None = None, meta: Mapping[str, Any] | None = None,
                     info: Mapping[str, Sequence] | None = None,
                     points: Sequence[Mapping[str, np.ndarray]] | None = None) -> "SpectrumSeries":
        """Pad a list of ragged ``(freq, Z)`` pairs into one series."""
        n = len(spectra)
        if n == 0:
            raise ShapeError("from_spectra: no spectra given")
        F = max(len(np.asarray(f)) for f, _ in spectra)
        freq = np.zeros((n, F))
        Z = np.zeros((n, F), np.complex128)
        mask = np.zeros((n, F), bool)
        pts: dict[str, np.ndarray] = {}
        for i, (f, z) in enumerate(spectra):
            f = np.asarray(f, np.float64)
            z = np.asarray(z, np.complex128)
            if f.shape != z.shape or f.ndim != 1 or f.size == 0:
                raise ShapeError(f"from_spectra: spectrum {i} has freq {f.shape} and Z {z.shape}")
            k = f.size
            freq[i, :k], Z[i, :k], mask[i, :k] = f, z, True
            freq[i, k:], Z[i, k:] = f[-1], z[-1]
            if points is not None:
                for name, v in points[i].items():
                    arr = pts.setdefault(name, np.full((n, F), np.nan))
                    v = np.asarray(v, np.float64)
                    arr[i, :k] = v
                    arr[i, k:] = v[-1] if v.size else np.nan
        t = np.full(n, np.nan) if time is None else np.asarray(time, np.float64)
        return cls(freq=freq, Z=Z, mask=mask, time=t, meta=dict(meta or {}),
                   info={k: np.asarray(v) for k, v in (info or {}).items()}, points=pts)

    @classmethod
    def concat(cls, items: Sequence["SpectrumSeries"]) -> "SpectrumSeries":
        """Join series end to end (padding to the longest spectrum).

        ``meta`` of the result is the first item's, with ``sources`` listing every
        item's ``meta['source']``; ``info['source_id']`` says where each spectrum came
        from.  Per-spectrum ``info`` keys and ``points`` channels missing in some items
        are filled with NaN (or -1 for integers).
        """
        items = list(items)
        if not items:
            raise ShapeError("concat: no series given")
        F = max(s.Z.shape[1] for s in items)

        def pad(a, fill_last=True, fill=np.nan):
            if a.shape[1] == F:
                return a
            extra = F - a.shape[1]
            tail = np.repeat(a[:, -1:], extra, axis=1) if fill_last else np.full((a.shape[0], extra), fill, a.dtype)
            return np.concatenate([a, tail], axis=1)

        freq = np.concatenate([pad(s.freq) for s in items])
        Z = np.concatenate([pad(s.Z) for s in items])
        mask = np.concatenate([pad(s.mask, fill_last=False, fill=False) for s in items])
        time = np.concatenate([s.time for s in items])
        time_end = np.concatenate([s.time_end for s in items])
        keys = sorted(set().union(*[s.info.keys() for s in items]) - {"source_id"})
        info = {}
        for k in keys:
            parts = []
            for s in items:
                if k in s.info:
                    parts.append(s.info[k])
                else:
                    parts.append(np.full(len(s), np.nan))
            try:
                info[k] = np.concatenate(parts)
            except (TypeError, ValueError):
                info[k] = np.concatenate([np.asarray(p, object) for p in parts])
        src_ids = []
        for j, s in enumerate(items):
            src_ids.append(np.full(len(s), j, np.int64))
        info["source_id"] = np.concatenate(src_ids)
        pkeys = sorted(set().union(*[s.points.keys() for s in items]))
        points = {}
        for k in pkeys:
            points[k] = np.concatenate([
                pad(s.points[k]) if k in s.points else np.full((len(s), F), np.nan) for s in items])
        meta = dict(items[0].meta)
        meta["sources"] = [s.meta.get("source") for s in items]
        return cls(freq=freq, Z=Z, mask=mask, time=time, time_end=time_end, meta=meta,
                   info=info, points=points)
