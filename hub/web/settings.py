"""The ``[web]`` config section: sessions, cookies, login throttling, audit retention."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class WebConfig(BaseModel):
    """Settings of the web dashboard and the user-facing API."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # None: Secure cookies unless the hub is bound to 127.0.0.1 (plain http there is the local demo).
    secure_cookies: bool | None = None
    session_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 12.0
    # Login throttle: this many failures per (user, client address) within the window → 429.
    login_max_failures: Annotated[int, Field(ge=1, le=100)] = 5
    login_window_s: Annotated[float, Field(gt=0)] = 900.0
    # The audit log is kept at least this long; `eldercare-hub audit purge` deletes only older rows.
    audit_retention_days: Annotated[int, Field(ge=183)] = 400
    # /metrics: "" → open (bind the hub to 127.0.0.1 or firewall it); otherwise a bearer token.
    metrics_token: str = Field(default="", repr=False)
    # The demo only: requests without credentials from 127.0.0.1 act as this user (refused elsewhere).
    demo_user: str = ""

    def cookies_secure(self, host: str) -> bool:
        """Whether cookies carry the Secure flag on a hub bound to `host`."""
        if self.secure_cookies is not None:
            return self.secure_cookies
        return host not in ("127.0.0.1", "localhost", "::1")
