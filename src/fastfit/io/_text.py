"""Text-file helpers shared by the readers: decoding, line splitting, a vectorised
parser for numeric tables that still names the offending line, and date parsing.

The numeric parser works on the raw bytes of the data block: delimiters are mapped to
spaces with one ``bytes.translate``, tokens are counted per line with numpy (no Python
loop over rows), and all numbers are converted by one ``np.fromstring`` call.  Only when
something is wrong does a slow path walk the lines to report *which* line and value.
"""
from __future__ import annotations

import datetime as _dt
import re

import numpy as np

from ..errors import FileFormatError

__all__ = ["decode", "split_lines", "parse_numeric", "guess_delimiter", "is_numeric_line",
           "parse_datetime", "to_float"]

def decode(raw: bytes) -> str:
    """Bytes -> str: UTF-8 (BOM stripped) when valid, else latin-1 (EC-Lab, Gamry and
    most Windows exports are cp1252/latin-1; latin-1 never fails)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def normalise_newlines(raw: bytes) -> bytes:
    """CRLF, CR-CR-LF (PowerSuite) and bare CR line ends -> LF."""
    if b"\r" not in raw:
        return raw
    if b"\n" in raw:
        return raw.replace(b"\r", b"")
    return raw.replace(b"\r", b"\n")


def split_lines(raw: bytes) -> list[bytes]:
    """Lines of a file (line ends normalised, no terminators)."""
    return normalise_newlines(raw).split(b"\n")


def to_float(tok: str) -> float | None:
    """float(tok) accepting a decimal comma; None when not a number."""
    try:
        return float(tok)
    except ValueError:
        try:
            return float(tok.replace(",", "."))
        except ValueError:
            return None


def guess_delimiter(line: str) -> tuple[str | None, bool]:
    """(delimiter, decimal_comma) for one data line.

    Tab wins; commas in a tab-separated line are decimal commas when the line has no
    '.'.  A ';' line uses decimal commas.  Otherwise ',' separates fields, and plain
    whitespace is the fallback (delimiter None).
    """
    if "\t" in line:
        return "\t", ("," in line and "." not in line)
    if ";" in line:
        return ";", ("," in line)
    if "," in line:
        return ",", False
    return None, False


_IDENTITY = bytes.maketrans(b"", b"")


def _translate_table(delimiter: str | None, decimal_comma: bool) -> bytes:
    src, dst = b"", b""
    if delimiter not in (None, " ", "\t"):
        src += delimiter.encode()
        dst += b" "
    if decimal_comma:
        src += b","
        dst += b"."
    return bytes.maketrans(src, dst)


def is_numeric_line(line: str, min_fields: int = 2) -> bool:
    """True when the line splits (by its own delimiter) into >= min_fields numbers."""
    s = line.strip()
    if not s:
        return False
    delim, dec = guess_delimiter(s)
    if dec:
        s = s.replace(",", ".")
    parts = s.split(delim) if delim not in (None, "\t") else s.split()
    parts = [p.strip() for p in parts]
    while parts and parts[-1] == "":
        parts.pop()
    if len(parts) < min_fields:
        return False
    for p in parts:
        try:
            float(p)
        except ValueError:
            return False
    return True


def parse_numeric(raw: bytes, *, first_line: int, path, delimiter: str | None,
                  decimal_comma: bool, ncols: int | None = None,
                  labels: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Parse a block of numeric rows.

    Parameters
    ----------
    raw : bytes
        The data block, LF line ends (see `normalise_newlines`).
    first_line : int
        1-based line number of the block's first line in the file (for messages).
    path : path-like
        File name for messages.
    delimiter : str or None
        Field separator (None or '\\t' = any whitespace).
    decimal_comma : bool
        Read ',' as the decimal mark.
    ncols : int, optional
        Required values per row; default: the count of the first non-blank row.
    labels : list of str, optional
        Column names, used in messages.

    Returns
    -------
    values : (R, C) float64
    lines : (R,) int
        1-based file line number of each row.  Blank lines are skipped.

    Raises
    ------
    FileFormatError
        A row with another number of values, or a value that is not a number; the
        message names the line (and column).

    Notes
    -----
    Tokens are counted per line with numpy on the raw bytes (a token starts where a
    byte > 0x20 follows a byte <= 0x20), so a ragged row is found without a Python
    loop.  The numbers are then converted in one call: pandas' C parser for blocks
    over `_PANDAS_MIN_BYTES` (about 5x faster than numpy on EC-Lab exports, and
    bit-identical on them), ``np.fromstring`` otherwise or when pandas refuses a token.
    """
    table = _translate_table(delimiter, decimal_comma)
    buf = raw if table == _IDENTITY else raw.translate(table)
    a = np.frombuffer(buf, np.uint8)
    if a.size == 0:
        return np.zeros((0, ncols or 0)), np.zeros(0, np.int64)
    sp = a <= 32
    tok = np.flatnonzero(~sp[1:] & sp[:-1]) + 1
    if not sp[0]:
        tok = np.r_[0, tok]
    ends = np.r_[np.flatnonzero(a == 10), a.size]          # end of every line
    counts = np.diff(np.r_[0, np.searchsorted(tok, ends)])  # tokens per line
    rows = np.flatnonzero(counts)
    if rows.size == 0:
        return np.zeros((0, ncols or 0)), np.zeros(0, np.int64)
    want = int(counts[rows[0]]) if ncols is None else int(ncols)
    bad = rows[counts[rows] != want]
    if bad.size:
        i = int(bad[0])
        raise FileFormatError(
            f"row has {int(counts[i])} values, expected {want}"
            + (f" ({', '.join(labels)})" if labels and len(labels) <= 12 else ""),
            path=path, line=first_line + i)
    vals = None
    if a.size >= _PANDAS_MIN_BYTES:
        vals = _pandas_floats(buf, rows.size, want, tabs=delimiter == "\t")
    if vals is None:
        try:
            vals = np.fromstring(buf.decode("latin-1"), sep=" ")
        except ValueError:
            vals = None
    if vals is None or vals.size != rows.size * want:
        _raise_bad_token(buf, rows, first_line, path, labels)
    return vals.reshape(rows.size, want), rows + first_line


_PANDAS_MIN_BYTES = 1 << 20


def _pandas_floats(buf: bytes, nrows: int, ncols: int, tabs: bool) -> np.ndarray | None:
    """All numbers of a validated block via pandas' C tokenizer (tab-separated mode
    first when the block is tab-delimited, it is the fastest; then any whitespace);
    None when pandas is missing or refuses a token (the caller falls back to numpy)."""
    try:
        import csv
        import io

        import pandas as pd
    except ImportError:
        return None
    for sep in (("\t", r"\s+") if tabs else (r"\s+",)):
        try:
            df = pd.read_csv(io.BytesIO(buf), sep=sep, header=None, dtype=np.float64,
                             engine="c", quoting=csv.QUOTE_NONE, na_filter=False,
                             skip_blank_lines=True)
        except Exception:                   # noqa: BLE001 - any refusal: next way
            continue
        v = df.to_numpy(np.float64)
        if v.shape == (nrows, ncols):
            return v.ravel()
    return None


def _raise_bad_token(buf: bytes, rows, first_line, path, labels):
    lines = buf.split(b"\n")
    for i in rows:
        for j, tok in enumerate(lines[int(i)].split()):
            try:
                float(tok)
            except ValueError:
                col = f" in column {j + 1}" + (f" ({labels[j]!r})" if labels and j < len(labels) else "")
                text = tok.decode("latin-1")
                if len(text) > 40:
                    text = text[:40] + "..."
                raise FileFormatError(f"non-numeric value {text!r}{col}", path=path,
                                      line=first_line + int(i)) from None
    raise FileFormatError("numeric block could not be parsed", path=path, line=first_line)


# ------------------------------------------------------------------ dates
_DATE_FORMATS = (
    "%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M",
    "%m-%d-%Y %H:%M:%S", "%m/%d/%y %H:%M:%S", "%d.%m.%Y %H:%M:%S.%f", "%d.%m.%Y %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S",
    "%A, %B %d, %Y %I:%M:%S %p", "%d/%m/%Y %H:%M:%S",
)


def parse_datetime(text: str) -> str | None:
    """Parse an instrument date-time string to ISO-8601 (None when not a date).

    Month-first (US) order is tried before day-first, as EC-Lab, Gamry and ZPlot
    write it.
    """
    s = re.sub(r"\s+", " ", text.strip())
    if not s or "x" in s.lower().replace("max", ""):
        return None
    for fmt in _DATE_FORMATS:
        try:
            return _dt.datetime.strptime(s, fmt).isoformat()
        except ValueError:
            continue
    return None


def ole_to_iso(days: float) -> str | None:
    """OLE automation date (days since 1899-12-30) -> ISO-8601 rounded to 1 ms."""
    if not np.isfinite(days) or not 20000.0 < days < 80000.0:
        return None
    t = _dt.datetime(1899, 12, 30) + _dt.timedelta(milliseconds=round(days * 86400e3))
    return t.isoformat()
