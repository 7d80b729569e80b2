"""BioLogic EC-Lab text exports (``.mpt`` and ``.txt``).

Layout::

    EC-Lab ASCII FILE                  (or "BT-Lab ASCII FILE")
    Nb header lines : N                (N counts every header line incl. the column line)
    ... "key : value" lines, then the technique settings table
        ("E (V)               0.0000", one 20-character column per sequence) ...
    <column names, tab separated>      (line N)
    <data rows, tab separated>         (line N+1 ...)

Also read: the header-less BioLogic-style export whose first line is the column names
(``freq/Hz  Re(Z)/Ohm  -Im(Z)/Ohm ...``).  Text is cp1252/latin-1; numbers may use a
decimal comma; column names differ between EC-Lab versions (``<Ewe>/V`` or ``Ewe/V``,
``<I>/mA`` or ``I/mA``) and are matched by name (`_columns`).  BioLogic stores
-Im(Z): the reader returns Z = Re(Z) - j(-Im(Z)).
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
from ._text import normalise_newlines, parse_datetime, parse_numeric, to_float

__all__ = ["read", "sniff", "FORMAT", "MAGICS", "NB_HEADER_LINES", "is_headerless",
           "header_meta"]   # the last four: also fastfit.stream's file follower

MAGICS = (b"EC-Lab ASCII FILE", b"BT-Lab ASCII FILE")
NB_HEADER_LINES = re.compile(r"Nb header lines\s*:\s*(\d+)")
_FREQ_UNIT = {"MHz": 1e6, "kHz": 1e3, "Hz": 1.0, "mHz": 1e-3, "µHz": 1e-6, "uHz": 1e-6}
_CUR_UNIT = {"A": 1.0, "mA": 1e-3, "µA": 1e-6, "uA": 1e-6, "nA": 1e-9, "pA": 1e-12}


def is_headerless(first_line: bytes) -> bool:
    """The first line names BioLogic columns (a table exported without the EC-Lab header)."""
    return b"\t" in first_line and b"freq/Hz" in first_line and (
        b"Re(Z)/Ohm" in first_line or b"|Z|/Ohm" in first_line)


def sniff(head: bytes, path: Path | None = None) -> bool:
    """EC-Lab/BT-Lab ASCII magic, or a first line of BioLogic column names."""
    if head.startswith(MAGICS):
        return True
    return is_headerless(head.split(b"\n", 1)[0])


def _settings(lines: list[str]) -> tuple[dict, dict]:
    """("key : value" pairs, technique settings table {key: [values per sequence]})."""
    kv, table = {}, {}
    for ln in lines:
        s = ln.strip()
        if not s:
            continue
        if " : " in s:
            k, v = s.split(" : ", 1)
            kv.setdefault(k.strip(), v.strip())
            continue
        parts = re.split(r"\s{2,}", s)
        if len(parts) >= 2:
            table.setdefault(parts[0], parts[1:])
    return kv, table


def _first_float(table: dict, key: str) -> float | None:
    v = table.get(key)
    return to_float(v[0]) if v else None


def header_meta(lines: list[str]) -> tuple[dict, dict | None]:
    """(series metadata, stated sweep settings or None) from the EC-Lab header lines."""
    meta: dict = {}
    text = "\n".join(lines[:12])
    if "Galvano Electrochemical Impedance" in text:
        meta["technique"] = "GEIS"
    elif "Potentio Electrochemical Impedance" in text:
        meta["technique"] = "PEIS"
    for ln in lines[2:12]:
        if "Impedance" in ln or "Modulo Bat" in ln:
            meta["technique_name"] = ln.strip()
            break
    kv, table = _settings(lines[2:])
    dev = kv.get("Device")
    if dev:
        meta["instrument"] = "BioLogic " + re.sub(r"\s*\(SN.*\)$", "", dev).strip()
        sn = re.search(r"SN\s*([^)]+)\)", dev)
        if sn:
            meta["device_serial"] = sn.group(1).strip()
    for ln in lines:
        m = re.search(r"EC-Lab for windows v([\d.]+)\s*\(software\)", ln, re.I)
        if m:
            meta["software_version"] = m.group(1)
            break
    for key in ("Acquisition started on", "Technique started on"):
        if kv.get(key):
            t0 = parse_datetime(kv[key])
            if t0:
                meta["t0"] = t0
                break
    area = kv.get("Electrode surface area")
    if area:
        m = re.match(r"([-+\d.,eE]+)\s*(\S*)", area)
        val = to_float(m.group(1)) if m else None
        if val is not None and val > 0:
            unit = m.group(2)
            meta["area_cm2"] = val / 100.0 if unit.startswith("mm") else val
    E = _first_float(table, "E (V)")
    if E is not None:
        meta["dc_potential_V"] = E
        if table.get("vs."):
            meta["dc_potential_vs"] = table["vs."][0]
    va = _first_float(table, "Va (mV)")
    if va is not None:
        meta["ac_amplitude_V"] = va * 1e-3
    for key, out in (("Is", "dc_current_A"), ("Ia", "ac_amplitude_A")):
        v = _first_float(table, key)
        unit = (table.get(f"unit {key}") or ["A"])[0]
        if v is not None and unit in _CUR_UNIT:
            meta[out] = v * _CUR_UNIT[unit]
    sweep = None
    fi, ff, nd = _first_float(table, "fi"), _first_float(table, "ff"), _first_float(table, "Nd")
    fiu, ffu = (table.get("unit fi") or [""])[0], (table.get("unit ff") or [""])[0]
    if fi and ff and fiu in _FREQ_UNIT and ffu in _FREQ_UNIT:
        sweep = {"fi": fi * _FREQ_UNIT[fiu], "ff": ff * _FREQ_UNIT[ffu]}
        pts = (table.get("Points") or [""])[0]
        if nd and "decade" in pts and "Log" in (table.get("spacing") or [""])[0]:
            sweep["Nd"] = nd
        meta["sweep"] = sweep
        if len(table.get("fi", [])) > 1:
            sweep = None                      # several sequences: no single sweep to check
    meta["settings"] = {k: (v[0] if len(v) == 1 else v) for k, v in table.items()}
    return meta, sweep


def read(path, *, split: str = "auto") -> SpectrumSeries:
    """Read an EC-Lab text export (``.mpt``/``.txt``) or a header-less BioLogic table.

    Parameters
    ----------
    path : str or Path
    split : {"auto", "loop", "sweep", "none"}
        How to cut the rows into spectra (see `fastfit.io.read`); "auto" uses the
        ``cycle number`` and ``Ns`` columns and frequency-sweep restarts.

    Returns
    -------
    SpectrumSeries
        ``points``: ``t`` (s), ``Ewe`` (V), ``I`` (A), ``Ewe_ac`` (V), ``I_ac`` (A) where
        the file has them; ``meta``: technique, instrument, t0, area_cm2,
        dc_potential_V / ac_amplitude_V (PEIS) or dc_current_A / ac_amplitude_A (GEIS)
        as stated in the settings.
    """
    path = Path(path)
    raw = normalise_newlines(path.read_bytes())
    if raw.startswith(MAGICS):
        first_two = raw.split(b"\n", 2)
        m = NB_HEADER_LINES.search(first_two[1].decode("latin-1")) if len(first_two) > 1 else None
        if not m:
            raise FileFormatError("expected 'Nb header lines : N' on line 2", path=path, line=2)
        nb = int(m.group(1))
        if nb < 3:
            raise FileFormatError(f"'Nb header lines : {nb}' is too small (at least 3)",
                                  path=path, line=2)
    elif is_headerless(raw.split(b"\n", 1)[0]):
        nb = 1
    else:
        raise FileFormatError("not an EC-Lab text export (first line is not "
                              "'EC-Lab ASCII FILE' nor BioLogic column names)", path=path, line=1)
    pos = 0
    for i in range(nb):
        j = raw.find(b"\n", pos)
        if j < 0:
            raise FileFormatError(f"file ends inside the header ({nb} header lines declared)",
                                  path=path, line=i + 1)
        pos = j + 1
    header = raw[:pos].decode("latin-1").split("\n")[:nb]
    labels = [s.strip() for s in header[-1].split("\t")]
    labels = [lab for lab in labels if lab]        # EC-Lab 11.x writes an empty label
    block = raw[pos:]
    first = block.split(b"\n", 1)[0]
    nvals = len(first.replace(b"\t", b" ").split())
    if 0 < nvals < len(labels):
        # some EC-Lab versions name a last column (Ewe-Ece/V) they write no values for
        labels = labels[:nvals]
    roles = classify_all(labels)
    if "freq" not in roles:
        raise FileFormatError(f"column 'freq/Hz' not found in the column header "
                              f"({len(labels)} columns: {', '.join(labels[:8])}"
                              f"{', ...' if len(labels) > 8 else ''})", path=path, line=nb)
    has_cart = "re" in roles and "im" in roles
    if not has_cart and not ("mod" in roles and "phase" in roles):
        missing = [n for r, n in (("re", "Re(Z)/Ohm"), ("im", "-Im(Z)/Ohm")) if r not in roles]
        raise FileFormatError(f"column {' and '.join(repr(x) for x in missing)} not found in "
                              "the column header (and no '|Z|/Ohm' + 'Phase(Z)/deg')",
                              path=path, line=nb)
    sample = first
    dec_comma = b"," in sample and b"." not in sample
    values, _ = parse_numeric(block, first_line=nb + 1, path=path, delimiter="\t",
                              decimal_comma=dec_comma, ncols=len(labels), labels=labels)
    if values.shape[0] == 0:
        raise FileFormatError("no data rows after the column header", path=path, line=nb + 1)

    def col(role):
        j, c = roles[role]
        v = values[:, j] * c.scale
        return -v if c.negated else v

    if has_cart:
        Z = col("re") + 1j * col("im")
    else:
        unit = roles["phase"][1].unit
        ph = col("phase") if unit == "rad" else np.deg2rad(col("phase"))
        Z = col("mod") * np.exp(1j * ph)
    meta, sweep = header_meta(header) if nb > 1 else ({}, None)
    meta.setdefault("instrument", "BioLogic")
    meta["format"] = "biologic_mpt"
    channels = {k: col(k) for k in ("t", "Ewe", "I", "Ewe_ac", "I_ac") if k in roles}
    groups = {k: col(k) for k in ("loop", "cycle", "Ns") if k in roles}
    return assemble(col("freq"), Z, path=path, meta=meta, channels=channels, groups=groups,
                    split=split, sweep=sweep, where={"line": nb + 1})


FORMAT = Format(name="biologic_mpt", description="BioLogic EC-Lab text export (.mpt/.txt)",
                extensions=(".mpt",), sniff=sniff, read=read, aliases=("mpt",))
