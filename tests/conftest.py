"""Test configuration: float64 JAX, the bundled real-data folder, shared fixtures."""
from __future__ import annotations

import os
from pathlib import Path

import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "standard")

ROOT = Path(__file__).resolve().parents[1]
# real measured spectra bundled with the tests (licences and sources: tests/data/README.md)
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="module")
def private_jax_cache(tmp_path_factory):
    """In-process CLI calls enable JAX's persistent cache: keep it in a temp dir for the
    module and switch it back afterwards (JAX config is process-wide)."""
    old_env = os.environ.get("FASTFIT_CACHE_DIR")
    old_dir = jax.config.jax_compilation_cache_dir
    os.environ["FASTFIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("jax-cache"))
    yield
    if old_env is None:
        os.environ.pop("FASTFIT_CACHE_DIR", None)
    else:
        os.environ["FASTFIT_CACHE_DIR"] = old_env
    jax.config.update("jax_compilation_cache_dir", old_dir)
