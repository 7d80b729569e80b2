"""Column names -> physical quantities, for every text format.

Instrument exports name the same quantity in many ways (``freq/Hz``, ``Frequency (Hz)``,
``Freq``; ``-Im(Z)/Ohm``, ``Zim (ohms)``, ``Z''(b)``, ``Z"/ohm``...).  `classify` maps one
header label to a *role* plus the factor that converts its unit to SI, and whether the
column stores -Im(Z) instead of Im(Z).  Readers then pick columns by role, never by
position.

Roles
-----
``freq`` (Hz), ``re`` / ``im`` (ohm; Z = re + j im), ``mod`` (|Z|, ohm), ``phase``
(degrees unless the unit says rad), ``t`` (s), ``Ewe`` (V), ``I`` (A), ``Ewe_ac`` (V),
``I_ac`` (A), ``ampl`` (AC amplitude, V or A), ``bias`` (DC bias), and the grouping
columns ``loop``, ``cycle``, ``Ns``.
"""
from __future__ import annotations

import re

import numpy as np
from dataclasses import dataclass

__all__ = ["Column", "classify", "classify_all", "combine"]

# unit token -> factor to SI (case matters: mHz vs MHz)
_UNITS = {
    # frequency
    "Hz": 1.0, "hz": 1.0, "kHz": 1e3, "khz": 1e3, "MHz": 1e6, "mHz": 1e-3, "µHz": 1e-6, "uHz": 1e-6,
    # impedance
    "Ohm": 1.0, "ohm": 1.0, "Ohms": 1.0, "ohms": 1.0, "Ω": 1.0, "kOhm": 1e3, "kohm": 1e3,
    "kΩ": 1e3, "MOhm": 1e6, "Mohm": 1e6, "mOhm": 1e-3, "mohm": 1e-3, "mΩ": 1e-3,
    # time
    "s": 1.0, "S": 1.0, "sec": 1.0, "Sec": 1.0, "min": 60.0, "h": 3600.0, "ms": 1e-3,
    # potential
    "V": 1.0, "mV": 1e-3, "µV": 1e-6, "uV": 1e-6,
    # current
    "A": 1.0, "mA": 1e-3, "µA": 1e-6, "uA": 1e-6, "nA": 1e-9, "pA": 1e-12,
    # angle
    "deg": 1.0, "°": 1.0, "degree": 1.0, "degrees": 1.0, "rad": 1.0,
}

_RE = {"re(z)", "z'", "zre", "zreal", "zr", "real", "re", "z'(a)", "rez", "realz", "real(z)",
       "z'real", "zreal'"}
_IM = {"im(z)", "z''", "zim", "zimag", "zimg", "zi", "imag", "im", "z''(b)", "imz", "imagz",
       "imag(z)", "zimaginary", "imaginary"}
_MOD = {"|z|", "zmod", "z", "mod(z)", "absz", "abs(z)", "modz", "|z|(ohm)", "modulus",
        "impedance"}
_PHASE = {"phase(z)", "phase", "zphz", "theta", "theta(z)", "phz", "phi", "arg(z)"}
_TIME = {"time", "t", "elapsedtime", "timestamp"}
_EWE = {"ewe", "<ewe>", "e", "potential", "vdc", "ecell", "voltage", "vf", "ewe-ece", "edc"}
_CUR = {"i", "<i>", "current", "idc"}
_EWE_AC = {"|ewe|", "|vac|", "vac", "|e|", "eac"}
_CUR_AC = {"|i|", "|iac|", "iac"}
_LOOP = {"loop", "loopindex", "loopnumber", "loopno", "segment#", "segment"}
_CYCLE = {"cyclenumber", "cycle", "cycleno", "cycle#"}
_NS = {"ns"}
_AMPL = {"ampl", "acamplitude", "amplitude"}
_BIAS = {"bias", "dcbias"}

_SLASH_UNIT = re.compile(r"^(.*?)\s*/\s*([^/()]+?)\s*$")
_PAREN_UNIT = re.compile(r"^(.*?)\s*\(([^()]*)\)\s*$")


@dataclass(frozen=True)
class Column:
    """One classified header label.

    Attributes
    ----------
    label : str
        The label as written in the file.
    role : str or None
        Physical role (see module docstring); None when not recognised.
    scale : float
        Factor converting the file's unit to SI (Hz, ohm, s, V, A).
    negated : bool
        True when the column stores the negative of the role (``-Im(Z)``, ``-Z''``).
    unit : str
        The unit token found in the label ('' when none).
    """

    label: str
    role: str | None
    scale: float = 1.0
    negated: bool = False
    unit: str = ""


def _split_unit(label: str) -> tuple[str, str]:
    m = _SLASH_UNIT.match(label)
    if m and m.group(2).strip() in _UNITS:
        return m.group(1), m.group(2).strip()
    m = _PAREN_UNIT.match(label)
    if m:
        inner = m.group(2).strip()
        tok = inner.split()[0] if inner.split() else ""
        if tok in _UNITS:
            return m.group(1), tok
    return label, ""


def classify(label: str) -> Column:
    """Classify one column label (see the module docstring for the roles)."""
    raw = label
    s = label.strip().strip('"').strip()
    if s.lower().startswith("data:"):                     # RelaxIS: "Data: Frequency"
        s = s[5:].strip()
    s = re.sub(r"^WE\(\d+\)\.", "", s)                # NOVA: "WE(1).Potential (V)"
    if s.startswith("<") and s.endswith(">") and "/" in s:  # EC-Lab: "<Ewe/V>"
        s = s[1:-1]
    name, unit = _split_unit(s)
    key = name.lower().replace("’", "'").replace('"', "''")
    key = re.sub(r"[\s_.]+", "", key)
    neg = key.startswith("-")
    base = key[1:] if neg else key
    scale = _UNITS.get(unit, 1.0)
    role = None
    if base in _RE:
        role = "re"
    elif base in _IM:
        role = "im"
    elif base in _MOD:
        role = "mod"
    elif base in _PHASE or (base.startswith("phase") and not re.search(r"\((y|zce|z\d|zstack|zwe)", base)):
        role = "phase"
    elif base.startswith("freq") or base in {"f", "frequency"}:
        role = "freq"
    elif base in _TIME or base.startswith("time") or base.startswith("elapsedtime"):
        role = "t"
    elif base in _EWE_AC:
        role = "Ewe_ac"
    elif base in _CUR_AC:
        role = "I_ac"
    elif base in _EWE:
        role = "Ewe"
    elif base in _CUR:
        role = "I"
    elif base in _LOOP:
        role = "loop"
    elif base in _CYCLE:
        role = "cycle"
    elif base in _NS:
        role = "Ns"
    elif base in _AMPL:
        role = "ampl"
    elif base in _BIAS:
        role = "bias"
    if neg and role not in ("im", "re", "phase"):
        role = None
    return Column(label=raw, role=role, scale=scale, negated=neg, unit=unit)


def classify_all(labels) -> dict[str, tuple[int, Column]]:
    """Map role -> (column index, Column) for the first column of each role."""
    out: dict[str, tuple[int, Column]] = {}
    for j, lab in enumerate(labels):
        c = classify(lab)
        if c.role is not None and c.role not in out:
            out[c.role] = (j, c)
    return out


def combine(re=None, im=None, mod=None, phase=None, *, phase_rad: bool = False,
            im_negated: bool = False, imag_sign="auto"):
    """Complex impedance Z = Z' + jZ'' from the columns a file has.

    Parameters
    ----------
    re, im : (n,) float or None
        Real part and the imaginary column *as stored* (not yet negated).
    mod, phase : (n,) float or None
        \\|Z\\| and its phase (degrees unless ``phase_rad``; already sign-corrected
        for a ``-Phase`` label), used without re/im.
    im_negated : bool
        The imaginary column's label says it holds -Im(Z).
    imag_sign : {"auto", 1, -1}
        Forced sign of the stored imaginary column; "auto": the label's sign, or,
        for an unsigned label next to a phase column, the sign that agrees with the
        phase (arg Z has the sign of Im Z).

    Returns
    -------
    Z : (n,) complex or None
        None when neither (re, im) nor (mod, phase) is given.
    flipped : bool
        The imaginary sign was taken from the phase column.
    """
    if re is not None and im is not None:
        if imag_sign != "auto":
            return re + 1j * float(imag_sign) * im, False
        if im_negated:
            return re - 1j * im, False
        if phase is not None:
            ok = (np.abs(phase) > 1e-3) & (np.abs(im) > 0)
            if ok.sum() >= 3 and np.mean(np.sign(phase[ok]) != np.sign(im[ok])) > 0.5:
                return re - 1j * im, True
        return re + 1j * im, False
    if mod is not None and phase is not None:
        return mod * np.exp(1j * (phase if phase_rad else np.deg2rad(phase))), False
    return None, False
