"""The committed generated code matches the .proto files and imports as shoal.proto.*."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from shoal.proto import generate

pytest.importorskip("grpc_tools")


def test_committed_code_is_fresh(tmp_path: Path) -> None:
    """Fail when someone edited a .proto and forgot `make proto`."""
    fresh = {p.name: p.read_bytes() for p in generate.generate(tmp_path)}
    committed = {p.name: p.read_bytes() for p in generate.generated_files(generate.SOURCE_DIR)}
    assert sorted(fresh) == sorted(committed), "generated file set differs: run `make proto`"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale generated code: {stale}; run `make proto`"


@pytest.mark.parametrize("name", ["types", "specs", "objects", "control", "dispatcher", "ca"])
def test_modules_import_through_the_package(name: str) -> None:
    mod = importlib.import_module(f"shoal.proto.shoal.v1.{name}_pb2")
    assert mod.DESCRIPTOR.package == "shoal.v1"
    assert mod.DESCRIPTOR.name == f"shoal/proto/shoal/v1/{name}.proto"


def test_task_state_values_match_design() -> None:
    from shoal.proto.shoal.v1 import types_pb2

    expected = {
        "NEW": 0, "PENDING": 64, "ASSIGNED": 192, "ACCEPTED": 256, "PREPARING": 320,
        "READY": 384, "STARTING": 448, "RUNNING": 512, "COMPLETE": 576, "SHUTDOWN": 640,
        "FAILED": 704, "REJECTED": 768, "REMOVE": 800, "ORPHANED": 832,
    }  # fmt: skip
    assert dict(types_pb2.TaskState.items()) == expected


def test_services_are_generated() -> None:
    from shoal.proto.shoal.v1 import ca_pb2_grpc, control_pb2_grpc, dispatcher_pb2_grpc

    assert hasattr(control_pb2_grpc, "ControlServicer")
    assert hasattr(dispatcher_pb2_grpc, "DispatcherStub")
    assert hasattr(ca_pb2_grpc, "add_CAServicer_to_server")
    from shoal.proto.shoal.v1 import dispatcher_pb2

    service = dispatcher_pb2.DESCRIPTOR.services_by_name["Dispatcher"]
    methods = {m.name for m in service.methods}
    assert methods == {"Session", "Heartbeat", "Assignments", "UpdateTaskStatus"}


def test_objects_round_trip() -> None:
    from shoal.proto.shoal.v1 import objects_pb2, specs_pb2, types_pb2

    svc = objects_pb2.Service(id="s1")
    svc.spec.annotations.name = "web"
    svc.spec.replicated.replicas = 3
    svc.spec.task.container.image = "busybox"
    svc.spec.task.container.stop_grace_period.FromSeconds(10)
    svc.spec.endpoint.ports.append(
        types_pb2.PortConfig(
            target_port=80, published_port=8080, publish_mode=types_pb2.PortConfig.INGRESS
        )
    )
    again = objects_pb2.Service.FromString(svc.SerializeToString())
    assert again == svc
    assert again.spec.WhichOneof("mode") == "replicated"
    assert again.spec.endpoint.mode == specs_pb2.EndpointSpec.VIP
