"""Zahner text exports (Thales "Save as ASCII", Zahner Analysis export, Bin2Txt).

Observed layouts (the column header decides, never the position)::

    Thales / Thales XT ASCII export (whitespace, tab or comma separated):
        File Name: C:\\THALES\\data\\run01.ism
        ... "Potential: 0.9995V", "Current: 12.3uA, Ampl: 10mV", "Time: 09:33 - 09:41" ...
        Number  Frequency/Hz  Impedance/Ohm  Phase/deg  Significance  Time/s
        1       1049.3        ...

    Zahner Analysis text export (tab separated, UTF-8):
        ... same "key: value" lines ...
        frequency (Hz)<TAB>impedance (Ω)<TAB>phase / deg (°)<TAB>significance

    Bin2Txt (tab separated, decimal comma): log10 columns
        LOGF  LOGO  LOGZm  Phim  Real  Imag  ...     (f = 10**LOGF, |Z| = 10**LOGZm)

Impedance is taken from modulus and phase (degrees, arg Z: negative for capacitive
arcs) when both are there, else from the real/imaginary columns (the imaginary sign
checked against the phase when one is given).  As in `zahner_ism`, a sweep that runs
out to one end of the range and back over the whole range keeps only the full branch
(``overlap=True`` keeps every row).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from ..series import SpectrumSeries
from ._assemble import assemble
from ._columns import classify
from ._registry import Format
from ._text import decode, guess_delimiter, is_numeric_line, normalise_newlines, parse_numeric

__all__ = ["read", "sniff", "FORMAT"]

# Bin2Txt labels: role, decadic logarithm?
_LOG_LABELS = {"logf": ("freq", True), "logzm": ("mod", True), "logz": ("mod", True),
               "phim": ("phase", False), "real": ("re", False), "imag": ("im", False)}
_MARKERS = (b"File Name:", b"ZAHNER", b"Zahner", b"THALES", b"Thales", b"LOGZm")
_NUM = re.compile(r"([-+]?\d+(?:[.,]\d*)?(?:[eE][-+]?\d+)?)\s*([a-zA-Zµ]*)")
_SI = {"": 1.0, "V": 1.0, "A": 1.0, "mV": 1e-3, "mA": 1e-3, "uV": 1e-6, "uA": 1e-6,
       "µA": 1e-6, "µV": 1e-6, "nA": 1e-9, "nV": 1e-9, "pA": 1e-12, "kV": 1e3}


def _role(label: str) -> tuple[str | None, bool, float, str]:
    """(role, log10?, scale, unit) of one Zahner column label."""
    key = re.sub(r"[\s_.]+", "", label.strip().strip('"').lower())
    if key in _LOG_LABELS:
        role, log = _LOG_LABELS[key]
        return role, log, 1.0, ""
    c = classify(label)
    if c.role is None and re.match(r"^(impedance|\|z\|)", key):
        return "mod", False, c.scale, c.unit
    if c.role == "phase" and ("rad" in key and "deg" not in key):
        return "phase", False, 1.0, "rad"
    return c.role, False, c.scale, c.unit


def _split(line: str, delim: str | None) -> list[str]:
    if delim in ("\t", ",", ";"):
        parts = line.split(delim)
    else:
        parts = re.split(r"\t|\s{2,}", line.strip()) if "\t" in line or "  " in line.strip() \
            else line.split()
    return [p.strip() for p in parts if p.strip()]


def _find_table(lines: list[str]):
    """(header line index, labels, roles) of the first header row followed by data."""
    for i, s in enumerate(lines[:200]):
        if not s.strip() or is_numeric_line(s, 2):
            continue
        nxt = next((t for t in lines[i + 1:i + 3] if t.strip()), "")
        if not is_numeric_line(nxt, 3):
            continue
        delim, _ = guess_delimiter(nxt)
        labels = _split(s, delim)
        if len(labels) < 3:
            labels = s.split()
        roles = {}
        for j, lab in enumerate(labels):
            r = _role(lab)
            if r[0] and r[0] not in roles:
                roles[r[0]] = (j,) + r[1:]
        if "freq" in roles and (("mod" in roles and "phase" in roles)
                                or ("re" in roles and "im" in roles)):
            return i, labels, roles
    return None


def sniff(head: bytes, path: Path | None = None) -> bool:
    """A Zahner marker (``File Name:``, Zahner/Thales, Bin2Txt's ``LOGZm``) and a
    header naming frequency and impedance columns."""
    if b"\x00" in head[:1024] or not any(m in head[:4096] for m in _MARKERS):
        return False
    lines = decode(normalise_newlines(head)).split("\n")
    return _find_table(lines[:-1] if len(head) >= 65536 else lines) is not None


def _quantity(text: str) -> float | None:
    m = _NUM.match(text.strip())
    if not m or m.group(2) not in _SI:
        return None
    return float(m.group(1).replace(",", ".")) * _SI[m.group(2)]


def _header_meta(lines: list[str]) -> dict:
    meta: dict = {}
    for s in lines:
        for part in re.split(r",\s+(?=[A-Za-z])", s):
            m = re.match(r"\s*([A-Za-z][A-Za-z ]{1,30}?)\s*\.*:\s*(.+?)\s*$", part)
            if not m:
                continue
            key, val = m.group(1).strip().lower(), m.group(2)
            if key == "file name":
                meta["original_file"] = val
            elif key == "potential" and _quantity(val) is not None:
                meta["dc_potential_V"] = _quantity(val)
            elif key == "current" and _quantity(val) is not None:
                meta["dc_current_A"] = _quantity(val)
            elif key == "ampl" and _quantity(val) is not None:
                meta["ac_amplitude"] = _quantity(val)
            elif key in ("time", "system", "comment", "area"):
                meta.setdefault(key, val)
    return meta


def read(path, *, overlap: bool = False, split: str = "auto") -> SpectrumSeries:
    """Read a Zahner text export.

    Parameters
    ----------
    path : str or Path
    overlap : bool
        Keep the overlapping first branch of a Thales sweep (default: drop it).
    split : {"auto", "loop", "sweep", "none"}

    Returns
    -------
    SpectrumSeries
        ``meta``: ``original_file``, ``dc_potential_V``, ``dc_current_A``,
        ``ac_amplitude`` (V or A) from the header lines where given,
        ``overlap_points`` (rows left out).
    """
    path = Path(path)
    raw = normalise_newlines(path.read_bytes())
    text = decode(raw)
    lines = text.split("\n")
    found = _find_table(lines)
    if found is None:
        raise FileFormatError("no column header naming frequency and impedance (|Z| and "
                              "phase, or real and imaginary parts) above a block of numbers",
                              path=path, line=1)
    hi, labels, roles = found
    first = hi + 1
    while first < len(lines) and not lines[first].strip():
        first += 1
    delim, dec = guess_delimiter(lines[first])
    block = "\n".join(lines[first:])
    vals, _ = parse_numeric(block.encode("utf-8"), first_line=first + 1, path=path,
                            delimiter=delim, decimal_comma=dec)
    if vals.shape[0] == 0:
        raise FileFormatError("no data rows under the column header", path=path, line=first + 1)
    if vals.shape[1] < max(r[0] for r in roles.values()) + 1:
        raise FileFormatError(f"rows have {vals.shape[1]} values, the header names "
                              f"{len(labels)} columns", path=path, line=first + 1)

    def col(role):
        j, log, scale, _ = roles[role]
        v = vals[:, j] * scale
        return 10.0 ** v if log else v

    f = col("freq")
    if "mod" in roles and "phase" in roles:
        ph = col("phase") if roles["phase"][3] == "rad" else np.deg2rad(col("phase"))
        Z = col("mod") * np.exp(1j * ph)
    else:
        im = col("im")
        if "phase" in roles:
            ph = col("phase")
            ok = (np.abs(ph) > 1e-3) & (im != 0)
            if ok.sum() >= 3 and np.mean(np.sign(ph[ok]) != np.sign(im[ok])) > 0.5:
                im = -im
        Z = col("re") + 1j * im
    keep = np.arange(f.size)
    if not overlap and f.size > 2 and np.isfinite(f).all():
        a, b = sorted((int(np.argmin(f)), int(np.argmax(f))))
        keep = np.arange(a, b + 1)
    meta = {"format": "zahner_txt", "instrument": "Zahner", "technique": "unknown",
            "columns": labels, "overlap_points": int(f.size - keep.size)}
    meta.update(_header_meta(lines[:hi]))
    channels = {}
    if "t" in roles:
        channels["t"] = col("t")[keep]
    return assemble(f[keep], Z[keep], path=path, meta=meta, channels=channels, split=split,
                    where={"line": first + 1})


FORMAT = Format(name="zahner_txt", description="Zahner Thales / Zahner Analysis text export",
                extensions=(), sniff=sniff, read=read, aliases=("zahner",))
