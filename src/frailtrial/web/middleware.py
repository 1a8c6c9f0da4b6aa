"""Middleware: security headers Django does not set itself, a guard on every request's text,
and a write queue on SQLite."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.db import DataError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from frailtrial.edc.services.entry import control_character

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class SecurityHeaders:
    """Add CSP and ``Cache-Control: no-store`` (pages hold clinical data) to every response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = CSP
        if request.path.startswith("/api/docs"):  # Swagger UI sets inline styles
            policy = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
        response.headers.setdefault("Content-Security-Policy", policy)
        if not request.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


class SqliteWriteQueue:
    """On SQLite, let one writing request of this process run at a time.

    SQLite takes one writer at a time anyway; without this, threads that lose the race sleep
    in SQLite's busy handler (back-off steps up to 100 ms), which makes tail latency. A
    process lock queues them instead; reads (GET, HEAD, OPTIONS) are never queued.
    """

    SAFE = frozenset(("GET", "HEAD", "OPTIONS"))

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from django.db import connections

        self.get_response = get_response
        self.lock = threading.Lock() if connections["default"].vendor == "sqlite" else None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.lock is None or request.method in self.SAFE:
            return self.get_response(request)
        with self.lock:
            return self.get_response(request)


def _leaves(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    """(path, value) of every key and scalar inside a decoded JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{where}.{key}", key
            yield from _leaves(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{where}[{i}]")
    else:
        yield where, value


def _not_finite(constant: str) -> float:
    raise ValueError(f"{constant} is not a finite number")


def input_problem(request: HttpRequest) -> str | None:
    """What is wrong with the request's text: a control character in its address, query,
    form fields or JSON body, or a NaN/Infinity in its JSON body; None when clean."""
    hit = control_character(request.path)
    if hit:
        return f"the address contains a control character ({hit})"
    fields: list[tuple[str, Any]] = [(k, v) for k, vs in request.GET.lists() for v in [k, *vs]]
    kind = request.content_type or ""
    if request.method in ("POST", "PUT", "PATCH") and kind == "application/json":
        try:
            body = json.loads(request.body or b"null", parse_constant=_not_finite)
        except ValueError as exc:
            if "finite" in str(exc):
                return f"the JSON body holds {exc}"
            body = None  # not JSON at all: the API says so itself
        fields += list(_leaves(body, "body"))
    elif request.method == "POST":
        fields += [(k, v) for k, vs in request.POST.lists() for v in [k, *vs]]
    for where, value in fields:
        hit = control_character(value)
        if hit:
            return f"{where} contains a control character ({hit}); it is not allowed"
        if isinstance(value, float) and not math.isfinite(value):
            return f"{where} holds {value}; only finite numbers are allowed"
    return None


class InputGuard:
    """Refuse (400 on pages, 422 on the API) any request carrying a control character in its
    text or a non-finite number in its JSON, before a view or the database sees it; a value
    the database still cannot hold is a 400, not a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def _refuse(self, request: HttpRequest, problem: str) -> HttpResponse:
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": problem}, status=422)
        return render(request, "web/denied.html", {"message": f"Not saved: {problem}."}, status=400)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = input_problem(request)
        if problem:
            return self._refuse(request, problem)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, DataError):
            return self._refuse(request, "a value cannot be stored (out of range or not text)")
        return None
