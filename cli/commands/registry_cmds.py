"""Registry commands: push, login, logout, and the credentials they keep.

Credentials live in $SHOAL_CONFIG/config.json (default ~/.shoal/config.json) in
the format of Docker's ~/.docker/config.json:

    {"auths": {"127.0.0.1:5000": {"auth": "<base64 user:password>"}}}

written with mode 0600. Docker Hub's key is "https://index.docker.io/v1/".
pull, push and run send the matching entry as the X-Registry-Auth header.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

from .. import opts as o
from ..errors import CLIError
from ..flags import Command, Flag
from . import parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..context import Context

HUB_KEY = "https://index.docker.io/v1/"
_HUB_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io")


def config_path() -> Path:
    """Return the credentials file: $SHOAL_CONFIG/config.json or ~/.shoal/config.json."""
    base = os.environ.get("SHOAL_CONFIG") or os.path.join(os.path.expanduser("~"), ".shoal")
    return Path(base) / "config.json"


def load_config() -> dict[str, Any]:
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CLIError(f"reading {path}: {exc}") from None
    return data if isinstance(data, dict) else {}


def save_config(data: dict[str, Any]) -> None:
    """Write the config file atomically with mode 0600 (it holds passwords)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent="\t")
        f.write("\n")
    os.replace(tmp, path)


def server_key(server: str) -> str:
    """Return the config.json key of a server address ("http://h:5000/v2/" -> "h:5000")."""
    s = server.strip()
    for prefix in ("https://", "http://"):
        s = s.removeprefix(prefix)
    s = s.split("/", 1)[0]
    return HUB_KEY if not s or s in _HUB_HOSTS else s


def registry_of(ref: str) -> str:
    """Return the config.json key of the registry an image reference names."""
    name = ref.split("@", 1)[0]
    first, sep, _ = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return server_key(first)
    return HUB_KEY


def auth_header(ref: str) -> dict[str, str]:
    """Return the X-Registry-Auth header for REF's registry ({} when not logged in)."""
    key = registry_of(ref)
    entry = (load_config().get("auths") or {}).get(key)
    if not isinstance(entry, dict):
        return {}
    payload: dict[str, str] = {"serveraddress": key}
    if entry.get("identitytoken"):
        payload["identitytoken"] = str(entry["identitytoken"])
    elif entry.get("auth"):
        try:
            user, _, password = base64.b64decode(str(entry["auth"])).decode().partition(":")
        except ValueError:
            raise CLIError(f"{config_path()}: bad \"auth\" for {key}") from None
        payload.update(username=user, password=password)
    else:
        return {}
    raw = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    return {"X-Registry-Auth": raw}


PUSH = Command("{prog} [OPTIONS] NAME[:TAG]", "Upload an image to a registry", [
    Flag("all-tags", "a", "bool", "Push all tags of an image to the repository"),
    Flag("quiet", "q", "bool", "Suppress verbose output"),
], min_args=1, max_args=1)


def push(ctx: Context, argv: list[str]) -> int:
    """POST /images/NAME/push?tag=TAG with the stored credentials; show its progress."""
    from .images import display_messages

    parsed = parse(PUSH, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    ref = args[0]
    try:
        o.validate_reference(ref)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if "@" in ref:
        raise CLIError("cannot push a digest reference")
    name, tag = o.split_reference(ref)
    if opts.all_tags:
        if ref != name:
            raise CLIError("tag can't be used with --all-tags/-a")
        tag = ""
    resp = ctx.client.request("POST", f"/images/{name}/push", {"tag": tag or None},
                              headers=auth_header(ref))
    display_messages(ctx, resp.iter_json(), quiet=opts.quiet)
    if opts.quiet:
        ctx.out(ref + "\n")
    return 0


LOGIN = Command("{prog} [OPTIONS] [SERVER]", "Log in to a registry", [
    Flag("password", "p", "string", "Password"),
    Flag("password-stdin", "", "bool", "Take the password from stdin"),
    Flag("username", "u", "string", "Username"),
], max_args=1)


def _read_password(ctx: Context, opts: Any) -> str:
    if opts.password_stdin:
        if opts.password:
            raise CLIError("--password and --password-stdin are mutually exclusive")
        return os.fdopen(os.dup(ctx.stdin_fd)).read().rstrip("\r\n")
    if opts.password:
        ctx.err("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
        return str(opts.password)
    if not sys.stdin.isatty():
        raise CLIError("cannot prompt for a password: stdin is not a terminal "
                       "(use --password-stdin)")
    import getpass

    return getpass.getpass("Password: ")


def login(ctx: Context, argv: list[str]) -> int:
    """POST /auth to check the credentials, then store them in config.json."""
    parsed = parse(LOGIN, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    key = server_key(args[0]) if args else HUB_KEY
    user = str(opts.username or "")
    if not user:
        if opts.password_stdin or not sys.stdin.isatty():
            raise CLIError("--username is required with --password-stdin or without a terminal")
        user = input("Username: ").strip()
    password = _read_password(ctx, opts)
    if not user or not password:
        raise CLIError("username and password are required")
    body = {"username": user, "password": password, "serveraddress": key}
    resp = ctx.client.post("/auth", body=body) or {}
    data = load_config()
    auths = data.setdefault("auths", {})
    auths[key] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    save_config(data)
    ctx.out(str(resp.get("Status") or "Login Succeeded") + "\n")
    return 0


LOGOUT = Command("{prog} [SERVER]", "Log out from a registry", [], max_args=1)


def logout(ctx: Context, argv: list[str]) -> int:
    """Remove the stored credentials of SERVER (Docker Hub by default)."""
    parsed = parse(LOGOUT, ctx, argv)
    if parsed is None:
        return 0
    _, args = parsed
    key = server_key(args[0]) if args else HUB_KEY
    data = load_config()
    auths = data.get("auths") or {}
    if key not in auths:
        ctx.out(f"Not logged in to {key}\n")
        return 0
    ctx.out(f"Removing login credentials for {key}\n")
    del auths[key]
    save_config(data)
    return 0
