"""The contents of a container's /etc/resolv.conf and /etc/hosts (the caller writes them)."""

from __future__ import annotations

from collections.abc import Iterable

from shoal.engine.network.dns import DNS_IP

LOCALHOST = (
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def _is_loopback(ns: str) -> bool:
    return ns.startswith("127.") or ns == "::1"


def resolv_conf(host_text: str, embedded_dns: bool, dns: Iterable[str] = (),
                search: Iterable[str] = (), options: Iterable[str] = ()) -> str:
    """Return a container's resolv.conf.

    With EMBEDDED_DNS (the container is on a user-defined network) the only
    nameserver is 127.0.0.11, which forwards what it does not know to the
    host's resolvers; otherwise the host's nameservers, minus loopback ones
    (unreachable from a container). DNS/SEARCH/OPTIONS are --dns,
    --dns-search and --dns-option; they replace the host's.
    """
    host_ns: list[str] = []
    host_search: list[str] = []
    host_opts: list[str] = []
    for ln in host_text.splitlines():
        parts = ln.split()
        if not parts or parts[0].startswith(("#", ";")):
            continue
        if parts[0] == "nameserver" and len(parts) > 1:
            host_ns.append(parts[1])
        elif parts[0] in ("search", "domain"):
            host_search = parts[1:]
        elif parts[0] == "options":
            host_opts += parts[1:]
    dns, search, options = list(dns), list(search), list(options)
    if embedded_dns:
        servers = [DNS_IP]
        opts = options or [o for o in host_opts if not o.startswith("ndots")] + ["ndots:0"]
    else:
        servers = dns or [n for n in host_ns if not _is_loopback(n)]
        opts = options or host_opts
    lines = [f"nameserver {s}" for s in servers]
    if search or host_search:
        lines.append("search " + " ".join(search or host_search))
    if opts:
        lines.append("options " + " ".join(opts))
    return "\n".join(lines) + "\n"


def hosts(hostname: str, addresses: Iterable[str], aliases: Iterable[str] = (),
          extra_hosts: Iterable[str] = ()) -> str:
    """Return a container's /etc/hosts: localhost, its own addresses, then --add-host entries.

    EXTRA_HOSTS are Docker's "name:ip" strings.
    """
    names = " ".join(dict.fromkeys([hostname, *aliases]))
    lines = [LOCALHOST.rstrip("\n")]
    lines += [f"{ip}\t{names}" for ip in addresses]
    for entry in extra_hosts:
        name, _, ip = entry.partition(":")
        if name and ip:
            lines.append(f"{ip}\t{name}")
    return "\n".join(lines) + "\n"
