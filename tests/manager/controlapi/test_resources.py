"""Tasks, networks, secrets, configs and the cluster object through ControlService."""

from __future__ import annotations

import pytest

from shoal.manager.ca import parse_join_token
from shoal.manager.controlapi import ControlService, FailedPrecondition, InvalidArgument
from shoal.manager.store import AlreadyExists, NotFound, VersionConflict
from shoal.proto.shoal.v1 import control_pb2, specs_pb2, types_pb2
from tests.manager.controlapi.conftest import add_node, add_task, service_spec


def ann(name: str, **labels: str) -> types_pb2.Annotations:
    return types_pb2.Annotations(name=name, labels=labels)


async def test_task_filters_and_removal(control: ControlService) -> None:
    store = control.store
    n1, n2 = await add_node(store, "h1"), await add_node(store, "h2")
    web = await control.create_service(service_spec("web", replicas=2))
    db = await control.create_service(service_spec("db"))
    t1 = await add_task(store, web, 1, n1.id)
    t2 = await add_task(store, web, 2, n2.id)
    old = await add_task(store, web, 1, n1.id, types_pb2.SHUTDOWN, types_pb2.SHUTDOWN)
    t3 = await add_task(store, db, 1, n2.id)

    def ids(**kw) -> set[str]:
        return {t.id for t in control.list_tasks(**kw)}

    assert ids() == {t1.id, t2.id, old.id, t3.id}
    assert ids(service_ids=["web"]) == {t1.id, t2.id, old.id}  # a name works too
    assert ids(service_ids=[db.id]) == {t3.id}
    assert ids(node_ids=["h2"]) == {t2.id, t3.id}
    assert ids(service_ids=[web.id], node_ids=[n1.id]) == {t1.id, old.id}
    assert ids(desired_states=[types_pb2.RUNNING], service_ids=["web"]) == {t1.id, t2.id}
    assert ids(filters=control_pb2.ListFilters(names=[t3.annotations.name])) == {t3.id}
    assert ids(filters=control_pb2.ListFilters(name_prefixes=["web.1."])) == {t1.id, old.id}
    assert control.get_task(t1.id) == t1
    await control.remove_task(old.id)
    assert ids(service_ids=["web"]) == {t1.id, t2.id}
    with pytest.raises(NotFound, match=f"task {old.id} not found"):
        control.get_task(old.id)


async def test_networks(control: ControlService) -> None:
    net = await control.create_network(specs_pb2.NetworkSpec(annotations=ann("backend")))
    assert net.spec.driver_config.name == "overlay"
    with pytest.raises(AlreadyExists, match="^network backend already exists$"):
        await control.create_network(specs_pb2.NetworkSpec(annotations=ann("backend")))
    assert [c.subnet for c in net.ipam.configs] and net.ipam.configs[0].gateway
    assert int(net.driver_state.options["com.docker.network.driver.overlay.vxlanid_list"]) > 4096
    bad = specs_pb2.NetworkSpec(annotations=ann("n2"))
    bad.ipam.configs.add(subnet="10.9.0.1/24")
    with pytest.raises(InvalidArgument, match="invalid subnet '10.9.0.1/24'"):
        await control.create_network(bad)
    bad.ipam.configs[0].subnet = "10.9.0.0/24"
    bad.ipam.configs[0].gateway = "10.9.1.1"
    with pytest.raises(InvalidArgument, match="gateway 10.9.1.1 is not within subnet"):
        await control.create_network(bad)
    bad.ipam.configs[0].gateway = "10.9.0.1"
    n2 = await control.create_network(bad)
    assert (n2.ipam.configs[0].subnet, n2.ipam.configs[0].gateway) == ("10.9.0.0/24", "10.9.0.1")
    clash = specs_pb2.NetworkSpec(annotations=ann("n3"))
    clash.ipam.configs.add(subnet=net.ipam.configs[0].subnet)
    with pytest.raises(InvalidArgument, match="overlaps with the subnet"):
        await control.create_network(clash)
    ingress = specs_pb2.NetworkSpec(annotations=ann("ingress"), ingress=True)
    await control.create_network(ingress)
    ingress.annotations.name = "ingress2"
    with pytest.raises(FailedPrecondition, match=r"ingress network \(ingress\) is already present"):
        await control.create_network(ingress)

    spec = service_spec()
    spec.task.networks.add(target="backend")
    svc = await control.create_service(spec)
    with pytest.raises(FailedPrecondition, match="^network backend is in use by service web$"):
        await control.remove_network(net.id)
    await control.remove_service(svc.id)
    await control.remove_network(net.id)
    assert "backend" not in {n.spec.annotations.name for n in control.list_networks()}
    assert [n.spec.annotations.name for n in control.list_networks(
        control_pb2.ListFilters(names=["n2"]))] == ["n2"]  # fmt: skip


async def test_secrets_hide_their_data_and_change_only_labels(control: ControlService) -> None:
    with pytest.raises(InvalidArgument, match="secret data must be larger than 0"):
        await control.create_secret(specs_pb2.SecretSpec(annotations=ann("pw")))
    with pytest.raises(InvalidArgument, match="invalid name, only 64"):
        await control.create_secret(specs_pb2.SecretSpec(annotations=ann("-pw"), data=b"x"))
    secret = await control.create_secret(specs_pb2.SecretSpec(annotations=ann("pw"), data=b"x"))
    assert secret.spec.data == b""
    assert control.get_secret(secret.id).spec.data == b""
    assert [s.spec.data for s in control.list_secrets()] == [b""]
    assert control.store.get(type(secret), secret.id).spec.data == b"x"
    with pytest.raises(AlreadyExists, match="^secret pw already exists$"):
        await control.create_secret(specs_pb2.SecretSpec(annotations=ann("pw"), data=b"y"))

    v = secret.meta.version.index
    with pytest.raises(InvalidArgument, match="only updates to Labels are allowed"):
        await control.update_secret(
            secret.id, v, specs_pb2.SecretSpec(annotations=ann("pw"), data=b"new")
        )
    updated = await control.update_secret(
        secret.id, v, specs_pb2.SecretSpec(annotations=ann("pw", env="prod"))
    )
    assert updated.spec.annotations.labels == {"env": "prod"}
    assert control.store.get(type(secret), secret.id).spec.data == b"x"
    with pytest.raises(VersionConflict):
        await control.update_secret(secret.id, v, specs_pb2.SecretSpec(annotations=ann("pw")))

    spec = service_spec("app")
    spec.task.container.secrets.add(secret_id=secret.id)
    await control.create_service(spec)
    with pytest.raises(
        InvalidArgument, match="secret 'pw' is in use by the following service: app"
    ):
        await control.remove_secret(secret.id)


async def test_configs(control: ControlService) -> None:
    config = await control.create_config(
        specs_pb2.ConfigSpec(annotations=ann("nginx.conf"), data=b"server {}")
    )
    assert control.get_config(config.id).spec.data == b"server {}"
    updated = await control.update_config(
        config.id,
        config.meta.version.index,
        specs_pb2.ConfigSpec(annotations=ann("nginx.conf", a="b"), data=b"server {}"),
    )
    assert updated.spec.annotations.labels == {"a": "b"}
    spec = service_spec("app")
    spec.task.container.configs.add(config_name="nginx.conf")
    spec.task.container.configs.add(config_name="nginx.conf")
    with pytest.raises(InvalidArgument, match="have a conflicting target: 'nginx.conf'"):
        await control.create_service(spec)
    del spec.task.container.configs[1]
    await control.create_service(spec)
    with pytest.raises(InvalidArgument, match="in use by the following service: app"):
        await control.remove_config(config.id)


async def test_cluster_redacts_the_key_and_rotates_tokens(control: ControlService) -> None:
    stored = control.store.get(type(control.get_cluster()), control.cluster_id)
    assert stored.root_ca.ca_key
    cluster = control.get_cluster()
    assert cluster.root_ca.ca_key == b"" and cluster.root_ca.ca_cert
    assert [c.root_ca.ca_key for c in control.list_clusters()] == [b""]
    tokens = control.get_join_tokens()
    assert tokens == cluster.root_ca.join_tokens

    spec = specs_pb2.ClusterSpec()
    spec.CopyFrom(cluster.spec)
    spec.orchestration.task_history_retention_limit = 10
    spec.dispatcher.heartbeat_period.seconds = 2
    updated = await control.update_cluster(
        cluster.id, cluster.meta.version.index, spec, rotate_worker_token=True
    )
    assert updated.root_ca.ca_key == b""
    assert control.store.get(type(cluster), cluster.id).root_ca.ca_key == stored.root_ca.ca_key
    assert updated.spec.orchestration.task_history_retention_limit == 10
    new = control.get_join_tokens()
    assert new.manager == tokens.manager and new.worker != tokens.worker
    assert parse_join_token(new.worker).ca_digest == cluster.root_ca.ca_cert_hash

    with pytest.raises(VersionConflict, match="update out of sequence"):
        await control.update_cluster(cluster.id, cluster.meta.version.index, spec)
    v = updated.meta.version.index
    spec.ca_config.node_cert_expiry.seconds = 60
    with pytest.raises(InvalidArgument, match="minimum certificate expiry time is: 1h0m0s"):
        await control.update_cluster(cluster.id, v, spec)
    spec.ca_config.node_cert_expiry.seconds = 7200
    spec.dispatcher.heartbeat_period.seconds = -1
    with pytest.raises(InvalidArgument, match="heartbeat period cannot be negative"):
        await control.update_cluster(cluster.id, v, spec)
    rotated = await control.update_cluster(cluster.id, v, cluster.spec, rotate_manager_token=True)
    assert rotated.root_ca.join_tokens.manager != tokens.manager
    assert (await add_node(control.store, "x")).id  # the store still works


async def test_network_removed_while_its_tasks_stop(control: ControlService) -> None:
    """`stack rm`: the service goes, its tasks still stop; the network waits for them."""
    import asyncio

    from shoal.manager.allocator.reaper import NetworkReaper

    store = control.store
    net = await control.create_network(specs_pb2.NetworkSpec(annotations=ann("stack_default")))
    spec = service_spec("stack_web")
    spec.task.networks.add(target="stack_default", aliases=["web"])
    svc = await control.create_service(spec)
    node = await add_node(store, "h1")
    task = await add_task(store, svc, 1, node.id)
    with pytest.raises(FailedPrecondition, match="in use by service stack_web$"):
        await control.remove_network(net.id)
    await control.remove_service(svc.id)  # its task: desired REMOVE, still running
    await control.remove_network(net.id)
    assert store.get(type(net), net.id).pending_delete
    assert "stack_default" not in {n.spec.annotations.name for n in control.list_networks()}
    with pytest.raises(NotFound):
        control.get_network(net.id)
    reaper = NetworkReaper(store)
    await reaper.start()
    try:
        await asyncio.sleep(0.2)
        assert store.get(type(net), net.id) is not None  # the task still runs
        stopped = store.get(type(task), task.id)
        stopped.status.state = types_pb2.SHUTDOWN
        await store.update(stopped)
        for _ in range(50):
            if store.get(type(net), net.id) is None:
                break
            await asyncio.sleep(0.05)
        assert store.get(type(net), net.id) is None
    finally:
        await reaper.stop()


async def test_network_name_taken_again_while_pending_delete(control: ControlService) -> None:
    store = control.store
    old = await control.create_network(specs_pb2.NetworkSpec(annotations=ann("n")))
    spec = service_spec("s")
    spec.task.networks.add(target="n")
    svc = await control.create_service(spec)
    await add_task(store, svc, 1, (await add_node(store, "h1")).id)
    await control.remove_service(svc.id)
    await control.remove_network(old.id)
    new = await control.create_network(specs_pb2.NetworkSpec(annotations=ann("n")))
    assert new.id != old.id and store.get(type(old), old.id) is None
    assert new.ipam.configs[0].subnet != old.ipam.configs[0].subnet  # not reused at once


async def test_the_ingress_network_cannot_go_while_a_service_publishes_through_it(
    control: ControlService,
) -> None:
    ingress = await control.create_network(specs_pb2.NetworkSpec(annotations=ann("ingress"),
                                                                 ingress=True))
    spec = service_spec("web")
    spec.endpoint.ports.add(target_port=80, published_port=8080)  # ingress mode
    svc = await control.create_service(spec)
    with pytest.raises(FailedPrecondition, match="^network ingress is in use by service web$"):
        await control.remove_network(ingress.id)
    await control.remove_service(svc.id)
    await control.remove_network(ingress.id)
