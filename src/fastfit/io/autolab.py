"""Metrohm Autolab NOVA text / ASCII exports of impedance data.

NOVA's "Export ASCII" writes one header row and one row per point, tab or semicolon
separated (decimal comma with ';' in European locales), UTF-8::

    Index;Frequency (Hz);Z' (Ω);-Z'' (Ω);Z (Ω);-Phase (°);Time (s)
    1;100000;109,0092;26,5557;112,1972;13,6911;0,82
    ...

Column names are matched by name (`_columns`): ``Z'`` is Re(Z), ``-Z''`` is -Im(Z),
``Z`` is \\|Z\\|; ``Time (s)``, ``WE(1).Potential (V)`` and ``WE(1).Current (A)``
become ``points``.  Several spectra in one export (a frequency scan repeated at
several potentials) are split at the frequency-sweep restarts or where a ``Scan`` /
``Index`` column restarts.  Reading is the generic table reader (`table`) once the
content is known to be a NOVA export.
"""
from __future__ import annotations

from pathlib import Path

from ..series import SpectrumSeries
from ._registry import Format
from ._text import decode, normalise_newlines
from . import table

__all__ = ["read", "sniff", "FORMAT"]

_NOVA_LABELS = ("Z' (Ω)", "-Z'' (Ω)", "Z' (Ohm)", "-Z'' (Ohm)", "Z' (ohm)", "-Z'' (ohm)")


def sniff(head: bytes, path: Path | None = None) -> bool:
    """A header row with NOVA's ``Frequency (Hz)`` and ``Z' (Ω)``/``-Z'' (Ω)`` labels."""
    if b"\x00" in head[:1024]:
        return False
    text = decode(normalise_newlines(head[:8192]))
    for line in text.split("\n")[:20]:
        if "Frequency (Hz)" in line and sum(lab in line for lab in _NOVA_LABELS) >= 2:
            return True
    return False


def read(path, *, split: str = "auto") -> SpectrumSeries:
    """Read a NOVA ASCII impedance export.

    Parameters
    ----------
    path : str or Path
    split : {"auto", "loop", "sweep", "none"}

    Returns
    -------
    SpectrumSeries
        As `fastfit.io.table.read`, with ``meta['format'] = 'autolab'`` and the
        instrument named.
    """
    series = table.read(path, split=split)
    series.meta["format"] = "autolab"
    series.meta["instrument"] = "Metrohm Autolab (NOVA)"
    return series


FORMAT = Format(name="autolab", description="Metrohm Autolab NOVA ASCII export",
                extensions=(), sniff=sniff, read=read, aliases=("nova",))
