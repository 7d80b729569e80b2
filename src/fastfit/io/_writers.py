"""Write synthetic instrument files (EC-Lab ``.mpt`` text and ``.mpr`` binary).

For tests, benchmarks and live-stream simulations only: the files follow the layouts
documented in `biologic_mpt` and `biologic_mpr` (EC-Lab >= 11.50 variant of the binary
format) closely enough that independent readers (galvani) read them too.  Values are
written the way EC-Lab writes them: 8 significant digits in text, float32 in binary
(time and cycle number float64).
"""
from __future__ import annotations

import datetime as _dt
import io
import struct
from pathlib import Path

import numpy as np

__all__ = ["write_mpt", "write_mpr"]


def _flatten(freq, Z, cycles):
    fs = [np.asarray(f, np.float64).reshape(-1) for f in freq]
    zs = [np.asarray(z, np.complex128).reshape(-1) for z in Z]
    cyc = np.arange(1, len(fs) + 1) if cycles is None else np.asarray(cycles)
    f = np.concatenate(fs)
    z = np.concatenate(zs)
    c = np.concatenate([np.full(x.size, ci, np.float64) for x, ci in zip(fs, cyc)])
    return f, z, c


def _channels(n, time, Ewe, I):
    t = np.arange(n, dtype=np.float64) * 1.5 + 3.0 if time is None else np.asarray(time, float).reshape(-1)
    e = np.full(n, 0.1) if Ewe is None else np.asarray(Ewe, float).reshape(-1)
    i = np.full(n, 1e-6) if I is None else np.asarray(I, float).reshape(-1)
    return t, e, i


def write_mpt(path, freq, Z, *, cycles=None, time=None, Ewe=None, I=None,
              t0: str = "05/15/2025 01:18:45.867", technique: str = "PEIS",
              decimal_comma: bool = False, fi: float | None = None, ff: float | None = None,
              per_decade: int = 10, crlf: bool = True, extra=()) -> Path:
    """Write an EC-Lab-style ``.mpt`` file.

    Parameters
    ----------
    freq, Z : sequence of (F_i,) arrays
        One frequency / impedance array per spectrum (ragged allowed), Z = Z' + jZ''.
    cycles : sequence of int, optional
        ``cycle number`` of each spectrum (default 1, 2, ...).
    time, Ewe, I : (n,) arrays, optional
        Per-point time (s), potential (V) and current (A) over all points.
    t0 : str
        "Acquisition started on" value (MM/DD/YYYY HH:MM:SS.fff).
    technique : {"PEIS", "GEIS"}
    decimal_comma : bool
        Write numbers with a decimal comma (European locale).
    fi, ff, per_decade
        Stated sweep settings (default: the first spectrum's ends).
    extra : sequence of (label, (n,) values)
        More columns after the standard ones (e.g. ``("<Ece>/V", ece)``).
    """
    f, z, c = _flatten(freq, Z, cycles)
    t, e, i = _channels(f.size, time, Ewe, I)
    fi = float(np.asarray(freq[0])[0]) if fi is None else fi
    ff = float(np.asarray(freq[0])[-1]) if ff is None else ff
    name = ("Galvano" if technique == "GEIS" else "Potentio") + " Electrochemical Impedance Spectroscopy"
    settings = ["Mode                Single sine         "]
    if technique == "GEIS":
        settings += ["Is                  1.000               ", "unit Is             mA                  ",
                     "Ia                  100.000             ", "unit Ia             µA                  "]
    else:
        settings += ["E (V)               0.1000              ", "vs.                 Ref                 ",
                     "Va (mV)             10.0                "]
    settings += [f"fi                  {fi:<20.6g}", "unit fi             Hz                  ",
                 f"ff                  {ff:<20.6g}", "unit ff             Hz                  ",
                 f"Nd                  {per_decade:<20d}", "Points              per decade          ",
                 "spacing             Logarithmic         "]
    top = ["EC-Lab ASCII FILE", None, "", name, "", "Run on channel : 1 (SN 12345)",
           f"Acquisition started on : {t0}", "Device : SP-300 (SN 1787)",
           "EC-Lab for windows v11.61 (software)", "Electrode surface area : 0.500 cm²",
           "Cycle Definition : Charge/Discharge alternance"] + settings + [""]
    cols = ["freq/Hz", "Re(Z)/Ohm", "-Im(Z)/Ohm", "|Z|/Ohm", "Phase(Z)/deg", "time/s",
            "<Ewe>/V", "<I>/mA", "cycle number", "|Ewe|/V", "|I|/A"] + [e[0] for e in extra]
    top[1] = f"Nb header lines : {len(top) + 1:<3d}                       "
    lines = top + ["\t".join(cols) + "\t"]
    data = np.column_stack([f, z.real, -z.imag, np.abs(z), np.degrees(np.angle(z)), t, e,
                            i * 1e3, c, np.full(f.size, 0.01), np.full(f.size, 1e-5)]
                           + [np.asarray(e[1], float) for e in extra])
    buf = io.StringIO()
    np.savetxt(buf, data, fmt=["%.7E"] * 5 + ["%.15E"] + ["%.7E"] * 2 + ["%.15E"] + ["%.7E"] * 2
               + ["%.7E"] * len(extra),
               delimiter="\t")
    body = buf.getvalue()
    if decimal_comma:
        body = body.replace(".", ",")
    nl = "\r\n" if crlf else "\n"
    text = nl.join(lines) + nl + body.replace("\n", nl)
    path = Path(path)
    path.write_bytes(text.encode("latin-1"))
    return path


def _module(short: str, long: str, data: bytes, version: int, unknown: int, date: bytes) -> bytes:
    head = (short.encode().ljust(10) + long.encode().ljust(25)
            + struct.pack("<IIII", 0xFFFFFFFF, len(data), version, unknown) + date)
    return b"MODULE" + head + data


def write_mpr(path, freq, Z, *, cycles=None, time=None, Ewe=None, I=None,
              t0: _dt.datetime = _dt.datetime(2025, 5, 15, 1, 18, 45, 867000),
              loop_module: bool = False, area_cm2: float = 0.5, va_mV: float = 10.0,
              extra=()) -> Path:
    """Write an EC-Lab >= 11.50 style ``.mpr`` (PEIS) with settings, data and LOG modules
    (and a ``VMP loop`` module listing each spectrum's first row when ``loop_module``).

    Columns: freq, Re(Z), -Im(Z), |Z|, Phase(Z) (float32), time (float64), <Ewe>,
    <I> (float32), cycle number (float64), |Ewe|, |I| (float32), then ``extra``:
    (column id, numpy type, (n,) values) each, in that order (ids need not be known
    to the reader).
    """
    f, z, c = _flatten(freq, Z, cycles)
    t, e, i = _channels(f.size, time, Ewe, I)
    date = t0.strftime("%m.%d.%y").encode()
    ids = [32, 37, 38, 36, 35, 4, 77, 76, 24, 33, 34] + [int(e[0]) for e in extra]
    dt = np.dtype([("f", "<f4"), ("re", "<f4"), ("nim", "<f4"), ("mod", "<f4"), ("ph", "<f4"),
                   ("t", "<f8"), ("e", "<f4"), ("i", "<f4"), ("c", "<f8"), ("ea", "<f4"),
                   ("ia", "<f4")] + [(f"x{k}", e[1]) for k, e in enumerate(extra)])
    rec = np.zeros(f.size, dt)
    rec["f"], rec["re"], rec["nim"] = f, z.real, -z.imag
    rec["mod"], rec["ph"] = np.abs(z), np.degrees(np.angle(z))
    rec["t"], rec["e"], rec["i"], rec["c"] = t, e, i * 1e3, c
    rec["ea"], rec["ia"] = 0.01, 1e-5
    for k, e in enumerate(extra):
        rec[f"x{k}"] = e[2]
    head = bytearray(1007)
    struct.pack_into("<IB", head, 0, f.size, len(ids))
    struct.pack_into(f">{len(ids)}H", head, 5, *ids)
    data_mod = bytes(head) + rec.tobytes()

    settings = bytearray(6747)
    settings[0] = 0x1D                                         # PEIS
    struct.pack_into("<f", settings, 0x211, area_cm2)
    fs0 = np.asarray(freq[0], float)
    p = 0x1847
    struct.pack_into("<HHI", settings, p, 1, 52, 0)            # ns, n params, sine mode
    struct.pack_into("<fBfBfBf", settings, p + 8, 0.0, 0, 0.0, 0, 0.0, 0, 0.0)  # E..dt
    struct.pack_into("<fBfBIBBf", settings, p + 4 + 4 + 19, fs0[0], 2, fs0[-1], 2, 10, 0, 0, va_mV)
    log = bytearray(8103)
    ole = (t0 - _dt.datetime(1899, 12, 30)).total_seconds() / 86400.0
    struct.pack_into("<d", log, 0x249, ole)
    for off, s in ((0x3B7, b"11.61"), (0x3CF, b"1787")):
        log[off] = len(s)
        log[off + 1:off + 1 + len(s)] = s
    out = [b"BIO-LOGIC MODULAR FILE\x1a".ljust(48) + b"\x00" * 4,
           _module("VMP Set", "VMP settings", bytes(settings), 0, 10, date),
           _module("VMP data", "VMP data", data_mod, 0, 11, date),
           _module("VMP LOG", "VMP LOG", bytes(log), 0, 10, date)]
    if loop_module:
        starts = np.concatenate([[0], np.cumsum([np.size(x) for x in freq])[:-1]]).astype("<u4")
        out.append(_module("VMP loop", "VMP loop", struct.pack("<I", starts.size) + starts.tobytes(),
                           0, 10, date))
    path = Path(path)
    path.write_bytes(b"".join(out))
    return path
