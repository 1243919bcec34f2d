"""What every command receives: where the daemon is, how it was invoked, where to write."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

    from .client import Client


class Context:
    """Carry the global options, the command path and a lazily opened API client."""

    def __init__(self, host: str, debug: bool = False, path: str = "shoal",
                 stdin_fd: int = 0) -> None:
        self.host = host
        self.debug = debug
        self.path = path  # the command as typed: "shoal container run"
        self.stdin_fd = stdin_fd
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        """Return the client to the daemon, created on first use."""
        if self._client is None:
            from .client import Client

            self._client = Client(self.host, self.debug)
        return self._client

    def close(self) -> None:
        """Close the daemon connection, if any."""
        if self._client is not None:
            self._client.close()

    @staticmethod
    def out(text: str) -> None:
        """Write text to stdout."""
        sys.stdout.write(text)

    @staticmethod
    def err(text: str) -> None:
        """Write text to stderr."""
        sys.stderr.write(text)

    @staticmethod
    def out_bytes() -> BinaryIO:
        """Return the binary stdout (container output, saved archives)."""
        sys.stdout.flush()
        return sys.stdout.buffer

    @staticmethod
    def err_bytes() -> BinaryIO:
        """Return the binary stderr."""
        sys.stderr.flush()
        return sys.stderr.buffer
