"""docs/api.md is generated from the code by docs/gen_api.py and must match it."""
from __future__ import annotations

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_api", DOCS / "gen_api.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_api_reference_is_current():
    text = _generator().generate()
    assert (DOCS / "api.md").read_text(encoding="utf-8") == text, \
        "docs/api.md is out of date: run python docs/gen_api.py"


def test_api_reference_shows_signatures():
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    for entry in ("### `fit(freq, Z=None, circuit=None, *, p0=None", "### `kk(freq, Z=None, c=0.85",
                  "### `drt(freq, Z=None, lam=1e-06", "### `class Store(path, mode='a')`",
                  "## `fastfit.kernels`", "- `fit`: see `fastfit.fitting`"):
        assert entry in text, entry
