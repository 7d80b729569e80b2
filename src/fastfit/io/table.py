"""Generic numeric tables: CSV, tab- or whitespace-separated text, with or without a
header row.

Covers the plain exports of many programs: header-less ``freq, Z', Z''`` files
(impedance.py, pyDRTtools), ``|Z|`` + phase tables with a loop column, RelaxIS spectrum
exports, CH Instruments, Parstat (rows with frequency 0 are DC data and are skipped),
PowerSuite (CR CR LF line ends), PyEIS tables.

How a file is read
------------------
1. The data block starts at the first line of numbers (>= 3 values) followed by
   another numeric line (or the end of the file); everything after must be numeric.
2. The header row is the closest non-blank line above it (up to 5 lines up) whose
   labels include a frequency column; columns are matched by name (`_columns`).  No
   header: the first three columns are frequency, Z', Z''.
3. Imaginary part: labels with a minus (``-Im(Z)``, ``-Z''``) are negated.  Otherwise,
   when the file also has a phase column, the sign that agrees with the phase is used
   (arg Z has the sign of Im Z); else the column is taken as Im(Z).  ``imag_sign=``
   overrides this.
"""
from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

import numpy as np

from ..errors import DataError, FileFormatError
from ..series import SpectrumSeries
from ._assemble import assemble
from ._columns import Column, classify, classify_all, combine
from ._registry import Format
from ._text import (decode, guess_delimiter, is_numeric_line, normalise_newlines,
                    parse_datetime, parse_numeric, to_float)

__all__ = ["read", "sniff", "FORMAT", "MAX_HEADER_LINES", "find_header",
           "dialect_meta"]   # the last three: also fastfit.stream's file follower

MAX_HEADER_LINES = 5000
_USER_ROLES = {"freq": "freq", "re": "re", "im": "im", "mod": "mod", "phase": "phase",
               "time": "t", "t": "t", "Ewe": "Ewe", "I": "I", "loop": "loop", "cycle": "cycle"}


def _data_start(lines: list[str]) -> int | None:
    for i, s in enumerate(lines[:MAX_HEADER_LINES]):
        if not is_numeric_line(s, 3):
            continue
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j >= len(lines) or is_numeric_line(lines[j], 3):
            return i
    return None


def sniff(head: bytes, path: Path | None = None) -> bool:
    """A block of numeric rows (>= 3 values each) within the first lines."""
    if b"\x00" in head[:1024]:
        return False
    lines = decode(normalise_newlines(head)).split("\n")
    if len(head) >= 65536:
        lines = lines[:-1]                    # drop the cut-off last line
    return _data_start(lines[:400]) is not None


def _split_labels(line: str, delim: str | None, ncols: int) -> list[str]:
    s = line.strip()
    tries = ([s.split(delim)] if delim else []) + [s.split("\t"), re.split(r"\s{2,}", s),
                                                   s.split(","), s.split()]
    for parts in tries:
        parts = [p.strip().strip('"').strip() for p in parts]
        while parts and parts[-1] == "":
            parts.pop()
        if len(parts) == ncols:
            return parts
    return []


def find_header(lines, start, delim, ncols) -> tuple[list[str], int | None]:
    """(labels, 0-based line) of the header row: the closest line above the data whose
    labels name a frequency column; else the line just above when it has exactly one
    non-numeric label per column (a header fastfit cannot interpret); else ([], None)."""
    seen, nearest = 0, None
    for k in range(start - 1, -1, -1):
        if not lines[k].strip():
            continue
        seen += 1
        labels = _split_labels(lines[k], delim, ncols)
        if labels and any(classify(lab).role == "freq" for lab in labels):
            return labels, k
        if seen == 1 and labels and all(to_float(x) is None for x in labels):
            nearest = (labels, k)
        if seen >= 5:
            break
    return nearest if nearest else ([], None)


def dialect_meta(lines: list[str]) -> dict:
    """Instrument metadata stated in the lines above a table (model, software...)."""
    meta: dict = {}
    head = "\n".join(lines[:40])
    m = re.search(r"Instrument Model:\s*(\S+)", head)
    if m:
        meta["instrument"] = f"CH Instruments {m.group(1)}"
        if "A.C. Impedance" in head:
            meta["technique"] = "PEIS"
        try:
            t0 = _dt.datetime.strptime(re.sub(r"\s+", " ", lines[0].strip()),
                                       "%b. %d, %Y %H:%M:%S").isoformat()
        except ValueError:
            t0 = parse_datetime(lines[0])
        meta["t0"] = t0
        for key, out in (("Init E (V)", "dc_potential_V"), ("Amplitude (V)", "ac_amplitude_V")):
            mm = re.search(re.escape(key) + r"\s*=\s*(\S+)", head)
            if mm and to_float(mm.group(1)) is not None:
                meta[out] = to_float(mm.group(1))
    m = re.match(r"(RelaxIS [\d.]+)", lines[0].strip()) if lines else None
    if m:
        meta["software"] = m.group(1)
    return meta


def read(path, *, columns: dict | None = None, imag_sign="auto", delimiter: str | None = None,
         split: str = "auto") -> SpectrumSeries:
    """Read a generic impedance table.

    Parameters
    ----------
    path : str or Path
    columns : dict, optional
        Column map overriding the header: role -> column label (str) or 0-based index
        (int).  Roles: ``freq`` (Hz), ``re``, ``im`` (ohm), ``mod`` (ohm), ``phase``
        (deg), ``time`` (s), ``Ewe`` (V), ``I`` (A), ``loop``, ``cycle``.
    imag_sign : {"auto", 1, -1}
        1: the imaginary column holds Im(Z); -1: it holds -Im(Z); "auto": see the
        module docstring.
    delimiter : str, optional
        Field separator; default: guessed from the first data row.
    split : {"auto", "loop", "sweep", "none"}
    """
    path = Path(path)
    if imag_sign not in ("auto", 1, -1):
        raise DataError(f"imag_sign={imag_sign!r}: expected 'auto', 1 or -1")
    raw = normalise_newlines(path.read_bytes())
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    offsets = [0]
    lines: list[str] = []
    pos = 0
    while len(lines) < MAX_HEADER_LINES and pos <= len(raw):
        j = raw.find(b"\n", pos)
        j = len(raw) if j < 0 else j
        lines.append(decode(raw[pos:j]))
        pos = j + 1
        offsets.append(pos)
    start = _data_start(lines)
    if start is None:
        raise FileFormatError("no table of numbers (rows of >= 3 numeric values) found: "
                              "not an impedance data file", path=path, line=1)
    delim, dec = guess_delimiter(lines[start]) if delimiter is None else (
        delimiter, delimiter in (";", "\t") and "," in lines[start] and "." not in lines[start])
    vals, _ = parse_numeric(raw[offsets[start]:], first_line=start + 1, path=path,
                            delimiter=delim, decimal_comma=dec)
    ncols = vals.shape[1]
    labels, hline = find_header(lines, start, delim, ncols)
    cols: dict[str, tuple[int, Column]]
    if labels:
        cols = classify_all(labels)
    else:
        labels = [f"column {j + 1}" for j in range(ncols)]
        cols = {"freq": (0, Column("column 1", "freq")), "re": (1, Column("column 2", "re")),
                "im": (2, Column("column 3", "im"))}
    for role, ref in (columns or {}).items():
        if role not in _USER_ROLES:
            raise DataError(f"columns: unknown role {role!r} (known: {', '.join(_USER_ROLES)})")
        if isinstance(ref, (int, np.integer)):
            if not 0 <= ref < ncols:
                raise DataError(f"columns[{role!r}] = {ref}: the table has {ncols} columns")
            j = int(ref)
        elif ref in labels:
            j = labels.index(ref)
        else:
            raise DataError(f"columns[{role!r}] = {ref!r} is not a column label "
                            f"({', '.join(labels)})")
        c, r = classify(labels[j]), _USER_ROLES[role]
        same = c.role == r                      # keep the label's unit and sign if it agrees
        cols[r] = (j, Column(labels[j], r, c.scale if same else 1.0, same and c.negated,
                             c.unit if same else ""))
    where = hline + 1 if hline is not None else start + 1
    if "freq" not in cols:
        raise FileFormatError(f"no frequency column among {', '.join(labels)} (name the "
                              "columns with columns={'freq': ..., 're': ..., 'im': ...})",
                              path=path, line=where)

    def col(role, signed=True):
        j, c = cols[role]
        v = vals[:, j] * c.scale
        return -v if (signed and c.negated) else v

    def get(role):
        return col(role, signed=role == "phase") if role in cols else None

    meta = {"format": "table", "columns": labels}
    Z, flipped = combine(get("re"), get("im"), get("mod"), get("phase"),
                         phase_rad="phase" in cols and cols["phase"][1].unit == "rad",
                         im_negated="im" in cols and cols["im"][1].negated,
                         imag_sign=imag_sign)
    if Z is None:
        raise FileFormatError(f"no impedance columns (Z' and Z'', or |Z| and phase) among "
                              f"{', '.join(labels)}", path=path, line=where)
    if flipped:
        meta["imag_sign_from_phase"] = True
    meta.update(dialect_meta(lines[:max(start, 1)]))
    channels = {k: col(k) for k in ("t", "Ewe", "I", "Ewe_ac", "I_ac") if k in cols}
    groups = {k: col(k) for k in ("loop", "cycle", "Ns") if k in cols}
    return assemble(col("freq"), Z, path=path, meta=meta, channels=channels, groups=groups,
                    split=split, where={"line": start + 1})


FORMAT = Format(name="table", description="generic CSV / tab / whitespace table",
                extensions=(".csv", ".txt", ".dat", ".tsv"), sniff=sniff, read=read,
                aliases=("csv", "txt"))
