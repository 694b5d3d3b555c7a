"""schemathesis against the OpenAPI document, as the district admin: no request gives a 5xx."""

from __future__ import annotations

import asyncio
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.web.openapi import document
from tests.web.conftest import Api

EXAMPLES = 15
# The endless stream; logout (would end nothing, token clients have no session); /healthz needs the running
# pipeline this in-process app has not got (tests/web/test_api.py covers it on a real hub).
SKIP = {"/api/v1/alerts/stream", "/api/v1/auth/logout", "/healthz"}


def _fuzz(base_url: str, token: str) -> list[str]:
    schema = schemathesis.openapi.from_dict(document())
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in SKIP:
            continue

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy(), data=st.data())
        def check(case: Any, data: Any) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query} → {response.status_code}")

        check()
    return failures


async def test_no_5xx_for_any_generated_request(api: Api) -> None:
    base = str(api.client.make_url("")).rstrip("/")
    failures = await asyncio.to_thread(_fuzz, base, api.tokens["区管理员"])
    assert failures == []
