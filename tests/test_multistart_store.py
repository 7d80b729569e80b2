"""The stored scipy multistart references (tests/multistart_reference.py): an entry is
found only for the exact inputs it was computed from, and equals a live computation."""
from __future__ import annotations

import json

import numpy as np
import pytest

import multistart_reference as msr
from multistart_reference import STORE, best_of_random_starts, reference_key


def _arc(p, w):
    return p[0] + p[1] / (1.0 + p[1] * p[2] * (1j * w) ** p[3])


def _case():
    w = 2 * np.pi * np.logspace(5, -1, 41)
    z = _arc(np.array([12.0, 480.0, 3e-6, 0.86]), w)
    z = z * (1 + 0.005 * np.random.default_rng(3).standard_normal(w.size))
    bounds = np.array([[0.0, np.inf], [0.0, np.inf], [0.0, np.inf], [0.0, 1.0]])
    return w, z, bounds


def test_stored_entry_equals_a_live_computation(monkeypatch):
    w, z, bounds = _case()
    monkeypatch.setattr(msr, "USE_STORE", True)
    got = best_of_random_starts(_arc, w, z, bounds, "RRQn", 6, np.random.default_rng(11))
    rng = np.random.default_rng(11)
    starts = [msr.draw_start("RRQn", np.abs(z).max(), rng) for _ in range(6)]
    key = reference_key((w, z, bounds, "RRQn"), _arc, w, starts)
    table = json.loads(STORE.read_text())
    assert key in table, "tests/multistart_chi2.json lacks this test's entry"
    assert got == float(table[key])
    monkeypatch.setattr(msr, "USE_STORE", False)
    live = best_of_random_starts(_arc, w, z, bounds, "RRQn", 6, np.random.default_rng(11))
    assert live == pytest.approx(got, rel=1e-8)


def test_key_follows_every_input():
    w, z, bounds = _case()
    starts = [np.array([10.0, 400.0, 1e-6, 0.8]), np.array([1.0, 40.0, 1e-5, 0.7])]
    key = reference_key((w, z, bounds, "RRQn"), _arc, w, starts)
    z2 = z.copy()
    z2[7] *= 1 + 1e-7
    other_model = lambda p, w: _arc(p, w) + 1e-6 * p[0]      # noqa: E731
    assert reference_key((w, z2, bounds, "RRQn"), _arc, w, starts) != key
    assert reference_key((w, z, bounds, "RRQn"), other_model, w, starts) != key
    assert reference_key((w, z, bounds, "RRRn"), _arc, w, starts) != key
    assert reference_key((w, z, bounds, "RRQn"), _arc, w, starts[:1]) != key
    assert reference_key((w, z, bounds, "RRQn"), _arc, w, [starts[1], starts[0]]) != key
    # the same inputs, recomputed: the same key
    assert reference_key((w.copy(), z.copy(), bounds, "RRQn"), _arc, w,
                         [s.copy() for s in starts]) == key


def test_store_writes_and_reads_back_floats_and_arrays(monkeypatch, tmp_path):
    """With FASTFIT_STORE_REFERENCES=1 a value computed is written (full precision) and
    the next call with the same inputs reads it instead of computing."""
    w, z, bounds = _case()
    monkeypatch.setattr(msr, "USE_STORE", True)
    monkeypatch.setattr(msr, "STORE", tmp_path / "store.json")
    monkeypatch.setenv(msr.STORE_ENV, "1")
    starts = [np.array([10.0, 400.0, 1e-6, 0.8])]
    value = np.array([0.1 + 1e-17, 1 / 3, 2e-300])
    got = msr.stored((w, z), _arc, w, starts, lambda: value)
    assert got is value
    for inputs, v in (((w, z), value), ((w, z, "one"), 1 / 7)):
        msr.stored(inputs, _arc, w, starts, lambda v=v: v)
        again = msr.stored(inputs, _arc, w, starts, lambda: pytest.fail("not read back"))
        np.testing.assert_array_equal(again, v)
    assert len(json.loads((tmp_path / "store.json").read_text())) == 2
