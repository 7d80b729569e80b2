"""Spectra as a validated, padded batch: the input check shared by fit, kk and drt.

Everything is checked here, before anything is traced by JAX, and reported with
:mod:`fastfit.errors` naming the argument and the spectrum index; :func:`bucket_size`
rounds batch sizes so that nearby sizes share one compiled program.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DataError, ShapeError

__all__ = ["Batch", "as_batch", "bucket_size"]


@dataclass(frozen=True)
class Batch:
    """Validated spectra as a padded batch.

    freq : (B, F) float64, Hz (padded entries repeat the last valid frequency)
    Z : (B, F) complex128, ohm (padded entries repeat the last valid value)
    mask : (B, F) bool, True where a point is used
    squeeze : bool, True when the caller passed a single spectrum (1-D arrays)
    shared_freq : bool, True when every spectrum has the same frequency vector
    """

    freq: np.ndarray
    Z: np.ndarray
    mask: np.ndarray
    squeeze: bool
    shared_freq: bool

    @property
    def n_spectra(self) -> int:
        return self.Z.shape[0]

    @property
    def n_freq(self) -> int:
        return self.Z.shape[1]


def _series_like(obj) -> bool:
    return hasattr(obj, "freq") and hasattr(obj, "Z") and hasattr(obj, "mask")


def as_batch(freq, Z=None, mask=None, *, min_points: int = 1, what: str = "spectrum") -> Batch:
    """Validate ``freq``/``Z``/``mask`` and return a padded :class:`Batch`.

    ``freq`` may also be a :class:`~fastfit.SpectrumSeries` (then ``Z`` is None).

    Raises
    ------
    ShapeError
        mismatched shapes, empty arrays, wrong dimensionality.
    DataError
        non-finite/non-positive/duplicate frequencies, NaN/inf in Z at used points,
        fewer than ``min_points`` used points in a spectrum.
    """
    if Z is None and _series_like(freq):
        series = freq
        freq, Z = series.freq, series.Z
        mask = series.mask if mask is None else np.asarray(mask, bool) & series.mask
    Z = _complex_array(Z)
    freq = np.asarray(freq)
    if freq.dtype.kind not in "fiu":
        raise DataError(f"freq must be real-valued (Hz), got dtype {freq.dtype}")
    Z2, squeeze = _two_d(Z)
    f2, shared = _frequencies(freq, Z2)
    m2 = _mask(mask, Z2)
    _check_values(f2, Z2, m2, min_points, what)
    # pad: unused points copy a used point so kernels never see NaN/0
    f_out = np.array(f2, np.float64)
    Z_out = np.array(Z2, np.complex128)
    if not m2.all():
        first = np.argmax(m2, axis=1)
        rows = np.arange(Z2.shape[0])
        fill_f = f_out[rows, first][:, None]
        fill_Z = Z_out[rows, first][:, None]
        f_out = np.where(m2, f_out, fill_f)
        Z_out = np.where(m2, Z_out, fill_Z)
        shared = shared and bool(np.all(f_out == f_out[:1]))
    return Batch(freq=f_out, Z=Z_out, mask=m2, squeeze=squeeze, shared_freq=shared)


def _complex_array(Z) -> np.ndarray:
    if Z is None:
        raise ShapeError("Z is required (complex impedance, ohm)")
    Z = np.asarray(Z)
    if not np.iscomplexobj(Z):
        if Z.dtype.kind not in "fiu":
            raise DataError(f"Z must be numeric complex impedance, got dtype {Z.dtype}")
        raise DataError("Z must be complex (Z' + jZ''); got a real array. "
                        "Build it as Zre + 1j*Zim (capacitive arcs have Im(Z) < 0).")
    return Z


def _two_d(Z: np.ndarray) -> tuple[np.ndarray, bool]:
    """(Z as (B, F), whether one spectrum (F,) was given)."""
    squeeze = Z.ndim == 1
    if Z.ndim not in (1, 2):
        raise ShapeError(f"Z must have shape (F,) or (B, F); got {Z.shape}")
    Z2 = Z.reshape(1, -1) if squeeze else Z
    if Z2.shape[1] == 0 or Z2.shape[0] == 0:
        raise ShapeError(f"Z is empty (shape {Z.shape})")
    return Z2, squeeze


def _frequencies(freq, Z2: np.ndarray) -> tuple[np.ndarray, bool]:
    """(freq as (B, F) float64, whether every spectrum has the same frequencies)."""
    B, F = Z2.shape
    if freq.ndim == 1:
        if freq.shape[0] != F:
            raise ShapeError(f"freq has {freq.shape[0]} points but Z has {F} per spectrum")
        return np.broadcast_to(freq.astype(np.float64), (B, F)), True
    if freq.ndim == 2:
        if freq.shape != Z2.shape:
            raise ShapeError(f"freq shape {freq.shape} does not match Z shape {Z2.shape}")
        f2 = freq.astype(np.float64)
        return f2, bool(np.all(f2 == f2[:1]))
    raise ShapeError(f"freq must have shape (F,) or (B, F); got {freq.shape}")


def _mask(mask, Z2: np.ndarray) -> np.ndarray:
    """(B, F) bool, a copy: all True without a mask."""
    B, F = Z2.shape
    if mask is None:
        return np.ones((B, F), bool)
    m = np.asarray(mask)
    if m.dtype != bool:
        raise DataError(f"mask must be boolean, got dtype {m.dtype}")
    if m.ndim == 1:
        if m.shape[0] != F:
            raise ShapeError(f"mask has {m.shape[0]} points but Z has {F} per spectrum")
        m2 = np.broadcast_to(m, (B, F))
    elif m.shape == (B, F):
        m2 = m
    else:
        raise ShapeError(f"mask shape {m.shape} does not match Z shape {Z2.shape}")
    return np.array(m2, bool)


def _check_values(f2, Z2, m2, min_points: int, what: str) -> None:
    """DataError naming the spectrum and point of the first bad value at a used point."""
    # frequencies: finite and > 0 at used points
    bad_f = m2 & ~(np.isfinite(f2) & (f2 > 0))
    if bad_f.any():
        b, k = np.argwhere(bad_f)[0]
        raise DataError(f"{what} {b}: frequency at point {k} is {f2[b, k]!r}; "
                        "frequencies must be finite and > 0 Hz")
    bad_z = m2 & ~np.isfinite(Z2)
    if bad_z.any():
        b, k = np.argwhere(bad_z)[0]
        raise DataError(f"{what} {b}: Z at point {k} (f = {f2[b, k]:g} Hz) is {Z2[b, k]!r}; "
                        "mask it out or remove it")
    n_used = m2.sum(axis=1)
    few = np.nonzero(n_used < min_points)[0]
    if few.size:
        b = few[0]
        raise DataError(f"{what} {b}: {n_used[b]} usable points, need at least {min_points}")
    # duplicate frequencies among used points
    fs = np.where(m2, f2, np.nan)
    srt = np.sort(fs, axis=1)
    dup = (np.diff(srt, axis=1) == 0)
    if dup.any():
        b, k = np.argwhere(dup)[0]
        raise DataError(f"{what} {b}: duplicate frequency {srt[b, k]:g} Hz; "
                        "average or mask repeated points")


def bucket_size(n: int, minimum: int = 8) -> int:
    """Round a batch size up to a bucket so that nearby sizes share one compiled program.

    Buckets are powers of two up to 1024, then multiples of 1024 rounded to 2 significant
    steps (1000 and 1003 -> 1024; 5000 -> 5120).
    """
    n = max(int(n), 1)
    if n <= minimum:
        return minimum
    if n <= 1024:
        return 1 << (n - 1).bit_length()
    return -(-n // 1024) * 1024
