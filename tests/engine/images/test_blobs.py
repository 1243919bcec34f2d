import hashlib
import io
from pathlib import Path

import pytest

from shoal.engine.errors import InvalidArgument
from shoal.engine.images import digest as dg
from shoal.engine.images.blobs import BlobStore
from shoal.engine.images.errors import BlobNotFound, DigestMismatch


def test_put_is_content_addressed(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    d = store.put(b"hello")
    assert d == "sha256:" + hashlib.sha256(b"hello").hexdigest()
    assert store.path(d) == tmp_path / "blobs" / "sha256" / d[7:]
    assert store.read(d) == b"hello" and store.size(d) == 5
    assert store.put(b"hello") == d  # idempotent
    assert list(store.tmp.iterdir()) == []


def test_ingest_verifies_the_expected_digest(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    good = dg.of_bytes(b"data")
    assert store.ingest(io.BytesIO(b"data"), expected=good) == (good, 4)
    wrong = "sha256:" + "0" * 64
    with pytest.raises(DigestMismatch, match=r"blob sha256:000000000000…: content has digest"):
        store.ingest(io.BytesIO(b"other"), expected=wrong)
    assert not store.exists(wrong)
    assert not store.exists(dg.of_bytes(b"other"))
    assert list(store.tmp.iterdir()) == []  # nothing half-written left


def test_missing_blob_and_bad_digest(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(BlobNotFound):
        store.open("sha256:" + "1" * 64)
    with pytest.raises(InvalidArgument, match="sha256:<64 hex"):
        store.path("sha256:xyz")


def test_pinned_blobs_survive_delete(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    new: set[str] = set()
    d = store.put(b"x", pin=True, new=new)
    assert new == {d}
    assert store.delete(d) is False and store.exists(d)
    store.unpin([d])
    assert store.delete(d) is True and not store.exists(d)
    assert store.delete(d) is False


def test_chain_ids_follow_the_oci_definition() -> None:
    a, b, c = (dg.of_bytes(x) for x in (b"a", b"b", b"c"))
    ab = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    abc = "sha256:" + hashlib.sha256(f"{ab} {c}".encode()).hexdigest()
    assert dg.chain_ids([a, b, c]) == [a, ab, abc]
    assert dg.chain_ids([]) == []


def test_digest_helpers() -> None:
    d = "sha256:" + "ab" * 32
    assert dg.is_digest(d) and not dg.is_digest(d.upper())
    assert dg.short(d) == "abababababab"
    assert dg.describe(d) == "sha256:abababababab…"
    assert dg.of_stream(io.BytesIO(b"hello"))[1] == 5
