"""``frailtrial serve``: the web EDC on gunicorn (a production WSGI server, not runserver)."""

from __future__ import annotations

import gc
from typing import Any

import typer


def serve(
    db: str | None = typer.Option(
        None, "--db", help="Database URL (sqlite:///FILE or postgresql://...)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        max=64,
        help="Worker processes (default: 1 on SQLite, one writer at a time; 4 on PostgreSQL).",
    ),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=1,
        max=256,
        help="Threads per worker (default: 8 on SQLite; 2 on PostgreSQL, where saves queue on "
        "the audit chain's head and more threads only lengthen the queue).",
    ),
) -> None:
    """Serve the pages and the API; migrations run first. HTTPS: set FRAILTRIAL_SECURE=1."""
    from gunicorn.app.base import BaseApplication

    from frailtrial.web.config import setup

    url = setup(db)  # migrate once, in the parent, before workers fork
    sqlite = url.startswith("sqlite")
    n_workers = workers or (1 if sqlite else 4)
    # measured with benchmarks/load_crf.py on 2 cores, 4 workers on PostgreSQL: 2 threads a
    # worker gave 149-154 saves/s back to back (p95 ~0.5 s), 16 threads 104-152/s (p95 0.9-1.4 s)
    n_threads = threads or (8 if sqlite else 2)
    from django.db import connections

    connections.close_all()

    class Server(BaseApplication):
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                "workers": n_workers,
                "threads": n_threads,
                "worker_class": "gthread",
                "timeout": 120,
                "keepalive": 75,
                "accesslog": "-",
                # one-time tokens in addresses are replaced in the access log
                "logger_class": "frailtrial.web.access_log.RedactingLogger",
                "forwarded_allow_ips": "127.0.0.1",
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from frailtrial.web.wsgi import application_for

            return application_for(url)

    typer.echo(f"frailtrial EDC on http://{host}:{port}/ (store {url})", err=True)
    # the workers live long: collector on (run() turned it off for batch commands), after
    # moving what the parent imported to the permanent generation (no collection scans it,
    # so the forked workers share those pages instead of copying them)
    gc.freeze()
    gc.enable()
    Server().run()
