"""Gamry Framework ``.DTA`` files (EIS: ``ZCURVE`` tables).

Layout::

    EXPLAIN
    TAG         EISPOT | GALVEIS | ...           (EISPOT = PEIS, GALVEIS = GEIS)
    KEY<TAB>TYPE<TAB>VALUE<TAB>...<TAB>label     (DATE, TIME, PSTAT, VDC, VAC, IDC,
                                                  IACREQ, AREA, FREQINIT, FREQFINAL...)
    ZCURVE<TAB>TABLE[<TAB>rows]                (one table per EIS curve; several in
                                                  multi-curve files, ZCURVE2... too)
    <TAB>Pt<TAB>Time<TAB>Freq<TAB>Zreal<TAB>Zimag<TAB>...   column names
    <TAB>#<TAB>s<TAB>Hz<TAB>ohm<TAB>ohm<TAB>...              units
    <TAB>0<TAB>1<TAB>200015.6<TAB>...                        rows (start with a TAB)
    EXPERIMENTABORTED<TAB>TOGGLE<TAB>T<TAB>...                (aborted runs)

Zimag is Im(Z) (negative for capacitive arcs), so Z = Zreal + j Zimag.  With drift
correction (``DRIFTCOR`` selector on, Framework 7) the table also has ``ZrealDrCor``,
``ZimagDrCor``, ``ZmodDrCor``, ``ZphzDrCor``.  ``Idc``/``Vdc``
per point become ``points['I']``/``points['Ewe']``.  VAC and IACREQ are rms values.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from ..series import SpectrumSeries
from ._assemble import assemble
from ._columns import classify_all
from ._registry import Format
from ._text import parse_datetime, parse_numeric, split_lines, to_float

__all__ = ["read", "sniff", "FORMAT"]

_TECHNIQUES = {"EISPOT": "PEIS", "GALVEIS": "GEIS"}


def sniff(head: bytes, path: Path | None = None) -> bool:
    """``EXPLAIN`` on line 1 and a ``TAG`` line after it."""
    h = head.lstrip(b"\xef\xbb\xbf")
    return h.startswith(b"EXPLAIN") and b"\nTAG\t" in h[:200].replace(b"\r\n", b"\n")


def _meta(kv: dict) -> tuple[dict, dict | None]:
    meta: dict = {}
    tag = kv.get("TAG", [""])[0]
    meta["technique"] = _TECHNIQUES.get(tag, "unknown")
    meta["gamry_tag"] = tag
    if "TITLE" in kv:
        meta["title"] = kv["TITLE"][1] if len(kv["TITLE"]) > 1 else kv["TITLE"][0]
    if "PSTAT" in kv and len(kv["PSTAT"]) > 1:
        meta["instrument"] = f"Gamry {kv['PSTAT'][1]}"
    else:
        meta["instrument"] = "Gamry"
    date = kv.get("DATE", ["", ""])
    time = kv.get("TIME", ["", ""])
    if len(date) > 1 and len(time) > 1:
        meta["t0"] = parse_datetime(f"{date[1]} {time[1]}")

    def val(key, scale=1.0):
        v = kv.get(key)
        x = to_float(v[1]) if v and len(v) > 1 else None
        return None if x is None else x * scale

    for key, out, scale in (("VDC", "dc_potential_V", 1.0), ("VAC", "ac_amplitude_V", 1e-3),
                            ("IDC", "dc_current_A", 1.0), ("IACREQ", "ac_amplitude_A", 1.0),
                            ("AREA", "area_cm2", 1.0)):
        x = val(key, scale)
        if x is not None:
            meta[out] = x
    if "ac_amplitude_V" in meta or "ac_amplitude_A" in meta:
        meta["ac_amplitude_rms"] = True
    fi, ff, nd = val("FREQINIT"), val("FREQFINAL"), val("PTSPERDEC")
    sweep = None
    if fi and ff:
        sweep = {"fi": fi, "ff": ff}
        if nd:
            sweep["Nd"] = nd
        meta["sweep"] = sweep
    meta["settings"] = {k: "\t".join(v[1:]) for k, v in kv.items()}
    return meta, sweep


def read(path, *, split: str = "auto", drift_corrected: bool | None = None) -> SpectrumSeries:
    """Read a Gamry ``.DTA`` impedance file (all its ``ZCURVE`` tables).

    Parameters
    ----------
    path : str or Path
    split : {"auto", "loop", "sweep", "none"}
        Each ZCURVE table starts a spectrum; "auto" also splits at sweep restarts.
    drift_corrected : bool, optional
        Use the drift-corrected ``ZrealDrCor``/``ZimagDrCor`` columns (Gamry's
        ``DRIFTCOR`` option).  Default: where the table has them.  Files with them
        also get both pairs in ``points`` (``Z_re_raw``/``Z_im_raw``,
        ``Z_re_drcor``/``Z_im_drcor``; NaN for curves without); ``meta['drift_corrected']``
        says whether every spectrum returned is the corrected one.

    Returns
    -------
    SpectrumSeries
        ``meta['partial']`` lists the last spectrum when the file says
        ``EXPERIMENTABORTED ... T``.
    """
    path = Path(path)
    lines = split_lines(path.read_bytes())
    if not lines[0].lstrip(b"\xef\xbb\xbf").startswith(b"EXPLAIN"):
        raise FileFormatError("not a Gamry .DTA file (line 1 is not 'EXPLAIN')", path=path, line=1)
    kv: dict[str, list[str]] = {}
    tables = []                                   # (names, units line no, first row, end)
    i, n = 1, len(lines)
    aborted = False
    while i < n:
        ln = lines[i]
        if not ln or ln[:1] == b"\t":
            i += 1
            continue
        parts = ln.decode("latin-1").split("\t")
        key = parts[0].strip()
        if len(parts) > 1 and parts[1].strip() == "TABLE":
            if i + 2 >= n:
                raise FileFormatError(f"table {key} has no column/unit lines", path=path, line=i + 1)
            names = [s.strip() for s in lines[i + 1].decode("latin-1").split("\t")[1:]]
            while names and names[-1] == "":
                names.pop()
            j = i + 3
            while j < n and lines[j][:1] == b"\t":
                j += 1
            if key.startswith("ZCURVE"):
                tables.append((names, i + 1, i + 3, j))
            i = j
            continue
        if key == "EXPERIMENTABORTED" and len(parts) > 2 and parts[2].strip() == "T":
            aborted = True
        kv.setdefault(key, [p.strip() for p in parts[1:]])
        i += 1
    if "TAG" not in kv:
        raise FileFormatError("no 'TAG' line in the header", path=path, line=2)
    if not tables:
        raise FileFormatError("no ZCURVE table: not an impedance measurement", path=path,
                              line=n)
    parts_f, parts_z, chans, starts, used_dr = [], [], {}, [], []
    total = 0
    for names, name_line, a, b in tables:
        roles = classify_all(names)
        for need, label in (("freq", "Freq"), ("re", "Zreal"), ("im", "Zimag")):
            if need not in roles:
                raise FileFormatError(f"ZCURVE table has no {label!r} column (columns: "
                                      f"{', '.join(names)})", path=path, line=name_line + 1)
        block = b"\n".join(lines[a:b])
        sample = lines[a] if a < b else b""
        dec = b"," in sample and b"." not in sample
        vals, _ = parse_numeric(block, first_line=a + 1, path=path, delimiter="\t",
                                decimal_comma=dec, ncols=len(names), labels=names)
        starts.append(total)
        total += vals.shape[0]

        def col(role):
            j, c = roles[role]
            v = vals[:, j] * c.scale
            return -v if c.negated else v

        parts_f.append(col("freq"))
        low = [nm.lower() for nm in names]
        dr = ("zrealdrcor" in low and "zimagdrcor" in low)
        if drift_corrected and not dr:
            raise FileFormatError("drift_corrected=True but the ZCURVE table has no "
                                  "ZrealDrCor/ZimagDrCor columns", path=path, line=name_line + 1)
        use_dr = dr and drift_corrected is not False
        raw = (col("re"), col("im"))
        nan = np.full(vals.shape[0], np.nan)
        drc = ((vals[:, low.index("zrealdrcor")], vals[:, low.index("zimagdrcor")])
               if dr else (nan, nan))
        for k, v in zip(("Z_re_raw", "Z_im_raw", "Z_re_drcor", "Z_im_drcor"), raw + drc):
            chans.setdefault(k, []).append(v)
        used_dr.append(use_dr)
        re_, im_ = drc if use_dr else raw
        parts_z.append(re_ + 1j * im_)
        for k in ("t", "Ewe", "I"):
            chans.setdefault(k, []).append(col(k) if k in roles else np.full(vals.shape[0], np.nan))
    if total == 0:
        raise FileFormatError("ZCURVE table has no rows", path=path, line=tables[0][2] + 1)
    meta, sweep = _meta(kv)
    meta["format"] = "gamry"
    if aborted:
        meta["aborted"] = True
    meta["drift_corrected"] = all(used_dr)
    if not any("zrealdrcor" in [n.lower() for n in t[0]] for t in tables):
        chans = {k: v for k, v in chans.items() if k in ("t", "Ewe", "I")}
    channels = {k: np.concatenate(v) for k, v in chans.items()
                if not np.isnan(np.concatenate(v)).all()}
    return assemble(np.concatenate(parts_f), np.concatenate(parts_z), path=path, meta=meta,
                    channels=channels, starts=starts, split=split, sweep=sweep, aborted=aborted,
                    where={"line": tables[0][2] + 1})


FORMAT = Format(name="gamry", description="Gamry Framework EIS file (.DTA)",
                extensions=(".dta",), sniff=sniff, read=read, aliases=("dta",))
