"""Instrument-file readers: every format -> `SpectrumSeries`.

>>> import fastfit as ff
>>> series = ff.read("run.mpr")                 # doctest: +SKIP
>>> series = ff.io.read("export.csv", format="table", columns={"freq": 0, "re": 1, "im": 2})  # doctest: +SKIP

One module per format, each with a cheap ``sniff(head_bytes, path) -> bool`` and a
``read(path, **options) -> SpectrumSeries``, collected in `FORMATS` (tried in this
order):

=================  ============================================================
``biologic_mpr``   BioLogic EC-Lab binary ``.mpr`` (magic bytes)
``palmsens``       PalmSens ``.pssession`` (UTF-16 JSON)
``zahner_ism``     Zahner Thales binary ``.ism`` (magic bytes)
``spreadsheet``    ``.xlsx`` / ``.ods`` (zip archives; openpyxl / odfpy, optional)
``biologic_mpt``   EC-Lab text export ``.mpt``/``.txt``, header-less BioLogic table
``gamry``          Gamry ``.DTA`` (ZCURVE tables, drift-corrected columns)
``zview``          Scribner ZPlot/ZView ``.z`` (ZPLOT2 ASCII and "ZPlotW/Z60W Data File")
``versastudio``    Princeton Applied Research VersaStudio ``.par``
``ivium``          IviumSoft ``.idf`` / ``.ids``
``autolab_dfr``    Metrohm Autolab FRA ``.dfr``
``zahner_txt``     Zahner Thales / Zahner Analysis / Bin2Txt text exports
``autolab``        Metrohm Autolab NOVA ASCII export
``table``          generic CSV / tab / whitespace tables (header matched by name)
=================  ============================================================

Format detection (`detect`): content first -- magic bytes, then header sniffing, the
generic table last -- and the file extension only when no sniffer matched.  An explicit
``format=`` always wins.  When nothing matches, `FileFormatError` lists what was tried.

Every reader returns Z = Z' + jZ'' with capacitive Z'' < 0 whatever sign convention
the file uses, splits multi-spectrum files (loop/cycle columns, else frequency-sweep
restarts), keeps partial trailing spectra (listed in ``meta['partial']``) and raises
`fastfit.errors.FileFormatError` naming the file and the byte offset or line for bad
input.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError, FileFormatError
from ..series import SpectrumSeries
from . import (autolab, autolab_dfr, biologic_mpr, biologic_mpt, gamry, ivium, palmsens,
               spreadsheet, table, versastudio, zahner_ism, zahner_txt, zview)
from ._assemble import SPLIT_MODES
from ._registry import HEAD_BYTES, Format

__all__ = ["read", "detect", "get_format", "FORMATS", "Format", "SPLIT_MODES"]

#: registry, in detection order (binary magic first, generic table last)
FORMATS: tuple[Format, ...] = (biologic_mpr.FORMAT, palmsens.FORMAT, zahner_ism.FORMAT,
                               spreadsheet.FORMAT, biologic_mpt.FORMAT, gamry.FORMAT,
                               zview.FORMAT, versastudio.FORMAT, ivium.FORMAT,
                               autolab_dfr.FORMAT, zahner_txt.FORMAT, autolab.FORMAT,
                               table.FORMAT)


def get_format(name: str) -> Format:
    """The registered format called ``name`` (or one of its aliases)."""
    key = str(name).lower().lstrip(".")
    for fmt in FORMATS:
        if key == fmt.name or key in fmt.aliases:
            return fmt
    names = ", ".join(f.name for f in FORMATS)
    raise DataError(f"unknown format {name!r}; known formats: {names}")


def _check_file(path) -> Path:
    p = Path(path)
    if not p.exists():
        raise FileFormatError("no such file", path=p)
    if not p.is_file():
        raise FileFormatError("not a regular file", path=p)
    return p


def detect(path) -> Format:
    """The format of the file at ``path``, judged by content, then by extension.

    Raises
    ------
    FileFormatError
        No sniffer matched and the extension is unknown; the message lists the
        formats tried.
    """
    p = _check_file(path)
    with open(p, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    for fmt in FORMATS:
        if fmt.sniff(head, p):
            return fmt
    ext = p.suffix.lower()
    for fmt in FORMATS:
        if ext and ext in fmt.extensions and fmt.name != "table":
            return fmt
    tried = "; ".join(f"{f.name} ({f.description})" for f in FORMATS)
    if not head:
        raise FileFormatError("empty file", path=p, offset=0)
    raise FileFormatError(f"not a recognised impedance data file; tried by content: {tried}; "
                          f"extension {ext or '(none)'!r} names no binary/instrument format",
                          path=p)


def read(path, format: str | None = None, **options) -> SpectrumSeries:
    """Read an impedance data file into a `SpectrumSeries`.

    Parameters
    ----------
    path : str or Path, or a list of them
        The file; several files are read one by one and joined with
        `SpectrumSeries.concat` (``info['source_id']`` says which file each spectrum
        came from).
    format : str, optional
        A name from `FORMATS` (or an alias: ``mpr``, ``mpt``, ``dta``, ``z``, ``par``,
        ``idf``, ``ids``, ``pssession``, ``ism``, ``zahner``, ``nova``, ``dfr``,
        ``xlsx``, ``ods``, ``csv``); default: detected from the content (`detect`).
    **options
        Passed to the format's reader.  All readers take ``split`` ("auto": loop /
        cycle columns and frequency-sweep restarts; "loop": columns only; "sweep":
        restarts only; "none": one spectrum).  ``table`` also takes ``columns``
        (role -> label or index), ``imag_sign`` and ``delimiter``.

    Returns
    -------
    SpectrumSeries
        ``freq`` (N, F) Hz, ``Z`` (N, F) complex ohm with Z = Z' + jZ'' (capacitive
        Z'' < 0), ``mask``, ``time``/``time_end`` (s, first/last point of each
        spectrum, relative to ``meta['t0']`` when the file gives the acquisition start),
        ``meta`` (``format``, ``source``, ``technique`` "PEIS"/"GEIS"/"unknown",
        ``instrument``, ``t0`` ISO-8601 or None, ``partial`` list of incomplete
        spectra, plus whatever the file states: ``dc_potential_V``,
        ``dc_current_A``, ``ac_amplitude_V``/``ac_amplitude_A``, ``area_cm2``...),
        ``info`` (per spectrum: ``index``, ``loop``, ``n_points``, mean ``E_dc``,
        ``I_dc``...) and ``points`` (per point: ``t``, ``Ewe``, ``I``, ``Ewe_ac``,
        ``I_ac`` where recorded).

    Raises
    ------
    FileFormatError
        Unreadable, truncated or corrupt file, missing columns, garbage rows: the
        message names the file and the byte offset (binary) or line (text).
    DataError
        Unknown ``format`` or a bad option value.
    """
    if isinstance(path, (list, tuple)):
        if not path:
            raise DataError("read: empty list of files")
        return SpectrumSeries.concat([read(q, format, **options) for q in path])
    p = _check_file(path)
    fmt = get_format(format) if format is not None else detect(p)
    meta_format = fmt.name
    with np.errstate(all="ignore"):            # corrupt values become inf/nan, not warnings
        series = fmt.read(p, **options)
    series.meta.setdefault("format", meta_format)
    return series
