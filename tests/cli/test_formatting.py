"""Docker's output rules: tables, sizes, durations, statuses, templates."""

from __future__ import annotations

import pytest

from shoal.cli import formatting as f
from shoal.cli.template import render, render_table


def test_table_like_go_tabwriter():
    out = f.table(["CONTAINER ID", "IMAGE", "NAMES"], [["abc", "busybox", "web"]])
    assert out == "CONTAINER ID   IMAGE     NAMES\nabc            busybox   web\n"


def test_table_wide_cells():
    out = f.table(["A", "B"], [["a-very-long-cell", "x"]])
    assert out.splitlines() == ["A" + " " * 18 + "B", "a-very-long-cell   x"]


@pytest.mark.parametrize("size,text", [
    (0, "0B"), (12, "12B"), (999, "999B"), (1000, "1kB"), (4264960, "4.26MB"),
    (123456789, "123MB"), (1234567890, "1.23GB"), (999999, "1e+03kB"),
])
def test_human_size(size, text):
    assert f.human_size(size) == text


@pytest.mark.parametrize("seconds,text", [
    (0.5, "Less than a second"), (1, "1 second"), (42, "42 seconds"), (60, "About a minute"),
    (119, "About a minute"), (120, "2 minutes"), (59 * 60, "59 minutes"),
    (3600, "About an hour"), (2 * 3600, "2 hours"), (47 * 3600, "47 hours"),
    (3 * 86400, "3 days"), (15 * 86400, "2 weeks"), (90 * 86400, "3 months"),
    (800 * 86400, "2 years"),
])
def test_human_duration(seconds, text):
    assert f.human_duration(seconds) == text


def test_rfc3339():
    assert f.parse_rfc3339("1970-01-01T00:00:00Z") == 0
    assert f.parse_rfc3339("2024-02-29T12:00:00.5Z") == 1709208000.5
    assert f.parse_rfc3339("2024-02-29T14:00:00+02:00") == 1709208000
    assert f.parse_rfc3339("2024-02-29T12:00:00.123456789Z") == pytest.approx(1709208000.123456)
    assert f.parse_rfc3339("0001-01-01T00:00:00Z") is None
    assert f.parse_rfc3339("") is None and f.parse_rfc3339("garbage") is None


def test_state_status():
    now = f.parse_rfc3339("2024-01-01T00:10:00Z")
    base = {"StartedAt": "2024-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z"}
    assert f.state_status({**base, "Running": True}, now) == "Up 10 minutes"
    assert f.state_status({**base, "Running": True, "Paused": True}, now) == (
        "Up 10 minutes (Paused)")
    done = {"StartedAt": "2024-01-01T00:00:00Z", "FinishedAt": "2024-01-01T00:09:55Z",
            "ExitCode": 3}
    assert f.state_status(done, now) == "Exited (3) 5 seconds ago"
    assert f.state_status({"StartedAt": "0001-01-01T00:00:00Z"}, now) == "Created"


def test_quote_ellipsis_ids_names_ports():
    assert f.go_quote(f.ellipsis("sh -c 'sleep 100; echo done'", 20)) == (
        "\"sh -c 'sleep 100; e…\"")
    assert f.go_quote('a"b\\c\n') == '"a\\"b\\\\c\\n"'
    assert f.short_id("sha256:" + "a" * 64) == "a" * 12
    assert f.short_id("b" * 64, trunc=False) == "b" * 64
    assert f.container_names(["/web", "/other/link"]) == "web"
    assert f.display_ports([
        {"PrivatePort": 443, "Type": "tcp"},
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
        {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
    ]) == "443/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"


def test_template_render():
    doc = {"State": {"Status": "running", "Running": True, "Pid": 42, "Health": None},
           "Config": {"Cmd": ["sh", "-c", "x"], "Labels": {"b": "2", "a": "1"}},
           "Name": "/web"}
    assert render("{{.State.Status}}", doc) == "running"
    assert render("{{.State.Running}} {{.State.Pid}}", doc) == "true 42"
    assert render("{{json .Config.Cmd}}", doc) == '["sh","-c","x"]'
    assert render("{{.Config.Cmd}}", doc) == "[sh -c x]"
    assert render("{{.Config.Labels}}", doc) == "map[a:1 b:2]"
    assert render('{{index .Config.Labels "a"}}', doc) == "1"
    assert render("{{.State.Health}}|{{.Nope}}", doc) == "<nil>|<no value>"
    assert render("{{.Name | upper}}", doc) == "/WEB"
    assert render('{{join .Config.Cmd ","}}', doc) == "sh,-c,x"
    assert render("a {{- .Name -}} b", doc) == "a/webb"


def test_template_errors():
    from shoal.cli.errors import CLIError

    with pytest.raises(CLIError, match='function "nope" not defined'):
        render("{{nope .X}}", {})
    with pytest.raises(CLIError, match="unclosed action"):
        render("{{.X", {})


def test_render_table():
    rows = [{"ID": "abc", "Names": "web"}, {"ID": "defghijklmno", "Names": "db"}]
    out = render_table("table {{.ID}}\t{{.Names}}", rows, {"ID": "CONTAINER ID"})
    assert out == "CONTAINER ID   NAMES\nabc            web\ndefghijklmno   db\n"
    assert render_table("{{.Names}}", rows, {}) == "web\ndb\n"
