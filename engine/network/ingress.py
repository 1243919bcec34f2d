"""Service ports: a cluster service's published port spread over its tasks (NetworkService part).

The agent (agent/exec/networks.py) declares, per service, which ports it
publishes in ingress mode and which containers (or addresses) serve them:

    set_service_ports("svc-id", [("tcp", 8080, 80)], [container_id, ...])
    remove_service_ports("svc-id")

Each published port becomes one DNAT rule per backend in <P>-DNAT, chosen
with `-m statistic --mode nth`: with N backends the i-th rule takes every
(N-i)-th new connection that reached it and the last takes the rest, so
connections go round robin over the backends. Only the first packet of a
connection goes through the nat table, so a connection stays on its backend.
A backend is a container id, resolved at each render to its address on its
first routed network (a container without a sandbox, i.e. not running, is
skipped), or an IPv4 address used as is (for tasks on other hosts, later).
With no backend the port has no rule: a connection is refused (the held
socket below does not listen). Ports are held like container-published
ports (a bound socket each), so neither a host process nor a container can
take them; the sets are persisted (`ingress.json`) and survive a restart.
"""

from __future__ import annotations

import contextlib
import ipaddress
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from shoal.engine.network import jsonfile, ports
from shoal.engine.network.errors import InvalidNetworkConfig, NetworkError, PortInUse
from shoal.engine.network.model import Endpoint, PortMapping, Sandbox, ServicePorts
from shoal.engine.network.store import NetworkStore

ServiceRule = tuple[str, int, int, list[str]]  # proto, published, target, backend ips


def _is_ip(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


class IngressMixin:
    """The service-ports half of NetworkService (it provides the attributes below)."""

    store: NetworkStore
    holder: ports.PortHolder
    sandboxes: dict[str, Sandbox]
    services: dict[str, ServicePorts]
    _lock: threading.RLock

    if TYPE_CHECKING:  # NetworkService's and SandboxMixin's
        def _apply_rules(self, check_hooks: bool = False) -> None: ...
        def _gateway_endpoint(self, sb: Sandbox) -> Endpoint | None: ...

    # ---- API ------------------------------------------------------------------------
    def set_service_ports(self, service_id: str, port_list: Iterable[tuple[str, int, int]],
                          backends: Iterable[str]) -> None:
        """Publish SERVICE_ID's ingress PORT_LIST [(proto, published, target)] over BACKENDS.

        BACKENDS are container ids or IPv4 addresses. Replaces the service's
        previous set; an empty PORT_LIST removes it. PortInUse if a port is
        held by a container, another service or a host process.
        """
        want = [(str(p), int(pub), int(t)) for p, pub, t in port_list]
        for proto, pub, target in want:
            if proto not in ports.PROTOS:
                raise InvalidNetworkConfig(f"invalid protocol {proto!r} (tcp or udp)")
            for n in (pub, target):
                if not 1 <= n <= 65535:
                    raise InvalidNetworkConfig(f"invalid port {n}: out of range 1-65535")
        if not want:
            self.remove_service_ports(service_id)
            return
        with self._lock:
            old = self.services.get(service_id)
            had = {(p, pub) for p, pub, _t in old.ports} if old else set()
            new_keys = {(p, pub) for p, pub, _t in want}
            held: list[tuple[str, int]] = []
            try:
                for proto, pub in sorted(new_keys - had):
                    self._check_free(service_id, proto, pub)
                    self.holder.hold(proto, "", pub)
                    held.append((proto, pub))
            except BaseException:
                for proto, pub in held:
                    self.holder.release(proto, "", pub)
                raise
            for proto, pub in had - new_keys:
                self.holder.release(proto, "", pub)
            sp = ServicePorts(service_id, [list(x) for x in want], list(dict.fromkeys(backends)))
            if old is None or (old.ports, old.backends) != (sp.ports, sp.backends):
                self.services[service_id] = sp
                self._save_services()
            self._apply_rules()  # also when only a backend's address changed

    def remove_service_ports(self, service_id: str) -> None:
        """Stop publishing SERVICE_ID's ports (absent is fine)."""
        with self._lock:
            sp = self.services.pop(service_id, None)
            if sp is None:
                return
            for proto, pub, _t in sp.ports:
                self.holder.release(proto, "", pub)
            self._save_services()
            self._apply_rules()

    def service_ports(self) -> dict[str, dict[str, Any]]:
        """Return every service's set: {id: {"Ports": [[proto, published, target]],
        "Backends": [...], "Addresses": [resolved backend ips]}}."""
        with self._lock:
            return {sid: {"Ports": [list(p) for p in sp.ports], "Backends": list(sp.backends),
                          "Addresses": self._backend_ips(sp)}
                    for sid, sp in self.services.items()}

    # ---- helpers NetworkService calls -----------------------------------------------
    def _load_services(self) -> None:
        data = jsonfile.read(self.store.root / "ingress.json", {}) or {}
        self.services = {sid: ServicePorts(sid, [list(p) for p in d.get("ports", [])],
                                           list(d.get("backends", [])))
                         for sid, d in data.items()}

    def _save_services(self) -> None:
        jsonfile.write(self.store.root / "ingress.json",
                       {sid: {"ports": sp.ports, "backends": sp.backends}
                        for sid, sp in self.services.items()})

    def _hold_service_ports(self) -> None:
        """Re-reserve every service port (daemon start)."""
        for sp in self.services.values():
            for proto, pub, _t in sp.ports:
                with contextlib.suppress(NetworkError):
                    self.holder.hold(proto, "", pub)

    def _ingress_taken(self) -> list[PortMapping]:
        """Return the service ports as mappings, for the container publishing checks."""
        return [PortMapping(proto, "0.0.0.0", pub, target)
                for sp in self.services.values() for proto, pub, target in sp.ports]

    def _uses_container(self, cid: str) -> bool:
        return any(cid in sp.backends for sp in self.services.values())

    def _backend_ips(self, sp: ServicePorts) -> list[str]:
        out = []
        for b in sp.backends:
            if _is_ip(b):
                out.append(b)
                continue
            sb = self.sandboxes.get(b)
            e = self._gateway_endpoint(sb) if sb is not None else None
            if e is not None:
                out.append(e.ip)
        return list(dict.fromkeys(out))

    def _service_rules(self) -> list[ServiceRule]:
        return [(proto, pub, target, self._backend_ips(sp))
                for sp in self.services.values() for proto, pub, target in sp.ports]

    def _check_free(self, service_id: str, proto: str, pub: int) -> None:
        for sid, sp in self.services.items():
            if sid != service_id and any(p == proto and q == pub for p, q, _t in sp.ports):
                raise PortInUse(f"Bind for 0.0.0.0:{pub} failed: port is already allocated "
                                f"(service {sid})")
        for sb in self.sandboxes.values():
            if any(ports.overlaps(m, proto, "", pub) for m in sb.ports):
                raise PortInUse(f"Bind for 0.0.0.0:{pub} failed: port is already allocated")
