"""Swarm routes of the Docker Engine API: /swarm, /nodes, /services, /tasks.

Thin: each handler converts Docker's JSON to shoal.v1 messages
(manager/dockerapi), calls the Control API of a manager through the
ClusterBackend in `app[CLUSTER_KEY]` (set by the daemon; absent means "not
in a swarm"), and converts the answer back. Errors: the backend's
ClusterAPIError (not in a swarm, a worker) → 503 with dockerd's message;
gRPC codes → HTTP statuses by manager/dockerapi/rpc.py, with the server's
message; InvalidArgument and NotFound go through the app's middleware.
Service create and update keep X-Registry-Auth for the agents and pin images
to registry digests first (manager/dockerapi/images.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import grpc
from aiohttp import web

from shoal.engine.api.app import (
    ENGINE_KEY,
    Handler,
    add,
    body_json,
    error_response,
    json_response,
    qbool,
)
from shoal.engine.api.streams import MULTIPLEXED_STREAM, RAW_STREAM, encode
from shoal.engine.errors import InvalidArgument
from shoal.manager.dockerapi import convert, filters, images, lookup
from shoal.manager.dockerapi.backend import ClusterBackend, ControlAPI, ServiceLogOptions
from shoal.manager.dockerapi.errors import ClusterAPIError, NotInSwarm
from shoal.manager.dockerapi.rpc import http_error
from shoal.manager.dockerapi.status import service_statuses
from shoal.proto.shoal.v1 import control_pb2 as c
from shoal.proto.shoal.v1 import types_pb2

log = logging.getLogger(__name__)

CLUSTER_KEY: web.AppKey[ClusterBackend] = web.AppKey("cluster", ClusterBackend)


def _cluster(request: web.Request) -> ClusterBackend:
    backend = request.app.get(CLUSTER_KEY)
    if backend is None:
        raise NotInSwarm()
    return backend


def _control(request: web.Request) -> ControlAPI:
    return _cluster(request).control()


def _mapped(handler: Handler) -> Handler:
    """Answer the backend's and the Control API's errors as Docker does."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ClusterAPIError as exc:
            return error_response(exc.status, str(exc))
        except grpc.RpcError as exc:
            status, message = http_error(exc)
            return error_response(status, message)

    return wrapper


def _ok() -> web.Response:
    return web.Response(status=200)


# Swarm.

async def inspect_swarm(request: web.Request) -> web.Response:
    control = _control(request)
    cluster = await lookup.get_cluster(control)
    tokens = cluster.root_ca.join_tokens
    if not (tokens.worker or tokens.manager):
        tokens = (await control.GetJoinTokens(c.GetJoinTokensRequest())).join_tokens
    return json_response(convert.swarm_to_json(cluster, tokens))


async def init_swarm(request: web.Request) -> web.Response:
    req = convert.init_request_from_json(await body_json(request))
    return json_response(await _cluster(request).init(req))


async def join_swarm(request: web.Request) -> web.Response:
    req = convert.join_request_from_json(await body_json(request))
    await _cluster(request).join(req)
    return _ok()


async def leave_swarm(request: web.Request) -> web.Response:
    await _cluster(request).leave(qbool(request, "force"))
    return _ok()


async def update_swarm(request: web.Request) -> web.Response:
    version = convert.version_from_query(request.query.get("version"), "swarm")
    if qbool(request, "rotateManagerUnlockKey"):
        raise InvalidArgument("autolock is not supported: there is no unlock key to rotate")
    body = await body_json(request)
    control = _control(request)
    cluster = await lookup.get_cluster(control)
    spec = convert.merge_cluster_spec(body, cluster.spec)
    rotation = c.KeyRotation(worker_join_token=qbool(request, "rotateWorkerToken"),
                             manager_join_token=qbool(request, "rotateManagerToken"))
    await control.UpdateCluster(c.UpdateClusterRequest(
        cluster_id=cluster.id, cluster_version=version, spec=spec, rotation=rotation))
    return _ok()


# Nodes.

async def list_nodes(request: web.Request) -> web.Response:
    f = filters.parse(request.query.get("filters"), filters.NODE_KEYS)
    resp = await _control(request).ListNodes(filters.nodes_request(f))
    return json_response([convert.node_to_json(n) for n in resp.nodes if filters.match_node(n, f)])


async def inspect_node(request: web.Request) -> web.Response:
    node = await lookup.get_node(_control(request), request.match_info["id"])
    return json_response(convert.node_to_json(node))


async def update_node(request: web.Request) -> web.Response:
    version = convert.version_from_query(request.query.get("version"), "node")
    spec = convert.node_spec_from_json(await body_json(request), "")
    control = _control(request)
    node = await lookup.get_node(control, request.match_info["id"])
    await control.UpdateNode(c.UpdateNodeRequest(node_id=node.id, node_version=version,
                                                 spec=spec))
    return _ok()


async def remove_node(request: web.Request) -> web.Response:
    control = _control(request)
    node = await lookup.get_node(control, request.match_info["id"])
    await control.RemoveNode(c.RemoveNodeRequest(node_id=node.id,
                                                 force=qbool(request, "force")))
    return _ok()


# Services.

async def list_services(request: web.Request) -> web.Response:
    f = filters.parse(request.query.get("filters"), filters.SERVICE_KEYS)
    control = _control(request)
    resp = await control.ListServices(filters.services_request(f))
    services = [s for s in resp.services if filters.match_service(s, f)]
    out = [convert.service_to_json(s) for s in services]
    if qbool(request, "status") and services:
        tasks = await control.ListTasks(c.ListTasksRequest(
            service_ids=[s.id for s in services], desired_states=[types_pb2.RUNNING]))
        nodes = await control.ListNodes(c.ListNodesRequest())
        statuses = service_statuses(services, tasks.tasks, nodes.nodes)
        for s, doc in zip(services, out, strict=True):
            doc["ServiceStatus"] = statuses[s.id]
    return json_response(out)


async def create_service(request: web.Request) -> web.Response:
    spec = convert.service_spec_from_json(await body_json(request))
    control = _control(request)
    warnings = await images.prepare_service_spec(
        spec, engine=request.app[ENGINE_KEY], header=request.headers.get("X-Registry-Auth"),
        query=request.query)
    resp = await control.CreateService(c.CreateServiceRequest(spec=spec))
    return json_response({"ID": resp.service.id, "Warnings": warnings}, status=201)


async def inspect_service(request: web.Request) -> web.Response:
    svc = await lookup.get_service(_control(request), request.match_info["id"])
    return json_response(convert.service_to_json(svc, qbool(request, "insertDefaults")))


async def update_service(request: web.Request) -> web.Response:
    version = convert.version_from_query(request.query.get("version"), "service")
    rollback = request.query.get("rollback", "")
    if rollback not in ("", "none", "previous"):
        raise InvalidArgument(f"unrecognized rollback option {rollback!r}")
    body = await body_json(request)
    control = _control(request)
    svc = await lookup.get_service(control, request.match_info["id"])
    if rollback == "previous" and not body:
        spec = svc.spec
    else:
        spec = convert.keep_current_where_only_defaults_differ(
            convert.service_spec_from_json(body), svc.spec)
    warnings = await images.prepare_service_spec(
        spec, engine=request.app[ENGINE_KEY], header=request.headers.get("X-Registry-Auth"),
        query=request.query, current=svc)
    await control.UpdateService(c.UpdateServiceRequest(
        service_id=svc.id, service_version=version, spec=spec,
        rollback=rollback == "previous"))
    return json_response({"Warnings": warnings})


async def remove_service(request: web.Request) -> web.Response:
    control = _control(request)
    svc = await lookup.get_service(control, request.match_info["id"])
    await control.RemoveService(c.RemoveServiceRequest(service_id=svc.id))
    return _ok()


def _log_options(request: web.Request) -> ServiceLogOptions:
    tail = request.query.get("tail", "all")
    try:
        tail_n = None if tail in ("all", "") else int(tail)
        since = float(request.query.get("since") or 0)
    except ValueError as exc:
        raise InvalidArgument(f"invalid log option: {exc}") from None
    return ServiceLogOptions(
        stdout=qbool(request, "stdout"), stderr=qbool(request, "stderr"),
        follow=qbool(request, "follow"), since=since, timestamps=qbool(request, "timestamps"),
        tail=tail_n if tail_n is None or tail_n >= 0 else None, details=qbool(request, "details"))


T = TypeVar("T")


async def _while_connected(request: web.Request, items: AsyncIterator[T],
                           period: float = 1.0) -> AsyncIterator[T]:
    """Yield ITEMS until they end or the client goes (checked every PERIOD while idle).

    shoald's aiohttp runner does not cancel a handler whose client left: a
    quiet `logs -f` would otherwise hold its subscription (and the agents'
    readers) until its next line. Whoever stops early also stops ITEMS.
    """
    it = aiter(items)
    nxt: asyncio.Future[T] | None = None
    try:
        while True:
            nxt = asyncio.ensure_future(anext(it))
            while not nxt.done():
                await asyncio.wait({nxt}, timeout=period)
                if not nxt.done() and (request.transport is None
                                       or request.transport.is_closing()):
                    return
            try:
                item = nxt.result()
            except StopAsyncIteration:
                return
            nxt = None
            yield item
    finally:
        if nxt is not None and not nxt.done():
            nxt.cancel()  # ends ITEMS at the await it was in
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await nxt


async def service_logs(request: web.Request) -> web.StreamResponse:
    opts = _log_options(request)
    if not (opts.stdout or opts.stderr):
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    backend = _cluster(request)
    svc = await lookup.get_service(backend.control(), request.match_info["id"])
    tty = svc.spec.task.container.tty
    lines = backend.service_logs(svc.id, opts)
    resp = web.StreamResponse(headers={"Content-Type": RAW_STREAM if tty else MULTIPLEXED_STREAM})
    try:
        await resp.prepare(request)
        async for stream, data in _while_connected(request, lines):
            await resp.write(encode(stream, data, tty))
        await resp.write_eof()
    except (ConnectionResetError, ClusterAPIError, grpc.RpcError) as exc:
        # the status line is sent: all we can do is end the stream
        log.info("service logs of %s ended: %s", svc.id, exc)
    finally:
        aclose = getattr(lines, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
    return resp


# Tasks.

async def list_tasks(request: web.Request) -> web.Response:
    f = filters.parse(request.query.get("filters"), filters.TASK_KEYS)
    control = _control(request)
    service_ids = [(await lookup.get_service(control, ref)).id for ref in f.get("service", [])]
    node_ids = [(await lookup.get_node(control, ref)).id for ref in f.get("node", [])]
    resp = await control.ListTasks(filters.tasks_request(f, service_ids, node_ids))
    return json_response([convert.task_to_json(t) for t in resp.tasks
                          if filters.match_task(t, f, service_ids, node_ids)])


async def inspect_task(request: web.Request) -> web.Response:
    task = await lookup.get_task(_control(request), request.match_info["id"])
    return json_response(convert.task_to_json(task))


def register(app: web.Application) -> None:
    routes: list[tuple[str, str, Any]] = [
        ("GET", "/swarm", inspect_swarm),
        ("POST", "/swarm/init", init_swarm),
        ("POST", "/swarm/join", join_swarm),
        ("POST", "/swarm/leave", leave_swarm),
        ("POST", "/swarm/update", update_swarm),
        ("GET", "/nodes", list_nodes),
        ("GET", "/nodes/{id}", inspect_node),
        ("POST", "/nodes/{id}/update", update_node),
        ("DELETE", "/nodes/{id}", remove_node),
        ("GET", "/services", list_services),
        ("POST", "/services/create", create_service),
        ("GET", "/services/{id}", inspect_service),
        ("POST", "/services/{id}/update", update_service),
        ("DELETE", "/services/{id}", remove_service),
        ("GET", "/services/{id}/logs", service_logs),
        ("GET", "/tasks", list_tasks),
        ("GET", "/tasks/{id}", inspect_task),
    ]
    for method, path, handler in routes:
        add(app, method, path, _mapped(handler))
