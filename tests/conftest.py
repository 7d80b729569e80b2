"""Test configuration: float64 JAX, the bundled real-data folder, shared fixtures."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "standard")

import multistart_reference  # noqa: E402

# scipy multistart references: stored results for unchanged inputs (multistart_reference)
multistart_reference.USE_STORE = True

ROOT = Path(__file__).resolve().parents[1]
# real measured spectra bundled with the tests (licences and sources: tests/data/README.md)
DATA = Path(__file__).resolve().parent / "data"


# One persistent JAX compilation cache for the whole test run, shared by the xdist workers
# and every subprocess they start (CLI, examples, scheduler workers): a program that one
# process compiled, another loads (the suite compiles the same fit programs in many
# files).  Private to the run (a temp folder, removed at the end).  JAX writes an entry
# in place: a process that reads one another is still writing gets a truncated entry,
# which JAX reports as a warning and compiles instead -- harmless, hence not an error here.
# ``FASTFIT_TEST_JAX_CACHE=folder`` uses (and keeps) that folder instead.
SESSION_CACHE_ENV = "FASTFIT_TEST_JAX_CACHE"


def pytest_configure(config):
    if not os.environ.get(SESSION_CACHE_ENV) and not hasattr(config, "workerinput"):
        folder = tempfile.mkdtemp(prefix="fastfit-test-jax-")
        os.environ[SESSION_CACHE_ENV] = folder          # xdist workers inherit it
        config._fastfit_cache_owner = folder
    folder = os.environ.get(SESSION_CACHE_ENV)
    if folder:
        os.environ["FASTFIT_CACHE_DIR"] = folder       # subprocesses, CLI calls
        jax.config.update("jax_compilation_cache_dir", folder)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        for what in ("reading", "writing"):
            config.addinivalue_line(
                "filterwarnings",
                f"ignore:Error {what} persistent compilation cache entry:UserWarning")


def pytest_unconfigure(config):
    folder = getattr(config, "_fastfit_cache_owner", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="module")
def private_jax_cache(tmp_path_factory):
    """In-process CLI calls enable JAX's persistent cache: keep it in a temp dir for the
    module and switch it back afterwards (JAX config is process-wide).  Under the test
    run's own cache (``pytest_configure``) nothing to do: that one is private already."""
    if os.environ.get(SESSION_CACHE_ENV):
        yield
        return
    old_env = os.environ.get("FASTFIT_CACHE_DIR")
    old_dir = jax.config.jax_compilation_cache_dir
    os.environ["FASTFIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("jax-cache"))
    yield
    if old_env is None:
        os.environ.pop("FASTFIT_CACHE_DIR", None)
    else:
        os.environ["FASTFIT_CACHE_DIR"] = old_env
    jax.config.update("jax_compilation_cache_dir", old_dir)
