"""Command-line parsing with docker's (pflag's) rules."""

from __future__ import annotations

import pytest

from shoal.cli.errors import UsageError
from shoal.cli.flags import Command, Flag


def _spec(interspersed: bool = True) -> Command:
    return Command("{prog} [OPTIONS] IMAGE [ARG...]", "Do a thing", [
        Flag("detach", "d", "bool", "Detach"),
        Flag("interactive", "i", "bool", "Interactive"),
        Flag("tty", "t", "bool", "Tty"),
        Flag("env", "e", "list", "Env"),
        Flag("name", "", "string", "Name"),
        Flag("hostname", "h", "string", "Host name"),
        Flag("count", "n", "int", "Count", default=-1),
        Flag("timeout", "", "int", "Timeout", aliases=("time",)),
        Flag("memory", "m", "string", "Memory", conv=int, metavar="bytes"),
        Flag("sig-proxy", "", "bool", "Proxy", default=True),
    ], min_args=1, interspersed=interspersed)


def parse(*argv: str, interspersed: bool = False):
    parsed = _spec(interspersed).parse(list(argv), "shoal x")
    assert parsed is not None
    return parsed


def test_long_short_and_combined():
    opts, args = parse("-dit", "--name", "web", "-e", "A=1", "-eB=2", "-e=C=3",
                       "--env=D=4", "--memory=5", "-n3", "img", "cmd", "-x")
    assert (opts.detach, opts.interactive, opts.tty) == (True, True, True)
    assert opts.name == "web" and opts.env == ["A=1", "B=2", "C=3", "D=4"]
    assert opts.memory == 5 and opts.count == 3
    assert args == ["img", "cmd", "-x"]
    assert opts.changed == {"detach", "interactive", "tty", "name", "env", "memory", "count"}


def test_defaults():
    opts, args = parse("img")
    assert opts.detach is False and opts.env == [] and opts.name == ""
    assert opts.count == -1 and opts.timeout is None and opts.sig_proxy is True
    assert opts.changed == set()


def test_bool_values_and_aliases():
    opts, _ = parse("--sig-proxy=false", "--time", "4", "-d=false", "img")
    assert opts.sig_proxy is False and opts.timeout == 4 and opts.detach is False


def test_interspersed_and_double_dash():
    opts, args = parse("a", "-d", "b", interspersed=True)
    assert opts.detach and args == ["a", "b"]
    opts, args = parse("-d", "--", "-i", "x", interspersed=True)
    assert not opts.interactive and args == ["-i", "x"]
    opts, args = parse("-", "-d")
    assert args == ["-", "-d"] and not opts.detach


@pytest.mark.parametrize("argv,message", [
    (["--nope", "img"], "unknown flag: --nope"),
    (["-x", "img"], "unknown shorthand flag: 'x' in -x"),
    (["-dx", "img"], "unknown shorthand flag: 'x' in -dx"),
    (["--name"], "flag needs an argument: --name"),
    (["-e"], "flag needs an argument: 'e' in -e"),
    (["-n", "x", "img"], 'invalid argument "x" for "-n, --count" flag: strconv.ParseInt'),
    (["--memory", "lots", "img"], 'invalid argument "lots" for "-m, --memory" flag'),
    (["--detach=maybe", "img"], 'invalid argument "maybe" for "-d, --detach" flag'),
])
def test_errors(argv, message):
    spec = _spec()
    with pytest.raises(UsageError) as exc:
        spec.parse(argv, "shoal x")
    assert message in str(exc.value)
    assert exc.value.exit_code == 125 and exc.value.command == "shoal x"


def test_argument_count_errors():
    with pytest.raises(UsageError) as exc:
        _spec().parse([], "shoal x")
    assert str(exc.value).startswith('"shoal x" requires at least 1 argument.\n'
                                     "See 'shoal x --help'.\n\nUsage:  shoal x [OPTIONS]")
    assert exc.value.exit_code == 1
    two = Command("{prog} A B", "Two", min_args=2, max_args=2)
    with pytest.raises(UsageError, match="requires exactly 2 arguments"):
        two.parse(["a"], "shoal two")
    with pytest.raises(UsageError, match="requires exactly 2 arguments"):
        two.parse(["a", "b", "c"], "shoal two")
    none = Command("{prog}", "None", max_args=0)
    with pytest.raises(UsageError, match='"shoal ps" accepts no arguments'):
        none.parse(["x"], "shoal ps")


def test_help():
    spec = _spec()
    assert spec.parse(["--help"], "shoal x") is None
    assert spec.parse(["-d", "--help", "img"], "shoal x") is None
    with pytest.raises(UsageError):  # -h is --hostname here, and needs a value
        spec.parse(["-h"], "shoal x")
    plain = Command("{prog}", "Plain", [Flag("all", "a", "bool", "All")])
    assert plain.parse(["-h"], "shoal p") is None
    text = spec.help("shoal container x")
    assert "Usage:  shoal container x [OPTIONS] IMAGE [ARG...]" in text
    assert "  -e, --env list" in text and "      --memory bytes" not in text
    assert "  -m, --memory bytes" in text
    assert "Proxy (default true)" in text and "Count (default -1)" in text
    assert "      --help " in text
