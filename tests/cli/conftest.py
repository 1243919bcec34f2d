"""Fixtures for CLI tests: a fake daemon on a temp socket and an in-process `shoal`."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from shoal.cli.main import run
from tests.cli.fakedaemon import FakeDaemon, new_daemon


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"Result({self.code}, out={self.out!r}, err={self.err!r})"


@pytest.fixture
def daemon() -> Iterator[FakeDaemon]:
    tmp = tempfile.mkdtemp(prefix="shoal-cli-")  # short: UNIX socket paths are <108 bytes
    d = new_daemon(tmp)
    yield d
    d.close()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def shoal(daemon: FakeDaemon, capfd: pytest.CaptureFixture[str]):
    """Run `shoal -H <fake> ARGS...` in-process; stdin= feeds the container's stdin."""

    def call(*args: str, stdin: bytes | None = None) -> Result:
        capfd.readouterr()
        fd = 0
        if stdin is not None:
            r, w = os.pipe()
            os.write(w, stdin)
            os.close(w)
            fd = r
        try:
            code = run(["-H", daemon.host, *args], stdin_fd=fd)
        finally:
            if stdin is not None:
                os.close(fd)
        out, err = capfd.readouterr()
        return Result(code, out, err)

    return call
