"""Register tables owned by hub.care (imported by hub.register.schema so migrations see them)."""

from __future__ import annotations
