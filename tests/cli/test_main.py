"""The entry point: help, dispatch, errors, exit codes, and a lean import."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shoal.cli.main import run
from shoal.cli.registry import COMMANDS, GROUPS, Entry, register_group, resolve

SHOAL = [sys.executable, "-c", "from shoal.cli.main import main; main()"]


def test_help(capsys):
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage:  shoal [OPTIONS] COMMAND" in out and "  run         " in out
    assert run([]) == 0
    assert run(["run", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage:  shoal run [OPTIONS] IMAGE [COMMAND] [ARG...]" in out
    assert "  -h, --hostname string" in out and "--memory bytes" in out
    assert run(["container", "run", "--help"]) == 0
    assert "Usage:  shoal container run [OPTIONS]" in capsys.readouterr().out
    assert run(["image"]) == 0
    assert "  import " in capsys.readouterr().out


@pytest.mark.parametrize("argv", [[name, "--help"] for name in sorted(COMMANDS)]
                         + [[g, c, "--help"] for g in sorted(GROUPS)
                            for c in sorted(GROUPS[g].commands)])
def test_every_command_has_help(argv, capsys):
    assert run(argv) == 0
    assert "Usage:  shoal " + " ".join(argv[:-1]) in capsys.readouterr().out


def test_unknown_command_and_flags(capsys):
    assert run(["frobnicate"]) == 1
    assert "shoal: 'frobnicate' is not a shoal command." in capsys.readouterr().err
    assert run(["container", "frob"]) == 1
    assert run(["--bogus", "ps"]) == 125
    assert run(["ps", "--bogus"]) == 125
    err = capsys.readouterr().err
    assert "unknown flag: --bogus\nSee 'shoal ps --help'.\n" in err


def test_version_flag(capsys):
    assert run(["-v"]) == 0
    assert capsys.readouterr().out == "shoal version 0.1.0, API 1.44\n"


def test_host_option_and_env(capsys, monkeypatch):
    monkeypatch.setenv("SHOAL_HOST", "unix:///nonexistent/env.sock")
    assert run(["ps"]) == 1
    assert "unix:///nonexistent/env.sock" in capsys.readouterr().err
    assert run(["-H", "unix:///nonexistent/flag.sock", "ps"]) == 1
    assert "unix:///nonexistent/flag.sock" in capsys.readouterr().err
    assert run(["--host=tcp://127.0.0.1:1", "ps"]) == 1
    assert "Cannot connect to the shoal daemon at tcp://127.0.0.1:1" in capsys.readouterr().err
    assert run(["-H", "bogus://x", "ps"]) == 1


def test_run_connection_failure_is_125(capsys):
    assert run(["-H", "unix:///nonexistent/s.sock", "run", "busybox"]) == 125
    err = capsys.readouterr().err
    assert err.startswith("shoal: Cannot connect to the shoal daemon")
    assert err.endswith("See 'shoal run --help'.\n")


def test_registry_extension_point():
    register_group("widget", "Manage widgets",
                   {"ls": Entry("shoal.cli.commands.system", "info", "List widgets")},
                   {"list": "ls"})
    try:
        entry, words, rest = resolve(["widget", "list", "-q"])
        assert isinstance(entry, Entry) and entry.func == "info"
        assert words == ["widget", "list"] and rest == ["-q"]
    finally:
        del GROUPS["widget"]


def test_import_is_lean():
    code = ("import sys, shoal.cli.main, shoal.cli.commands.run, shoal.cli.client, "
            "shoal.cli.streams; heavy = ('aiohttp', 'asyncio', 'yaml', 'requests', "
            "'http.client', 'argparse', 'grpc', 'urllib.request', 'email', 'ssl', "
            "'dataclasses', 'typing'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_console_entry_exit_codes_and_stdin(daemon):
    env = {**os.environ, "SHOAL_HOST": daemon.host}
    r = subprocess.run([*SHOAL, "run", "--rm", "busybox", "fail", "42"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 42 and r.stderr == "failing\n" and r.stdout == ""
    r = subprocess.run([*SHOAL, "run", "-i", "busybox", "cat"], env=env, input="piped\n",
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout == "piped\n"
    r = subprocess.run([*SHOAL, "run", "--rm", "busybox", "/no/such/binary"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 127
    r = subprocess.run([*SHOAL, "ps", "-a", "--format", "{{.Names}}"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and len(r.stdout.split()) == 1
    r = subprocess.run([*SHOAL, "logs", "nope"], env=env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1 and "No such container: nope" in r.stderr


def test_exit_code_above_255_wraps(daemon):
    env = {**os.environ, "SHOAL_HOST": daemon.host}
    r = subprocess.run([*SHOAL, "run", "busybox", "fail", "257"], env=env,
                       capture_output=True, timeout=30)
    assert r.returncode == 1


def test_group_flags(capsys):
    assert run(["image", "--help"]) == 0
    assert run(["image", "--bogus"]) == 125
    assert "unknown flag: --bogus\nSee 'shoal image --help'." in capsys.readouterr().err


def test_debug_prints_requests(daemon, capfd):
    assert run(["-D", "-H", daemon.host, "ps"]) == 0
    err = capfd.readouterr().err
    assert "DEBU GET /v1.44/containers/json" in err and "DEBU <- 200 OK" in err
