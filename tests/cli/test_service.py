"""`shoal service`: ServiceSpec request shapes, updates with versions, tables, logs, progress."""

from __future__ import annotations

import io
import json

import pytest

from shoal.cli.commands import progress
from tests.cli.fakedaemon import frame
from tests.cli.fakeswarm import install


@pytest.fixture
def swarm(daemon, monkeypatch):
    monkeypatch.setattr(progress, "POLL_SECONDS", 0.0)
    monkeypatch.setattr(progress, "VERIFY_SECONDS", 0.0)
    return install(daemon)


def _create_body(daemon):
    return next(q for q in reversed(daemon.requests) if q.path == "/services/create").json()


def test_create_full_spec(daemon, swarm, shoal, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("FROM_FILE=1\n")
    r = shoal("service", "create", "-d", "--name", "web", "--replicas", "3",
              "--constraint", "node.role==worker", "--constraint", "node.labels.zone!=b",
              "--placement-pref", "spread=node.labels.zone", "--replicas-max-per-node", "2",
              "--reserve-cpu", "0.5", "--reserve-memory", "64m", "--limit-cpu", "1",
              "--limit-memory", "128m", "-e", "A=1", "--env-file", str(env_file),
              "-l", "tier=front", "--container-label", "c=1",
              "-p", "8080:80", "-p", "mode=host,published=53,target=53,protocol=udp",
              "--restart-condition", "on-failure", "--restart-delay", "5s",
              "--restart-max-attempts", "3", "--restart-window", "1m",
              "--update-parallelism", "2", "--update-delay", "10s",
              "--update-failure-action", "rollback", "--update-order", "start-first",
              "--health-cmd", "wget -q localhost", "--health-interval", "5s",
              "--health-retries", "2", "-w", "/srv", "-u", "nobody", "--hostname", "h",
              "--entrypoint", "/bin/sh -c", "--stop-signal", "SIGINT",
              "--stop-grace-period", "3s", "--network", "front",
              "--network", "name=back,alias=api", "busybox", "httpd", "-f")
    assert r.code == 0, r
    assert r.out == swarm.find_service("web")["ID"] + "\n"
    assert _create_body(daemon) == {
        "Name": "web",
        "Labels": {"tier": "front"},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "busybox", "Labels": {"c": "1"}, "Args": ["httpd", "-f"],
                "Env": ["FROM_FILE=1", "A=1"], "Dir": "/srv", "User": "nobody",
                "Hostname": "h", "StopSignal": "SIGINT", "StopGracePeriod": 3_000_000_000,
                "Command": ["/bin/sh", "-c"],
                "Healthcheck": {"Test": ["CMD-SHELL", "wget -q localhost"],
                                "Interval": 5_000_000_000, "Retries": 2}},
            "Resources": {"Limits": {"NanoCPUs": 1_000_000_000, "MemoryBytes": 128 << 20},
                          "Reservations": {"NanoCPUs": 500_000_000, "MemoryBytes": 64 << 20}},
            "RestartPolicy": {"Condition": "on-failure", "Delay": 5_000_000_000,
                              "MaxAttempts": 3, "Window": 60_000_000_000},
            "Placement": {"MaxReplicas": 2,
                          "Constraints": ["node.role==worker", "node.labels.zone!=b"],
                          "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}]},
            "Networks": [{"Target": "front"}, {"Target": "back", "Aliases": ["api"]}]},
        "Mode": {"Replicated": {"Replicas": 3}},
        "UpdateConfig": {"Parallelism": 2, "Delay": 10_000_000_000, "FailureAction": "rollback",
                         "Monitor": 0, "MaxFailureRatio": 0, "Order": "start-first"},
        "RollbackConfig": {"Parallelism": 1, "Delay": 0, "FailureAction": "pause",
                           "Monitor": 0, "MaxFailureRatio": 0, "Order": "stop-first"},
        "EndpointSpec": {"Mode": "vip", "Ports": [
            {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080,
             "PublishMode": "ingress"},
            {"Protocol": "udp", "TargetPort": 53, "PublishedPort": 53, "PublishMode": "host"}]},
    }
    # -d: no polling at all
    assert not any(q.path == "/tasks" for q in daemon.requests)


def test_create_minimal_and_global(daemon, swarm, shoal):
    shoal("service", "create", "-d", "busybox")
    body = _create_body(daemon)
    assert body["TaskTemplate"] == {"ContainerSpec": {"Image": "busybox"}}
    assert body["Mode"] == {"Replicated": {"Replicas": 1}}
    assert body["EndpointSpec"] == {"Mode": "vip"} and "Name" not in body
    shoal("service", "create", "-d", "--mode", "global", "--name", "agent", "busybox")
    assert _create_body(daemon)["Mode"] == {"Global": {}}


@pytest.mark.parametrize("argv, message", [
    (["--mode", "global", "--replicas", "2"],
     "replicas can only be used with replicated or replicated-job mode"),
    (["--placement-pref", "binpack=x"], "unsupported placement preference binpack"),
    (["-p", "1.2.3.4:80:80"], "hostip is not supported"),
    (["-p", "mode=bogus,target=80"], "invalid publish mode value bogus"),
    (["-p", "published=80"], 'missing mandatory field "target"'),
    (["--update-delay", "soon"], 'time: invalid duration "soon"'),
    (["--limit-memory", "lots"], "invalid size: 'lots'"),
    (["--restart-condition", "always"], "must be one of none, on-failure, any"),
    (["--health-cmd", "x", "--no-healthcheck"], "--no-healthcheck conflicts with --health-*"),
])
def test_create_flag_errors(daemon, swarm, shoal, argv, message):
    r = shoal("service", "create", "-d", *argv, "busybox")
    assert r.code != 0 and message in r.err, r
    assert not any(q.path == "/services/create" for q in daemon.requests)


def test_create_waits_with_progress(daemon, swarm, shoal):
    r = shoal("service", "create", "--name", "web", "--replicas", "2", "busybox")
    assert r.code == 0, r
    lines = r.out.splitlines()
    sid = swarm.find_service("web")["ID"]
    assert lines[0] == sid
    assert lines[1] == "overall progress: 0 out of 2 tasks"
    assert "1/2: pending" in lines and "2/2: preparing" in lines
    assert lines[-4:] == ["overall progress: 2 out of 2 tasks", "1/2: running",
                          "2/2: running", "verify: Service converged"]
    # each line is printed once, when it changes (no terminal: no redraws)
    assert lines.count("1/2: running") == 1 and "\x1b" not in r.out
    polls = [q for q in daemon.requests if q.path == "/tasks"]
    assert len(polls) >= 5
    assert json.loads(polls[0].q("filters")) == {"service": [sid], "desired-state": ["running"]}
    assert daemon.calls()[1:3] == [f"GET /services/{sid}", "GET /tasks"]


def test_create_quiet_prints_only_the_id(daemon, swarm, shoal):
    r = shoal("service", "create", "-q", "--name", "web", "busybox")
    assert r.code == 0 and r.out.count("\n") == 1


def test_progress_shows_pending_error_then_converges(daemon, swarm, shoal):
    r = shoal("service", "create", "--name", "slow", "--constraint", "node.labels.slow==1",
              "busybox")
    assert r.code == 0, r
    assert ("1/1: no suitable node (scheduling constraints not satisfied on 1 node)"
            in r.out.splitlines())
    assert r.out.endswith("overall progress: 1 out of 1 tasks\n1/1: running\n"
                          "verify: Service converged\n")


def test_progress_shows_failed_task_error(daemon, swarm, shoal):
    r = shoal("service", "create", "--name", "bad", "fail:1")
    assert r.code == 0, r
    assert "1/1: task: non-zero exit (1)" in r.out.splitlines()
    assert r.out.endswith("verify: Service converged\n")


def test_progress_waits_for_stability(daemon, swarm, shoal, monkeypatch):
    monkeypatch.setattr(progress, "VERIFY_SECONDS", 0.05)
    r = shoal("service", "create", "--name", "web", "busybox")
    assert "verify: Waiting 1 seconds to verify that tasks are stable..." in r.out
    assert r.out.endswith("verify: Service converged\n")


def test_scale(daemon, swarm, shoal):
    shoal("service", "create", "-d", "--name", "web", "busybox")
    sid = swarm.find_service("web")["ID"]
    n = len(daemon.requests)
    r = shoal("service", "scale", "web=3")
    assert r.code == 0, r
    get, upd = daemon.requests[n:n + 2]
    assert get.method == "GET" and get.path == "/services/web"
    assert upd.path == f"/services/{sid}/update" and upd.query == {"version": ["1"]}
    assert upd.json()["Mode"] == {"Replicated": {"Replicas": 3}}
    assert upd.json()["TaskTemplate"] == _create_body(daemon)["TaskTemplate"]
    assert r.out.startswith("web scaled to 3\noverall progress: ")
    assert "overall progress: 3 out of 3 tasks\n" in r.out
    assert r.out.endswith("3/3: running\nverify: Service converged\n")
    r = shoal("service", "scale", "-d", "web=1")
    assert r.out == "web scaled to 1\n" and daemon.requests[-1].query == {"version": ["2"]}


def test_scale_errors(daemon, swarm, shoal):
    shoal("service", "create", "-d", "--mode", "global", "--name", "g", "busybox")
    r = shoal("service", "scale", "-d", "g=2", "nope=1")
    assert r.code == 1
    assert r.err == ("g: scale can only be used with replicated or replicated-job mode\n"
                     "nope: Error response from daemon: service nope not found\n")
    r = shoal("service", "scale", "web")
    assert r.code == 1 and r.err.startswith("invalid scale specifier 'web'.\n")


def test_update_flags(daemon, swarm, shoal):
    shoal("service", "create", "-d", "--name", "web", "-e", "A=1", "-e", "B=2", "-l", "x=1",
          "-p", "8080:80", "--constraint", "node.role==worker", "busybox")
    sid = swarm.find_service("web")["ID"]
    r = shoal("service", "update", "-d", "--image", "busybox:1.36", "--env-add", "B=3",
              "--env-add", "C=4", "--env-rm", "A", "--label-add", "y=2", "--label-rm", "x",
              "--limit-cpu", "0.5", "--publish-rm", "80", "--publish-add", "9090:90",
              "--constraint-rm", "node.role==worker", "--replicas", "2", "--force",
              "--update-delay", "1s", "web")
    assert r.code == 0 and r.out == "web\n", r
    upd = daemon.requests[-1]
    assert upd.path == f"/services/{sid}/update" and upd.query == {"version": ["1"]}
    spec = upd.json()
    cs = spec["TaskTemplate"]["ContainerSpec"]
    assert cs["Image"] == "busybox:1.36" and cs["Env"] == ["B=3", "C=4"]
    assert spec["Labels"] == {"y": "2"}
    assert spec["TaskTemplate"]["Resources"] == {"Limits": {"NanoCPUs": 500_000_000}}
    assert "Placement" not in spec["TaskTemplate"]
    assert spec["TaskTemplate"]["ForceUpdate"] == 1
    assert spec["EndpointSpec"]["Ports"] == [{"Protocol": "tcp", "TargetPort": 90,
                                              "PublishedPort": 9090, "PublishMode": "ingress"}]
    assert spec["Mode"] == {"Replicated": {"Replicas": 2}}
    assert spec["UpdateConfig"]["Delay"] == 1_000_000_000
    assert spec["UpdateConfig"]["Parallelism"] == 1  # kept from the create


def test_update_waits_for_new_tasks(daemon, swarm, shoal):
    shoal("service", "create", "--name", "web", "--replicas", "2", "busybox")
    r = shoal("service", "update", "--image", "busybox:2", "web")
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert lines[0] == "web" and lines[1] == "overall progress: 0 out of 2 tasks"
    assert lines[-1] == "verify: Service converged"
    running = [t for t in swarm.tasks.values() if t["DesiredState"] == "running"]
    assert all(t["Spec"]["ContainerSpec"]["Image"] == "busybox:2" for t in running)
    assert all(t["Status"]["State"] == "running" for t in running)


def test_update_paused_is_an_error(daemon, swarm, shoal):
    shoal("service", "create", "-d", "--name", "web", "busybox")
    swarm.next_update_status = {"State": "paused", "Message": "update paused due to failure"}
    r = shoal("service", "update", "--env-add", "A=1", "web")
    assert r.code == 1
    assert r.err == "service update paused: update paused due to failure\n"


def test_update_rollback(daemon, swarm, shoal):
    shoal("service", "create", "-d", "--name", "web", "busybox")
    shoal("service", "update", "-d", "--image", "busybox:2", "web")
    r = shoal("service", "update", "-d", "--rollback", "web")
    assert r.code == 0, r
    assert daemon.requests[-1].query == {"version": ["2"], "rollback": ["previous"]}
    assert swarm.find_service("web")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == \
        "busybox"
    r = shoal("service", "update", "--rollback", "--image", "x", "web")
    assert r.code == 1 and "other flags may not be combined with --rollback" in r.err
    r = shoal("service", "rollback", "-d", "web")
    assert r.code == 0 and daemon.requests[-1].query["rollback"] == ["previous"]


def test_ls(daemon, swarm, shoal):
    shoal("service", "create", "--name", "web", "--replicas", "2", "-p", "8080:80",
          "--replicas-max-per-node", "1", "busybox@sha256:abc")
    shoal("service", "create", "-d", "--name", "agent", "--mode", "global", "busybox")
    r = shoal("service", "ls")
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]
    web, agent = swarm.find_service("web"), swarm.find_service("agent")
    assert lines[1].split() == [agent["ID"][:12], "agent", "global", "0/1", "busybox"]
    assert lines[2].split() == [web["ID"][:12], "web", "replicated", "2/2", "(max", "1", "per",
                                "node)", "busybox", "*:8080->80/tcp"]
    assert daemon.requests[-1].query == {"status": ["true"]}
    shoal("service", "ls", "-f", "name=web", "-q")
    assert json.loads(daemon.requests[-1].q("filters")) == {"name": ["web"]}


def test_ls_counts_tasks_without_service_status(daemon, swarm, shoal):
    shoal("service", "create", "--name", "web", "--replicas", "2", "busybox")
    orig = daemon.routes[0]
    daemon.route("GET", r"/services", lambda d, q: q.conn.respond(
        200, [{k: v for k, v in s.items()} for s in swarm.services.values()]))
    r = shoal("service", "ls")
    assert r.out.splitlines()[1].split()[3] == "2/2"
    assert json.loads(daemon.requests[-1].q("filters"))["desired-state"] == ["running"]
    assert orig


def test_ps_history_and_columns(daemon, swarm, shoal):
    shoal("service", "create", "--name", "web", "--replicas", "2", "busybox")
    shoal("service", "update", "--image", "busybox:2", "web")
    old = next(t for t in swarm.tasks.values() if t["Slot"] == 1
               and t["DesiredState"] == "shutdown")
    old["Status"]["Err"] = "task: non-zero exit (137): killed by the update supervisor"
    r = shoal("service", "ps", "web")
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "IMAGE", "NODE", "DESIRED", "STATE", "CURRENT",
                                "STATE", "ERROR", "PORTS"]
    names = [ln.split("   ")[1].strip() for ln in lines[1:]]
    assert names == ["web.1", "\\_ web.1", "web.2", "\\_ web.2"]
    assert lines[1].split()[2:6] == ["busybox:2", "node-1", "Running", "Running"]
    assert "ago" in lines[1]
    assert '"task: non-zero exit (137): ki…"' in lines[2]
    assert lines[2].split()[5] == "Shutdown"
    r = shoal("service", "ps", "--no-trunc", "-f", "desired-state=running", "web")
    q = daemon.requests[-2] if daemon.requests[-1].path == "/nodes" else daemon.requests[-1]
    assert json.loads(q.q("filters")) == {"desired-state": ["running"],
                                          "service": [swarm.find_service("web")["ID"]]}
    assert len(r.out.splitlines()[1].split()[0]) == 25
    r = shoal("service", "ps", "web", "nope")
    assert r.code == 1 and r.err == "no such service: nope\n" and "web.1" in r.out


def test_inspect(daemon, swarm, shoal):
    shoal("service", "create", "-d", "--name", "web", "--replicas", "2", "-p", "8080:80",
          "--limit-memory", "64m", "--update-delay", "90s", "busybox", "httpd")
    r = shoal("service", "inspect", "web")
    assert json.loads(r.out)[0]["Spec"]["Name"] == "web"
    assert daemon.requests[-1].query == {"insertDefaults": ["true"]}
    r = shoal("service", "inspect", "--pretty", "web")
    for text in ("Name:               web", "Service Mode:       Replicated",
                 " Replicas:          2", " Delay:             1m30s",
                 " Image:             busybox", " Args:              httpd",
                 "  Memory:           64MiB", " PublishedPort = 8080", "  TargetPort = 80"):
        assert text in r.out, (text, r.out)
    assert shoal("service", "inspect", "-f", "{{.Spec.Name}}", "web").out == "web\n"
    r = shoal("service", "inspect", "nope")
    assert r.code == 1 and r.out == "[]\n" and r.err == "no such service: nope\n"


def test_rm(daemon, swarm, shoal):
    shoal("service", "create", "-d", "--name", "web", "busybox")
    r = shoal("service", "rm", "web", "nope")
    assert r.code == 1 and r.out == "web\n" and "service nope not found" in r.err
    assert "DELETE /services/web" in daemon.calls()


def test_logs_prefixes_lines(daemon, swarm, shoal):
    shoal("service", "create", "--name", "web", "--replicas", "2", "busybox")
    t1, t2 = sorted((t for t in swarm.tasks.values()), key=lambda t: t["Slot"])
    swarm.logs = [(1, t1["ID"], "hello"), (2, t2["ID"], "oops"), (1, t2["ID"], "world")]
    r = shoal("service", "logs", "web")
    assert r.code == 0, r
    assert r.out == (f"web.1.{t1['ID'][:12]}@node-1    | hello\n"
                     f"web.2.{t2['ID'][:12]}@node-1    | world\n")
    assert r.err == f"web.2.{t2['ID'][:12]}@node-1    | oops\n"
    logs = next(q for q in daemon.requests if q.path.endswith("/logs"))
    assert logs.path == f"/services/{t1['ServiceID']}/logs"
    assert logs.query == {"stdout": ["1"], "stderr": ["1"], "tail": ["all"], "details": ["1"]}
    r = shoal("service", "logs", "-f", "-t", "--tail", "5", "--no-task-ids", "web")
    assert r.out.splitlines()[0] == "2024-01-01T00:00:00.000000000Z web.1@node-1    | hello"
    q = next(q for q in reversed(daemon.requests) if q.path.endswith("/logs"))
    assert q.query == {"stdout": ["1"], "stderr": ["1"], "timestamps": ["1"], "follow": ["1"],
                       "tail": ["5"], "details": ["1"]}
    r = shoal("service", "logs", "--raw", "web")
    assert r.out.startswith("com.docker.swarm.node.id=")


def test_logs_prefixer_splits_and_pads():
    from shoal.cli.commands.service_logs import Prefixer, copy_lines

    p = Prefixer(None, "web", width=2, trunc=False)
    p.tasks["t1"] = {"Slot": 3, "NodeID": "n1"}
    out, err = io.BytesIO(), io.BytesIO()
    data = (frame(1, b"com.docker.swarm.task.id=t1,com.docker.swarm.node.id=n1 a b\n")
            + frame(2, b"com.docker.swarm.task.id=t1 err\n")
            + frame(1, b"plain line without details\n"))
    copy_lines(iter([data[:13], data[13:40], data[40:]]), False, p, out, err)
    assert out.getvalue().decode().splitlines() == [
        "web.3.t1@n1     | a b", "plain line without details"]
    assert err.getvalue() == b"web.3.t1@n1     | err\n"


# -- progress, directly -------------------------------------------------------------

def _task(slot, state, desired="running", image="busybox", err="", node="n1", created="1"):
    status = {"State": state, "Timestamp": "2024-01-01T00:00:00Z"}
    if err:
        status["Err"] = err
    return {"ID": f"t{slot}{state}", "Slot": slot, "NodeID": node, "DesiredState": desired,
            "Status": status, "CreatedAt": created,
            "Spec": {"ContainerSpec": {"Image": image}}}


def _service(replicas=2, image="busybox", mode=None, update=None):
    spec = {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": image}},
            "Mode": mode or {"Replicated": {"Replicas": replicas}}}
    doc = {"ID": "s1", "Spec": spec}
    if update:
        doc["UpdateStatus"] = {"State": update}
    return doc


def test_evaluate_replicated():
    lines, done = progress.evaluate(_service(), [_task(1, "running"), _task(2, "starting")],
                                    False)
    assert [t for _, t, _ in lines.items] == ["overall progress: 1 out of 2 tasks",
                                              "1/2: running", "2/2: starting"]
    assert lines.items[1][2] == "running   " + progress.bar("running")
    assert progress.bar("running") == "[" + "=" * 50 + ">]"
    assert not done
    lines, done = progress.evaluate(_service(), [_task(1, "running"), _task(2, "running")],
                                    False)
    assert done


def test_evaluate_scale_down_waits_for_extra_slots():
    tasks = [_task(1, "running"), _task(2, "running")]
    lines, done = progress.evaluate(_service(replicas=1), tasks, False)
    assert not done and lines.items[0][1] == "overall progress: 1 out of 1 tasks"


def test_evaluate_update_counts_only_new_spec():
    svc = _service(image="busybox:2", update="updating")
    old = _task(1, "running", image="busybox")
    new = _task(1, "starting", image="busybox:2")
    lines, done = progress.evaluate(_service(replicas=1, image="busybox:2"), [old], True)
    assert not done and lines.items[1][1] == "1/1:"
    svc["Spec"]["Mode"] = {"Replicated": {"Replicas": 1}}
    lines, done = progress.evaluate(svc, [old, new], True)
    assert lines.items[1][1] == "1/1: starting" and not done
    new["Status"]["State"] = "running"
    _, done = progress.evaluate(svc, [old, new], True)
    assert not done  # the daemon still says updating
    svc["UpdateStatus"]["State"] = "completed"
    _, done = progress.evaluate(svc, [old, new], True)
    assert done


def test_evaluate_global_and_many_replicas():
    svc = _service(mode={"Global": {}})
    tasks = [_task(0, "running", node="node-a"), _task(0, "preparing", node="node-b"),
             _task(0, "running", node="node-down")]
    lines, done = progress.evaluate(svc, tasks, False, nodes={"node-a", "node-b"})
    assert [t for _, t, _ in lines.items] == ["overall progress: 1 out of 2 tasks",
                                              "node-a: running", "node-b: preparing"]
    assert not done
    lines, _ = progress.evaluate(_service(replicas=30), [], False)
    assert [t for _, t, _ in lines.items] == ["overall progress: 0 out of 30 tasks"]


def test_display_redraws_in_place_on_a_terminal():
    out = io.StringIO()
    d = progress.Display(out, tty=True, width=120)
    first, _ = progress.evaluate(_service(), [_task(1, "starting")], False)
    d.show(first)
    second, _ = progress.evaluate(_service(), [_task(1, "running"), _task(2, "running")],
                                  False)
    d.show(second)
    text = out.getvalue()
    assert text.count("\x1b[2K") == 6 and "\x1b[3A\r" in text
    assert "1/2: running   [" + "=" * 50 + ">]" in text


def test_progress_ignores_failures_from_before(daemon, swarm, shoal):
    shoal("service", "create", "--name", "bad", "fail:1")
    r = shoal("service", "scale", "bad=2")
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert "2/2: task: non-zero exit (1)" in lines
    assert "1/2: task: non-zero exit (1)" not in lines


def test_display_drops_bars_on_narrow_terminals():
    out = io.StringIO()
    lines, _ = progress.evaluate(_service(), [_task(1, "starting")], False)
    progress.Display(out, tty=True, width=80).show(lines)
    assert "1/2: starting\n" in out.getvalue() and "[=" not in out.getvalue()
