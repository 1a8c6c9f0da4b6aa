"""The Jinja2 environment of the report's templates (``analysis/templates``), shared by
every page that renders them, with the compiled templates kept in the user cache.

Compiling the report's templates costs a process 50-80 ms of CPU; Jinja2's bytecode cache
keeps them under ``<user cache>/jinja`` (:mod:`frailtrial.user_cache`), checked against
each template's source (a changed template is compiled again) and the Python version. A
cache that cannot be written is skipped: the templates are then compiled each time.
"""

from __future__ import annotations

import os

import jinja2
from jinja2.bccache import Bucket

from frailtrial.user_cache import cache_root


class _UserBytecodeCache(jinja2.FileSystemBytecodeCache):
    """Jinja2's file bytecode cache in the user cache, its folder made owner-only on the
    first write; a failed read or write leaves the template compiled in memory only."""

    def __init__(self) -> None:
        super().__init__(str(cache_root() / "jinja"))

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except OSError:
            return

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            super().dump_bytecode(bucket)
        except OSError:
            return


ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("frailtrial.analysis", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    bytecode_cache=_UserBytecodeCache(),
)
