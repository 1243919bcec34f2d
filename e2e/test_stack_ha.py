"""examples/web-stack.yml on a 5-host lab (3 managers, 2 workers), image from the lab registry.

The image is imported on one manager and pushed to the lab's registry host;
the stack names it REGISTRY/e2e/busybox:1, so every other host pulls it (the
manager pins the tag to the registry's digest). The stack is deployed through
a follower manager. In order: exact convergence with the image pulled where
tasks run; (with the routing mesh) web by name from a host without web;
scaling to 10 spreads over all 5 hosts and the published port answers on each
host's underlay address; draining a worker keeps exact counts; `stack rm`
leaves nothing on any host.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e.stackcheck import (
    api,
    converged,
    deploy,
    drain_keeps_exact_counts,
    needs_mesh,
    published_everywhere,
    reaches_web_by_name_from_elsewhere,
    stack_rm_leaves_nothing,
)
from shoal.cli.lab import Lab

LAB = {"nodes": 5, "managers": 3, "registry": True}
STACK = "ha"
PORT = 8081


@pytest.fixture(scope="module")
def image(lab: Lab, busybox_tar: Path) -> str:
    """Push busybox to the lab registry from the first manager; return its reference."""
    ref = f"{lab.registry_addr}/e2e/busybox:1"
    m = lab.managers[0]
    m.cli("import", "-c", 'CMD ["sh"]', str(busybox_tar), ref, check=True)
    m.cli("push", ref, check=True)
    return ref


@pytest.fixture(scope="module")
def stack(lab: Lab, image: str) -> Lab:
    """Deploy the example stack through a follower manager; return the lab."""
    leader = next(n["Description"]["Hostname"] for n in lab.nodes()
                  if (n.get("ManagerStatus") or {}).get("Leader"))
    follower = next(h for h in lab.managers if h.name != leader)
    deploy(follower, STACK, STACK_IMAGE=image, WEB_PORT=str(PORT), WEB_REPLICAS="3")
    return lab


def test_converges_with_the_image_pulled_from_the_registry(stack: Lab, image: str) -> None:
    slots = converged(stack, f"{STACK}_web", 3)
    assert sorted(slots) == ["1", "2", "3"]
    converged(stack, f"{STACK}_client", 1)
    repo = image.rsplit(":", 1)[0]
    for name in set(slots.values()) - {stack.managers[0].name}:
        images = api(stack.host(name), "/images/json")
        tags = [t for i in images for t in i.get("RepoTags") or []]
        digests = [d for i in images for d in i.get("RepoDigests") or []]
        assert image in tags or any(d.startswith(repo + "@") for d in digests), (name, images)


@needs_mesh
def test_client_on_a_host_without_web_reaches_web_by_name(stack: Lab) -> None:
    reaches_web_by_name_from_elsewhere(stack, STACK, PORT, replicas=3)


def test_scaling_spreads_over_five_hosts_and_the_port_answers_on_each(stack: Lab) -> None:
    stack.managers[-1].cli("service", "scale", "-d", f"{STACK}_web=10", check=True)
    slots = converged(stack, f"{STACK}_web", 10)
    assert sorted(slots, key=int) == [str(i) for i in range(1, 11)]
    per_host = {h.name: list(slots.values()).count(h.name) for h in stack.hosts}
    assert all(n >= 1 for n in per_host.values()), per_host
    assert sorted(published_everywhere(stack, PORT)) == sorted(h.name for h in stack.hosts)


def test_drain_moves_tasks_off_a_worker_with_exact_counts(stack: Lab) -> None:
    drain_keeps_exact_counts(stack, STACK, stack.workers[0], replicas=10)


def test_stack_rm_removes_services_and_networks_everywhere(stack: Lab) -> None:
    stack_rm_leaves_nothing(stack, STACK)
