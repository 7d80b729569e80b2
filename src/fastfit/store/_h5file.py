"""Opening the store's HDF5 file safely: one writer, SWMR appends, crash recovery.

Why this module exists
----------------------
A store must survive its writer being killed (SIGKILL, power-off of a node, Ctrl-C twice)
at any moment.  Plain HDF5 does not promise that: a process killed while the library
flushes its metadata cache can leave internal pointers to blocks that were never written,
and the committed rows become unreadable.  HDF5's single-writer/multiple-reader (SWMR)
mode orders metadata flushes so that the file on disk is always a consistent (possibly
stale) HDF5 file, which is exactly the guarantee needed for crash safety
(HDF Group, "Introduction to SWMR"; h5py docs, "Single Writer Multiple Reader").

So the store

* creates files with the HDF5 1.10 format (superblock v3, needed for SWMR);
* does every append (dataset resize + write) in SWMR-write mode, and creates new groups
  and datasets in ordinary write mode, switching between the two by closing and
  reopening (``swmr_mode`` cannot be switched off on an open file);
* holds an advisory lock on a side file ``<store>.lock`` for as long as a writer is
  open: HDF5 drops its own file lock when SWMR writing starts, so without the side lock
  a second writer could not be told apart from a crashed one;
* on opening, clears the "file is open for writing" flags a killed writer leaves in the
  superblock (what the ``h5clear --status`` tool does) -- only when it holds the side
  lock, i.e. when no live fastfit writer exists;
* creates files with paged file-space aggregation (``fs_strategy="page"``, 4 KiB pages,
  HDF5 >= 1.10.1), so that no metadata block smaller than a page straddles a page
  boundary.  SWMR orders whole-block writes, but one block written across two pages can
  be torn by SIGKILL: Linux checks for a fatal signal between the pages of a write()
  (``generic_perform_write``) and returns a short write, leaving a block whose checksum
  fails when the store is reopened ("incorrect metadata checksum", seen once in a few
  hundred kills of a busy writer in tests/test_store_crash.py).  Within one page the copy
  is not interrupted.  Cost: ~2 % file size.  Stores created by older versions keep
  their layout (and that rare exposure).

Superblock v2/v3 layout (HDF5 File Format Specification, section II.A, "Superblock
version 2 and 3"): signature (8 bytes), version (1), size of offsets O (1), size of
lengths (1), file consistency flags (1), base address (O), superblock extension address
(O), end-of-file address (O), root group object header address (O), checksum (4) =
Jenkins lookup3 ``hashlittle`` of all preceding superblock bytes.
"""
from __future__ import annotations

import os
import struct
import time
from pathlib import Path

from ..errors import StoreError

__all__ = ["open_h5", "SideLock", "clear_status_flags", "lookup3"]

LIBVER = "v110"          # lowest format with SWMR support; readable by HDF5 >= 1.10
PAGE = 4096              # file-space page (bytes): the OS page size (see "torn writes")
_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_M32 = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M32


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle`` (public domain), as HDF5 uses for checksums."""
    n = len(data)
    a = b = c = (0xDEADBEEF + n + initval) & _M32
    i = 0
    while n > 12:
        a = (a + int.from_bytes(data[i:i + 4], "little")) & _M32
        b = (b + int.from_bytes(data[i + 4:i + 8], "little")) & _M32
        c = (c + int.from_bytes(data[i + 8:i + 12], "little")) & _M32
        # mix(a, b, c)
        a = (a - c) & _M32; a ^= _rot(c, 4); c = (c + b) & _M32
        b = (b - a) & _M32; b ^= _rot(a, 6); a = (a + c) & _M32
        c = (c - b) & _M32; c ^= _rot(b, 8); b = (b + a) & _M32
        a = (a - c) & _M32; a ^= _rot(c, 16); c = (c + b) & _M32
        b = (b - a) & _M32; b ^= _rot(a, 19); a = (a + c) & _M32
        c = (c - b) & _M32; c ^= _rot(b, 4); b = (b + a) & _M32
        i += 12
        n -= 12
    if n == 0:
        return c
    tail = data[i:i + n] + bytes(12 - n)
    a = (a + int.from_bytes(tail[0:4], "little")) & _M32
    b = (b + int.from_bytes(tail[4:8], "little")) & _M32
    c = (c + int.from_bytes(tail[8:12], "little")) & _M32
    # final(a, b, c)
    c ^= b; c = (c - _rot(b, 14)) & _M32
    a ^= c; a = (a - _rot(c, 11)) & _M32
    b ^= a; b = (b - _rot(a, 25)) & _M32
    c ^= b; c = (c - _rot(b, 16)) & _M32
    a ^= c; a = (a - _rot(c, 4)) & _M32
    b ^= a; b = (b - _rot(a, 14)) & _M32
    c ^= b; c = (c - _rot(b, 24)) & _M32
    return c


def _find_superblock(fh) -> int:
    """Byte offset of the superblock (0, 512, 1024, ... when a user block precedes it)."""
    size = os.fstat(fh.fileno()).st_size
    pos = 0
    while pos + 8 <= size:
        fh.seek(pos)
        if fh.read(8) == _SIGNATURE:
            return pos
        pos = 512 if pos == 0 else pos * 2
    raise StoreError(f"{fh.name}: not an HDF5 file (no superblock signature)")


def clear_status_flags(path: str | os.PathLike) -> bool:
    """Clear the write-access flags a killed writer left in a v2/v3 superblock.

    Also raises the stored end-of-allocation address to the real file size when the
    file grew after the superblock was last written (``h5clear --increment`` does the
    same), so that new allocations never overwrite blocks written by the dead writer.
    Returns True when the superblock was changed.
    """
    with open(path, "r+b") as fh:
        base = _find_superblock(fh)
        fh.seek(base)
        head = fh.read(12)
        version, size_off = head[8], head[9]
        if version < 2:
            return False
        if size_off not in (4, 8):
            raise StoreError(f"{path}: unsupported superblock (offset size {size_off})")
        n = 12 + 4 * size_off
        fh.seek(base)
        blk = bytearray(fh.read(n + 4))
        stored = int.from_bytes(blk[n:n + 4], "little")
        if lookup3(bytes(blk[:n])) != stored:
            raise StoreError(f"{path}: superblock checksum mismatch; the file is damaged")
        fmt = "<Q" if size_off == 8 else "<I"
        eoa_at = 12 + 2 * size_off
        (eoa,) = struct.unpack_from(fmt, blk, eoa_at)
        (sb_base,) = struct.unpack_from(fmt, blk, 12)
        file_size = os.fstat(fh.fileno()).st_size
        changed = False
        if blk[11] != 0:
            blk[11] = 0
            changed = True
        if file_size - sb_base > eoa:
            struct.pack_into(fmt, blk, eoa_at, file_size - sb_base)
            changed = True
        if changed:
            struct.pack_into("<I", blk, n, lookup3(bytes(blk[:n])))
            fh.seek(base)
            fh.write(bytes(blk))
            fh.flush()
            os.fsync(fh.fileno())
        return changed


class SideLock:
    """Exclusive advisory lock on ``<store>.lock``, held by the one writer of a store.

    The file is removed on release; after locking, the lock file is checked to still be
    the one at the path (a writer that opened it just before it was removed retries).
    """

    def __init__(self, path: Path):
        self.path = Path(str(path) + ".lock")
        self._fd: int | None = None

    def acquire(self) -> bool:
        try:
            import fcntl
        except ImportError:          # no advisory locks on this platform: trust HDF5's own
            return True
        for _ in range(5):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return True
            os.close(fd)
        return False

    def release(self) -> None:
        if self._fd is not None:
            import fcntl

            try:
                os.unlink(self.path)
            except OSError:
                pass
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _flags_error(exc: Exception) -> bool:
    return "already open for" in str(exc) or "not already open for SWMR" in str(exc)


def _lock_error(exc: Exception) -> bool:
    return "unable to lock file" in str(exc)


def open_h5(path: Path, mode: str, *, have_side_lock: bool = False, retries: int = 20):
    """Open ``path`` with h5py; ``mode`` is "r" (read), "r+" (write) or "w" (create).

    Read mode falls back to SWMR reading when a live writer holds the file, and waits a
    little (``retries`` x 0.1 s) while a writer is briefly in non-SWMR mode.  Write
    modes require the caller to hold the :class:`SideLock`; then leftover flags of a
    killed writer are cleared and the open is retried once.
    """
    import h5py

    last: Exception | None = None
    cleared = False
    for attempt in range(retries + 1):
        try:
            if mode == "w":
                return h5py.File(path, "w", libver=LIBVER, fs_strategy="page",
                                 fs_page_size=PAGE)
            if mode == "r+":
                return h5py.File(path, "r+", libver=LIBVER)
            try:
                return h5py.File(path, "r")
            except OSError as exc:
                if not _flags_error(exc):
                    raise
                return h5py.File(path, "r", swmr=True)
        except FileNotFoundError:
            raise StoreError(f"{path}: no such store file") from None
        except OSError as exc:
            last = exc
            if _flags_error(exc) and not cleared:
                if mode == "r" and not have_side_lock:
                    lock = SideLock(path)
                    if not lock.acquire():       # a live writer is between two states
                        time.sleep(0.1)
                        continue
                    try:
                        clear_status_flags(path)
                    finally:
                        lock.release()
                elif have_side_lock:
                    clear_status_flags(path)
                cleared = True
                continue
            if _lock_error(exc) and attempt < retries:
                time.sleep(0.1)
                continue
            if mode == "r" and "truncated file" in str(exc) and attempt < retries:
                # a live writer is between extending the file and flushing its superblock
                # (seen ~1 in 8 opens while a writer appends in a loop): read again shortly
                time.sleep(0.05)
                continue
            if _lock_error(exc):
                raise StoreError(f"{path}: the store is open in another process") from None
            if "file signature not found" in str(exc):
                raise StoreError(f"{path}: not an HDF5 file") from None
            raise StoreError(f"{path}: cannot open the store ({exc})") from None
    raise StoreError(f"{path}: cannot open the store ({last})")
