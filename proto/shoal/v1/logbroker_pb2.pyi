import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LogStream(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOG_STREAM_UNKNOWN: _ClassVar[LogStream]
    LOG_STREAM_STDOUT: _ClassVar[LogStream]
    LOG_STREAM_STDERR: _ClassVar[LogStream]
LOG_STREAM_UNKNOWN: LogStream
LOG_STREAM_STDOUT: LogStream
LOG_STREAM_STDERR: LogStream

class LogSelector(_message.Message):
    __slots__ = ("service_ids",)
    SERVICE_IDS_FIELD_NUMBER: _ClassVar[int]
    service_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, service_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class LogSubscriptionOptions(_message.Message):
    __slots__ = ("streams", "follow", "tail", "since")
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    TAIL_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    streams: _containers.RepeatedScalarFieldContainer[LogStream]
    follow: bool
    tail: int
    since: _timestamp_pb2.Timestamp
    def __init__(self, streams: _Optional[_Iterable[_Union[LogStream, str]]] = ..., follow: _Optional[bool] = ..., tail: _Optional[int] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListenSubscriptionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SubscriptionMessage(_message.Message):
    __slots__ = ("id", "selector", "options", "close")
    ID_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    id: str
    selector: LogSelector
    options: LogSubscriptionOptions
    close: bool
    def __init__(self, id: _Optional[str] = ..., selector: _Optional[_Union[LogSelector, _Mapping]] = ..., options: _Optional[_Union[LogSubscriptionOptions, _Mapping]] = ..., close: _Optional[bool] = ...) -> None: ...

class LogContext(_message.Message):
    __slots__ = ("service_id", "node_id", "task_id")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    node_id: str
    task_id: str
    def __init__(self, service_id: _Optional[str] = ..., node_id: _Optional[str] = ..., task_id: _Optional[str] = ...) -> None: ...

class LogMessage(_message.Message):
    __slots__ = ("context", "timestamp", "stream", "data")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    context: LogContext
    timestamp: _timestamp_pb2.Timestamp
    stream: LogStream
    data: bytes
    def __init__(self, context: _Optional[_Union[LogContext, _Mapping]] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stream: _Optional[_Union[LogStream, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class PublishLogsMessage(_message.Message):
    __slots__ = ("subscription_id", "messages", "close")
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    subscription_id: str
    messages: _containers.RepeatedCompositeFieldContainer[LogMessage]
    close: bool
    def __init__(self, subscription_id: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[LogMessage, _Mapping]]] = ..., close: _Optional[bool] = ...) -> None: ...

class PublishLogsResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
