"""Stack commands: deploy, ls, ps, services, rm (Compose files deployed as services).

    deploy    load the Compose files (cli/compose), then:
              GET /services?filters={"label":["com.docker.stack.namespace=NAME"]}
              [--prune: DELETE /services/{id} of services no longer in the files]
              GET /networks/{name} for each external network (must exist)
              GET /networks?filters={"label":[...]}, POST /networks/create for missing ones
              POST /services/create for new services; POST /services/{id}/update?version=V
              only for services whose spec differs from the deployed one (an image the
              manager pinned to a digest matches its tag); with resolveImage=M, and
              X-Registry-Auth with --with-registry-auth
    ls        GET /services?filters={"label":["com.docker.stack.namespace"]}: NAME, SERVICES
    services  GET /services?filters={"label":["...=NAME"]}&status=true: the service table
    ps        the stack's services, then GET /tasks?filters={"service":[ids]}
    rm        DELETE /services/{id} of each service, then DELETE /networks/{id}
"""

from __future__ import annotations

import copy

from ..errors import APIError, CLIError
from ..flags import Command, Flag
from . import parse
from .service_flags import choice
from .swarm_api import STACK_LABEL, filters_json, parse_filters, strip_digest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..context import Context

# Values a daemon may leave out of a spec it returns because they are defaults.
_DEFAULTS = {("Mode", "vip"), ("Protocol", "tcp"), ("PublishMode", "ingress"),
             ("FailureAction", "pause"), ("Order", "stop-first"), ("Isolation", "default"),
             ("Runtime", "container")}


def _stack_filter(name: str | None = None) -> dict[str, list[str]]:
    return {"label": [STACK_LABEL if name is None else f"{STACK_LABEL}={name}"]}


def _stack_services(ctx: Context, name: str, status: bool = False) -> list[dict[str, Any]]:
    params = {"filters": filters_json(_stack_filter(name)), "status": "true" if status else None}
    return list(ctx.client.get("/services", params) or [])


def _stack_networks(ctx: Context, name: str) -> list[dict[str, Any]]:
    return list(ctx.client.get("/networks", {"filters": filters_json(_stack_filter(name))})
                or [])


def normalize(doc: Any, names: dict[str, str] | None = None) -> Any:
    """Return a spec without empty values and defaults, network ids mapped to names."""
    names = names or {}
    if isinstance(doc, dict):
        out = {}
        for key, value in doc.items():
            if key == "Target" and isinstance(value, str):
                value = names.get(value, value)
            value = normalize(value, names)
            if value in (None, "", [], {}, 0, False) or (
                    isinstance(value, str) and (key, value) in _DEFAULTS):
                continue
            out[key] = value
        return out
    if isinstance(doc, list):
        return [normalize(v, names) for v in doc]
    return doc


def spec_changed(deployed: dict[str, Any], wanted: dict[str, Any],
                 network_names: dict[str, str] | None = None, pinned_ok: bool = True) -> bool:
    """Tell whether a service must be updated to match the Compose files.

    With PINNED_OK, a deployed image the manager pinned to a digest
    (``app:1.0@sha256:...``) still matches the file's ``app:1.0``.
    """
    deployed = copy.deepcopy(deployed)
    dc = (deployed.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    want = str(((wanted.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image")
               or "")
    have = str(dc.get("Image") or "")
    if pinned_ok and "@" in have and "@" not in want and strip_digest(have) == want:
        dc["Image"] = want
    return normalize(deployed, network_names) != normalize(wanted, network_names)


DEPLOY = Command("{prog} [OPTIONS] STACK", "Deploy a new stack or update an existing stack", [
    Flag("compose-file", "c", "list", 'Path to a Compose file, or "-" to read from stdin',
         metavar="strings"),
    Flag("detach", "d", "bool",
         "Exit immediately instead of waiting for the stack services to converge",
         default=True),
    Flag("prune", "", "bool", "Prune services that are no longer referenced"),
    Flag("quiet", "q", "bool", "Suppress progress output"),
    Flag("resolve-image", "", "string",
         'Query the registry to resolve image digest ("always", "changed", "never"; '
         "default: new or changed images that name a registry host)",
         conv=choice("always", "changed", "never"), metavar="string"),
    Flag("with-registry-auth", "", "bool",
         "Send registry authentication details to cluster agents"),
], min_args=1, max_args=1)


def _registry(opts: Any, spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any],
                                                         dict[str, str]]:
    """Return the query, body and headers of a service create or update of a stack."""
    from .service import registry_options

    image = str(((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image")
                or "")
    params, headers = registry_options(opts, image)
    return params, spec, headers


def deploy(ctx: Context, argv: list[str]) -> int:
    """Create or update the services and networks of a stack from Compose files."""
    parsed = parse(DEPLOY, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    stack = args[0]
    if not opts.compose_file:
        raise CLIError("Please specify a Compose file (with --compose-file).")
    from ..compose import load_project, plan_stack

    project = load_project(opts.compose_file)
    for warning in project.warnings:
        ctx.err(warning + "\n")
    plan = plan_stack(project, stack)
    client = ctx.client
    deployed = {(s.get("Spec") or {}).get("Name", ""): s for s in _stack_services(ctx, stack)}
    if opts.prune:
        for name in sorted(set(deployed) - set(plan.services)):
            ctx.out(f"Removing service {name}\n")
            client.request("DELETE", f"/services/{deployed.pop(name)['ID']}").read()
    names: dict[str, str] = {}  # network id -> name, to compare deployed specs
    for name in plan.external_networks:
        try:
            net = client.get(f"/networks/{name}") or {}
        except APIError as exc:
            if exc.status != 404:
                raise
            raise CLIError(f'network "{name}" is declared as external, but could not be '
                           "found. You need to create a swarm-scoped network before the "
                           "stack is deployed") from None
        if net.get("Scope", "swarm") != "swarm":
            raise CLIError(f'network "{name}" is declared as external, but it is not in the '
                           f'right scope: "{net.get("Scope")}" instead of "swarm"')
        names[net.get("Id", name)] = name
    existing = {n.get("Name", ""): n for n in _stack_networks(ctx, stack)}
    names.update({n.get("Id", ""): name for name, n in existing.items()})
    for name, body in plan.networks.items():
        if name in existing:
            continue
        ctx.out(f"Creating network {name}\n")
        try:
            created = client.post("/networks/create", body={"Name": name, **body}) or {}
        except CLIError as exc:
            raise CLIError(f"failed to create network {name}: {exc}") from None
        names[created.get("Id", name)] = name
    changed = []
    for name, spec in plan.services.items():
        service = deployed.get(name)
        if service is None:
            ctx.out(f"Creating service {name}\n")
            try:
                params, body, headers = _registry(opts, spec)
                resp = client.request("POST", "/services/create", params, body,
                                      headers).json() or {}
            except CLIError as exc:
                raise CLIError(f"failed to create service {name}: {exc}") from None
            changed.append(resp.get("ID", name))
        else:
            current = service.get("Spec") or {}
            spec = copy.deepcopy(spec)
            force = (current.get("TaskTemplate") or {}).get("ForceUpdate")
            if force:
                spec["TaskTemplate"]["ForceUpdate"] = force
            if not spec_changed(current, spec, names, opts.resolve_image != "always"):
                continue
            ctx.out(f"Updating service {name} (id: {service['ID']})\n")
            version = (service.get("Version") or {}).get("Index", 0)
            params, body, headers = _registry(opts, spec)
            try:
                resp = client.request("POST", f"/services/{service['ID']}/update",
                                      {"version": str(version), **params}, body,
                                      headers).json() or {}
            except CLIError as exc:
                raise CLIError(f"failed to update service {name}: {exc}") from None
            changed.append(service["ID"])
        for warning in resp.get("Warnings") or []:
            ctx.err(f"{warning}\n")
    if not opts.detach:
        from .progress import wait

        for service_id in changed:
            wait(ctx, service_id, updating=True, quiet=opts.quiet)
    return 0


LS = Command("{prog} [OPTIONS]", "List stacks", [
    Flag("format", "", "string", "Format output using a custom template"),
], max_args=0)


def ls(ctx: Context, argv: list[str]) -> int:
    """List stacks (services grouped by their namespace label): NAME, SERVICES."""
    from ..formatting import natural_key, table

    parsed = parse(LS, ctx, argv)
    if parsed is None:
        return 0
    opts, _ = parsed
    services = ctx.client.get("/services", {"filters": filters_json(_stack_filter())}) or []
    counts: dict[str, int] = {}
    for s in services:
        name = ((s.get("Spec") or {}).get("Labels") or {}).get(STACK_LABEL)
        if name:
            counts[name] = counts.get(name, 0) + 1
    rows = [{"Name": n, "Services": str(counts[n])} for n in sorted(counts, key=natural_key)]
    if opts.format:
        from ..template import render_table

        ctx.out(render_table(opts.format, rows, {"Name": "NAME", "Services": "SERVICES"}))
        return 0
    ctx.out(table(["NAME", "SERVICES"], [[r["Name"], r["Services"]] for r in rows]))
    return 0


SERVICES = Command("{prog} [OPTIONS] STACK", "List the services in the stack", [
    Flag("filter", "f", "list", "Filter output based on conditions provided", metavar="filter"),
    Flag("format", "", "string", "Format output using a custom template"),
    Flag("quiet", "q", "bool", "Only display IDs"),
], min_args=1, max_args=1)


def services(ctx: Context, argv: list[str]) -> int:
    """List a stack's services as `service ls` does."""
    from .swarm_tables import list_services, print_services

    parsed = parse(SERVICES, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    filters = parse_filters(opts.filter)
    filters.setdefault("label", []).append(f"{STACK_LABEL}={args[0]}")
    found = list_services(ctx, filters)
    if not found and not opts.filter:
        ctx.err(f"Nothing found in stack: {args[0]}\n")
        return 0
    print_services(ctx, found, opts.quiet, opts.format)
    return 0


PS = Command("{prog} [OPTIONS] STACK", "List the tasks in the stack", [
    Flag("filter", "f", "list", "Filter output based on conditions provided", metavar="filter"),
    Flag("format", "", "string", "Pretty-print tasks using a Go template"),
    Flag("no-resolve", "", "bool", "Do not map IDs to Names"),
    Flag("no-trunc", "", "bool", "Do not truncate output"),
    Flag("quiet", "q", "bool", "Only display task IDs"),
], min_args=1, max_args=1)


def ps(ctx: Context, argv: list[str]) -> int:
    """List the tasks of a stack's services."""
    from .swarm_tables import list_tasks, print_tasks

    parsed = parse(PS, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    found = _stack_services(ctx, args[0])
    tasks = []
    if found:
        filters = parse_filters(opts.filter)
        filters["service"] = [s["ID"] for s in found]
        tasks = list_tasks(ctx, filters)
    if not tasks:
        raise CLIError(f"nothing found in stack: {args[0]}")
    print_tasks(ctx, tasks, trunc=not opts.no_trunc, quiet=opts.quiet, fmt=opts.format,
                resolve=not opts.no_resolve, services=found)
    return 0


RM = Command("{prog} STACK [STACK...]", "Remove one or more stacks", min_args=1)


def rm(ctx: Context, argv: list[str]) -> int:
    """Remove stacks: their services, then their networks."""
    parsed = parse(RM, ctx, argv)
    if parsed is None:
        return 0
    client = ctx.client
    errors = []
    for stack in parsed[1]:
        found = _stack_services(ctx, stack)
        networks = _stack_networks(ctx, stack)
        if not found and not networks:
            ctx.err(f"Nothing found in stack: {stack}\n")
            continue
        for s in sorted(found, key=lambda s: (s.get("Spec") or {}).get("Name", "")):
            name = (s.get("Spec") or {}).get("Name", s["ID"])
            ctx.out(f"Removing service {name}\n")
            try:
                client.request("DELETE", f"/services/{s['ID']}").read()
            except CLIError as exc:
                errors.append(f"Failed to remove service {s['ID']}: {exc}")
        for n in sorted(networks, key=lambda n: n.get("Name", "")):
            ctx.out(f"Removing network {n.get('Name', '')}\n")
            try:
                client.request("DELETE", f"/networks/{n['Id']}").read()
            except CLIError as exc:
                errors.append(f"Failed to remove network {n['Id']}: {exc}")
    if errors:
        raise CLIError("\n".join(errors))
    return 0
