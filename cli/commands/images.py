"""Image commands: import, load, save, images, rmi, inspect, tag, pull.

Archives are streamed, never read into memory: uploads go out with sendfile
(regular files, Content-Length) or chunked transfer (stdin, pipes), and
downloads are written to the output as they arrive.
"""

from __future__ import annotations

import os

from .. import opts as o
from ..errors import CLIError, StatusError
from ..flags import Command, Flag
from . import parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from ..context import Context


def display_messages(ctx: Context, messages: Iterable[dict[str, Any]], *,
                     to_stderr: bool = False, quiet: bool = False) -> list[dict[str, Any]]:
    """Print a JSON message stream (pull/load/import) as docker's jsonmessage does.

    Raises CLIError on an ``error`` message; returns the messages seen.
    """
    write = ctx.err if to_stderr else ctx.out
    seen = []
    for m in messages:
        if not isinstance(m, dict):
            continue
        seen.append(m)
        if m.get("error") or m.get("errorDetail"):
            detail = m.get("errorDetail") or {}
            raise CLIError(str(m.get("error") or detail.get("message") or "unknown error"))
        if quiet:
            continue
        if "stream" in m:
            write(str(m["stream"]))
        elif "status" in m:
            prefix = f"{m['id']}: " if m.get("id") else ""
            progress = f" {m['progress']}" if m.get("progress") else ""
            write(f"{prefix}{m['status']}{progress}\n")
    return seen


def pull_image(ctx: Context, ref: str, *, quiet: bool = False, to_stderr: bool = False,
               platform: str = "") -> None:
    """POST /images/create?fromImage=NAME&tag=TAG (with stored credentials); show progress."""
    from .registry_cmds import auth_header

    name, tag = o.split_reference(ref)
    params = {"fromImage": name, "tag": tag, "platform": platform or None}
    resp = ctx.client.request("POST", "/images/create", params, headers=auth_header(ref))
    display_messages(ctx, resp.iter_json(), to_stderr=to_stderr, quiet=quiet)


PULL = Command("{prog} [OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry", [
    Flag("platform", "", "string", "Set platform if server is multi-platform capable"),
    Flag("quiet", "q", "bool", "Suppress verbose output"),
], min_args=1, max_args=1)


def pull(ctx: Context, argv: list[str]) -> int:
    """Pull an image and print its reference."""
    parsed = parse(PULL, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    try:
        o.validate_reference(args[0])
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    pull_image(ctx, args[0], quiet=opts.quiet, platform=opts.platform)
    from .run import familiar

    ctx.out(familiar(args[0]) + "\n")
    return 0


IMPORT = Command("{prog} [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
                 "Import the contents from a tarball to create a filesystem image", [
                     Flag("change", "c", "list",
                          "Apply Dockerfile instruction to the created image",
                          conv=o.validate_change),
                     Flag("message", "m", "string", "Set commit message for imported image"),
                     Flag("platform", "", "string",
                          "Set platform if server is multi-platform capable"),
                 ], min_args=1, max_args=2)


def import_(ctx: Context, argv: list[str]) -> int:
    """Import a rootfs tarball: POST /images/create?fromSrc=-&repo=&tag=&changes=&message=."""
    parsed = parse(IMPORT, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    source = args[0]
    repo = tag = None
    if len(args) == 2:
        try:
            o.validate_reference(args[1])
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        repo, tag = o.split_reference(args[1])
        if "@" in args[1]:
            raise CLIError("refusing to create a tag with a digest reference")
    body: Any = None
    from_src = "-"
    if source == "-":
        body = os.fdopen(ctx.stdin_fd, "rb", closefd=False)
    elif "://" in source:
        from_src = source
    else:
        try:
            body = open(source, "rb")  # closed below
        except OSError as exc:
            raise CLIError(f"open {source}: {(exc.strerror or str(exc)).lower()}") from None
    params = {"fromSrc": from_src, "repo": repo, "tag": tag, "message": opts.message or None,
              "changes": opts.change or None, "platform": opts.platform or None}
    try:
        resp = ctx.client.request("POST", "/images/create", params, body=body)
        display_messages(ctx, resp.iter_json())
    finally:
        if body is not None:
            body.close()
    return 0


LOAD = Command("{prog} [OPTIONS]", "Load an image from a tar archive or STDIN", [
    Flag("input", "i", "string", "Read from tar archive file, instead of STDIN"),
    Flag("quiet", "q", "bool", "Suppress the load output"),
], max_args=0)


def load(ctx: Context, argv: list[str]) -> int:
    """Load a docker-archive or OCI tarball: POST /images/load?quiet=0 with the tar as body."""
    from ..streams import isatty

    parsed = parse(LOAD, ctx, argv)
    if parsed is None:
        return 0
    opts, _ = parsed
    if opts.input:
        try:
            body: Any = open(opts.input, "rb")  # closed below
        except OSError as exc:
            raise CLIError(f"open {opts.input}: {(exc.strerror or str(exc)).lower()}") from None
    else:
        if isatty(ctx.stdin_fd):
            raise CLIError("requested load from stdin, but stdin is empty")
        body = os.fdopen(ctx.stdin_fd, "rb", closefd=False)
    quiet = opts.quiet or not isatty(1)
    try:
        resp = ctx.client.request("POST", "/images/load", {"quiet": quiet}, body=body,
                                  headers={"Content-Type": "application/x-tar"})
        if resp.headers.get("content-type", "").startswith("application/json"):
            display_messages(ctx, resp.iter_json())
        else:
            out = ctx.out_bytes()
            for data in resp.iter_raw():
                out.write(data)
            out.flush()
    finally:
        body.close()
    return 0


SAVE = Command("{prog} [OPTIONS] IMAGE [IMAGE...]",
               "Save one or more images to a tar archive (streamed to STDOUT by default)", [
                   Flag("format", "", "string",
                        'Archive format: "docker" (docker-archive) or "oci" (OCI image layout)',
                        default="docker"),
                   Flag("output", "o", "string", "Write to a file, instead of STDOUT"),
               ], min_args=1)


def save(ctx: Context, argv: list[str]) -> int:
    """Save images: GET /images/get?names=A&names=B[&format=oci], streamed to a file."""
    from ..streams import isatty

    parsed = parse(SAVE, ctx, argv)
    if parsed is None:
        return 0
    opts, names = parsed
    if opts.format not in ("docker", "oci"):
        raise CLIError(f'invalid --format "{opts.format}": must be "docker" or "oci"')
    if not opts.output and isatty(1):
        raise CLIError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    params = {"names": names, "format": "oci" if opts.format == "oci" else None}
    resp = ctx.client.request("GET", "/images/get", params)
    if not opts.output:
        out = ctx.out_bytes()
        for data in resp.iter_raw():
            out.write(data)
        out.flush()
        return 0
    # Write next to the target and rename, so a failed save leaves no partial file.
    target = os.path.abspath(opts.output)
    tmp = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            for data in resp.iter_raw():
                f.write(data)
        os.replace(tmp, target)
    except OSError as exc:
        raise CLIError(f"failed to save image: {exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return 0


IMAGES = Command("{prog} [OPTIONS] [REPOSITORY[:TAG]]", "List images", [
    Flag("all", "a", "bool", "Show all images (default hides intermediate images)"),
    Flag("digests", "", "bool", "Show digests"),
    Flag("filter", "f", "list", "Filter output based on conditions provided", metavar="filter"),
    Flag("format", "", "string", "Format output using a custom template"),
    Flag("no-trunc", "", "bool", "Don't truncate output"),
    Flag("quiet", "q", "bool", "Only show image IDs"),
], max_args=1)

IMAGE_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
                 "ID": "IMAGE ID", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                 "Size": "SIZE"}


def images(ctx: Context, argv: list[str]) -> int:
    """List images: GET /images/json?all=1&filters=...."""
    from ..formatting import human_size, short_id, since, table
    from .containers import filters_json

    parsed = parse(IMAGES, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    filters = list(opts.filter)
    if args:
        filters.append(f"reference={args[0]}")
    params = {"all": True if opts.all else None, "filters": filters_json(filters)}
    items = ctx.client.get("/images/json", params) or []
    trunc = not opts.no_trunc
    rows = []
    for im in items:
        ident = short_id(im.get("Id", ""), trunc) if trunc else str(im.get("Id", ""))
        digests = [d.partition("@")[2] for d in im.get("RepoDigests") or []]
        tags = [t for t in im.get("RepoTags") or [] if t != "<none>:<none>"] or ["<none>:<none>"]
        for ref in tags:
            repo, _, tag = ref.rpartition(":")
            rows.append({"Repository": repo, "Tag": tag, "ID": ident,
                         "Digest": digests[0] if digests else "<none>",
                         "CreatedSince": since(im.get("Created", 0)),
                         "CreatedAt": str(im.get("Created", "")),
                         "Size": human_size(im.get("Size") or 0, 3)})
    if opts.quiet:
        ctx.out("".join(r["ID"] + "\n" for r in rows))
        return 0
    if opts.format:
        from ..template import render_table

        ctx.out(render_table(opts.format, rows, IMAGE_HEADERS))
        return 0
    cols = ["Repository", "Tag", *(["Digest"] if opts.digests else []),
            "ID", "CreatedSince", "Size"]
    ctx.out(table([IMAGE_HEADERS[c] for c in cols], [[r[c] for c in cols] for r in rows]))
    return 0


RMI = Command("{prog} [OPTIONS] IMAGE [IMAGE...]", "Remove one or more images", [
    Flag("force", "f", "bool", "Force removal of the image"),
    Flag("no-prune", "", "bool", "Do not delete untagged parents"),
], min_args=1)


def rmi(ctx: Context, argv: list[str]) -> int:
    """Remove images: DELETE /images/{name}?force=1&noprune=1; print what went."""
    parsed = parse(RMI, ctx, argv)
    if parsed is None:
        return 0
    opts, names = parsed
    params = {"force": True if opts.force else None, "noprune": True if opts.no_prune else None}
    errors = []
    for name in names:
        try:
            items = ctx.client.delete(f"/images/{name}", params) or []
        except CLIError as exc:
            errors.append(str(exc))
            continue
        for item in items:
            for key in ("Untagged", "Deleted"):
                if item.get(key):
                    ctx.out(f"{key}: {item[key]}\n")
    if errors:
        raise StatusError(1, "\n".join(errors))
    return 0


INSPECT_IMAGES = Command("{prog} [OPTIONS] IMAGE [IMAGE...]",
                         "Display detailed information on one or more images", [
                             Flag("format", "f", "string",
                                  "Format output using a custom template"),
                         ], min_args=1)


def inspect_images(ctx: Context, argv: list[str]) -> int:
    """`shoal image inspect`: GET /images/{name}/json for each."""
    from .containers import inspect_objects

    parsed = parse(INSPECT_IMAGES, ctx, argv)
    if parsed is None:
        return 0
    opts, names = parsed
    return inspect_objects(ctx, names, ["image"], opts.format)


TAG = Command("{prog} SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
              "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", min_args=2, max_args=2)


def tag(ctx: Context, argv: list[str]) -> int:
    """Tag an image: POST /images/{source}/tag?repo=REPO&tag=TAG."""
    parsed = parse(TAG, ctx, argv)
    if parsed is None:
        return 0
    source, target = parsed[1]
    try:
        o.validate_reference(target)
    except ValueError as exc:
        raise CLIError(f"Error parsing reference: \"{target}\" is not a valid repository/tag: "
                       f"{exc}") from None
    if "@" in target:
        raise CLIError("refusing to create a tag with a digest reference")
    repo, tg = o.split_reference(target)
    ctx.client.request("POST", f"/images/{source}/tag", {"repo": repo, "tag": tg}).read()
    return 0
