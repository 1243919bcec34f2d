"""Render the subset of Go templates that `--format` users rely on.

Supported: text with ``{{ }}`` actions (``{{-``/``-}}`` trim spaces), field
paths (``.State.Status``, ``.``), string literals, pipes (``.Name | upper``)
and the functions docker adds: json, index, join, lower, upper, title, len,
split, truncate, println. A ``table`` prefix (ps, images) prints a header row.
Values print as Go's fmt does: ``true``, ``map[k:v]``, ``[a b]``, ``<no value>``.
"""

from __future__ import annotations

import json

from .errors import CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_MISSING = object()


def render(template: str, data: Any) -> str:
    """Return the template applied to data."""
    out: list[str] = []
    pos = 0
    while True:
        start = template.find("{{", pos)
        if start < 0:
            out.append(template[pos:])
            break
        end = template.find("}}", start)
        if end < 0:
            raise CLIError(f"template parsing error: unclosed action in {template!r}")
        text = template[pos:start]
        action = template[start + 2:end]
        if action.startswith("-"):
            text = text.rstrip()
            action = action[1:]
        pos = end + 2
        if action.endswith("-"):
            action = action[:-1]
            while pos < len(template) and template[pos].isspace():
                pos += 1
        out.append(text)
        value = _pipeline(action.strip(), data)
        out.append(to_text(value))
    return "".join(out)


def to_text(value: Any) -> str:
    """Print a value as Go's fmt %v does."""
    if value is _MISSING:
        return "<no value>"
    if value is None:
        return "<nil>"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{to_text(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(to_text(v) for v in value) + "]"
    return str(value)


def _tokens(expr: str) -> list[str]:
    toks: list[str] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c.isspace():
            i += 1
        elif c in "\"`":
            j = i + 1
            while j < n and expr[j] != c:
                j += 2 if expr[j] == "\\" and c == '"' else 1
            toks.append(expr[i:j + 1])
            i = j + 1
        elif c == "|":
            toks.append("|")
            i += 1
        else:
            j = i
            while j < n and not expr[j].isspace() and expr[j] != "|":
                j += 1
            toks.append(expr[i:j])
            i = j
    return toks


def _pipeline(expr: str, data: Any) -> Any:
    commands: list[list[str]] = [[]]
    for tok in _tokens(expr):
        if tok == "|":
            commands.append([])
        else:
            commands[-1].append(tok)
    value: Any = _MISSING
    for i, cmd in enumerate(commands):
        if not cmd:
            raise CLIError(f"template parsing error: missing command in {{{{{expr}}}}}")
        args = [_arg(t, data) for t in cmd[1:]]
        if i:
            args.append(value)
        head = cmd[0]
        if head.startswith(".") or head.startswith('"') or head.startswith("`"):
            if args:
                raise CLIError(f"template: can't give argument to non-function {head}")
            value = _arg(head, data)
        elif head in _FUNCS:
            try:
                value = _FUNCS[head](*args)
            except (TypeError, KeyError, IndexError, ValueError) as exc:
                raise CLIError(f"template: error calling {head}: {exc}") from None
        else:
            raise CLIError(f'template parsing error: function "{head}" not defined')
    return value


def _arg(tok: str, data: Any) -> Any:
    if tok.startswith('"'):
        return json.loads(tok)
    if tok.startswith("`"):
        return tok[1:-1]
    if tok.startswith("."):
        value = data
        for part in tok[1:].split(".") if tok != "." else ():
            if isinstance(value, dict):
                value = value.get(part, _MISSING)
            else:
                value = _MISSING
            if value is _MISSING:
                break
        return value
    if tok.lstrip("-").isdigit():
        return int(tok)
    if tok in ("true", "false"):
        return tok == "true"
    raise CLIError(f"template parsing error: unexpected {tok!r}")


def _json(v: Any) -> str:
    if v is _MISSING:
        v = None
    return (json.dumps(v, separators=(",", ":"), ensure_ascii=False)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _index(v: Any, *keys: Any) -> Any:
    for k in keys:
        v = v.get(k, _MISSING) if isinstance(v, dict) else v[int(k)]
    return v


_FUNCS: dict[str, Callable[..., Any]] = {
    "json": _json,
    "index": _index,
    "join": lambda v, sep: sep.join(to_text(x) for x in v or ()),
    "lower": lambda v: to_text(v).lower(),
    "upper": lambda v: to_text(v).upper(),
    "title": lambda v: to_text(v).title(),
    "len": lambda v: len(v),
    "split": lambda v, sep: to_text(v).split(sep),
    "truncate": lambda v, n: to_text(v)[: int(n)],
    "println": lambda *v: " ".join(to_text(x) for x in v) + "\n",
}


def table_header(template: str, headers: dict[str, str]) -> str:
    """Return the header row of a ``table`` template: ``{{.ID}}`` -> ``CONTAINER ID``."""

    def name(field: str) -> str:
        return headers.get(field, "".join(
            ("_" + c if c.isupper() and i else c) for i, c in enumerate(field)).upper()
            .replace("_", " "))

    out = []
    pos = 0
    while True:
        start = template.find("{{", pos)
        if start < 0:
            out.append(template[pos:])
            break
        end = template.find("}}", start)
        out.append(template[pos:start])
        field = template[start + 2:end].strip("- ").split()
        ref = next((t for t in field if t.startswith(".")), ".")
        out.append(name(ref[1:].split(".")[-1]) if ref != "." else "")
        pos = end + 2
    return "".join(out)


def render_table(template: str, rows: list[dict[str, Any]], headers: dict[str, str]) -> str:
    """Render rows with a --format template; ``table ...`` adds aligned headers."""
    from .formatting import table

    if template.startswith("table"):
        body = template[5:].strip() or "{{.ID}}"
        body = body.replace("\\t", "\t")
        head = table_header(body, headers).split("\t")
        return table(head, [render(body, r).split("\t") for r in rows])
    body = template.replace("\\t", "\t").replace("\\n", "\n")
    return "".join(render(body, r) + "\n" for r in rows)
