"""The agent's image pulls (agent/exec/pull.py) against a fake engine: targets, shared
pulls, credentials, errors, progress sums and their throttling, and the driver's reports."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from shoal.agent.exec.driver import PREPARING, READY, REJECTED, TaskRunner
from shoal.agent.exec.errors import TaskRejected
from shoal.agent.exec.interfaces import Observed
from shoal.agent.exec.pull import ImagePuller, PullProgress, sizes, target_of
from shoal.engine.images.errors import ImageNotFound
from shoal.engine.images.registry.credentials import Credentials
from shoal.engine.images.registry.errors import Unauthorized
from shoal.proto.shoal.v1.objects_pb2 import Task
from shoal.proto.shoal.v1.types_pb2 import TaskState, TaskStatus

DIGEST = "sha256:" + "ab" * 32
PINNED = f"127.0.0.1:5000/app:1.0@{DIGEST}"


def _auth(user: str, password: str) -> str:
    raw = json.dumps({"username": user, "password": password, "serveraddress": "127.0.0.1:5000"})
    return base64.urlsafe_b64encode(raw.encode()).decode()


class FakeImages:
    def __init__(self, names: set[str] | None = None) -> None:
        self.names = set(names or ())
        self.tags: list[tuple[str, str]] = []

    def get(self, ref: str) -> str:
        if ref not in self.names:
            raise ImageNotFound(ref)
        return ref

    def tag(self, src: str, ref: str) -> None:
        self.get(src)
        self.tags.append((src, ref))
        self.names.add(ref)


class FakeRegistry:
    """Pulls wait for `release`; each emits two layers' progress."""

    def __init__(self, images: FakeImages, error: Exception | None = None) -> None:
        self.images = images
        self.error = error
        self.calls: list[tuple[str, Credentials]] = []
        self.release = asyncio.Event()

    async def pull(self, ref: str, creds: Credentials, emit: Any) -> None:
        self.calls.append((ref, creds))
        emit({"status": "Pulling fs layer", "progressDetail": {}, "id": "l1"})
        emit({"status": "Downloading", "progressDetail": {"current": 1_000_000,
                                                           "total": 4_000_000}, "id": "l1"})
        await self.release.wait()
        if self.error is not None:
            raise self.error
        emit({"status": "Pull complete", "progressDetail": {}, "id": "l1"})
        self.images.names.add(ref)


class FakeEngine:
    def __init__(self, names: set[str] | None = None, error: Exception | None = None) -> None:
        self.images = FakeImages(names)
        self.registry = FakeRegistry(self.images, error)


def test_targets_of_pinned_unpinned_and_id_references() -> None:
    t = target_of(PINNED)
    assert (t.lookup, t.pull, t.tag) == (f"127.0.0.1:5000/app@{DIGEST}",
                                        f"127.0.0.1:5000/app@{DIGEST}", "127.0.0.1:5000/app:1.0")
    t = target_of(f"127.0.0.1:5000/app@{DIGEST}")
    assert t.pull == f"127.0.0.1:5000/app@{DIGEST}" and t.tag == ""
    t = target_of("busybox")
    assert (t.lookup, t.pull, t.tag) == ("docker.io/library/busybox:latest",
                                        "docker.io/library/busybox:latest", "")
    assert target_of(DIGEST).pull == ""  # an image id is never pulled
    with pytest.raises(TaskRejected, match="invalid image reference"):
        target_of("Bad//Name")


def test_sizes_use_the_unit_of_the_total() -> None:
    assert sizes(12_000_000, 40_000_000) == "12/40 MB"
    assert sizes(300_000, 2_200_000) == "0.3/2.2 MB"
    assert sizes(500, 900) == "500/900 B"
    assert sizes(1_200, 800_000) == "1/800 kB"


def test_progress_sums_layers_and_reports_at_most_every_interval() -> None:
    now = [0.0]
    seen: list[str] = []
    meter = PullProgress(seen.append, interval=0.5, clock=lambda: now[0])
    meter({"status": "Already exists", "progressDetail": {}, "id": "old"})
    meter({"status": "Downloading", "progressDetail": {"current": 1_000_000,
                                                       "total": 10_000_000}, "id": "a"})
    now[0] = 0.2
    meter({"status": "Downloading", "progressDetail": {"current": 0, "total": 30_000_000},
           "id": "b"})
    now[0] = 0.4
    meter({"status": "Download complete", "progressDetail": {}, "id": "a"})
    assert seen == ["pulling 1/10 MB"]  # the next two came too soon
    now[0] = 0.6
    meter({"status": "Downloading", "progressDetail": {"current": 2_000_000,
                                                       "total": 30_000_000}, "id": "b"})
    assert seen == ["pulling 1/10 MB", "pulling 12/40 MB"]
    meter({"status": "Verifying Checksum", "progressDetail": {}, "id": "b"})  # not a count
    meter({"status": "Digest: sha256:x"})
    assert len(seen) == 2


async def test_present_image_is_not_pulled() -> None:
    engine = FakeEngine({f"127.0.0.1:5000/app@{DIGEST}"})
    await ImagePuller(engine).ensure(PINNED)
    assert engine.registry.calls == []


async def test_concurrent_tasks_share_one_pull_with_the_services_credentials() -> None:
    engine = FakeEngine()
    puller = ImagePuller(engine, interval=0.0)
    seen: dict[str, list[str]] = {"a": [], "b": []}
    auth = _auth("tester", "s3cret")
    jobs = [asyncio.create_task(puller.ensure(PINNED, auth, seen[k].append)) for k in "ab"]
    while sum(len(p.listeners) for p in puller._pulls.values()) < 2:
        await asyncio.sleep(0.01)
    engine.registry.release.set()
    await asyncio.gather(*jobs)
    assert len(engine.registry.calls) == 1 and puller.pulled == 1
    ref, creds = engine.registry.calls[0]
    assert ref == f"127.0.0.1:5000/app@{DIGEST}"
    assert (creds.username, creds.password) == ("tester", "s3cret")
    assert engine.images.tags == [(ref, "127.0.0.1:5000/app:1.0")]
    for texts in seen.values():  # each task saw the shared pull, whenever it joined
        assert texts[-2:] == ["pulling 1.0/4.0 MB", "pulling 4.0/4.0 MB"]
    await puller.ensure(PINNED, auth)  # present now
    assert len(engine.registry.calls) == 1


async def test_a_failed_pull_rejects_every_waiter_and_the_next_try_pulls_again() -> None:
    engine = FakeEngine(error=Unauthorized("unauthorized: authentication required"))
    puller = ImagePuller(engine)
    jobs = [asyncio.create_task(puller.ensure(PINNED)) for _ in range(2)]
    while not engine.registry.calls:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # the second waiter joins the pull or finds it failed: both reject
    engine.registry.release.set()
    results = await asyncio.gather(*jobs, return_exceptions=True)
    for r in results:
        assert isinstance(r, TaskRejected)
        assert str(r).startswith(f"No such image: {PINNED} (pull failed: unauthorized")
    with pytest.raises(TaskRejected):
        await puller.ensure(PINNED)
    assert len(engine.registry.calls) == 2


async def test_bad_credentials_and_unpinned_ids_are_rejected() -> None:
    puller = ImagePuller(FakeEngine())
    with pytest.raises(TaskRejected, match="invalid registry credentials"):
        await puller.ensure(PINNED, "%%%not-base64%%%")
    with pytest.raises(TaskRejected, match="No such image"):
        await puller.ensure(DIGEST)


class PullingController:
    """Reports progress from prepare, then fails or succeeds."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    async def prepare(self, progress: Any = None) -> None:
        assert progress is not None
        progress("pulling 1/4 MB")
        progress("pulling 4/4 MB")
        if self.fail:
            raise TaskRejected("No such image: x (pull failed: unauthorized)")

    async def start(self) -> Observed:
        return Observed("running", "c1", 42)

    async def wait(self) -> int:
        await asyncio.Event().wait()
        return 0

    async def shutdown(self, grace: float | None) -> None:
        return None

    async def remove(self) -> None:
        return None

    async def inspect(self) -> Observed:
        return Observed("absent")


async def _drive(controller: PullingController, until: int) -> list[TaskStatus]:
    reports: list[TaskStatus] = []
    task = Task(id="t1", desired_state=TaskState.RUNNING)
    task.status.state = TaskState.ASSIGNED
    runner = TaskRunner(task, controller, lambda _id, s: reports.append(s))
    runner.start()
    for _ in range(200):
        if reports and reports[-1].state >= until:
            break
        await asyncio.sleep(0.01)
    await runner.stop()
    return reports


async def test_driver_reports_pull_progress_while_preparing() -> None:
    reports = await _drive(PullingController(), TaskState.RUNNING)
    steps = [(s.state, s.message) for s in reports]
    i = steps.index((PREPARING, "preparing"))
    assert steps[i + 1:i + 4] == [(PREPARING, "preparing: pulling 1/4 MB"),
                                  (PREPARING, "preparing: pulling 4/4 MB"), (READY, "prepared")]


async def test_driver_rejects_a_task_whose_pull_failed() -> None:
    reports = await _drive(PullingController(fail=True), REJECTED)
    assert reports[-1].state == REJECTED
    assert "unauthorized" in reports[-1].err
