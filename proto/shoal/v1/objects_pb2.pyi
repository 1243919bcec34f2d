import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from shoal.proto.shoal.v1 import specs_pb2 as _specs_pb2
from shoal.proto.shoal.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EngineDescription(_message.Message):
    __slots__ = ("engine_version", "labels")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    engine_version: str
    labels: _containers.ScalarMap[str, str]
    def __init__(self, engine_version: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class NodeDescription(_message.Message):
    __slots__ = ("hostname", "platform", "resources", "engine", "addr")
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    platform: _types_pb2.Platform
    resources: _types_pb2.Resources
    engine: EngineDescription
    addr: str
    def __init__(self, hostname: _Optional[str] = ..., platform: _Optional[_Union[_types_pb2.Platform, _Mapping]] = ..., resources: _Optional[_Union[_types_pb2.Resources, _Mapping]] = ..., engine: _Optional[_Union[EngineDescription, _Mapping]] = ..., addr: _Optional[str] = ...) -> None: ...

class NodeStatus(_message.Message):
    __slots__ = ("state", "message", "addr")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[NodeStatus.State]
        DOWN: _ClassVar[NodeStatus.State]
        READY: _ClassVar[NodeStatus.State]
        DISCONNECTED: _ClassVar[NodeStatus.State]
    UNKNOWN: NodeStatus.State
    DOWN: NodeStatus.State
    READY: NodeStatus.State
    DISCONNECTED: NodeStatus.State
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    state: NodeStatus.State
    message: str
    addr: str
    def __init__(self, state: _Optional[_Union[NodeStatus.State, str]] = ..., message: _Optional[str] = ..., addr: _Optional[str] = ...) -> None: ...

class ManagerStatus(_message.Message):
    __slots__ = ("addr", "leader", "reachability", "etcd_member_id")
    class Reachability(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[ManagerStatus.Reachability]
        UNREACHABLE: _ClassVar[ManagerStatus.Reachability]
        REACHABLE: _ClassVar[ManagerStatus.Reachability]
    UNKNOWN: ManagerStatus.Reachability
    UNREACHABLE: ManagerStatus.Reachability
    REACHABLE: ManagerStatus.Reachability
    ADDR_FIELD_NUMBER: _ClassVar[int]
    LEADER_FIELD_NUMBER: _ClassVar[int]
    REACHABILITY_FIELD_NUMBER: _ClassVar[int]
    ETCD_MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    addr: str
    leader: bool
    reachability: ManagerStatus.Reachability
    etcd_member_id: int
    def __init__(self, addr: _Optional[str] = ..., leader: _Optional[bool] = ..., reachability: _Optional[_Union[ManagerStatus.Reachability, str]] = ..., etcd_member_id: _Optional[int] = ...) -> None: ...

class Node(_message.Message):
    __slots__ = ("id", "meta", "spec", "description", "status", "manager_status", "role", "attachments")
    ID_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MANAGER_STATUS_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    meta: _types_pb2.Meta
    spec: _specs_pb2.NodeSpec
    description: NodeDescription
    status: NodeStatus
    manager_status: ManagerStatus
    role: _types_pb2.NodeRole
    attachments: _containers.RepeatedCompositeFieldContainer[NetworkAttachment]
    def __init__(self, id: _Optional[str] = ..., meta: _Optional[_Union[_types_pb2.Meta, _Mapping]] = ..., spec: _Optional[_Union[_specs_pb2.NodeSpec, _Mapping]] = ..., description: _Optional[_Union[NodeDescription, _Mapping]] = ..., status: _Optional[_Union[NodeStatus, _Mapping]] = ..., manager_status: _Optional[_Union[ManagerStatus, _Mapping]] = ..., role: _Optional[_Union[_types_pb2.NodeRole, str]] = ..., attachments: _Optional[_Iterable[_Union[NetworkAttachment, _Mapping]]] = ...) -> None: ...

class VirtualIP(_message.Message):
    __slots__ = ("network_id", "addr")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    addr: str
    def __init__(self, network_id: _Optional[str] = ..., addr: _Optional[str] = ...) -> None: ...

class Endpoint(_message.Message):
    __slots__ = ("spec", "ports", "virtual_ips")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    VIRTUAL_IPS_FIELD_NUMBER: _ClassVar[int]
    spec: _specs_pb2.EndpointSpec
    ports: _containers.RepeatedCompositeFieldContainer[_types_pb2.PortConfig]
    virtual_ips: _containers.RepeatedCompositeFieldContainer[VirtualIP]
    def __init__(self, spec: _Optional[_Union[_specs_pb2.EndpointSpec, _Mapping]] = ..., ports: _Optional[_Iterable[_Union[_types_pb2.PortConfig, _Mapping]]] = ..., virtual_ips: _Optional[_Iterable[_Union[VirtualIP, _Mapping]]] = ...) -> None: ...

class UpdateStatus(_message.Message):
    __slots__ = ("state", "started_at", "completed_at", "message")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[UpdateStatus.State]
        UPDATING: _ClassVar[UpdateStatus.State]
        PAUSED: _ClassVar[UpdateStatus.State]
        COMPLETED: _ClassVar[UpdateStatus.State]
        ROLLBACK_STARTED: _ClassVar[UpdateStatus.State]
        ROLLBACK_PAUSED: _ClassVar[UpdateStatus.State]
        ROLLBACK_COMPLETED: _ClassVar[UpdateStatus.State]
    UNKNOWN: UpdateStatus.State
    UPDATING: UpdateStatus.State
    PAUSED: UpdateStatus.State
    COMPLETED: UpdateStatus.State
    ROLLBACK_STARTED: UpdateStatus.State
    ROLLBACK_PAUSED: UpdateStatus.State
    ROLLBACK_COMPLETED: UpdateStatus.State
    STATE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    state: UpdateStatus.State
    started_at: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    message: str
    def __init__(self, state: _Optional[_Union[UpdateStatus.State, str]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., message: _Optional[str] = ...) -> None: ...

class Service(_message.Message):
    __slots__ = ("id", "meta", "spec", "spec_version", "previous_spec", "previous_spec_version", "endpoint", "update_status", "pending_delete")
    ID_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    SPEC_VERSION_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_SPEC_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_SPEC_VERSION_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_STATUS_FIELD_NUMBER: _ClassVar[int]
    PENDING_DELETE_FIELD_NUMBER: _ClassVar[int]
    id: str
    meta: _types_pb2.Meta
    spec: _specs_pb2.ServiceSpec
    spec_version: _types_pb2.Version
    previous_spec: _specs_pb2.ServiceSpec
    previous_spec_version: _types_pb2.Version
    endpoint: Endpoint
    update_status: UpdateStatus
    pending_delete: bool
    def __init__(self, id: _Optional[str] = ..., meta: _Optional[_Union[_types_pb2.Meta, _Mapping]] = ..., spec: _Optional[_Union[_specs_pb2.ServiceSpec, _Mapping]] = ..., spec_version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., previous_spec: _Optional[_Union[_specs_pb2.ServiceSpec, _Mapping]] = ..., previous_spec_version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ..., endpoint: _Optional[_Union[Endpoint, _Mapping]] = ..., update_status: _Optional[_Union[UpdateStatus, _Mapping]] = ..., pending_delete: _Optional[bool] = ...) -> None: ...

class NetworkAttachment(_message.Message):
    __slots__ = ("network", "addresses", "aliases")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    network: Network
    addresses: _containers.RepeatedScalarFieldContainer[str]
    aliases: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, network: _Optional[_Union[Network, _Mapping]] = ..., addresses: _Optional[_Iterable[str]] = ..., aliases: _Optional[_Iterable[str]] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("id", "meta", "spec", "service_id", "slot", "node_id", "annotations", "service_annotations", "status", "desired_state", "networks", "endpoint", "log_driver", "spec_version")
    ID_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DESIRED_STATE_FIELD_NUMBER: _ClassVar[int]
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    LOG_DRIVER_FIELD_NUMBER: _ClassVar[int]
    SPEC_VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    meta: _types_pb2.Meta
    spec: _specs_pb2.TaskSpec
    service_id: str
    slot: int
    node_id: str
    annotations: _types_pb2.Annotations
    service_annotations: _types_pb2.Annotations
    status: _types_pb2.TaskStatus
    desired_state: _types_pb2.TaskState
    networks: _containers.RepeatedCompositeFieldContainer[NetworkAttachment]
    endpoint: Endpoint
    log_driver: _types_pb2.Driver
    spec_version: _types_pb2.Version
    def __init__(self, id: _Optional[str] = ..., meta: _Optional[_Union[_types_pb2.Meta, _Mapping]] = ..., spec: _Optional[_Union[_specs_pb2.TaskSpec, _Mapping]] = ..., service_id: _Optional[str] = ..., slot: _Optional[int] = ..., node_id: _Optional[str] = ..., annotations: _Optional[_Union[_types_pb2.Annotations, _Mapping]] = ..., service_annotations: _Optional[_Union[_types_pb2.Annotations, _Mapping]] = ..., status: _Optional[_Union[_types_pb2.TaskStatus, _Mapping]] = ..., desired_state: _Optional[_Union[_types_pb2.TaskState, str]] = ..., networks: _Optional[_Iterable[_Union[NetworkAttachment, _Mapping]]] = ..., endpoint: _Optional[_Union[Endpoint, _Mapping]] = ..., log_driver: _Optional[_Union[_types_pb2.Driver, _Mapping]] = ..., spec_version: _Optional[_Union[_types_pb2.Version, _Mapping]] = ...) -> None: ...

class Network(_message.Message):
    __slots__ = ("id", "meta", "spec", "driver_state", "ipam", "pending_delete")
    ID_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    DRIVER_STATE_FIELD_NUMBER: _ClassVar[int]
    IPAM_FIELD_NUMBER: _ClassVar[int]
    PENDING_DELETE_FIELD_NUMBER: _ClassVar[int]
    id: str
    meta: _types_pb2.Meta
    spec: _specs_pb2.NetworkSpec
    driver_state: _types_pb2.Driver
    ipam: _types_pb2.IPAMOptions
    pending_delete: bool
    def __init__(self, id: _Optional[str] = ..., meta: _Optional[_Union[_types_pb2.Meta, _Mapping]] = ..., spec: _Optional[_Union[_specs_pb2.NetworkSpec, _Mapping]] = ..., driver_state: _Optional[_Union[_types_pb2.Driver, _Mapping]] = ..., ipam: _Optional[_Union[_types_pb2.IPAMOptions, _Mapping]] = ..., pending_delete: _Optional[bool] = ...) -> None: ...

class Secret(_message.Message):
    __slots__ = ("id", "meta", "spec", "internal")
    ID_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_FIELD_NUMBER: _ClassVar[int]
    id: str
    meta: _types_pb2.Meta
    spec: _specs_pb2.SecretSpec
    internal: bool
    def __init__(self, id: _Optional[str] = ..., meta: _Optional[_Union[_types_pb2.Meta, _Mapping]] = ..., spec: _Optional[_Union[_specs_pb2.SecretSpec, _Mapping]] = ..., internal: _Optional[bool] = ...) -> None: ...

class Config(_message.Message):
    __slots__ = ("id", "meta", "spec")
    ID_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    id: str
    meta: _types_pb2.Meta
    spec: _specs_pb2.ConfigSpec
    def __init__(self, id: _Optional[str] = ..., meta: _Optional[_Union[_types_pb2.Meta, _Mapping]] = ..., spec: _Optional[_Union[_specs_pb2.ConfigSpec, _Mapping]] = ...) -> None: ...

class RootCA(_message.Message):
    __slots__ = ("ca_key", "ca_cert", "ca_cert_hash", "join_tokens")
    CA_KEY_FIELD_NUMBER: _ClassVar[int]
    CA_CERT_FIELD_NUMBER: _ClassVar[int]
    CA_CERT_HASH_FIELD_NUMBER: _ClassVar[int]
    JOIN_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ca_key: bytes
    ca_cert: bytes
    ca_cert_hash: str
    join_tokens: _types_pb2.JoinTokens
    def __init__(self, ca_key: _Optional[bytes] = ..., ca_cert: _Optional[bytes] = ..., ca_cert_hash: _Optional[str] = ..., join_tokens: _Optional[_Union[_types_pb2.JoinTokens, _Mapping]] = ...) -> None: ...

class Cluster(_message.Message):
    __slots__ = ("id", "meta", "spec", "root_ca", "etcd_endpoints", "etcd_embedded")
    ID_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    ROOT_CA_FIELD_NUMBER: _ClassVar[int]
    ETCD_ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    ETCD_EMBEDDED_FIELD_NUMBER: _ClassVar[int]
    id: str
    meta: _types_pb2.Meta
    spec: _specs_pb2.ClusterSpec
    root_ca: RootCA
    etcd_endpoints: _containers.RepeatedScalarFieldContainer[str]
    etcd_embedded: bool
    def __init__(self, id: _Optional[str] = ..., meta: _Optional[_Union[_types_pb2.Meta, _Mapping]] = ..., spec: _Optional[_Union[_specs_pb2.ClusterSpec, _Mapping]] = ..., root_ca: _Optional[_Union[RootCA, _Mapping]] = ..., etcd_endpoints: _Optional[_Iterable[str]] = ..., etcd_embedded: _Optional[bool] = ...) -> None: ...
