"""IviumSoft data files: ``.idf`` (one data set) and ``.ids`` (several).

Layout (observed on IviumSoft 2.x/4.x files)::

    16 zero bytes, a 4-byte record size, then text lines (CR LF or LF; some lines
    start with a NUL or end in CR NUL) mixed with short binary record markers:
        Version=12                              (absent in some versions)
        starttime=12/12/2022 5:18:49 PM         serialnumber=, software=, timing=...
        Method=Impedance                        Technique=Constant E | Constant I
        Title=...                               E start= / I start=, Frequencies=N,
        Frequencies.freq[k]= / Frequencies.amp[k]=  (I_Frequencies.* for Constant I)
        ...
        <count>  "Data Objects"  <index>
        primary_data                            the spectrum:
        3                                         columns (alone on its line, or
        26                                        after "primary_data" and a NUL)
        1.37548E+01  -1.87976E+00 1.00000E+05     rows: Z' (ohm), Z'' = Im(Z) (ohm),
        ...                                       f (Hz); spaces or tabs
        (further data objects: raw curves, not read)

An ``.ids`` file is several such data sets one after the other (each with its own
``Title=`` and ``primary_data``); every impedance data set becomes one spectrum.  Data
sets of other methods (CV, chronoamperometry) are skipped.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from ..series import SpectrumSeries
from ._assemble import assemble
from ._registry import Format
from ._text import parse_datetime, parse_numeric, to_float

__all__ = ["read", "sniff", "FORMAT"]

_OBJ = b"primary_data"
_KV = re.compile(rb"^[\x00\s]*([A-Za-z][^=\r\n\x00]{0,60})=([^\r\n\x00]*)", re.M)
_INT = re.compile(rb"[\x00\s]*(\d{1,9})[ \t\x00]*\r?\x00?\n")


def sniff(head: bytes, path: Path | None = None) -> bool:
    """IviumSoft's zero-byte prefix with its ``Method=``/``primary_data`` text, or a
    ``Version=`` header with a ``primary_data`` object."""
    if head.startswith(b"\x00" * 16):
        return any(k in head for k in (_OBJ, b"\nMethod=", b"\nTechnique=", b"\nDconfig="))
    return b"Version=" in head[:512] and _OBJ in head


def _counts(raw: bytes, at: int, path, line: int) -> tuple[int, int, int]:
    """(columns, rows, offset of the first row) after ``primary_data`` at ``at``."""
    pos = at + len(_OBJ)
    vals = []
    for _ in range(2):
        m = _INT.match(raw, pos)
        if not m:
            raise FileFormatError("'primary_data' is not followed by column and row counts",
                                  path=path, line=line)
        vals.append(int(m.group(1)))
        pos = m.end()
    return vals[0], vals[1], pos


def _dataset(raw: bytes, at: int, head: bytes, path):
    line = raw.count(b"\n", 0, at) + 1
    ncols, nrows, pos = _counts(raw, at, path, line)
    if ncols < 3 or nrows < 1:
        raise FileFormatError(f"'primary_data' has {ncols} columns x {nrows} rows; expected "
                              "at least 3 columns (Z', Z'', f) and 1 row", path=path, line=line)
    end = pos
    for _ in range(nrows):
        j = raw.find(b"\n", end)
        if j < 0:
            if end < len(raw) and raw[end:].strip():
                end = len(raw)
                continue
            raise FileFormatError(f"'primary_data' announces {nrows} rows; the file ends "
                                  "before them", path=path, line=line + 3)
        end = j + 1
    block = raw[pos:end].replace(b"\r", b"").replace(b"\x00", b" ")
    vals, _ = parse_numeric(block, first_line=line + 3, path=path, delimiter=None,
                            decimal_comma=False, ncols=ncols, labels=["Z'", "Z''", "freq"][:ncols])
    if vals.shape[0] != nrows:
        raise FileFormatError(f"'primary_data' announces {nrows} rows, found {vals.shape[0]}",
                              path=path, line=line + 3)
    kv = {}
    for m in _KV.finditer(head):
        kv.setdefault(m.group(1).decode("latin-1").strip(), m.group(2).decode("latin-1").strip())
    return vals, kv, end


def _meta(kv: dict) -> dict:
    tech = kv.get("Technique", "")
    meta = {"technique": ("GEIS" if "Constant I" in tech else
                          "PEIS" if "Constant E" in tech else "unknown"),
            "instrument": "Ivium" + (f" {kv['serialnumber']}" if kv.get("serialnumber") else ""),
            "t0": parse_datetime(kv.get("starttime", ""))}
    keys = ((("I start", "dc_current_A"), ("I_Frequencies.amp[1]", "ac_amplitude_A"))
            if meta["technique"] == "GEIS" else
            (("E start", "dc_potential_V"), ("Frequencies.amp[1]", "ac_amplitude_V")))
    for key, out in keys:
        v = to_float(kv.get(key, ""))
        if v is not None:
            meta[out] = v
    return meta


def read(path, *, split: str = "auto") -> SpectrumSeries:
    """Read every impedance data set of an Ivium ``.idf`` / ``.ids`` file.

    Parameters
    ----------
    path : str or Path
    split : {"auto", "loop", "sweep", "none"}
        Each data set starts a spectrum.

    Returns
    -------
    SpectrumSeries
        ``meta['titles']``: each data set's ``Title=``; the rest of ``meta`` from the first
        impedance data set (technique, instrument serial, t0, DC level and AC
        amplitude as set).
    """
    path = Path(path)
    raw = path.read_bytes()
    hits = [m.start() for m in re.finditer(re.escape(_OBJ), raw)]
    if not hits:
        raise FileFormatError("no 'primary_data' object (not an IviumSoft data file, or it "
                              "holds no data)", path=path, offset=len(raw))
    fs, zs, starts, titles, metas, total, prev = [], [], [], [], [], 0, 0
    for at in hits:
        if at < prev:
            continue                                   # inside the previous data set's rows
        vals, kv, prev = _dataset(raw, at, raw[prev:at], path)
        if kv.get("Method") and "impedance" not in kv["Method"].lower():
            continue
        starts.append(total)
        total += vals.shape[0]
        fs.append(vals[:, 2])
        zs.append(vals[:, 0] + 1j * vals[:, 1])
        titles.append(kv.get("Title", ""))
        metas.append(kv)
    if not fs:
        raise FileFormatError("no impedance data set (every data set names another Method=)",
                              path=path, offset=hits[0])
    meta = {"format": "ivium", "n_datasets": len(fs), "titles": titles, **_meta(metas[0])}
    line = raw.count(b"\n", 0, hits[0]) + 3
    return assemble(np.concatenate(fs), np.concatenate(zs), path=path, meta=meta,
                    starts=starts, split=split, where={"line": line})


FORMAT = Format(name="ivium", description="IviumSoft data file (.idf/.ids)",
                extensions=(".idf", ".ids"), sniff=sniff, read=read, aliases=("idf", "ids"))
