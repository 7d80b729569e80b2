"""``fastfit serve``: the live dashboard of a store in the browser (docs/dashboard.md).

``fastfit serve run.h5`` serves http://127.0.0.1:8050/ until Ctrl-C or SIGTERM.
``fastfit stream ... --dashboard [HOST:]PORT`` runs this command as a child process with
``--stream-stats`` (``fastfit.serve.DashboardProcess``): it then also reads the stream's
counters (JSON lines) from standard input, stops when that input closes, and runs at a
lower CPU priority so that the stream's fits come first.
"""
from __future__ import annotations

import click

__all__ = ["run_serve"]


def _read_stats(dash, stream) -> None:
    """Stream counters from the parent, one JSON object per line, until EOF."""
    import json

    for line in stream:
        try:
            stats = json.loads(line)
        except ValueError:
            continue
        if isinstance(stats, dict):
            dash.update_stream(stats)


def _warm_up() -> None:
    """Import and configure JAX (model curves, KK residuals) before the first request,
    off the request path; a failure only means the first request does it."""
    try:
        from .._devices import setup_jax
        from ..circuit import Circuit

        setup_jax()
        Circuit("R0-p(R1,CPE1)")
    except Exception:                 # noqa: BLE001 - a warm-up is an optimisation
        pass


def run_serve(store, *, port, host, run, poll, stream_stats) -> int:
    """Serve until interrupted (or, with ``stream_stats``, until stdin closes)."""
    import os
    import signal
    import threading

    from ..serve import Dashboard, loopback_warning

    warning = loopback_warning(host)
    if warning:
        click.echo(f"fastfit serve: {warning}", err=True)
    if stream_stats and hasattr(os, "nice"):
        os.nice(10)                 # beside a stream, the stream's fits come first
    done = threading.Event()
    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old[sig] = signal.signal(sig, lambda *_: done.set())
        except ValueError:                          # not the main thread (tests)
            pass
    try:
        return _serve(Dashboard(store, host=host, port=port, run=run, poll=poll), store,
                      done, stream_stats)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _serve(dash, store, done, stream_stats: bool) -> int:
    """Start ``dash``, print its URL (the first line on stdout: `DashboardProcess` waits
    for it) and wait for ``done`` (a signal, or the end of the stream's input)."""
    import sys
    import threading
    import time

    dash.start()
    click.echo(f"fastfit serve: {dash.url} (store {store}; "
               f"{'stops with the stream' if stream_stats else 'Ctrl-C stops'})")
    sys.stdout.flush()
    warm = threading.Thread(target=_warm_up, name="fastfit-dashboard-warmup", daemon=True)
    warm.start()
    if stream_stats:
        def lifeline():
            try:
                _read_stats(dash, sys.stdin)
            finally:
                done.set()

        threading.Thread(target=lifeline, name="fastfit-dashboard-stats", daemon=True).start()
    try:
        while not done.wait(0.5):
            pass
        if stream_stats:                            # the stream ended: show its final state
            dash.view.refresh()
            dash.update_stream({**(dash.status().get("stream") or {}), "running": False})
            time.sleep(0.5)
    finally:
        dash.stop()              # also waits for a model computation in progress
        # a thread still inside JAX (import, compile) when the interpreter shuts down
        # can crash it (SIGABRT/SIGSEGV seen at exit): let the warm-up finish first
        warm.join(timeout=60)
    return 0
