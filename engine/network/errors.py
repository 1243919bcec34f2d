"""Errors of the network package.

Hierarchy (subclasses of engine.errors; mapped to HTTP statuses only in engine/api):

    NetworkError (EngineError)    base of everything this package raises on purpose
    InvalidNetworkConfig          malformed subnet, gateway, port spec, option   -> 400
    NetworkNotFound               no network has that name or id prefix          -> 404
    EndpointNotFound              the container is not attached to that network  -> 404
    NetworkConflict               name taken, subnet overlaps, already attached  -> 409
      NetworkInUse                remove refused: containers are attached        -> 409
      AddressInUse                the requested IP is leased already             -> 409
      PortInUse                   a published host port is taken                 -> 409
    PoolExhausted                 no free subnet / no free address left          -> 409
    NetworkSystemError            the kernel or iptables refused                 -> 500
"""

from __future__ import annotations

from shoal.engine.errors import Conflict, EngineError, InvalidArgument, NotFound, SystemFailure


class NetworkError(EngineError):
    """Base class of the network package's errors."""


class InvalidNetworkConfig(NetworkError, InvalidArgument):
    """The request is malformed: a bad subnet, gateway, IP, port spec or option."""


class NetworkNotFound(NetworkError, NotFound):
    """No network has that name, id or id prefix."""


class EndpointNotFound(NetworkError, NotFound):
    """The container has no endpoint on that network (or no sandbox)."""


class NetworkConflict(NetworkError, Conflict):
    """The request conflicts with existing state (name taken, overlapping subnet ...)."""


class NetworkInUse(NetworkConflict):
    """The network still has containers attached; their names are in the message."""

    def __init__(self, network: str, containers: list[str]) -> None:
        self.containers = containers
        names = ", ".join(containers)
        super().__init__(f"error while removing network: network {network} has active "
                         f"endpoints ({names})")


class AddressInUse(NetworkConflict):
    """The requested address is already leased on that network."""


class PortInUse(NetworkConflict):
    """A published host port is already taken (by shoal or by a host process)."""


class PoolExhausted(NetworkConflict):
    """No free subnet in the address pools, or no free address in a subnet."""


class NetworkSystemError(NetworkError, SystemFailure):
    """The kernel (netlink, mount, sysctl) or iptables refused an operation."""

    errno: int = 0  # the kernel's errno when there is one
