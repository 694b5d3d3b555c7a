"""The root of every exception the hub raises on purpose.

Tree::

    HubError
    ├── ConfigError            (hub.config)      bad or missing configuration key
    ├── DeviceError            (hub.devices)     a message could not be decoded
    │   └── UnknownDeviceError                   no binding / no definition for the message
    ├── StoreError             (hub.store)       the time-series store failed
    ├── RegisterError          (hub.register)    reference data could not be read or written
    │   ├── SiteFileError                        a site description file is invalid
    │   └── DataKeyError                         the data key is missing or cannot open a stored value
    ├── SourceError            (hub.sources)     a connection to a broker, port or peer failed
    ├── AlertError             (hub.alerts)      alert lifecycle violated
    ├── WebError               (hub.web)         the HTTP server could not start
    └── HubStopped             (hub.failure)     a part failed and the hub stopped (fail closed)

Each package defines its own subclass; foreign exceptions are converted at the boundary with ``from exc``.
"""


class HubError(Exception):
    """Root of all deliberate hub errors."""
