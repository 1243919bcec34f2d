""".dockerignore matching, on the examples of Docker's documentation and a few more."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoal.engine.images.build.ignore import IgnoreMatcher


def test_documented_example() -> None:
    m = IgnoreMatcher(["# comment", "*/temp*", "*/*/temp*", "temp?"])
    assert m.ignored("somedir/temporary.txt")
    assert m.ignored("somedir/temp")
    assert m.ignored("somedir/subdir/temporary.txt")
    assert m.ignored("tempa") and m.ignored("tempb")
    assert not m.ignored("temp") and not m.ignored("temporary.txt")
    assert not m.ignored("a/b/c/temp")  # */*/temp* is two levels exactly
    assert not m.ignored("# comment")


def test_double_star() -> None:
    m = IgnoreMatcher(["**/*.go"])
    assert m.ignored("main.go") and m.ignored("a/b/c/x.go")
    assert not m.ignored("main.gox") and not m.ignored("go")
    m = IgnoreMatcher(["a/**"])
    assert m.ignored("a/x") and m.ignored("a/x/y") and not m.ignored("b/a/x")
    m = IgnoreMatcher(["a/**/z"])
    assert m.ignored("a/z") and m.ignored("a/b/c/z") and not m.ignored("a/b/zz")


def test_exceptions_later_rules_win() -> None:
    m = IgnoreMatcher(["*.md", "!README.md"])
    assert m.ignored("CHANGES.md") and not m.ignored("README.md")
    m = IgnoreMatcher(["*.md", "!README*.md", "README-secret.md"])
    assert m.ignored("CHANGES.md")
    assert not m.ignored("README.md") and not m.ignored("README-public.md")
    assert m.ignored("README-secret.md")
    m = IgnoreMatcher(["*.md", "README-secret.md", "!README*.md"])
    assert not m.ignored("README-secret.md")


def test_a_matching_parent_ignores_the_children() -> None:
    m = IgnoreMatcher(["node_modules", "build/"])
    assert m.ignored("node_modules") and m.ignored("node_modules/x/y.js")
    assert m.ignored("build/out.o")
    assert not m.ignored("src/node_modules")  # patterns are anchored at the root
    assert not m.dir_may_contain_included("node_modules")


def test_exception_inside_an_ignored_directory() -> None:
    m = IgnoreMatcher(["docs", "!docs/keep/*.txt"])
    assert m.ignored("docs/a.txt") and not m.ignored("docs/keep/b.txt")
    assert m.dir_may_contain_included("docs")
    assert m.dir_may_contain_included("docs/keep")
    assert not m.dir_may_contain_included("docs/other")
    assert IgnoreMatcher(["*", "!**/*.py"]).dir_may_contain_included("any/dir")
    assert IgnoreMatcher(["x"]).dir_may_contain_included("not/ignored")


@pytest.mark.parametrize(
    ("pattern", "path", "hit"),
    [
        ("/abs", "abs", True),
        ("./dot/../file", "file", True),
        ("dir/", "dir/x", True),
        ("file[0-9]", "file5", True),
        ("file[0-9]", "filex", False),
        ("file[^0-9]", "filex", True),
        ("file[!0-9]", "file5", False),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("*", "top", True),
        ("*", "deep/file", True),  # the parent "deep" matches
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
        ("x.txt", "xxtxt", False),  # a dot is literal
        ("  spaced  ", "spaced", True),
    ],
)
def test_pattern_syntax(pattern: str, path: str, hit: bool) -> None:
    assert IgnoreMatcher([pattern]).ignored(path) is hit


def test_read(tmp_path: Path) -> None:
    assert not IgnoreMatcher.read(tmp_path).ignored("x")
    (tmp_path / ".dockerignore").write_text("# c\n\n*.log\n!keep.log\n")
    m = IgnoreMatcher.read(tmp_path)
    assert m.ignored("a.log") and not m.ignored("keep.log") and not m.ignored("a.txt")
    assert not m.ignored(".")
