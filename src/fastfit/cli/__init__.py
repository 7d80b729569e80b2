"""The ``fastfit`` command line (console script ``fastfit = fastfit.cli:main``).

Only click is imported here, so ``fastfit --help`` is instant; JAX, h5py and matplotlib are
imported by the command bodies (``_fit``, ``_commands``) when a command runs.

Errors: bad arguments and bad input files (click usage errors and every
:class:`fastfit.errors.FastfitError`) print one line ``fastfit CMD: error: ...`` and exit
with status 2; ``--debug`` shows the traceback instead.  Ctrl-C exits with 130.
"""
from __future__ import annotations

import sys

import click

__all__ = ["main", "cli"]

_DEBUG_HELP = "Show full tracebacks instead of one-line errors."


class _Group(click.Group):
    """Click group that turns errors into one line and exit status 2, and imports the
    modules of ``_LAZY`` commands only when they run or help is shown."""

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *_LAZY})

    def get_command(self, ctx, name):
        if name in _LAZY and name not in self.commands:
            import importlib

            module, attr = _LAZY[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), name=name)
        return super().get_command(ctx, name)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv
        try:
            rv = super().main(args=argv, prog_name=prog_name or "fastfit",
                              complete_var=complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:       # --help, --version
            code = exc.exit_code
        except click.ClickException as exc:        # usage errors, bad paths, bad values
            if debug:
                raise
            where = exc.ctx.command_path if getattr(exc, "ctx", None) else "fastfit"
            msg = " ".join(exc.format_message().split())
            click.echo(f"{where}: error: {msg}", err=True)
            code = 2
        except click.exceptions.Abort:
            click.echo("fastfit: aborted", err=True)
            code = 130
        except KeyboardInterrupt:
            click.echo("fastfit: interrupted (re-run the same command to resume)", err=True)
            code = 130
        except Exception as exc:                   # noqa: BLE001 - mapped to exit codes
            if debug:
                raise
            from ..errors import FastfitError

            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            cmd = _command_name(argv)
            if isinstance(exc, FastfitError):
                reason = getattr(exc, "reason", None)
                text = getattr(exc, "text", "")
                if reason is not None and text:      # circuit syntax: keep it on one line
                    first = f"{reason} at column {exc.position} of circuit {text!r}"
                click.echo(f"{cmd}: error: {first}", err=True)
                code = 2
            else:
                click.echo(f"{cmd}: internal error: {type(exc).__name__}: {first} "
                           "(re-run with --debug for the traceback)", err=True)
                code = 1
        else:
            code = rv if isinstance(rv, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def _command_name(argv) -> str:
    cmd = next((a for a in argv if not a.startswith("-")), None)
    return f"fastfit {cmd}" if cmd in cli.commands or cmd in _LAZY else "fastfit"


# commands whose module is imported on use (``fastfit fit`` need not import asyncio...)
_LAZY = {"stream": "fastfit.stream.cli:stream_command"}


def _debug_option(f):
    return click.option("--debug", is_flag=True, hidden=False, help=_DEBUG_HELP)(f)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fastfit", prog_name="fastfit")
@_debug_option
def cli(debug):
    """fastfit: bulk impedance-spectrum analysis (equivalent-circuit fits, KK, DRT).

    Results go to an HDF5 store; re-running a killed command resumes it.
    """


_files = click.argument("files", nargs=-1, required=True,
                        type=click.Path(exists=True, dir_okay=False))
_quiet = click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
_store_out = click.option("-o", "--out", type=click.Path(dir_okay=False), default=None,
                          help="Also store the results in this HDF5 store.")
_chunk = click.option("--chunk", type=click.IntRange(1, 1_000_000), default=2000,
                      show_default=True, help="Spectra per batch (bounds memory).")
# user elements (fastfit.element): on every command that parses circuits
element_module = click.option(
    "--element-module", "element_modules", multiple=True, metavar="FILE.py",
    type=click.Path(exists=True, dir_okay=False),
    help="Python file that registers user circuit elements with fastfit.element "
         "(imported before the circuit is parsed; repeatable).")


def load_element_modules(paths) -> None:
    """Import every ``--element-module`` file (errors: ElementError, exit status 2)."""
    if paths:
        from ..elements import load_module

        for path in paths:
            load_module(path)


@cli.command()
@_files
@click.option("-c", "--circuit", "circuits", required=True, multiple=True,
              help='Circuit string, e.g. "R0-p(R1,CPE1)". Give it several times to fit every '
                   'candidate and choose one per spectrum (see --criterion).')
@click.option("--criterion", type=click.Choice(["bic", "aic", "aicc"]), default="bic",
              show_default=True, help="With several --circuit: what chooses the circuit.")
@click.option("-o", "--out", type=click.Path(dir_okay=False), default=None,
              help="HDF5 store to write (created or resumed); defaults to the input store "
                   "when FILES is one .h5 store.")
@click.option("--run", "run_name", default="fit", show_default=True,
              help="Name of the analysis run inside the store.")
@click.option("--area-cm2", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Electrode area in cm^2 (recorded; reports show area-specific values).")
@click.option("--kk", "kk_threshold", type=click.FloatRange(min=0, min_open=True),
              default=None, help="Run lin-KK first and exclude points whose relative "
                                 "residual exceeds this value (e.g. 0.05).")
@click.option("--weight", type=click.Choice(["modulus", "proportional", "unit"]),
              default="modulus", show_default=True, help="Residual weighting.")
@_chunk
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help='Fit on a Dask cluster: a scheduler address such as tcp://host:8786, or '
                   '"local" for a local cluster. Workers read the input files (paths must be '
                   'readable there); results go to the same store as without it.')
@element_module
@_quiet
@_debug_option
def fit(files, circuits, criterion, out, run_name, area_cm2, kk_threshold, weight, chunk,
        scheduler, element_modules, quiet, debug):
    """Fit CIRCUIT to every spectrum in FILES and store the results.

    FILES are instrument files (anything `fastfit info` can read) or fastfit stores.
    Results are written chunk by chunk; re-running the same command after an
    interruption continues where it stopped.  With --scheduler the fits run on a Dask
    cluster (one piece per input file, or per --chunk spectra of an input store) and
    this process gathers them into the same store, with the same numbers.

    With several --circuit, every candidate is fitted to every spectrum (runs RUN.0,
    RUN.1, ... hold their fits) and run RUN records the circuit chosen per spectrum
    by --criterion, with the weights (fastfit.compare; `fastfit report` shows the
    choice over time).
    """
    from ._fit import run_compare, run_fit

    if len(circuits) > 1:
        if scheduler is not None:
            raise click.UsageError("--scheduler fits one --circuit at a time")
        load_element_modules(element_modules)
        return run_compare(files, circuits=list(circuits), criterion=criterion, out=out,
                           run=run_name, area_cm2=area_cm2, kk_threshold=kk_threshold,
                           weight=weight, chunk=chunk, quiet=quiet)
    return run_fit(files, circuit=circuits[0], out=out, run=run_name, area_cm2=area_cm2,
                   kk_threshold=kk_threshold, weight=weight, chunk=chunk, quiet=quiet,
                   scheduler=scheduler, element_modules=element_modules)


@cli.command()
@_files
@_store_out
@click.option("--run", "run_name", default="kk", show_default=True)
@click.option("--threshold", type=click.FloatRange(min=0, min_open=True), default=0.05,
              show_default=True, help="Relative residual above which a point is flagged.")
@click.option("--representation", type=click.Choice(["impedance", "admittance", "auto"]),
              default="impedance", show_default=True,
              help="Test Z, Y = 1/Z (blocking electrodes, capacitive tails), or per "
                   "spectrum the one with the lower pseudo-chi2.")
@_chunk
@_quiet
@_debug_option
def kk(files, out, run_name, threshold, representation, chunk, quiet, debug):
    """Kramers-Kronig (lin-KK) validity test of every spectrum in FILES."""
    from ._commands import run_kk

    return run_kk(files, out=out, run=run_name, threshold=threshold,
                  representation=representation, chunk=chunk, quiet=quiet)


@cli.command()
@_files
@_store_out
@click.option("--run", "run_name", default="zhit", show_default=True)
@click.option("--threshold", type=click.FloatRange(min=0, min_open=True), default=0.02,
              show_default=True,
              help="Smallest tolerance on the smoothed relative |Z| residual (it grows "
                   "with the noise, see fastfit.zhit).")
@_chunk
@_quiet
@_debug_option
def zhit(files, out, run_name, threshold, chunk, quiet, debug):
    """Z-HIT test of every spectrum in FILES: |Z| reconstructed from the phase."""
    from ._commands import run_zhit

    return run_zhit(files, out=out, run=run_name, threshold=threshold, chunk=chunk,
                    quiet=quiet)


@cli.command()
@_files
@_store_out
@click.option("--run", "run_name", default="drt", show_default=True)
@click.option("--lam", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Regularisation parameter (default: chosen per spectrum).")
@click.option("--sign", type=click.Choice(["nonnegative", "free", "auto"]),
              default="nonnegative", show_default=True,
              help="Constraint on gamma; auto: negative where Im Z turns inductive "
                   "(low-frequency loops).")
@click.option("--band", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
              default=None, help="Also compute the credible band of gamma at this level "
                                 "(e.g. 0.95), stored as the run's drt_band table.")
@_chunk
@_quiet
@_debug_option
def drt(files, out, run_name, lam, sign, band, chunk, quiet, debug):
    """Distribution of relaxation times of every spectrum in FILES."""
    from ._commands import run_drt

    return run_drt(files, out=out, run=run_name, lam=lam, sign=sign, band=band, chunk=chunk,
                   quiet=quiet)


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_debug_option
def info(file, debug):
    """Describe an instrument file or a fastfit store."""
    from ._commands import run_info

    return run_info(file)


@cli.command()
@click.argument("store", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default="report",
              show_default=True, help="Directory for the PNGs and report.html.")
@click.option("--run", "run_name", default=None, help="Only this run (default: all).")
@element_module
@_debug_option
def report(store, out_dir, run_name, element_modules, debug):
    """Write PNG plots and one self-contained report.html for a store."""
    from ..report import write_report
    from ._common import echo, setup_jax

    setup_jax()
    load_element_modules(element_modules)
    path = write_report(store, out_dir, run=run_name)
    echo(f"fastfit report: wrote {path}")
    return 0


@cli.command()
@click.argument("store", type=click.Path(dir_okay=False))
@click.option("-p", "--port", type=click.IntRange(0, 65535), default=8050, show_default=True,
              help="TCP port (0: a free one, printed).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but a loopback address exposes the "
                   "store to the network (a warning is printed).")
@click.option("--run", "run_name", default=None,
              help="Fit run shown first (default: the last fit run; the page can switch).")
@click.option("--poll", type=click.FloatRange(min=0.02), default=0.2, show_default=True,
              help="Seconds between looks at the store file.")
@click.option("--stream-stats", is_flag=True, hidden=True,
              help="Read stream counters (JSON lines) from stdin; stop at its end.")
@_debug_option
def serve(store, port, host, run_name, poll, stream_stats, debug):
    """Serve a live dashboard of STORE at http://127.0.0.1:PORT/.

    The page shows the newest spectrum (Nyquist, Bode) with its fit and the points the
    KK test excluded, every fitted and derived parameter over time with error bars, the
    KK residuals of the newest spectrum and the counts; it updates by itself while
    another process (e.g. fastfit stream) writes STORE, which is only read.  JSON API:
    /api/status, /api/params?run=NAME, /api/spectrum/INDEX (docs/dashboard.md).
    """
    from ._serve import run_serve

    return run_serve(store, port=port, host=host, run=run_name, poll=poll,
                     stream_stats=stream_stats)


def main(argv=None) -> int:
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="fastfit")


if __name__ == "__main__":  # pragma: no cover
    main()
