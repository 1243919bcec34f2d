"""Service images on create/update (manager/dockerapi/images.py): which images are pinned
to a digest, Docker's warning when the registry cannot be asked, and registry credentials
kept for the agents (never shown by the Docker API)."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from shoal.engine.errors import InvalidArgument
from shoal.engine.images.registry.credentials import Credentials
from shoal.engine.images.registry.errors import RegistryUnreachable
from shoal.manager.dockerapi import images
from shoal.manager.dockerapi.services import service_to_json
from shoal.proto.shoal.v1 import objects_pb2, specs_pb2

DIGEST = "sha256:" + "cd" * 32
REG = "127.0.0.1:5000"


def _auth(user: str = "tester", password: str = "s3cret") -> str:
    raw = json.dumps({"username": user, "password": password, "serveraddress": REG})
    return base64.urlsafe_b64encode(raw.encode()).decode()


class FakeEngine:
    """An engine whose registry answers DIGEST, fails, or never answers."""

    def __init__(self, answer: str | Exception | None = DIGEST) -> None:
        self.registry = self
        self.answer = answer
        self.asked: list[tuple[str, Credentials]] = []

    async def resolve_digest(self, ref: str, creds: Credentials) -> str:
        self.asked.append((ref, creds))
        if self.answer is None:
            await asyncio.Event().wait()
        if isinstance(self.answer, Exception):
            raise self.answer
        return str(self.answer)


def _spec(image: str) -> specs_pb2.ServiceSpec:
    spec = specs_pb2.ServiceSpec()
    spec.annotations.name = "web"
    spec.task.container.image = image
    return spec


@pytest.mark.parametrize(("image", "mode", "current", "wanted"), [
    (f"{REG}/app:1.0", "", "", f"{REG}/app:1.0"),
    (f"{REG}/app", "", "", f"{REG}/app:latest"),
    ("localhost/app", "", "", "localhost/app:latest"),
    ("busybox", "", "", None),  # a short Docker Hub name: maybe only loaded on the nodes
    ("busybox", "changed", "", "docker.io/library/busybox:latest"),
    ("busybox", "always", "", "docker.io/library/busybox:latest"),
    (f"{REG}/app:1.0", "never", "", None),
    (f"{REG}/app:1.0@{DIGEST}", "", "", None),  # pinned already
    (f"{REG}/app:1.0@{DIGEST}", "always", "", f"{REG}/app:1.0"),  # re-resolved by tag
    (f"{REG}/app@{DIGEST}", "always", "", None),  # no tag to resolve
    (f"{REG}/app:1.0", "", f"{REG}/app:1.0", None),  # unchanged on update
    (f"{REG}/app:1.0", "", f"{REG}/app:1.0@{DIGEST}", f"{REG}/app:1.0"),  # given again
    ("Not A Reference", "always", "", None),
])
def test_which_images_are_resolved(image: str, mode: str, current: str,
                                   wanted: str | None) -> None:
    ref = images.to_resolve(image, mode, current)
    assert (str(ref) if ref is not None else None) == wanted


async def test_create_pins_the_image_with_the_request_credentials() -> None:
    engine = FakeEngine()
    spec = _spec(f"{REG}/app:1.0")
    warnings = await images.prepare_service_spec(
        spec, engine=engine, header=_auth(), query={})
    assert warnings == []
    assert spec.task.container.image == f"{REG}/app:1.0@{DIGEST}"
    assert spec.task.container.pull_options.registry_auth == _auth()
    ref, creds = engine.asked[0]
    assert ref == f"{REG}/app:1.0" and creds.username == "tester"
    shown = json.dumps(service_to_json(objects_pb2.Service(id="s1", spec=spec), True))
    assert "s3cret" not in shown and _auth() not in shown  # never shown, as in Docker


async def test_short_hub_names_stay_as_given_and_ask_nothing() -> None:
    engine = FakeEngine()
    spec = _spec("busybox")
    assert await images.prepare_service_spec(spec, engine=engine, header=None, query={}) == []
    assert spec.task.container.image == "busybox" and engine.asked == []
    assert not spec.task.container.HasField("pull_options")


@pytest.mark.parametrize("answer", [RegistryUnreachable("connection refused"), None])
async def test_an_unreachable_registry_leaves_the_image_with_dockers_warning(
        answer: Exception | None) -> None:
    spec = _spec(f"{REG}/app:1.0")
    container = spec.task.container
    warnings = await images.pin_image(container, "", FakeEngine(answer).resolve_digest,
                                      Credentials(), timeout=0.05)
    assert container.image == f"{REG}/app:1.0"
    assert warnings == [images.digest_warning(f"{REG}/app:1.0")]
    assert warnings[0].startswith(f"image {REG}/app:1.0 could not be accessed on a registry "
                                  "to record its digest. Each node will access")


async def test_update_keeps_the_current_credentials_unless_new_ones_come() -> None:
    current = objects_pb2.Service(id="s1", spec=_spec(f"{REG}/app:1.0@{DIGEST}"))
    current.spec.task.container.pull_options.registry_auth = _auth()
    current.previous_spec.CopyFrom(_spec(f"{REG}/app:0.9"))
    current.previous_spec.task.container.pull_options.registry_auth = _auth("old", "pw")
    engine = FakeEngine()
    spec = _spec(f"{REG}/app:1.0@{DIGEST}")
    await images.prepare_service_spec(spec, engine=engine, header=None, query={},
                                      current=current)
    assert spec.task.container.pull_options.registry_auth == _auth()
    assert engine.asked == []  # the image did not change
    spec = _spec(f"{REG}/app:1.0@{DIGEST}")
    await images.prepare_service_spec(spec, engine=engine, header="",
                                      query={"registryAuthFrom": "previous-spec"},
                                      current=current)
    assert spec.task.container.pull_options.registry_auth == _auth("old", "pw")
    spec = _spec(f"{REG}/app:2.0")
    await images.prepare_service_spec(spec, engine=engine, header=_auth("new", "pw2"),
                                      query={}, current=current)
    assert spec.task.container.pull_options.registry_auth == _auth("new", "pw2")
    assert spec.task.container.image == f"{REG}/app:2.0@{DIGEST}"
    assert engine.asked[-1][1].username == "new"


async def test_bad_inputs_are_refused_with_what_is_wrong() -> None:
    with pytest.raises(InvalidArgument, match="resolveImage"):
        await images.prepare_service_spec(_spec("busybox"), engine=None, header=None,
                                          query={"resolveImage": "sometimes"})
    with pytest.raises(InvalidArgument, match="registryAuthFrom"):
        await images.prepare_service_spec(_spec("busybox"), engine=None, header=None,
                                          query={"registryAuthFrom": "elsewhere"})
    with pytest.raises(InvalidArgument, match="X-Registry-Auth"):
        await images.prepare_service_spec(_spec("busybox"), engine=None, header="%%%",
                                          query={})


async def test_without_an_engine_registry_nothing_is_resolved() -> None:
    spec = _spec(f"{REG}/app:1.0")
    assert await images.prepare_service_spec(spec, engine=None, header=None, query={}) == []
    assert spec.task.container.image == f"{REG}/app:1.0"
