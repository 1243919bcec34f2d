"""Errors of the `shoal` command line client.

Hierarchy (every command raises these; cli.main prints them and exits):

    CLIError               base; ``str(e)`` is printed to stderr, exit ``e.exit_code`` (1)
      UsageError           bad flags or arguments; docker prints these with a
                           "See 'shoal CMD --help'." hint and exits 125
      ConnectionFailed     the daemon's socket is missing or refused the connection
      APIError             the daemon answered with an HTTP error; ``message`` is
                           the daemon's own ``{"message": ...}``
    StatusError            not an error message: exit with a container's or
                           exec's exit code (may carry a message to print first)
"""

from __future__ import annotations


class CLIError(Exception):
    """Report a failure to the user: print the message, exit with exit_code."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(CLIError):
    """Reject a malformed command line (unknown flag, bad value, missing argument)."""

    exit_code = 125

    def __init__(self, message: str, command: str = "") -> None:
        super().__init__(message)
        self.command = command


class ConnectionFailed(CLIError):
    """Report that the daemon could not be reached at its address."""


class APIError(CLIError):
    """Carry an HTTP error answered by the daemon (status and its message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    def __str__(self) -> str:
        return "Error response from daemon: " + self.message


class StatusError(Exception):
    """Exit with a given status, optionally after printing a message."""

    def __init__(self, exit_code: int, message: str = "") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.message = message
