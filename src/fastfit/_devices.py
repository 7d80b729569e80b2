"""Where fits run: device choice, splitting a chunk over devices, chunk size, compile cache.

Multiple local devices
----------------------
A chunk of spectra is split into equal, contiguous slices, one per device, and each
device fits its slice *independently* (its own copy of the compiled programs, started
from one Python thread per device; JAX releases the GIL while a program runs).  Nothing
is communicated between devices, so every spectrum sees exactly the computation it would
see on one device, and results are identical to a single-device run (tests check 1e-12).

Why not one SPMD program over a ``NamedSharding``: the LM driver's ``while_loop`` exits
when *no* spectrum of the batch is running, which under GSPMD becomes an all-reduce on
every iteration.  On XLA:CPU host devices that rendezvous deadlocked (reproduced with
jax 0.10.2: "all reduce ... only 1 of 2 threads arrived", then abort; docs/design-notes.md,
"Several host devices"), and on any backend it would lock all devices to the slowest
spectrum of the whole chunk.  Independent slices need no collectives and let each device
stop as soon as its own slice has converged.  The cost: each device compiles its own
executable on first use (in parallel threads; the persistent cache,
:func:`enable_compile_cache`, keeps them across processes).

CPU host devices
----------------
XLA exposes one CPU device unless told otherwise and parallelises inside operations
("intra-op" threads).  ``FASTFIT_CPU_DEVICES`` (an integer, or ``auto`` = one per usable
core) or :func:`configure` ask JAX for several host devices (``jax_num_cpu_devices``)
before it starts; an explicit ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` or
``jax_num_cpu_devices`` set by the user is left alone when the variable is unset.  The
default stays at JAX's one device: on the 2-core machine this was developed on, two host
devices fit a large batch 12-15 % faster but double the compile work of a first call
(which then misses the 5 s target), and merely *configuring* two devices makes a fit that
uses one of them ~10 % slower (benchmarks/results_scaling.md).  See docs/scaling.md.

The programs a device runs during a fit contain no library custom calls: concurrent
LAPACK calls from two host devices deadlocked (see ``kernels._linalg.cholesky_inverse``;
tests/test_devices.py checks the lowered programs).
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import FastfitError

__all__ = ["configure", "apply_cpu_default", "usable_cores", "compute_devices", "devices_for",
           "split_size", "run_split", "map_leaves", "auto_chunk", "bytes_per_spectrum", "device_memory",
           "enable_compile_cache", "setup_jax", "ENV_CPU_DEVICES", "ENV_CACHE_DIR",
           "MIN_PER_DEVICE", "CPU_CHUNK_PER_DEVICE"]

ENV_CPU_DEVICES = "FASTFIT_CPU_DEVICES"
ENV_CACHE_DIR = "FASTFIT_CACHE_DIR"
MIN_PER_DEVICE = 256          # fewer spectra per device: use fewer devices (compile > gain)
CPU_CHUNK_PER_DEVICE = 1024   # cache-friendly chunk on CPU: 1,024 fitted 10,000 spectra 15-18 %
                              # faster than 2,048 and 1.9x faster than 4,096 (2-core VM)
GPU_CHUNK_MAX = 1 << 16       # per-device cap on accelerators (bigger adds latency, not speed)
MEMORY_FRACTION = 0.5         # share of free accelerator memory one chunk may take
_DEFAULT_CPU_DEVICES = None   # None: JAX's own default (1); see benchmarks/results_scaling.md

_lock = threading.Lock()
_pools: dict[int, ThreadPoolExecutor] = {}


# ------------------------------------------------------------------ CPU host devices
def usable_cores() -> int:
    """Cores this process may run on (affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _parse_count(value, what: str) -> int:
    if isinstance(value, str):
        if value.strip().lower() == "auto":
            return usable_cores()
        try:
            value = int(value)
        except ValueError:
            raise FastfitError(f"{what} must be a positive integer or 'auto', got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise FastfitError(f"{what} must be a positive integer or 'auto', got {value!r}")
    return int(value)


def _backends_started() -> bool:
    from jax._src import xla_bridge

    return xla_bridge.backends_are_initialized()


def _user_chose() -> bool:
    import jax

    flags = os.environ.get("XLA_FLAGS", "")
    return ("xla_force_host_platform_device_count" in flags
            or jax.config.jax_num_cpu_devices != -1)


def configure(cpu_devices=None) -> int:
    """Choose the number of XLA host (CPU) devices fastfit fits on.

    Parameters
    ----------
    cpu_devices : int or "auto", optional
        Host devices to create (``"auto"``: one per usable core).  None leaves the
        current choice (the environment, or fastfit's default).

    Returns
    -------
    int : the number of CPU devices JAX has or will have (``cpu_devices=None``: has; this
    starts JAX).

    Must be called before JAX starts computing (before the first fit, or any JAX
    operation) -- afterwards the count is fixed, and asking for another one raises
    :class:`~fastfit.errors.FastfitError`.  Results do not depend on it.
    """
    import jax

    if cpu_devices is None:
        apply_cpu_default()
        return len(jax.devices("cpu"))          # starts JAX's CPU backend
    n = _parse_count(cpu_devices, "cpu_devices")
    with _lock:
        if _backends_started():
            have = len(jax.devices("cpu"))
            if have != n:
                raise FastfitError(f"cpu_devices={n}: JAX has already started with {have} CPU "
                                   "device(s); call fastfit's configure() before any fit or "
                                   "JAX operation, or set FASTFIT_CPU_DEVICES")
            return n
        jax.config.update("jax_num_cpu_devices", n)
    return n


def apply_cpu_default() -> None:
    """Apply ``$FASTFIT_CPU_DEVICES`` (or fastfit's default, if it has one and the user
    chose nothing) while JAX has not started; afterwards, and otherwise, do nothing.

    Call it before the first JAX computation (``fastfit.kernels`` does, on import).
    """
    import jax

    with _lock:
        if _backends_started():
            return
        env = os.environ.get(ENV_CPU_DEVICES, "").strip()
        if env:
            n = _parse_count(env, ENV_CPU_DEVICES)
        elif _DEFAULT_CPU_DEVICES is not None and not _user_chose():
            n = _parse_count(_DEFAULT_CPU_DEVICES, "default")
        else:
            return
        jax.config.update("jax_num_cpu_devices", n)


# --------------------------------------------------------------- splitting a chunk
def compute_devices() -> list:
    """The devices of JAX's default backend (GPUs if any, else the CPU host devices)."""
    import jax

    apply_cpu_default()
    return list(jax.devices())


def devices_for(n_spectra: int, devices: list | None = None) -> list:
    """Devices to split ``n_spectra`` over: all, or fewer so that each gets at least
    ``MIN_PER_DEVICE`` spectra (small fits stay on one device: one compile)."""
    devs = compute_devices() if devices is None else list(devices)
    k = max(1, min(len(devs), int(n_spectra) // MIN_PER_DEVICE))
    return devs[:k]


def split_size(n_spectra: int, n_devices: int) -> int:
    """Padded chunk size for ``n_spectra`` on ``n_devices``: the per-device bucket
    (:func:`fastfit._batch.bucket_size`) times the number of devices."""
    from ._batch import bucket_size

    per = -(-int(n_spectra) // int(n_devices))
    return bucket_size(per) * int(n_devices)


def _pool(n: int) -> ThreadPoolExecutor:
    with _lock:
        if n not in _pools:
            _pools[n] = ThreadPoolExecutor(n, thread_name_prefix="fastfit-device")
        return _pools[n]


def run_split(fn: Callable[[slice], Any], n: int, devices: list):
    """Run ``fn`` on equal slices of a padded chunk of ``n`` spectra, one per device.

    ``fn(sl)`` computes the slice ``sl`` of the chunk and returns a dict or a NamedTuple
    of arrays with the batch first; it runs with ``jax.default_device`` set to that
    slice's device.  Returns the slices' outputs as numpy arrays, concatenated in order,
    in the container ``fn`` returned.
    """
    import jax

    D = len(devices)
    if n % D:
        raise ValueError(f"chunk of {n} spectra does not split over {D} devices")
    per = n // D

    def one(k: int):
        with jax.default_device(devices[k]):
            return map_leaves(fn(slice(k * per, (k + 1) * per)), np.asarray)

    if D == 1:
        return one(0)
    parts = list(_pool(D).map(one, range(D)))
    if isinstance(parts[0], dict):
        return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    return type(parts[0])(*(np.concatenate(leaves) for leaves in zip(*parts)))


def map_leaves(out, f):
    """``f`` applied to every array of a dict or NamedTuple, same container back."""
    if isinstance(out, dict):
        return {name: f(v) for name, v in out.items()}
    return type(out)(*(f(v) for v in out))


# ------------------------------------------------------------------- chunk size
def bytes_per_spectrum(n_freq: int, n_params: int, n_combos: int = 0, n_coef: int = 0) -> int:
    """Peak device memory of the fit pipeline per spectrum, bytes (conservative).

    Calibrated on the compiled programs' ``memory_analysis()`` (jax 0.10.2, XLA:CPU) for
    R0-p(R1,CPE1)-p(R2,CPE2), F = 59, 595 time-constant pairs: start scan 91 KB temporaries
    per spectrum, LM iteration 14 KB + 3 KB arguments.  Model: start scan (NC tuples of
    C coefficients) 8 NC (2 C^2 + 1), LM 8 F (4 P + 12), arguments and states kept
    between stages 8 (4 F + 16 P), all times a safety factor 1.5.
    """
    F, P, NC, C = int(n_freq), int(n_params), int(n_combos), int(n_coef)
    scan = 8 * NC * (2 * C * C + 1)
    lm = 8 * F * (4 * P + 12)
    keep = 8 * (4 * F + 16 * P)
    return int(1.5 * (max(scan, lm) + keep))


def device_memory(device) -> int | None:
    """Bytes a new chunk may use on ``device``: free accelerator memory (JAX's pool limit
    minus what is in use); None where the device does not say (CPU)."""
    try:
        stats = device.memory_stats()
    except Exception:  # noqa: BLE001  (backends without statistics raise various errors)
        return None
    if not stats or "bytes_limit" not in stats:
        return None
    return max(0, int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0)))


def auto_chunk(n_freq: int, n_params: int, n_combos: int = 0, n_coef: int = 0,
               devices: list | None = None) -> int:
    """Spectra per compiled call when the user gives no ``chunk`` (all devices together).

    CPU: ``CPU_CHUNK_PER_DEVICE`` per device (chunks of ~2,000 stay in cache and beat
    huge batches).  Accelerators: the largest power of two (1,024 to ``GPU_CHUNK_MAX``)
    whose :func:`bytes_per_spectrum` fits ``MEMORY_FRACTION`` of the device's free memory.
    """
    devs = compute_devices() if devices is None else list(devices)
    per = CPU_CHUNK_PER_DEVICE
    if devs and devs[0].platform != "cpu":
        free = min((m for m in map(device_memory, devs) if m is not None), default=None)
        if free is not None:
            fit = int(MEMORY_FRACTION * free) // bytes_per_spectrum(n_freq, n_params, n_combos, n_coef)
            per = 1 << max(10, min(GPU_CHUNK_MAX.bit_length() - 1, max(fit, 1).bit_length() - 1))
    return per * max(1, len(devs))


# --------------------------------------------------------------- compile cache
def enable_compile_cache(path=None, min_compile_time_s: float = 0.0) -> Path | None:
    """Keep compiled programs on disk so that a new process does not compile again.

    Parameters
    ----------
    path : str or Path, optional
        Cache folder; default ``$FASTFIT_CACHE_DIR``, else ``~/.cache/fastfit/jax``.
    min_compile_time_s : float
        Programs that compiled faster than this are not stored (0: store all; the fit
        pipeline is a handful of programs, all worth keeping).

    Returns
    -------
    Path of the cache, or None where it cannot be used (read-only home...).

    JAX keys entries by program, jax/jaxlib version, XLA flags and device; a stale entry
    is never used, so the folder can be deleted at any time.
    """
    import jax

    folder = Path(path or os.environ.get(ENV_CACHE_DIR) or Path.home() / ".cache" / "fastfit" / "jax")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            return None
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_s))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    try:  # JAX decides once, at the first compile: make it look again
        from jax._src import compilation_cache as _cc

        if getattr(_cc, "_cache_checked", False) or getattr(_cc, "_cache_initialized", False):
            cur = getattr(_cc, "_cache", None)
            if cur is None or str(getattr(cur, "_path", "")) != str(folder):
                _cc.reset_cache()
    except (ImportError, AttributeError):
        pass
    return folder


def setup_jax() -> None:
    """Prepare JAX for a command-line run: the persistent compilation cache for every
    program (:func:`enable_compile_cache`), so a second run does not compile again, and
    float64."""
    import jax

    enable_compile_cache()          # None (no cache) on a read-only home: runs, compiles
    jax.config.update("jax_enable_x64", True)
