"""PalmSens PSTrace / MultiTrace session files (``.pssession``).

Layout (observed on PSTrace 5.7-5.11 files; key names as in the PalmSens SDK
documentation of ``PalmSens.Data`` and ``PalmSens.Plottables``)::

    UTF-16 LE text with a BOM: one JSON object, often followed by a second BOM
    (U+FEFF) or other trailing bytes after the closing brace.
    {"Type": "PalmSens.DataFiles.SessionFile", "CoreVersion": "5.9...",
     "MethodForMeasurement": "#PSTrace...\\r\\nMETHOD_ID=eis\\r\\n...",
     "Measurements": [
        {"Title": ..., "TimeStamp": <.NET ticks, local>, "DeviceSerial": ...,
         "Method": "...KEY=VALUE lines...",
         "DataSet": {"Type": "PalmSens.Data.DataSetEIS", "Values": [<array>, ...]},
         "Curves": [...],                         (voltammetry plots; ignored)
         "EISDataList": [{"Title": ..., "DataSet": {...}}            one spectrum
                         {"Title": ..., "SubScans": [{"DataSet": ...}, ...]}]}]}
    <array> = {"Description": "Frequency"|"ZRe"|"ZIm"|"time"|"potential"|"Idc"...,
               "ArrayType": int, "Unit": {"Type": "PalmSens.Units.Hertz", "S": "Hz"},
               "DataValues": [{"V": value, ...}, ...]}

Some files (PSTrace 5.7) write every key in lower case; keys are matched without
regard to case.  ``ZIm`` holds -Im(Z) (positive for capacitive arcs; so does
``Phase``): Z = ZRe - j ZIm.

Which data are spectra: each EIS measurement's ``EISDataList`` entry (or each of its
``SubScans`` -- potential or time scans, one entry per multiplexer channel) is one
spectrum, when the list holds the measurement's own ``DataSet``; otherwise (edited
files whose ``DataSet`` was replaced) the ``DataSet`` itself, split at frequency-sweep
restarts.  Measurements of other techniques (CV, DPV...) are skipped.
"""
from __future__ import annotations

import datetime as _dt
import json
import re
from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from ..series import SpectrumSeries
from ._assemble import assemble
from ._registry import Format

__all__ = ["read", "sniff", "FORMAT"]

_BOM16 = b"\xff\xfe"
_DOC = 2                 # byte offset of the JSON document (structural errors point here)
_PREFIX = {"Pico": 1e-12, "Nano": 1e-9, "Micro": 1e-6, "Milli": 1e-3, "Kilo": 1e3, "Mega": 1e6}


def sniff(head: bytes, path: Path | None = None) -> bool:
    """UTF-16 LE JSON naming a PalmSens session (``"Type":"PalmSens.``)."""
    if not head.startswith(_BOM16 + b"{\x00"):
        return False
    text = head[2:4096].decode("utf-16-le", errors="ignore")
    return "palmsens." in text.lower()


def _lower(obj):
    """Dict keys in lower case, recursively (PSTrace 5.7 writes them so)."""
    if isinstance(obj, dict):
        return {str(k).lower(): _lower(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_lower(v) for v in obj]
    return obj


def _load(path: Path) -> dict:
    raw = path.read_bytes()
    if not raw.startswith(_BOM16):
        raise FileFormatError("not a PalmSens session (no UTF-16 byte-order mark)", path=path,
                              offset=0)
    body = raw[2:]
    if len(body) % 2:
        body = body[:-1]
    text = body.decode("utf-16-le", errors="replace")
    end = text.rfind("}")
    if not text.startswith("{") or end < 0:
        raise FileFormatError("no JSON object after the byte-order mark", path=path, offset=_DOC)
    try:
        doc = json.loads(text[:end + 1])
    except (ValueError, RecursionError) as e:
        pos = getattr(e, "pos", None)
        raise FileFormatError(f"corrupt session JSON ({getattr(e, 'msg', e)})", path=path,
                              offset=_DOC if pos is None else _DOC + 2 * pos) from None
    if not isinstance(doc, dict):
        raise FileFormatError("session JSON is not an object", path=path, offset=_DOC)
    return _lower(doc)


def _arrays(ds, path, where: str) -> dict[str, np.ndarray]:
    """Description -> values (SI units) of one ``DataSet``."""
    if not isinstance(ds, dict) or not isinstance(ds.get("values"), list):
        raise FileFormatError(f"{where}: 'DataSet' has no 'Values' list", path=path, offset=_DOC)
    out = {}
    for arr in ds["values"]:
        if not isinstance(arr, dict) or not isinstance(arr.get("datavalues"), list):
            raise FileFormatError(f"{where}: a data array has no 'DataValues' list", path=path, offset=_DOC)
        desc = str(arr.get("description", "")).lower()
        unit = arr.get("unit") if isinstance(arr.get("unit"), dict) else {}
        utype = str(unit.get("type", "")).rsplit(".", 1)[-1]
        scale = next((f for p, f in _PREFIX.items() if utype.startswith(p)), 1.0)
        vals = []
        for v in arr["datavalues"]:
            x = v.get("v") if isinstance(v, dict) else None
            vals.append(x if isinstance(x, (int, float)) and not isinstance(x, bool) else np.nan)
        out.setdefault(desc, np.asarray(vals, np.float64) * scale)
    return out


def _spectrum(a: dict, path, where: str):
    for key in ("frequency", "zre", "zim"):
        if key not in a:
            raise FileFormatError(f"{where}: no {key!r} data array", path=path, offset=_DOC)
    n = a["frequency"].size
    if any(a[k].size != n for k in ("zre", "zim")):
        raise FileFormatError(f"{where}: 'Frequency', 'ZRe' and 'ZIm' differ in length "
                              f"({n}, {a['zre'].size}, {a['zim'].size})", path=path, offset=_DOC)
    ch = {k: a[src] for k, src in (("t", "time"), ("Ewe", "potential"), ("I", "idc"))
          if src in a and a[src].size == n}
    return a["frequency"], a["zre"] - 1j * a["zim"], ch


def _method(text) -> dict:
    return dict(re.findall(r"(?m)^([A-Z_0-9]+)=(.*?)\r?$", text)) if isinstance(text, str) else {}


def _ticks_iso(ticks) -> str | None:
    """.NET ticks (100 ns since 0001-01-01) -> ISO-8601."""
    if not isinstance(ticks, int) or not 5e17 < ticks < 7e17:
        return None
    return (_dt.datetime(1, 1, 1) + _dt.timedelta(microseconds=ticks // 10)).isoformat()


def _same(a: dict, b: dict) -> bool:
    fa, fb = a.get("frequency"), b.get("frequency")
    return (fa is not None and fb is not None and fa.size == fb.size
            and np.array_equal(fa, fb, equal_nan=True)
            and np.array_equal(a.get("zre"), b.get("zre"), equal_nan=True))


def read(path, *, split: str = "auto") -> SpectrumSeries:
    """Read every EIS spectrum of a PalmSens ``.pssession`` file.

    Parameters
    ----------
    path : str or Path
    split : {"auto", "loop", "sweep", "none"}
        Each curve / sub-scan starts a spectrum; "auto" also splits at sweep restarts.

    Returns
    -------
    SpectrumSeries
        ``meta['titles']``: one per spectrum (curve / sub-scan titles); ``points``: ``t``
        (s), ``Ewe`` (V), ``I`` (A) where recorded; ``meta``: instrument (device
        serial), t0, technique, ``dc_potential_V`` and ``ac_amplitude_V`` (rms as
        PSTrace states it) from the method text.
    """
    path = Path(path)
    doc = _load(path)
    meas = doc.get("measurements")
    if not isinstance(meas, list) or not meas:
        raise FileFormatError("no 'Measurements' list in the session", path=path, offset=_DOC)
    fs, zs, chans, starts, titles, total = [], [], {}, [], [], 0
    first = None
    for i, m in enumerate(meas):
        if not isinstance(m, dict) or not isinstance(m.get("dataset"), dict):
            raise FileFormatError(f"measurement {i}: no 'DataSet'", path=path, offset=_DOC)
        where = f"measurement {i} ({m.get('title', '')!s})"
        main = _arrays(m["dataset"], path, where)
        if "frequency" not in main and "eis" not in str(m["dataset"].get("type", "")).lower():
            continue                                  # CV, DPV, chronoamperometry...
        curves = []
        for k, e in enumerate(m.get("eisdatalist") or []):
            subs = e.get("subscans") if isinstance(e, dict) else None
            for s in (subs if isinstance(subs, list) and subs else [e]):
                if isinstance(s, dict) and isinstance(s.get("dataset"), dict):
                    curves.append((str(s.get("title", e.get("title", ""))),
                                   _arrays(s["dataset"], path, f"{where}, curve {k}")))
        if curves and "frequency" in main:
            joined = {key: np.concatenate([c[1].get(key, np.full(c[1]["frequency"].size, np.nan))
                                           for c in curves]) for key in ("frequency", "zre")}
            n = main["frequency"].size
            if not any(_same(main, {k: v[o:o + n] for k, v in joined.items()})
                       for o in range(0, joined["frequency"].size - n + 1)):
                curves = []                           # DataSet edited: it is the truth
        if not curves:
            curves = [(str(m.get("title", "")), main)]
        for title, arrays in curves:
            f, z, ch = _spectrum(arrays, path, where)
            starts.append(total)
            total += f.size
            fs.append(f)
            zs.append(z)
            titles.append(title)
            for key in ("t", "Ewe", "I"):
                chans.setdefault(key, []).append(ch.get(key, np.full(f.size, np.nan)))
        first = first or m
    if first is None:
        raise FileFormatError("no impedance (EIS) measurement in the session", path=path, offset=_DOC)
    if total == 0:
        raise FileFormatError("the EIS measurements hold no points", path=path, offset=_DOC)
    method = _method(first.get("method") or doc.get("methodformeasurement"))
    meta = {"format": "palmsens", "technique": "PEIS", "t0": _ticks_iso(first.get("timestamp")),
            "instrument": "PalmSens" + (f" {first['deviceserial']}" if first.get("deviceserial") else ""),
            "software_version": doc.get("coreversion"), "n_measurements": len(meas),
            "titles": titles, "method": method}
    for key, out in (("E", "dc_potential_V"), ("AMPLITUDE", "ac_amplitude_V")):
        try:
            meta[out] = float(method[key])
        except (KeyError, ValueError):
            pass
    channels = {k: np.concatenate(v) for k, v in chans.items()
                if not np.isnan(np.concatenate(v)).all()}
    out = assemble(np.concatenate(fs), np.concatenate(zs), path=path, meta=meta,
                   channels=channels, starts=starts, split=split, where={"offset": 2})
    return out


FORMAT = Format(name="palmsens", description="PalmSens PSTrace session (.pssession)",
                extensions=(".pssession",), sniff=sniff, read=read, aliases=("pssession",))
