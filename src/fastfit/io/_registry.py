"""The format record every reader module exports as ``FORMAT``."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..series import SpectrumSeries

__all__ = ["Format", "HEAD_BYTES"]

#: bytes handed to the sniffers (enough for the longest header they look into)
HEAD_BYTES = 65536


@dataclass(frozen=True)
class Format:
    """One file format.

    Attributes
    ----------
    name : str
        Registry name, accepted by ``fastfit.io.read(path, format=name)``.
    description : str
        One line for listings and error messages.
    extensions : tuple of str
        Lower-case file extensions (with dot), used only when no sniffer matched.
    sniff : callable (head: bytes, path: Path) -> bool
        Cheap content test on the first `HEAD_BYTES` bytes; never raises.
    read : callable (path, **options) -> SpectrumSeries
        The reader.
    aliases : tuple of str
        Other names accepted by ``format=``.
    """

    name: str
    description: str
    extensions: tuple[str, ...]
    sniff: Callable[[bytes, Path], bool]
    read: Callable[..., SpectrumSeries]
    aliases: tuple[str, ...] = ()
