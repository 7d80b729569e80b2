"""Typed exceptions raised by fastfit.

Every error derives from :class:`FastfitError`; each subclass also derives from the
builtin exception a caller would naturally catch (``ValueError`` for bad values,
``OSError`` for files).  Messages name the location of the problem: the file and
byte offset or line, the spectrum index, the parameter, or the column of a circuit
string.

Failures *inside* a batched computation are never exceptions (one bad spectrum must
not abort the batch): they are per-spectrum status codes on the result objects.
"""
from __future__ import annotations

__all__ = [
    "FastfitError",
    "CircuitSyntaxError",
    "ElementError",
    "ShapeError",
    "DataError",
    "FileFormatError",
    "StoreError",
    "StreamError",
    "ServeError",
]


class FastfitError(Exception):
    """Base class of every error fastfit raises on purpose."""


class CircuitSyntaxError(FastfitError, ValueError):
    """A circuit string could not be parsed.

    Attributes
    ----------
    text : str
        The circuit string.
    position : int
        0-based column of the offending character (``len(text)`` for "unexpected end").
    """

    def __init__(self, message: str, text: str = "", position: int = 0):
        self.text = text
        self.position = int(position)
        self.reason = message
        if text:
            caret = " " * self.position + "^"
            message = f"{message} at column {self.position}\n    {text}\n    {caret}"
        super().__init__(message)


class ElementError(FastfitError, ValueError):
    """A user element could not be registered (:func:`fastfit.element`): bad symbol or
    name clash, parameter metadata of different lengths or bad bounds, or a function that
    does not return finite complex128 of the right shape at the probe frequencies.  The
    message names the symbol and, where there is one, the parameter."""


class ShapeError(FastfitError, ValueError):
    """An array has the wrong shape or length (the message gives expected vs got)."""


class DataError(FastfitError, ValueError):
    """Input values are unusable: non-finite, non-positive or duplicate frequencies,
    NaN/inf impedance, too few points for the number of free parameters..."""


class FileFormatError(FastfitError, OSError):
    """An instrument file could not be read.

    The message names the file and the byte offset (binary formats) or line
    (text formats) where reading failed.
    """

    def __init__(self, message: str, path: object = None, offset: int | None = None,
                 line: int | None = None):
        self.path = None if path is None else str(path)
        self.offset = offset
        self.line = line
        where = []
        if self.path is not None:
            where.append(self.path)
        if offset is not None:
            where.append(f"byte {offset}")
        if line is not None:
            where.append(f"line {line}")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)


class StoreError(FastfitError, OSError):
    """The HDF5 results store is missing, corrupt, of an unknown schema, or misused."""


class StreamError(FastfitError, RuntimeError):
    """A live data source failed in a way the pipeline cannot recover from."""


class ServeError(FastfitError, OSError):
    """The dashboard server could not start (address in use, not allowed, no such host)."""
