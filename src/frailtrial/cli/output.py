"""Shared output helpers for commands: JSON documents and one-line errors."""

from __future__ import annotations

import json
import math
import sys
from typing import Any, NoReturn

import typer


def _plain(obj: Any) -> Any:
    """Turn numpy/pandas scalars, arrays and NaN into JSON-ready Python values."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return _plain(obj.tolist())
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        return _plain(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "model_dump"):
        return _plain(obj.model_dump(mode="json"))
    return obj


def emit_json(obj: Any) -> None:
    """Print one JSON document to stdout; NaN and infinity become null (JSON has no NaN)."""
    sys.stdout.write(json.dumps(_plain(obj), indent=2, allow_nan=False) + "\n")


def fail(message: str) -> NoReturn:
    """Print a one-line error to stderr and exit with status 2 (bad input)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)
