"""Configuration of the network service (derived from EngineConfig)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from shoal.engine.config import EngineConfig
from shoal.engine.network.ipam import DEFAULT_POOLS, Pool, parse_pools


@dataclass
class NetworkConfig:
    """Where network state lives and how shoal names what it creates.

    state_root:     persisted records (<data_root>/network).
    netns_root:     sandbox namespaces are bound at <netns_root>/<container id>
                    (<run_root>/netns).
    netns:          the namespace the service programs (None: the daemon's own);
                    tests run a whole "host" inside a namespace this way.
    default_bridge: the host's interface of the predefined network "bridge" (its bridge
                    is in <run_root>/bridge-netns/<name>, see bridge.py).
    default_subnet: its subnet ("" picks the first free pool subnet, normally 172.17.0.0/16).
    pools:          where user-defined networks get their subnets.
    bridge_prefix:  user networks' host interfaces are <prefix><network id[:10]> (at most
                    15 characters).
    veth_prefix:    bridge ends of veth pairs are <prefix><endpoint id[:8]>.
    chain_prefix:   iptables chains are <prefix>-FORWARD, <prefix>-DNAT ...
    rule_tag:       the comment that marks every iptables rule shoal adds.
    dns_forward:    the embedded DNS forwards unknown names to the host's resolvers.
    mtu:            default MTU of bridges and veths.
    """

    state_root: Path
    netns_root: Path
    netns: str | None = None
    default_bridge: str = "shoal0"
    default_subnet: str = ""
    pools: tuple[Pool, ...] = DEFAULT_POOLS
    bridge_prefix: str = "shbr-"
    veth_prefix: str = "shv"
    chain_prefix: str = "SHOAL"
    rule_tag: str = "shoal"
    dns_forward: bool = True
    mtu: int = 1500
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_engine(cls, config: EngineConfig) -> NetworkConfig:
        """Build the network config from the engine's (extra keys "network.*" override)."""
        x = config.extra
        kw: dict[str, object] = {}
        if v := x.get("network.default_bridge"):
            kw["default_bridge"] = v
        if v := x.get("network.default_subnet"):
            kw["default_subnet"] = v
        if v := x.get("network.pools"):
            kw["pools"] = parse_pools(v)
        if v := x.get("network.dns_forward"):
            kw["dns_forward"] = v.lower() in ("1", "true", "yes")
        if v := x.get("network.mtu"):
            kw["mtu"] = int(v)
        for key in ("bridge_prefix", "veth_prefix", "chain_prefix", "rule_tag"):
            if v := x.get(f"network.{key}"):
                kw[key] = v
        return cls(state_root=config.data_root / "network",
                   netns_root=config.run_root / "netns", **kw)  # type: ignore[arg-type]
