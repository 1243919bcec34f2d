"""Docker's Swarm (GET /swarm), SwarmSpec and the init/join requests ⇄ objects.Cluster.

`POST /swarm/update` merges like dockerd (MergeSwarmSpecToGRPC): a zero or
absent value keeps the current setting. The CA key never appears here; the
TLSInfo of the answer is derived from the root certificate alone.
"""

from __future__ import annotations

import base64
from typing import Any

from shoal.manager.dockerapi.containers import driver_from_json, driver_to_json
from shoal.manager.dockerapi.fields import Obj, ns, put
from shoal.manager.dockerapi.meta import meta_from_json, meta_to_json
from shoal.manager.dockerapi.nodes import AVAILABILITIES
from shoal.proto.shoal.v1 import objects_pb2, specs_pb2, types_pb2


def cluster_spec_from_json(data: Any, path: str = "Spec") -> specs_pb2.ClusterSpec:
    """Return the ClusterSpec of Docker's SwarmSpec DATA."""
    return merge_cluster_spec(data, specs_pb2.ClusterSpec(), path)


def merge_cluster_spec(data: Any, current: specs_pb2.ClusterSpec,
                       path: str = "Spec") -> specs_pb2.ClusterSpec:
    """Return CURRENT changed by the set (non-zero) fields of Docker's SwarmSpec DATA."""
    o = Obj(data, path)
    spec = specs_pb2.ClusterSpec()
    spec.CopyFrom(current)
    if o.text("Name"):
        spec.annotations.name = o.text("Name")
    labels = o.str_map("Labels")
    if labels:
        spec.annotations.ClearField("labels")
        spec.annotations.labels.update(labels)
    orch = o.obj("Orchestration")
    if orch is not None and orch.has("TaskHistoryRetentionLimit"):
        spec.orchestration.task_history_retention_limit = (
            orch.integer("TaskHistoryRetentionLimit", 0) or 0)
    disp = o.obj("Dispatcher")
    if disp is not None:
        period = disp.duration("HeartbeatPeriod")
        if period is not None and ns(period):
            spec.dispatcher.heartbeat_period.CopyFrom(period)
    ca = o.obj("CAConfig")
    if ca is not None:
        for key in ("ExternalCAs", "SigningCACert", "SigningCAKey"):
            ca.refuse_set(key, "an external or user-given CA is not supported")
        expiry = ca.duration("NodeCertExpiry")
        if expiry is not None and ns(expiry):
            spec.ca_config.node_cert_expiry.CopyFrom(expiry)
    enc = o.obj("EncryptionConfig")
    if enc is not None:
        enc.refuse_set("AutoLockManagers", "autolock is not supported")
    defaults = o.obj("TaskDefaults")
    if defaults is not None:
        drv = defaults.obj("LogDriver")
        if drv is not None:
            spec.task_defaults.log_driver.CopyFrom(driver_from_json(drv))
    return spec


def cluster_spec_to_json(spec: specs_pb2.ClusterSpec) -> dict[str, Any]:
    """Return Docker's SwarmSpec for SPEC."""
    orch: dict[str, Any] = {}
    if spec.HasField("orchestration"):
        orch["TaskHistoryRetentionLimit"] = spec.orchestration.task_history_retention_limit
    disp: dict[str, Any] = {}
    if spec.dispatcher.HasField("heartbeat_period"):
        disp["HeartbeatPeriod"] = ns(spec.dispatcher.heartbeat_period)
    ca: dict[str, Any] = {}
    if spec.ca_config.HasField("node_cert_expiry"):
        ca["NodeCertExpiry"] = ns(spec.ca_config.node_cert_expiry)
    defaults: dict[str, Any] = {}
    if spec.task_defaults.HasField("log_driver"):
        defaults["LogDriver"] = driver_to_json(spec.task_defaults.log_driver)
    return {"Name": spec.annotations.name, "Labels": dict(spec.annotations.labels),
            "Orchestration": orch, "Dispatcher": disp, "CAConfig": ca,
            "TaskDefaults": defaults, "EncryptionConfig": {"AutoLockManagers": False}}


def tls_info(ca_cert_pem: bytes) -> dict[str, Any]:
    """Return Docker's TLSInfo of a root certificate (PEM): trust root, issuer subject, key."""
    if not ca_cert_pem:
        return {}
    out: dict[str, Any] = {"TrustRoot": ca_cert_pem.decode(errors="replace")}
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        cert = x509.load_pem_x509_certificate(ca_cert_pem)
        key = cert.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        out["CertIssuerSubject"] = base64.b64encode(cert.subject.public_bytes()).decode()
        out["CertIssuerPublicKey"] = base64.b64encode(key).decode()
    except ValueError:
        pass  # not a certificate we can parse: the trust root alone still helps
    return out


def swarm_to_json(cluster: objects_pb2.Cluster,
                  tokens: types_pb2.JoinTokens | None = None) -> dict[str, Any]:
    """Return Docker's Swarm (ClusterInfo + JoinTokens) for CLUSTER."""
    tokens = tokens if tokens is not None else cluster.root_ca.join_tokens
    out: dict[str, Any] = {"ID": cluster.id, **meta_to_json(cluster.meta),
                           "Spec": cluster_spec_to_json(cluster.spec)}
    put(out, "TLSInfo", tls_info(cluster.root_ca.ca_cert))
    out["RootRotationInProgress"] = False
    out["JoinTokens"] = {"Worker": tokens.worker, "Manager": tokens.manager}
    return out


def cluster_from_json(data: Any, path: str = "") -> objects_pb2.Cluster:
    """Return the Cluster of Docker's Swarm DATA (the inverse of swarm_to_json)."""
    o = Obj(data, path)
    c = objects_pb2.Cluster(id=o.text("ID"), meta=meta_from_json(o),
                            spec=cluster_spec_from_json(o.get("Spec"), o.at("Spec")))
    tls = o.obj("TLSInfo")
    if tls is not None:
        c.root_ca.ca_cert = tls.text("TrustRoot").encode()
    tokens = o.obj("JoinTokens")
    if tokens is not None:
        c.root_ca.join_tokens.CopyFrom(types_pb2.JoinTokens(worker=tokens.text("Worker"),
                                                            manager=tokens.text("Manager")))
    return c


def _availability(o: Obj) -> str:
    o.enum("Availability", AVAILABILITIES, 0)
    return o.text("Availability").lower() or "active"


def init_request_from_json(data: Any) -> dict[str, Any]:
    """Return the checked `POST /swarm/init` body with Docker's key spelling."""
    o = Obj(data, "")
    spec = o.get("Spec")
    cluster_spec_from_json(spec, "Spec")  # refuse a bad spec before anything starts
    o.refuse_set("AutoLockManagers", "autolock is not supported")
    return {"ListenAddr": o.text("ListenAddr"), "AdvertiseAddr": o.text("AdvertiseAddr"),
            "DataPathAddr": o.text("DataPathAddr"),
            "DataPathPort": o.uint("DataPathPort", 65535) or 0,
            "DefaultAddrPool": o.strs("DefaultAddrPool"),
            "SubnetSize": o.uint("SubnetSize", 32) or 0,
            "ForceNewCluster": o.flag("ForceNewCluster"),
            "Availability": _availability(o), "Spec": spec or {},
            # shoal's extension: use this etcd cluster instead of an embedded one
            "EtcdEndpoints": o.strs("EtcdEndpoints")}


def join_request_from_json(data: Any) -> dict[str, Any]:
    """Return the checked `POST /swarm/join` body with Docker's key spelling."""
    o = Obj(data, "")
    remotes = o.strs("RemoteAddrs")
    if not remotes:
        raise o.fail("RemoteAddrs", "at least one manager address is required")
    token = o.text("JoinToken")
    if not token:
        raise o.fail("JoinToken", "required")
    return {"ListenAddr": o.text("ListenAddr"), "AdvertiseAddr": o.text("AdvertiseAddr"),
            "DataPathAddr": o.text("DataPathAddr"), "RemoteAddrs": remotes,
            "JoinToken": token, "Availability": _availability(o)}
