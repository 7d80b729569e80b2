"""Princeton Applied Research VersaStudio ``.par`` files.

An INI-like text file of ``<Section>`` blocks (``<Application>``, ``<Instrument>``,
``<Experiment>``, ``<Action1>``...).  Data live in ``<SegmentK>`` blocks: a
``Definition=`` line names the comma-separated columns (``Frequency(Hz)``, ``Z Real``,
``Z Imag``, ``E(V)``, ``I(A)``, ``Elapsed Time(s)``...), followed by one row per point.
``Z Imag`` is Im(Z).  Each segment starts a spectrum.
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
from ._text import parse_datetime, parse_numeric, split_lines, to_float

__all__ = ["read", "sniff", "FORMAT"]


def sniff(head: bytes, path: Path | None = None) -> bool:
    """``<Application>`` block naming VersaStudio."""
    h = head.lstrip(b"\xef\xbb\xbf")
    return h.startswith(b"<Application>") and b"VersaStudio" in h[:400]


def read(path, *, split: str = "auto") -> SpectrumSeries:
    """Read a VersaStudio ``.par`` file (every data segment).

    Parameters
    ----------
    path : str or Path
    split : {"auto", "loop", "sweep", "none"}
    """
    path = Path(path)
    lines = split_lines(path.read_bytes())
    sections: dict[str, dict[str, str]] = {}
    segs = []                                       # (names, definition line, first, end)
    cur, i, n = None, 0, len(lines)
    while i < n:
        s = lines[i].decode("latin-1").strip()
        m = re.fullmatch(r"<(/?)([^<>]+)>", s)
        if m:
            cur = None if m.group(1) else m.group(2)
            if cur:
                sections.setdefault(cur, {})
            i += 1
            continue
        if cur and cur.startswith("Segment") and s.startswith("Definition="):
            names = [x.strip() for x in s[len("Definition="):].split(",")]
            j = i + 1
            while j < n and not lines[j].strip().startswith(b"</"):
                j += 1
            if j >= n:
                raise FileFormatError(f"<{cur}> is not closed (file truncated?)", path=path,
                                      line=n)
            segs.append((names, i + 1, i + 1, j))
            i = j
            continue
        if cur and "=" in s:
            k, v = s.split("=", 1)
            sections[cur].setdefault(k.strip(), v.strip())
        i += 1
    if not segs:
        raise FileFormatError("no <Segment> data block with a Definition= line", path=path,
                              line=n)
    fs, zs, chans, starts, total = [], [], {}, [], 0
    for names, dline, a, b in segs:
        roles = classify_all(names)
        for need in ("freq", "re", "im"):
            if need not in roles:
                raise FileFormatError(f"segment has no {need!r} column ({', '.join(names)})",
                                      path=path, line=dline)
        vals, _ = parse_numeric(b"\n".join(lines[a:b]), first_line=a + 1, path=path,
                                delimiter=",", decimal_comma=False, labels=names)
        if vals.shape[1] > len(names):
            raise FileFormatError(f"rows have {vals.shape[1]} values but the Definition= "
                                  f"line names {len(names)} columns", path=path, line=dline)
        names = names[:vals.shape[1]]             # the Definition= line may end in extras
        roles = classify_all(names)
        if not all(r in roles for r in ("freq", "re", "im")):
            raise FileFormatError(f"segment lacks a Frequency, Z Real or Z Imag column among "
                                  f"its first {len(names)} columns", path=path, line=dline)
        starts.append(total)
        total += vals.shape[0]
        col = {r: vals[:, j] * c.scale for r, (j, c) in roles.items()}
        fs.append(col["freq"])
        zs.append(col["re"] + 1j * col["im"])
        for k in ("t", "Ewe", "I"):
            chans.setdefault(k, []).append(col.get(k, np.full(vals.shape[0], np.nan)))
    action = next((sections[k] for k in sections if k.startswith("Action")
                   and "EIS" in sections[k].get("Name", "")), {})
    name = action.get("Name", "")
    meta: dict = {"format": "versastudio",
                  "technique": ("GEIS" if "Galvanostatic" in name else
                                "PEIS" if "Potentiostatic" in name else "unknown")}
    inst = sections.get("Instrument", {})
    meta["instrument"] = "Princeton Applied Research " + inst.get("Type", "VersaSTAT").strip()
    exp = sections.get("Experiment", {})
    meta["t0"] = parse_datetime(f"{exp.get('DateAcquired', '')} {exp.get('TimeAcquired', '')}")
    for key, out, scale in (("Amplitude (mV RMS)", "ac_amplitude_V", 1e-3),
                            ("Potential (V),Value", "dc_potential_V", 1.0)):
        v = to_float(action.get(key, ""))
        if v is not None:
            meta[out] = v * scale
    if "ac_amplitude_V" in meta:
        meta["ac_amplitude_rms"] = True
    for sec in sections.values():
        a = to_float(sec.get("Working Electrode Area (cm2)", ""))
        if a:
            meta["area_cm2"] = a
            break
    fi, ff = to_float(action.get("Start Frequency (Hz)", "")), to_float(action.get("End Frequency (Hz)", ""))
    nd = to_float(action.get("Points Per Decade", ""))
    sweep = None
    if fi and ff:
        sweep = {"fi": fi, "ff": ff, "Nd": nd} if nd else {"fi": fi, "ff": ff}
        meta["sweep"] = sweep
    channels = {k: np.concatenate(v) for k, v in chans.items()
                if not np.isnan(np.concatenate(v)).all()}
    return assemble(np.concatenate(fs), np.concatenate(zs), path=path, meta=meta,
                    channels=channels, starts=starts, split=split, sweep=sweep,
                    where={"line": segs[0][2] + 1})


FORMAT = Format(name="versastudio", description="Princeton Applied Research VersaStudio (.par)",
                extensions=(".par",), sniff=sniff, read=read, aliases=("par",))
