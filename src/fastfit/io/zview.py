"""Scribner ZPlot / ZView ``.z`` files, both variants.

``ZPLOT2 ASCII`` (ZPlot 3)::

    ZPLOT2 ASCII
      Key:   value               (Date, Time, Experiment Type, ..., Data Points: N)
      Freq(Hz)<TAB>Ampl<TAB>Bias<TAB>Time(Sec)<TAB>Z'(a)<TAB>Z''(b)<TAB>GD<TAB>Err<TAB>Range
    End Comments
    <tab-separated rows>

``"ZPlotW Data File"`` / ``"Z60W Data File"`` (also Autolab exports in that format)::

    "ZPlotW Data File: Version 3.2c"
    ... a few quoted lines, Date/Time line ...
    0,3,0,1,300000,0.005          (sweep settings)
    79                            (planned number of points)
    "  Freq(Hz)    Ampl     Bias   Time(Sec)   Z'(a)    Z''(b)    GD   Err   Range"
    <comma-separated rows>

``Z''(b)`` is Im(Z) (negative for capacitive arcs).  Fewer rows than the header
announces mark the spectrum partial (``meta['partial']``).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from ..series import SpectrumSeries
from ._assemble import assemble
from ._columns import classify_all
from ._registry import Format
from ._text import guess_delimiter, normalise_newlines, parse_datetime, parse_numeric

__all__ = ["read", "sniff", "FORMAT"]

_ZPLOT2 = b"ZPLOT2 ASCII"
_DATAFILE = re.compile(rb'^(\xef\xbb\xbf)?"?\s*(ZPlotW|Z60W|ZPlot|ZView)\w* Data File', re.I)


def sniff(head: bytes, path: Path | None = None) -> bool:
    """``ZPLOT2 ASCII`` or ``"ZPlotW/Z60W Data File"`` on line 1."""
    h = head.lstrip(b"\xef\xbb\xbf")
    return h.startswith(_ZPLOT2) or bool(_DATAFILE.match(head))


def _split_header(line: str, ncols: int) -> list[str]:
    s = line.strip().strip('"')
    for parts in (s.split("\t"), re.split(r"\s{2,}|,", s.strip()), s.split()):
        parts = [p.strip() for p in parts if p.strip()]
        if len(parts) == ncols:
            return parts
    return [p.strip() for p in s.split("\t")]


def read(path, *, split: str = "auto") -> SpectrumSeries:
    """Read a ZPlot/ZView ``.z`` file (either variant).

    Parameters
    ----------
    path : str or Path
    split : {"auto", "loop", "sweep", "none"}

    Returns
    -------
    SpectrumSeries
        ``points['t']`` from ``Time(Sec)``; ``meta``: technique (control voltage =
        PEIS, control current = GEIS), t0, AC amplitude and DC bias from the
        ``Ampl``/``Bias`` columns.
    """
    path = Path(path)
    raw = normalise_newlines(path.read_bytes())
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    lines = raw.split(b"\n")
    text = [ln.decode("latin-1") for ln in lines[:400]]
    meta: dict = {"format": "zview"}
    expected = None
    if raw.startswith(_ZPLOT2):
        end = next((i for i, s in enumerate(text) if s.strip().startswith("End Comments")), None)
        if end is None:
            raise FileFormatError("no 'End Comments' line closing the ZPLOT2 header",
                                  path=path, line=min(len(lines), 400))
        head_i = end - 1
        kv = {}
        for s in text[:end]:
            m = re.match(r"\s*([^:]+?):\s*(.*)$", s)
            if m:
                kv.setdefault(m.group(1).strip(), m.group(2).strip())
        m = re.search(r"([\d.]+\w*)", kv.get("Measured Data, ZPlot", ""))
        meta["instrument"] = "Scribner ZPlot" + (f" {m.group(1)}" if m else "")
        exp_type = kv.get("Experiment Type", "")
        meta["t0"] = parse_datetime(f"{kv.get('Date', '')} {kv.get('Time', '')}".replace("-", "/"))
        if re.fullmatch(r"[0-9]{1,9}", kv.get("Data Points", "")):
            expected = int(kv["Data Points"])
        area = kv.get("Surface Area")
        try:
            if area is not None and float(area) > 0:
                meta["area_cm2"] = float(area)
        except ValueError:
            pass
    else:
        head_i = next((i for i, s in enumerate(text[1:], 1)
                       if "Freq" in s and ("Z'" in s or "Ampl" in s)), None)
        if head_i is None:
            raise FileFormatError("no column header line (with 'Freq') found", path=path,
                                  line=min(len(lines), 400))
        m = re.match(r'\W*(\w+) Data File: Version\s*([\w.]+)', text[0])
        meta["instrument"] = f"Scribner {m.group(1)} {m.group(2)}" if m else "Scribner ZPlot"
        exp_type = " ".join(text[1:head_i])
        dm = re.search(r"Date:\s*(\S+)\s+Time:\s*(\S+)", exp_type)
        meta["t0"] = parse_datetime(f"{dm.group(1)} {dm.group(2)}".replace("-", "/")) if dm else None
        if head_i >= 2 and re.fullmatch(r"[0-9]{1,9}", text[head_i - 1].strip()):
            expected = int(text[head_i - 1].strip())
    meta["technique"] = ("GEIS" if "Control Current" in exp_type else
                         "PEIS" if "Control Voltage" in exp_type else "unknown")
    first = head_i + 1
    while first < len(lines) and (not lines[first].strip() or lines[first].startswith(b"End Comments")):
        first += 1
    sample = lines[first].decode("latin-1") if first < len(lines) else ""
    delim, dec = guess_delimiter(sample)
    block = b"\n".join(lines[first:])
    vals, _ = parse_numeric(block, first_line=first + 1, path=path, delimiter=delim,
                            decimal_comma=dec)
    if vals.shape[0] == 0:
        raise FileFormatError("no data rows", path=path, line=first + 1)
    names = _split_header(text[head_i] if head_i < len(text) else "", vals.shape[1])
    roles = classify_all(names) if len(names) == vals.shape[1] else {}
    if not all(r in roles for r in ("freq", "re", "im")):
        # the documented fixed layout: Freq, Ampl, Bias, Time, Z', Z'', GD, Err, Range
        if vals.shape[1] < 6:
            raise FileFormatError(f"{vals.shape[1]} columns; a .z file has at least 6 "
                                  "(Freq, Ampl, Bias, Time, Z', Z'')", path=path, line=head_i + 1)
        names = ["Freq(Hz)", "Ampl", "Bias", "Time(Sec)", "Z'(a)", "Z''(b)"] + [""] * (vals.shape[1] - 6)
        roles = classify_all(names)

    def col(role):
        j, c = roles[role]
        v = vals[:, j] * c.scale
        return -v if c.negated else v

    if "ampl" in roles:
        ampl = np.median(col("ampl"))
        if ampl > 0:
            unit = "A" if meta["technique"] == "GEIS" else "V"
            meta[f"ac_amplitude_{unit}"] = float(ampl)
            if "bias" in roles:
                key = "dc_current_A" if unit == "A" else "dc_potential_V"
                meta[key] = float(np.median(col("bias")))
    channels = {"t": col("t")} if "t" in roles else {}
    return assemble(col("freq"), col("re") + 1j * col("im"), path=path, meta=meta,
                    channels=channels, split=split, expected_points=expected,
                    where={"line": first + 1})


FORMAT = Format(name="zview", description="Scribner ZPlot/ZView (.z)", extensions=(".z",),
                sniff=sniff, read=read, aliases=("zplot", "z"))
