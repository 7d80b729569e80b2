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
    code = ("import fastfit, fastfit.kernels as k; print(fastfit.__file__); "
            "import numpy as np; c = fastfit.Circuit('R0-p(R1,C1)'); "
            "print(abs(c.impedance([1.0], [1.0, 1.0, 1.0])[0]))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(target)}, cwd=tmp_path).stdout
    assert out.splitlines()[0].startswith(str(target))
