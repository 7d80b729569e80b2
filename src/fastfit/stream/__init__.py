"""Live ingestion: fit impedance spectra while an instrument is still measuring them.

>>> import fastfit.stream as fs
>>> src = fs.FileSource("run.mpt", until_idle=30)                 # doctest: +SKIP
>>> summary = fs.run(src, "R0-p(R1,CPE1)-p(R2,CPE2)", "run.h5")   # doctest: +SKIP

Pipeline: point source -> spectrum assembler (loop / cycle columns, sweep restarts,
time gaps) -> optional lin-KK check -> fit, warm-started from the previous spectrum ->
optional DRT -> HDF5 store -> ``on_result`` callbacks and the async iterator
`Pipeline.results`.  Sources: a file being written (`FileSource`), a loopback TCP line
protocol (`SocketSource`, client `send_points`), simulators (`replay`,
`synthetic_geis`) and any iterable / async iterable of points (`IterableSource`).
Re-running on the same store resumes: nothing stored is lost or stored twice.
"""
from __future__ import annotations

import importlib

# public name -> private module (imported on first use, so that ``fastfit.stream.cli``
# loads without numpy/h5py and ``fastfit --help`` stays instant)
_LAZY = {
    "Assembled": "_assembler", "Assembler": "_assembler", "FileSource": "_files",
    "Pipeline": "_pipeline", "run": "_pipeline", "stream_options": "_pipeline",
    "LineParser": "_points", "Point": "_points", "as_point": "_points",
    "point_to_json": "_points", "STATUSES": "_results", "StreamResult": "_results",
    "StreamSummary": "_results", "replay": "_simulate", "series_points": "_simulate",
    "synthetic_geis": "_simulate", "Journal": "_socket", "SocketSource": "_socket",
    "send_points": "_socket", "IterableSource": "_source", "Marker": "_source",
    "Source": "_source", "as_source": "_pipeline",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fastfit.stream' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
