"""Fail when a model of the EDC store or of the web app has no migration (CI, `make test`).

Runs ``django-admin makemigrations --check --dry-run edc web`` on the project's own settings
(frailtrial.web.config, which extends the store's frailtrial.edc.config) against a throwaway
SQLite file: exit status 1 and the missing operations printed when a migration is missing.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main() -> int:
    from django.core.management import execute_from_command_line

    from frailtrial.web.config import setup

    with tempfile.TemporaryDirectory(prefix="frailtrial-migrations-") as tmp:
        setup(f"sqlite:///{Path(tmp) / 'check.sqlite3'}", migrate=False)
        try:
            execute_from_command_line(
                ["django-admin", "makemigrations", "--check", "--dry-run", "edc", "web"]
            )
        except SystemExit as exc:
            return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
