"""Fuzz: randomly truncated / corrupted copies of the real files must either read or
raise FileFormatError -- never another exception, never a warning (warnings are errors
in this suite).  Seeded: 5 mutation kinds x 120 cases = 600 cases."""
from __future__ import annotations

import numpy as np
import pytest

import fastfit as ff
from fastfit.errors import FileFormatError
from fastfit.series import SpectrumSeries

N_PER_KIND = 120
_DIGITS = np.frombuffer(b"0123456789.,-+eE\t\n ;x", np.uint8)


def _pool(data_dir):
    return sorted(p for p in data_dir.rglob("*") if p.is_file()
                  and p.name != "README.md" and not p.name.endswith("sample_info.txt"))


def _mutate(b: bytes, kind: str, rng) -> bytes:
    a = bytearray(b)
    if kind == "truncate":
        return bytes(a[:rng.integers(len(a))])
    if kind == "bitflip":
        for _ in range(rng.integers(1, 9)):
            i = rng.integers(len(a))
            a[i] ^= 1 << int(rng.integers(8))
        return bytes(a)
    if kind == "insert":
        i = rng.integers(len(a) + 1)
        junk = rng.integers(0, 256, rng.integers(1, 64)).astype(np.uint8).tobytes()
        return bytes(a[:i]) + junk + bytes(a[i:])
    if kind == "delete":
        i = rng.integers(len(a))
        return bytes(a[:i] + a[i + rng.integers(1, 200):])
    # "textual": plausible characters dropped into the numbers and separators
    for _ in range(rng.integers(1, 9)):
        a[rng.integers(len(a))] = int(rng.choice(_DIGITS))
    return bytes(a)


@pytest.mark.parametrize("kind", ["truncate", "bitflip", "insert", "delete", "textual"])
def test_corrupted_files_raise_only_file_format_error(tmp_path, data_dir, kind):
    rng = np.random.default_rng(sum(map(ord, kind)))
    pool = _pool(data_dir)
    raw = {p: p.read_bytes() for p in pool}
    outcomes = {"ok": 0, "FileFormatError": 0}
    failures = []
    for case in range(N_PER_KIND):
        src = pool[rng.integers(len(pool))]
        dst = tmp_path / f"case{case}{src.suffix}"
        dst.write_bytes(_mutate(raw[src], kind, rng))
        try:
            s = ff.read(dst)
        except FileFormatError as e:
            assert str(dst) in str(e)                  # the message names the file
            assert e.offset is not None or e.line is not None or "recognised" in str(e) \
                or "empty" in str(e)
            outcomes["FileFormatError"] += 1
        except Exception as e:                          # noqa: BLE001 - that is the test
            failures.append(f"{src.name} case {case}: {type(e).__name__}: {e}")
        else:
            assert isinstance(s, SpectrumSeries) and len(s) >= 1
            assert np.all(s.freq[s.mask] > 0) and np.all(np.isfinite(s.Z[s.mask]))
            outcomes["ok"] += 1
    assert not failures, "\n".join(failures[:10])
    assert sum(outcomes.values()) == N_PER_KIND


def test_corrupted_large_text_file(tmp_path):
    """The > 1 MiB path (pandas tokenizer) under the same corruptions: 25 cases."""
    from fastfit.io import _writers
    from fastfit.synthetic import paper_rcpe2
    f, Z, _ = paper_rcpe2(150, seed=4)
    src = _writers.write_mpt(tmp_path / "big.mpt", [f] * 150, list(Z)).read_bytes()
    rng = np.random.default_rng(7)
    failures = []
    for case in range(25):
        kind = ["truncate", "bitflip", "insert", "delete", "textual"][case % 5]
        dst = tmp_path / f"big{case}.mpt"
        dst.write_bytes(_mutate(src, kind, rng))
        try:
            s = ff.read(dst)
            assert np.all(np.isfinite(s.Z[s.mask]))
        except FileFormatError as e:
            assert e.line is not None or e.offset is not None, str(e)
        except Exception as e:                          # noqa: BLE001 - that is the test
            failures.append(f"{kind} case {case}: {type(e).__name__}: {e}")
    assert not failures, "\n".join(failures)
