"""Swarm-scope networks: objects.Network ⇄ Docker's swarm Network, and the /networks records.

Two JSON shapes exist in Docker: the swarm object (`swarm.Network`, shown in
a task's NetworksAttachments) and the NetworkResource of `GET /networks`
(with Scope "swarm"). `POST /networks/create` with a swarm driver gives a
NetworkSpec (network_spec_from_create).

On each host a cluster network is backed by a local engine network labelled
LABEL_NETWORK_ID = <cluster network id> (agent/exec/networks.py). The
/networks routes show the cluster network in its place: on a manager the
cluster record with the local containers of its backing network
(with_local_containers), on a worker the backing network dressed as the
swarm network (backing_as_swarm). `matches` applies Docker's network filters
to such records.
"""

from __future__ import annotations

from typing import Any

from shoal.agent.exec.containerspec import LABEL_NETWORK_ID
from shoal.manager.dockerapi.containers import driver_from_json, driver_to_json
from shoal.manager.dockerapi.fields import Obj, format_time, put
from shoal.manager.dockerapi.meta import meta_from_json, meta_to_json
from shoal.proto.shoal.v1 import objects_pb2, specs_pb2, types_pb2

VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"


def _ipam_config_from_json(o: Obj, range_key: str, reserved_key: str) -> types_pb2.IPAMConfig:
    return types_pb2.IPAMConfig(subnet=o.text("Subnet"), range=o.text(range_key),
                                gateway=o.text("Gateway"), reserved=o.str_map(reserved_key))


def _ipam_to_swarm_json(ipam: types_pb2.IPAMOptions) -> dict[str, Any]:
    configs = []
    for c in ipam.configs:
        cfg: dict[str, Any] = {"Subnet": c.subnet}
        put(cfg, "Range", c.range)
        put(cfg, "Gateway", c.gateway)
        configs.append(cfg)
    out: dict[str, Any] = {"Driver": driver_to_json(ipam.driver)}
    put(out, "Configs", configs)
    return out


def _ipam_from_swarm_json(o: Obj) -> types_pb2.IPAMOptions:
    ipam = types_pb2.IPAMOptions()
    drv = o.obj("Driver")
    if drv is not None:
        ipam.driver.CopyFrom(driver_from_json(drv))
    ipam.configs.extend(_ipam_config_from_json(c, "Range", "Reserved") for c in o.objs("Configs"))
    return ipam


def network_spec_to_swarm_json(spec: specs_pb2.NetworkSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"Name": spec.annotations.name, "Labels": dict(spec.annotations.labels)}
    if spec.HasField("driver_config"):
        out["DriverConfiguration"] = driver_to_json(spec.driver_config)
    put(out, "IPv6Enabled", spec.ipv6_enabled)
    put(out, "Internal", spec.internal)
    put(out, "Attachable", spec.attachable)
    put(out, "Ingress", spec.ingress)
    if spec.HasField("ipam"):
        out["IPAMOptions"] = _ipam_to_swarm_json(spec.ipam)
    out["Scope"] = "swarm"
    return out


def network_spec_from_swarm_json(o: Obj) -> specs_pb2.NetworkSpec:
    spec = specs_pb2.NetworkSpec(
        annotations=types_pb2.Annotations(name=o.text("Name"), labels=o.str_map("Labels")),
        ipv6_enabled=o.flag("IPv6Enabled"), internal=o.flag("Internal"),
        attachable=o.flag("Attachable"), ingress=o.flag("Ingress"))
    drv = o.obj("DriverConfiguration")
    if drv is not None:
        spec.driver_config.CopyFrom(driver_from_json(drv))
    ipam = o.obj("IPAMOptions")
    if ipam is not None:
        spec.ipam.CopyFrom(_ipam_from_swarm_json(ipam))
    return spec


def network_to_swarm_json(net: objects_pb2.Network) -> dict[str, Any]:
    """Return Docker's swarm Network object for NET."""
    out: dict[str, Any] = {"ID": net.id, **meta_to_json(net.meta),
                           "Spec": network_spec_to_swarm_json(net.spec),
                           "DriverState": driver_to_json(net.driver_state)}
    if net.HasField("ipam"):
        out["IPAMOptions"] = _ipam_to_swarm_json(net.ipam)
    return out


def network_from_swarm_json(data: Any, path: str = "") -> objects_pb2.Network:
    """Return the Network of Docker's swarm Network object DATA."""
    o = Obj(data, path)
    net = objects_pb2.Network(id=o.text("ID"), meta=meta_from_json(o),
                              spec=network_spec_from_swarm_json(o.obj("Spec") or Obj({}, "")))
    ds = o.obj("DriverState")
    if ds is not None:
        net.driver_state.CopyFrom(driver_from_json(ds))
    ipam = o.obj("IPAMOptions")
    if ipam is not None:
        net.ipam.CopyFrom(_ipam_from_swarm_json(ipam))
    return net


def network_spec_from_create(data: Any, path: str = "") -> specs_pb2.NetworkSpec:
    """Return the NetworkSpec of a `POST /networks/create` body for a swarm network."""
    o = Obj(data, path)
    name = o.text("Name")
    if not name:
        raise o.fail("Name", "required")
    o.refuse_set("ConfigOnly")
    o.refuse_set("ConfigFrom")
    spec = specs_pb2.NetworkSpec(
        annotations=types_pb2.Annotations(name=name, labels=o.str_map("Labels")),
        driver_config=types_pb2.Driver(name=o.text("Driver") or "overlay",
                                       options=o.str_map("Options")),
        ipv6_enabled=o.flag("EnableIPv6"), internal=o.flag("Internal"),
        attachable=o.flag("Attachable"), ingress=o.flag("Ingress"))
    ipam = o.obj("IPAM")
    if ipam is not None:
        spec.ipam.driver.CopyFrom(types_pb2.Driver(name=ipam.text("Driver") or "default",
                                                   options=ipam.str_map("Options")))
        spec.ipam.configs.extend(_ipam_config_from_json(c, "IPRange", "AuxiliaryAddresses")
                                 for c in ipam.objs("Config"))
    return spec


def network_to_resource(net: objects_pb2.Network) -> dict[str, Any]:
    """Return the `GET /networks` record (NetworkResource, Scope "swarm") of NET."""
    ipam = net.ipam if net.HasField("ipam") else net.spec.ipam
    configs = []
    for c in ipam.configs:
        cfg: dict[str, Any] = {"Subnet": c.subnet}
        put(cfg, "IPRange", c.range)
        put(cfg, "Gateway", c.gateway)
        put(cfg, "AuxiliaryAddresses", dict(c.reserved))
        configs.append(cfg)
    options = dict(net.spec.driver_config.options)
    options.update(net.driver_state.options)
    if "vni" in options and VNI_OPTION not in options:
        options[VNI_OPTION] = options.pop("vni")
    spec = net.spec
    return {
        "Name": spec.annotations.name, "Id": net.id, "Created": format_time(net.meta.created_at),
        "Scope": "swarm", "Driver": net.driver_state.name or spec.driver_config.name or "overlay",
        "EnableIPv6": spec.ipv6_enabled,
        "IPAM": {"Driver": ipam.driver.name or "default",
                 "Options": dict(ipam.driver.options) or None, "Config": configs},
        "Internal": spec.internal, "Attachable": spec.attachable, "Ingress": spec.ingress,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": {},
        "Options": options, "Labels": dict(spec.annotations.labels),
    }


def backs(local: dict[str, Any]) -> str:
    """Return the cluster network id the local network record LOCAL backs ("" if none)."""
    return str((local.get("Labels") or {}).get(LABEL_NETWORK_ID, ""))


def with_local_containers(resource: dict[str, Any],
                          locals_: list[dict[str, Any]]) -> dict[str, Any]:
    """Return a cluster network RESOURCE with the containers of its backing network here."""
    for local in locals_:
        if backs(local) == resource["Id"]:
            resource["Containers"] = dict(local.get("Containers") or {})
    return resource


def backing_as_swarm(local: dict[str, Any]) -> dict[str, Any]:
    """Return a backing network's record as its cluster network (id, scope, driver)."""
    out = dict(local)
    out["Id"] = backs(local)
    out["Scope"] = "swarm"
    out["Driver"] = "overlay"
    out["Labels"] = {k: v for k, v in (local.get("Labels") or {}).items()
                     if k != LABEL_NETWORK_ID}
    out["Options"] = {k: v for k, v in (local.get("Options") or {}).items()
                      if not k.startswith("com.docker.network.bridge.")}
    return out


def matches(resource: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    """Tell whether a network record passes Docker's filters (name, id, driver, label,
    scope, type)."""
    for key, values in filters.items():
        if not values:
            continue
        if key == "name" and not any(v in resource["Name"] for v in values):
            return False
        if key == "id" and not any(resource["Id"].startswith(v) for v in values):
            return False
        if key == "driver" and resource["Driver"] not in values:
            return False
        if key == "scope" and resource["Scope"] not in values:
            return False
        if key == "type":
            builtin = resource["Scope"] == "local" and resource["Name"] in ("bridge", "host",
                                                                           "none")
            if ("builtin" if builtin else "custom") not in values:
                return False
        if key == "label":
            labels = resource.get("Labels") or {}
            for v in values:
                k, _, want = v.partition("=")
                if k not in labels or (want and labels[k] != want):
                    return False
    return True
