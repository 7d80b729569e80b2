"""Metrohm Autolab / Eco Chemie FRA data files (``.dfr``, FRA 4.9 and NOVA exports).

Layout (observed: FRA "VERSION8.0" files; field meanings as read by pyimpspec's
``dfr`` parser, GPL: facts only)::

    VERSION8.0            first line, "VERSIONx.y"
     29                   number of points
     1                    (not used)
    then 9 lines per point, one number each:
     10000.0              frequency (Hz)
     109.009              Z' (ohm)
     26.5557              -Z'' (ohm), i.e. -Im(Z)
     0.0                  E dc (V)
     0.0                  I dc (A)
     0.0                  time (s)
     0.0  0.0  0.0        (not used)
    then a trailer (two date-time lines "13.07.2022 22:32:00", more numbers): the
    first date is taken as the acquisition start.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from ..series import SpectrumSeries
from ._assemble import assemble
from ._registry import Format
from ._text import parse_datetime, parse_numeric, split_lines

__all__ = ["read", "sniff", "FORMAT"]

_MAGIC = re.compile(rb"^\s*VERSION\d+(\.\d+)?\s*[\r\n]")
_PER_POINT = 9


def sniff(head: bytes, path: Path | None = None) -> bool:
    """``VERSIONx.y`` on line 1 and a point count on line 2."""
    if not _MAGIC.match(head):
        return False
    lines = head.split(b"\n", 3)
    return len(lines) > 2 and lines[1].strip().isdigit()


def read(path, *, split: str = "auto") -> SpectrumSeries:
    """Read an Autolab FRA ``.dfr`` file.

    Parameters
    ----------
    path : str or Path
    split : {"auto", "loop", "sweep", "none"}

    Returns
    -------
    SpectrumSeries
        Z = Z' - j(-Z''); ``points``: ``Ewe`` (V), ``I`` (A), ``t`` (s) as stored.
    """
    path = Path(path)
    lines = split_lines(path.read_bytes())
    if not lines or not _MAGIC.match(lines[0] + b"\n"):
        raise FileFormatError("not an Autolab .dfr file (line 1 is not 'VERSIONx.y')",
                              path=path, line=1)
    if len(lines) < 3 or not lines[1].strip().isdigit() or len(lines[1].strip()) > 9:
        raise FileFormatError("line 2 is not the number of points", path=path, line=2)
    n = int(lines[1].strip())
    if n < 1:
        raise FileFormatError("the file announces no points", path=path, line=2)
    idx = [i for i in range(3, len(lines)) if lines[i].strip()][:n * _PER_POINT]
    if len(idx) < n * _PER_POINT:
        raise FileFormatError(f"{n} points announced ({n * _PER_POINT} values) but only "
                              f"{len(idx)} value lines follow (file truncated?)",
                              path=path, line=len(lines))
    end = idx[-1] + 1
    vals, _ = parse_numeric(b"\n".join(lines[3:end]), first_line=4, path=path,
                            delimiter=None, decimal_comma=False, ncols=1)
    v = vals[:, 0].reshape(n, _PER_POINT)
    meta = {"format": "autolab_dfr", "instrument": "Metrohm Autolab (FRA)",
            "technique": "unknown", "file_version": lines[0].decode("latin-1").strip(),
            "t0": None}
    for ln in lines[end:end + 20]:                 # trailer: acquisition date(s)
        t0 = parse_datetime(ln.decode("latin-1"))
        if t0:
            meta["t0"] = t0
            break
    channels = {k: v[:, j] for k, j in (("Ewe", 3), ("I", 4), ("t", 5))}
    return assemble(v[:, 0], v[:, 1] - 1j * v[:, 2], path=path, meta=meta,
                    channels=channels, split=split, where={"line": 4})


FORMAT = Format(name="autolab_dfr", description="Metrohm Autolab FRA data file (.dfr)",
                extensions=(".dfr",), sniff=sniff, read=read, aliases=("dfr",))
