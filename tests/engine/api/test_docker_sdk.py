"""The Docker SDK for Python drives shoald as it drives dockerd."""

from __future__ import annotations

import pytest

docker = pytest.importorskip("docker")
pytestmark = pytest.mark.root


@pytest.fixture
def client(clean):
    c = docker.DockerClient(base_url=clean.host, version="1.44", timeout=60)
    yield c
    c.close()


def test_ping_version_info(client):
    assert client.ping() is True
    assert client.version()["ApiVersion"] == "1.44"
    assert client.info()["Driver"] == "overlay2"


def test_run_to_completion_returns_output(client):
    out = client.containers.run("busybox", ["sh", "-c", "echo from-sdk"], remove=True)
    assert out == b"from-sdk\n"


def test_create_start_list_logs_wait_stop_remove(client):
    c = client.containers.create("busybox", ["sh", "-c", "echo ready; sleep 100"],
                                 name="sdk1", environment={"K": "V"})
    assert c.status == "created"
    c.start()
    c.reload()
    assert c.status == "running"
    assert [x.name for x in client.containers.list()] == ["sdk1"]
    for _ in range(50):
        if b"ready" in c.logs():
            break
        import time
        time.sleep(0.05)
    assert c.logs() == b"ready\n"
    assert c.exec_run("sh -c 'echo $K'").output == b"V\n"
    c.stop(timeout=1)
    assert c.wait()["StatusCode"] == 137
    c.remove()
    assert client.containers.list(all=True) == []


def test_errors_map_to_sdk_exceptions(client):
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("nope")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("nope:latest")


def test_attach_stream(client):
    c = client.containers.create("busybox", ["sh", "-c", "echo a; echo b >&2"])
    sock_out = c.attach(stdout=True, stderr=True, stream=True, logs=True)
    c.start()
    data = b"".join(sock_out)
    assert b"a\n" in data and b"b\n" in data
    c.remove(force=True)


def test_list_images(client):
    tags = [t for i in client.images.list() for t in i.tags]
    assert "busybox:latest" in tags
    img = client.images.get("busybox")
    assert img.id.startswith("sha256:")
