"""Service commands: create, update, rollback, scale, rm, ls, ps, inspect (logs: service_logs).

    create    POST /services/create?resolveImage=M {ServiceSpec} -> {"ID", "Warnings"}
              (X-Registry-Auth with --with-registry-auth); prints the id, then waits
              for convergence with live progress (progress.py) unless -d
    update    GET /services/{ref}, POST /services/{id}/update?version=V {changed spec}
              (--rollback: the spec as is, with &rollback=previous); waits unless -d
    scale     per NAME=N: GET /services/{ref}, POST /services/{id}/update?version=V with
              Mode.Replicated.Replicas = N; "web scaled to N"; waits unless -d
    rm        DELETE /services/{ref}
    ls        GET /services?filters=...&status=true (ServiceStatus gives running/desired)
    ps        GET /services/{ref} per argument, GET /tasks?filters={"service":[ids],...}
    inspect   GET /services/{ref}?insertDefaults=true
"""

from __future__ import annotations

import copy

from ..errors import APIError, CLIError, UsageError
from ..flags import Command, Flag
from . import parse
from .service_flags import COMMON, CREATE_ONLY, UPDATE_ONLY
from .service_spec import apply_update, build_spec
from .swarm_api import each, get_service, parse_filters

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..context import Context

CREATE = Command("{prog} [OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new service",
                 [*COMMON, *CREATE_ONLY], min_args=1, interspersed=False)


def _warnings(ctx: Context, resp: Any) -> None:
    for warning in (resp or {}).get("Warnings") or []:
        ctx.err(f"{warning}\n")


def registry_options(opts: Any, image: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the query (resolveImage) and headers (X-Registry-Auth) of a create or update.

    The stored credentials of IMAGE's registry go only with --with-registry-auth:
    the manager keeps them in the service for its agents.
    """
    from .registry_cmds import auth_header

    params = {"resolveImage": opts.resolve_image or None}
    return params, auth_header(image) if opts.with_registry_auth else {}


def create(ctx: Context, argv: list[str]) -> int:
    """Create a service from flags, print its id, and wait for its tasks to run."""
    parsed = parse(CREATE, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    spec = build_spec(opts, args[0], args[1:])
    params, headers = registry_options(opts, args[0])
    resp = ctx.client.request("POST", "/services/create", params, spec, headers).json() or {}
    _warnings(ctx, resp)
    ctx.out(f"{resp.get('ID', '')}\n")
    if not opts.detach:
        from .progress import wait

        wait(ctx, resp["ID"], quiet=opts.quiet)
    return 0


UPDATE = Command("{prog} [OPTIONS] SERVICE", "Update a service", [*COMMON, *UPDATE_ONLY],
                 min_args=1, max_args=1)


def _network_ids(ctx: Context, names: list[str]) -> dict[str, str]:
    """Map network names to ids (a spec the daemon stored may name networks by id)."""
    out = {}
    for name in names:
        try:
            out[name] = (ctx.client.get(f"/networks/{name}") or {}).get("Id", name)
        except APIError:
            continue
    return out


def _post_update(ctx: Context, service: dict[str, Any], spec: dict[str, Any],
                 rollback: bool = False, opts: Any = None) -> None:
    version = (service.get("Version") or {}).get("Index", 0)
    params: dict[str, Any] = {"version": str(version),
                              "rollback": "previous" if rollback else None}
    headers: dict[str, str] = {}
    if opts is not None:
        image = str(((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {})
                    .get("Image") or "")
        extra, headers = registry_options(opts, image)
        params.update(extra)
    resp = ctx.client.request("POST", f"/services/{service['ID']}/update", params, spec,
                              headers).json()
    _warnings(ctx, resp)


def update(ctx: Context, argv: list[str]) -> int:
    """Change a service's spec with update flags; print its name; wait unless -d."""
    parsed = parse(UPDATE, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    service = get_service(ctx, args[0])
    spec = copy.deepcopy(service.get("Spec") or {})
    if opts.rollback:
        others = opts.changed - {"rollback", "detach", "quiet"}
        if others:
            raise CLIError("other flags may not be combined with --rollback")
    else:
        spec = apply_update(spec, opts, _network_ids(ctx, opts.network_rm))
    _post_update(ctx, service, spec, rollback=opts.rollback, opts=opts)
    ctx.out(f"{args[0]}\n")
    if not opts.detach:
        from .progress import wait

        wait(ctx, service["ID"], updating=True, quiet=opts.quiet, rollback=opts.rollback)
    return 0


ROLLBACK = Command("{prog} [OPTIONS] SERVICE", "Revert changes to a service's configuration", [
    Flag("detach", "d", "bool",
         "Exit immediately instead of waiting for the service to converge"),
    Flag("quiet", "q", "bool", "Suppress progress output"),
], min_args=1, max_args=1)


def rollback(ctx: Context, argv: list[str]) -> int:
    """Go back to the service's previous spec (update with rollback=previous)."""
    parsed = parse(ROLLBACK, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    service = get_service(ctx, args[0])
    _post_update(ctx, service, service.get("Spec") or {}, rollback=True)
    ctx.out(f"{args[0]}\n")
    if not opts.detach:
        from .progress import wait

        wait(ctx, service["ID"], updating=True, quiet=opts.quiet, rollback=True)
    return 0


SCALE = Command("{prog} SERVICE=REPLICAS [SERVICE=REPLICAS...]",
                "Scale one or multiple replicated services", [
    Flag("detach", "d", "bool",
         "Exit immediately instead of waiting for the service to converge"),
], min_args=1)


def scale(ctx: Context, argv: list[str]) -> int:
    """Set the replicas of services (``web=5``); wait for each to converge unless -d."""
    parsed = parse(SCALE, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    pairs = []
    for arg in args:
        name, eq, number = arg.partition("=")
        if not (eq and name and number.isascii() and number.isdigit()):
            err = UsageError(f"invalid scale specifier '{arg}'.\nSee '{ctx.path} --help'.\n\n"
                             f"Usage:  {SCALE.usage.replace('{prog}', ctx.path)}\n\n"
                             f"{SCALE.summary}")
            err.exit_code = 1
            raise err
        pairs.append((name, int(number)))
    errors, scaled = [], []
    for name, count in pairs:
        try:
            service = get_service(ctx, name)
            spec = copy.deepcopy(service.get("Spec") or {})
            mode = spec.get("Mode") or {}
            if "Replicated" not in mode:
                raise CLIError("scale can only be used with replicated or replicated-job mode")
            mode["Replicated"] = {**(mode.get("Replicated") or {}), "Replicas": count}
            _post_update(ctx, service, spec)
        except CLIError as exc:
            errors.append(f"{name}: {exc}")
            continue
        ctx.out(f"{name} scaled to {count}\n")
        scaled.append(service["ID"])
    if not opts.detach:
        from .progress import wait

        for service_id in scaled:
            try:
                wait(ctx, service_id)
            except CLIError as exc:
                errors.append(f"{service_id}: {exc}")
    if errors:
        raise CLIError("\n".join(errors))
    return 0


RM = Command("{prog} SERVICE [SERVICE...]", "Remove one or more services", min_args=1)


def rm(ctx: Context, argv: list[str]) -> int:
    """Remove services: DELETE /services/{ref}; print each name removed."""
    parsed = parse(RM, ctx, argv)
    if parsed is None:
        return 0
    return each(ctx, parsed[1], lambda n: ctx.client.request("DELETE", f"/services/{n}").read())


LS = Command("{prog} [OPTIONS]", "List services", [
    Flag("filter", "f", "list", "Filter output based on conditions provided", metavar="filter"),
    Flag("format", "", "string", "Format output using a custom template"),
    Flag("quiet", "q", "bool", "Only display IDs"),
], max_args=0)


def ls(ctx: Context, argv: list[str]) -> int:
    """List services: ID, NAME, MODE, REPLICAS, IMAGE, PORTS."""
    from .swarm_tables import list_services, print_services

    parsed = parse(LS, ctx, argv)
    if parsed is None:
        return 0
    opts, _ = parsed
    services = list_services(ctx, parse_filters(opts.filter))
    print_services(ctx, services, opts.quiet, opts.format)
    return 0


PS = Command("{prog} [OPTIONS] SERVICE [SERVICE...]",
             "List the tasks of one or more services", [
    Flag("filter", "f", "list", "Filter output based on conditions provided", metavar="filter"),
    Flag("format", "", "string", "Pretty-print tasks using a Go template"),
    Flag("no-resolve", "", "bool", "Do not map IDs to Names"),
    Flag("no-trunc", "", "bool", "Do not truncate output"),
    Flag("quiet", "q", "bool", "Only display task IDs"),
], min_args=1)


def ps(ctx: Context, argv: list[str]) -> int:
    """List the tasks of services, history included (older tasks under ``\\_``)."""
    from .swarm_tables import list_tasks, print_tasks

    parsed = parse(PS, ctx, argv)
    if parsed is None:
        return 0
    opts, names = parsed
    services, errors = [], []
    for name in names:
        try:
            services.append(get_service(ctx, name))
        except APIError as exc:
            if exc.status != 404:
                raise
            errors.append(f"no such service: {name}")
    if services:
        filters = parse_filters(opts.filter)
        filters["service"] = [s["ID"] for s in services]
        tasks = list_tasks(ctx, filters)
        print_tasks(ctx, tasks, trunc=not opts.no_trunc, quiet=opts.quiet, fmt=opts.format,
                    resolve=not opts.no_resolve, services=services)
    if errors:
        raise CLIError("\n".join(errors))
    return 0


INSPECT = Command("{prog} [OPTIONS] SERVICE [SERVICE...]",
                  "Display detailed information on one or more services", [
    Flag("format", "f", "string", "Format output using a custom template"),
    Flag("pretty", "", "bool", "Print the information in a human friendly format"),
], min_args=1)


def inspect(ctx: Context, argv: list[str]) -> int:
    """Print services as JSON, through a template, or (--pretty) for people."""
    parsed = parse(INSPECT, ctx, argv)
    if parsed is None:
        return 0
    opts, names = parsed
    if opts.pretty and opts.format:
        raise CLIError("--format is incompatible with human friendly format")
    docs, errors = [], []
    for name in names:
        try:
            docs.append(get_service(ctx, name, defaults=True))
        except APIError as exc:
            if exc.status != 404:
                raise
            errors.append(f"no such service: {name}")
    if opts.pretty:
        from .swarm_pretty import pretty_service

        ctx.out("".join(pretty_service(d) + "\n\n" for d in docs))
    else:
        from .containers import print_inspect

        print_inspect(ctx, docs, opts.format)
    if errors:
        raise CLIError("\n".join(errors))
    return 0
