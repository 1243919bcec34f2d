import pytest

from shoal.engine.images.changes import apply_changes, parse_duration
from shoal.engine.images.errors import InvalidChange


def conf(*lines: str) -> dict:
    return apply_changes({}, list(lines))


def test_cmd_and_entrypoint_forms() -> None:
    assert conf('CMD ["sh", "-c", "echo hi"]') == {"Cmd": ["sh", "-c", "echo hi"]}
    assert conf("CMD echo hi") == {"Cmd": ["/bin/sh", "-c", "echo hi"]}
    assert conf("cmd [not json") == {"Cmd": ["/bin/sh", "-c", "[not json"]}
    assert conf('ENTRYPOINT ["/app"]', "CMD --help") == {
        "Entrypoint": ["/app"],
        "Cmd": ["/bin/sh", "-c", "--help"],
    }


def test_env_label_forms() -> None:
    c = conf('ENV A=1 B="two words"', "ENV C legacy form value", "ENV A=3")
    assert c["Env"] == ["B=two words", "C=legacy form value", "A=3"]
    c = conf('LABEL a=b "c d"="e f"', "LABEL x y")
    assert c["Labels"] == {"a": "b", "c d": "e f", "x": "y"}


def test_expose_volume_workdir_user_stopsignal() -> None:
    c = conf(
        "EXPOSE 80 53/udp 8000-8002/tcp",
        'VOLUME ["/data", "/logs"]',
        "VOLUME /a /b",
        "WORKDIR /srv",
        "WORKDIR app",
        "USER 1000:1000",
        "STOPSIGNAL SIGQUIT",
    )
    assert c["ExposedPorts"] == {
        p: {} for p in ("80/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp")
    }
    assert c["Volumes"] == {"/data": {}, "/logs": {}, "/a": {}, "/b": {}}
    assert c["WorkingDir"] == "/srv/app"
    assert c["User"] == "1000:1000"
    assert c["StopSignal"] == "SIGQUIT"
    assert conf("STOPSIGNAL 9")["StopSignal"] == "9"
    assert conf("STOPSIGNAL RTMIN+3")["StopSignal"] == "RTMIN+3"


def test_healthcheck() -> None:
    c = conf("HEALTHCHECK --interval=5s --timeout=1m30s --retries=3 CMD curl -f http://x/")
    assert c["Healthcheck"] == {
        "Test": ["CMD-SHELL", "curl -f http://x/"],
        "Interval": 5_000_000_000,
        "Timeout": 90_000_000_000,
        "Retries": 3,
    }
    assert conf('HEALTHCHECK CMD ["true"]')["Healthcheck"] == {"Test": ["CMD", "true"]}
    assert conf("HEALTHCHECK NONE")["Healthcheck"] == {"Test": ["NONE"]}
    assert parse_duration("1h2m3.5s") == 3723_500_000_000
    assert parse_duration("250ms") == 250_000_000


def test_onbuild() -> None:
    assert conf("ONBUILD RUN make")["OnBuild"] == ["RUN make"]


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("FROM busybox", "FROM is not a valid change command"),
        ("RUN echo", "RUN is not a valid change command"),
        ("", "empty instruction"),
        ("CMD", "missing command"),
        ("ENV", "at least one argument"),
        ("ENV A=1 B", "can't find = in 'B'"),
        ("ENV =x", "names can not be blank"),
        ("LABEL a='unclosed", "closing quotation"),
        ("EXPOSE 70000", "port range"),
        ("EXPOSE 80/icmp", "protocol"),
        ("EXPOSE http", "invalid port"),
        ("VOLUME", "empty"),
        ("WORKDIR", "needs a path"),
        ("USER", "user name"),
        ("STOPSIGNAL SIGNOPE", "invalid signal"),
        ("HEALTHCHECK --interval=5 CMD true", "invalid duration"),
        ("HEALTHCHECK --interval=10us CMD true", "less than 1ms"),
        ("HEALTHCHECK --bogus=1s CMD true", "unknown HEALTHCHECK option"),
        ("HEALTHCHECK --retries=x CMD true", "retries"),
        ("HEALTHCHECK --interval CMD true", "needs a value"),
        ("HEALTHCHECK NONE x", "takes no arguments"),
        ("HEALTHCHECK RUN true", "unknown HEALTHCHECK type"),
        ("HEALTHCHECK CMD", "needs a command"),
        ("ONBUILD FROM x", "isn't allowed"),
    ],
)
def test_bad_changes_name_the_line(line: str, words: str) -> None:
    with pytest.raises(InvalidChange, match=words) as exc:
        conf(line)
    assert repr(line) in str(exc.value)
