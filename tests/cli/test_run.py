"""The exact requests `shoal run` makes, and how exit codes propagate."""

from __future__ import annotations


def test_run_flow_and_output(daemon, shoal):
    r = shoal("run", "--rm", "busybox", "echo", "hello", "world")
    assert r.code == 0, r
    assert r.out == "hello world\n" and r.err == ""
    create, attach, wait, start = daemon.requests
    cid = attach.path.split("/")[2]
    assert len(cid) == 64
    assert daemon.calls() == ["POST /containers/create", f"POST /containers/{cid}/attach",
                              f"POST /containers/{cid}/wait", f"POST /containers/{cid}/start"]
    assert start.raw_query == "" and start.body == b""
    assert attach.query == {"stream": ["1"], "stdout": ["1"], "stderr": ["1"]}
    assert attach.headers["connection"] == "Upgrade" and attach.headers["upgrade"] == "tcp"
    assert wait.query == {"condition": ["removed"]}
    body = create.json()
    assert body["Image"] == "busybox" and body["Cmd"] == ["echo", "hello", "world"]
    assert body["AttachStdout"] and body["AttachStderr"] and not body["AttachStdin"]
    assert body["Tty"] is False and body["OpenStdin"] is False
    assert body["HostConfig"]["AutoRemove"] is True
    assert body["HostConfig"]["NetworkMode"] == "default"
    assert create.headers["content-type"] == "application/json"


def test_run_without_rm_waits_for_next_exit(daemon, shoal):
    r = shoal("run", "busybox", "true")
    assert r.code == 0, r
    wait = next(q for q in daemon.requests if q.path.endswith("/wait"))
    assert wait.query == {"condition": ["next-exit"]}


def test_run_exit_code_and_stderr(daemon, shoal):
    r = shoal("run", "--rm", "busybox", "fail", "3")
    assert r.code == 3
    assert r.out == "" and r.err == "failing\n"


def test_run_resources_and_options(daemon, shoal, tmp_path):
    envf = tmp_path / "env"
    envf.write_text("# comment\nFROM_FILE=yes\n  SPACED=1\n")
    r = shoal("run", "--rm", "--name", "web", "-e", "A=1", "--env-file", str(envf),
              "-w", "/work", "-u", "app:app", "-h", "fishbowl", "--memory", "256m",
              "--cpus", "0.5", "--pids-limit", "20", "--entrypoint", "echo",
              "--network", "none", "--stop-signal", "SIGUSR1", "--stop-timeout", "3",
              "-l", "k=v", "-l", "flag", "busybox", "a", "-b")
    assert r.code == 0, r
    create = daemon.requests[0]
    assert create.query == {"name": ["web"]}
    b = create.json()
    assert b["Env"] == ["FROM_FILE=yes", "SPACED=1", "A=1"]
    assert (b["WorkingDir"], b["User"], b["Hostname"]) == ("/work", "app:app", "fishbowl")
    assert b["Entrypoint"] == ["echo"] and b["Cmd"] == ["a", "-b"]
    assert b["StopSignal"] == "SIGUSR1" and b["StopTimeout"] == 3
    assert b["Labels"] == {"k": "v", "flag": ""}
    h = b["HostConfig"]
    assert h["Memory"] == 256 << 20 and h["NanoCpus"] == 500_000_000 and h["PidsLimit"] == 20
    assert h["NetworkMode"] == "none"
    assert r.out == "a -b\n"


def test_pids_limit_is_null_unless_given(daemon, shoal):
    shoal("run", "--rm", "busybox", "true")
    assert daemon.requests[0].json()["HostConfig"]["PidsLimit"] is None


def test_run_detached_prints_full_id(daemon, shoal):
    r = shoal("run", "-d", "--rm", "busybox", "sleep")
    assert r.code == 0, r
    cid = r.out.strip()
    assert len(cid) == 64 and r.err == ""
    assert daemon.calls() == ["POST /containers/create", f"POST /containers/{cid}/start"]
    b = daemon.requests[0].json()
    assert not (b["AttachStdin"] or b["AttachStdout"] or b["AttachStderr"] or b["StdinOnce"])


def test_run_interactive_pipes_stdin_and_half_closes(daemon, shoal):
    r = shoal("run", "--rm", "-i", "busybox", "cat", stdin=b"fish\nchips\n")
    assert r.code == 0, r
    assert r.out == "fish\nchips\n"
    create, attach = daemon.requests[0], daemon.requests[1]
    b = create.json()
    assert b["AttachStdin"] and b["OpenStdin"] and b["StdinOnce"]
    assert attach.query["stdin"] == ["1"]


def test_run_unknown_image_tries_pull_then_fails_125(daemon, shoal):
    r = shoal("run", "--rm", "nosuchimage", "true")
    assert r.code == 125
    assert "Unable to find image 'nosuchimage:latest' locally" in r.err
    assert "pull access denied for nosuchimage" in r.err
    assert "See 'shoal run --help'." in r.err
    pull = daemon.requests[1]
    assert pull.path == "/images/create"
    assert pull.query == {"fromImage": ["nosuchimage"], "tag": ["latest"]}
    assert daemon.calls("/containers") == ["POST /containers/create"]


def test_run_pull_never_does_not_pull(daemon, shoal):
    r = shoal("run", "--pull", "never", "nosuchimage")
    assert r.code == 125 and "No such image: nosuchimage" in r.err
    assert daemon.calls() == ["POST /containers/create"]


def test_run_start_failure_not_found_is_127(daemon, shoal):
    r = shoal("run", "--rm", "busybox", "/no/such/binary")
    assert r.code == 127
    assert "no such file or directory" in r.err and r.err.startswith("shoal: Error response")


def test_run_malformed_memory_names_the_flag_and_value(daemon, shoal):
    r = shoal("run", "--memory", "12zb", "busybox", "true")
    assert r.code == 125
    assert 'invalid argument "12zb" for "-m, --memory" flag' in r.err
    assert daemon.requests == []


def test_run_malformed_cpus(daemon, shoal):
    r = shoal("run", "--cpus", "half", "busybox", "true")
    assert r.code == 125 and "failed to parse half as a rational number" in r.err


def test_run_missing_env_file(daemon, shoal):
    r = shoal("run", "--env-file", "/nonexistent/env", "busybox", "true")
    assert r.code == 125 and "/nonexistent/env" in r.err
    assert daemon.requests == []


def test_run_it_without_a_terminal(daemon, shoal):
    r = shoal("run", "-it", "busybox", "sh", stdin=b"")
    assert r.code == 1 and "the input device is not a TTY" in r.err
    assert daemon.requests == []


def test_run_stops_parsing_flags_at_the_image(daemon, shoal):
    r = shoal("run", "--rm", "busybox", "echo", "-d", "--rm", "-it")
    assert r.code == 0 and r.out == "-d --rm -it\n"


def test_run_combined_short_flags(daemon, shoal):
    r = shoal("run", "-dit", "busybox", "sleep")
    assert r.code == 0, r
    b = daemon.requests[0].json()
    assert b["Tty"] and b["OpenStdin"] and not b["AttachStdin"]


def test_run_create_conflict_is_125(daemon, shoal):
    daemon.route("POST", r"/containers/create", lambda d, q: q.conn.respond(
        409, {"message": 'Conflict. The container name "/web" is already in use'}))
    r = shoal("run", "--name", "web", "busybox", "true")
    assert r.code == 125
    assert r.err == ("shoal: Error response from daemon: Conflict. The container name "
                     "\"/web\" is already in use.\nSee 'shoal run --help'.\n")


def test_create_prints_id(daemon, shoal):
    r = shoal("create", "--name", "x", "busybox", "true")
    assert r.code == 0 and len(r.out.strip()) == 64
    assert daemon.calls() == ["POST /containers/create"]


def test_start_attach_exit_code(daemon, shoal):
    cid = shoal("create", "busybox", "fail", "4").out.strip()
    r = shoal("start", "-a", cid)
    assert r.code == 4 and r.err == "failing\n"
    assert [c.split("/")[-1] for c in daemon.calls()[1:]] == ["json", "attach", "wait",
                                                               "start"]
