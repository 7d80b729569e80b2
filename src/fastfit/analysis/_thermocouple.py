"""Reader for thermocouple / temperature-logger CSV files (numpy only).

Accepted layouts (found by content, not by position):

* optional metadata lines and ``#`` comments, then an optional header row, then rows;
* delimiter ``;``, tab, ``,`` or whitespace (sniffed from the last row unless given);
  with ``;``/tab/whitespace a decimal comma (``23,5``) is accepted;
* time as numbers (unit from the header: ``time/s``, ``t (min)``, ``Zeit [h]``, ``ms``;
  seconds if none) or as timestamps (``2022-03-01 12:00:05``, ISO ``T`` form,
  ``01.03.2022 12:00:05``; date and clock may sit in two columns) -> seconds since
  1970-01-01 (naive timestamps read as UTC), or clock times only (``12:00:05``) ->
  seconds since midnight of the first row, day roll-overs unwrapped;
* temperature in °C (default), K (header ``T/K``, ``[K]``, ``kelvin``) or °F
  (``°F``, ``degF``), converted to °C.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from ._interpolate import interpolate_temperature

__all__ = ["TemperatureLog", "read_thermocouple_csv"]


@dataclass(frozen=True)
class TemperatureLog:
    """A temperature log.

    Attributes
    ----------
    time : (M,) float, s — strictly increasing
    T_C : (M,) float, °C
    path : str or None — source file
    columns : (str, str) — names (or indices) of the time and temperature columns used
    time_kind : str — "numeric", "timestamp" (s since 1970-01-01 UTC) or "clock"
        (s since midnight of the first row)
    """

    time: np.ndarray
    T_C: np.ndarray
    path: str | None = None
    columns: tuple = ("time", "T")
    time_kind: str = "numeric"

    @property
    def T_K(self) -> np.ndarray:
        """(M,) float, K."""
        return self.T_C + 273.15

    def shifted(self, dt_s: float) -> "TemperatureLog":
        """The same log with ``dt_s`` seconds added to every time (align clocks)."""
        return replace(self, time=self.time + float(dt_s))

    def at(self, t_spectra, *, t_end=None, out: str = "K", outside: str = "raise"):
        """:func:`fastfit.analysis.interpolate_temperature` on this log."""
        return interpolate_temperature(t_spectra, self.time, self.T_C, t_end=t_end, out=out,
                                       outside=outside)


_NUM = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2}|\d{1,2}\.\d{1,2}\.\d{2,4})$")
_CLOCK = re.compile(r"^\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")
_STAMP_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
                  "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M",
                  "%d.%m.%Y %H:%M:%S.%f", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M",
                  "%d.%m.%y %H:%M:%S", "%d.%m.%y %H:%M")
_TIME_NAME = re.compile(r"time|zeit|date|datum|clock|uhr|^t\s*([/\[(]\s*(ms|s|min|h)\b.*)?$"
                        r"|^t_(ms|s|min|h)$", re.I)
_TEMP_NAME = re.compile(r"temp|°|deg|celsius|kelvin|fahrenheit|thermo|^t\s*[/\[(]\s*°?[ckf]"
                        r"|^tc\d*$|^ch\s*\d", re.I)


def _stamp(s: str):
    s = s.strip()
    for fmt in _STAMP_FORMATS:
        try:
            return datetime.strptime(s, fmt).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    return None


def _kind(field: str) -> str:
    if _NUM.match(field):
        return "num"
    if _CLOCK.match(field):
        return "clock"
    if _DATE.match(field):
        return "date"
    if _stamp(field) is not None:
        return "stamp"
    return "text"


def _split(line: str, delim):
    parts = line.split() if delim is None else line.split(delim)
    out = [p.strip().strip('"').strip("'").strip() for p in parts]
    while out and out[-1] == "":          # trailing delimiter
        out.pop()
    return out


def _merge_date_clock(fields, kinds):
    """Join adjacent date + clock fields into one timestamp field; returns merged
    fields, kinds and the index pairs merged."""
    out_f, out_k, merged, i = [], [], [], 0
    while i < len(fields):
        if kinds[i] == "date" and i + 1 < len(fields) and kinds[i + 1] == "clock":
            out_f.append(fields[i] + " " + fields[i + 1])
            out_k.append("stamp")
            merged.append(i)
            i += 2
        else:
            out_f.append(fields[i])
            out_k.append(kinds[i])
            i += 1
    return out_f, out_k, merged


def _pick(names, wanted, pattern, exclude, what, path):
    if isinstance(wanted, (int, np.integer)):
        if not -len(names) <= int(wanted) < len(names):
            raise FileFormatError(f"{what} column {wanted} out of range ({len(names)} columns)",
                                  path)
        return int(wanted) % len(names)
    if wanted is not None:
        low = [str(n).lower() for n in names]
        w = str(wanted).lower()
        if w in low:
            return low.index(w)
        hits = [i for i, n in enumerate(low) if w in n]
        if hits:
            return hits[0]
        raise FileFormatError(f"no {what} column named {wanted!r}; columns are {names}", path)
    for i, n in enumerate(names):
        if i != exclude and pattern.search(str(n)):
            return i
    if exclude is not None and len(names) == 2:       # two columns: the other one
        return 1 - exclude
    raise FileFormatError(f"could not find the {what} column among {names}; pass "
                          f"{'time_col' if what == 'time' else 'temp_col'}=", path)


def read_thermocouple_csv(path, *, time_col=None, temp_col=None, delimiter=None,
                          comment: str = "#") -> TemperatureLog:
    """Read a temperature log (time, temperature) from a CSV/text file.

    Parameters
    ----------
    path : str or Path
    time_col, temp_col : int or str, optional — column index or (case-insensitive) header
        name; found from the header (or columns 0 and 1 without a header) when omitted
    delimiter : str, optional — sniffed when omitted
    comment : str — lines starting with it are skipped

    Returns
    -------
    TemperatureLog (time in s, T_C in °C)

    Raises
    ------
    FileFormatError
        naming the file and line: unreadable rows, missing columns, non-increasing time.
    """
    p = Path(path)
    rows = _text_rows(p, comment)
    delim = delimiter
    if delim is None:
        last = rows[-1][1]
        delim = next((d for d in (";", "\t", ",") if d in last), None)
    header, data, merged_at = _table_rows(rows, delim, p)
    names = _column_names(header, len(data[0][1]), merged_at)
    if names is None:
        ncol = len(data[0][1])
        names = [str(i) for i in range(ncol)]
        ti = _pick(names, 0 if time_col is None else time_col, None, None, "time", p)
        Ti = _pick(names, (1 if ti == 0 else 0) if temp_col is None else temp_col, None, None,
                   "temperature", p)
    else:
        ti = _pick(names, time_col, _TIME_NAME, None, "time", p)
        Ti = _pick(names, temp_col, _TEMP_NAME, ti, "temperature", p)
    tname, Tname = str(names[ti]), str(names[Ti])
    t, time_kind = _times(data, ti, tname, p)
    T = _celsius(data, Ti, Tname, p)
    bad = np.flatnonzero(np.diff(t) <= 0)
    if bad.size:
        raise FileFormatError("time is not strictly increasing", p, line=data[bad[0] + 1][0])
    return TemperatureLog(time=t, T_C=T, path=str(p), columns=(tname, Tname),
                          time_kind=time_kind)


def _text_rows(p: Path, comment: str) -> list[tuple[int, str]]:
    """(line number, stripped text) of every non-empty, non-comment line."""
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise FileFormatError(f"cannot read file: {exc.strerror or exc}", p) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    rows = [(i + 1, ln.strip()) for i, ln in enumerate(text.splitlines())]
    rows = [(i, ln) for i, ln in rows if ln and not (comment and ln.startswith(comment))]
    if not rows:
        raise FileFormatError("no data rows", p)
    return rows


def _table_rows(rows, delim, p: Path):
    """(header (line, fields) or None, data rows (line, fields, kinds), merged date+clock
    positions): lines before the first data row are header candidates, the last one
    wins; every data row must have the same shape."""
    decimal_comma = delim != ","
    header, data, first_data = None, [], None
    merged_at = None
    for lineno, ln in rows:
        fields = _split(ln, delim)
        if decimal_comma:
            fields = [f.replace(",", ".") if _NUM.match(f) else f for f in fields]
        kinds = [_kind(f) for f in fields]
        mf, mk, merged = _merge_date_clock(fields, kinds)
        is_data = len(mf) >= 2 and all(k != "text" for k in mk if k) and \
            sum(k == "num" for k in mk) >= 1
        if first_data is None:
            if not is_data:
                header = (lineno, fields)
                continue
            first_data = lineno
            merged_at = merged
        if not is_data or merged != merged_at:
            raise FileFormatError(f"cannot parse row {ln!r}", p, line=lineno)
        data.append((lineno, mf, mk))
    if not data:
        raise FileFormatError("no numeric data rows found", p)
    ncol = len(data[0][1])
    if any(len(d[1]) != ncol for d in data):
        bad = next(d for d in data if len(d[1]) != ncol)
        raise FileFormatError(f"expected {ncol} columns, found {len(bad[1])}", p, line=bad[0])
    return header, data, merged_at


def _column_names(header, ncol: int, merged_at) -> list[str] | None:
    """Header labels, one per data column (date and clock headed separately are joined),
    or None without a usable header."""
    if header is None:
        return None
    hf = header[1]
    if len(hf) == ncol + len(merged_at):          # date and clock headed separately
        for j in reversed(merged_at):
            hf = hf[:j] + [hf[j] + " " + hf[j + 1]] + hf[j + 2:]
    return hf if len(hf) == ncol else None


def _celsius(data, Ti: int, Tname: str, p: Path) -> np.ndarray:
    """Temperature column in °C (K and °F converted, by the header)."""
    vals = []
    for lineno, f, k in data:
        if k[Ti] != "num":
            raise FileFormatError(f"temperature {f[Ti]!r} is not a number", p, line=lineno)
        vals.append(float(f[Ti]))
    T = np.array(vals)
    if re.search(r"[\[(/]\s*K\s*[\])]?\s*$|kelvin", Tname, re.I):
        T = T - 273.15
    elif re.search(r"°\s*F|deg\s*F|fahrenheit", Tname, re.I):
        T = (T - 32.0) / 1.8
    return T


def _times(data, ti: int, tname: str, p: Path) -> tuple[np.ndarray, str]:
    """(time column in s, time kind): numbers (unit from the header), timestamps, or
    clock times with day roll-overs unwrapped."""
    kinds = {d[2][ti] for d in data}
    if len(kinds) != 1 or kinds.pop() not in ("num", "stamp", "clock"):
        raise FileFormatError(f"time column {tname!r} mixes formats or is not a time", p,
                              line=data[0][0])
    tkind = data[0][2][ti]
    if tkind == "num":
        scale = 1.0
        m = re.search(r"[\[(/_ ]\s*(ms|s|min|h)\s*[\])]?\s*$", tname, re.I)
        if m:
            scale = {"ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0}[m.group(1).lower()]
        return np.array([float(d[1][ti]) for d in data]) * scale, "numeric"
    if tkind == "stamp":
        return np.array([_stamp(d[1][ti]) for d in data]), "timestamp"
    parts = [d[1][ti].split(":") for d in data]
    t = np.array([int(a[0]) * 3600 + int(a[1]) * 60 + (float(a[2]) if len(a) > 2 else 0.0)
                  for a in parts])
    back = np.diff(t) < 0
    return t + 86400.0 * np.concatenate([[0], np.cumsum(back)]), "clock"
