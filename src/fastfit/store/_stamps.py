"""What a store records about the making of its file and runs: time and fastfit version."""
from __future__ import annotations

from datetime import datetime, timezone

from .._version import __version__

__all__ = ["created_now", "fastfit_version"]


def created_now() -> str:
    """Now, UTC, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def fastfit_version() -> str:
    return __version__
