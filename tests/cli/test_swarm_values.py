"""Value parsers of the cluster commands: Go durations, service ports, task cells."""

from __future__ import annotations

import pytest

from shoal.cli.commands.swarm_tables import current_state, task_error, task_name
from shoal.cli.durations import format_duration, parse_duration
from shoal.cli.portconfig import format_ports, parse_publish, parse_short


@pytest.mark.parametrize("text, ns", [
    ("0", 0), ("10s", 10**10), ("1m30s", 90 * 10**9), ("1.5h", 5400 * 10**9),
    ("500ms", 5 * 10**8), ("2us", 2000), ("3µs", 3000), ("7ns", 7), ("-1s", -(10**9)),
    ("1h2m3.004s", 3723 * 10**9 + 4 * 10**6),
])
def test_parse_duration(text, ns):
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text, message", [
    ("", 'time: invalid duration ""'), ("10", 'time: missing unit in duration "10"'),
    ("5d", 'time: unknown unit "d" in duration "5d"'), ("s", 'time: invalid duration "s"'),
    ("1..2s", 'time: invalid duration "1..2s"'),
])
def test_parse_duration_errors(text, message):
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert str(info.value) == message


@pytest.mark.parametrize("ns, text", [
    (0, "0s"), (10**9, "1s"), (90 * 10**9, "1m30s"), (3600 * 10**9, "1h0m0s"),
    (1500 * 10**6, "1.5s"), (5 * 10**8, "500ms"), (1500, "1.5µs"), (7, "7ns"),
    (-(10**9), "-1s"), (3723 * 10**9 + 4 * 10**6, "1h2m3.004s"),
])
def test_format_duration(ns, text):
    assert format_duration(ns) == text


def test_parse_publish_short_and_long():
    assert parse_publish("8080:80") == [{"Protocol": "tcp", "TargetPort": 80,
                                         "PublishedPort": 8080, "PublishMode": "ingress"}]
    assert [(p["PublishedPort"], p["TargetPort"], p["Protocol"])
            for p in parse_publish("8000-8001:80-81/udp")] == [(8000, 80, "udp"),
                                                               (8001, 81, "udp")]
    assert [p["PublishedPort"] for p in parse_publish("9000-9002:80")] == [9000, 9001, 9002]
    assert parse_publish("80")[0]["PublishedPort"] == 0
    assert parse_publish("published=53,target=53,protocol=udp,mode=host") == [
        {"Protocol": "udp", "TargetPort": 53, "PublishedPort": 53, "PublishMode": "host"}]
    assert parse_short("[::1]:80:80", allow_ip=True)[1] == "::1"


@pytest.mark.parametrize("value, message", [
    ("1.2.3.4:80:80", "hostip is not supported"),
    ("80-81:90-92", "invalid ranges specified for container and host Ports"),
    ("80/icmp", "invalid proto: icmp"),
    ("x:80", "invalid hostport binding (x) for port (80)"),
    ("target=80,color=red", "invalid field key color"),
    ("target=99999", 'invalid target port "99999"'),
    ("protocol=icmp,target=1", "invalid protocol value icmp"),
])
def test_parse_publish_errors(value, message):
    with pytest.raises(ValueError) as info:
        parse_publish(value)
    assert str(info.value).startswith(message)


def test_task_cells():
    assert task_name({"Slot": 3}, "web") == "web.3"
    assert task_name({"Slot": 0, "NodeID": "n1"}, "agent") == "agent.n1"
    status = {"State": "running", "Timestamp": "2024-01-01T00:00:00Z"}
    assert current_state(status, now=1704067205.0) == "Running 5 seconds ago"
    assert current_state(status, now=1704067260.0) == "Running about a minute ago"
    assert current_state({"State": "pending"}) == "Pending less than a second ago"
    assert task_error("") == ""
    assert task_error("x" * 40) == '"' + "x" * 29 + '…"'
    assert task_error("x" * 40, trunc=False) == '"' + "x" * 40 + '"'
    assert format_ports([{"PublishedPort": 8080, "TargetPort": 80, "Protocol": "tcp"}]) == \
        "*:8080->80/tcp"
