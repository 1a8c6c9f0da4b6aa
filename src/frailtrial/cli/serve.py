"""``frailtrial serve``: the web EDC on gunicorn (a production WSGI server, not runserver)."""

from __future__ import annotations

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
    threads: int = typer.Option(8, "--threads", min=1, max=256, help="Threads per worker."),
) -> None:
    """Serve the pages and the API; migrations run first. HTTPS: set FRAILTRIAL_SECURE=1."""
    from gunicorn.app.base import BaseApplication

    from frailtrial.web.config import setup

    url = setup(db)  # migrate once, in the parent, before workers fork
    n_workers = workers or (1 if url.startswith("sqlite") else 4)
    from django.db import connections

    connections.close_all()

    class Server(BaseApplication):
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                "workers": n_workers,
                "threads": threads,
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
    Server().run()
