"""What the template-only channels (Aliyun, Tencent Cloud) share: pick the template, fill its variables.

Domestic providers send only pre-approved templates. The message's kind picks the template from the
channel's config; each variable gets the named hub value the config maps it to, with links taken out (the
providers allow links only in a template's fixed text) and cut to the provider's per-variable length.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar

from hub.alerts.channels.base import Notification, NotifyError
from hub.alerts.settings import NamedTemplate, OrderedTemplate

T = TypeVar("T", NamedTemplate, OrderedTemplate)

_LINK = re.compile(r"(?:https?://|www\.)\S*", re.IGNORECASE)
# A variable may not be empty (the providers reject the send): a value the message lacks reads "无".
EMPTY = "无"


def template_for(templates: Mapping[str, T], note: Notification, channel: str) -> T:
    """The template of `note`'s message kind; a permanent failure (fall back) when there is none."""
    if not note.kind:
        raise NotifyError(
            f"{channel}: message has no kind (queued before template channels existed)", retryable=False
        )
    spec = templates.get(note.kind)
    if spec is None:
        raise NotifyError(
            f"{channel}: no template configured for message kind {note.kind!r}", retryable=False
        )
    return spec


def variable(note: Notification, name: str, limit: int) -> str:
    """Hub value `name` of `note` as a template variable: without links, at most `limit` characters."""
    value = " ".join(_LINK.sub("", note.params.get(name, "")).split())
    if not value:
        return EMPTY
    return value if len(value) <= limit else value[: limit - 1] + "…"


def named_values(spec: NamedTemplate, note: Notification, limit: int) -> dict[str, str]:
    """Aliyun's variables: template variable name → value."""
    return {var: variable(note, name, limit) for var, name in spec.params.items()}


def ordered_values(spec: OrderedTemplate, note: Notification, limit: int) -> list[str]:
    """Tencent's variables: the values of {1}, {2}, … in order."""
    return [variable(note, name, limit) for name in spec.params]
