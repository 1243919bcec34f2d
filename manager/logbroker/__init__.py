"""The log broker: service logs gathered from the agents of every node (docs/logs.md).

    broker = LogBroker(store, LogBrokerConfig())
    await broker.start()
    add_to_server(server, broker, tls_identity)     # metadata_identity without TLS
    async with broker.subscribe(service_id, LogSubscriptionOptions(tail=-1)) as sub:
        async for msg in sub:                        # LogMessage, node id checked
            print(docker_line(msg, with_details=True))
        warning = sub.warning()                      # nodes that did not answer
    await broker.stop()
"""

from shoal.manager.logbroker.broker import LogBroker
from shoal.manager.logbroker.config import LogBrokerConfig
from shoal.manager.logbroker.errors import (
    BrokerStopped,
    LogBrokerError,
    PermissionDenied,
    SubscriptionGone,
)
from shoal.manager.logbroker.format import docker_line
from shoal.manager.logbroker.servicer import LogBrokerServicer, add_to_server
from shoal.manager.logbroker.subscription import Subscription

__all__ = [
    "BrokerStopped",
    "LogBroker",
    "LogBrokerConfig",
    "LogBrokerError",
    "LogBrokerServicer",
    "PermissionDenied",
    "Subscription",
    "SubscriptionGone",
    "add_to_server",
    "docker_line",
]
