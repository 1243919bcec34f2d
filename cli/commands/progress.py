"""Wait for a service to converge, showing its tasks' progress live (docker's service/progress).

Every ~100 ms: GET /services/{id} (wanted replicas, UpdateStatus),
GET /tasks?filters={"service":[id],"desired-state":["running"]} and, until
the service converges, GET /tasks?filters={"service":[id],"desired-state":
["shutdown"]} for the errors of tasks that failed meanwhile. For each
slot (or node, for global services) the task shown is the one docker shows:
the lowest desired state, then the lowest observed state. On a terminal the
block below is redrawn in place; elsewhere a line is printed only when its
text changes, so logs stay readable::

    overall progress: 2 out of 3 tasks
    1/3: running   [==================================================>]
    2/3: starting  [============================================>      ]
    3/3: no suitable node (insufficient memory on 1 node)
    verify: Waiting 1 seconds to verify that tasks are stable...

A slot shows its task's error (a pending task's "no suitable node ...", a
failed one's exit) until a task of that slot runs.
"""

from __future__ import annotations

import sys
import time

from ..errors import APIError, CLIError
from .swarm_api import filters_json, replicas_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

    from ..context import Context

POLL_SECONDS = 0.1
VERIFY_SECONDS = 1.0  # how long tasks must stay running; the spec's UpdateConfig.Monitor wins
MAX_BARS = 20
STATES = ("new", "allocated", "pending", "assigned", "accepted", "preparing", "ready",
          "starting", "running")
_RANK = {s: i + 1 for i, s in enumerate(STATES)}
_WIDTH = len("preparing")
_ACTIVE_UPDATE = ("updating", "rollback_started")
_FAILED_UPDATE = {"paused": "service update paused", "rollback_paused": "service rollback paused",
                  "rollback_completed": "service rolled back"}


def bar(state: str) -> str:
    """Return docker's 50-column progress bar for a task state."""
    pct = _RANK.get(state, 0) * 100 // len(STATES) // 2
    return "[" + "=" * pct + ">" + " " * (50 - pct) + "]"


def _err_line(err: str) -> str:
    err = err.replace("\n", " ")
    return err if len(err) <= 75 else err[:74] + "…"


def _pick(tasks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the task docker shows for one slot: lowest desired, then observed, state."""
    live = [t for t in tasks if _RANK.get(t.get("DesiredState", ""), 0)
            and _RANK.get((t.get("Status") or {}).get("State", ""), 0)]
    if live:
        return min(live, key=lambda t: (_RANK[t["DesiredState"]], _RANK[t["Status"]["State"]]))
    return None


def _norm(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _norm(v) for k, v in doc.items() if v not in (None, "", [], {}, 0, False)}
    if isinstance(doc, list):
        return [_norm(v) for v in doc]
    return doc


def up_to_date(task: dict[str, Any], template: dict[str, Any]) -> bool:
    """Tell whether a task runs the service's current container spec (for updates)."""
    spec = task.get("Spec") or {}
    return (_norm(spec.get("ContainerSpec")) == _norm(template.get("ContainerSpec"))
            and (spec.get("ForceUpdate") or 0) == (template.get("ForceUpdate") or 0))


class Lines:
    """What to show: ordered (key, plain text, text with a progress bar) lines."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, str]] = []

    def add(self, key: str, text: str, progress: str = "") -> None:
        self.items.append((key, text, progress))


def _key(task: dict[str, Any], replicated: bool, nodes: set[str] | None) -> Any:
    """Return a task's slot (replicated) or node (global); None to leave it out."""
    if replicated:
        return task.get("Slot") or 0
    node = task.get("NodeID", "")
    return node if node and (nodes is None or node in nodes) else None


def evaluate(service: dict[str, Any], tasks: list[dict[str, Any]], updating: bool,
             nodes: set[str] | None = None, failures: list[dict[str, Any]] | None = None
             ) -> tuple[Lines, bool]:
    """Return the lines to show and whether the service has converged.

    ``tasks`` are those wanted running; ``failures`` recently failed ones (shut
    down by the restart policy), whose error a slot shows until it runs again.
    ``updating``: only tasks running the service's current spec count (the
    old ones keep running during a rolling update); ``nodes`` are the nodes
    that are not down, for global services.
    """
    spec = service.get("Spec") or {}
    template = spec.get("TaskTemplate") or {}
    status = (service.get("UpdateStatus") or {}).get("State", "")
    check_spec = updating and status != "completed"
    replicas = replicas_of(spec)
    groups: dict[Any, list[dict[str, Any]]] = {}
    failed: dict[Any, list[dict[str, Any]]] = {}
    for into, items in ((groups, tasks), (failed, failures or [])):
        for t in items:
            key = _key(t, replicas is not None, nodes)
            if key is not None:
                into.setdefault(key, []).append(t)
    rows: list[tuple[str, str]] = []  # (text, progress bar) per slot or node
    running = live = 0
    for key in sorted(set(groups) | set(failed)):
        group = groups.get(key, [])
        current = [t for t in group if not check_spec or up_to_date(t, template)]
        task = _pick(current)
        errors = [t for t in group + failed.get(key, []) if (t.get("Status") or {}).get("Err")]
        errors.sort(key=lambda t: str(t.get("UpdatedAt") or t.get("CreatedAt") or ""))
        state = (task.get("Status") or {}).get("State", "") if task else ""
        live += task is not None
        running += state == "running"
        if task is not None and (task.get("Status") or {}).get("Err"):
            rows.append((_err_line(str(task["Status"]["Err"])), ""))
        elif state == "running" or (state and not errors):
            rows.append((state.ljust(_WIDTH), bar(state)))
        elif errors:
            rows.append((_err_line(str(errors[-1]["Status"]["Err"])), ""))
        else:
            rows.append(("", ""))
    total = len(groups) if replicas is None else replicas
    lines = Lines()
    title = "rollback" if status.startswith("rollback") else "overall progress"
    lines.add(title, f"{title}: {min(running, total)} out of {total} tasks")
    if total <= MAX_BARS:
        if replicas is None:
            labels = [str(k)[:12] for k in sorted(set(groups) | set(failed))]
        else:
            rows = (rows + [("", "")] * total)[:total]
            labels = [f"{i}/{total}" for i in range(1, total + 1)]
        for label, (text, progress) in zip(labels, rows, strict=True):
            lines.add(label, f"{label}: {text}".rstrip(), progress and f"{text} {progress}")
    converged = total > 0 and running == total and live == total
    if updating and status in _ACTIVE_UPDATE:
        converged = False
    return lines, converged


class Display:
    """Show Lines: redrawn in place on a terminal, as changed lines elsewhere.

    As docker's, progress bars are drawn only on terminals wider than 110
    columns.
    """

    def __init__(self, out: TextIO, tty: bool, width: int | None = None) -> None:
        self.out, self.tty = out, tty
        if width is None and tty:
            import os

            try:
                width = os.get_terminal_size(out.fileno()).columns
            except (OSError, ValueError, AttributeError):
                width = None
        self.bars = width is None or width > 110
        self.drawn = 0
        self.last: dict[str, str] = {}

    def show(self, lines: Lines) -> None:
        """Draw the current lines."""
        if self.tty:
            buf = [f"\x1b[{self.drawn}A\r"] if self.drawn else []
            for key, text, progress in lines.items:
                shown = f"{key}: {progress}" if progress and self.bars else text
                buf.append("\x1b[2K" + shown + "\n")
            for _ in range(len(lines.items), self.drawn):
                buf.append("\x1b[2K\n")
            self.drawn = max(self.drawn, len(lines.items))
            self.out.write("".join(buf))
        else:
            for key, text, _ in lines.items:
                if self.last.get(key) != text and text.partition(": ")[2]:
                    self.out.write(text + "\n")
                self.last[key] = text
        self.out.flush()


def wait(ctx: Context, service_id: str, *, updating: bool = False, quiet: bool = False,
         out: TextIO | None = None, tty: bool | None = None, rollback: bool = False) -> None:
    """Block until the service converges (or its update fails), showing progress.

    ROLLBACK: the wait follows a rollback asked by hand, which ends well in
    rollback_completed (after an update, that state means the update failed).
    Ctrl-C stops waiting, not the service: docker's "Operation continuing in background."
    """
    out = out if out is not None else sys.stdout
    if tty is None:
        from ..streams import isatty

        tty = isatty(out.fileno()) if hasattr(out, "fileno") else False
    display = Display(out, bool(tty))
    client = ctx.client
    task_filter = filters_json({"service": [service_id], "desired-state": ["running"]})
    failed_filter = filters_json({"service": [service_id], "desired-state": ["shutdown"]})
    old_failures: set[str] | None = None  # failed before we started: not this run's errors
    converged_at: float | None = None
    name = service_id
    try:
        while True:
            try:
                service = client.get(f"/services/{service_id}") or {}
            except APIError as exc:
                if exc.status == 404:
                    raise CLIError(f"service {service_id} has been removed") from None
                raise
            spec = service.get("Spec") or {}
            name = spec.get("Name") or service_id
            state = (service.get("UpdateStatus") or {}).get("State", "")
            if updating and state in _FAILED_UPDATE and not (
                    rollback and state == "rollback_completed"):
                message = (service.get("UpdateStatus") or {}).get("Message", "")
                raise CLIError(f"{_FAILED_UPDATE[state]}: {message}".rstrip(": "))
            nodes = None
            if replicas_of(spec) is None:
                nodes = {n["ID"] for n in client.get("/nodes") or []
                         if (n.get("Status") or {}).get("State") != "down"}
            tasks = client.get("/tasks", {"filters": task_filter}) or []
            lines, converged = evaluate(service, tasks, updating, nodes)
            if not converged or old_failures is None:
                failures = [t for t in client.get("/tasks", {"filters": failed_filter}) or []
                            if (t.get("Status") or {}).get("State") in ("failed", "rejected")
                            and (t.get("Status") or {}).get("Err")]
                if old_failures is None:
                    old_failures = {t.get("ID", "") for t in failures}
                failures = [t for t in failures if t.get("ID") not in old_failures]
                lines, converged = evaluate(service, tasks, updating, nodes, failures)
            now = time.monotonic()
            if converged:
                converged_at = converged_at if converged_at is not None else now
                monitor = (spec.get("UpdateConfig") or {}).get("Monitor") or 0
                verify = monitor / 1e9 if monitor else VERIFY_SECONDS
                left = verify - (now - converged_at)
                if left <= 0:
                    if not quiet:
                        lines.add("verify", "verify: Service converged")
                        display.show(lines)
                    return
                lines.add("verify", "verify: Waiting "
                          f"{max(1, int(left + 0.999))} seconds to verify that tasks are stable...")
            else:
                converged_at = None
            if not quiet:
                display.show(lines)
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        if not quiet:
            out.write("\nOperation continuing in background.\n"
                      f"Use `shoal service ps --no-trunc {name}` to check progress.\n")
            out.flush()
