"""Building blocks of the text readers, for code that parses instrument output outside a
whole-file read (``fastfit.stream`` follows files that are still being written, and cuts
spectra from points, with the same rules as :func:`fastfit.read`).

* :class:`Column`, :func:`classify`, :func:`classify_all` -- what a column header means;
* :func:`decode`, :func:`guess_delimiter`, :func:`is_numeric_line` -- text lines;
* :func:`assemble` -- one row per point -> :class:`~fastfit.SpectrumSeries`.
"""
from ._assemble import assemble
from ._columns import Column, classify, classify_all
from ._text import decode, guess_delimiter, is_numeric_line

__all__ = ["Column", "classify", "classify_all", "decode", "guess_delimiter",
           "is_numeric_line", "assemble"]
