"""Variable expansion and word splitting of Dockerfile arguments (Docker's shell-word rules)."""

from __future__ import annotations

import pytest

from shoal.engine.images.build.dockerfile import expand, expand_words
from shoal.engine.images.build.errors import DockerfileError
from shoal.engine.images.build.lexer import split_raw, unquote

ENV = {"A": "a", "SP": "x  y", "EMPTY": "", "HOME": "/root", "PATHV": "/usr/bin:/bin"}


@pytest.mark.parametrize(
    ("word", "want"),
    [
        ("plain", "plain"),
        ("$A", "a"),
        ("${A}", "a"),
        ("pre${A}post", "preapost"),
        ("$Apost", ""),  # the name runs on: $Apost is unset
        ("$UNSET", ""),
        ("${UNSET}", ""),
        ("${UNSET:-def}", "def"),
        ("${EMPTY:-def}", "def"),
        ("${EMPTY-def}", ""),
        ("${UNSET-def}", "def"),
        ("${A:-def}", "a"),
        ("${A:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${UNSET:-$HOME/x}", "/root/x"),
        ("${UNSET:-${A}b}", "ab"),
        ("\\$A", "$A"),
        ("\\${A}", "${A}"),
        ("'$A'", "$A"),
        ("'a\\b'", "a\\b"),
        ('"$A"', "a"),
        ('"\\$A"', "$A"),
        ('"a\\b"', "a\\b"),  # in double quotes only $ " and the escape are escapable
        ('"say \\"hi\\""', 'say "hi"'),
        ('"it\'s"', "it's"),
        ("a\\ b", "a b"),
        ("C:\\path", "C:path"),  # why Windows Dockerfiles use `# escape=`
        ("$", "$"),
        ("a$", "a$"),
        ("$1", ""),
        ("${PATHV#*:}", "/bin"),
        ("${PATHV##*/}", "bin"),
        ("${PATHV%:*}", "/usr/bin"),
        ("${PATHV%%/*}", ""),
        ("${SP}", "x  y"),
        ("trailing\\", "trailing"),
    ],
)
def test_expand(word: str, want: str) -> None:
    assert expand(word, ENV) == want


def test_expand_with_backtick_escape() -> None:
    assert expand("C:\\path", ENV, escape="`") == "C:\\path"
    assert expand("`$A", ENV, escape="`") == "$A"
    assert expand('"a`"b"', ENV, escape="`") == 'a"b'


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("${UNSET:?must be set}", "Dockerfile:9: UNSET: must be set"),
        ("${EMPTY:?}", "Dockerfile:9: EMPTY: is not allowed to be unset"),
        ("${UNSET?}", "Dockerfile:9: UNSET: is not allowed to be unset"),
        (
            "'open",
            "Dockerfile:9: unexpected end of statement while looking for matching single-quote",
        ),
        (
            '"open',
            "Dockerfile:9: unexpected end of statement while looking for matching double-quote",
        ),
        ("${A", "Dockerfile:9: missing '}'"),
        ("${A:-x", "Dockerfile:9: missing '}'"),
        ("${}", "Dockerfile:9: bad substitution"),
        ("${A*}", "Dockerfile:9: unsupported modifier (*)"),
    ],
)
def test_expand_errors_name_the_line(word: str, message: str) -> None:
    with pytest.raises(DockerfileError) as exc:
        expand(word, ENV, line=9)
    assert str(exc.value).startswith(message)


def test_expand_question_mark_passes_when_set() -> None:
    assert expand("${EMPTY?}", ENV) == ""
    assert expand("${A:?x}", ENV) == "a"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("a b  c", ["a", "b", "c"]),
        ("  lead trail  ", ["lead", "trail"]),
        ('"a b" c', ["a b", "c"]),
        ("'a b' c", ["a b", "c"]),
        ("a\\ b c", ["a b", "c"]),
        ('x "" y', ["x", "", "y"]),
        ("$SP", ["x", "y"]),  # an unquoted value is split
        ('"$SP"', ["x  y"]),  # a quoted one is not
        ("$EMPTY a", ["a"]),  # an unquoted empty value makes no word
        ("pre$SP", ["prex", "y"]),
        ("${A}/x 80/tcp", ["a/x", "80/tcp"]),
        ("", []),
    ],
)
def test_expand_words(text: str, want: list[str]) -> None:
    assert expand_words(text, ENV) == want


def test_split_raw_keeps_quotes_and_escapes() -> None:
    assert split_raw("a=1 b=\"x y\" c='p q' d=e\\ f") == ["a=1", 'b="x y"', "c='p q'", "d=e\\ f"]
    assert split_raw('x="" ""') == ['x=""', '""']
    assert split_raw('k=`" v', escape="`") == ['k=`"', "v"]


@pytest.mark.parametrize(
    "word",
    [
        "plain",
        '"a b"',
        "'$A'",
        '"$A"',
        "\\$A",
        '"it\'s"',
        "'a\"b'",
        '"a\\"b"',
        "${UNSET:-d}",
        "x\\\\y",
    ],
)
def test_unquote_then_expand_is_expand(word: str) -> None:
    assert expand(unquote(word), ENV) == expand(word, ENV)


def test_unquote_leaves_plain_values_alone() -> None:
    assert unquote('"hello world"') == "hello world"
    assert unquote("$HOME/bin") == "$HOME/bin"
