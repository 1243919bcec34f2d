"""The scheduler: filters, the pipeline that explains, batch placement, and the loop.

    scheduler = Scheduler(store)      # leader only
    await scheduler.run()             # until cancelled (or start()/stop())

See docs/scheduler.md.
"""

from shoal.manager.scheduler.constraints import (
    Constraint,
    node_attribute,
    node_matches,
    parse_constraint,
    parse_constraints,
    platform_matches,
)
from shoal.manager.scheduler.errors import InvalidConstraint, SchedulerError
from shoal.manager.scheduler.filters import (
    AvailabilityFilter,
    ConstraintFilter,
    Filter,
    HostPortFilter,
    MaxReplicasFilter,
    PlatformFilter,
    ReadyFilter,
    ResourceFilter,
    default_filters,
)
from shoal.manager.scheduler.nodeinfo import NodeInfo, Usage, usage_of
from shoal.manager.scheduler.pipeline import Pipeline
from shoal.manager.scheduler.placement import Placer
from shoal.manager.scheduler.scheduler import ASSIGNED_MESSAGE, Scheduler

__all__ = [
    "ASSIGNED_MESSAGE",
    "AvailabilityFilter",
    "Constraint",
    "ConstraintFilter",
    "Filter",
    "HostPortFilter",
    "InvalidConstraint",
    "MaxReplicasFilter",
    "NodeInfo",
    "Pipeline",
    "Placer",
    "PlatformFilter",
    "ReadyFilter",
    "ResourceFilter",
    "Scheduler",
    "SchedulerError",
    "Usage",
    "default_filters",
    "node_attribute",
    "node_matches",
    "parse_constraint",
    "parse_constraints",
    "platform_matches",
    "usage_of",
]
