"""Append-only tables of HDF5 datasets with a committed row count.

A *table* is an HDF5 group whose datasets ("columns") share their first axis, plus an
int64 dataset ``committed`` of shape (1,).  Rows ``>= committed`` are not part of the
table (they are the tail of an append that was interrupted) and are ignored by readers
and overwritten by the next append.

Append protocol (crash safe together with SWMR writing, see ``_h5file``):

1. resize every column to ``committed + k`` rows and write the k new rows;
2. flush the file (data reaches the OS before the count that makes it visible);
3. write ``committed + k`` into ``committed`` and flush again.

Strings are stored as fixed-length UTF-8 byte strings (``S<n>``, zero padded): variable-
length strings live in HDF5's global heap, which is not covered by SWMR's write ordering
(a killed writer can leave a heap that later appends cannot use).  A string column that
receives a longer value is rewritten with a wider type before the append (rare: the
strings are source paths and metadata).

Columns are chunked along rows (at most 64 KiB and 1,024 rows per chunk) and stored
without compression filters: SWMR writing never reuses file space that a rewritten chunk
frees, and a compressed chunk changes size -- and so moves -- every time an append adds
rows to it.  A live stream appends one spectrum at a time, so every append left a dead
copy of each column's last chunk behind: 300 single-spectrum appends with their fits
made a 41 MB file for 0.3 MB of impedance data, 10,000 spectra appended 50 at a time
81 MB for 9.4 MB (gzip level 4 + shuffle, measured 2026-12-03); now 1.1 MB and 18 MB
(the bulk store grows from 9.7 to 18 MB: frequencies and masks compressed well).  Uncompressed chunks
keep their size and are rewritten in place.  Stores written with compressed columns by
earlier versions are read and appended to as they are; ``h5repack -f GZIP=4`` compresses
a finished store for archiving (any HDF5 reader decodes either).  A column may have one trailing axis
(e.g. frequency points) that grows when wider rows arrive; new space is filled with the
column's fill value (NaN for floats, 0 otherwise).
"""
from __future__ import annotations

import numpy as np

__all__ = ["create_table", "committed", "append_rows", "read_column", "ensure_column",
           "truncate_uncommitted", "encode_strings", "narrow_strings", "widen_strings", "COUNT",
           "Table"]

COUNT = "committed"
_CHUNK_BYTES = 1 << 16
_CHUNK_MAX_ROWS = 1024


def _fill(dtype: np.dtype):
    if dtype.kind == "f":
        return np.nan
    if dtype.kind in "iub":
        return 0
    return None


def _chunk_rows(dtype: np.dtype, width: int) -> int:
    item = dtype.itemsize
    rows = _CHUNK_BYTES // max(1, item * max(width, 1))
    return int(min(_CHUNK_MAX_ROWS, max(16, 1 << (max(rows, 1).bit_length() - 1))))


def create_table(parent, name: str):
    """Create an empty table group ``parent/name`` (non-SWMR mode)."""
    g = parent.require_group(name)
    if COUNT not in g:
        g.create_dataset(COUNT, data=np.zeros(1, np.int64))
    return g


def encode_strings(values) -> np.ndarray:
    """UTF-8 ``S<n>`` array of str/bytes values (n >= 1)."""
    enc = [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in np.asarray(values, object).reshape(-1)]
    width = max([1] + [len(v) for v in enc])
    return np.array(enc, dtype=f"S{width}")


def narrow_strings(table, rows: dict) -> dict:
    """{column: needed width} for string columns too narrow for ``rows``."""
    out = {}
    for name, value in rows.items():
        value = np.asarray(value)
        if value.dtype.kind != "S":             # only byte-string values can be too wide
            continue
        dt = table.dtype(name) if isinstance(table, Table) else table[name].dtype
        if dt.kind == "S" and value.dtype.itemsize > dt.itemsize:
            out[name] = value.dtype.itemsize
    return out


def widen_strings(table, name: str, width: int) -> None:
    """Rewrite string column ``name`` with type ``S<width>`` (non-SWMR mode)."""
    old = table[name]
    data = old[:committed(table)]
    chunks = old.chunks
    del table[name]
    width = max(width, 2 * old.dtype.itemsize)
    ds = table.create_dataset(name, shape=data.shape, maxshape=(None,), chunks=chunks,
                              dtype=f"S{width}")
    if data.size:
        ds[:] = data.astype(f"S{width}")


def ensure_column(table, name: str, dtype, width: int | None = None, fill=None):
    """Create column ``name`` (``(N,)`` or ``(N, width)``) sized to the table's rows.

    ``fill`` (default NaN for floats, 0 otherwise) is what rows written before the
    column existed, and columns added by widening, read as."""
    if name in table:
        return table[name]
    dtype = np.dtype("S16") if dtype is str else np.dtype(dtype)
    n = committed(table)
    shape = (n,) if width is None else (n, width)
    maxshape = (None,) if width is None else (None, None)
    chunks = (_chunk_rows(dtype, 1),) if width is None else (_chunk_rows(dtype, width), max(width, 1))
    fill = _fill(dtype) if fill is None else fill
    kw = {}                 # no compression filters: see the module docstring
    if fill is not None:
        kw["fillvalue"] = fill
    return table.create_dataset(name, shape=shape, maxshape=maxshape, chunks=chunks,
                                dtype=dtype, **kw)


def committed(table) -> int:
    """Number of committed rows of a table group (or of a :class:`Table`)."""
    if isinstance(table, Table):
        return table.n
    return int(table[COUNT][0])


class Table:
    """Writer-side view of one table group: open column handles and the committed count.

    Looking up a dataset by name costs HDF5 an object-header open (~0.1-0.3 ms); a
    writer that appends one spectrum at a time to ~30 columns would spend most of its
    time there.  A ``Table`` opens each column once and keeps the committed row count in
    memory (the writer holds the store's lock, so nobody else changes it).  It is valid
    for one open file in one mode: the store drops its tables whenever it closes or
    reopens the file or changes its structure (new columns, widened strings).
    """

    def __init__(self, group):
        self.group = group
        self.name = group.name
        self._cols: dict = {}
        self._dtypes: dict = {}
        self._widths: dict = {}          # column -> second-axis width (None: 1-D)
        self._mspaces: dict = {}         # value shape -> memory dataspace
        self._n: int | None = None
        self._names: list | None = None

    def col(self, name: str):
        ds = self._cols.get(name)
        if ds is None:
            ds = self._cols[name] = self.group[name]
        return ds

    def dtype(self, name: str) -> np.dtype:
        dt = self._dtypes.get(name)
        if dt is None:
            dt = self._dtypes[name] = self.col(name).dtype
        return dt

    def width(self, name: str) -> int | None:
        """Current second-axis width of a column (None for a 1-D column)."""
        if name not in self._widths:
            shape = self.col(name).shape
            self._widths[name] = shape[1] if len(shape) > 1 else None
        return self._widths[name]

    def mspace(self, shape: tuple):
        sp = self._mspaces.get(shape)
        if sp is None:
            from h5py import h5s

            sp = self._mspaces[shape] = h5s.create_simple(shape)
        return sp

    def __contains__(self, name: str) -> bool:
        return name in self._cols or name in self.columns()

    def columns(self) -> list[str]:
        """Paths of all columns below the group (``info/x`` for nested ones)."""
        if self._names is None:
            import h5py

            names = []
            self.group.visititems(lambda n, o: names.append(n) if (
                isinstance(o, h5py.Dataset) and n != COUNT) else None)
            self._names = names
        return self._names

    @property
    def n(self) -> int:
        if self._n is None:
            self._n = int(self.col(COUNT)[0])
        return self._n

    def set_n(self, n: int | None) -> None:
        self._n = n
        if n is None:                    # after a failed append: read everything again
            self._widths.clear()

    def set_width(self, name: str, width: int | None) -> None:
        self._widths[name] = width


def _write(ds, start: int, value: np.ndarray, shape: tuple | None, mspace) -> None:
    """Extend ``ds`` to ``shape`` (unless None) and write ``value`` at rows ``start:``.

    The low-level calls that ``Dataset.resize`` and ``Dataset.__setitem__`` end in,
    without their per-call Python selection machinery; the memory type is the array's
    own (HDF5 converts, as ``__setitem__`` lets it)."""
    dsid = ds.id
    if shape is not None:
        dsid.set_extent(shape)
    if value.shape[0] == 0:
        return
    fspace = dsid.get_space()
    fspace.select_hyperslab((start,) + (0,) * (value.ndim - 1), value.shape)
    dsid.write(mspace, fspace, value)


def append_rows(table, rows: dict, flush) -> tuple[int, int]:
    """Append rows (``{column path: array with k rows}``) and commit them.

    ``table`` is a table group or a :class:`Table` (faster for repeated appends).
    Every column of the table must be given (missing ones would leave stale rows).
    ``flush`` is called between the data write and the count update, and after it.
    Returns the (start, stop) row range written.
    """
    t = table if isinstance(table, Table) else Table(table)
    try:
        return _append(t, rows, flush)
    except BaseException:
        t.set_n(None)             # the count on disk is uncertain: read it again next time
        raise


def _append(t: Table, rows: dict, flush) -> tuple[int, int]:
    start = t.n
    ks = {np.shape(v)[0] for v in rows.values()}
    if len(ks) != 1:
        raise ValueError(f"columns have different row counts: {sorted(ks)}")
    k = ks.pop()
    stop = start + k
    for name, value in rows.items():
        ds = t.col(name)
        value = np.ascontiguousarray(value)
        old = t.width(name)
        if old is None:
            shape = (stop,)
        else:
            width = max(old, value.shape[1])
            shape = (stop, width)
            if k and value.shape[1] < width:     # narrower rows: pad with the fill value
                pad = np.full((k, width), ds.fillvalue, dtype=ds.dtype)
                pad[:, :value.shape[1]] = value
                value = pad
        if value.shape == (k,) + shape[1:] and value.dtype.kind != "O":
            _write(ds, start, value, shape, t.mspace(value.shape))
        else:                                    # broadcasting / conversions: h5py's way
            ds.resize(shape)
            if k:
                ds[start:stop] = value
        t.set_width(name, shape[1] if len(shape) > 1 else None)
    flush()
    _write(t.col(COUNT), 0, np.array([stop], np.int64), None, t.mspace((1,)))
    t.set_n(stop)
    flush()
    return start, stop


def truncate_uncommitted(table) -> int:
    """Drop rows beyond the committed count of every column (non-SWMR mode); returns
    the number of rows dropped from the longest column."""
    n = committed(table)
    dropped = 0

    def visit(name, obj):
        nonlocal dropped
        import h5py

        if isinstance(obj, h5py.Dataset) and name != COUNT and obj.shape and obj.shape[0] > n:
            dropped = max(dropped, obj.shape[0] - n)
            obj.resize((n,) + obj.shape[1:])

    table.visititems(visit)
    return dropped


def read_column(table, name: str, rows=None, n: int | None = None) -> np.ndarray:
    """Committed rows of a column: all (``rows`` None), a slice, or an index array.

    Index arrays may be unsorted and repeat; they are read as contiguous runs.
    """
    ds = table[name]
    n = committed(table) if n is None else n
    if rows is None:
        return ds[:n]
    if isinstance(rows, slice):
        start, stop, step = rows.indices(n)
        return ds[start:stop:step] if step == 1 else ds[start:stop][::step]
    idx = np.asarray(rows, np.int64).reshape(-1)
    if idx.size == 0:
        return np.empty((0,) + ds.shape[1:], ds.dtype)
    if idx.min() < 0 or idx.max() >= n:
        raise IndexError(f"row index out of range 0..{n - 1}")
    uniq, inv = np.unique(idx, return_inverse=True)
    breaks = np.nonzero(np.diff(uniq) != 1)[0] + 1
    parts = [ds[int(run[0]):int(run[-1]) + 1] for run in np.split(uniq, breaks)]
    data = np.concatenate(parts) if len(parts) > 1 else parts[0]
    return data[inv]
