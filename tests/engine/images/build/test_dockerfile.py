"""Dockerfile parsing: every instruction form, continuations, directives, errors with lines."""

from __future__ import annotations

import pytest

from shoal.engine.errors import InvalidArgument
from shoal.engine.images.build.dockerfile import Dockerfile, Instruction, parse
from shoal.engine.images.build.errors import BuildError, DockerfileError


def one(text: str) -> Instruction:
    """Return the only instruction after FROM in TEXT."""
    df = parse("FROM scratch\n" + text)
    (ins,) = df.stages[0].instructions
    return ins


def error(text: str) -> str:
    with pytest.raises(DockerfileError) as exc:
        parse(text)
    return str(exc.value)


def test_error_hierarchy_and_format() -> None:
    e = DockerfileError("boom", file="Dockerfile.dev", line=4)
    assert isinstance(e, BuildError) and isinstance(e, InvalidArgument)
    assert str(e) == "Dockerfile.dev:4: boom" and e.line == 4
    assert str(DockerfileError("no FROM")) == "Dockerfile: no FROM"


def test_run_shell_and_exec_forms() -> None:
    ins = one("RUN apt-get update && apt-get install -y x\n")
    assert (ins.keyword, ins.args, ins.json, ins.line) == (
        "RUN",
        ["apt-get update && apt-get install -y x"],
        False,
        2,
    )
    ins = one('run ["/bin/sh", "-c", "echo hi"]\n')
    assert (ins.keyword, ins.args, ins.json) == ("RUN", ["/bin/sh", "-c", "echo hi"], True)
    assert ins.text == 'run ["/bin/sh", "-c", "echo hi"]'


@pytest.mark.parametrize("rest", ["[bad json", '["a", 1]', '["a"] trailing', "['single']"])
def test_malformed_json_falls_back_to_shell_form(rest: str) -> None:
    ins = one(f"CMD {rest}\n")
    assert ins.args == [rest] and not ins.json


def test_cmd_entrypoint_and_empty_exec_form() -> None:
    assert one("ENTRYPOINT []").args == [] and one("ENTRYPOINT []").json
    assert one('CMD ["nginx", "-g", "daemon off;"]').args == ["nginx", "-g", "daemon off;"]
    assert one("CMD  echo   a  ").args == ["echo   a"]


def test_continuations_joined_like_docker() -> None:
    df = parse(
        "FROM scratch\n"
        "RUN echo a \\\n"
        "    && echo b \\   \n"
        "# a comment inside the continuation is dropped\n"
        "\n"
        "    && echo c\n"
        "ENV X=1\n"
    )
    run, env = df.stages[0].instructions
    assert run.args == ["echo a     && echo b     && echo c"]
    assert run.line == 2 and env.line == 7
    assert run.text == "RUN echo a     && echo b     && echo c"


def test_comments_blank_lines_and_indentation() -> None:
    df = parse("# hello\n\n   FROM scratch\n   # indented comment\n\tRUN true\n")
    assert df.stages[0].line == 3
    assert df.stages[0].instructions[0].line == 5


def test_escape_directive_backtick_windows_style() -> None:
    df = parse(
        "# escape=`\n"
        "FROM mcr.microsoft.com/windows\n"
        "COPY testfile.txt c:\\\n"
        "RUN dir c:\\ `\n"
        "    /b\n"
    )
    assert df.escape == "`"
    copy, run = df.stages[0].instructions
    assert copy.args == ["testfile.txt", "c:\\"]
    assert run.args == ["dir c:\\     /b"] and run.line == 4


def test_backslash_is_not_a_continuation_with_backtick_escape() -> None:
    df = parse("# escape=`\nFROM a\nRUN echo \\\nRUN echo b\n")
    assert [i.args for i in df.stages[0].instructions] == [["echo \\"], ["echo b"]]


def test_directives_only_at_the_top() -> None:
    assert parse("# syntax=docker/dockerfile:1\n# ESCAPE = `\nFROM a\n").escape == "`"
    # after a comment, an escape line is a plain comment
    assert parse("# hello\n# escape=`\nFROM a\n").escape == "\\"
    # after a blank line too
    assert parse("\n# escape=`\nFROM a\n").escape == "\\"
    # an unknown directive ends the directives
    assert parse("# foo=bar\n# escape=`\nFROM a\n").escape == "\\"
    assert "only one escape parser directive" in error("# escape=`\n# escape=\\\nFROM a\n")
    assert error("# escape=x\nFROM a\n") == (
        "Dockerfile:1: invalid escape token 'x' does not match ` or \\"
    )


def test_bom_is_stripped() -> None:
    assert parse("\ufeff# escape=`\nFROM a\n").escape == "`"


def test_copy_add_flags_and_forms() -> None:
    ins = one("COPY --from=build --chown=app:app --chmod=755 a b /dst/\n")
    assert ins.flags == {"from": "build", "chown": "app:app", "chmod": "755"}
    assert ins.args == ["a", "b", "/dst/"] and not ins.json
    ins = one('ADD --chown="1 2" ["a file", "/dst dir/"]')
    assert ins.flags == {"chown": "1 2"} and ins.args == ["a file", "/dst dir/"] and ins.json
    assert one("COPY --link a /b").flags == {"link": "true"}
    assert one("COPY a $DEST").args == ["a", "$DEST"]  # not expanded here


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("COPY --frm=x a b", "Dockerfile:2: COPY: unknown flag --frm"),
        ("ADD --from=x a b", "Dockerfile:2: ADD: unknown flag --from"),
        ("RUN --mount=type=cache,target=/x true", "Dockerfile:2: RUN: unknown flag --mount"),
        ("COPY --from a b", "Dockerfile:2: COPY: missing a value on flag --from"),
        ("COPY --from=a --from=b a b", "Dockerfile:2: COPY: duplicate flag --from"),
        ("COPY --link=maybe a b", "Dockerfile:2: COPY: --link takes true or false"),
    ],
)
def test_bad_flags(text: str, message: str) -> None:
    assert error("FROM a\n" + text + "\n").startswith(message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("COPY onlyone", "COPY requires at least two arguments"),
        ("ADD", "ADD requires at least two arguments"),
        ("RUN", "RUN requires at least one argument"),
        ("EXPOSE", "EXPOSE requires at least one argument"),
        ("ENV", "ENV requires at least one argument"),
        ("ENV NAME", "ENV NAME has no value"),
        ("ENV A=1 B", "can't find = in 'B'"),
        ("LABEL =x", "LABEL names can not be blank"),
        ("ARG", "ARG requires at least one argument"),
        ("ARG 1x=2", "ARG: invalid name '1x'"),
        ("WORKDIR", "WORKDIR requires at least one argument"),
        ("USER", "USER requires at least one argument"),
        ("STOPSIGNAL TERM KILL", "STOPSIGNAL takes one signal"),
        ("SHELL /bin/sh -c", "SHELL requires the arguments to be a JSON array"),
        ('VOLUME [""]', "VOLUME specified can not be an empty string"),
        ("ONBUILD", "ONBUILD requires at least one argument"),
        ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
        ("ONBUILD ONBUILD RUN x", "ONBUILD isn't allowed as an ONBUILD trigger"),
        ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
        ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK --interval=5s NONE", "HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK WHAT x", "unknown type 'WHAT' in HEALTHCHECK"),
        ("HEALTHCHECK CMD", "missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK --interval=5 CMD true", "HEALTHCHECK --interval: invalid duration '5'"),
        ("HEALTHCHECK --retries=x CMD true", "--retries must be a non-negative integer"),
        ("FORM x", "unknown instruction: FORM (did you mean FROM?)"),
        ("frobnicate x", "unknown instruction: frobnicate"),
        ("FROM", "FROM requires at least one argument"),
        ("FROM a b", "FROM requires either one argument"),
        ("FROM a TO b", "FROM requires either one argument"),
        ("FROM a AS 1b", "invalid name for build stage: '1b'"),
        ("FROM a AS first", "duplicate stage name 'first'"),
    ],
)
def test_errors_name_file_line_and_problem(text: str, message: str) -> None:
    msg = error(f"FROM a AS first\n\n{text}\n")
    assert msg.startswith("Dockerfile:3: "), msg
    assert message in msg


def test_errors_name_the_given_filename() -> None:
    with pytest.raises(DockerfileError) as exc:
        parse("FROM a\nRUNN x\n", filename="build/Dockerfile.dev")
    assert str(exc.value).startswith("build/Dockerfile.dev:2: unknown instruction: RUNN")


def test_no_from_and_instruction_before_from() -> None:
    assert error("") == "Dockerfile: the Dockerfile has no instructions"
    assert error("# only a comment\n\n") == "Dockerfile: the Dockerfile has no instructions"
    assert error("ARG A=1\n") == "Dockerfile: no FROM instruction"
    assert error("ARG A\nRUN x\nFROM a\n").startswith(
        "Dockerfile:2: RUN before the first FROM: only ARG may come before FROM"
    )


def test_continuation_at_end_of_file() -> None:
    assert error("FROM a\nRUN \\\n") == (
        "Dockerfile:2: unexpected end of file after a line continuation"
    )
    assert error("FROM a\nRUN \\\n  \\\n# c\n").startswith("Dockerfile:2: unexpected end")
    # Docker accepts a complete instruction whose last line ends with a continuation
    assert parse("FROM a\nRUN echo hi \\\n").stages[0].instructions[0].args == ["echo hi"]


def test_env_and_label_pairs() -> None:
    ins = one("ENV A=1 B=\"x y\" C='$D' E=$HOME/bin F= G=a\\ b\n")
    assert ins.pairs == [
        ("A", "1"),
        ("B", "x y"),
        ("C", "\\$D"),  # the single quotes protected $: it comes back escaped
        ("E", "$HOME/bin"),
        ("F", ""),
        ("G", "a b"),
    ]
    assert one("ENV NAME John Doe").pairs == [("NAME", "John Doe")]
    assert one('ENV NAME "John Doe" jr').pairs == [("NAME", "John Doe jr")]
    assert one('LABEL "com.example.vendor"="ACME Inc" version=1.0').pairs == [
        ("com.example.vendor", "ACME Inc"),
        ("version", "1.0"),
    ]
    assert one('LABEL description="Tom\'s image"').pairs == [("description", "Tom\\'s image")]
    ml = parse('FROM a\nLABEL multi.label1="value1" \\\n      other="value3"\n').stages[0]
    assert ml.instructions[0].pairs == [("multi.label1", "value1"), ("other", "value3")]


def test_pairs_expand_to_dockers_values() -> None:
    from shoal.engine.images.build.dockerfile import expand

    ins = one('ENV A="it\'s" B=\'$HOME\' C="$HOME" D=\\$HOME E="a\\"b"')
    env = {"HOME": "/root"}
    got = [expand(v or "", env) for _, v in ins.pairs]
    assert got == ["it's", "$HOME", "/root", "$HOME", 'a"b']


def test_arg_pairs() -> None:
    ins = one('ARG A B=2 C="x y" D=')
    assert ins.pairs == [("A", None), ("B", "2"), ("C", "x y"), ("D", "")]
    assert ins.args == ["A", "B=2", 'C="x y"', "D="]


def test_one_string_instructions_keep_spaces() -> None:
    assert one("WORKDIR /my dir").args == ["/my dir"]
    assert one("USER app:app").args == ["app:app"]
    assert one("STOPSIGNAL SIGTERM").args == ["SIGTERM"]
    assert one("MAINTAINER Jane <jane@example.com>").args == ["Jane <jane@example.com>"]


def test_expose_volume_shell() -> None:
    assert one("EXPOSE 80/tcp 53/udp  8000-8010").args == ["80/tcp", "53/udp", "8000-8010"]
    assert one("VOLUME /data /logs").args == ["/data", "/logs"]
    vol = one('VOLUME ["/data"]')
    assert vol.args == ["/data"] and vol.json
    sh = one('SHELL ["powershell", "-command"]')
    assert sh.args == ["powershell", "-command"] and sh.json


def test_onbuild_wraps_an_instruction() -> None:
    ins = one("ONBUILD COPY --chown=1:1 . /app/src")
    assert ins.args == ["COPY --chown=1:1 . /app/src"]
    assert ins.sub is not None
    assert (ins.sub.keyword, ins.sub.args, ins.sub.flags) == (
        "COPY",
        [".", "/app/src"],
        {"chown": "1:1"},
    )
    assert ins.sub.line == 2
    ins = one('ONBUILD RUN ["make"]')
    assert ins.sub is not None and ins.sub.json and ins.sub.args == ["make"]


def test_healthcheck_forms() -> None:
    ins = one("HEALTHCHECK --interval=5m --timeout=3s --retries=3 CMD curl -f http://x/ || exit 1")
    assert ins.flags == {"interval": "5m", "timeout": "3s", "retries": "3"}
    assert ins.sub is not None
    assert (ins.sub.keyword, ins.sub.args, ins.sub.json) == (
        "CMD",
        ["curl -f http://x/ || exit 1"],
        False,
    )
    assert ins.args == ["CMD", "curl -f http://x/ || exit 1"]
    ins = one('HEALTHCHECK --start-period=1m30s CMD ["/bin/check", "-q"]')
    assert ins.sub is not None and ins.sub.json and ins.sub.args == ["/bin/check", "-q"]
    assert ins.json and ins.args == ["CMD", "/bin/check", "-q"]
    none = one("HEALTHCHECK none")
    assert none.args == ["NONE"] and none.sub is None


def test_multi_stage_names_and_lookup() -> None:
    df = parse(
        "ARG BASE=alpine\n"
        "ARG VERSION\n"
        "FROM --platform=linux/amd64 $BASE:${VERSION} AS Builder\n"
        "RUN make\n"
        "FROM builder as Test\n"
        "RUN make test\n"
        "FROM scratch\n"
        "COPY --from=builder /out /\n"
    )
    assert isinstance(df, Dockerfile)
    assert [a.pairs for a in df.meta_args] == [[("BASE", "alpine")], [("VERSION", None)]]
    assert [(s.index, s.name, s.base, s.platform, s.line) for s in df.stages] == [
        (0, "builder", "$BASE:${VERSION}", "linux/amd64", 3),
        (1, "test", "builder", None, 5),
        (2, None, "scratch", None, 7),
    ]
    assert df.stage("BUILDER") is df.stages[0]
    assert df.stage("test") is df.stages[1]
    assert df.stage("2") is df.stages[2]
    assert len(df.stages[2].instructions) == 1
    with pytest.raises(DockerfileError, match="build stage 'nope' not found"):
        df.stage("nope")
    with pytest.raises(DockerfileError, match="build stage '3' not found"):
        df.stage("3")


def test_keywords_are_case_insensitive() -> None:
    df = parse("from a\nrun true\nCoPy a b\n")
    assert [i.keyword for i in df.stages[0].instructions] == ["RUN", "COPY"]


def test_crlf_line_endings() -> None:
    df = parse("FROM a\r\nRUN echo a \\\r\n  b\r\nENV A=1\r\n")
    run, env = df.stages[0].instructions
    assert run.args == ["echo a   b"] and env.pairs == [("A", "1")]


def test_a_large_dockerfile_parses() -> None:
    text = "FROM a\n" + "".join(f"RUN echo {i} \\\n  && true\nENV V{i}=x\n" for i in range(2000))
    df = parse(text)
    assert len(df.stages[0].instructions) == 4000
    assert df.stages[0].instructions[-1].line == 1 + 3 * 2000
