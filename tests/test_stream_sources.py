"""fastfit.stream sources: a file being written, the loopback socket, iterables.

Store-only pipelines (no circuit, so no JAX): what each source delivers must be stored
exactly as a bulk read of the finished file gives it, whatever the chunking of the
writes, rotations, rewrites, dropped connections and restarts.
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time

import numpy as np
import pytest

import fastfit as ff
import fastfit.stream as fs
from fastfit.errors import StreamError

FILES = ["pyeis_ex1.mpt", "hybriddrt_Sample2_PEIS_AtRest.csv",
         "hybriddrt_PEIS_LPSCl_IonBlocking_-25C.txt", "pydrttools_LIB_data.txt"]


def assert_store_equals(path, bulk, n=None):
    """Stored spectra identical to the bulk series (data, times, info, points), once each."""
    with ff.Store(path, "r") as st:
        s = st.spectra()
    bulk = bulk if n is None else bulk[:n]
    assert len(s) == len(bulk)
    for name in ("freq", "Z", "mask", "time", "time_end"):
        np.testing.assert_array_equal(getattr(s, name), getattr(bulk, name), err_msg=name)
    for k, v in bulk.info.items():
        np.testing.assert_array_equal(s.info[k], v, err_msg=k)
    for k, v in bulk.points.items():
        np.testing.assert_array_equal(s.points[k], v, err_msg=k)


def write_slowly(src: bytes, dst, rng, pause=0.002, start=0):
    """Append ``src`` to ``dst`` in random chunks (lines cut anywhere)."""
    with open(dst, "ab") as f:
        i = start
        while i < len(src):
            k = int(rng.integers(1, 400))
            f.write(src[i:i + k])
            f.flush()
            i += k
            time.sleep(pause)


@pytest.mark.parametrize("name", FILES)
def test_following_a_file_written_in_random_chunks(data_dir, tmp_path, name, rng):
    raw = (data_dir / name).read_bytes()
    live = tmp_path / ("live" + (data_dir / name).suffix)
    th = threading.Thread(target=write_slowly, args=(raw, live, rng))
    th.start()
    summary = fs.run(fs.FileSource(live, until_idle=1.0, poll=0.01), None, tmp_path / "s.h5")
    th.join()
    bulk = ff.read(data_dir / name)
    assert summary.counts["stored"] == len(bulk) and summary.notices == []
    assert_store_equals(tmp_path / "s.h5", bulk)
    # the same command again resumes: nothing new stored
    again = fs.run(fs.FileSource(live, until_idle=0.05), None, tmp_path / "s.h5")
    assert again.counts["resumed"] == len(bulk) and again.counts["stored"] == 0
    assert_store_equals(tmp_path / "s.h5", bulk)


def test_rotation_rewrite_and_garbage_lines(data_dir, tmp_path):
    src = (data_dir / "pyeis_ex1.mpt").read_bytes()
    live = tmp_path / "run.mpt"
    store = tmp_path / "s.h5"
    lines = src.split(b"\n")
    nb = 61
    first = b"\n".join(lines[:nb + 59]) + b"\n"              # header + spectrum 0
    garbage = b"1.0E+001\tnot-a-number\t3\n"
    rest = b"\n".join(lines[nb + 59:])

    def writer():
        live.write_bytes(first)
        time.sleep(0.3)
        with open(live, "ab") as f:                            # a broken line, then the rest
            f.write(garbage + rest)
        time.sleep(0.3)
        os.replace(live, tmp_path / "run.mpt.1")               # rotation: a new file
        (tmp_path / "run.tmp").write_bytes(src)
        os.replace(tmp_path / "run.tmp", live)
        time.sleep(0.3)
        live.write_bytes(src)                                  # rewritten in place, same data

    th = threading.Thread(target=writer)
    th.start()
    summary = fs.run(fs.FileSource(live, until_idle=1.2, poll=0.01), None, store)
    th.join()
    assert any("not a data row" in m for m in summary.notices)
    assert any("replaced" in m for m in summary.notices)
    # the rotated file and the new one hold the same spectra: stored once
    assert_store_equals(store, ff.read(data_dir / "pyeis_ex1.mpt"))
    assert summary.counts["stored"] == 2 and summary.counts["resumed"] >= 2


def test_truncated_to_a_new_experiment(data_dir, tmp_path):
    a = (data_dir / "pyeis_ex1.mpt").read_bytes()
    b = (data_dir / "pyeis_ex2.mpt").read_bytes()
    live = tmp_path / "run.mpt"

    def writer():
        live.write_bytes(a)
        time.sleep(0.4)
        with open(live, "r+b") as f:                           # truncate, write ex2
            f.truncate(0)
        with open(live, "ab") as f:
            f.write(b[:200])
        time.sleep(0.1)
        with open(live, "ab") as f:
            f.write(b[200:])

    th = threading.Thread(target=writer)
    th.start()
    fs.run(fs.FileSource(live, until_idle=1.2, poll=0.01), None, tmp_path / "s.h5")
    th.join()
    both = ff.SpectrumSeries.concat([ff.read(data_dir / "pyeis_ex1.mpt"),
                                     ff.read(data_dir / "pyeis_ex2.mpt")])
    with ff.Store(tmp_path / "s.h5", "r") as st:
        s = st.spectra()
    np.testing.assert_array_equal(s.Z, both.Z)
    np.testing.assert_array_equal(s.info["index"], [0, 1, 0, 1])   # positions restart


def _raw_client(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    f = s.makefile("rb")
    hello = json.loads(f.readline())
    return s, f, hello


def test_socket_drop_duplicates_reorder_and_restart(data_dir, tmp_path):
    bulk = ff.read(data_dir / "hybriddrt_Sample2_PEIS_AtRest.csv")
    pts = [fs.Point(p.freq, p.Z, p.channels, p.groups, i)
           for i, p in enumerate(fs.series_points(bulk))]
    line = lambda i: (fs.point_to_json(pts[i]) + "\n").encode()
    store = tmp_path / "s.h5"
    src = fs.SocketSource(0, until_idle=1.0)
    log = {}

    def client():
        assert src.ready.wait(20)
        s, f, hello = _raw_client(src.port)
        log["hello"] = hello
        s.sendall(b"".join(line(i) for i in range(300)) + b'{"freq": 12')   # dropped mid-line
        s.close()
        time.sleep(0.2)
        s, f, hello = _raw_client(src.port)
        log["hello2"] = hello
        order = list(range(250, 420))
        order[10], order[40] = order[40], order[10]                  # out of order + repeats
        s.sendall(b"".join(line(i) for i in order) + b"garbage line\n")
        s.sendall(b'{"sync": true}\n')
        replies = [json.loads(f.readline()) for _ in range(2)]
        log["replies"] = replies
        s.close()
        log["sent"] = fs.send_points(pts[:600], src.port)            # resumes at next_seq

    th = threading.Thread(target=client)
    th.start()
    summary = fs.run(src, None, store)
    th.join()
    assert log["hello"]["next_seq"] == 0 and log["hello2"]["next_seq"] == 300
    assert "error" in log["replies"][0] and log["replies"][1] == {"next_seq": 420}
    assert log["sent"] == 180
    assert summary.n_points == 600 and summary.n_duplicates == 50
    assert any("inside a line" in m for m in summary.notices)
    # 600 points = 6 sweeps of 89 + 66 points of the 7th, which is reported, not stored
    assert_store_equals(store, bulk, n=6)
    assert summary.counts["stored"] == 6 and summary.counts["incomplete"] == 1
    # server restarted (as after kill -9): the journal is replayed, the client resumes
    src2 = fs.SocketSource(0, until_idle=1.0)
    th = threading.Thread(target=lambda: (src2.ready.wait(20), log.update(
        sent2=fs.send_points(pts, src2.port))))
    th.start()
    summary2 = fs.run(src2, None, store)
    th.join()
    assert log["sent2"] == len(pts) - 600
    assert summary2.counts["resumed"] == 6 and summary2.counts["stored"] == 4
    assert_store_equals(store, bulk)
    with open(f"{store}.stream.journal") as fh:
        journal = [json.loads(x) for x in fh]
    assert [j["seq"] for j in journal] == list(range(len(pts)))


def test_socket_is_loopback_only_and_journal_survives_a_torn_line(tmp_path):
    with pytest.raises(StreamError, match="loopback"):
        fs.SocketSource(0, "0.0.0.0")
    jr = fs.Journal(tmp_path / "j")
    jr.open()
    jr.append([fs.Point(1.0, 1 + 1j, seq=0), fs.Point(2.0, 2 + 1j, seq=1)])
    jr.close()
    with open(tmp_path / "j", "ab") as f:
        f.write(b'{"freq": 3.0, "re"')                           # killed mid-write
    got = fs.Journal(tmp_path / "j").load()
    assert [p.freq for p in got] == [1.0, 2.0]
    assert (tmp_path / "j").read_bytes().endswith(b"\n")


def test_async_iterable_and_results_iterator(data_dir, tmp_path):
    bulk = ff.read(data_dir / "pyeis_ex1.mpt")

    async def gen():
        for p in fs.series_points(bulk):
            yield {"freq": p.freq, "Z": [p.Z.real, p.Z.imag], **p.channels, **p.groups}

    async def main():
        pipe = fs.Pipeline(None, tmp_path / "s.h5")
        seen = [r async for r in pipe.results(fs.IterableSource(gen(), meta=bulk.meta))]
        return seen

    seen = asyncio.run(main())
    assert [r.status for r in seen] == ["stored", "stored"]
    assert [r.store_index for r in seen] == [0, 1]
    assert_store_equals(tmp_path / "s.h5", bulk)
