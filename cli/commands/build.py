"""Build commands: build, history, image prune, builder prune.

`shoal build` tars the context (honouring .dockerignore; the Dockerfile and
.dockerignore are always sent) into a temp file and streams it to POST /build,
printing the daemon's progress messages as they come.
"""

from __future__ import annotations

import json
import os

from ..errors import CLIError
from ..flags import Command, Flag
from . import confirm, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    import tarfile
    from typing import IO, Any

    from ..context import Context


BUILD = Command("{prog} [OPTIONS] PATH", "Build an image from a Dockerfile", [
    Flag("build-arg", "", "list", "Set build-time variables", metavar="list"),
    Flag("file", "f", "string", "Name of the Dockerfile (default: \"PATH/Dockerfile\")"),
    Flag("label", "", "list", "Set metadata for an image", metavar="list"),
    Flag("network", "", "string", "Set the networking mode for the RUN instructions during build",
         default="default"),
    Flag("no-cache", "", "bool", "Do not use cache when building the image"),
    Flag("quiet", "q", "bool", "Suppress the build output and print image ID on success"),
    Flag("tag", "t", "list", "Name and optionally a tag in the \"name:tag\" format",
         metavar="list"),
    Flag("target", "", "string", "Set the target build stage to build."),
], min_args=1, max_args=1)


def _add_tree(tar: tarfile.TarFile, root: str, ignore: Any) -> None:
    for top, dirs, files in os.walk(root):
        rel_top = os.path.relpath(top, root)
        keep = []
        for d in sorted(dirs):
            rel = d if rel_top == "." else f"{rel_top}/{d}"
            if ignore.ignored(rel) and not ignore.dir_may_contain_included(rel):
                continue
            keep.append(d)
            if not ignore.ignored(rel):
                tar.add(os.path.join(top, d), rel, recursive=False)
        dirs[:] = keep
        for f in sorted(files):
            rel = f if rel_top == "." else f"{rel_top}/{f}"
            if rel in (".dockerignore",) or not ignore.ignored(rel):
                tar.add(os.path.join(top, f), rel, recursive=False)


def make_context(path: str, dockerfile: str) -> tuple[IO[bytes], str]:
    """Return (temp file holding the context tar, the Dockerfile's name inside it)."""
    import secrets
    import tarfile
    import tempfile
    from pathlib import Path

    from shoal.engine.images.build.ignore import IgnoreMatcher

    if not os.path.isdir(path):
        raise CLIError(f'unable to prepare context: path "{path}" not found')
    root = os.path.abspath(path)
    df_path = os.path.abspath(dockerfile) if dockerfile else os.path.join(root, "Dockerfile")
    if not dockerfile and not os.path.exists(df_path) and os.path.exists(
            os.path.join(root, "dockerfile")):
        df_path = os.path.join(root, "dockerfile")
    if not os.path.isfile(df_path):
        raise CLIError(f"unable to prepare context: unable to evaluate symlinks in Dockerfile "
                       f"path: lstat {df_path}: no such file or directory")
    inside = df_path.startswith(root + os.sep)
    name = os.path.relpath(df_path, root) if inside else f".dockerfile.{secrets.token_hex(6)}"
    try:
        ignore = IgnoreMatcher.read(Path(root))
    except ValueError as exc:
        raise CLIError(f"error reading .dockerignore: {exc}") from None
    out = tempfile.TemporaryFile(prefix="shoal-build-")
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add_tree(tar, root, ignore)
        if not inside or ignore.ignored(name):
            tar.add(df_path, name, recursive=False)
    out.seek(0)
    return out, name


def _build_args(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        k, eq, v = item.partition("=")
        if eq:
            out[k] = v
        elif k in os.environ:  # `--build-arg K` takes K from the environment
            out[k] = os.environ[k]
    return out


def build(ctx: Context, argv: list[str]) -> int:
    """Build an image: POST /build with the context tar; print the progress."""
    from .. import opts as o
    from ..formatting import human_size

    parsed = parse(BUILD, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    for t in opts.tag:
        try:
            o.validate_reference(t)
        except ValueError as exc:
            raise CLIError(f'invalid argument "{t}" for "-t, --tag" flag: {exc}') from None
    labels = dict(x.partition("=")[::2] for x in opts.label)
    body, name = make_context(args[0], opts.file)
    params = {"t": opts.tag or None, "dockerfile": name,
              "buildargs": json.dumps(_build_args(opts.build_arg)) if opts.build_arg else None,
              "labels": json.dumps(labels) if labels else None,
              "target": opts.target or None, "nocache": True if opts.no_cache else None,
              "q": True if opts.quiet else None, "networkmode": opts.network or None, "rm": True}
    try:
        if not opts.quiet:
            size = os.fstat(body.fileno()).st_size
            ctx.out(f"Sending build context to shoal daemon  {human_size(size, 4)}\n")
        resp = ctx.client.request("POST", "/build", params, body=body,
                                  headers={"Content-Type": "application/x-tar"})
        image_id = ""
        for m in resp.iter_json():
            if not isinstance(m, dict):
                continue
            if m.get("error") or m.get("errorDetail"):
                detail = m.get("errorDetail") or {}
                raise CLIError(str(m.get("error") or detail.get("message")),
                               exit_code=int(detail.get("code") or 1))
            if "aux" in m:
                image_id = str((m["aux"] or {}).get("ID") or "")
            elif "stream" in m and not opts.quiet:
                ctx.out(str(m["stream"]))
                ctx.out_bytes().flush()
    finally:
        body.close()
    if opts.quiet and image_id:
        ctx.out(image_id + "\n")
    return 0


HISTORY = Command("{prog} [OPTIONS] IMAGE", "Show the history of an image", [
    Flag("format", "", "string", "Format output using a custom template"),
    Flag("human", "H", "bool", "Print sizes and dates in human readable format", default=True),
    Flag("no-trunc", "", "bool", "Don't truncate output"),
    Flag("quiet", "q", "bool", "Only show image IDs"),
], min_args=1, max_args=1)

_HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedBy": "CREATED BY",
                    "Size": "SIZE", "Comment": "COMMENT", "CreatedAt": "CREATED AT"}


def history(ctx: Context, argv: list[str]) -> int:
    """Show an image's history: GET /images/{name}/history."""
    from ..formatting import ellipsis, human_size, short_id, since, table

    parsed = parse(HISTORY, ctx, argv)
    if parsed is None:
        return 0
    opts, args = parsed
    items = ctx.client.get(f"/images/{args[0]}/history") or []
    trunc = not opts.no_trunc
    rows = []
    for h in items:
        ident = str(h.get("Id") or "")
        if ident != "<missing>":
            ident = short_id(ident, trunc)
        by = " ".join(str(h.get("CreatedBy") or "").split()) if trunc else str(
            h.get("CreatedBy") or "")
        size = int(h.get("Size") or 0)
        rows.append({"ID": ident, "CreatedSince": since(h.get("Created") or 0),
                     "CreatedAt": str(h.get("Created") or ""),
                     "CreatedBy": ellipsis(by, 45) if trunc else by,
                     "Size": human_size(size, 3) if opts.human else str(size),
                     "Comment": str(h.get("Comment") or "")})
    if opts.quiet:
        ctx.out("".join(r["ID"] + "\n" for r in rows))
    elif opts.format:
        from ..template import render_table

        ctx.out(render_table(opts.format, rows, _HISTORY_HEADERS))
    else:
        cols = ["ID", "CreatedSince", "CreatedBy", "Size", "Comment"]
        ctx.out(table([_HISTORY_HEADERS[c] for c in cols], [[r[c] for c in cols] for r in rows]))
    return 0


IMAGE_PRUNE = Command("{prog} [OPTIONS]", "Remove unused images", [
    Flag("all", "a", "bool", "Remove all unused images, not just dangling ones"),
    Flag("force", "f", "bool", "Do not prompt for confirmation"),
], max_args=0)


def image_prune(ctx: Context, argv: list[str]) -> int:
    """Remove unused images: POST /images/prune; list them and the space reclaimed."""
    from ..formatting import human_size

    parsed = parse(IMAGE_PRUNE, ctx, argv)
    if parsed is None:
        return 0
    opts, _ = parsed
    warning = ("WARNING! This will remove all images without at least one container "
               "associated to them." if opts.all else
               "WARNING! This will remove all dangling images.")
    if not opts.force and not confirm(ctx, warning + "\nAre you sure you want to continue?"):
        return 0
    filters = json.dumps({"dangling": ["false" if opts.all else "true"]})
    report = ctx.client.post("/images/prune", {"filters": filters}) or {}
    deleted = report.get("ImagesDeleted") or []
    if deleted:
        ctx.out("Deleted Images:\n")
        for d in deleted:
            for key in ("Untagged", "Deleted"):
                if d.get(key):
                    ctx.out(f"{key.lower()}: {d[key]}\n")
        ctx.out("\n")
    ctx.out(f"Total reclaimed space: {human_size(int(report.get('SpaceReclaimed') or 0), 4)}\n")
    return 0


BUILDER_PRUNE = Command("{prog} [OPTIONS]", "Remove build cache", [
    Flag("all", "a", "bool", "Remove all unused build cache, not just dangling ones"),
    Flag("force", "f", "bool", "Do not prompt for confirmation"),
], max_args=0)


def builder_prune(ctx: Context, argv: list[str]) -> int:
    """Empty the build cache: POST /build/prune; print what went and the space reclaimed."""
    from ..formatting import human_size

    parsed = parse(BUILDER_PRUNE, ctx, argv)
    if parsed is None:
        return 0
    opts, _ = parsed
    if not opts.force and not confirm(
            ctx, "WARNING! This will remove all dangling build cache.\n"
                 "Are you sure you want to continue?"):
        return 0
    report = ctx.client.post("/build/prune", {"all": True if opts.all else None}) or {}
    deleted = report.get("CachesDeleted") or []
    if deleted:
        ctx.out("Deleted build cache objects:\n" + "".join(f"{d}\n" for d in deleted) + "\n")
    ctx.out(f"Total reclaimed space: {human_size(int(report.get('SpaceReclaimed') or 0), 4)}\n")
    return 0
