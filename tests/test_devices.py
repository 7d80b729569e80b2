"""fastfit._devices: chunk sizing, device splitting, CPU device configuration, compile cache.

The multi-device check runs in a subprocess with ``XLA_FLAGS=--xla_force_host_platform_
device_count=4`` (the device count is fixed once JAX starts) and compares its results
with a single-device fit in this process: they must agree to 1e-12.  The subprocess also
fills a fresh persistent compile cache, and a second subprocess must load every program
from it (no compile).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import fastfit as ff
from fastfit import _devices as dv
from fastfit.errors import FastfitError

# these tests compare CPU host devices with the in-process fit, and the chunk threads of
# one CPU device: on a machine whose default backend is a GPU (seen 2026-12-04 on an
# H200: same status, other iteration counts, as rounding steers the LM path) the
# in-process fit is not a CPU fit
cpu_backend = pytest.mark.skipif(jax.default_backend() != "cpu",
                                 reason="needs JAX's CPU backend in-process")

CIRCUIT = "R0-p(R1,C1)"             # the cheapest chain circuit to compile
N = 32            # 4 devices x 8 spectra (MIN_PER_DEVICE lowered to 8 in the subprocess)
# zero tolerances: each spectrum iterates until its step vanishes (7-21 iterations), so
# every stage does real work on every slice, including the rescue stage (a host-side
# gather of the still-running spectra into quarter-size batches, several passes per device)
KW = dict(max_iter=40, ftol=0.0, xtol=0.0, gtol=0.0)


def _spectra(data_dir):
    """N noisy R0-p(R1,C1) spectra on the grid of a real BioLogic file (59 points)."""
    f = ff.read(data_dir / "pyeis_ex1.mpt").freq[0]
    rng = np.random.default_rng(11)
    R1 = 10 ** rng.uniform(1, 3, N)
    fa = 10 ** rng.uniform(-1, 4, N)
    p = np.stack([R1 * rng.uniform(0.05, 0.5, N), R1, 1 / (2 * np.pi * fa * R1)], 1)
    Z = ff.Circuit(CIRCUIT).impedance(f, p)
    Z = Z * (1 + 0.01 * (rng.standard_normal(Z.shape) + 1j * rng.standard_normal(Z.shape)))
    return f, Z


SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import jax
    from jax._src import monitoring
    events = []
    monitoring.register_event_listener(lambda name, **kw: events.append(name))
    import fastfit as ff
    from fastfit import _devices as dv
    cache = dv.enable_compile_cache()          # FASTFIT_CACHE_DIR from the environment
    dv.MIN_PER_DEVICE = 8
    d = np.load(sys.argv[1])
    r = ff.fit(d["f"], d["Z"], "R0-p(R1,C1)", max_iter=40, ftol=0.0, xtol=0.0, gtol=0.0)
    used = dv.devices_for(len(d["Z"]))

    def where(sl):
        return {"dev": np.full(sl.stop - sl.start, jax.numpy.zeros(1).devices().pop().id)}
    ids = dv.run_split(where, 8, jax.devices())["dev"].tolist()
    np.savez(sys.argv[2], params=r.params, chi2=r.chi2, status=r.status, n_iter=r.n_iter,
             stderr=r.stderr)
    print(json.dumps({"n_devices": len(jax.devices()), "used": len(used), "ids": ids,
                      "cache": str(cache),
                      "hits": events.count("/jax/compilation_cache/cache_hits"),
                      "misses": events.count("/jax/compilation_cache/cache_misses")}))
""")


def _run_sub(tmp_path, data, out, cache):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               FASTFIT_CACHE_DIR=str(cache), JAX_PLATFORMS="cpu")
    env.pop("FASTFIT_CPU_DEVICES", None)
    script = tmp_path / "sharded.py"
    script.write_text(SCRIPT)
    return subprocess.Popen([sys.executable, str(script), str(data), str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc, timeout=300):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("multi-device subprocess hung")
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


@cpu_backend
def test_four_host_devices_equal_single_device(data_dir, tmp_path):
    f, Z = _spectra(data_dir)
    data = tmp_path / "in.npz"
    np.savez(data, f=f, Z=Z)
    cache = tmp_path / "cache"
    proc = _run_sub(tmp_path, data, tmp_path / "out1.npz", cache)
    ref = ff.fit(f, Z, CIRCUIT, **KW)               # single device, while the child runs
    from fastfit.fitting import _driver as fitting

    compaction = sum(getattr(fitting, "STAGES", (8, 24)))
    assert (ref.n_iter > compaction).sum() >= 3, "data no longer reach the rescue stage"
    info = _finish(proc)
    assert info["n_devices"] == 4 and info["used"] == 4
    assert info["ids"] == [0, 0, 1, 1, 2, 2, 3, 3]     # each slice ran on its own device
    got = np.load(tmp_path / "out1.npz")
    np.testing.assert_array_equal(got["status"], ref.status)
    np.testing.assert_array_equal(got["n_iter"], ref.n_iter)
    np.testing.assert_allclose(got["params"], ref.params, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got["chi2"], ref.chi2, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got["stderr"], ref.stderr, rtol=1e-12, atol=0)
    assert info["cache"] == str(cache) and info["misses"] > 0 and any(cache.iterdir())
    # a second process finds every program in the persistent cache
    warm = _finish(_run_sub(tmp_path, data, tmp_path / "out2.npz", cache))
    assert warm["misses"] == 0 and warm["hits"] >= info["misses"]
    np.testing.assert_array_equal(np.load(tmp_path / "out2.npz")["params"], got["params"])


ENV_SCRIPT = textwrap.dedent("""
    from fastfit._devices import apply_cpu_default
    apply_cpu_default()                      # as fastfit.kernels does before computing
    import jax
    print(len(jax.devices("cpu")))
""")


@pytest.mark.parametrize("env, want", [
    ({"FASTFIT_CPU_DEVICES": "3"}, 3),
    ({"FASTFIT_CPU_DEVICES": "auto"}, None),                  # one per usable core
    ({"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}, 2),   # the user's choice
    ({}, 1),                                                  # JAX's default is kept
])
def test_cpu_device_count_from_environment(env, want):
    full = {k: v for k, v in os.environ.items() if k not in ("FASTFIT_CPU_DEVICES", "XLA_FLAGS")}
    full.update(env, JAX_PLATFORMS="cpu")
    p = subprocess.run([sys.executable, "-c", ENV_SCRIPT], env=full, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert int(p.stdout.split()[-1]) == (dv.usable_cores() if want is None else want)


def test_bad_environment_value_is_named():
    with pytest.raises(FastfitError, match="FASTFIT_CPU_DEVICES"):
        dv._parse_count("lots", dv.ENV_CPU_DEVICES)


# ------------------------------------------------------------------ pure helpers
class _Dev:
    def __init__(self, platform="gpu", limit=None, used=0, i=0):
        self.platform, self.limit, self.used, self.id = platform, limit, used, i

    def memory_stats(self):
        if self.limit is None:
            raise RuntimeError("no statistics")
        return {"bytes_limit": self.limit, "bytes_in_use": self.used}


def test_split_size_pads_each_device_to_a_bucket():
    assert dv.split_size(1000, 1) == 1024
    assert dv.split_size(2048, 2) == 2048
    assert dv.split_size(3000, 2) == 2 * 2048         # 1500 per device -> 2048
    assert dv.split_size(100, 3) == 3 * 64
    assert dv.split_size(5, 4) == 4 * 8               # bucket minimum


def test_devices_for_keeps_small_fits_on_one_device():
    devs = [_Dev(i=i) for i in range(4)]
    assert len(dv.devices_for(10, devs)) == 1
    assert len(dv.devices_for(2 * dv.MIN_PER_DEVICE, devs)) == 2
    assert len(dv.devices_for(10**6, devs)) == 4


def test_run_split_concatenates_slices_in_order():
    import jax

    dev = jax.devices()[0]
    out = dv.run_split(lambda s: {"a": np.arange(s.start, s.stop) * 2}, 12, [dev, dev, dev])
    np.testing.assert_array_equal(out["a"], np.arange(12) * 2)
    with pytest.raises(ValueError, match="does not split"):
        dv.run_split(lambda s: {}, 10, [dev, dev, dev])


@cpu_backend
def test_chunks_in_flight_equal_one_at_a_time(data_dir, monkeypatch):
    """On one CPU device fit runs CHUNK_THREADS chunks at once (the first alone): the
    results are those of one chunk at a time, bit for bit, in batch order."""
    import fastfit.fitting._driver as drv

    f, Z = _spectra(data_dir)
    Z = np.concatenate([Z, Z[::-1], Z[:8]])               # 72 spectra, 3 chunks of 32
    used = []

    class Pool(drv.ThreadPoolExecutor):
        def map(self, fn, *its, **kw):
            used.append(self._max_workers)
            return super().map(fn, *its, **kw)

    monkeypatch.setattr(drv, "ThreadPoolExecutor", Pool)
    done = []
    r2 = ff.fit(f, Z, CIRCUIT, chunk=32, progress=lambda d, n: done.append(d), **KW)
    assert used == [drv.CHUNK_THREADS] and drv.CHUNK_THREADS > 1
    assert done == [32, 64, 72]
    monkeypatch.setattr(drv, "CHUNK_THREADS", 1)
    r1 = ff.fit(f, Z, CIRCUIT, chunk=32, **KW)
    assert used == [drv.CHUNK_THREADS + 1]                # no pool the second time
    np.testing.assert_array_equal(r2.params, r1.params)
    np.testing.assert_array_equal(r2.status, r1.status)
    np.testing.assert_array_equal(r2.chi2, r1.chi2)


def test_auto_chunk_from_device_memory():
    F, P, NC, C = 59, 7, 595, 3
    per = dv.bytes_per_spectrum(F, P, NC, C)
    assert 90_000 < per < 400_000     # measured peak ~105 KB (memory_analysis, see docstring)
    free = 4 * 2**30
    chunk = dv.auto_chunk(F, P, NC, C, devices=[_Dev(limit=free, used=0)])
    assert chunk & (chunk - 1) == 0 and 1024 <= chunk <= dv.GPU_CHUNK_MAX
    assert chunk * per <= dv.MEMORY_FRACTION * free < 2 * chunk * per
    # in-use memory counts; the smallest device decides; one chunk per device
    two = [_Dev(limit=free, used=3 * 2**30, i=0), _Dev(limit=free, i=1)]
    assert dv.auto_chunk(F, P, NC, C, devices=two) == 2 * max(1024, 1 << (
        int(dv.MEMORY_FRACTION * 2**30) // per).bit_length() - 1)
    big = dv.auto_chunk(F, P, NC, C, devices=[_Dev(limit=10**12)])
    assert big == dv.GPU_CHUNK_MAX
    cpu = [_Dev("cpu", i=0), _Dev("cpu", i=1)]
    assert dv.auto_chunk(F, P, NC, C, devices=cpu) == 2 * dv.CPU_CHUNK_PER_DEVICE


def test_configure_after_start_and_bad_values():
    import jax

    jax.numpy.zeros(1).block_until_ready()          # JAX has started in this process
    have = len(jax.devices("cpu"))
    assert dv.configure() == have
    assert dv.configure(have) == have
    with pytest.raises(FastfitError, match="already started"):
        dv.configure(have + 1)
    for bad in (0, -2, "many", 1.5, True):
        with pytest.raises(FastfitError, match="positive integer"):
            dv.configure(bad)


def test_enable_compile_cache_folder(tmp_path, monkeypatch):
    import jax

    old = jax.config.jax_compilation_cache_dir
    try:
        monkeypatch.setenv(dv.ENV_CACHE_DIR, str(tmp_path / "env"))
        assert dv.enable_compile_cache() == tmp_path / "env"
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "env")
        assert dv.enable_compile_cache(tmp_path / "x") == tmp_path / "x"
        blocker = tmp_path / "file"
        blocker.write_text("")
        assert dv.enable_compile_cache(blocker / "sub") is None   # cannot create: no cache
    finally:
        jax.config.update("jax_compilation_cache_dir", old)
        from jax._src import compilation_cache

        compilation_cache.reset_cache()


def test_fit_programs_make_no_library_calls(monkeypatch):
    """Every program a device runs during a fit is plain XLA: no custom calls (LAPACK).

    Two host devices running a batched ``triangular_solve`` (a LAPACK custom call on
    XLA:CPU) at the same time deadlocked in the finaliser (jax 0.10.2,
    ``FASTFIT_CPU_DEVICES=2``: every 10,000-spectrum process stalled within eight fits)."""
    from fastfit.kernels import _fit, _moves, _pipeline, _scan

    names = ("scan_combos", "lm_continue", "lm_rescue", "model_impedance")
    lowered = []
    for name in names:
        fn = getattr(_scan if name == "scan_combos" else _fit, name)

        def spy(*a, _fn=fn, _name=name):
            lowered.append((_name, _fn.lower(*a).as_text()))
            return _fn(*a)

        # every module that calls the program (each holds its own reference)
        for mod in (_scan, _fit, _moves, _pipeline):
            if hasattr(mod, name):
                monkeypatch.setattr(mod, name, spy)
    f, Z, _ = ff.synthetic.paper_rcpe2(40, seed=5)
    # zero tolerances: spectra keep running past stage 2, so the rescue program runs too
    ff.fit(f, Z, "R0-p(R1,CPE1)-p(R2,CPE2)", max_iter=60, ftol=0.0, xtol=0.0, gtol=0.0)
    assert {n for n, _ in lowered} == set(names)
    for name, text in lowered:
        assert "custom_call" not in text, name
