"""The commands of `shoal`, one module per family (see cli/registry.py)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..context import Context
    from ..flags import Command, Options


def parse(spec: Command, ctx: Context, argv: list[str]) -> tuple[Options, list[str]] | None:
    """Parse argv for spec; print the help and return None when it was asked for."""
    parsed = spec.parse(argv, ctx.path)
    if parsed is None:
        ctx.out(spec.help(ctx.path))
    return parsed


def confirm(ctx: Context, message: str) -> bool:
    """Ask ``message [y/N]`` on stdout and read one line of stdin: only y or Y is yes."""
    import os

    ctx.out(message + " [y/N] ")
    ctx.out_bytes().flush()
    line = b""
    while not line.endswith(b"\n"):
        try:
            chunk = os.read(ctx.stdin_fd, 1)
        except OSError:
            break
        if not chunk:
            break
        line += chunk
    return line.strip().lower() == b"y"
