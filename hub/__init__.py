"""eldercare-hub: watches the homes of elders who live alone.

Data flows one way: sources → devices (pure decoders) → store + rules → alerts → channels.
The register (homes, elders, contacts, devices) is the reference data every stage looks up.
"""

from hub.errors import HubError

__all__ = ["HubError"]
__version__ = "0.1.0"
