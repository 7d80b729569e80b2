"""Benchmarks live in ``bench_<topic>.py`` files: collect them too.

Run all: ``pytest benchmarks --benchmark-only`` (see the Makefile's ``bench`` target).
"""
from __future__ import annotations

import pytest


def pytest_collect_file(parent, file_path):
    # files named on the command line are collected by pytest itself
    if (file_path.suffix == ".py" and file_path.name.startswith("bench_")
            and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
