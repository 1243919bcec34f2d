"""Bridge networks, embedded DNS and published ports, driven with the Docker SDK."""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.daemon import rules_tagged

docker = pytest.importorskip("docker")
pytestmark = pytest.mark.root

HTTPD = ["sh", "-c", "mkdir -p /www && echo hello-from-$HOSTNAME > /www/index.html && "
         "exec httpd -f -p 80 -h /www"]


@pytest.fixture
def client(clean):
    c = docker.DockerClient(base_url=clean.host, version="1.44", timeout=60)
    yield c
    for ct in c.containers.list(all=True):
        ct.remove(force=True)
    for n in c.networks.list():
        if n.name not in ("bridge", "host", "none"):
            n.remove()
    c.close()


def _fetch(url: str, timeout: float = 5.0) -> str:
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read().decode()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def test_names_and_aliases_resolve_on_a_user_network(client):
    net = client.networks.create("fishnet", driver="bridge")
    client.containers.run("busybox", HTTPD, name="srv", detach=True, network="fishnet",
                          hostname="srvhost")
    out = client.containers.run("busybox", ["sh", "-c", "wget -qO- http://srv/; nslookup srv"],
                                network="fishnet", remove=True)
    assert b"hello-from-srvhost" in out
    info = net.attrs
    assert info["Driver"] == "bridge" and info["IPAM"]["Config"][0]["Subnet"]
    alias_ct = client.containers.create("busybox", HTTPD, name="aliased")
    client.networks.get("fishnet").connect(alias_ct, aliases=["web-alias"])
    alias_ct.start()
    out = client.containers.run("busybox", ["wget", "-qO-", "http://web-alias/"],
                                network="fishnet", remove=True)
    assert b"hello-from-" in out
    missing = client.containers.run("busybox", ["sh", "-c", "nslookup nosuchname || echo nx"],
                                    network="fishnet", remove=True)
    assert b"nx" in missing


def test_default_bridge_has_addresses_and_outbound_route(client):
    out = client.containers.run("busybox", ["sh", "-c", "ip -4 addr show eth0; ip route"],
                                remove=True)
    assert b"inet " in out and b"default via" in out


def test_internal_network_has_no_default_route(client):
    client.networks.create("inside", internal=True)
    out = client.containers.run("busybox", ["ip", "route"], network="inside", remove=True)
    assert b"default" not in out and b"dev eth0" in out


def test_published_port_reachable_from_host_and_conflict_is_clear(client, clean):
    ct = client.containers.run("busybox", HTTPD, detach=True, ports={"80/tcp": 18481},
                               hostname="pub")
    assert _fetch("http://127.0.0.1:18481/") == "hello-from-pub\n"
    ct.reload()
    assert ct.attrs["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"] == "18481"
    assert "0.0.0.0:18481->80/tcp" in clean.cli("ps").stdout
    with pytest.raises(docker.errors.APIError, match="18481"):
        client.containers.run("busybox", HTTPD, detach=True, ports={"80/tcp": 18481})
    ct.remove(force=True)
    with pytest.raises(OSError):
        urllib.request.urlopen("http://127.0.0.1:18481/", timeout=1)


def test_published_port_reachable_from_another_namespace(client, clean):
    ct = client.containers.run("busybox", HTTPD, detach=True, ports={"80/tcp": 18482},
                               hostname="fromns")
    ns, host_if, ns_if = f"shoalt{clean.tag}", f"vh{clean.tag}", f"vn{clean.tag}"
    sh = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        sh("ip", "link", "set", ns_if, "netns", ns)
        sh("ip", "addr", "add", "10.251.77.1/30", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", "10.251.77.2/30", "dev", ns_if)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up")
        # the host's busybox wget crashes under `ip netns exec` here; python's urllib doesn't
        fetch = ("import urllib.request; print(urllib.request.urlopen("
                 "'http://10.251.77.1:18482/', timeout=5).read().decode(), end='')")
        r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", fetch],
                           capture_output=True, text=True)
        assert r.stdout == "hello-from-fromns\n", r.stderr
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        ct.remove(force=True)


def test_network_in_use_is_refused_with_names(client):
    client.networks.create("busy")
    client.containers.run("busybox", ["sleep", "100"], name="sitter", network="busy",
                          detach=True)
    with pytest.raises(docker.errors.APIError, match="sitter"):
        client.networks.get("busy").remove()


def test_twenty_parallel_containers_get_distinct_addresses(client):
    client.networks.create("crowd")

    def start(i: int) -> str:
        ct = client.containers.run("busybox", ["sleep", "100"], network="crowd", detach=True,
                                   name=f"crowd{i}")
        ct.reload()
        return ct.attrs["NetworkSettings"]["Networks"]["crowd"]["IPAddress"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ips = list(pool.map(start, range(20)))
    assert len(set(ips)) == 20 and all(ips)


def test_restart_reconciles_without_duplicates(client, clean):
    client.networks.create("keep")
    ct = client.containers.run("busybox", HTTPD, name="kept", network="keep", detach=True,
                               ports={"80/tcp": 18483}, hostname="kept")
    assert _fetch("http://127.0.0.1:18483/") == "hello-from-kept\n"
    before = sorted(rules_tagged(clean.net_opts["rule_tag"]))
    clean.stop()
    clean.start()
    after = sorted(rules_tagged(clean.net_opts["rule_tag"]))
    assert before == after
    assert _fetch("http://127.0.0.1:18483/") == "hello-from-kept\n"
    out = client.containers.run("busybox", ["wget", "-qO-", "http://kept/"], network="keep",
                                remove=True)
    assert out == b"hello-from-kept\n"
    ct.remove(force=True)


def test_volumes_persist_and_are_removed_with_rm_v(client, clean):
    vol = client.volumes.create("fishfood")
    client.containers.run("busybox", ["sh", "-c", "echo kept > /data/f"], remove=True,
                          volumes={"fishfood": {"bind": "/data", "mode": "rw"}})
    out = client.containers.run("busybox", ["cat", "/data/f"], remove=True,
                                volumes={"fishfood": {"bind": "/data", "mode": "ro"}})
    assert out == b"kept\n"
    r = clean.cli("run", "--rm", "-v", "fishfood:/data:ro", "busybox", "sh", "-c",
                  "touch /data/x 2>&1 || echo read-only")
    assert "read-only" in r.stdout.lower() or "Read-only" in r.stdout
    ct = client.containers.run("busybox", ["sleep", "100"], detach=True,
                               volumes={"fishfood": {"bind": "/data"}})
    with pytest.raises(docker.errors.APIError, match="in use"):
        vol.remove()
    ct.remove(force=True)
    # an anonymous volume (-v /path) lives and dies with `rm -v`
    st, body = clean.api("POST", "/containers/create?name=anon",
                         {"Image": "busybox", "Cmd": ["true"], "Volumes": {"/scratch": {}}})
    assert st == 201, body
    st, info = clean.api("GET", "/containers/anon/json")
    name = info["Mounts"][0]["Name"]
    assert any(v.name == name for v in client.volumes.list())
    clean.api("DELETE", "/containers/anon?v=1")
    assert not any(v.name == name for v in client.volumes.list())
    vol.remove()


def test_tmpfs_and_bind_mounts(client, clean, tmp_path):
    (tmp_path / "hostfile").write_text("from-host\n")
    out = client.containers.run(
        "busybox", ["sh", "-c", "cat /h/hostfile; mount | grep ' /t ' | cut -d' ' -f5"],
        remove=True, volumes={str(tmp_path): {"bind": "/h", "mode": "ro"}},
        tmpfs={"/t": "size=1m"})
    assert out == b"from-host\ntmpfs\n"
