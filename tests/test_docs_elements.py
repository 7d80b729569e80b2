"""docs/elements.md is generated from the element records and is current."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from fastfit.kernels import ELEMENTS

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_elements", DOCS / "gen_elements.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_element_page_is_current_and_lists_every_element():
    text = (DOCS / "elements.md").read_text()
    assert text == _generator().render(), "run: python docs/gen_elements.py"
    for sym, spec in ELEMENTS.items():
        assert f"| `{sym}` |" in text
        for name, unit in zip(spec.names, spec.units):
            assert f"`{sym}1{'_' + name if name else ''}`: {unit}" in text
