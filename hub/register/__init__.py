"""The register: reference data (homes, elders, contacts, devices) and the hub's durable state tables."""

from hub.register.errors import RegisterError, SiteFileError

__all__ = ["RegisterError", "SiteFileError"]
