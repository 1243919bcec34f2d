"""Helpers for dispatcher and agent tests: tasks, nodes, write counters."""

from __future__ import annotations

from typing import Any

from shoal.manager.store import Store
from shoal.proto.shoal.v1.objects_pb2 import NodeDescription, Task
from shoal.proto.shoal.v1.specs_pb2 import ContainerSpec, TaskSpec
from shoal.proto.shoal.v1.types_pb2 import Platform, Resources, TaskState, TaskStatus


def description(hostname: str = "host-a", **labels: str) -> NodeDescription:
    d = NodeDescription(
        hostname=hostname,
        platform=Platform(architecture="amd64", os="linux"),
        resources=Resources(nano_cpus=2 * 10**9, memory_bytes=4 << 30),
        addr="10.0.0.1",
    )
    for k, v in labels.items():
        d.engine.labels[k] = v
    return d


def task(node_id: str, state: int = TaskState.ASSIGNED, *, service_id: str = "svc1",
         slot: int = 1, desired: int = TaskState.RUNNING, image: str = "busybox") -> Task:
    t = Task(service_id=service_id, slot=slot, node_id=node_id, desired_state=desired,  # type: ignore[arg-type]
             spec=TaskSpec(container=ContainerSpec(image=image, args=["sleep", "1000"])),
             status=TaskStatus(state=state))  # type: ignore[arg-type]
    t.service_annotations.name = "web"
    return t


class WriteCounter:
    """Counts Store.batch calls and the operations they carry, by kind."""

    def __init__(self, store: Store) -> None:
        self.calls = 0
        self.ops: dict[str, int] = {}
        original = store.batch

        async def counting(ops: Any, *, atomic: bool = False) -> Any:
            self.calls += 1
            for op in ops:
                obj = getattr(op, "obj", None)
                kind = type(obj).__name__ if obj is not None else "delete"
                self.ops[kind] = self.ops.get(kind, 0) + 1
            return await original(ops, atomic=atomic)

        store.batch = counting  # type: ignore[method-assign]

    def reset(self) -> None:
        self.calls = 0
        self.ops = {}
