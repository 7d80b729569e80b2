"""HDF5 results store: spectra plus named analysis runs, crash-safe appends.

The layout is plain HDF5 (numbers and strings only) and documented in
``docs/store-schema.md``; any HDF5 >= 1.10 reader can open it.
"""
from __future__ import annotations

from ..errors import StoreError
from ._runs import options_json
from ._store import FORMAT, SCHEMA_VERSION, Store

__all__ = ["Store", "StoreError", "SCHEMA_VERSION", "FORMAT", "options_json"]
