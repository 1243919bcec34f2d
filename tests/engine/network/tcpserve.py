"""A TCP server on port 80 in each of several network namespaces, for network tests."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

from shoal.engine.network import nsutil


@contextlib.contextmanager
def serving(sandboxes: list[str], ips: list[str],
            reply: Callable[[str, str], str]) -> Iterator[None]:
    """Answer every TCP connection on IP:80 in each sandbox with reply(IP, CLIENT-IP)."""
    socks = [nsutil.run_in(ns, lambda ip=ip: socket.create_server((ip, 80)))  # type: ignore
             for ns, ip in zip(sandboxes, ips, strict=True)]
    stop = threading.Event()

    def serve(s: socket.socket, ip: str) -> None:
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, peer = s.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(reply(ip, peer[0]).encode())

    threads = [threading.Thread(target=serve, args=(s, ip), daemon=True)
               for s, ip in zip(socks, ips, strict=True)]
    for t in threads:
        t.start()
    try:
        yield
    finally:
        stop.set()
        for t in threads:
            t.join()
        for s in socks:
            s.close()
