"""Entry point of the ``frailtrial`` command; registers the command groups.

The command modules import only typer and the standard library at their top; each command
imports its layer (pandas, the protocol models, numba, Django...) when it runs, so that
``frailtrial --version``, ``--help`` and light commands start fast (tests/test_cli_startup.py).
"""

from __future__ import annotations

import atexit
import functools
import gc
import os
import sys
import threading

import typer

from frailtrial import __version__
from frailtrial.errors import InputError

app = typer.Typer(
    name="frailtrial",
    help="Run and analyse randomized, placebo-controlled cell-therapy trials for aging frailty.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"frailtrial {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """frailtrial: from the protocol to the publication's tables."""


def _register() -> None:
    """Attach every command group (one module each under frailtrial.cli)."""
    from frailtrial.cli import (
        analyze,
        audit,
        demo,
        design,
        edc,
        protocol,
        randomization,
        replicate,
        score,
        serve,
        simulate,
        stats,
        web,
    )

    app.command("demo")(demo.demo_command)
    app.add_typer(protocol.app, name="protocol")
    app.command("simulate")(simulate.simulate)
    app.add_typer(randomization.app, name="randomization")
    app.command("score", context_settings=score.CONTEXT_SETTINGS)(score.score)
    app.command("analyze")(analyze.analyze_command)
    app.command("replicate")(replicate.replicate_command)
    app.add_typer(stats.app, name="stats")
    app.add_typer(design.app, name="design")
    app.add_typer(edc.app, name="edc")
    app.add_typer(audit.app, name="audit")
    app.command("serve")(serve.serve)
    app.add_typer(web.app, name="web")


_register()


# optional dependencies: top-level module -> the extra that installs it
EXTRAS = {
    "psycopg": "postgres",
    "psycopg2": "postgres",
    "dask": "dask",
    "distributed": "dask",
    "statsmodels": "bench",
}


def missing_module(exc: ModuleNotFoundError) -> str:
    """One line naming the package a command needs and how to install it."""
    top = (exc.name or "?").partition(".")[0]
    extra = EXTRAS.get(top)
    how = f"pip install 'frailtrial[{extra}]'" if extra else "reinstall frailtrial (make install)"
    return f"error: this command needs the Python package {top!r}, which is not installed; {how}"


def failed_import(exc: BaseException | None) -> ModuleNotFoundError | None:
    """The package import at the root of ``exc`` (deepest in its chain of causes: Django, for
    one, reports a missing database driver as ImproperlyConfigured), unless it is ours."""
    found, seen = None, set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ModuleNotFoundError):
            found = exc
        exc = exc.__cause__ or exc.__context__
    if found is None or (found.name or "").partition(".")[0] == "frailtrial":
        return None  # a module of our own missing is a bug, not an installation to fix
    return found


def run() -> None:
    """Console-script entry: user mistakes become one line on stderr and exit status 2, and
    so does a missing dependency (commands import their libraries only when they run).

    The cyclic garbage collector is off while the command runs. Its passes over the
    million objects that pandas, scipy and numba create when imported took 0.3-0.4 s of
    each ``analyze`` (four full collections) and freed almost nothing: reference counting
    frees the rest. Measured peak memory with and without: ``demo`` 284 / 292 MB,
    ``analyze`` of 3,000 participants 287 / 297 MB. ``serve`` turns it back on for its
    long-lived workers, and so does run() when it returns (tests and embedding programs
    call it in their own long-lived process)."""
    try:
        _command()
    finally:
        gc.enable()


def _command() -> None:
    """The command line's command, the collector off (see :func:`run`)."""
    _no_final_collection()
    gc.disable()  # a command is a batch of seconds: no cyclic collection while it runs
    try:
        app()
    except InputError as exc:  # one line per problem (a dataset may report several)
        for line in str(exc).splitlines() or [""]:
            sys.stderr.write(f"error: {line}\n")
        sys.exit(2)
    except Exception as exc:
        missing = failed_import(exc)
        if missing is None:
            raise
        sys.stderr.write(missing_module(missing) + "\n")
        sys.exit(2)


def console() -> None:
    """The ``frailtrial`` command (and ``python -m frailtrial``): :func:`run`, then the exit
    handlers, then the process ends without the interpreter's teardown.

    That teardown releases every object the imported libraries made, one by one: 0.14 s
    after each ``analyze``, for memory the operating system frees at once. Every file the
    commands write is closed by then (``with`` blocks, pandas, python-docx), the database
    connections are closed by an exit handler, and standard output and error are flushed
    here. With another thread alive (its work would be cut short) or an exception other
    than an exit (its traceback), the interpreter exits as usual. The collector stays off
    to the end: turned on, its first pass would walk every object the command made (0.09 s
    after ``analyze``)."""
    try:
        _command()
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code
    if threading.active_count() > 1:
        sys.exit(code)
    if isinstance(code, str):  # sys.exit("message"): printed, status 1
        sys.stderr.write(code + "\n")
        code = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


@functools.cache  # once a process (tests call run() many times)
def _no_final_collection() -> None:
    """At exit, after the other exit handlers, close the Django database connections and
    move every object to the collector's permanent generation: the interpreter's last full
    collection (0.5 s of CPU after ``analyze``, mostly over numba's, pandas' and the
    results' objects) is skipped and the operating system frees the memory. Exit handlers
    and the release of every object still referenced run as before; a SQLite store is
    closed (its write-ahead log folded back into the file) explicitly, since Django's
    connection objects are reference cycles that only that collection would have closed."""
    atexit.register(_close_and_freeze)  # registered before the command's imports: runs last


def _close_and_freeze() -> None:
    django_db = sys.modules.get("django.db")
    if django_db is not None and sys.modules["django.conf"].settings.configured:
        django_db.connections.close_all()
    gc.freeze()


if __name__ == "__main__":
    run()
