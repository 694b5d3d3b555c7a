"""Shared HTTP plumbing of the robot and webhook channels: one aiohttp session, errors classified."""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any, Self

import aiohttp

from hub.alerts.channels.base import NotifyError


class JsonPoster:
    """Posts JSON and classifies failures: 429/5xx and connection errors retryable, other 4xx permanent."""

    def __init__(self, channel: str) -> None:
        self._channel = channel
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> JsonPoster:
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = None

    async def post(self, url: str, body: bytes, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """POST `body` (already-encoded JSON); return the decoded JSON reply ({} if none)."""
        if self._session is None:
            raise NotifyError(f"{self._channel}: used outside its async context", retryable=True)
        all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        try:
            async with self._session.post(url, data=body, headers=all_headers) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, OSError) as exc:
            raise NotifyError(f"{self._channel}: connection failed: {exc}", retryable=True) from exc
        if status == 429 or status >= 500:
            raise NotifyError(f"{self._channel}: HTTP {status}: {text[:200]}", retryable=True)
        if status >= 400:
            raise NotifyError(f"{self._channel}: HTTP {status}: {text[:200]}", retryable=False)
        if not text.strip():
            return {}
        try:
            reply = json.loads(text)
        except ValueError as exc:
            raise NotifyError(f"{self._channel}: reply is not JSON: {text[:200]}", retryable=True) from exc
        return reply if isinstance(reply, dict) else {}


class PostingChannel:
    """Base of the channels that only POST JSON (robots, webhook): owns a `JsonPoster` for its lifetime."""

    name = "http"

    def __init__(self) -> None:
        self._http = JsonPoster(self.name)

    async def __aenter__(self) -> Self:
        await self._http.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._http.__aexit__(exc_type, exc, tb)


def dumps(body: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON (Chinese kept as characters)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
