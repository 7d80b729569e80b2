"""Spectra and sources tables of a store: rows from a SpectrumSeries and back.

Layout (see docs/store-schema.md): ``/spectra`` holds one row per spectrum (freq, z_real,
z_imag, mask, n_cols, time, time_end, source, index_in_source, key, info/*, points/*);
``/sources`` one row per ingested source (file).
"""
from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone

import numpy as np

__all__ = ["json_default", "spectrum_keys", "source_rows", "info_columns", "assemble_series", "t0_offsets",
           "KEY_DTYPE"]

KEY_DTYPE = np.dtype("S40")   # sha1 hex digest


def spectrum_keys(series, index_in_source: np.ndarray) -> np.ndarray:
    """Content key of every spectrum: sha1 of (index in source, used freq, used Z).

    Re-ingesting the same file (even moved or renamed) gives the same keys, so it adds
    nothing; two identical spectra at different positions of a source stay distinct.
    """
    keys = np.empty(len(series), KEY_DTYPE)
    for i in range(len(series)):
        m = series.mask[i]
        h = hashlib.sha1(np.int64(index_in_source[i]).tobytes())
        h.update(np.ascontiguousarray(series.freq[i][m]).tobytes())
        h.update(np.ascontiguousarray(series.Z[i][m]).tobytes())
        keys[i] = h.hexdigest().encode()
    return keys


def json_default(obj):
    """JSON fallback for stored attributes: numpy scalars and arrays as numbers and lists,
    anything else as its str."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _fingerprint(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except (OSError, ValueError, TypeError):
        return -1, -1
    return int(st.st_size), int(st.st_mtime_ns)


def source_rows(series) -> tuple[list[dict], np.ndarray]:
    """Source records of a series and, per spectrum, the record it came from.

    A concatenated series (``meta['sources']`` + ``info['source_id']``) gives one record
    per listed source; otherwise the whole series is one source, ``meta['source']``.
    """
    meta = dict(series.meta)
    sources = meta.pop("sources", None)
    n = len(series)
    if sources is not None and "source_id" in series.info:
        paths = [None if s is None else str(s) for s in sources]
        local = np.asarray(series.info["source_id"], np.int64)
    else:
        paths = [None if meta.get("source") is None else str(meta.get("source"))]
        local = np.zeros(n, np.int64)
    records = []
    for p in paths:
        full = "" if p is None else os.path.abspath(p) if os.path.exists(p) else p
        size, mtime = _fingerprint(full) if full else (-1, -1)
        m = dict(meta)
        m["source"] = full
        records.append(dict(
            path=full, format=str(meta.get("format", "unknown")),
            technique=str(meta.get("technique", "unknown")),
            t0="" if meta.get("t0") is None else str(meta.get("t0")),
            meta_json=json.dumps(m, default=json_default, sort_keys=True),
            size=size, mtime_ns=mtime))
    return records, local


def info_columns(info: dict, n: int) -> dict:
    """Storable per-spectrum info: {name: (kind, array)} with kind 'f', 'i', 'b' or 's'."""
    out = {}
    for name, v in info.items():
        if name in ("source_id", "index", "store_index") or "/" in name:
            continue
        a = np.asarray(v)
        if a.shape != (n,):
            continue
        if a.dtype.kind == "b":
            out[name] = ("b", a.astype(np.uint8))
        elif a.dtype.kind in "iu":
            out[name] = ("i", a.astype(np.int64))
        elif a.dtype.kind == "f":
            out[name] = ("f", a.astype(np.float64))
        elif a.dtype.kind in "USO" and all(isinstance(x, (str, bytes)) for x in a.tolist()):
            out[name] = ("s", np.array([x.decode() if isinstance(x, bytes) else x
                                        for x in a.tolist()], dtype=object))
    return out


def _parse_t0(text: str):
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t


def t0_offsets(t0_strings: list[str]) -> tuple[np.ndarray, str | None]:
    """Seconds from the earliest known t0 to each source's t0 (0 where unknown)."""
    parsed = [_parse_t0(s) for s in t0_strings]
    known = [t for t in parsed if t is not None]
    if not known:
        return np.zeros(len(parsed)), None
    ref = min(known)
    off = np.array([0.0 if t is None else (t - ref).total_seconds() for t in parsed])
    ref_text = next(s for s, t in zip(t0_strings, parsed) if t == ref)
    return off, ref_text


def pad_rows(arr: np.ndarray, n_cols: np.ndarray, width: int) -> np.ndarray:
    """Cut to ``width`` columns and repeat each row's last written column beyond n_cols."""
    arr = arr[:, :width]
    if arr.shape[0] == 0:
        return arr
    cols = np.arange(width)[None, :]
    last = np.clip(n_cols - 1, 0, width - 1)[:, None]
    src = np.minimum(cols, last)
    return np.take_along_axis(arr, src, axis=1)


def assemble_series(cols: dict, sources: dict, store_path: str, store_index: np.ndarray):
    """SpectrumSeries from column arrays read from ``/spectra`` and ``/sources``."""
    from ..series import SpectrumSeries

    n_cols = cols["n_cols"].astype(np.int64)
    width = int(n_cols.max()) if n_cols.size else 1
    used = cols["mask"][:, :width].astype(bool) & (np.arange(width)[None, :] < n_cols[:, None])
    any_used = np.nonzero(used.any(axis=0))[0]
    width = int(any_used[-1]) + 1 if any_used.size else 1   # drop columns unused by all rows
    freq = pad_rows(cols["freq"], n_cols, width)
    Z = pad_rows(cols["z_real"], n_cols, width) + 1j * pad_rows(cols["z_imag"], n_cols, width)
    mask = used[:, :width]
    src = cols["source"].astype(np.int64)
    offsets, t0_ref = t0_offsets(sources["t0"])
    shift = offsets[src] if src.size else np.zeros(0)
    info = {"index": cols["index_in_source"].astype(np.int64), "source_id": src,
            "store_index": np.asarray(store_index, np.int64)}
    for name, a in cols.get("info", {}).items():
        info[name] = a
    points = {name: pad_rows(a, n_cols, width) for name, a in cols.get("points", {}).items()}
    used = sorted(set(src.tolist()))
    techniques = {sources["technique"][s] for s in used}
    formats = {sources["format"][s] for s in used}
    meta = {"store": store_path, "sources": list(sources["path"]),
            "source": sources["path"][used[0]] if len(used) == 1 else None,
            "format": formats.pop() if len(formats) == 1 else "mixed",
            "technique": techniques.pop() if len(techniques) == 1 else "mixed",
            "t0": t0_ref}
    areas = set()
    for s in used:
        try:
            areas.add(json.loads(sources["meta_json"][s]).get("area_cm2"))
        except ValueError:
            areas.add(None)
    if len(areas) == 1 and None not in areas:
        meta["area_cm2"] = areas.pop()
    return SpectrumSeries(freq=freq, Z=Z, mask=mask, time=cols["time"] + shift,
                          time_end=cols["time_end"] + shift, meta=meta, info=info,
                          points=points)
