"""examples/web-stack.yml on a 3-host lab (1 manager, 2 workers): issue 6, part 6.

One stack for the whole module, the tests in order: it converges with exact
replicas; the client on a host without a web task reaches `web` by name and
gets pages from tasks on the other hosts; the published port answers on every
host's underlay address; scaling to 6 spreads over the 3 hosts; draining a
worker moves its tasks off with exact counts; `stack rm` leaves no network of
the stack on any host.
"""

from __future__ import annotations

import pytest

from e2e.stackcheck import (
    converged,
    deploy,
    drain_keeps_exact_counts,
    needs_mesh,
    published_everywhere,
    reaches_web_by_name_from_elsewhere,
    stack_rm_leaves_nothing,
)
from shoal.cli.lab import Lab

LAB = {"nodes": 3, "managers": 1, "registry": False}
STACK = "st"
PORT = 8080


@pytest.fixture(scope="module")
def stack(lab: Lab) -> Lab:
    """Deploy the example stack on the lab's manager; return the lab."""
    deploy(lab.managers[0], STACK, WEB_PORT=str(PORT), WEB_REPLICAS="3")
    return lab


def test_converges_with_exact_replicas(stack: Lab) -> None:
    slots = converged(stack, f"{STACK}_web", 3)
    assert sorted(slots) == ["1", "2", "3"]
    converged(stack, f"{STACK}_client", 1)


@needs_mesh
def test_client_on_a_host_without_web_reaches_web_by_name(stack: Lab) -> None:
    reaches_web_by_name_from_elsewhere(stack, STACK, PORT, replicas=3)


def test_published_port_answers_on_every_host(stack: Lab) -> None:
    converged(stack, f"{STACK}_web", 3)
    pages = published_everywhere(stack, PORT)
    assert sorted(pages) == sorted(h.name for h in stack.hosts)


def test_scaling_spreads_over_every_host(stack: Lab) -> None:
    stack.managers[0].cli("service", "scale", "-d", f"{STACK}_web=6", check=True)
    slots = converged(stack, f"{STACK}_web", 6)
    assert sorted(slots, key=int) == [str(i) for i in range(1, 7)]
    per_host = {h.name: list(slots.values()).count(h.name) for h in stack.hosts}
    assert all(n >= 1 for n in per_host.values()), per_host


def test_drain_moves_tasks_off_a_worker_with_exact_counts(stack: Lab) -> None:
    drain_keeps_exact_counts(stack, STACK, stack.workers[-1], replicas=6)


def test_stack_rm_removes_services_and_networks_everywhere(stack: Lab) -> None:
    stack_rm_leaves_nothing(stack, STACK)
