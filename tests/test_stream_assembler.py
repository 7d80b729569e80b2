"""fastfit.stream: points, the line protocol and the streaming spectrum assembler.

The assembler must cut a point stream exactly where the bulk readers cut a file
(`fastfit.io._assemble`); checked on real files and on random sweep sequences.
No JAX here.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastfit as ff
from fastfit.errors import DataError
from fastfit.io._assemble import assemble
from fastfit.stream import (Assembler, LineParser, Point, as_point, point_to_json,
                            series_points)

# ------------------------------------------------------------------ points


def test_as_point_names_units_and_signs():
    a = as_point({"freq/Hz": 1000.0, "Re(Z)/Ohm": 12.5, "-Im(Z)/Ohm": 3.0, "time/s": 4.0,
                  "cycle number": 2.0, "<I>/mA": 1.5})
    assert a.freq == 1000.0 and a.Z == complex(12.5, -3.0)
    assert a.channels == {"t": 4.0, "I": 1.5e-3} and a.groups == {"cycle": 2.0}
    b = as_point({"freq": 10, "re": 1, "im": -2, "seq": 7, "last": True})
    assert b.Z == complex(1, -2) and b.seq == 7 and b.last
    c = as_point({"f": 10, "mod": 2.0, "phase": -90.0})
    assert abs(c.Z - (-2j)) < 1e-15
    assert as_point((5.0, 1 - 1j)).Z == 1 - 1j
    assert as_point((5.0, 1.0, -1.0, 3.0)).channels == {"t": 3.0}
    assert as_point({"freq": 1, "Z": [3, -4]}).Z == 3 - 4j
    with pytest.raises(DataError, match="frequency"):
        as_point({"re": 1, "im": 2})
    with pytest.raises(DataError, match="impedance"):
        as_point({"freq": 1, "re": 2})
    with pytest.raises(DataError, match="number"):
        as_point({"freq": "x", "re": 1, "im": 1})
    with pytest.raises(DataError):
        as_point(object())


def test_line_parser_json_csv_header_and_errors():
    lp = LineParser()
    assert lp.parse("") is None and lp.parse("# comment") is None
    p = lp.parse('{"freq": 100.0, "re": 1.0, "im": -2.0, "t": 0.5}')
    assert p.Z == 1 - 2j and p.channels["t"] == 0.5
    q = lp.parse("100,1.5,-0.5,2.0,3")
    assert q.freq == 100 and q.Z == 1.5 - 0.5j and q.groups == {"loop": 3.0}
    assert lp.parse("freq/Hz;Re(Z)/Ohm;-Im(Z)/Ohm") is None          # header names columns
    r = lp.parse("10;2;1")
    assert r.Z == 2 - 1j
    with pytest.raises(DataError, match="values"):
        lp.parse("10;2")
    with pytest.raises(DataError, match="JSON"):
        lp.parse("{bad json")
    with pytest.raises(DataError, match="frequency"):
        LineParser().parse("a,b,c")
    # JSON round trip is exact
    x = Point(1.0 / 3.0, complex(math.pi, -math.e), {"t": 0.1}, {"loop": 1.0}, 5, True)
    y = LineParser().parse(point_to_json(x))
    assert y.same_data(x) and y.seq == 5 and y.last


# ------------------------------------------------------- against bulk reads

def _feed(points, **kw):
    asm = Assembler({"source": "test"}, **kw)
    out = []
    for p in points:
        out += asm.push(p, 0.0)
    done, inc = asm.finish(final=True)
    assert inc is None
    return out + done, asm


def _same_spectra(out, bulk):
    assert len(out) == len(bulk)
    for k, a in enumerate(out):
        f, Z = bulk.spectrum(k)
        s = a.series
        assert a.index == k
        np.testing.assert_array_equal(s.freq[0], f)
        np.testing.assert_array_equal(s.Z[0], Z)
        np.testing.assert_array_equal(s.time, bulk.time[k:k + 1])
        np.testing.assert_array_equal(s.time_end, bulk.time_end[k:k + 1])
        for name, v in bulk.info.items():
            np.testing.assert_array_equal(s.info[name], v[k:k + 1], err_msg=name)
            assert s.info[name].dtype == v.dtype, name
        for name, v in bulk.points.items():
            np.testing.assert_array_equal(s.points[name][0], v[k][bulk.mask[k]], err_msg=name)


@pytest.mark.parametrize("name", ["pyeis_ex1.mpt", "pyeis_ex2.mpt",
                                  "hybriddrt_Sample2_PEIS_AtRest.csv",
                                  "hybriddrt_EISGALV_EISTest3.DTA",
                                  "hybriddrt_PEIS_LPSCl_IonBlocking_-25C.mpr",
                                  "impedancepy_exampleDataParstat.txt"])
def test_replayed_points_reassemble_to_the_bulk_read(data_dir, name):
    bulk = ff.read(data_dir / name)
    meta = bulk.meta
    for early in (False, True):
        out, asm = _feed(series_points(bulk), sweep=meta.get("sweep"), early=early)
        _same_spectra(out, bulk)
        assert not asm.notices and not any(a.partial for a in out)
    if len(bulk) > 1:        # the second spectrum is recognised by the template at once
        assert out[1].reason in ("template", "sweep")


# ---------------------------------------------------------- random sweeps

@st.composite
def sweep_streams(draw):
    """Point sequences with sweeps up/down, restarts, reversals, noisy back steps,
    repeated frequencies, loop columns and dropped (frequency 0) rows."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    freqs, loops = [], []
    loop = 0
    for _ in range(draw(st.integers(1, 5))):
        n = int(rng.integers(2, 25))
        down = rng.random() < 0.7
        lf = np.linspace(5, 5 - rng.uniform(1, 6), n) if down else np.linspace(-1, rng.uniform(0, 5), n)
        lf = lf + rng.normal(0, 0.004, n)
        f = list(10 ** lf)
        if rng.random() < 0.3 and n > 4:                       # a noisy small back step
            j = int(rng.integers(1, n - 1))
            f[j] = f[j - 1] * (1.02 if down else 0.98)
        if rng.random() < 0.2 and n > 3:                       # a repeated frequency
            j = int(rng.integers(1, n))
            f[j] = f[j - 1]
        if rng.random() < 0.5:
            loop += 1
        if rng.random() < 0.2:                                  # a dropped DC row
            f.append(0.0)
        freqs += f
        loops += [loop] * len(f)
    use_loop = bool(draw(st.booleans()))
    return np.array(freqs), np.array(loops, float), use_loop


def _bulk_big(freq):
    f = freq[freq > 0]
    d = np.abs(np.diff(np.log10(f)))
    nz = d[d != 0]
    return 1.5 * float(np.median(nz)) if nz.size else 0.0


@settings(max_examples=150, deadline=None)
@given(sweep_streams())
def test_assembler_cuts_where_the_bulk_reader_cuts(case):
    freq, loops, use_loop = case
    Z = (1.0 + 0.1 * np.arange(freq.size)) - 1j * (0.5 + 0.01 * np.arange(freq.size))
    groups = {"loop": loops} if use_loop else {}
    with np.errstate(all="ignore"):
        bulk = assemble(freq, Z, path="x", meta={"format": "t"}, groups=groups)
    pts = [Point(float(f), complex(z), {}, {"loop": float(g)} if use_loop else {})
           for f, z, g in zip(freq, Z, loops)]
    out, asm = _feed(pts, noise_step=_bulk_big(freq), early=False)
    assert [a.n_points for a in out] == bulk.n_points.tolist()
    _same_spectra(out, bulk)
    out2, asm2 = _feed(pts, noise_step=_bulk_big(freq), early=True)
    if not asm2.notices:            # early completion agrees unless it reported a conflict
        assert [a.n_points for a in out2] == bulk.n_points.tolist()


# --------------------------------------------------------- behaviours

def _sweep(n=10, loop=None, t0=0.0, f_hi=1e4, f_lo=1.0):
    f = np.logspace(np.log10(f_hi), np.log10(f_lo), n)
    return [Point(float(x), complex(1 + k, -1), {"t": t0 + k}, {} if loop is None else {"loop": loop})
            for k, x in enumerate(f)]


def test_aborted_sweep_is_partial_and_early_completion_uses_the_template():
    asm = Assembler({"source": "s"})
    out = []
    for p in _sweep(10, t0=0):                 # first sweep: ends only at the next restart
        out += asm.push(p, 1.0)
    assert out == []
    aborted = _sweep(10, t0=20)[:5]
    for p in aborted:
        out += asm.push(p, 2.0)
    assert len(out) == 1 and out[0].reason == "boundary" and not out[0].partial
    for i, p in enumerate(_sweep(10, t0=40)):
        got = asm.push(p, 3.0)
        if i == 0:                             # the restart ends the aborted sweep
            assert len(got) == 1 and got[0].partial and got[0].n_points == 5
        elif i == 9:                           # complete at its last point (template)
            assert len(got) == 1 and got[0].reason == "template" and got[0].n_points == 10
            assert got[0].arrival == 3.0
        else:
            assert got == []
    assert asm.finish() == ([], None)


def test_finish_keeps_an_incomplete_sweep_unless_final():
    asm = Assembler({"source": "s"})
    for p in _sweep(10) + _sweep(10, t0=20)[:4]:
        asm.push(p, 0.0)
    done, inc = asm.finish(final=False)
    assert done == [] and inc.partial and inc.n_points == 4 and inc.reason == "incomplete"
    done, inc = asm.finish(final=True)
    assert inc is None and len(done) == 1 and done[0].partial and done[0].index == 1


def test_duplicates_gaps_last_flag_and_dropped_rows():
    asm = Assembler({"source": "s"}, gap_s=5.0, early=False)
    pts = _sweep(6)
    out = []
    for p in pts[:3] + pts[2:3] + pts[3:]:                # one exact duplicate
        out += asm.push(p, 0.0)
    assert asm.n_duplicates == 1
    out += asm.push(Point(0.0, 1 + 0j), 0.0)               # dropped, counted
    out += asm.push(Point(float("nan"), 1 + 0j), 0.0)
    assert asm.n_dropped == 2 and out == []
    late = [Point(p.freq, p.Z, {"t": p.channels["t"] + 100}) for p in _sweep(6)]
    out += asm.push(late[0], 0.0)                          # time gap > 5 s: new spectrum
    assert len(out) == 1 and out[0].n_points == 6
    for p in late[1:3]:
        out += asm.push(p, 0.0)
    out += asm.push(Point(late[3].freq, late[3].Z, late[3].channels, last=True), 0.0)
    assert len(out) == 2 and out[1].reason == "marked" and out[1].n_points == 4


def test_early_completion_conflict_is_reported():
    asm = Assembler({"source": "s"})
    a = _sweep(5, f_hi=1e4, f_lo=1e2)
    b = _sweep(5, f_hi=1e4, f_lo=1e2, t0=10)
    c = _sweep(7, f_hi=1e4, f_lo=1e0, t0=20)                # longer: continues "past" the template
    out = []
    for p in a + b + c:
        out += asm.push(p, 0.0)
    out += asm.finish(final=True)[0]
    assert asm.notices == []                                # c is recognised as a new sweep
    assert [x.n_points for x in out] == [5, 5, 7]
    asm = Assembler({"source": "s"})
    for p in a + b:
        asm.push(p, 0.0)
    extra = Point(b[-1].freq * 0.5, 1 + 0j, {"t": 99.0})     # continues b after it was emitted
    asm.push(extra, 0.0)
    assert asm.notices and "continues" in asm.notices[0]


def test_sequencer_and_iterable_restore_order(tmp_path):
    import asyncio

    from fastfit.stream import IterableSource
    from fastfit.stream._points import Sequencer

    sq = Sequencer()
    got = []
    for s in [0, 2, 1, 1, 0, 4, 3, 7]:
        got += [p.seq for p in sq.accept(Point(1.0 + s, 1 + 0j, seq=s))]
    assert got == [0, 1, 2, 3, 4] and sq.n_duplicates == 2
    rest, missing = sq.flush()
    assert [p.seq for p in rest] == [7] and missing == [5, 6]

    pts = [Point(10.0 ** (3 - 0.25 * k), complex(1 + k, -1), {"t": float(k)}, seq=k)
           for k in range(12)]
    shuffled = pts[:3] + [pts[4], pts[3]] + pts[5:8] + [pts[6]] + pts[8:]

    async def collect():
        src = IterableSource(shuffled)
        return [x async for x in src if isinstance(x, Point)], src

    out, src = asyncio.run(collect())
    assert [p.seq for p in out] == list(range(12)) and src.n_duplicates == 1
