"""Measured points: the unit every stream source delivers, and how to build them.

A point is one frequency of one sweep: ``freq`` (Hz), complex ``Z`` (ohm, Z' + jZ'',
capacitive Z'' < 0), optional per-point ``channels`` (``t`` s, ``Ewe`` V, ``I`` A,
``Ewe_ac``, ``I_ac``), optional grouping values (``loop``, ``cycle``, ``Ns``: a change
starts a new spectrum, as in the file readers), an optional global sequence number
``seq`` (0-based; makes duplicates and out-of-order delivery detectable) and an optional
``last`` flag (the sender knows this point ends its sweep).

Column names are matched by :func:`fastfit.io._columns.classify`, the same table the
file readers use, so ``{"freq/Hz": .., "Re(Z)/Ohm": .., "-Im(Z)/Ohm": ..}`` means the
same as ``{"freq": .., "re": .., "im": ..}``.  Conversions use the readers' formulas
(``re + 1j*im``; ``mod * exp(1j*deg2rad(phase))``) on float64 numpy values, so a
streamed point is bit-identical to the same row read in bulk.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from ..errors import DataError
from ..io.parsing import Column, classify

__all__ = ["Point", "as_point", "LineParser", "rows_to_points", "point_to_json",
           "Sequencer", "CHANNELS", "GROUPS"]

CHANNELS = ("t", "Ewe", "I", "Ewe_ac", "I_ac")
GROUPS = ("loop", "cycle", "Ns")
_PLAIN = {"freq": "freq", "f": "freq", "frequency": "freq", "re": "re", "im": "im",
          "mod": "mod", "phase": "phase", "t": "t", "time": "t", "loop": "loop",
          "cycle": "cycle", "ns": "Ns", "ewe": "Ewe", "i": "I", "ewe_ac": "Ewe_ac",
          "i_ac": "I_ac"}


@dataclass(frozen=True, eq=False, slots=True)
class Point:
    """One measured frequency point.

    Attributes
    ----------
    freq : float, Hz
    Z : complex, ohm (Z' + jZ'', capacitive Z'' < 0)
    channels : dict of float -- ``t`` (s), ``Ewe`` (V), ``I`` (A), ``Ewe_ac``, ``I_ac``
    groups : dict of float -- ``loop`` / ``cycle`` / ``Ns``; a change starts a spectrum
    seq : int or None -- global 0-based point number (duplicates / reordering)
    last : bool -- the sender marks this point as the last of its sweep
    """

    freq: float
    Z: complex
    channels: dict = field(default_factory=dict)
    groups: dict = field(default_factory=dict)
    seq: int | None = None
    last: bool = False

    def same_data(self, other: "Point") -> bool:
        """Identical measurement (frequency, impedance, channels, groups)."""
        return (self.freq == other.freq and self.Z == other.Z
                and self.channels == other.channels and self.groups == other.groups)


_CLASSIFIED: dict[str, Column] = {}


def _column(key: str) -> Column:
    c = _CLASSIFIED.get(key)
    if c is None:
        plain = _PLAIN.get(key.strip().lower())
        c = Column(key, plain) if plain else classify(key)
        _CLASSIFIED[key] = c
    return c


def _num(value, key) -> float:
    if isinstance(value, bool):
        raise DataError(f"point field {key!r}: expected a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(f"point field {key!r}: expected a number, got {value!r}") from None


def _from_mapping(obj: Mapping, seq) -> Point:
    vals: dict[str, tuple[float, Column]] = {}
    Z = None
    last = bool(obj.get("last", False))
    for key, value in obj.items():
        if key in ("seq", "last"):
            continue
        if key in ("Z", "z"):
            if isinstance(value, (list, tuple)) and len(value) == 2:
                Z = complex(_num(value[0], key)) + 1j * _num(value[1], key)
            elif isinstance(value, complex):
                Z = value
            else:
                Z = complex(_num(value, key))
            continue
        c = _column(str(key))
        if c.role is None or c.role in vals:
            continue
        vals[c.role] = (_num(value, key), c)
    if seq is None and obj.get("seq") is not None:
        seq = int(obj["seq"])
    return _build(vals, Z, seq, last)


def _scaled(vals, role) -> np.float64:
    v, c = vals[role]
    x = np.float64(v) * c.scale
    return -x if c.negated else x


def _build(vals: dict, Z, seq, last) -> Point:
    if "freq" not in vals:
        raise DataError(f"point has no frequency (fields: {', '.join(sorted(vals)) or 'none'})")
    freq = float(_scaled(vals, "freq"))
    if Z is None:
        if "re" in vals and "im" in vals:
            Z = complex(_scaled(vals, "re") + 1j * _scaled(vals, "im"))
        elif "mod" in vals and "phase" in vals:
            ph = _scaled(vals, "phase")
            ph = ph if vals["phase"][1].unit == "rad" else np.deg2rad(ph)
            Z = complex(_scaled(vals, "mod") * np.exp(1j * ph))
        else:
            raise DataError("point has no impedance (give re and im, mod and phase, or Z)")
    channels = {k: float(_scaled(vals, k)) for k in CHANNELS if k in vals}
    groups = {k: float(_scaled(vals, k)) for k in GROUPS if k in vals}
    return Point(freq, complex(Z), channels, groups, None if seq is None else int(seq), bool(last))


def as_point(obj: Any, seq: int | None = None) -> Point:
    """Normalise what a user source yields into a :class:`Point`.

    Accepted: a `Point`; a mapping (keys as in the line protocol: ``freq``, ``re``/``im``,
    ``mod``/``phase`` (deg), ``Z`` (complex or [re, im]), ``t``, ``loop``, ``cycle``,
    ``Ewe``, ``I``, ``seq``, ``last``, or instrument column names such as ``freq/Hz``,
    ``-Im(Z)/Ohm``); a tuple ``(freq, Z)`` or ``(freq, re, im)`` or ``(freq, re, im, t)``.
    """
    if isinstance(obj, Point):
        if seq is not None and obj.seq is None:
            return Point(obj.freq, obj.Z, obj.channels, obj.groups, seq, obj.last)
        return obj
    if isinstance(obj, Mapping):
        return _from_mapping(obj, seq)
    if isinstance(obj, (tuple, list)):
        if len(obj) == 2:
            f, z = obj
            vals = {"freq": (_num(f, "freq"), Column("freq", "freq"))}
            return _build(vals, complex(z), seq, False)
        if len(obj) in (3, 4):
            keys = ("freq", "re", "im", "t")
            vals = {k: (_num(v, k), Column(k, k)) for k, v in zip(keys, obj)}
            return _build(vals, None, seq, False)
    raise DataError(f"cannot read a point from {type(obj).__name__} {obj!r:.80}")


def point_to_json(p: Point) -> str:
    """One line of the JSON line protocol (floats written with repr: exact round trip)."""
    d: dict = {"freq": p.freq, "re": p.Z.real, "im": p.Z.imag}
    d.update(p.channels)
    d.update(p.groups)
    if p.seq is not None:
        d["seq"] = p.seq
    if p.last:
        d["last"] = True
    return json.dumps(d, allow_nan=True, separators=(",", ":"))


class LineParser:
    """Parse the line protocol: one JSON object or one CSV row per line.

    CSV rows are ``freq,re,im[,t[,loop]]`` unless a header line (non-numeric, e.g.
    ``freq/Hz,Re(Z)/Ohm,-Im(Z)/Ohm,time/s,cycle number``) named the columns first; the
    delimiter may be ``,``, ``;``, tab or spaces.  Blank lines and lines starting with
    ``#`` are ignored.  `parse` returns a Point, or None for a line that carries none.
    """

    _DEFAULT = ("freq", "re", "im", "t", "loop")

    def __init__(self, columns: Iterable[str] | None = None):
        self.columns = tuple(columns) if columns is not None else None

    @staticmethod
    def _split(s: str) -> list[str]:
        for d in ("\t", ";", ","):
            if d in s:
                return [x.strip().strip('"') for x in s.split(d)]
        return s.split()

    def parse(self, line: str | bytes) -> Point | None:
        if isinstance(line, bytes):
            line = line.decode("utf-8", "replace")
        s = line.strip()
        if not s or s.startswith("#"):
            return None
        if s.startswith("{"):
            try:
                obj = json.loads(s)
            except ValueError as exc:
                raise DataError(f"bad JSON point: {exc}") from None
            if not isinstance(obj, dict):
                raise DataError("a JSON line must hold one object")
            return as_point(obj)
        parts = self._split(s)
        nums = []
        for x in parts:
            try:
                nums.append(float(x))
            except ValueError:
                nums = None
                break
        if nums is None:
            labels = [p for p in parts if p]
            if not any(_column(p).role == "freq" for p in labels):
                raise DataError(f"CSV header without a frequency column: {s[:80]!r}")
            self.columns = tuple(labels)
            return None
        cols = self.columns or self._DEFAULT[:len(nums)]
        if len(nums) != len(cols):
            raise DataError(f"CSV row has {len(nums)} values, expected {len(cols)} "
                            f"({', '.join(cols)})")
        return _from_mapping(dict(zip(cols, nums)), None)


def rows_to_points(values: np.ndarray, roles: dict[str, tuple[int, Column]],
                   imag_sign: float = 1.0) -> list[Point]:
    """Points from numeric rows (R, C) of a file, columns chosen by role.

    Same arithmetic as the readers: ``values[:, j] * scale`` (negated for ``-Im``),
    ``re + 1j*im`` or ``mod * exp(1j*deg2rad(phase))``.
    """
    def col(role):
        j, c = roles[role]
        v = values[:, j] * c.scale
        return -v if c.negated else v

    freq = col("freq")
    if "re" in roles and "im" in roles:
        Z = col("re") + 1j * float(imag_sign) * col("im")
    else:
        ph = col("phase")
        ph = ph if roles["phase"][1].unit == "rad" else np.deg2rad(ph)
        Z = col("mod") * np.exp(1j * ph)
    chans = {k: col(k).tolist() for k in CHANNELS if k in roles}
    groups = {k: col(k).tolist() for k in GROUPS if k in roles}
    fl, zl = freq.tolist(), Z.tolist()
    out = []
    for i in range(len(fl)):
        out.append(Point(fl[i], zl[i], {k: v[i] for k, v in chans.items()},
                         {k: v[i] for k, v in groups.items()}))
    return out


def finite_point(p: Point) -> bool:
    """What the readers keep: finite frequency > 0 and finite impedance."""
    return (math.isfinite(p.freq) and p.freq > 0 and math.isfinite(p.Z.real)
            and math.isfinite(p.Z.imag))


class Sequencer:
    """Restore the order of points that carry ``seq`` numbers.

    Points with ``seq`` below the next expected number are duplicates (dropped and
    counted); points ahead of it wait (up to ``max_ahead``) until the gap is filled.
    Points without ``seq`` are numbered in arrival order.
    """

    def __init__(self, next_seq: int = 0, max_ahead: int = 100_000):
        self.next_seq = next_seq
        self.max_ahead = max_ahead
        self.n_duplicates = 0
        self.ahead: dict[int, Point] = {}

    def accept(self, p: Point) -> list[Point]:
        """The points that become deliverable, in order."""
        if p.seq is None:
            p = Point(p.freq, p.Z, p.channels, p.groups, self.next_seq, p.last)
        if p.seq < self.next_seq or p.seq in self.ahead:
            self.n_duplicates += 1
            return []
        if p.seq > self.next_seq:
            if len(self.ahead) < self.max_ahead:
                self.ahead[p.seq] = p
            return []
        out = [p]
        self.next_seq += 1
        while self.next_seq in self.ahead:
            out.append(self.ahead.pop(self.next_seq))
            self.next_seq += 1
        return out

    def flush(self) -> tuple[list[Point], list[int]]:
        """Give up waiting: (the waiting points in seq order, the missing seq numbers)."""
        if not self.ahead:
            return [], []
        keys = sorted(self.ahead)
        missing = sorted(set(range(self.next_seq, keys[-1] + 1)) - set(keys))
        out = [self.ahead.pop(k) for k in keys]
        self.next_seq = keys[-1] + 1
        return out, missing
