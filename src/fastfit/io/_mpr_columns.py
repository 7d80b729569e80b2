"""Column ids of the BioLogic EC-Lab ``VMP data`` module: id -> (name, numpy type).

The record layout of an .mpr file is the concatenation of its columns in the order of
the ids stored in the data module header, so the byte size of every id must be known to
find the columns after it.  The ids and sizes below are facts collected from the
published reverse-engineering of the format (galvani ``BioLogic.py`` and yadg
``extractors/eclab/mpr_columns.py``, both GPL: facts only, no code) and checked against
the files in ``tests/data`` and EC-Lab 11.x PEIS/GEIS/ZIR files with their own ``.mpt``
exports (record size x point count = module length, and the column order of the text
export).  Names follow EC-Lab's text export.

Several ids name the same quantity in different EC-Lab versions (``<Ece>/V`` is 185,
215 or 471; ``|Zwe-ce|`` is 175 or 431).  Derived quantities of the text export (Y, C,
M, permittivity, resistivity, conductivity, tan delta) are computed by EC-Lab on export
and are not stored in the binary file.  An id missing here is not fatal: the reader
skips it when the record size leaves exactly its width (``meta['unknown_columns']``).

Where the two sources disagree on a size, ``ALTERNATE`` holds the other size; the
reader picks whichever makes the record size match the module length.
"""
from __future__ import annotations

__all__ = ["COLUMNS", "FLAG_IDS", "ALTERNATE", "ROLES", "CONFLICTS"]

#: ids whose values are bits packed into one shared flags byte
FLAG_IDS = frozenset({1, 2, 3, 21, 31, 65})

COLUMNS: dict[int, tuple[str, str]] = {
    4: ("time/s", "<f8"), 5: ("control/V/mA", "<f4"), 6: ("Ewe/V", "<f4"),
    7: ("dq/mA.h", "<f8"), 8: ("I/mA", "<f4"), 9: ("Ece/V", "<f4"), 11: ("<I>/mA", "<f8"),
    13: ("(Q-Qo)/mA.h", "<f8"), 16: ("Analog IN 1/V", "<f4"), 17: ("Analog IN 2/V", "<f4"),
    19: ("control/V", "<f4"), 20: ("control/mA", "<f4"), 23: ("dQ/mA.h", "<f8"),
    24: ("cycle number", "<f8"), 26: ("Rapp/Ohm", "<f4"), 27: ("Ewe-Ece/V", "<f4"),
    32: ("freq/Hz", "<f4"), 33: ("|Ewe|/V", "<f4"), 34: ("|I|/A", "<f4"),
    35: ("Phase(Z)/deg", "<f4"), 36: ("|Z|/Ohm", "<f4"), 37: ("Re(Z)/Ohm", "<f4"),
    38: ("-Im(Z)/Ohm", "<f4"), 39: ("I Range", "<u2"), 69: ("R/Ohm", "<f4"), 70: ("P/W", "<f4"),
    74: ("|Energy|/W.h", "<f8"), 75: ("Analog OUT/V", "<f4"), 76: ("<I>/mA", "<f4"),
    77: ("<Ewe>/V", "<f4"), 78: ("Cs-2/uF-2", "<f4"), 96: ("|Ece|/V", "<f4"),
    98: ("Phase(Zce)/deg", "<f4"), 99: ("|Zce|/Ohm", "<f4"), 100: ("Re(Zce)/Ohm", "<f4"),
    101: ("-Im(Zce)/Ohm", "<f4"), 123: ("Energy charge/W.h", "<f8"),
    124: ("Energy discharge/W.h", "<f8"), 125: ("Capacitance charge/uF", "<f8"),
    126: ("Capacitance discharge/uF", "<f8"), 131: ("Ns", "<u2"), 163: ("|Estack|/V", "<f4"),
    168: ("Rcmp/Ohm", "<f4"), 169: ("Cs/uF", "<f4"), 172: ("Cp/uF", "<f4"),
    173: ("Cp-2/uF-2", "<f4"), 174: ("<Ewe>/V", "<f4"), 178: ("(Q-Qo)/C", "<f4"),
    179: ("dQ/C", "<f4"), 182: ("step time/s", "<f8"), 211: ("Q charge/discharge/mA.h", "<f8"),
    212: ("half cycle", "<u4"), 213: ("z cycle", "<u4"), 217: ("THD Ewe/%", "<f4"),
    218: ("THD I/%", "<f4"), 220: ("NSD Ewe/%", "<f4"), 221: ("NSD I/%", "<f4"),
    223: ("NSR Ewe/%", "<f4"), 224: ("NSR I/%", "<f4"), 230: ("|Ewe h2|/V", "<f4"),
    231: ("|Ewe h3|/V", "<f4"), 232: ("|Ewe h4|/V", "<f4"), 233: ("|Ewe h5|/V", "<f4"),
    234: ("|Ewe h6|/V", "<f4"), 235: ("|Ewe h7|/V", "<f4"), 236: ("|I h2|/A", "<f4"),
    237: ("|I h3|/A", "<f4"), 238: ("|I h4|/A", "<f4"), 239: ("|I h5|/A", "<f4"),
    240: ("|I h6|/A", "<f4"), 241: ("|I h7|/A", "<f4"), 242: ("|E2|/V", "<f4"),
    271: ("Phase(Z1)/deg", "<f4"), 272: ("Phase(Z2)/deg", "<f4"), 295: ("I Range", "<u2"),
    301: ("|Z1|/Ohm", "<f4"), 302: ("|Z2|/Ohm", "<f4"), 326: ("P/W", "<f4"),
    331: ("Re(Z1)/Ohm", "<f4"), 332: ("Re(Z2)/Ohm", "<f4"), 361: ("-Im(Z1)/Ohm", "<f4"),
    362: ("-Im(Z2)/Ohm", "<f4"), 379: ("Energy charge/W.h", "<f8"), 391: ("<E1>/V", "<f4"),
    392: ("<E2>/V", "<f4"), 422: ("Phase(Zstack)/deg", "<f4"), 423: ("|Zstack|/Ohm", "<f4"),
    424: ("Re(Zstack)/Ohm", "<f4"), 425: ("-Im(Zstack)/Ohm", "<f4"),
    426: ("<Estack>/V", "<f4"), 430: ("Phase(Zwe-ce)/deg", "<f4"), 431: ("|Zwe-ce|/Ohm", "<f4"),
    432: ("Re(Zwe-ce)/Ohm", "<f4"), 433: ("-Im(Zwe-ce)/Ohm", "<f4"), 434: ("(Q-Qo)/C", "<f4"),
    435: ("dQ/C", "<f4"), 438: ("step time/s", "<f8"), 441: ("<Ecv>/V", "<f4"),
    462: ("Temperature/C", "<f4"), 467: ("Q charge/discharge/mA.h", "<f8"),
    468: ("half cycle", "<u4"), 469: ("z cycle", "<u4"), 471: ("<Ece>/V", "<f4"),
    473: ("THD Ewe/%", "<f4"), 474: ("THD I/%", "<f4"), 475: ("THD Ece/%", "<f4"),
    476: ("NSD Ewe/%", "<f4"), 477: ("NSD I/%", "<f4"), 478: ("NSD Ece/%", "<f4"),
    479: ("NSR Ewe/%", "<f4"), 480: ("NSR I/%", "<f4"), 481: ("NSR Ece/%", "<f4"),
    486: ("|Ewe h2|/V", "<f4"), 487: ("|Ewe h3|/V", "<f4"), 488: ("|Ewe h4|/V", "<f4"),
    489: ("|Ewe h5|/V", "<f4"), 490: ("|Ewe h6|/V", "<f4"), 491: ("|Ewe h7|/V", "<f4"),
    492: ("|I h2|/A", "<f4"), 493: ("|I h3|/A", "<f4"), 494: ("|I h4|/A", "<f4"),
    495: ("|I h5|/A", "<f4"), 496: ("|I h6|/A", "<f4"), 497: ("|I h7|/A", "<f4"),
    498: ("Q charge/mA.h", "<f8"), 499: ("Q discharge/mA.h", "<f8"), 500: ("step time/s", "<f8"),
    501: ("Efficiency/%", "<f8"), 502: ("Capacity/mA.h", "<f8"), 503: ("|Ece h7|/V", "<f4"),
    505: ("Rdc/Ohm", "<f4"), 509: ("Acir/Dcir Control", "<u1"),
    # from yadg's table (EC-Lab 11.x)
    15: ("Phase(Z1)/deg", "<f4"), 45: ("|Z1|/Ohm", "<f4"), 46: ("|Z2|/Ohm", "<f4"),
    105: ("-Im(Z1)/Ohm", "<f4"), 106: ("-Im(Z2)/Ohm", "<f4"), 110: ("Energy ce/W.h", "<f8"),
    112: ("Energy we/W.h", "<f8"), 115: ("Energy ce charge/W.h", "<f8"),
    116: ("Energy ce discharge/W.h", "<f8"), 135: ("<E1>/V", "<f4"), 136: ("<E2>/V", "<f4"),
    166: ("Phase(Zstack)/deg", "<f4"), 167: ("|Zstack|/Ohm", "<f4"),
    175: ("|Zwe-ce|/Ohm", "<f4"), 176: ("Re(Zwe-ce)/Ohm", "<f4"),
    177: ("-Im(Zwe-ce)/Ohm", "<f4"), 185: ("<Ece>/V", "<f4"), 206: ("Temperature/C", "<f4"),
    215: ("<Ece>/V", "<f4"), 219: ("THD Ece/%", "<f4"), 222: ("NSD Ece/%", "<f4"),
    225: ("NSR Ece/%", "<f4"), 243: ("|Ece h3|/V", "<f4"), 244: ("|Ece h4|/V", "<f4"),
    245: ("|Ece h5|/V", "<f4"), 246: ("|Ece h6|/V", "<f4"), 247: ("|Ece h7|/V", "<f4"),
    248: ("Rac/Ohm", "<f4"), 249: ("Rdc/Ohm", "<f4"), 253: ("Acir/Dcir Control", "<u1"),
    # observed: EC-Lab 11.x PEIS with the counter electrode recorded (VMP3): between
    # <Ece>/V (215) and Phase(Zce)/deg (98) in both the id list and the .mpt header
    352: ("|Ece|/V", "<f4"),
}

#: id -> {other id: name}: when both are present the first id means the name given
#: (yadg: 174 is Phase(Zwe-ce) when <Ewe> is stored as 6 or 77)
CONFLICTS: dict[int, dict[int, str]] = {174: {6: "Phase(Zwe-ce)/deg", 77: "Phase(Zwe-ce)/deg"}}

#: ids whose size differs between the two published tables (galvani: f8, yadg: f4)
ALTERNATE: dict[int, str] = {498: "<f4", 499: "<f4", 500: "<f4", 501: "<f4", 502: "<f4"}

#: column id -> (fastfit role, factor to SI); the first id present for a role wins
ROLES: dict[int, tuple[str, float]] = {
    32: ("freq", 1.0), 37: ("re", 1.0), 38: ("neg_im", 1.0), 36: ("mod", 1.0),
    35: ("phase", 1.0), 4: ("t", 1.0), 77: ("Ewe", 1.0), 174: ("Ewe", 1.0), 6: ("Ewe", 1.0),
    76: ("I", 1e-3), 11: ("I", 1e-3), 8: ("I", 1e-3), 33: ("Ewe_ac", 1.0), 34: ("I_ac", 1.0),
    24: ("cycle", 1.0), 131: ("Ns", 1.0), 215: ("Ece", 1.0), 185: ("Ece", 1.0),
    471: ("Ece", 1.0), 9: ("Ece", 1.0),
}
