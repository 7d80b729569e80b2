"""Spreadsheets: Excel ``.xlsx`` (openpyxl) and OpenDocument ``.ods`` (odfpy).

Optional: ``pip install 'fastfit[spreadsheet]'``.  Both libraries are imported only
when such a file is read; without them the reader says what to install.

Every sheet that has a header row naming a frequency column and the impedance (Z'
and Z'', or \\|Z\\| and phase; matched by name as in `table`) contributes the numeric
rows under it, up to the first empty row; sheets without one are skipped.  Each sheet
starts a spectrum, and sweep restarts within a sheet split it further.  Errors name the
sheet and its row (``line`` = spreadsheet row number).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from ..series import SpectrumSeries
from ._assemble import assemble
from ._columns import classify_all, combine
from ._registry import Format

__all__ = ["read", "sniff", "FORMAT"]

_ODS = b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet"
_CHANNELS = ("t", "Ewe", "I")


def _kind(head: bytes) -> str | None:
    if not head.startswith(b"PK\x03\x04"):
        return None
    if head[30:30 + len(_ODS)] == _ODS:
        return "ods"
    if b"xl/" in head or b"[Content_Types].xml" in head[:4096] and b"xl" in head:
        return "xlsx"
    return None


def sniff(head: bytes, path: Path | None = None) -> bool:
    """A zip archive holding an Excel workbook (``xl/``) or an OpenDocument
    spreadsheet (its ``mimetype`` entry first)."""
    return _kind(head) is not None


def _need(module: str, path):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise FileFormatError(f"reading this spreadsheet needs the optional package "
                              f"{module.split('.')[0]!r}: pip install 'fastfit[spreadsheet]'",
                              path=path, offset=0) from None


def _xlsx_sheets(raw: bytes, path) -> list[tuple[str, list[list]]]:
    openpyxl = _need("openpyxl", path)
    wb = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    try:
        return [(ws.title, [list(r) for r in ws.iter_rows(values_only=True)])
                for ws in wb.worksheets]
    finally:
        wb.close()


def _ods_cell(cell, text_cls):
    kind = cell.getAttribute("valuetype")
    if kind in ("float", "percentage", "currency"):
        return float(cell.getAttribute("value"))
    parts = [str(p) for p in cell.getElementsByType(text_cls)]
    return "\n".join(parts) if parts else None


def _ods_sheets(raw: bytes, path) -> list[tuple[str, list[list]]]:
    _need("odf", path)
    from odf import opendocument, table, text
    doc = opendocument.load(io.BytesIO(raw))
    out = []
    for sh in doc.spreadsheet.getElementsByType(table.Table):
        rows = []
        for row in sh.getElementsByType(table.TableRow):
            vals = []
            for cell in row.childNodes:
                if cell.qname[1] not in ("table-cell", "covered-table-cell"):
                    continue
                rep = int(cell.getAttribute("numbercolumnsrepeated") or 1)
                v = _ods_cell(cell, text.P)
                vals.extend([v] * min(rep, 1024))
            while vals and vals[-1] is None:
                vals.pop()
            rep = int(row.getAttribute("numberrowsrepeated") or 1)
            rows.extend([vals] * (min(rep, 64) if vals else min(rep, 2)))
        out.append((str(sh.getAttribute("name")), rows))
    return out


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _sheet(name: str, rows: list[list], path):
    """(values (n, C), roles, first data row number) of one sheet, or None."""
    for i, row in enumerate(rows[:200]):
        labels = ["" if v is None else str(v).strip() for v in row]
        if sum(1 for v in labels if v and not _is_num_text(v)) < 2:
            continue
        roles = classify_all(labels)
        if "freq" not in roles or not (("re" in roles and "im" in roles)
                                        or ("mod" in roles and "phase" in roles)):
            continue
        idx = sorted({j for j, _ in roles.values()})
        data = []
        for k, r in enumerate(rows[i + 1:], start=i + 2):
            cells = [r[j] if j < len(r) else None for j in idx]
            if all(c is None or c == "" for c in cells):
                break
            bad = next((j for j, c in zip(idx, cells) if not _is_num(c)), None)
            if bad is not None:
                raise FileFormatError(f"sheet {name!r}, column {labels[bad]!r}: "
                                      f"{r[bad] if bad < len(r) else None!r} is not a number",
                                      path=path, line=k)
            data.append(cells)
        if not data:
            raise FileFormatError(f"sheet {name!r}: no numeric rows under the header",
                                  path=path, line=i + 2)
        vals = np.zeros((len(data), len(labels)))
        vals[:, idx] = np.asarray(data, np.float64)
        return vals, roles, i + 2
    return None


def _is_num_text(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def read(path, *, imag_sign="auto", split: str = "auto") -> SpectrumSeries:
    """Read the impedance tables of an ``.xlsx`` or ``.ods`` workbook.

    Parameters
    ----------
    path : str or Path
    imag_sign : {"auto", 1, -1}
        Sign of the stored imaginary column (see `fastfit.io._columns.combine`).
    split : {"auto", "loop", "sweep", "none"}

    Returns
    -------
    SpectrumSeries
        ``meta['sheets']``: the sheets read, one name per spectrum they start.
    """
    path = Path(path)
    raw = path.read_bytes()
    kind = _kind(raw[:65536])
    if kind is None:
        raise FileFormatError("not an .xlsx/.ods spreadsheet (no zip archive with a "
                              "workbook)", path=path, offset=0)
    try:
        sheets = (_xlsx_sheets if kind == "xlsx" else _ods_sheets)(raw, path)
    except FileFormatError:
        raise
    except Exception as e:                      # noqa: BLE001 - any library failure (zip, XML...)
        raise FileFormatError(f"corrupt {kind} workbook ({type(e).__name__}: {e})"[:300],
                              path=path, offset=0) from None
    fs, zs, chans, starts, names, total = [], [], {}, [], [], 0
    first_row = None
    for name, rows in sheets:
        got = _sheet(name, rows, path)
        if got is None:
            continue
        vals, roles, row0 = got
        first_row = first_row or row0

        def col(role, signed=True):
            j, c = roles[role]
            v = vals[:, j] * c.scale
            return -v if (signed and c.negated) else v

        def get(role):
            return col(role, signed=role == "phase") if role in roles else None

        Z, _ = combine(get("re"), get("im"), get("mod"), get("phase"),
                       phase_rad="phase" in roles and roles["phase"][1].unit == "rad",
                       im_negated="im" in roles and roles["im"][1].negated,
                       imag_sign=imag_sign)
        starts.append(total)
        total += vals.shape[0]
        fs.append(col("freq"))
        zs.append(Z)
        names.append(name)
        for k in _CHANNELS:
            chans.setdefault(k, []).append(col(k) if k in roles else np.full(vals.shape[0], np.nan))
    if not fs:
        raise FileFormatError("no sheet has a header row naming frequency and impedance "
                              "columns", path=path, offset=0)
    meta = {"format": "spreadsheet", "spreadsheet": kind, "sheets": names}
    channels = {k: np.concatenate(v) for k, v in chans.items()
                if not np.isnan(np.concatenate(v)).all()}
    return assemble(np.concatenate(fs), np.concatenate(zs), path=path, meta=meta,
                    channels=channels, starts=starts, split=split, where={"line": first_row})


FORMAT = Format(name="spreadsheet", description="Excel / OpenDocument spreadsheet (.xlsx/.ods)",
                extensions=(".xlsx", ".ods"), sniff=sniff, read=read, aliases=("xlsx", "ods"))
