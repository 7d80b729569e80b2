"""BioLogic EC-Lab binary ``.mpr`` files.

Layout (observed; facts from the published reverse engineering in galvani and yadg,
checked on the files in ``tests/data``)::

    0x00  "BIO-LOGIC MODULAR FILE\\x1a" padded with spaces to 48 bytes, then 4 zero bytes
    0x34  modules, each:  "MODULE" + header + `length` bytes of module data
          header (EC-Lab < 11.50):  short name S10, long name S25, length u4, version u4,
                                    date S8                                   (51 bytes)
          header (EC-Lab >= 11.50): short name S10, long name S25, 0xFFFFFFFF u4,
                                    length u4, version u4, u4, date S8        (59 bytes)

    "VMP Set"   settings: byte 0 = technique id (0x1D PEIS, 0x1E GEIS); f4 electrode
                area (cm2) at 0x211; technique parameters at 0x572 (EC-Lab < 11.50) or
                0x1847 (>= 11.50) as ns u2, n u2, then the PEIS fields.
    "VMP data"  points u4, columns u1, then the column ids and the records:
                  version 0, EC-Lab >= 11.50: ids big-endian u2, records at 1007
                  version 0, older:           ids u1,            records at 100
                  version 2:                  ids little-endian u2, records at 405
                  version 3:                  ids little-endian u2, records at 406
                a record is the concatenation of the columns in id order (see
                `_mpr_columns`); flag ids share one byte at the first flag's place.
    "VMP LOG"   OLE date (f8, days since 1899-12-30) of the acquisition start at 0x249
                (older files: 465, 469 or 473); Pascal strings: original file name
                0x251, EC-Lab version 0x3B7, device serial 0x3CF.
    "VMP loop"  n u4, then n u4 row indices where loops start.

The records are read with one ``np.frombuffer`` over a structured dtype (no Python loop
over points).  Corrupt or truncated files raise `FileFormatError` with the byte offset.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from ..series import SpectrumSeries
from ._assemble import assemble
from ._mpr_columns import ALTERNATE, COLUMNS, CONFLICTS, FLAG_IDS, ROLES
from ._registry import Format
from ._text import ole_to_iso

__all__ = ["read", "sniff", "MAGIC", "FORMAT"]

MAGIC = b"BIO-LOGIC MODULAR FILE"
_FILE_HEADER = 0x34
# settings byte 0 (yadg's technique table); ZIR (IR determination) is a PEIS
_TECHNIQUES = {0x1D: "PEIS", 0x1E: "GEIS", 0x32: "PEIS"}
_TECHNIQUE_NAMES = {0x1D: "PEIS", 0x1E: "GEIS", 0x32: "ZIR", 0x7F: "MB"}
_FREQ_UNIT = {0: 1e6, 1: 1e3, 2: 1.0, 3: 1e-3, 4: 1e-6}   # settings unit codes: MHz..uHz
# data-module version -> [(id dtype, records offset)] to try, most likely first
_LAYOUTS = {0: [(">u2", 1007), ("u1", 100)], 2: [("<u2", 405)], 3: [("<u2", 406)]}


def sniff(head: bytes, path: Path | None = None) -> bool:
    """True for the EC-Lab modular-file magic."""
    return head.startswith(MAGIC)


def _modules(buf: bytes, path) -> list[dict]:
    if not buf.startswith(MAGIC):
        raise FileFormatError(f"not a BioLogic .mpr file (expected {MAGIC.decode()!r})",
                              path=path, offset=0)
    if len(buf) < _FILE_HEADER:
        raise FileFormatError("file ends inside the file header", path=path, offset=len(buf))
    mods, pos = [], _FILE_HEADER
    while pos < len(buf):
        if buf[pos:pos + 6] != b"MODULE":
            raise FileFormatError(f"expected 'MODULE', found {buf[pos:pos + 6]!r}",
                                  path=path, offset=pos)
        h = pos + 6
        if len(buf) < h + 51:
            raise FileFormatError("file ends inside a module header", path=path, offset=pos)
        name = buf[h:h + 10].decode("latin-1").strip(" \x00")
        if buf[h + 35:h + 39] == b"\xff\xff\xff\xff":
            if len(buf) < h + 59:
                raise FileFormatError("file ends inside a module header", path=path, offset=pos)
            length, version = struct.unpack_from("<II", buf, h + 39)
            ver_at, start = h + 43, h + 59
        else:
            length, version = struct.unpack_from("<II", buf, h + 35)
            ver_at, start = h + 39, h + 51
        if start + length > len(buf):
            raise FileFormatError(f"module {name!r} declares {length} bytes but only "
                                  f"{len(buf) - start} remain (file truncated?)",
                                  path=path, offset=start)
        mods.append({"name": name, "version": version, "version_at": ver_at,
                     "start": start, "length": length})
        pos = start + length
    return mods


def _record_dtype(ids, alt: bool, data_bytes: int, npts: int):
    """Structured dtype of one record, or None when the sizes cannot fit.

    Known ids get their type; unknown ids become unnamed padding when their width is
    determined: one unknown id (or one run of adjacent unknown ids) takes whatever the
    record size ``data_bytes / npts`` leaves; several separate unknown ids are taken
    as 4 bytes each (the width of almost every EC-Lab column) only when that fills the
    record exactly.  Returns (dtype, unknown) with unknown a list of
    ``{"id", "column", "offset", "width"}`` records.
    """
    known, unknown, flags_done = [], [], False
    for k, cid in enumerate(ids.tolist()):
        if cid in FLAG_IDS:
            if not flags_done:
                known.append((k, "flags", "u1"))
                flags_done = True
            continue
        if cid not in COLUMNS:
            unknown.append(k)
            known.append((k, None, None))
            continue
        fmt = ALTERNATE.get(cid, COLUMNS[cid][1]) if alt else COLUMNS[cid][1]
        known.append((k, f"c{k}_{cid}", fmt))
    size_known = sum(np.dtype(f).itemsize for _, _, f in known if f)
    widths: dict[int, int] = {}
    if unknown:
        if npts <= 0 or data_bytes % npts:
            return None
        free = data_bytes // npts - size_known
        runs = np.split(np.asarray(unknown), np.flatnonzero(np.diff(unknown) > 1) + 1)
        if len(runs) == 1 and free >= len(unknown):
            widths = {int(k): 0 for k in runs[0]}
            widths[int(runs[0][0])] = free          # one padding block for the run
        elif free == 4 * len(unknown):
            widths = {k: 4 for k in unknown}
        else:
            return None
    names, fmts, offsets, pos, unk = [], [], [], 0, []
    for k, name, fmt in known:
        if name is None:
            unk.append({"id": int(ids[k]), "column": k + 1, "offset": pos, "width": widths[k]})
            pos += widths[k]
            continue
        names.append(name)
        fmts.append(fmt)
        offsets.append(pos)
        pos += np.dtype(fmt).itemsize
    dt = np.dtype({"names": names, "formats": fmts, "offsets": offsets, "itemsize": pos})
    return dt, unk


def _data(buf: bytes, mod: dict, path):
    s, length, version = mod["start"], mod["length"], mod["version"]
    if version not in _LAYOUTS:
        raise FileFormatError(f"unknown 'VMP data' module version {version} "
                              f"(known: {sorted(_LAYOUTS)})", path=path, offset=mod["version_at"])
    if length < 6:
        raise FileFormatError("'VMP data' module too short", path=path, offset=s)
    npts = struct.unpack_from("<I", buf, s)[0]
    ncol = buf[s + 4]
    if ncol == 0:
        raise FileFormatError("'VMP data' module declares no columns", path=path, offset=s + 4)
    layouts = list(_LAYOUTS[version])
    if version == 0 and buf[s + 5] != 0:            # single-byte ids start non-zero
        layouts.reverse()
    first_error = None
    for id_fmt, rec_at in layouts:
        id_size = np.dtype(id_fmt).itemsize
        if 5 + ncol * id_size > min(rec_at, length) or rec_at > length:
            continue
        ids = np.frombuffer(buf, id_fmt, count=ncol, offset=s + 5)
        for alt in (False, True):
            if alt and not any(int(c) in ALTERNATE for c in ids):
                break
            got = _record_dtype(ids, alt, length - rec_at, npts)
            if got is not None and rec_at + npts * got[0].itemsize == length:
                rec = np.frombuffer(buf, got[0], count=npts, offset=s + rec_at)
                return ids, rec, got[1]
            if first_error is None:
                unk = [int(c) for c in ids if int(c) not in COLUMNS and int(c) not in FLAG_IDS]
                if got is None and unk:
                    k = next(i for i, c in enumerate(ids.tolist()) if c in unk)
                    first_error = FileFormatError(
                        f"unknown column id{'s' if len(unk) > 1 else ''} "
                        f"{', '.join(map(str, unk))} (column {k + 1} of {ids.size}); their "
                        "byte sizes cannot be told from the record size, so the records "
                        "cannot be decoded", path=path, offset=s + 5 + k * id_size)
                else:
                    size = got[0].itemsize if got else "?"
                    first_error = FileFormatError(
                        f"'VMP data' module: {npts} points x {size} bytes per record do not "
                        f"fit its {length - rec_at} data bytes (corrupt or truncated)",
                        path=path, offset=s)
    raise first_error or FileFormatError("'VMP data' module header is inconsistent",
                                         path=path, offset=s)


def _pascal(data: bytes, off: int) -> str | None:
    if off >= len(data):
        return None
    n = data[off]
    raw = data[off + 1:off + 1 + n]
    if n == 0 or len(raw) != n or any(c < 32 for c in raw):
        return None
    return raw.decode("latin-1")


def _log_meta(data: bytes) -> dict:
    out = {}
    for off in (0x249, 465, 469, 473):
        if off + 8 <= len(data):
            iso = ole_to_iso(struct.unpack_from("<d", data, off)[0])
            if iso:
                out["t0"] = iso
                break
    for key, off in (("original_file", 0x251), ("software_version", 0x3B7),
                     ("device_serial", 0x3CF)):
        v = _pascal(data, off)
        if v:
            out[key] = v
    return out


def _settings_meta(data: bytes) -> tuple[dict, dict | None]:
    meta: dict = {}
    if not data:
        return meta, None
    meta["technique"] = _TECHNIQUES.get(data[0], "unknown")
    meta["technique_id"] = int(data[0])
    if data[0] in _TECHNIQUE_NAMES:
        meta["technique_name"] = _TECHNIQUE_NAMES[data[0]]
    if len(data) >= 0x215:
        area = struct.unpack_from("<f", data, 0x211)[0]
        if np.isfinite(area) and 0 < area < 1e6:
            meta["area_cm2"] = float(f"{area:.7g}")          # stored as float32
    sweep = None
    if meta["technique"] == "PEIS":
        # PEIS parameters: ns u2, n u2, then sine-mode (u4 from EC-Lab 11.50, u1 before),
        # E f4, E_vs u1, tE f4, record u1, dI f4, dI_unit u1, dt f4, fi f4, fi_unit u1,
        # ff f4, ff_unit u1, Nd u4, points u1, spacing u1, Va f4 (mV)
        for off, sm in ((0x1847, 4), (0x572, 1), (0x1845, 4), (0x1846, 4)):
            p = off + 4 + sm
            if p + 39 > len(data) or struct.unpack_from("<H", data, off)[0] < 1:
                continue
            E, fi, fiu, ff, ffu, nd, va = (
                struct.unpack_from("<f", data, p)[0], struct.unpack_from("<f", data, p + 19)[0],
                data[p + 23], struct.unpack_from("<f", data, p + 24)[0], data[p + 28],
                struct.unpack_from("<I", data, p + 29)[0], struct.unpack_from("<f", data, p + 35)[0])
            if (fiu in _FREQ_UNIT and ffu in _FREQ_UNIT and np.isfinite([E, fi, ff, va]).all()
                    and fi > 0 and ff > 0 and 0 < va < 1e4 and 0 < nd < 10000 and abs(E) < 100):
                meta["dc_potential_V"] = round(float(E), 6)
                meta["ac_amplitude_V"] = round(float(va) * 1e-3, 9)
                sweep = {"fi": fi * _FREQ_UNIT[fiu], "ff": ff * _FREQ_UNIT[ffu], "Nd": float(nd)}
                meta["sweep"] = sweep
                break
    return meta, sweep


def read(path, *, split: str = "auto") -> SpectrumSeries:
    """Read a BioLogic EC-Lab ``.mpr`` file.

    Parameters
    ----------
    path : str or Path
    split : {"auto", "loop", "sweep", "none"}
        How to cut the points into spectra (see `fastfit.io.read`).

    Returns
    -------
    SpectrumSeries
        Z = Re(Z) - j(-Im(Z)) in ohm; ``points``: ``t`` (s), ``Ewe`` (V), ``I`` (A),
        ``Ewe_ac`` = \\|Ewe\\| (V), ``I_ac`` = \\|I\\| (A) where recorded; ``meta['t0']``
        from the LOG module.
    """
    path = Path(path)
    buf = path.read_bytes()
    mods = _modules(buf, path)
    by_name = {}
    for m in mods:
        by_name.setdefault(m["name"], m)
    if "VMP data" not in by_name:
        raise FileFormatError("no 'VMP data' module", path=path, offset=len(buf))
    dmod = by_name["VMP data"]
    ids, rec, unknown = _data(buf, dmod, path)
    present = set(ids.tolist())
    cols, names = {}, []
    for k, cid in enumerate(ids.tolist()):
        if cid in FLAG_IDS or cid not in COLUMNS:
            continue
        renamed = next((n for other, n in CONFLICTS.get(cid, {}).items() if other in present), None)
        names.append(renamed or COLUMNS[cid][0])
        if renamed is None and cid in ROLES and ROLES[cid][0] not in cols:
            role, scale = ROLES[cid]
            cols[role] = rec[f"c{k}_{cid}"].astype(np.float64) * scale
    if "freq" not in cols:
        raise FileFormatError("no frequency column (id 32, 'freq/Hz') in the data module: "
                              "not an impedance measurement", path=path, offset=dmod["start"] + 5)
    if "re" in cols and "neg_im" in cols:
        Z = cols["re"] - 1j * cols["neg_im"]
    elif "mod" in cols and "phase" in cols:
        Z = cols["mod"] * np.exp(1j * np.deg2rad(cols["phase"]))
    else:
        raise FileFormatError("no impedance columns (ids 37/38 'Re(Z)', '-Im(Z)' or 36/35 "
                              "'|Z|', 'Phase(Z)')", path=path, offset=dmod["start"] + 5)

    meta = {"format": "biologic_mpr", "instrument": "BioLogic", "technique": "unknown",
            "data_module_version": int(dmod["version"]), "columns": names,
            "unknown_columns": unknown}
    sweep = None
    if "VMP Set" in by_name:
        m = by_name["VMP Set"]
        smeta, sweep = _settings_meta(buf[m["start"]:m["start"] + m["length"]])
        meta.update(smeta)
    if "VMP LOG" in by_name:
        m = by_name["VMP LOG"]
        meta.update(_log_meta(buf[m["start"]:m["start"] + m["length"]]))
        if meta.get("software_version"):
            meta["instrument"] = f"BioLogic (EC-Lab {meta['software_version']})"
    starts = None
    if "VMP loop" in by_name:
        m = by_name["VMP loop"]
        if m["version"] == 0 and m["length"] >= 4:
            n_idx = struct.unpack_from("<I", buf, m["start"])[0]
            n_idx = min(n_idx, (m["length"] - 4) // 4)
            idx = np.frombuffer(buf, "<u4", count=n_idx, offset=m["start"] + 4).astype(np.int64)
            starts = np.unique(idx[idx < rec.size])
            meta["loop_starts"] = starts.tolist()
    channels = {k: cols[k] for k in ("t", "Ewe", "I", "Ewe_ac", "I_ac", "Ece") if k in cols}
    groups = {k: cols[k] for k in ("cycle", "Ns") if k in cols}
    if starts is not None and starts.size:
        groups["loop"] = np.searchsorted(starts, np.arange(rec.size), side="right") - 1.0
    return assemble(cols["freq"], Z, path=path, meta=meta, channels=channels, groups=groups,
                    starts=starts, split=split, sweep=sweep,
                    where={"offset": dmod["start"]})


FORMAT = Format(name="biologic_mpr", description="BioLogic EC-Lab binary (.mpr)",
                extensions=(".mpr",), sniff=sniff, read=read, aliases=("mpr",))
