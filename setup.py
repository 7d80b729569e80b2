"""Package discovery: ``src/fastfit`` is ``fastfit``; top-level ``kernels/`` is ``fastfit.kernels``.

Metadata lives in pyproject.toml; this file only maps the two source trees so that both
``pip install .`` and ``pip install -e .`` ship ``fastfit.kernels`` and every subpackage.
"""
from setuptools import find_packages, setup

api = find_packages("src", include=["fastfit", "fastfit.*"])
kernels = ["fastfit.kernels"] + [f"fastfit.kernels.{p}" for p in find_packages("kernels")]
package_dir = {"fastfit": "src/fastfit", "fastfit.kernels": "kernels"}
setup(packages=api + kernels, package_dir=package_dir)
