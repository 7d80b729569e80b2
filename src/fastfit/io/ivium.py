"""Ivium ``.idf`` files (IviumSoft data files).

A short binary prefix, then text: ``Key=value`` lines (``Method=Impedance``,
``Technique=Constant E`` / ``Constant I``, ``starttime=``, ``serialnumber=``...) and
data objects.  The spectrum is the ``primary_data`` object::

    primary_data    <NUL>3        (number of columns)
    26                            (number of rows)
     1.37548E+01  -1.87976E+00 1.00000E+05      Z' (ohm), Z'' = Im(Z) (ohm), f (Hz)
    ...
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import FileFormatError
from ..series import SpectrumSeries
from ._assemble import assemble
from ._registry import Format
from ._text import normalise_newlines, parse_datetime, parse_numeric, to_float

__all__ = ["read", "sniff", "FORMAT"]


def sniff(head: bytes, path: Path | None = None) -> bool:
    """An IviumSoft ``Version=`` header and a ``primary_data`` object."""
    return b"Version=" in head[:512] and b"primary_data" in head


def read(path, *, split: str = "auto") -> SpectrumSeries:
    """Read the impedance spectrum (``primary_data``) of an Ivium ``.idf`` file.

    Parameters
    ----------
    path : str or Path
    split : {"auto", "loop", "sweep", "none"}
    """
    path = Path(path)
    raw = normalise_newlines(path.read_bytes())
    k = raw.find(b"primary_data")
    if k < 0:
        raise FileFormatError("no 'primary_data' object", path=path, offset=len(raw))
    line_no = raw.count(b"\n", 0, k) + 1
    rest = raw[k + len(b"primary_data"):]
    parts = rest.split(b"\n", 2)
    if len(parts) < 3:
        raise FileFormatError("file ends after 'primary_data'", path=path, line=line_no)
    try:
        ncols = int(parts[0].replace(b"\x00", b" ").split()[-1].decode("ascii"))
        nrows = int(parts[1].strip().decode("ascii"))
    except (ValueError, IndexError, UnicodeDecodeError):
        raise FileFormatError("'primary_data' is not followed by column and row counts",
                              path=path, line=line_no) from None
    if ncols != 3 or nrows < 1:
        raise FileFormatError(f"'primary_data' has {ncols} columns x {nrows} rows; expected 3 "
                              "columns (Z', Z'', f)", path=path, line=line_no)
    rows = parts[2].split(b"\n", nrows)
    if len(rows) < nrows:
        raise FileFormatError(f"'primary_data' announces {nrows} rows; the file ends after "
                              f"{len(rows)}", path=path, line=line_no + 2)
    body = b"\n".join(rows[:nrows])
    vals, _ = parse_numeric(body, first_line=line_no + 2, path=path, delimiter=None,
                            decimal_comma=False, ncols=3, labels=["Z'", "Z''", "freq"])
    if vals.shape[0] != nrows:
        raise FileFormatError(f"'primary_data' announces {nrows} rows, found {vals.shape[0]}",
                              path=path, line=line_no + 2)
    text = raw[:k].decode("latin-1")
    kv = dict(re.findall(r"^([^=\n\x00]+)=([^\n]*)$", text, re.M))
    tech = kv.get("Technique", "")
    meta = {"format": "ivium",
            "technique": ("GEIS" if "Constant I" in tech else
                          "PEIS" if "Constant E" in tech else "unknown"),
            "instrument": "Ivium" + (f" {kv['serialnumber'].strip()}" if kv.get("serialnumber") else ""),
            "t0": parse_datetime(kv.get("starttime", ""))}
    if meta["technique"] == "GEIS":
        for key, out in (("I start", "dc_current_A"), ("I_Frequencies.amp[1]", "ac_amplitude_A")):
            v = to_float(kv.get(key, ""))
            if v is not None:
                meta[out] = v
    elif meta["technique"] == "PEIS":
        for key, out in (("E start", "dc_potential_V"), ("E_Frequencies.amp[1]", "ac_amplitude_V")):
            v = to_float(kv.get(key, ""))
            if v is not None:
                meta[out] = v
    return assemble(vals[:, 2], vals[:, 0] + 1j * vals[:, 1], path=path, meta=meta,
                    split=split, where={"line": line_no + 2})


FORMAT = Format(name="ivium", description="IviumSoft data file (.idf)", extensions=(".idf",),
                sniff=sniff, read=read, aliases=("idf",))
