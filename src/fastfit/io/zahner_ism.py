"""Zahner Thales / Zahner Analysis binary impedance spectra (``.ism``).

Layout (facts from Zahner's MIT-licensed ``zahner_analysis`` package, module
``file_import/ism_import.py``, checked on the example files of Zahner's
Zahner-Analysis-Python repository; every number big-endian)::

    0    i6   version / magic: 0x0000FFFFFFFE (Thales), 0x0000FFFFFFFF (some exports)
    6    i6   n - 1 (number of points minus one)
    12   f8[n]  frequency (Hz)
         f8[n]  |Z| (ohm)
         f8[n]  phase (rad, arg Z: negative for capacitive arcs)
         f8[n]  time stamp of each point (s since 1980-01-01)
         i2[n]  significance (0..1000)
    then metadata strings, each an i2 length + ASCII with upper/lower case swapped:
         date (DDMMYY), system, voltage, current, temperature, time window,
         comment 1..4, electrode area, ...; then an i2 flag and 32 f8 values (the
         AC amplitude in mV at index 25), optionally per-point DC voltage/current.

A Thales sweep starts at the start frequency, runs to one end of the range and then
over the whole range to the other end; the first branch overlaps the second.  Like
Zahner Analysis, the reader keeps the points from the frequency extreme reached first
to the other extreme (``overlap=True`` keeps them all, ``meta['overlap_points']``
says how many were left out).
"""
from __future__ import annotations

import datetime as _dt
import struct
from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from ..series import SpectrumSeries
from ._assemble import assemble
from ._registry import Format

__all__ = ["read", "sniff", "FORMAT"]

_MAGICS = (b"\x00\x00\xff\xff\xff\xfe", b"\x00\x00\xff\xff\xff\xff")
_EPOCH = _dt.datetime(1980, 1, 1)
_STRINGS = ("date", "system", "voltage", "current", "temperature", "time_window",
            "comment_1", "comment_2", "comment_3", "comment_4", "electrode_area")


def sniff(head: bytes, path: Path | None = None) -> bool:
    """The Thales magic and a point count whose arrays fit the file."""
    if len(head) < 12 or head[:6] not in _MAGICS:
        return False
    n = int.from_bytes(head[6:12], "big", signed=True) + 1
    whole = len(head) < 65536                 # the head is the whole file
    return 1 <= n <= 10_000_000 and (not whole or 12 + 34 * n <= len(head))


def _strings(buf: bytes, pos: int) -> tuple[dict, int]:
    """The metadata strings after the arrays (best effort: stops at the first one that
    does not fit)."""
    out = {}
    for key in _STRINGS:
        if pos + 2 > len(buf):
            break
        k = int.from_bytes(buf[pos:pos + 2], "big", signed=True)
        if k < 0 or pos + 2 + k > len(buf):
            break
        text = buf[pos + 2:pos + 2 + k].decode("latin-1").swapcase().strip()
        pos += 2 + k
        if text and text.isprintable():
            out[key] = text
    return out, pos


def _amplitude(buf: bytes, pos: int) -> float | None:
    """AC amplitude (V or A) from the 32 f8 values after one more string and a flag."""
    if pos + 2 > len(buf):
        return None
    k = int.from_bytes(buf[pos:pos + 2], "big", signed=True)
    at = pos + 2 + max(k, 0) + 2 + 25 * 8
    if k < 0 or at + 8 > len(buf):
        return None
    v = struct.unpack_from(">d", buf, at)[0]
    return v * 1e-3 if np.isfinite(v) and 0 < v < 1e5 else None


def read(path, *, overlap: bool = False, split: str = "auto") -> SpectrumSeries:
    """Read a Zahner ``.ism`` spectrum.

    Parameters
    ----------
    path : str or Path
    overlap : bool
        Keep the first, overlapping branch of the sweep (default: drop it, as Zahner
        Analysis does).
    split : {"auto", "loop", "sweep", "none"}

    Returns
    -------
    SpectrumSeries
        One spectrum, Z = \\|Z\\| exp(j phase); ``points['t']`` in s from the first
        point's time stamp (``meta['t0']``); ``meta``: ``significance`` per point kept,
        the metadata strings (system, voltage, current, comments, electrode area),
        ``ac_amplitude`` (V or A, the file does not say which).
    """
    path = Path(path)
    buf = path.read_bytes()
    if len(buf) < 12 or buf[:6] not in _MAGICS:
        raise FileFormatError("not a Zahner .ism file (unknown 6-byte header "
                              f"{buf[:6].hex()})", path=path, offset=0)
    n = int.from_bytes(buf[6:12], "big", signed=True) + 1
    need = 12 + 34 * n
    if n < 1 or need > len(buf):
        raise FileFormatError(f"header announces {n} points ({need} bytes of arrays) but the "
                              f"file has {len(buf)} bytes", path=path, offset=6)
    arr = np.frombuffer(buf, ">f8", count=4 * n, offset=12).reshape(4, n).astype(np.float64)
    f, mod, ph, t = arr
    sig = np.frombuffer(buf, ">i2", count=n, offset=12 + 32 * n).astype(np.int64)
    bad = ~(np.isfinite(f) & (f > 0))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise FileFormatError(f"point {k}: frequency {f[k]!r} is not a positive number",
                              path=path, offset=12 + 8 * k)
    lo, hi = int(np.argmin(f)), int(np.argmax(f))
    a, b = sorted((lo, hi))
    keep = np.arange(n) if overlap else np.arange(a, b + 1)
    meta: dict = {"format": "zahner_ism", "instrument": "Zahner", "technique": "unknown",
                  "overlap_points": int(n - keep.size), "n_points_file": n}
    strings, pos = _strings(buf, need)
    meta.update(strings)
    amp = _amplitude(buf, pos)
    if amp is not None:
        meta["ac_amplitude"] = amp
    t_ok = np.isfinite(t) & (t > 1e8) & (t < 3e9)
    if t_ok[keep].all():
        t0 = float(t[keep].min())
        meta["t0"] = (_EPOCH + _dt.timedelta(seconds=round(t0, 3))).isoformat()
        t = t - t0
    meta["significance"] = sig[keep].tolist()
    Z = mod * np.exp(1j * ph)
    channels = {"t": t[keep]} if t_ok[keep].all() else {}
    return assemble(f[keep], Z[keep], path=path, meta=meta, channels=channels, split=split,
                    where={"offset": 12})


FORMAT = Format(name="zahner_ism", description="Zahner Thales binary spectrum (.ism)",
                extensions=(".ism",), sniff=sniff, read=read, aliases=("ism",))
