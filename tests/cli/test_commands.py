"""The requests and output of the container and image commands, against a fake daemon."""

from __future__ import annotations

import json
import os


def _run_detached(shoal, *args: str) -> str:
    r = shoal("run", "-d", *args)
    assert r.code == 0, r
    return r.out.strip()


def test_ps_table(daemon, shoal):
    cid = _run_detached(shoal, "--name", "web", "busybox", "sleep")
    r = shoal("ps")
    assert r.code == 0, r
    req = daemon.requests[-1]
    assert req.path == "/containers/json" and req.query == {}
    lines = r.out.splitlines()
    assert lines[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                                "PORTS", "NAMES"]
    assert lines[0].startswith("CONTAINER ID   IMAGE     COMMAND   CREATED")
    assert lines[1].startswith(cid[:12] + "   busybox   \"sleep\"   2 minutes ago   Up 2 minutes")
    assert lines[1].endswith("web")


def test_ps_all_quiet_no_trunc(daemon, shoal):
    cid = _run_detached(shoal, "busybox", "true")
    assert shoal("ps", "-q").out == ""
    r = shoal("ps", "-aq")
    assert r.out == cid[:12] + "\n"
    assert daemon.requests[-1].query == {"all": ["1"]}
    assert shoal("ps", "-a", "-q", "--no-trunc").out == cid + "\n"
    r = shoal("ps", "-a", "--filter", "status=exited", "-n", "3")
    q = daemon.requests[-1].query
    assert json.loads(q["filters"][0]) == {"status": {"exited": True}}
    assert q["limit"] == ["3"] and q["all"] == ["1"]
    assert "Exited (0) 1 second ago" in r.out


def test_ps_format(daemon, shoal):
    _run_detached(shoal, "--name", "web", "busybox", "sleep")
    assert shoal("ps", "--format", "{{.Names}} {{.Status}}").out == "web Up 2 minutes\n"
    r = shoal("ps", "--format", "table {{.Names}}\\t{{.Image}}")
    assert r.out.splitlines() == ["NAMES     IMAGE", "web       busybox"]


def test_logs_demuxes_and_inspects_first(daemon, shoal):
    cid = shoal("create", "--name", "l", "busybox", "fail", "2").out.strip()
    shoal("start", "-a", cid)
    r = shoal("logs", "--tail", "5", "-t", "l")
    assert r.code == 0 and r.out == "" and r.err == "failing\n"
    inspect, logs = daemon.requests[-2:]
    assert inspect.path == "/containers/l/json"
    assert logs.path == "/containers/l/logs"
    assert logs.query == {"stdout": ["1"], "stderr": ["1"], "timestamps": ["1"], "tail": ["5"]}
    shoal("logs", "-f", "l")
    assert daemon.requests[-1].query == {"stdout": ["1"], "stderr": ["1"], "follow": ["1"],
                                         "tail": ["all"]}


def test_logs_tty_is_raw(daemon, shoal):
    cid = shoal("create", "-t", "busybox", "echo", "hi").out.strip()
    daemon.containers[cid].output = [(1, b"raw\r\n")]
    assert shoal("logs", cid).out == "raw\r\n"


def test_logs_no_such_container(daemon, shoal):
    r = shoal("logs", "nope")
    assert r.code == 1 and r.err == "Error response from daemon: No such container: nope\n"


def test_exec_flow_and_exit_code(daemon, shoal):
    cid = _run_detached(shoal, "busybox", "sleep")
    n = len(daemon.requests)
    r = shoal("exec", "-e", "A=1", "-w", "/tmp", "-u", "nobody", cid, "fail", "4")
    assert r.code == 4 and r.err == "failing\n"
    inspect, create, start, info = daemon.requests[n:]
    assert inspect.path == f"/containers/{cid}/json"
    assert create.path == f"/containers/{cid}/exec"
    cfg = create.json()
    assert cfg["Cmd"] == ["fail", "4"] and cfg["Env"] == ["A=1"]
    assert cfg["WorkingDir"] == "/tmp" and cfg["User"] == "nobody"
    assert cfg["AttachStdout"] and cfg["AttachStderr"] and not cfg["AttachStdin"]
    eid = start.path.split("/")[2]
    assert start.path == f"/exec/{eid}/start"
    assert start.json() == {"Detach": False, "Tty": False}
    assert start.headers["upgrade"] == "tcp"
    assert info.method == "GET" and info.path == f"/exec/{eid}/json"


def test_exec_stdin(daemon, shoal):
    cid = _run_detached(shoal, "busybox", "sleep")
    r = shoal("exec", "-i", cid, "wc", "-c", stdin=b"12345")
    assert r.code == 0 and r.out == "5\n"


def test_exec_detached(daemon, shoal):
    cid = _run_detached(shoal, "busybox", "sleep")
    n = len(daemon.requests)
    r = shoal("exec", "-d", cid, "echo", "x")
    assert r.code == 0 and r.out == ""
    start = daemon.requests[n + 2]
    assert start.json() == {"Detach": True, "Tty": False}
    assert "upgrade" not in start.headers
    assert len(daemon.requests) == n + 3


def test_exec_in_stopped_container(daemon, shoal):
    cid = shoal("create", "busybox", "true").out.strip()
    r = shoal("exec", cid, "echo", "hi")
    assert r.code == 1 and "is not running" in r.err


def test_stop_restart_kill_rm(daemon, shoal):
    cid = _run_detached(shoal, "--name", "s", "busybox", "sleep")
    r = shoal("stop", "-t", "3", "s")
    assert r.code == 0 and r.out == "s\n"
    assert daemon.requests[-1].path == "/containers/s/stop"
    assert daemon.requests[-1].query == {"t": ["3"]}
    shoal("restart", "--time", "0", "s")
    assert daemon.requests[-1].query == {"t": ["0"]}
    r = shoal("kill", "-s", "TERM", "s")
    assert r.out == "s\n" and daemon.requests[-1].query == {"signal": ["TERM"]}
    r = shoal("rm", "-f", "-v", "s", "nope")
    assert r.code == 1
    assert r.out == "s\n"
    assert r.err == "Error response from daemon: No such container: nope\n"
    assert daemon.requests[-2].method == "DELETE"
    assert daemon.requests[-2].query == {"v": ["1"], "force": ["1"]}
    assert cid not in daemon.containers


def test_rm_running_container_conflict(daemon, shoal):
    _run_detached(shoal, "--name", "r", "busybox", "sleep")
    r = shoal("rm", "r")
    assert r.code == 1 and "container is running" in r.err


def test_wait_prints_exit_codes(daemon, shoal):
    a = _run_detached(shoal, "busybox", "fail", "3")
    b = _run_detached(shoal, "busybox", "true")
    r = shoal("wait", a, b)
    assert r.code == 0 and r.out == "3\n0\n"
    assert daemon.requests[-1].query == {}


def test_start_many_reports_failures(daemon, shoal):
    cid = shoal("create", "busybox", "true").out.strip()
    r = shoal("start", cid, "nope")
    assert r.code == 1 and r.out == cid + "\n"
    assert r.err == ("Error response from daemon: No such container: nope\n"
                     "Error: failed to start containers: nope\n")


def test_inspect_container_then_image(daemon, shoal):
    cid = shoal("create", "--name", "i", "busybox", "true").out.strip()
    r = shoal("inspect", "i", "busybox")
    assert r.code == 0, r
    docs = json.loads(r.out)
    assert docs[0]["Id"] == cid and docs[1]["RepoTags"] == ["busybox:latest"]
    assert r.out.startswith("[\n    {\n        ")
    r = shoal("inspect", "-f", "{{.State.Status}} {{json .Config.Cmd}}", "i")
    assert r.out == 'exited ["true"]\n'
    r = shoal("inspect", "nope")
    assert r.code == 1 and r.out == "[]\n" and r.err == "Error: No such object: nope\n"
    r = shoal("container", "inspect", "busybox")
    assert r.code == 1 and r.err == "Error: No such container: busybox\n"


def test_import_streams_file_with_changes(daemon, shoal, tmp_path):
    tar = tmp_path / "rootfs.tar"
    tar.write_bytes(b"x" * 300_000)
    r = shoal("import", "-c", "CMD [\"sh\"]", "--change", "ENV A=b", "-m", "hello",
              str(tar), "myimg:v1")
    assert r.code == 0, r
    req = daemon.requests[-1]
    assert req.method == "POST" and req.path == "/images/create"
    assert req.query == {"fromSrc": ["-"], "repo": ["myimg"], "tag": ["v1"],
                         "message": ["hello"], "changes": ['CMD ["sh"]', "ENV A=b"]}
    assert req.headers["content-length"] == "300000" and "x-was-chunked" not in req.headers
    assert daemon.uploads[-1] == b"x" * 300_000
    assert r.out.startswith("sha256:") and len(r.out.strip()) == 71


def test_import_from_stdin_is_chunked(daemon, shoal):
    r = shoal("import", "-", "piped", stdin=b"tar-bytes")
    assert r.code == 0, r
    req = daemon.requests[-1]
    assert req.headers.get("transfer-encoding") == "chunked"
    assert req.query == {"fromSrc": ["-"], "repo": ["piped"], "tag": ["latest"]}
    assert daemon.uploads[-1] == b"tar-bytes"


def test_import_bad_change_and_missing_file(daemon, shoal, tmp_path):
    r = shoal("import", "-c", "FROM x", str(tmp_path / "t"))
    assert r.code == 125 and "FROM is not a valid change command" in r.err
    r = shoal("import", str(tmp_path / "missing.tar"))
    assert r.code == 1 and "no such file or directory" in r.err
    assert daemon.requests == []


def test_load_prints_loaded_images(daemon, shoal, tmp_path):
    tar = tmp_path / "img.tar"
    tar.write_bytes(b"archive")
    r = shoal("load", "-i", str(tar))
    assert r.code == 0 and r.out == "Loaded image: busybox:latest\n"
    req = daemon.requests[-1]
    assert req.path == "/images/load" and req.query == {"quiet": ["1"]}
    assert req.headers["content-type"] == "application/x-tar"
    assert daemon.uploads[-1] == b"archive"


def test_save_to_file_and_oci(daemon, shoal, tmp_path):
    out = tmp_path / "out.tar"
    r = shoal("save", "-o", str(out), "busybox", "other:1")
    assert r.code == 0, r
    req = daemon.requests[-1]
    assert req.path == "/images/get" and req.query == {"names": ["busybox", "other:1"]}
    assert out.read_bytes() == b"tar-of-busybox;" * 1000 + b"tar-of-other:1;" * 1000
    shoal("save", "--format", "oci", "-o", str(out), "busybox")
    assert daemon.requests[-1].query == {"names": ["busybox"], "format": ["oci"]}
    assert os.listdir(tmp_path) == ["out.tar"]
    r = shoal("save", "--format", "zip", "-o", str(out), "busybox")
    assert r.code == 1 and "--format" in r.err


def test_images_table_and_quiet(daemon, shoal):
    r = shoal("images")
    assert r.code == 0
    lines = r.out.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert lines[1].split()[:3] == ["busybox", "latest", daemon.images["busybox"]["Id"][7:19]]
    assert lines[1].endswith("1 day ago    4.26MB") or "4.26MB" in lines[1]
    assert shoal("images", "-q").out == daemon.images["busybox"]["Id"][7:19] + "\n"
    assert shoal("image", "ls", "-a").code == 0
    assert daemon.requests[-1].query == {"all": ["1"]}


def test_rmi_tag_image_inspect(daemon, shoal):
    r = shoal("tag", "busybox", "registry.local:5000/me/box:v2")
    assert r.code == 0
    req = daemon.requests[-1]
    assert req.path == "/images/busybox/tag"
    assert req.query == {"repo": ["registry.local:5000/me/box"], "tag": ["v2"]}
    r = shoal("image", "inspect", "busybox")
    assert json.loads(r.out)[0]["RepoTags"] == ["busybox:latest"]
    r = shoal("rmi", "busybox", "gone")
    assert r.code == 1
    assert r.out.startswith("Untagged: busybox:latest\nDeleted: sha256:")
    assert r.err == "Error response from daemon: No such image: gone\n"
    assert shoal("tag", "a", "Bad:tag").code == 1


def test_version_and_info(daemon, shoal):
    r = shoal("version")
    assert r.code == 0 and "Client:" in r.out and "Server: shoal" in r.out
    assert " Version:           0.1.0" in r.out
    r = shoal("info")
    assert r.code == 0 and " CPUs: 4" in r.out and "Total Memory: 8GiB" in r.out
    assert shoal("version", "--format", "{{.Server.ApiVersion}}").out == "1.44\n"


def test_keep_alive_one_connection_per_command(daemon, shoal):
    _run_detached(shoal, "busybox", "sleep")
    before = daemon.connections
    shoal("ps", "-a")
    shoal("images")
    assert daemon.connections - before == 2
    before = daemon.connections
    shoal("rm", "-f", *[c.id for c in daemon.containers.values()])
    assert daemon.connections - before == 1


def test_go_timestamp():
    from shoal.cli.commands.containers import go_timestamp

    assert go_timestamp("1700000000") == "1700000000"
    assert go_timestamp("1700000000.5") == "1700000000.5"
    assert go_timestamp("10m", now=1000.0) == "400"
    assert go_timestamp("1h30m", now=10000.0) == "4600"
    assert go_timestamp("1.5s", now=10.0) == "8.5"
    assert go_timestamp("2024-01-01T00:00:00Z") == "1704067200"
    assert go_timestamp("2024-01-01") == "1704067200"
    assert go_timestamp("") == ""
