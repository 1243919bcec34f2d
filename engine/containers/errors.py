"""Errors of the container service (subclasses of engine.errors, mapped to HTTP in api/)."""

from shoal.engine.errors import Conflict, InvalidArgument, NotFound, NotRunning


class ContainerNotFound(NotFound):
    """No container has that id, prefix or name."""


class NameConflict(Conflict):
    """The container name is taken."""


class ContainerRunning(Conflict):
    """The operation needs a stopped container (rm without force)."""


class ContainerNotRunning(NotRunning):
    """The operation needs a running container (exec, kill, attach to stdin)."""


class ExecNotFound(NotFound):
    """No exec instance has that id."""


class InvalidConfig(InvalidArgument):
    """The create request is malformed (missing command, negative limits ...)."""
