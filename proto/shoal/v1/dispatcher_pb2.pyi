import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from shoal.proto.shoal.v1 import objects_pb2 as _objects_pb2
from shoal.proto.shoal.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SessionRequest(_message.Message):
    __slots__ = ("description", "session_id")
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    description: _objects_pb2.NodeDescription
    session_id: str
    def __init__(self, description: _Optional[_Union[_objects_pb2.NodeDescription, _Mapping]] = ..., session_id: _Optional[str] = ...) -> None: ...

class WeightedPeer(_message.Message):
    __slots__ = ("node_id", "addr", "weight")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    addr: str
    weight: int
    def __init__(self, node_id: _Optional[str] = ..., addr: _Optional[str] = ..., weight: _Optional[int] = ...) -> None: ...

class SessionMessage(_message.Message):
    __slots__ = ("session_id", "node", "managers", "root_ca")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    MANAGERS_FIELD_NUMBER: _ClassVar[int]
    ROOT_CA_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    node: _objects_pb2.Node
    managers: _containers.RepeatedCompositeFieldContainer[WeightedPeer]
    root_ca: bytes
    def __init__(self, session_id: _Optional[str] = ..., node: _Optional[_Union[_objects_pb2.Node, _Mapping]] = ..., managers: _Optional[_Iterable[_Union[WeightedPeer, _Mapping]]] = ..., root_ca: _Optional[bytes] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("period",)
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    period: _duration_pb2.Duration
    def __init__(self, period: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class AssignmentsRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("task", "secret", "config", "network")
    TASK_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    task: _objects_pb2.Task
    secret: _objects_pb2.Secret
    config: _objects_pb2.Config
    network: NetworkState
    def __init__(self, task: _Optional[_Union[_objects_pb2.Task, _Mapping]] = ..., secret: _Optional[_Union[_objects_pb2.Secret, _Mapping]] = ..., config: _Optional[_Union[_objects_pb2.Config, _Mapping]] = ..., network: _Optional[_Union[NetworkState, _Mapping]] = ...) -> None: ...

class NetworkState(_message.Message):
    __slots__ = ("network_id", "network", "local_address", "peers", "endpoints", "services", "ingress_ports")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    LOCAL_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    INGRESS_PORTS_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    network: _objects_pb2.Network
    local_address: str
    peers: _containers.RepeatedCompositeFieldContainer[NetworkPeer]
    endpoints: _containers.RepeatedCompositeFieldContainer[RemoteEndpoint]
    services: _containers.RepeatedCompositeFieldContainer[ServiceRecord]
    ingress_ports: _containers.RepeatedCompositeFieldContainer[IngressPort]
    def __init__(self, network_id: _Optional[str] = ..., network: _Optional[_Union[_objects_pb2.Network, _Mapping]] = ..., local_address: _Optional[str] = ..., peers: _Optional[_Iterable[_Union[NetworkPeer, _Mapping]]] = ..., endpoints: _Optional[_Iterable[_Union[RemoteEndpoint, _Mapping]]] = ..., services: _Optional[_Iterable[_Union[ServiceRecord, _Mapping]]] = ..., ingress_ports: _Optional[_Iterable[_Union[IngressPort, _Mapping]]] = ...) -> None: ...

class NetworkPeer(_message.Message):
    __slots__ = ("node_id", "addr")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    addr: str
    def __init__(self, node_id: _Optional[str] = ..., addr: _Optional[str] = ...) -> None: ...

class RemoteEndpoint(_message.Message):
    __slots__ = ("task_id", "ip", "mac", "node_addr")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    MAC_FIELD_NUMBER: _ClassVar[int]
    NODE_ADDR_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    ip: str
    mac: str
    node_addr: str
    def __init__(self, task_id: _Optional[str] = ..., ip: _Optional[str] = ..., mac: _Optional[str] = ..., node_addr: _Optional[str] = ...) -> None: ...

class ServiceRecord(_message.Message):
    __slots__ = ("service_id", "name", "vip", "task_ips", "aliases", "ports")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VIP_FIELD_NUMBER: _ClassVar[int]
    TASK_IPS_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    name: str
    vip: str
    task_ips: _containers.RepeatedScalarFieldContainer[str]
    aliases: _containers.RepeatedScalarFieldContainer[str]
    ports: _containers.RepeatedCompositeFieldContainer[_types_pb2.PortConfig]
    def __init__(self, service_id: _Optional[str] = ..., name: _Optional[str] = ..., vip: _Optional[str] = ..., task_ips: _Optional[_Iterable[str]] = ..., aliases: _Optional[_Iterable[str]] = ..., ports: _Optional[_Iterable[_Union[_types_pb2.PortConfig, _Mapping]]] = ...) -> None: ...

class IngressPort(_message.Message):
    __slots__ = ("service_id", "protocol", "published_port", "target_port", "backends")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_PORT_FIELD_NUMBER: _ClassVar[int]
    TARGET_PORT_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    protocol: _types_pb2.PortConfig.Protocol
    published_port: int
    target_port: int
    backends: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, service_id: _Optional[str] = ..., protocol: _Optional[_Union[_types_pb2.PortConfig.Protocol, str]] = ..., published_port: _Optional[int] = ..., target_port: _Optional[int] = ..., backends: _Optional[_Iterable[str]] = ...) -> None: ...

class AssignmentChange(_message.Message):
    __slots__ = ("assignment", "action")
    class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UPDATE: _ClassVar[AssignmentChange.Action]
        REMOVE: _ClassVar[AssignmentChange.Action]
    UPDATE: AssignmentChange.Action
    REMOVE: AssignmentChange.Action
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    assignment: Assignment
    action: AssignmentChange.Action
    def __init__(self, assignment: _Optional[_Union[Assignment, _Mapping]] = ..., action: _Optional[_Union[AssignmentChange.Action, str]] = ...) -> None: ...

class AssignmentsMessage(_message.Message):
    __slots__ = ("type", "sequence", "changes")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        COMPLETE: _ClassVar[AssignmentsMessage.Type]
        INCREMENTAL: _ClassVar[AssignmentsMessage.Type]
    COMPLETE: AssignmentsMessage.Type
    INCREMENTAL: AssignmentsMessage.Type
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    type: AssignmentsMessage.Type
    sequence: int
    changes: _containers.RepeatedCompositeFieldContainer[AssignmentChange]
    def __init__(self, type: _Optional[_Union[AssignmentsMessage.Type, str]] = ..., sequence: _Optional[int] = ..., changes: _Optional[_Iterable[_Union[AssignmentChange, _Mapping]]] = ...) -> None: ...

class TaskStatusUpdate(_message.Message):
    __slots__ = ("task_id", "status")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    status: _types_pb2.TaskStatus
    def __init__(self, task_id: _Optional[str] = ..., status: _Optional[_Union[_types_pb2.TaskStatus, _Mapping]] = ...) -> None: ...

class UpdateTaskStatusRequest(_message.Message):
    __slots__ = ("session_id", "updates")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    updates: _containers.RepeatedCompositeFieldContainer[TaskStatusUpdate]
    def __init__(self, session_id: _Optional[str] = ..., updates: _Optional[_Iterable[_Union[TaskStatusUpdate, _Mapping]]] = ...) -> None: ...

class UpdateTaskStatusResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
