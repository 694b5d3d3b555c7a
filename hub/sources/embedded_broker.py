"""The embedded MQTT broker (amqtt) used when no broker URL is configured.

It lives in the hub's own process, so it is for demos and trials: whatever it has queued dies with the
hub. Production uses Mosquitto (see deploy/), where the hub's held acknowledgements make delivery safe.
"""

from __future__ import annotations

import logging
import socket
from types import TracebackType
from typing import TYPE_CHECKING, Self

from hub.sources.errors import SourceError

if TYPE_CHECKING:
    from amqtt.broker import Broker

LOGGER = logging.getLogger(__name__)


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def pick_port(
    host: str, preferred: int, *, what: str = "内置 MQTT 代理", why: str = "可能已有 Mosquitto 在运行"
) -> int:
    """`preferred` if it is free, else a free port chosen by the kernel (and say so, naming `what`)."""
    if preferred and port_is_free(host, preferred):
        return preferred
    with socket.socket() as s:
        s.bind((host, 0))
        port = int(s.getsockname()[1])
    if preferred:
        LOGGER.warning("端口 %s:%s 已被占用（%s），%s改用端口 %s", host, preferred, why, what, port)
    return port


class EmbeddedBroker:
    """An in-process amqtt broker on 127.0.0.1, as an async context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.host = host
        self.port = pick_port(host, port)
        self._broker: Broker | None = None

    @property
    def url(self) -> str:
        """The URL clients connect to."""
        return f"mqtt://{self.host}:{self.port}"

    async def __aenter__(self) -> Self:
        """Start listening."""
        # Imported here, not with the module: amqtt takes 0.1 s to import, and only the demo's hub (no
        # broker URL configured) runs it; every hub process of a real site imports this module.
        from amqtt.broker import Broker, BrokerConfig

        config = BrokerConfig.from_dict(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
                "plugins": {
                    "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
                },
            }
        )
        self._broker = Broker(config)
        try:
            await self._broker.start()
        except Exception as exc:  # amqtt raises its own and OS errors; one boundary conversion
            raise SourceError(
                f"embedded MQTT broker could not start on {self.host}:{self.port}: {exc}"
            ) from exc
        LOGGER.info("内置 MQTT 代理已启动: %s", self.url)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop the broker."""
        if self._broker is not None:
            await self._broker.shutdown()
