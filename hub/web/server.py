"""Listening for HTTP: the one place where the server's socket errors become a sentence for the operator."""

from __future__ import annotations

import errno

from aiohttp import web

from hub.web.errors import WebError


async def listen(runner: web.AppRunner, host: str, port: int) -> int:
    """Serve `runner` on host:port and return the port bound (for port 0, the kernel's choice).

    Raises `WebError` naming the address and what to do, instead of the event loop's bind traceback.
    """
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise WebError(
                f"HTTP 端口 {host}:{port} 已被占用（也许另一个 eldercare-hub 正在运行）："
                f"请停止占用它的程序，或在配置文件中把 http.port 改为空闲端口"
            ) from exc
        raise WebError(
            f"HTTP 服务无法在 {host}:{port} 上监听（{exc.strerror or exc}）：请检查配置中的 http.host 和 http.port"
        ) from exc
    return int(runner.addresses[0][1]) if runner.addresses else port
