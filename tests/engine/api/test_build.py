"""`shoal build` against a real shoald: steps, cache, multi-stage, config, failures, prune."""

from __future__ import annotations

import io
import json
import os
import socket
import tarfile
import time
from pathlib import Path

import pytest

from tests.daemon import Daemon, mounts_under

pytestmark = pytest.mark.root


def write_context(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
    return root


def build(d: Daemon, ctx: Path, *args: str) -> tuple[int, str]:
    r = d.cli("build", *args, str(ctx), timeout=120)
    return r.returncode, r.stdout + r.stderr


def steps_run(output: str) -> int:
    """Count the steps (after FROM) that did not come from the cache."""
    blocks = output.split("Step ")[1:]
    return sum(1 for b in blocks if " : FROM " not in b.split("\n")[0]
               and " ---> Using cache" not in b)


def store_counts(d: Daemon) -> dict[str, object]:
    images = d.data / "images"
    snaps = d.data / "snapshots"
    _, cts = d.api("GET", "/containers/json?all=1")
    return {
        "containers": len(cts),
        "mounts": mounts_under(str(d.root)),
        "snapshots": sorted(os.listdir(snaps / "containers")),
        "layers": sorted(os.listdir(snaps / "layers")),
        "blobs": len(os.listdir(images / "blobs" / "sha256")),
        "records": len(os.listdir(images / "images")),
        "tmp": sorted(os.listdir(d.data / "tmp")) if (d.data / "tmp").exists() else [],
    }


APP = """\
FROM busybox
WORKDIR /app
COPY base.txt ./
RUN echo built > /app/run.txt && cat base.txt
COPY app.sh /app/
CMD ["sh", "/app/app.sh"]
"""


def test_build_runs_and_rebuild_reruns_only_from_the_changed_copy(clean: Daemon, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": APP, "base.txt": "base\n",
                                           "app.sh": "cat /app/run.txt\n"})
    rc, out = build(clean, ctx, "-t", "app:1")
    assert rc == 0, out
    assert "Step 3/6 : COPY base.txt ./" in out and " ---> Running in " in out
    assert "base\n" in out and "Successfully tagged app:1" in out
    assert steps_run(out) == 5
    r = clean.cli("run", "--rm", "app:1")
    assert r.stdout == "built\n", r.stderr

    rc, out = build(clean, ctx, "-t", "app:1")
    assert rc == 0 and steps_run(out) == 0 and out.count("Using cache") == 5

    (ctx / "app.sh").write_text("echo changed\n")
    rc, out = build(clean, ctx, "-t", "app:1")
    assert rc == 0, out
    assert steps_run(out) == 2  # COPY app.sh and CMD; everything before it from the cache
    assert out.count("Using cache") == 3
    assert clean.cli("run", "--rm", "app:1").stdout == "changed\n"

    rc, out = build(clean, ctx, "--no-cache", "-t", "app:1")
    assert rc == 0 and steps_run(out) == 5 and "Using cache" not in out

    hist = clean.cli("history", "--no-trunc", "app:1").stdout
    assert "WORKDIR /app" in hist and "echo built > /app/run.txt" in hist
    _, h = clean.api("GET", "/images/app:1/history")
    assert len(h) == 6 and h[0]["CreatedBy"].endswith('CMD ["sh", "/app/app.sh"]')


def test_multistage_copy_from_target_and_build_args(clean: Daemon, tmp_path):
    df = """\
ARG BASE=busybox
FROM ${BASE} AS builder
ARG GREETING=hi
RUN mkdir /out && echo "$GREETING from builder" > /out/msg
FROM busybox
COPY --from=builder /out/msg /msg
CMD ["cat", "/msg"]
"""
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": df})
    rc, out = build(clean, ctx, "-t", "ms:1", "--build-arg", "GREETING=hello",
                    "--build-arg", "UNUSED=1")
    assert rc == 0, out
    assert 'Step 6/6 : CMD ["cat", "/msg"]' in out
    assert "[Warning] One or more build-args [UNUSED] were not consumed" in out
    assert clean.cli("run", "--rm", "ms:1").stdout == "hello from builder\n"

    rc, out = build(clean, ctx, "-t", "ms:builder", "--target", "builder")
    assert rc == 0, out
    assert "COPY --from" not in out
    r = clean.cli("run", "--rm", "ms:builder", "cat", "/out/msg")
    assert r.stdout == "hi from builder\n"


def test_exec_form_add_tar_chown_and_dockerignore(clean: Daemon, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"inside the tar\n"
        ti = tarfile.TarInfo("pkg/readme")
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    df = """\
FROM busybox
ADD bundle.tar.gz /opt/
COPY --chown=app:app owned.txt /home/app/
COPY . /ctx/
RUN ["sh", "-c", "ls /ctx > /listing"]
"""
    ctx = write_context(tmp_path / "ctx", {
        "Dockerfile": df, "bundle.tar.gz": buf.getvalue(), "owned.txt": "mine\n",
        "secret.txt": "nope\n", "keep.txt": "yes\n", ".dockerignore": "secret.txt\n*.gz\n",
    })
    rc, out = build(clean, ctx, "-t", "misc:1")
    assert rc != 0 and "bundle.tar.gz" in out  # ignored by .dockerignore: not in the context
    (ctx / ".dockerignore").write_text("secret.txt\n")
    rc, out = build(clean, ctx, "-t", "misc:1")
    assert rc == 0, out
    run = clean.cli("run", "--rm", "misc:1", "sh", "-c",
                    "cat /opt/pkg/readme; stat -c '%u:%g' /home/app/owned.txt; cat /listing")
    lines = run.stdout.splitlines()
    assert lines[0] == "inside the tar" and lines[1] == "1000:1000", run.stdout
    assert "keep.txt" in lines and "secret.txt" not in lines


def test_config_instructions_are_in_inspect(clean: Daemon, tmp_path):
    df = """\
FROM busybox
ENV A=1 B="two words"
ENV C=${A}-x
LABEL org.example.k="v" other=w
WORKDIR /srv
WORKDIR sub
USER app
EXPOSE 80 53/udp
VOLUME ["/data"]
HEALTHCHECK --interval=5s --timeout=2s --retries=3 CMD wget -q localhost || exit 1
STOPSIGNAL SIGINT
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo triggered
ENTRYPOINT ["/bin/echo"]
CMD ["hello"]
MAINTAINER someone
"""
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": df})
    rc, out = build(clean, ctx, "-t", "cfg:1", "--label", "from=cli")
    assert rc == 0, out
    _, img = clean.api("GET", "/images/cfg:1/json")
    c = img["Config"]
    assert "A=1" in c["Env"] and "B=two words" in c["Env"] and "C=1-x" in c["Env"]
    assert c["Labels"] == {"org.example.k": "v", "other": "w", "from": "cli"}
    assert c["WorkingDir"] == "/srv/sub" and c["User"] == "app"
    assert c["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert c["Volumes"] == {"/data": {}}
    assert c["Healthcheck"] == {"Test": ["CMD-SHELL", "wget -q localhost || exit 1"],
                                "Interval": 5_000_000_000, "Timeout": 2_000_000_000,
                                "Retries": 3}
    assert c["StopSignal"] == "SIGINT" and c["Shell"] == ["/bin/sh", "-ec"]
    assert c["OnBuild"] == ["RUN echo triggered"]
    assert c["Entrypoint"] == ["/bin/echo"] and c["Cmd"] == ["hello"]
    assert img["Author"] == "someone"

    child = write_context(tmp_path / "child", {"Dockerfile": "FROM cfg:1\n"})
    rc, out = build(clean, child, "-t", "child:1")
    assert rc == 0 and "triggered" in out, out
    _, img = clean.api("GET", "/images/child:1/json")
    assert not img["Config"]["OnBuild"]


def test_failing_run_leaves_nothing(clean: Daemon, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo out; false\n"})
    before = store_counts(clean)
    rc, out = build(clean, ctx, "-t", "bad:1")
    assert rc == 1
    assert "out\n" in out
    assert "The command '/bin/sh -c echo out; false' returned a non-zero code: 1" in out
    assert store_counts(clean) == before
    assert clean.api("GET", "/images/bad:1/json")[0] == 404


@pytest.mark.parametrize("dockerfile, message", [
    ("FROM busybox\nFORM x\n", "Dockerfile:2: unknown instruction: FORM"),
    ("FROM busybox\nCOPY ../etc/passwd /x\n", "Dockerfile:2: COPY failed: forbidden path outside"),
    ("FROM busybox\nCOPY missing.txt /x\n", "Dockerfile:2: COPY failed: file not found"),
    ("FROM nosuchbase:1\nRUN true\n", "Dockerfile:1: FROM nosuchbase:1: no such image"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(clean: Daemon, tmp_path, dockerfile,
                                                       message):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": dockerfile})
    before = store_counts(clean)
    rc, out = build(clean, ctx)
    assert rc != 0 and message in out, out
    assert store_counts(clean) == before


def test_image_prune_and_builder_prune(clean: Daemon, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY f /f\nCMD [\"x\"]\n",
                                           "f": "1"})
    assert build(clean, ctx, "-t", "pr:1")[0] == 0
    (ctx / "f").write_text("2")
    assert build(clean, ctx, "-t", "pr:1")[0] == 0
    listed = clean.cli("images").stdout
    assert "<none>" in listed  # the first build's final image is dangling now
    r = clean.cli("image", "prune", "-f")
    assert r.returncode == 0 and "deleted: sha256:" in r.stdout, r.stdout + r.stderr
    assert "<none>" not in clean.cli("images").stdout
    r = clean.cli("builder", "prune", "-f")
    assert r.returncode == 0 and "Total reclaimed space" in r.stdout
    rc, out = build(clean, ctx, "-t", "pr:1")
    assert rc == 0 and "Using cache" not in out
    assert clean.cli("run", "--rm", "--entrypoint", "cat", "pr:1", "/f").stdout == "2"


def test_docker_sdk_builds(clean: Daemon, tmp_path):
    docker = pytest.importorskip("docker")
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo sdk > /s\n"})
    client = docker.DockerClient(base_url=clean.host, version="1.44", timeout=120)
    try:
        img, logs = client.images.build(path=str(ctx), tag="sdk:1")
        assert "sdk:1" in img.tags
        assert any("Successfully built" in (x.get("stream") or "") for x in logs)
        bad = write_context(tmp_path / "bad", {"Dockerfile": "FROM busybox\nRUN exit 3\n"})
        with pytest.raises(docker.errors.BuildError, match="non-zero code: 3"):
            client.images.build(path=str(bad))
    finally:
        client.close()


def _context_tar(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_client_disconnect_cancels_the_build(clean: Daemon):
    body = _context_tar({"Dockerfile": "FROM busybox\nRUN echo started; sleep 60\n"})
    before = store_counts(clean)
    s = socket.socket(socket.AF_UNIX)
    s.connect(clean.sock)
    s.sendall(b"POST /v1.44/build HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\n"
              + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    seen = b""
    deadline = time.monotonic() + 30
    while b"started" not in seen and time.monotonic() < deadline:
        seen += s.recv(65536)
    assert b"started" in seen, seen
    s.close()
    deadline = time.monotonic() + 20
    while store_counts(clean) != before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert store_counts(clean) == before
    _, items = clean.api("GET", "/images/json?all=1")
    assert json.dumps(items)  # the daemon still answers
