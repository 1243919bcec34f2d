"""The builder's logic with a real image store and a fake snapshotter (no mounts, no root)."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest

from shoal.engine.images import ImageService
from shoal.engine.images.build.builder import Builder, BuildOptions
from shoal.engine.images.build.cache import BuildCache, cache_key
from shoal.engine.images.build.context import BuildContext
from shoal.engine.images.build.dispatch import StageFlags, apply, parse_duration
from shoal.engine.images.build.dockerfile import parse
from shoal.engine.images.build.errors import BuildError, DockerfileError
from shoal.engine.images.build.layerdiff import write_layer


class FakeSnapshots:
    """Snapshots as plain dirs: 'merged' is the upper dir (lower layers are not shown)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.adopted: list[str] = []

    def prepare(self, key: str, image: Any) -> Path:
        d = self.root / key / "upper"
        d.mkdir(parents=True)
        return d

    def unmount(self, key: str) -> None:
        pass

    def upper_dir(self, key: str) -> Path:
        return self.root / key / "upper"

    def remove(self, key: str) -> None:
        shutil.rmtree(self.root / key, ignore_errors=True)

    def adopt_layer(self, chain_id: str, diff_id: str, parent: str, src: Path) -> bool:
        self.adopted.append(chain_id)
        return False


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def env(tmp_path: Path) -> Any:
    images = ImageService(tmp_path / "images")
    images.import_rootfs(io.BytesIO(_tar({"bin/sh": b"x", "etc/passwd": b"root:x:0:0::/:"})),
                         "base:1", ["CMD [\"sh\"]", "ONBUILD ENV TRIGGERED=1"])
    snaps = FakeSnapshots(tmp_path / "snaps")
    builder = Builder(images, snaps, None, BuildCache(tmp_path / "cache.json"))
    ctxdir = tmp_path / "ctx"
    ctxdir.mkdir()

    class Env:
        pass

    e = Env()
    e.images, e.snaps, e.builder, e.ctx = images, snaps, builder, ctxdir  # type: ignore[attr-defined]
    return e


def run(e: Any, dockerfile: str, **kw: Any) -> tuple[str, list[str], Any]:
    (e.ctx / "Dockerfile").write_text(dockerfile)
    b = e.builder.prepare(BuildContext(e.ctx), BuildOptions(**kw))
    msgs: list[dict[str, Any]] = []
    image_id = asyncio.run(b.run(msgs.append))
    return image_id, [str(m.get("stream", "")) for m in msgs], b


def test_config_steps_are_cached_and_copy_reruns_after_a_change(env: Any) -> None:
    (env.ctx / "a.txt").write_text("1")
    (env.ctx / "b.txt").write_text("1")
    df = "FROM busybox\nENV X=1\nCOPY a.txt /a\nCOPY b.txt /b\nCMD [\"x\"]\n".replace(
        "busybox", "base:1")
    first, out, b = run(env, df, tags=["t:1"])
    assert b.ran == 5 and "Successfully tagged t:1\n" in out  # with the base's ONBUILD
    again, out, b = run(env, df, tags=["t:1"])
    assert again == first and b.ran == 0 and out.count(" ---> Using cache\n") == 5
    (env.ctx / "b.txt").write_text("2")
    third, _, b = run(env, df, tags=["t:1"])
    assert third != first and b.ran == 2  # COPY b.txt and CMD
    _, _, b = run(env, df, nocache=True)
    assert b.ran == 5
    img = env.images.get("t:1")
    assert img.config["config"]["Cmd"] == ["x"] and len(img.layers) == 3
    assert env.images.parent_of(img.id) != ""


def test_build_args_meta_args_target_and_warning(env: Any) -> None:
    df = ("ARG TAG=1\nFROM base:${TAG} AS first\nARG V=default\nENV FROM_ARG=$V\n"
          "FROM first\nLABEL x=y\n")
    image_id, out, _ = run(env, df, target="first", buildargs={"V": "given", "NOPE": "1"})
    img = env.images.get(image_id)
    assert "FROM_ARG=given" in img.config["config"]["Env"]
    assert "Labels" not in img.config["config"] or not img.config["config"]["Labels"]
    assert any("build-args [NOPE] were not consumed" in x for x in out)
    assert any(x.startswith("Step 3/3 : ENV") for x in out)


def test_entrypoint_resets_the_base_cmd_and_onbuild_is_recorded(env: Any) -> None:
    (env.ctx / "x").write_text("")
    image_id, out, _ = run(env, "FROM base:1\nENTRYPOINT [\"/bin/sh\"]\nONBUILD COPY x /x\n")
    cfg = env.images.get(image_id).config["config"]
    assert cfg["Entrypoint"] == ["/bin/sh"] and cfg["Cmd"] is None
    assert cfg["OnBuild"] == ["COPY x /x"]
    assert "# Executing 1 build trigger\n" in out and "TRIGGERED=1" in cfg["Env"]
    assert env.images.get(image_id).config["history"][-1]["empty_layer"] is True


def test_scratch_and_errors(env: Any) -> None:
    image_id, _, _ = run(env, "FROM scratch\nENV A=b\n")
    assert env.images.get(image_id).layers == []
    with pytest.raises(BuildError, match="No image was generated"):
        run(env, "FROM scratch\n")
    with pytest.raises(BuildError, match=r"Dockerfile:1: FROM nope: no such image"):
        run(env, "FROM nope\n")
    with pytest.raises(DockerfileError, match=r"Dockerfile:2: unknown instruction: RUNN"):
        run(env, "FROM base:1\nRUNN x\n")
    with pytest.raises(BuildError, match=r"Dockerfile:2: COPY failed: forbidden path"):
        run(env, "FROM base:1\nCOPY ../x /x\n")
    with pytest.raises(BuildError, match="ADD from a URL is not supported"):
        run(env, "FROM base:1\nADD http://example.com/x /x\n")


def test_dispatch_instructions() -> None:
    cfg: dict[str, Any] = {"config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]}}
    flags = StageFlags()

    def ins(text: str) -> Any:
        return parse("FROM x\n" + text + "\n").stages[0].instructions[0]

    assert apply(ins("ENV PATH=/usr/bin:$PATH"), cfg, {"PATH": "/bin"}, flags).endswith(
        "ENV PATH=/usr/bin:/bin")
    assert cfg["config"]["Env"] == ["PATH=/usr/bin:/bin"]
    apply(ins("EXPOSE 8000-8001/udp 80"), cfg, {}, flags)
    assert cfg["config"]["ExposedPorts"] == {"8000/udp": {}, "8001/udp": {}, "80/tcp": {}}
    apply(ins("HEALTHCHECK NONE"), cfg, {}, flags)
    assert cfg["config"]["Healthcheck"] == {"Test": ["NONE"]}
    apply(ins("HEALTHCHECK --start-period=1m30s CMD [\"true\"]"), cfg, {}, flags)
    assert cfg["config"]["Healthcheck"] == {"Test": ["CMD", "true"], "StartPeriod": 90 * 10**9}
    apply(ins("CMD echo hi"), cfg, {}, flags)
    assert cfg["config"]["Cmd"] == ["/bin/sh", "-c", "echo hi"] and flags.cmd_set
    apply(ins("ENTRYPOINT [\"e\"]"), cfg, {}, flags)
    assert cfg["config"]["Cmd"] == ["/bin/sh", "-c", "echo hi"]  # CMD of this stage stays
    with pytest.raises(DockerfileError, match="STOPSIGNAL"):
        apply(ins("STOPSIGNAL SIGNOPE"), cfg, {}, flags)
    assert parse_duration("1h2m3.5s") == (3723 * 10**9 + 5 * 10**8)
    with pytest.raises(ValueError):
        parse_duration("5 s")


def test_cache_ignores_entries_of_removed_images(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "c.json")
    k = cache_key("sha256:p", {"run": ["true"]})
    assert k != cache_key("sha256:q", {"run": ["true"]})
    cache.put(k, "sha256:img")
    assert BuildCache(tmp_path / "c.json").get(k, lambda i: True) == "sha256:img"
    assert cache.get(k, lambda i: False) is None
    assert cache.prune() == [k] and len(cache) == 0


@pytest.mark.root
def test_layer_tar_of_an_upper_dir(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (whiteout devices, trusted xattrs)")
    up = tmp_path / "upper"
    (up / "etc" / "opq").mkdir(parents=True)
    os.setxattr(up / "etc" / "opq", "trusted.overlay.opaque", b"y")
    os.setxattr(up / "etc", "trusted.overlay.origin", b"junk")
    os.mknod(up / "etc" / "gone", stat.S_IFCHR | 0o000, os.makedev(0, 0))
    (up / "etc" / "f").write_text("data")
    os.link(up / "etc" / "f", up / "etc" / "g")
    os.symlink("f", up / "etc" / "l")
    buf = io.BytesIO()
    diff_id, size = write_layer(up, buf)
    assert size == len(buf.getvalue()) and diff_id.startswith("sha256:")
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
        names = {m.name: m for m in tar.getmembers()}
    assert sorted(names) == ["etc", "etc/.wh.gone", "etc/f", "etc/g", "etc/l", "etc/opq",
                           "etc/opq/.wh..wh..opq"]
    assert names["etc/g"].islnk() and names["etc/l"].issym()
    assert "trusted.overlay.origin" not in os.listxattr(up / "etc")  # scrubbed for adoption
    assert write_layer(up, io.BytesIO())[0] == diff_id  # the same tree, the same tar
