"""Errors of the engine.

Hierarchy (each sub-package's errors.py subclasses these):

    EngineError            base of everything the engine raises on purpose
      InvalidArgument      the caller asked for something malformed      -> HTTP 400
      NotFound             no such container / image / layer / exec      -> HTTP 404
      Conflict             the object's state forbids it (name in use,
                           container running, image in use)              -> HTTP 409
        NotRunning         the container is not running                  -> HTTP 409
      NotModified          already in the requested state               -> HTTP 304
      SystemFailure        the host refused (mount, cgroup, exec ...)    -> HTTP 500

Errors are mapped to HTTP statuses only in engine/api (DESIGN.md §8.3).
"""


class EngineError(Exception):
    """Base class of the engine's errors."""


class InvalidArgument(EngineError):
    """The request is malformed: a bad name, size, reference or option."""


class NotFound(EngineError):
    """The object named in the request does not exist."""


class Conflict(EngineError):
    """The object exists but its state forbids the operation."""


class NotRunning(Conflict):
    """The container is not running."""


class NotModified(EngineError):
    """The object is already in the requested state."""


class SystemFailure(EngineError):
    """The host refused an operation (mount, cgroup, process start, ...)."""
