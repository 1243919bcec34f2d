"""Errors of the image builder (subclasses of shoal.engine.errors).

BuildError(InvalidArgument)      base: a build cannot go on because of its input
  DockerfileError                the Dockerfile is malformed; str() is "file:line: message"
  ContextError                   a COPY/ADD source is outside the context, missing or
                                 matches nothing; or the context tar itself is unsafe
"""

from __future__ import annotations

from shoal.engine.errors import InvalidArgument


class BuildError(InvalidArgument):
    """A build cannot go on because of its Dockerfile, its context or a step's arguments."""


def where(file: str, line: int) -> str:
    """Return the "file:line" prefix of a message (just "file" when LINE is 0)."""
    return f"{file}:{line}" if line else file


class DockerfileError(BuildError):
    """The Dockerfile is malformed at FILE:LINE (line 0: the whole file)."""

    def __init__(self, message: str, *, file: str = "Dockerfile", line: int = 0) -> None:
        super().__init__(f"{where(file, line)}: {message}")
        self.message = message
        self.file = file
        self.line = line


class ContextError(BuildError):
    """A COPY/ADD source is outside the build context, missing or matches nothing."""
