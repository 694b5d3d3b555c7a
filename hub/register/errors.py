"""Errors of the register (reference data)."""

from hub.errors import HubError


class RegisterError(HubError):
    """Reference data could not be read or written."""


class SiteFileError(RegisterError):
    """A site description file is invalid; the message names the file, the entry and the field."""


class DataKeyError(RegisterError):
    """The data-protection key is missing, malformed or does not open a stored value."""
