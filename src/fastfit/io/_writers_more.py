"""Write test files in the instrument layouts documented by the reader modules.

For tests and fuzzing only (no instrument software was used): each writer follows the
layout described in its reader's module docstring -- `palmsens`, `ivium`,
`autolab_dfr`, `autolab`, `zahner_ism`, `zahner_txt`, `spreadsheet` -- so a clean
clone can test every reader without downloading instrument files.  Spectra are given
as lists of frequency / impedance arrays (Z = Z' + jZ'').
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["write_pssession", "write_ivium", "write_dfr", "write_nova", "write_zahner_ism",
           "write_zahner_txt", "write_spreadsheet"]


def _arr(desc, atype, unit, values):
    return {"Type": "PalmSens.Data.DataArray", "ArrayType": atype, "Description": desc,
            "Unit": {"Type": f"PalmSens.Units.{unit}"},
            "DataValues": [{"V": float(v)} for v in values]}


def _dataset(f, z, t):
    return {"Type": "PalmSens.Data.DataSetEIS", "Values": [
        _arr("time", 0, "Time", t), _arr("potential", 1, "Volt", np.zeros(f.size)),
        _arr("Idc", 2, "MicroAmpere", np.full(f.size, 1.5)),
        _arr("Frequency", 5, "Hertz", f), _arr("ZRe", 7, "ZRe", z.real),
        _arr("ZIm", 8, "ZIm", -z.imag), _arr("Phase", 6, "Phase", -np.degrees(np.angle(z)))]}


def write_pssession(path, freq, Z, *, subscans: bool = False, lower_keys: bool = False,
                    trailer: bytes = b"\xff\xfe") -> Path:
    """PSTrace-style session: one EIS measurement whose ``EISDataList`` holds each
    spectrum (as ``SubScans`` of one curve when ``subscans``); ``DataSet`` is all
    points.  ``lower_keys`` writes PSTrace 5.7's lower-case keys."""
    fs = [np.asarray(f, float) for f in freq]
    zs = [np.asarray(z, complex) for z in Z]
    ts = [np.arange(f.size) * 2.0 for f in fs]
    curves = [{"Title": f"E={0.1 * k:.3f} V", "Type": "PalmSens.Plottables.EISData",
               "DataSet": _dataset(f, z, t)} for k, (f, z, t) in enumerate(zip(fs, zs, ts))]
    eis = ([{"Title": "E dc scan", "Type": "PalmSens.Plottables.EISData", "SubScans": curves}]
           if subscans else curves)
    doc = {"Type": "PalmSens.DataFiles.SessionFile", "CoreVersion": "5.9.0.0",
           "MethodForMeasurement": "#PSTrace\r\nMETHOD_ID=eis\r\nE=1.000E-001\r\nAMPLITUDE=1.000E-002\r\n",
           "Measurements": [{
               "Title": "Impedance Spectroscopy", "TimeStamp": 638283044195322907,
               "DeviceSerial": "PS4TEST", "Method": "METHOD_ID=eis\r\nE=1.000E-001\r\nAMPLITUDE=1.000E-002\r\n",
               "DataSet": _dataset(np.concatenate(fs), np.concatenate(zs), np.concatenate(ts)),
               "Curves": [], "EISDataList": eis}]}
    text = json.dumps(doc, separators=(",", ":"))
    if lower_keys:
        text = json.dumps(_lower(doc), separators=(",", ":"))
    path = Path(path)
    path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le") + trailer)
    return path


def _lower(o):
    if isinstance(o, dict):
        return {k.lower(): _lower(v) for k, v in o.items()}
    return [_lower(v) for v in o] if isinstance(o, list) else o


def write_ivium(path, freq, Z, *, titles=None, variant: str = "lines",
                technique: str = "Constant E") -> Path:
    """IviumSoft ``.idf`` (one spectrum) / ``.ids`` (several) data sets.  ``variant``:
    "lines" (counts on their own lines, LF) or "nul" (CR LF, ``primary_data`` and a
    NUL before the column count, as IviumSoft 4 writes it)."""
    out = bytearray(b"\x00" * 16 + b"H\x00\x00\x00")
    nl = b"\r\n" if variant == "nul" else b"\n"
    for k, (f, z) in enumerate(zip(freq, Z)):
        f, z = np.asarray(f, float), np.asarray(z, complex)
        title = (titles[k] if titles else f"Test {k + 1}").encode()
        head = [b"Version=12", b"starttime=12/12/2022 5:18:49 PM", b"serialnumber=B12345",
                b"Method=Impedance", b"Technique=" + technique.encode(), b"Title=" + title,
                b"E start=0.1", b"Frequencies=%d" % f.size, b"Frequencies.amp[1]=0.01",
                b"Mconfig=0"]
        out += nl.join(head) + nl + b">\x0c\x01\x00" + nl
        out += b"2         " + nl + b"Data Objects    " + nl + b"0         " + nl
        if variant == "nul":
            out += b"primary_data    \r\x003         \r\n"
        else:
            out += b"primary_data    " + nl + b"3         " + nl
        out += b"%-10d" % f.size + nl
        for a, b in zip(f, z):
            out += b"%.5E  %.5E\t%.5E " % (b.real, b.imag, a) + nl
        out += b"3         " + nl + b"1         " + nl + b"0.0 0.0 0.0" + nl
    path = Path(path)
    path.write_bytes(bytes(out))
    return path


def write_dfr(path, f, z) -> Path:
    """Autolab FRA ``.dfr``: VERSION8.0, count, 1, nine values per point, trailer."""
    f, z = np.asarray(f, float), np.asarray(z, complex)
    lines = ["VERSION8.0", f" {f.size}", " 1"]
    for i, (a, b) in enumerate(zip(f, z)):
        lines += [f" {float(a)!r}", f" {float(b.real)!r}", f" {float(-b.imag)!r}", " 0.1", " 1e-06", f" {2.0 * i}",
                  " 0.0", " 0.0", " 0.0"]
    lines += [" 1.0", " 1.0", " 1.0", "13.07.2022 22:32:00", "12.11.2018 22:33:00", " 2.0"]
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_nova(path, freq, Z, *, sep: str = ";", decimal_comma: bool = True) -> Path:
    """NOVA ASCII export: Index, Frequency (Hz), Z' (Ω), -Z'' (Ω), Z (Ω), -Phase (°),
    Time (s), WE(1).Potential (V); spectra one after the other."""
    head = sep.join(["Index", "Frequency (Hz)", "Z' (Ω)", "-Z'' (Ω)", "Z (Ω)", "-Phase (°)",
                     "Time (s)", "WE(1).Potential (V)"])
    rows = [head]
    for k, (f, z) in enumerate(zip(freq, Z)):
        for i, (a, b) in enumerate(zip(f, z)):
            r = sep.join(f"{v:.10g}" for v in (i + 1, a, b.real, -b.imag, abs(b),
                                                 -np.degrees(np.angle(b)), 1.5 * i, 0.1 * k))
            rows.append(r.replace(".", ",") if decimal_comma else r)
    path = Path(path)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _zstr(s: str) -> bytes:
    b = s.swapcase().encode("ascii")
    return len(b).to_bytes(2, "big") + b


def write_zahner_ism(path, f, z, *, overlap: int = 0, t0: float = 1.40558957e9) -> Path:
    """Zahner ``.ism``: magic, n-1, f/|Z|/phase/time (f8) and significance (i2) arrays,
    metadata strings and 32 f8 values (amplitude 10 mV).  ``overlap`` prepends that
    many points of a first branch running up from the middle of the sweep."""
    f, z = np.asarray(f, float), np.asarray(z, complex)
    if overlap:
        k = f.size // 2
        f = np.r_[f[k:k - overlap:-1], f]
        z = np.r_[z[k:k - overlap:-1], z]
    n = f.size
    out = b"\x00\x00\xff\xff\xff\xfe" + (n - 1).to_bytes(6, "big", signed=True)
    for a in (f, np.abs(z), np.angle(z), t0 + 2.0 * np.arange(n)):
        out += a.astype(">f8").tobytes()
    out += np.full(n, 1000, ">i2").tobytes()
    for s in ("160724", "rc test", "0.9995V, Ampl: 10mV", "12.3uA", "", "", "c1", "", "", "",
              "1cm2", "x"):
        out += _zstr(s)
    k = np.zeros(32, ">f8")
    k[25] = 10.0
    out += (0).to_bytes(2, "big") + k.tobytes()
    path = Path(path)
    path.write_bytes(out)
    return path


def write_zahner_txt(path, f, z, *, variant: str = "thales") -> Path:
    """Zahner text exports: "thales" (whitespace, Number/Frequency/Hz/Impedance/Ohm/
    Phase/deg/Significance/Time/s), "analysis" (tab, UTF-8, ``impedance (Ω)``) or
    "bin2txt" (tab, decimal comma, LOGF/LOGO/LOGZm/Phim/Real/Imag)."""
    f, z = np.asarray(f, float), np.asarray(z, complex)
    ph = np.degrees(np.angle(z))
    head = ["File Name: C:\\THALES\\data\\rc01.ism", "", "Potential: 0.9995V, Ampl: 10mV",
            "Current: 12.3uA", "Time: 09:33:19 - 09:41:00", ""]
    if variant == "thales":
        head.append("Number  Frequency/Hz  Impedance/Ohm  Phase/deg  Significance  Time/s")
        rows = [f"{i + 1}  {a:.8e}  {abs(b):.8e}  {p:.8e}  1000  {2.0 * i:.3f}"
                for i, (a, b, p) in enumerate(zip(f, z, ph))]
    elif variant == "analysis":
        head.append("frequency (Hz)\timpedance (Ω)\tphase / deg (°)\tsignificance")
        rows = [f"{a:.8e}\t{abs(b):.8e}\t{p:.8e}\t1000" for a, b, p in zip(f, z, ph)]
    else:
        head = ["ZAHNER Bin2Txt", "Potential : 0,100V", ""]
        head.append("LOGF\tLOGO\tLOGZm\tPhim\tReal\tImag")
        rows = [("%.9f\t%.9f\t%.9f\t%.7f\t%.8e\t%.8e" % (np.log10(a), np.log10(2 * np.pi * a),
                 np.log10(abs(b)), p, b.real, b.imag)).replace(".", ",")
                for a, b, p in zip(f, z, ph)]
    path = Path(path)
    path.write_text("\r\n".join(head + rows) + "\r\n", encoding="utf-8")
    return path


def write_spreadsheet(path, freq, Z, *, kind: str = "xlsx") -> Path:
    """One sheet per spectrum (header f, Z', Z''; Z'' = Im Z) plus a notes sheet
    without a table; ``kind`` "xlsx" (openpyxl) or "ods" (odfpy)."""
    path = Path(path)
    sheets = [("notes", [["measured on", "2024-01-01"]])]
    for k, (f, z) in enumerate(zip(freq, Z)):
        rows = [["frequency (Hz)", "Re(Z) (ohm)", "-Im(Z) (ohm)", "time/s"]]
        rows += [[float(a), float(b.real), float(-b.imag), 3.0 * i]
                 for i, (a, b) in enumerate(zip(f, z))]
        sheets.append((f"spectrum {k + 1}", rows))
    if kind == "xlsx":
        import openpyxl
        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        for name, rows in sheets:
            ws = wb.create_sheet(name)
            for r in rows:
                ws.append(r)
        wb.save(path)
        return path
    from odf import opendocument, table, text
    doc = opendocument.OpenDocumentSpreadsheet()
    for name, rows in sheets:
        t = table.Table(name=name)
        for r in rows:
            tr = table.TableRow()
            for v in r:
                if isinstance(v, str):
                    c = table.TableCell(valuetype="string")
                    c.addElement(text.P(text=v))
                else:
                    c = table.TableCell(valuetype="float", value=repr(v))
                tr.addElement(c)
            t.addElement(tr)
        doc.spreadsheet.addElement(t)
    doc.save(str(path))
    return path
