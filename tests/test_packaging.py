"""`pip install .` (non-editable) ships fastfit.kernels; the editable install does too."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_editable_install_exposes_kernels():
    import fastfit.kernels as k

    assert hasattr(k, "circuit_impedance")


def test_regular_install_ships_kernels(tmp_path):
    target = tmp_path / "site"
    build = tmp_path / "build"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q",
         "--target", str(target), str(ROOT)],
        check=True, cwd=tmp_path, env={**os.environ, "TMPDIR": str(build.parent)},
    )
    assert (target / "fastfit" / "kernels" / "__init__.py").is_file()
    assert (target / "fastfit" / "kernels" / "elements" / "__init__.py").is_file()
    for asset in ("index.html", "dashboard.js", "dashboard.css"):     # the dashboard page
        assert (target / "fastfit" / "serve" / "assets" / asset).is_file()
    code = ("import fastfit, fastfit.kernels as k; print(fastfit.__file__); "
            "import numpy as np; c = fastfit.Circuit('R0-p(R1,C1)'); "
            "print(abs(c.impedance([1.0], [1.0, 1.0, 1.0])[0]))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(target)}, cwd=tmp_path).stdout
    assert out.splitlines()[0].startswith(str(target))


def test_nothing_points_outside_the_repository():
    """Code, tests, benchmarks, examples and docs name no folder beside the repository
    (the real test data are bundled in tests/data)."""
    import re

    pattern = re.compile(r"\.\./shared|shared[/](data|notes)|[\"']shared[\"']\s*/|"
                         r"FASTFIT_[S]HARED_DATA|parents\[\d\]\.parent")
    bad = []
    for top in ("src", "kernels", "tests", "benchmarks", "examples", "docs"):
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix not in (".py", ".md", ".toml", ".cfg") or "data" in path.parts:
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if pattern.search(line) and path.name != "test_packaging.py":
                    bad.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not bad, "\n".join(bad)
