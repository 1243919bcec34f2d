"""Persisted state under <data_root>/network: networks, sandboxes and the IPAM file.

    network/networks/<id>.json    one Network record each
    network/sandboxes/<cid>.json  one Sandbox record (endpoints, ports) each
    network/ipam.json             subnets and leases (see ipam.py)

Every file is written atomically; the in-memory copies are the truth while
the daemon runs and the files are the truth when it starts.
"""

from __future__ import annotations

from pathlib import Path

from shoal.engine.network import jsonfile
from shoal.engine.network.model import Network, Sandbox, network_from, sandbox_from, to_dict


class NetworkStore:
    """Load and save network and sandbox records."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.networks_dir = root / "networks"
        self.sandboxes_dir = root / "sandboxes"
        self.networks_dir.mkdir(parents=True, exist_ok=True)
        self.sandboxes_dir.mkdir(parents=True, exist_ok=True)

    @property
    def ipam_path(self) -> Path:
        return self.root / "ipam.json"

    def load_networks(self) -> dict[str, Network]:
        out = {}
        for p in sorted(self.networks_dir.glob("*.json")):
            n = network_from(jsonfile.read(p))
            out[n.id] = n
        return out

    def save_network(self, n: Network) -> None:
        jsonfile.write(self.networks_dir / f"{n.id}.json", to_dict(n))

    def delete_network(self, net_id: str) -> None:
        jsonfile.remove(self.networks_dir / f"{net_id}.json")

    def load_sandboxes(self) -> dict[str, Sandbox]:
        out = {}
        for p in sorted(self.sandboxes_dir.glob("*.json")):
            s = sandbox_from(jsonfile.read(p))
            out[s.container_id] = s
        return out

    def save_sandbox(self, s: Sandbox) -> None:
        jsonfile.write(self.sandboxes_dir / f"{s.container_id}.json", to_dict(s))

    def delete_sandbox(self, cid: str) -> None:
        jsonfile.remove(self.sandboxes_dir / f"{cid}.json")
