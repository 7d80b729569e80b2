"""What every batch result shares: per-spectrum status codes and sub-batches.

* :class:`Status` -- base of the public status enumerations (``FitStatus``, ``KKStatus``,
  ``DRTStatus``): an ``IntEnum`` whose members are declared ``NAME = code, "message"``,
  so code and message sit in one table.  Positive: converged (by which criterion);
  0: budget exhausted; negative: failed.  Stored as integers (HDF5).
* :func:`translate` -- kernel status codes to a public enumeration through one table per
  kernel (the only place kernel codes are read).
* :class:`BatchResult` -- base of the result dataclasses of B spectra: ``len``, a
  sub-batch by ``result[key]``, ``ok`` and ``message``.
"""
from __future__ import annotations

import enum
from dataclasses import fields, replace
from typing import ClassVar, Mapping

import numpy as np

from .errors import FastfitError

__all__ = ["Status", "translate", "BatchResult", "take_rows"]


class Status(enum.IntEnum):
    """Per-spectrum outcome code with its message (members: ``NAME = code, "message"``)."""

    def __new__(cls, value: int, message: str = ""):
        member = int.__new__(cls, value)
        member._value_ = value
        member._message = message
        return member

    @property
    def message(self) -> str:
        return self._message


def translate(raw, codes: str, table: Mapping[str, Status]) -> np.ndarray:
    """(B,) int64 public status codes for the kernel codes ``raw`` (B,).

    ``codes`` names the kernel's table of codes in :mod:`fastfit.kernels` (``"LM_STATUS"``,
    ``"KK_STATUS"``, ``"NNLS_STATUS"``: code by name); ``table`` gives the public member
    for every name.  A code without a name, or a name without a member, raises
    :class:`~fastfit.errors.FastfitError` (a kernel and the API disagree: a bug, not a data
    problem).
    """
    import fastfit.kernels

    raw = np.asarray(raw)
    out = np.zeros(raw.shape, np.int64)
    known = np.zeros(raw.shape, bool)
    for name, code in getattr(fastfit.kernels, codes).items():
        if name not in table:
            raise FastfitError(f"internal error: kernel status {name} has no public meaning")
        hit = raw == code
        out[hit] = int(table[name])
        known |= hit
    if not known.all():
        raise FastfitError(f"internal error: kernel status code {raw[~known].flat[0]} has no "
                           "public meaning")
    return out


class BatchResult:
    """Base of the frozen result dataclasses of a batch of B spectra.

    Subclasses name the field that counts the spectra (``rows_field``), the fields shared
    by the whole batch (``shared_fields``; every other field is per spectrum, batch axis
    first, or None, or a nested :class:`BatchResult`), and their status enumeration
    (``status_type``; None for a result without a status).
    """

    rows_field: ClassVar[str] = "status"
    shared_fields: ClassVar[frozenset] = frozenset({"options"})
    status_type: ClassVar[type[Status] | None] = None

    def __len__(self) -> int:
        return getattr(self, self.rows_field).shape[0]

    def __getitem__(self, key):
        """The spectra ``key`` (int, slice, boolean mask or index array) as a result of
        the same class: every per-spectrum field indexed, shared fields kept.  An int
        gives a batch of one."""
        return take_rows(self, key)

    def _statuses(self) -> np.ndarray:
        if self.status_type is None:
            raise AttributeError(f"{type(self).__name__} has no per-spectrum status")
        return self.status

    @property
    def ok(self) -> np.ndarray:
        """(B,) bool: status > 0 (converged, or the criterion was met)."""
        return self._statuses() > 0

    @property
    def message(self) -> list[str]:
        """Status message of every spectrum."""
        return [self.status_type(int(s)).message for s in self._statuses()]


def take_rows(result: BatchResult, key) -> BatchResult:
    """``result[key]``: see :meth:`BatchResult.__getitem__`."""
    n = len(result)
    if isinstance(key, (bool, np.bool_)):
        raise TypeError("a spectrum index must be an int, slice, boolean mask or index array")
    if isinstance(key, (int, np.integer)):
        if not -n <= key < n:
            raise IndexError(f"spectrum index {key} out of range for {n} spectra")
        key = slice(key % n, key % n + 1)
    kw = {}
    for fld in fields(result):
        v = getattr(result, fld.name)
        if fld.name in result.shared_fields or v is None:
            continue
        kw[fld.name] = v[key] if isinstance(v, BatchResult) else np.asarray(v)[key]
    return replace(result, **kw)
