"""Follow a text file that an instrument (or an export script) is still writing.

Formats: EC-Lab ``.mpt`` text exports (and header-less BioLogic tables) and generic
CSV / tab / whitespace tables, parsed with the same column matching and arithmetic as
:func:`fastfit.read`, so the points are bit-identical to a bulk read of the finished file.

How the file is followed
------------------------
* New bytes are read every ``poll`` seconds (faster right after activity).  Only
  complete lines (ending in a newline) are parsed; a partial last line waits for the
  rest of it, so a reader never sees half a number.
* Rotation (the path now names another file) and truncation or rewriting (the file got
  shorter, or the bytes just before the read position changed) start a new *generation*:
  the remaining bytes of the old file are read first, then the new file is read from its
  first byte and spectrum positions restart at 0.  An exporter that rewrites the whole
  file therefore re-delivers the same spectra, which the store recognises.
* A data line that cannot be parsed (wrong number of values, garbage) is skipped and
  reported as a notice; the bulk reader would refuse the whole file instead.  A header
  without frequency / impedance columns raises :class:`~fastfit.errors.DataError`.
* ``until_idle`` ends the iteration after that many seconds without new bytes; a last
  line without a newline is read then (EC-Lab exports end that way), never earlier.
"""
from __future__ import annotations

import os
import time

import numpy as np

from ..errors import DataError
from ..io import biologic_mpt as _mpt
from ..io import table as _table
from ..io.parsing import Column, classify, classify_all, decode, guess_delimiter, is_numeric_line
from ._points import rows_to_points
from ._source import Marker, Source

__all__ = ["FileSource"]

_TAIL = 64


class _Parser:
    """Incremental header + data-row parser for one generation of a file."""

    def __init__(self, path: str, fmt: str, columns, imag_sign, delimiter):
        self.path = path
        self.fmt = fmt
        self.columns = columns
        self.imag_sign = imag_sign
        self.delimiter = delimiter
        self.head: list[str] = []        # header lines seen so far (decoded)
        self.ready = False
        self.meta: dict = {}
        self.sweep = None
        self.roles: dict = {}
        self.ncols = 0
        self.translate = None
        self.sign = 1.0
        self.sign_rows: list[np.ndarray] = []   # rows waiting for the imag-sign vote
        self.latin: bool | None = None
        self.notices: list[str] = []

    # ---------------------------------------------------------------- header
    def _header_ready(self) -> bool:
        h = self.head
        if not h:
            return False
        if h[0].startswith("BIO-LOGIC MODULAR FILE") or "\x00" in h[0]:
            raise DataError(f"{self.path}: a binary file cannot be followed live (for EC-Lab, "
                            "follow a text export .mpt, or give replay:FILE to replay a "
                            "finished .mpr)")
        first = h[0].encode("latin-1", "replace")
        if first.startswith(b"\xef\xbb\xbf"):
            first = first[3:]
        if self.fmt in ("auto", "biologic_mpt") and first.startswith(_mpt.MAGICS):
            if len(h) < 2:
                return False
            m = _mpt.NB_HEADER_LINES.search(h[1])
            if not m:
                raise DataError(f"{self.path}: expected 'Nb header lines : N' on line 2")
            nb = int(m.group(1))
            if len(h) < nb:
                return False
            self._mpt_header(h[:nb], nb)
            return True
        if self.fmt in ("auto", "biologic_mpt") and _mpt.is_headerless(first):
            self._mpt_header(h[:1], 1)
            return True
        if self.fmt == "biologic_mpt":
            raise DataError(f"{self.path}: not an EC-Lab text export")
        return self._table_header()

    def _mpt_header(self, header: list[str], nb: int) -> None:
        labels = [s.strip() for s in header[-1].split("\t")]
        while labels and labels[-1] == "":
            labels.pop()
        roles = classify_all(labels)
        if "freq" not in roles or not (("re" in roles and "im" in roles)
                                       or ("mod" in roles and "phase" in roles)):
            raise DataError(f"{self.path}: the column header lacks frequency / impedance "
                            f"columns ({', '.join(labels[:8])})")
        meta, sweep = _mpt.header_meta(header) if nb > 1 else ({}, None)
        meta.setdefault("instrument", "BioLogic")
        meta["format"] = "biologic_mpt"
        self.meta, self.sweep, self.roles = meta, sweep, roles
        self.ncols = len(labels)
        self.head = self.head[nb:]
        self.ready = True

    def _table_header(self) -> bool:
        lines = self.head
        start = None
        for i, s in enumerate(lines):
            if is_numeric_line(s, 3):
                j = i + 1
                while j < len(lines) and not lines[j].strip():
                    j += 1
                if j < len(lines) and is_numeric_line(lines[j], 3):
                    start = i
                    break
                if j >= len(lines):
                    return False              # wait for a second numeric line
        if start is None:
            if len(lines) > _table.MAX_HEADER_LINES:
                raise DataError(f"{self.path}: no table of numbers found")
            return False
        delim, dec = guess_delimiter(lines[start]) if self.delimiter is None else (
            self.delimiter, self.delimiter in (";", "\t") and "," in lines[start]
            and "." not in lines[start])
        src, dst = "", ""
        if delim not in (None, " ", "\t"):
            src, dst = src + delim, dst + " "
        if dec:
            src, dst = src + ",", dst + "."
        self.translate = str.maketrans(src, dst) if src else None
        self.ncols = len(self._tokens(lines[start]))
        labels, _ = _table.find_header(lines, start, delim, self.ncols)
        if labels:
            roles = classify_all(labels)
        else:
            labels = [f"column {j + 1}" for j in range(self.ncols)]
            roles = {"freq": (0, Column("column 1", "freq")), "re": (1, Column("column 2", "re")),
                     "im": (2, Column("column 3", "im"))}
        for role, ref in (self.columns or {}).items():
            j = ref if isinstance(ref, int) else labels.index(ref) if ref in labels else None
            if j is None or not 0 <= j < self.ncols:
                raise DataError(f"{self.path}: columns[{role!r}] = {ref!r} is not a column")
            c = classify(labels[j])
            same = c.role == role
            roles[role] = (j, Column(labels[j], role, c.scale if same else 1.0,
                                     same and c.negated, c.unit if same else ""))
        if "freq" not in roles or not (("re" in roles and "im" in roles)
                                       or ("mod" in roles and "phase" in roles)):
            raise DataError(f"{self.path}: no frequency / impedance columns among "
                            f"{', '.join(labels)}")
        meta = {"format": "table", "columns": labels}
        meta.update(_table.dialect_meta(lines[:max(start, 1)]))
        self.meta, self.roles = meta, roles
        if "re" in roles and "im" in roles and self.imag_sign != "auto":
            j, c = roles["im"]
            roles["im"] = (j, Column(c.label, "im", c.scale, False, c.unit))
            self.sign = float(self.imag_sign)
        elif "re" in roles and "im" in roles and "phase" in roles and not roles["im"][1].negated:
            self.sign = None                                # decided by a vote
        self.head = lines[start:]
        self.ready = True
        return True

    # ------------------------------------------------------------------ rows
    def _tokens(self, s: str) -> list[str]:
        if self.translate:
            s = s.translate(self.translate)
        return s.split()

    def _decode(self, raw: list[bytes]) -> list[str]:
        if self.latin is None and raw:
            first = raw[0][3:] if raw[0].startswith(b"\xef\xbb\xbf") else raw[0]
            self.latin = first.startswith(_mpt.MAGICS) or _mpt.is_headerless(first)
        if self.latin:
            return [x.decode("latin-1") for x in raw]
        return [decode(x) for x in raw]

    def feed(self, raw: list[bytes]) -> list:
        """Parse complete lines (bytes, no line ends); returns the points they hold."""
        lines = self._decode(raw)
        rows = []
        if not self.ready:
            self.head.extend(lines)
            if not self._header_ready():
                return []
            lines, self.head = self.head, []
        for s in lines:
            if not s.strip():
                continue
            if self.translate is None and self.meta.get("format") == "biologic_mpt":
                dec = "," in s and "." not in s          # decided on the first data row
                self.translate = str.maketrans(",", ".") if dec else False
            tok = self._tokens(s)
            try:
                if len(tok) != self.ncols:
                    raise ValueError(f"{len(tok)} values, expected {self.ncols}")
                rows.append([float(x) for x in tok])
            except ValueError as exc:
                self.notices.append(f"{self.path}: skipped a line that is not a data row "
                                    f"({exc}): {s[:60]!r}")
        if not rows:
            return []
        vals = np.array(rows, np.float64)
        if self.sign is None:
            self.sign_rows.append(vals)
            allv = np.concatenate(self.sign_rows)
            j_ph, c_ph = self.roles["phase"]
            j_im, c_im = self.roles["im"]
            ph, im = allv[:, j_ph] * c_ph.scale, allv[:, j_im] * c_im.scale
            ok = (np.abs(ph) > 1e-3) & (np.abs(im) > 0)
            if ok.sum() < 16:
                return []
            self.sign = -1.0 if np.mean(np.sign(ph[ok]) != np.sign(im[ok])) > 0.5 else 1.0
            if self.sign < 0:
                self.meta["imag_sign_from_phase"] = True
            vals, self.sign_rows = allv, []
        return rows_to_points(vals, self.roles, self.sign)


class FileSource(Source):
    """Points from a text file that is still being written (see the module docstring).

    Parameters
    ----------
    path : str or Path; the file may not exist yet
    poll : float, s, longest wait between reads when the file is quiet
    until_idle : float, s, optional: end after this long without new data
    format : "auto", "biologic_mpt" or "table"
    columns, imag_sign, delimiter : as for :func:`fastfit.io.table.read`
    """

    replayable = True

    def __init__(self, path, *, poll: float = 0.05, until_idle: float | None = None,
                 format: str = "auto", columns: dict | None = None, imag_sign="auto",
                 delimiter: str | None = None):
        super().__init__()
        if format not in ("auto", "biologic_mpt", "mpt", "table", "csv"):
            raise DataError(f"format={format!r}: expected 'auto', 'biologic_mpt' or 'table'")
        self.path = os.path.abspath(str(path))
        self.name = f"file:{self.path}"
        self.poll = float(poll)
        self.until_idle = until_idle
        self.format = {"mpt": "biologic_mpt", "csv": "table"}.get(format, format)
        self._opts = (columns, imag_sign, delimiter)
        self.meta: dict = {}
        self.sweep = None

    def _new_parser(self) -> _Parser:
        return _Parser(self.path, self.format, *self._opts)

    def _idle(self, last_data: float) -> bool:
        return self.until_idle is not None and time.monotonic() - last_data >= self.until_idle

    @staticmethod
    def _last_line(parser: _Parser, buf: bytes) -> list:
        """Points (and notices) of an unterminated last line of a finished file."""
        last = buf.replace(b"\r", b"")
        if not (last.strip() and parser.ready):
            return []
        out = list(parser.feed([last]))
        out += [Marker("notice", msg) for msg in parser.notices]
        parser.notices.clear()
        return out

    async def items(self):
        fh = None
        parser = self._new_parser()
        buf, offset, tail = b"", 0, b""
        last_data = time.monotonic()
        quiet = 0.002
        try:
            while not self._stopping:
                if fh is None:
                    try:
                        fh = open(self.path, "rb")
                    except FileNotFoundError:
                        if self._idle(last_data):
                            return
                        await self._sleep(self.poll)
                        continue
                    buf, offset, tail = b"", 0, b""
                if offset and tail:               # rewritten in place?
                    try:
                        now = os.pread(fh.fileno(), len(tail), offset - len(tail))
                    except OSError:
                        now = b""
                    if now != tail:
                        for item in self._last_line(parser, buf):
                            yield item
                        yield Marker("notice", f"{self.path}: file was rewritten; reading it "
                                               "again from the start")
                        yield Marker("end", final=False)
                        fh.seek(0)
                        buf, offset, tail = b"", 0, b""
                        parser = self._new_parser()
                        continue
                chunk = fh.read(1 << 20)
                if chunk:
                    offset += len(chunk)
                    tail = (tail + chunk)[-_TAIL:]
                    buf += chunk
                    last_data = time.monotonic()
                    quiet = 0.002
                    cut = buf.rfind(b"\n")
                    if cut < 0:
                        continue
                    block, buf = buf[:cut], buf[cut + 1:]
                    was_ready = parser.ready
                    pts = parser.feed(block.replace(b"\r", b"").split(b"\n"))
                    for msg in parser.notices:
                        yield Marker("notice", msg)
                    parser.notices.clear()
                    if parser.ready and not was_ready:
                        self.meta, self.sweep = parser.meta, parser.sweep
                        yield Marker("start", meta=dict(parser.meta), sweep=parser.sweep)
                    for p in pts:
                        yield p
                    continue
                # no new bytes: replaced? truncated? idle?
                try:
                    st = os.stat(self.path)
                    fst = os.fstat(fh.fileno())
                    rotated = (st.st_ino, st.st_dev) != (fst.st_ino, fst.st_dev)
                    truncated = not rotated and st.st_size < offset
                except FileNotFoundError:
                    rotated = truncated = False
                if rotated or truncated:          # the old content is finished: its last line too
                    for item in self._last_line(parser, buf):
                        yield item
                if rotated or truncated:
                    what = "replaced by a new file" if rotated else "truncated"
                    yield Marker("notice", f"{self.path}: file was {what}; following the new "
                                           "content from its start")
                    yield Marker("end", final=rotated)
                    if rotated:
                        fh.close()
                        fh = None
                    else:
                        fh.seek(0)
                    buf, offset, tail = b"", 0, b""
                    parser = self._new_parser()
                    continue
                if self._idle(last_data):
                    # quiet for until_idle seconds: an unterminated last line is complete
                    # (EC-Lab exports end without a newline)
                    for item in self._last_line(parser, buf):
                        yield item
                    return
                await self._sleep(quiet)
                quiet = min(self.poll, quiet * 2)
        finally:
            if fh is not None:
                fh.close()
