"""Every table of the hub in one metadata: the register's own plus those other packages keep there.

Migrations (env.py) and the schema test compare against this, so a table added anywhere is never missed.

This is the one module of the register that imports packages above it (alerts, care, deploy, rules, web), and
on purpose: Alembic needs every package's tables to compare the schema, and only the migration environment
and the schema test import this module. The rest of the register depends on nothing above it.
"""

from __future__ import annotations

import hub.alerts.tables
import hub.care.tables
import hub.deploy.tables
import hub.register.lease
import hub.rules.tables
import hub.web.tables  # noqa: F401  (imported for their side effect: tables on Base.metadata)
from hub.register.models import Base

metadata = Base.metadata

__all__ = ["Base", "metadata"]
