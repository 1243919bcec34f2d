"""`shoal stack`: deploy (create, update only what changed, prune), ls, services, ps, rm."""

from __future__ import annotations

import json
import textwrap

import pytest

from shoal.cli.commands import progress
from tests.cli.fakeswarm import install

STACK = """
services:
  web:
    image: busybox
    command: ["httpd", "-f"]
    ports: ["8080:80"]
    deploy:
      replicas: 2
  client:
    image: busybox
    environment:
      TARGET: http://web/
    networks: [default, back]
networks:
  back:
    attachable: true
"""


@pytest.fixture
def swarm(daemon, monkeypatch):
    monkeypatch.setattr(progress, "POLL_SECONDS", 0.0)
    monkeypatch.setattr(progress, "VERIFY_SECONDS", 0.0)
    return install(daemon)


@pytest.fixture
def compose(tmp_path):
    def write(text: str, name: str = "stack.yml") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return str(path)
    return write


def _since(daemon, n):
    return [f"{q.method} {q.path}" for q in daemon.requests[n:]]


def test_deploy_creates_networks_then_services(daemon, swarm, shoal, compose):
    f = compose(STACK)
    r = shoal("stack", "deploy", "-c", f, "demo")
    assert r.code == 0, r
    assert r.out == ("Creating network demo_back\nCreating network demo_default\n"
                     "Creating service demo_client\nCreating service demo_web\n")
    assert r.err == ""
    assert _since(daemon, 0) == [
        "GET /services", "GET /networks", "POST /networks/create", "POST /networks/create",
        "POST /services/create", "POST /services/create"]
    label = {"label": ["com.docker.stack.namespace=demo"]}
    assert json.loads(daemon.requests[0].q("filters")) == label
    assert json.loads(daemon.requests[1].q("filters")) == label
    assert daemon.requests[2].json() == {
        "Name": "demo_back", "Driver": "overlay", "Scope": "swarm", "Internal": False,
        "Attachable": True, "Labels": {"com.docker.stack.namespace": "demo"}}
    web = daemon.requests[5].json()
    assert web["Name"] == "demo_web"
    assert web["Labels"] == {"com.docker.stack.namespace": "demo",
                             "com.docker.stack.image": "busybox"}
    assert web["TaskTemplate"]["ContainerSpec"] == {
        "Image": "busybox", "Labels": {"com.docker.stack.namespace": "demo"},
        "Args": ["httpd", "-f"]}
    assert web["TaskTemplate"]["Networks"] == [{"Target": "demo_default", "Aliases": ["web"]}]
    assert web["Mode"] == {"Replicated": {"Replicas": 2}}
    client = daemon.requests[4].json()
    assert client["TaskTemplate"]["Networks"] == [
        {"Target": "demo_back", "Aliases": ["client"]},
        {"Target": "demo_default", "Aliases": ["client"]}]


def test_redeploy_updates_only_changed_services(daemon, swarm, shoal, compose):
    f = compose(STACK)
    shoal("stack", "deploy", "-c", f, "demo")
    # the daemon stores network ids as targets, and a forced update happened by hand
    web = swarm.find_service("demo_web")
    back = next(n for n in swarm.networks.values() if n["Name"] == "demo_default")
    web["Spec"]["TaskTemplate"]["Networks"][0]["Target"] = back["Id"]
    web["Spec"]["TaskTemplate"]["ForceUpdate"] = 2
    n = len(daemon.requests)
    r = shoal("stack", "deploy", "-c", f, "demo")
    assert r.code == 0 and r.out == "", r
    assert _since(daemon, n) == ["GET /services", "GET /networks"]
    f = compose(STACK.replace("http://web/", "http://web:80/"))
    n = len(daemon.requests)
    r = shoal("stack", "deploy", "-c", f, "demo")
    client = swarm.find_service("demo_client")
    assert r.out == f"Updating service demo_client (id: {client['ID']})\n"
    upd = daemon.requests[-1]
    assert upd.path == f"/services/{client['ID']}/update" and upd.query == {"version": ["1"]}
    assert upd.json()["TaskTemplate"]["ContainerSpec"]["Env"] == ["TARGET=http://web:80/"]
    f = compose(STACK.replace("replicas: 2", "replicas: 3"))
    shoal("stack", "deploy", "-c", f, "demo")
    assert web["Spec"]["Mode"] == {"Replicated": {"Replicas": 3}}
    assert web["Spec"]["TaskTemplate"]["ForceUpdate"] == 2  # kept: no forced restart


def test_deploy_prune_and_override_files(daemon, swarm, shoal, compose):
    f = compose(STACK)
    shoal("stack", "deploy", "-c", f, "demo")
    only_web = compose("services:\n  web:\n    image: busybox\n", "web.yml")
    over = compose("services:\n  web:\n    environment: [MODE=prod]\n", "over.yml")
    r = shoal("stack", "deploy", "--prune", "-c", only_web, "--compose-file", over, "demo")
    assert r.code == 0, r
    web = swarm.find_service("demo_web")
    assert r.out == ("Removing service demo_client\n"
                     f"Updating service demo_web (id: {web['ID']})\n")
    assert swarm.find_service("demo_client") is None
    assert web["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"] == ["MODE=prod"]


def test_deploy_external_networks(daemon, swarm, shoal, compose):
    f = compose("""
        services:
          web:
            image: busybox
            networks: [shared]
        networks:
          shared:
            external: true
        """)
    r = shoal("stack", "deploy", "-c", f, "demo")
    assert r.code == 1
    assert r.err == ('network "shared" is declared as external, but could not be found. You '
                     "need to create a swarm-scoped network before the stack is deployed\n")
    assert not any(q.path == "/services/create" for q in daemon.requests)
    swarm.networks["n1"] = {"Id": "n1", "Name": "shared", "Scope": "local", "Labels": {}}
    r = shoal("stack", "deploy", "-c", f, "demo")
    assert r.code == 1 and 'not in the right scope: "local" instead of "swarm"' in r.err
    swarm.networks["n1"]["Scope"] = "swarm"
    r = shoal("stack", "deploy", "-c", f, "demo")
    assert r.code == 0 and r.out == "Creating service demo_web\n"
    assert not any(q.path == "/networks/create" for q in daemon.requests)


def test_deploy_invalid_file_contacts_nobody(daemon, swarm, shoal, compose):
    f = compose("services:\n  web:\n    image: busybox\n    deploy:\n      replicas: three\n")
    r = shoal("stack", "deploy", "-c", f, "demo")
    assert r.code == 1
    assert r.err == f"{f}:5: services.web.deploy.replicas: must be an integer, not 'three'\n"
    assert daemon.requests == []
    r = shoal("stack", "deploy", "demo")
    assert r.code == 1 and "Please specify a Compose file" in r.err


def test_deploy_warnings_go_to_stderr(daemon, swarm, shoal, compose):
    f = compose("services:\n  web:\n    image: busybox:${TAG}\n    build: .\n")
    r = shoal("stack", "deploy", "-c", f, "demo")
    assert r.code == 0
    assert r.err == ('The "TAG" variable is not set. Defaulting to a blank string.\n'
                     "Ignoring unsupported options: build\n")


def test_deploy_can_wait_for_convergence(daemon, swarm, shoal, compose):
    f = compose("services:\n  web:\n    image: busybox\n    deploy:\n      replicas: 2\n")
    r = shoal("stack", "deploy", "-d=false", "-c", f, "demo")
    assert r.code == 0, r
    assert r.out.startswith("Creating network demo_default\nCreating service demo_web\n"
                            "overall progress: 0 out of 2 tasks\n")
    assert r.out.endswith("verify: Service converged\n")


def test_ls_services_ps_rm(daemon, swarm, shoal, compose):
    shoal("stack", "deploy", "-c", compose(STACK), "demo")
    shoal("stack", "deploy", "-c", compose("services:\n  db:\n    image: busybox\n", "b.yml"),
          "other")
    for _ in range(6):
        swarm.advance()
    r = shoal("stack", "ls")
    assert r.out.splitlines() == ["NAME      SERVICES", "demo      2", "other     1"]
    assert json.loads(daemon.requests[-1].q("filters")) == {
        "label": ["com.docker.stack.namespace"]}
    r = shoal("stack", "services", "demo")
    lines = r.out.splitlines()
    assert [ln.split()[1:4] for ln in lines[1:]] == [["demo_client", "replicated", "1/1"],
                                                     ["demo_web", "replicated", "2/2"]]
    assert lines[2].endswith("*:8080->80/tcp")
    r = shoal("stack", "services", "nope")
    assert r.code == 0 and r.out == "" and r.err == "Nothing found in stack: nope\n"
    r = shoal("stack", "ps", "demo")
    assert [ln.split()[1] for ln in r.out.splitlines()[1:]] == ["demo_client.1", "demo_web.1",
                                                                "demo_web.2"]
    r = shoal("stack", "ps", "nope")
    assert r.code == 1 and r.err == "nothing found in stack: nope\n"
    r = shoal("stack", "rm", "demo", "nope")
    assert r.code == 0, r
    assert r.out == ("Removing service demo_client\nRemoving service demo_web\n"
                     "Removing network demo_back\nRemoving network demo_default\n")
    assert r.err == "Nothing found in stack: nope\n"
    assert [s["Spec"]["Name"] for s in swarm.services.values()] == ["other_db"]
    assert [n["Name"] for n in swarm.networks.values()] == ["other_default"]


def test_spec_changed_ignores_defaults_and_ids():
    from shoal.cli.commands.stack import spec_changed

    wanted = {"Name": "s", "EndpointSpec": {"Mode": "vip", "Ports": [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}]},
        "TaskTemplate": {"Networks": [{"Target": "st_default", "Aliases": ["s"]}]}}
    deployed = {"Name": "s", "Labels": {}, "EndpointSpec": {"Ports": [
        {"TargetPort": 80, "PublishedPort": 8080}]},
        "TaskTemplate": {"ForceUpdate": 0, "Networks": [{"Target": "abc123",
                                                        "Aliases": ["s"]}]}}
    assert not spec_changed(deployed, wanted, {"abc123": "st_default"})
    assert spec_changed(deployed, wanted, {})
    deployed["EndpointSpec"]["Ports"][0]["PublishedPort"] = 9090
    assert spec_changed(deployed, wanted, {"abc123": "st_default"})


def test_deploy_names_what_failed(daemon, swarm, shoal, compose):
    daemon.route("POST", r"/networks/create", lambda d, q: q.conn.respond(
        400, {"message": "an overlay network needs a manager"}))
    r = shoal("stack", "deploy", "-c", compose(STACK), "demo")
    assert r.code == 1
    assert r.err == ("failed to create network demo_back: Error response from daemon: an "
                     "overlay network needs a manager\n")
