"""Simulated instruments: replay a recorded file, or synthesise a drifting GEIS series.

Both are :class:`~fastfit.stream.IterableSource` objects that deliver points at a chosen
rate (points per second; None = as fast as the pipeline takes them) and are
*replayable*: a re-run delivers the same points again, so a restarted pipeline resumes
through the store's content keys.
"""
from __future__ import annotations

import os


from ..series import SpectrumSeries
from ._points import CHANNELS, GROUPS, Point
from ._source import IterableSource

__all__ = ["replay", "synthetic_geis", "series_points"]

_READ_ONLY_META = ("partial", "n_rows", "n_dropped_rows", "split", "source", "sources")


def series_points(series: SpectrumSeries) -> list[Point]:
    """The points of a series in measurement order, with their per-point channels
    (``points``) and the per-spectrum grouping values (``info`` loop / cycle / Ns)."""
    out = []
    gkeys = [k for k in GROUPS if k in series.info]
    ckeys = [k for k in CHANNELS if k in series.points]
    for i in range(len(series)):
        m = series.mask[i]
        f = series.freq[i][m].tolist()
        z = series.Z[i][m].tolist()
        ch = {k: series.points[k][i][m].tolist() for k in ckeys}
        g = {k: float(series.info[k][i]) for k in gkeys}
        for j in range(len(f)):
            out.append(Point(f[j], z[j], {k: v[j] for k, v in ch.items()}, dict(g)))
    return out


def replay(source, rate: float | None = 1000.0, *, name: str | None = None,
           **read_options) -> IterableSource:
    """Replay a recorded file (anything :func:`fastfit.read` reads) or a SpectrumSeries
    point by point at ``rate`` points/s.

    The replayed points carry the file's per-point channels (time, Ewe, I...) and each
    spectrum's loop/cycle number, so the stream assembles exactly the spectra that a bulk
    read gives.  The series metadata (technique, t0, stated sweep...) goes with them.
    """
    if isinstance(source, SpectrumSeries):
        series = source
        label = name or f"replay:{series.meta.get('source', 'series')}"
    else:
        from ..io import read

        series = read(source, **read_options)
        label = name or f"replay:{os.path.abspath(str(source))}"
    meta = {k: v for k, v in series.meta.items() if k not in _READ_ONLY_META}
    sweep = meta.get("sweep")
    return IterableSource(series_points(series), name=label, meta=meta, sweep=sweep,
                          rate=rate, replayable=True)


def synthetic_geis(n_sweeps: int = 20, rate: float | None = 1000.0, *, seed: int = 0,
                   noise: float = 0.002, name: str | None = None, **kwargs) -> IterableSource:
    """A drifting galvanostatic EIS dissolution experiment, point by point
    (:func:`fastfit.synthetic.geis_dissolution`; circuit ``R0-p(R1,CPE1)-p(R2,CPE2)``).

    Every point carries ``t`` (s), ``Ewe`` (V), ``I`` (A) and its sweep number as
    ``loop``; ``.truth`` holds the true parameters (n_sweeps, F, 7) at every point.
    """
    from ..synthetic import DISSOLUTION_CIRCUIT, geis_dissolution

    f, Z, t, p, ch = geis_dissolution(n_sweeps, seed=seed, noise=noise, **kwargs)
    pts = []
    fl = f.tolist()
    for i in range(n_sweeps):
        zi, ti = Z[i].tolist(), t[i].tolist()
        ei, ii = ch["Ewe"][i].tolist(), ch["I"][i].tolist()
        for j in range(len(fl)):
            pts.append(Point(fl[j], zi[j], {"t": ti[j], "Ewe": ei[j], "I": ii[j]},
                             {"loop": float(i)}))
    meta = {"technique": "GEIS", "instrument": "fastfit simulator", "format": "synthetic",
            "dc_current_A": float(ch["I"][0, 0]), "circuit": DISSOLUTION_CIRCUIT}
    src = IterableSource(pts, name=name or f"synthetic:geis_dissolution(seed={seed})",
                         meta=meta, sweep={"fi": float(f[0]), "ff": float(f[-1]), "Nd": 10.0}
                         if "freq" not in kwargs else None, rate=rate, replayable=True)
    src.truth = p
    src.freq = f
    return src
