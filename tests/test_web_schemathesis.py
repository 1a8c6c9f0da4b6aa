"""schemathesis against the API's OpenAPI schema: generated requests never get a 5xx.

Each operation is called with cases generated from the schema (bounded: a few examples each)
as a coordinator (who may screen, randomize, enter CRFs and report AEs) and as a statistician
(export); the server must answer every one with a status below 500. On SQLite and on
PostgreSQL, which cannot store NUL: generated text includes control characters.
"""

from __future__ import annotations

from typing import Any

import pytest

from web_support import trial_with_data, web_store

MAX_EXAMPLES = 12
pytestmark = pytest.mark.slow


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def api(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "sqlite":
        web_store(tmp_path_factory.mktemp("web-schemathesis"))
    else:
        from frailtrial.web.config import setup

        setup(request.getfixturevalue("pg_url"))
    t = trial_with_data()
    from django.core.wsgi import get_wsgi_application

    from frailtrial.web.security import issue_token

    return {
        "app": get_wsgi_application(),
        "tokens": [issue_token(t["m"]["coordinator"]), issue_token(t["m"]["statistician"])],
    }


def test_no_server_error(api: dict[str, Any]) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", api["app"])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    seen: list[int] = []
    for op in operations:
        for token in api["tokens"]:
            headers = {"Authorization": f"Bearer {token}"}

            @given(case=op.as_strategy())
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def call(case: Any) -> None:
                case.headers = {**(case.headers or {}), **headers}  # noqa: B023
                response = case.call()
                seen.append(response.status_code)
                assert response.status_code < 500, (
                    case.method,
                    case.formatted_path,
                    response.status_code,
                    response.text[:300],
                )

            call()
    assert any(s < 300 for s in seen) and any(400 <= s < 500 for s in seen)
