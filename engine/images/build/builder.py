"""The builder: run a parsed Dockerfile's stages step by step, with a layer cache.

Like Docker's classic builder, every step commits an image whose record names
its parent (hidden from `images` unless `-a`), so the cache can map (parent,
step) to the image the step made and a rebuild starts each step from there.
Stages are built in order up to the target (`--target`, default the last);
`COPY --from` and `FROM <stage>` use an earlier stage's image.

Progress goes to EMIT as Docker's JSON messages: `{"stream": "Step 3/6 : ..."}`,
` ---> Using cache`, ` ---> Running in <id>`, the command's output, ` ---> <id>`
with the step's time, `Successfully built <id>`, `Successfully tagged NAME:TAG`,
and `{"aux": {"ID": "sha256:..."}}` at the end.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoal.engine.images import digest as dg
from shoal.engine.images import reference as refmod
from shoal.engine.images.build import dispatch
from shoal.engine.images.build.cache import BuildCache, cache_key
from shoal.engine.images.build.context import BuildContext
from shoal.engine.images.build.copy import copy_sources
from shoal.engine.images.build.dockerfile import Dockerfile, Instruction, Stage, expand, parse
from shoal.engine.images.build.errors import BuildError, DockerfileError, where
from shoal.engine.images.build.instructions import parse_instruction
from shoal.engine.images.build.steps import (
    StageState,
    cleanup,
    commit,
    copy_step,
    resolve_chown,
    run_step,
)
from shoal.engine.images.errors import ImageNotFound
from shoal.engine.images.importer import host_platform
from shoal.engine.images.model import Image

Message = dict[str, Any]
Emit = Callable[[Message], None]
Pull = Callable[[str], Awaitable[Any]]

# Build args any Dockerfile may use without declaring them (kept out of history).
PREDEFINED_ARGS = frozenset(
    f(n) for n in ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
    for f in (str.upper, str.lower)
)


@dataclass
class BuildOptions:
    """What `POST /build` asks for (the query of the Docker Engine API)."""

    tags: list[str] = field(default_factory=list)
    dockerfile: str = "Dockerfile"
    buildargs: dict[str, str | None] = field(default_factory=dict)
    target: str = ""
    nocache: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    network: str = ""
    quiet: bool = False


class Builder:
    """Build images from contexts with the engine's images, snapshots and containers."""

    def __init__(self, images: Any, snapshots: Any, containers: Any, cache: BuildCache,
                 pull: Pull | None = None) -> None:
        self.images, self.snapshots, self.containers = images, snapshots, containers
        self.cache = cache
        self.pull = pull

    def prepare(self, ctx: BuildContext, opts: BuildOptions) -> Build:
        """Read and check the Dockerfile, target and tags (errors here come before any step)."""
        text, name = ctx.read_dockerfile(opts.dockerfile)
        df = parse(text, name)
        if opts.target:
            df.stage(opts.target)
        for t in opts.tags:
            ref = refmod.parse(t)
            if ref.digest is not None:
                raise BuildError(f"invalid tag {t!r}: a tag cannot hold a digest")
        return Build(self, ctx, df, opts)


class Build:
    """One build in progress (Builder.prepare makes it, run() does it)."""

    def __init__(self, b: Builder, ctx: BuildContext, df: Dockerfile, opts: BuildOptions) -> None:
        self.b, self.ctx, self.df, self.opts = b, ctx, df, opts
        self.emit: Emit = lambda _m: None
        self.used: set[str] = set()
        self.meta: dict[str, str | None] = {}
        self.results: dict[int, str] = {}
        self.step_no = 0
        self.total = 0
        self.ran = 0  # steps that did work (not cached), for tests and benchmarks

    def out(self, text: str) -> None:
        if not self.opts.quiet:
            self.emit({"stream": text})

    async def run(self, emit: Emit) -> str:
        """Build the target stage; return the image id."""
        self.emit = emit
        df, opts = self.df, self.opts
        self._meta_args()
        target = df.stage(opts.target) if opts.target else df.stages[-1]
        stages = df.stages[: target.index + 1]
        self.total = sum(1 + len(s.instructions) for s in stages) + (1 if opts.labels else 0)
        for st in stages:
            state = await self._from(st)
            for ins in st.instructions:
                await self._step(state, ins)
            if st is target and opts.labels:
                text = "LABEL " + " ".join(f'"{k}"="{v}"' for k, v in opts.labels.items())
                await self._step(state, parse_instruction(text, 0, "\\", df.filename))
            if not state.image_id:
                raise BuildError("No image was generated. Is your Dockerfile empty?")
            self.results[st.index] = state.image_id
        final = self.results[target.index]
        unused = sorted(set(opts.buildargs) - self.used - PREDEFINED_ARGS)
        if unused:
            self.out(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        self.out(f"Successfully built {dg.short(final)}\n")
        for t in opts.tags:
            await asyncio.to_thread(self.b.images.tag, final, t)
            self.out(f"Successfully tagged {refmod.parse(t).familiar()}\n")
        if opts.quiet:
            self.emit({"stream": final + "\n"})
        self.emit({"aux": {"ID": final}})
        return final

    # -- ARGs -------------------------------------------------------------------------

    def _meta_args(self) -> None:
        for ins in self.df.meta_args:
            for k, default in ins.pairs:
                self.meta[k] = self._arg_value(k, default, self._meta_env(), ins)

    def _meta_env(self) -> dict[str, str]:
        return {k: v for k, v in self.meta.items() if v is not None}

    def _arg_value(self, k: str, default: str | None, env: dict[str, str],
                   ins: Instruction) -> str | None:
        if k in self.opts.buildargs and self.opts.buildargs[k] is not None:
            self.used.add(k)
            return self.opts.buildargs[k]
        if default is not None:
            return expand(default, env, escape=self.df.escape, file=self.df.filename,
                          line=ins.line)
        return self.meta.get(k)

    def _env(self, state: StageState) -> dict[str, str]:
        """Return the expansion environment of a step: the stage's ENV over its ARGs."""
        args = {k: v for k, v in state.args.items() if v is not None}
        return {**args, **dispatch.env_map(state.container_config)}

    def _run_args(self, state: StageState) -> list[tuple[str, str]]:
        """Return the build args a RUN sees as env (not persisted in the image)."""
        env = dispatch.env_map(state.container_config)
        out = [(k, v) for k, v in state.args.items() if v is not None and k not in env]
        for k in sorted(PREDEFINED_ARGS & set(self.opts.buildargs)):
            v = self.opts.buildargs[k]
            if v is not None and k not in env and k not in state.args:
                out.append((k, v))
        return out

    # -- FROM -------------------------------------------------------------------------

    async def _from(self, st: Stage) -> StageState:
        self.step_no += 1
        text = f"FROM {st.base}" + (f" AS {st.name}" if st.name else "")
        self.out(f"Step {self.step_no}/{self.total} : {text}\n")
        flags = dispatch.StageFlags(escape=self.df.escape, file=self.df.filename)
        base = expand(st.base, self._meta_env(), escape=self.df.escape,
                      file=self.df.filename, line=st.line)
        if st.platform:
            plat = expand(st.platform, self._meta_env(), escape=self.df.escape)
            if plat.split("/")[:2] != list(host_platform()):
                raise DockerfileError(f"FROM --platform={plat}: only {'/'.join(host_platform())} "
                                      "images can be built here", file=self.df.filename,
                                      line=st.line)
        if base.lower() == "scratch":
            os_name, arch = host_platform()
            cfg = {"architecture": arch, "os": os_name, "config": {},
                   "rootfs": {"type": "layers", "diff_ids": []}, "history": []}
            return StageState("", cfg, [], flags)
        img = await self._base_image(base, st)
        state = StageState.of(img, flags)
        self.out(f" ---> {dg.short(img.id)}\n")
        triggers = list(state.container_config.get("OnBuild") or [])
        if triggers:
            state.container_config["OnBuild"] = None
            n = len(triggers)
            self.out(f"# Executing {n} build trigger{'s' if n > 1 else ''}\n")
            for trig in triggers:
                await self._execute(state, parse_instruction(trig, st.line, self.df.escape,
                                                             self.df.filename))
        return state

    async def _base_image(self, base: str, st: Stage) -> Image:
        for prev in self.df.stages[: st.index]:
            if prev.name == base.lower() and prev.index in self.results:
                return await asyncio.to_thread(self.b.images.get, self.results[prev.index])
        try:
            return await asyncio.to_thread(self.b.images.get, base)
        except ImageNotFound:
            pass
        ref = refmod.try_parse(base)
        if ref is not None and self.b.pull is not None and ref.domain != "docker.io":
            self.out(f"Pulling {base}\n")
            return await self.b.pull(base)
        raise BuildError(
            f"{where(self.df.filename, st.line)}: FROM {base}: no such image: "
            "it is not in the image store (pull, load or build it first)"
        )

    # -- steps ------------------------------------------------------------------------

    async def _step(self, state: StageState, ins: Instruction) -> None:
        self.step_no += 1
        self.out(f"Step {self.step_no}/{self.total} : {ins.text}\n")
        t0 = time.perf_counter()
        await self._execute(state, ins)
        self.out(f" ---> {dg.short(state.image_id)} ({time.perf_counter() - t0:.2f}s)\n")

    def _cached(self, state: StageState, key: str) -> bool:
        """Move STATE to the image the cache holds for KEY, if any."""
        if self.opts.nocache:
            return False
        hit = self.b.cache.get(key, self.b.images.exists)
        if hit is None:
            return False
        img = self.b.images.get(hit)
        state.image_id, state.config, state.layers = img.id, copy.deepcopy(img.config), list(
            img.layers)
        self.out(" ---> Using cache\n")
        return True

    def _remember(self, key: str, image_id: str) -> None:
        self.b.cache.put(key, image_id, self.b.images.exists)
        self.ran += 1

    async def _execute(self, state: StageState, ins: Instruction) -> None:
        kw = ins.keyword
        if kw == "ARG":
            env = self._env(state)
            for k, default in ins.pairs:
                state.args[k] = self._arg_value(k, default, env, ins)
        if kw in dispatch.CONFIG_ONLY:
            await self._config_step(state, ins)
        elif kw == "RUN":
            await self._run(state, ins)
        elif kw in ("COPY", "ADD"):
            await self._copy(state, ins)
        else:
            raise DockerfileError(f"{kw} is not supported here", file=self.df.filename,
                                  line=ins.line)

    async def _config_step(self, state: StageState, ins: Instruction) -> None:
        new = copy.deepcopy(state.config)
        created_by = dispatch.apply(ins, new, self._env(state), state.flags)
        key = cache_key(state.image_id or "scratch",
                        {"created_by": created_by, "config": new.get("config"),
                         "author": new.get("author")})
        if self._cached(state, key):
            return
        state.config = new

        def do() -> str:
            with self.b.images.ingest() as (pinned, new_blobs):
                return commit(self.b.images, state, created_by, None, pinned, new_blobs)

        self._remember(key, await asyncio.to_thread(do))

    async def _ensure_image(self, state: StageState) -> None:
        """Commit the state (FROM scratch) when a container needs it as an image."""
        if not state.image_id:
            def do() -> str:
                with self.b.images.ingest() as (pinned, new_blobs):
                    return commit(self.b.images, state, "", None, pinned, new_blobs)
            await asyncio.to_thread(do)

    async def _run(self, state: StageState, ins: Instruction) -> None:
        argv = dispatch.command(ins, state.container_config)
        args = self._run_args(state)
        shown = [(k, v) for k, v in args if k not in PREDEFINED_ARGS]
        prefix = f"|{len(shown)} " + " ".join(f"{k}={v}" for k, v in shown) + " " if shown else ""
        created_by = prefix + " ".join(argv)
        key = cache_key(state.image_id or "scratch", {"run": argv, "args": shown})
        if self._cached(state, key):
            return
        await self._ensure_image(state)
        env = [*(state.container_config.get("Env") or []), *(f"{k}={v}" for k, v in args)]
        b = self.b
        image_id = await run_step(b.images, b.snapshots, b.containers, state, argv, env,
                                  self.opts.network, created_by, self.out)
        self._remember(key, image_id)

    def _expand(self, state: StageState, ins: Instruction, word: str) -> str:
        return expand(word, self._env(state), escape=self.df.escape, file=self.df.filename,
                      line=ins.line)

    async def _copy(self, state: StageState, ins: Instruction) -> None:
        kw, at = ins.keyword, where(self.df.filename, ins.line)
        words = [self._expand(state, ins, w) for w in ins.args]
        patterns, dest = words[:-1], words[-1]
        if kw == "ADD" and any("://" in p for p in patterns):
            raise BuildError(f"{at}: ADD from a URL is not supported (no network): "
                             f"{next(p for p in patterns if '://' in p)}")
        chown = self._expand(state, ins, ins.flags["chown"]) if "chown" in ins.flags else ""
        chmod = None
        if "chmod" in ins.flags:
            try:
                chmod = int(self._expand(state, ins, ins.flags["chmod"]), 8)
            except ValueError:
                raise BuildError(f"{at}: {kw} --chmod={ins.flags['chmod']}: "
                                 "not an octal mode") from None
        workdir = state.container_config.get("WorkingDir") or "/"
        source_image: Image | None = None
        if "from" in ins.flags:
            source_image = await self._copy_source(self._expand(state, ins, ins.flags["from"]),
                                                   at)
            what = {"from": source_image.id, "patterns": patterns}
            created_by = dispatch.nop(f"{kw} --from={source_image.id} {' '.join(words)}")
        else:
            sources = await asyncio.to_thread(self.ctx.sources, patterns, file=self.df.filename,
                                              line=ins.line, keyword=kw)
            checksum = await asyncio.to_thread(self.ctx.checksum, sources)
            what = {"checksum": checksum}
            created_by = dispatch.nop(f"{kw} {dg.hex_of(checksum)[:12]} in {dest} ")
        key = cache_key(state.image_id or "scratch",
                        {"kw": kw, **what, "dest": dest, "workdir": workdir, "chown": chown,
                         "chmod": chmod})
        if self._cached(state, key):
            return

        def copy_into(rootfs: Path, src_root: Path | None = None) -> None:
            owner = resolve_chown(chown, rootfs) if chown else None
            ctx = self.ctx if src_root is None else BuildContext(src_root)
            srcs = ctx.sources(patterns, file=self.df.filename, line=ins.line, keyword=kw)
            copy_sources(srcs, dest, rootfs, workdir=workdir, chown=owner, chmod=chmod,
                         extract_tars=kw == "ADD", file=self.df.filename, line=ins.line)

        b = self.b
        if source_image is None:
            image_id = await copy_step(b.images, b.snapshots, state, created_by, copy_into)
        else:
            image_id = await self._copy_from(state, source_image, created_by, copy_into)
        self._remember(key, image_id)

    async def _copy_from(self, state: StageState, source: Image, created_by: str,
                         copy_into: Callable[[Path, Path | None], None]) -> str:
        key = f"build-from-{secrets.token_hex(8)}"
        src_root = await asyncio.to_thread(self.b.snapshots.prepare, key, source)
        try:
            return await copy_step(self.b.images, self.b.snapshots, state, created_by,
                                   lambda rootfs: copy_into(rootfs, src_root))
        finally:
            await cleanup(lambda: self.b.snapshots.remove(key))

    async def _copy_source(self, name: str, at: str) -> Image:
        """Return the image COPY --from=NAME reads: an earlier stage's, or an image's."""
        for st in self.df.stages:
            if st.name == name.lower() or (name.isdigit() and st.index == int(name)):
                if st.index not in self.results:
                    raise BuildError(f"{at}: COPY --from={name}: stage {name!r} is not built "
                                     "before this one")
                return await asyncio.to_thread(self.b.images.get, self.results[st.index])
        try:
            return await asyncio.to_thread(self.b.images.get, name)
        except ImageNotFound:
            raise BuildError(f"{at}: COPY --from={name}: no build stage or image has that "
                             "name") from None
