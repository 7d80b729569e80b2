"""``fastfit stream``: fit spectra live, one line per spectrum, resumable.

SOURCE is one of

* ``PATH`` -- a text file an instrument or exporter is writing (EC-Lab ``.mpt`` or a
  CSV / tab table); followed until ``--until-idle`` seconds pass without new data, or
  Ctrl-C;
* ``tcp://127.0.0.1:PORT`` (or ``tcp:PORT``) -- listen on a loopback port for the line
  protocol (``fastfit.stream.SocketSource``); port 0 picks a free one (printed);
* ``replay:PATH`` -- replay a recorded file at ``--rate`` points/s;
* ``synthetic:geis[:N]`` -- a simulated drifting GEIS dissolution run of N sweeps.

Ctrl-C (SIGINT) or SIGTERM stop cleanly: every complete spectrum is stored and fitted,
then the command exits with status 130; a second Ctrl-C aborts at once.  Running the
same command again on the same store resumes without storing or fitting anything twice.
"""
from __future__ import annotations

import asyncio
import re
import signal
import time

import click

from ..cli import element_module, load_element_modules

__all__ = ["stream_command", "make_source", "main"]

_TCP = re.compile(r"^tcp:(?://)?(?:(?P<host>[^:/]+):)?(?P<port>\d+)/?$")


def make_source(spec: str, *, until_idle=None, rate=None, fmt="auto"):
    """The Source named by a SOURCE argument of ``fastfit stream``."""
    from . import FileSource, SocketSource, replay, synthetic_geis

    m = _TCP.match(spec)
    if m:
        host = m.group("host") or "127.0.0.1"
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise click.BadParameter(f"{spec}: the stream socket listens on loopback "
                                     "addresses only (127.0.0.1)", param_hint="SOURCE")
        return SocketSource(int(m.group("port")), host, until_idle=until_idle)
    if spec.startswith("replay:"):
        path = spec[len("replay:"):]
        return replay(path, rate=rate)
    if spec.startswith("synthetic:"):
        parts = spec.split(":")
        if parts[1] != "geis" or len(parts) > 3 or (len(parts) == 3 and not parts[2].isdigit()):
            raise click.BadParameter(f"{spec}: expected synthetic:geis or synthetic:geis:N",
                                     param_hint="SOURCE")
        return synthetic_geis(int(parts[2]) if len(parts) == 3 else 20, rate=rate)
    return FileSource(spec, until_idle=until_idle, format=fmt)


class _View:
    """Live view: one line per spectrum on stdout, a status line on stderr."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.t0 = time.monotonic()
        self.progress = None
        if not quiet:
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn

            self.out = Console(highlight=False, soft_wrap=True)
            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                     console=Console(stderr=True), transient=True)
            self.task = self.progress.add_task("waiting for data", total=None)

    def result(self, r) -> None:
        if not self.quiet:
            self.out.print(r.line(), highlight=False)

    def notice(self, msg: str) -> None:
        if not self.quiet:
            click.echo(f"fastfit stream: {msg}", err=True)

    def status(self, pipe) -> None:
        if self.quiet:
            return
        sm = pipe.summary
        dt = max(time.monotonic() - self.t0, 1e-9)
        stored = sm.n_stored
        lat = sm.latencies[-50:]
        lat_txt = f" | latency {1e3 * sorted(lat)[len(lat) // 2]:.0f} ms" if lat else ""
        self.progress.update(self.task, description=(
            f"{sm.n_points} points ({sm.n_points / dt:,.0f}/s) | {stored} spectra stored | "
            f"{pipe.pending} being fitted{lat_txt}"))


async def _main(source, pipe, view, quiet, dashboard=None):
    loop = asyncio.get_running_loop()
    stops = []

    def on_signal(signum):
        if stops:
            loop.remove_signal_handler(signal.SIGINT)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            return
        stops.append(signum)
        view.notice("stopping: storing every complete spectrum (Ctrl-C again to abort)")
        pipe.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
        except (NotImplementedError, RuntimeError, ValueError):   # not the main thread
            pass

    async def ticker():
        announced = False
        while True:
            view.status(pipe)
            if dashboard is not None:
                dashboard.tick()
            port = getattr(source, "port", None)
            if not announced and getattr(source, "ready", None) is not None and source.ready.is_set():
                view.notice(f"listening on {source.host}:{port}")
                announced = True
            await asyncio.sleep(0.2)

    tick = asyncio.ensure_future(ticker())
    try:
        if view.progress is not None:
            with view.progress:
                summary = await pipe.run(source)
        else:
            summary = await pipe.run(source)
    finally:
        tick.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
    return summary, bool(stops)


@click.command("stream")
@click.argument("source")
@click.option("-c", "--circuit", default=None,
              help='Circuit string, e.g. "R0-p(R1,CPE1)"; without it spectra are only stored.')
@click.option("-s", "--store", "store", required=True, type=click.Path(dir_okay=False),
              help="HDF5 store to write (created, or resumed when it exists).")
@click.option("--run", "run_name", default="stream", show_default=True,
              help="Name of the fit run inside the store.")
@click.option("--until-idle", type=click.FloatRange(min=0), default=None,
              help="File / socket sources: stop after this many seconds without new data.")
@click.option("--kk", "kk_threshold", type=click.FloatRange(min=0, min_open=True),
              default=None, help="Run lin-KK first and exclude points whose relative "
                                 "residual exceeds this value (e.g. 0.05).")
@click.option("--drt", is_flag=True, help="Also compute and store the DRT of each spectrum.")
@click.option("--weight", type=click.Choice(["modulus", "proportional", "unit"]),
              default="modulus", show_default=True, help="Residual weighting.")
@click.option("--no-warm-start", is_flag=True,
              help="Do not start fits from the previous spectrum (bulk-identical results).")
@click.option("--format", "fmt", type=click.Choice(["auto", "biologic_mpt", "table"]),
              default="auto", show_default=True, help="File sources: the file format.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="replay: / synthetic: sources: points per second (default: as fast "
                   "as possible).")
@click.option("--gap", "gap_s", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Start a new spectrum after a pause longer than this in the time column (s).")
@click.option("--area-cm2", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Electrode area in cm^2 (recorded with the run).")
@click.option("--dashboard", metavar="[HOST:]PORT", default=None,
              help="Also serve a live page of the store (fastfit serve) at this address; "
                   "HOST defaults to 127.0.0.1 (another one prints a warning). It runs in "
                   "its own process: stopping it never affects the stream.")
@click.option("-q", "--quiet", is_flag=True, help="No live view; only the final summary.")
@element_module
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
def stream_command(source, circuit, store, run_name, until_idle, kk_threshold, drt, weight,
                   no_warm_start, fmt, rate, gap_s, area_cm2, dashboard, element_modules, quiet,
                   debug):
    """Fit spectra from SOURCE live as they are measured, into STORE.

    SOURCE: a file being written (followed), tcp://127.0.0.1:PORT (line protocol),
    replay:FILE or synthetic:geis[:N].  One line per spectrum is printed as its fit is
    stored.  Ctrl-C stops after storing every complete spectrum (exit status 130); the
    same command on the same store resumes.
    """
    from ..circuit import Circuit
    from ._pipeline import Pipeline

    load_element_modules(element_modules)                 # user elements, then the circuit
    circ = Circuit(circuit) if circuit else None          # syntax errors first
    src = make_source(source, until_idle=until_idle, rate=rate, fmt=fmt)
    if circ is not None:
        from .._devices import setup_jax

        setup_jax()
    view = _View(quiet)
    dash = None
    if dashboard:
        from ..serve import StreamDashboard

        dash = StreamDashboard(dashboard, store, run_name if circ else None,
                               notice=lambda msg: click.echo(f"fastfit stream: {msg}", err=True))
    try:                                    # the dashboard's child stops on every exit
        pipe = Pipeline(circ, store, run=run_name, weight=weight, kk=kk_threshold,
                        drt=bool(drt), warm_start=not no_warm_start,
                        on_result=[view.result] + ([dash.result] if dash else []),
                        on_notice=view.notice, gap_s=gap_s, area_cm2=area_cm2,
                        keep_results=False)
        t0 = time.monotonic()
        if dash is not None:
            dash.pipe = pipe
        summary, stopped = asyncio.run(_main(src, pipe, view, quiet, dash))
    finally:
        if dash is not None:
            dash.close()
    c = summary.counts
    parts = [f"{c[k]} {k}" for k in ("fitted", "stored", "resumed", "partial", "failed",
                                      "incomplete") if c.get(k)]
    lat = sorted(summary.latencies)
    lat_txt = (f"; latency median {1e3 * lat[len(lat) // 2]:.0f} ms, max {1e3 * lat[-1]:.0f} ms"
               if lat else "")
    click.echo(f"fastfit stream: {summary.n_points} points, {summary.n_stored} spectra in "
               f"{store} ({', '.join(parts) or 'none'}){lat_txt}; "
               f"{time.monotonic() - t0:.1f} s" + ("; stopped by signal, re-run to resume"
                                                   if stopped else ""), err=True)
    return 130 if stopped else 0


def main(argv=None) -> int:
    """Run the command on its own (``python -m fastfit.stream.cli``), with the error
    conventions of the ``fastfit`` group: one line and exit status 2 for bad input."""
    from ..errors import FastfitError

    try:
        rv = stream_command.main(args=argv, prog_name="fastfit stream", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"fastfit stream: error: {' '.join(exc.format_message().split())}", err=True)
        return 2
    except click.exceptions.Abort:
        return 130
    except FastfitError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        click.echo(f"fastfit stream: error: {first}", err=True)
        return 2
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":  # pragma: no cover - `python -m fastfit.stream.cli ...`
    import sys

    sys.exit(main())
