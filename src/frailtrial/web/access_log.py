"""The server's access log without one-time tokens: the token in an ePRO link
(``/p/start/TOKEN/``) or an invitation (``/invite/TOKEN/``) is replaced by ``[token]`` in every
logged value (request line, path, referrer, headers), so whoever reads the log cannot open
a participant's questionnaires or set an invited account's password."""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

TOKEN_IN_PATH = re.compile(r"(/p/start/|/invite/)[^/?#\s\"]+")


def redact(text: str) -> str:
    """``text`` with the token of every ePRO link or invitation address replaced."""
    return TOKEN_IN_PATH.sub(r"\1[token]", text)


class RedactingLogger(Logger):
    """gunicorn's logger whose access-log values hold no token."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        found = super().atoms(resp, req, environ, request_time)
        return {k: redact(v) if isinstance(v, str) else v for k, v in found.items()}
