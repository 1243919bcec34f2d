"""TaskTemplate.ContainerSpec ⇄ specs.ContainerSpec, with its health check, mounts and references.

Docker's JSON (api/types/swarm/container.go) omits empty fields; so does the
output here. Settings Docker has and shoal lacks (Privileges, Ulimits,
OomScoreAdj, a non-default Isolation, BindOptions, VolumeOptions.NoCopy) are
refused when set rather than dropped without a word.
"""

from __future__ import annotations

from typing import Any

from shoal.manager.dockerapi.fields import Obj, ns, put
from shoal.proto.shoal.v1 import specs_pb2, types_pb2

MOUNT_TYPES = {"bind": types_pb2.Mount.BIND, "volume": types_pb2.Mount.VOLUME,
               "tmpfs": types_pb2.Mount.TMPFS}
_MOUNT_NAMES = {v: k for k, v in MOUNT_TYPES.items()}


def health_from_json(o: Obj) -> types_pb2.HealthConfig:
    h = types_pb2.HealthConfig(test=o.strs("Test"), retries=o.integer("Retries", 0, 2**31 - 1) or 0)
    for key, field in (("Interval", "interval"), ("Timeout", "timeout"),
                       ("StartPeriod", "start_period"), ("StartInterval", "start_interval")):
        d = o.duration(key)
        if d is not None:
            getattr(h, field).CopyFrom(d)
    return h


def health_to_json(h: types_pb2.HealthConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    put(out, "Test", list(h.test))
    for key, field in (("Interval", "interval"), ("Timeout", "timeout"),
                       ("StartPeriod", "start_period"), ("StartInterval", "start_interval")):
        if h.HasField(field):
            out[key] = ns(getattr(h, field))
    put(out, "Retries", h.retries)
    return out


def driver_from_json(o: Obj) -> types_pb2.Driver:
    return types_pb2.Driver(name=o.text("Name"), options=o.str_map("Options"))


def driver_to_json(d: types_pb2.Driver) -> dict[str, Any]:
    out: dict[str, Any] = {"Name": d.name}
    put(out, "Options", dict(d.options))
    return out


def mount_from_json(o: Obj) -> types_pb2.Mount:
    m = types_pb2.Mount(type=o.enum("Type", MOUNT_TYPES), source=o.text("Source"),
                        target=o.text("Target"), read_only=o.flag("ReadOnly"))
    if not m.target:
        raise o.fail("Target", "required")
    o.refuse_set("BindOptions")
    vol = o.obj("VolumeOptions")
    if vol is not None:
        vol.refuse_set("NoCopy")
        m.volume_labels.update(vol.str_map("Labels"))
        drv = vol.obj("DriverConfig")
        if drv is not None:
            m.volume_driver.CopyFrom(driver_from_json(drv))
    tmpfs = o.obj("TmpfsOptions")
    if tmpfs is not None:
        m.tmpfs_size_bytes = tmpfs.integer("SizeBytes", 0) or 0
        m.tmpfs_mode = tmpfs.uint("Mode", 0o7777) or 0
    return m


def mount_to_json(m: types_pb2.Mount) -> dict[str, Any]:
    out: dict[str, Any] = {"Type": _MOUNT_NAMES[m.type]}
    put(out, "Source", m.source)
    out["Target"] = m.target
    put(out, "ReadOnly", m.read_only)
    if m.volume_labels or m.HasField("volume_driver"):
        vol: dict[str, Any] = {}
        put(vol, "Labels", dict(m.volume_labels))
        if m.HasField("volume_driver"):
            vol["DriverConfig"] = driver_to_json(m.volume_driver)
        out["VolumeOptions"] = vol
    if m.tmpfs_size_bytes or m.tmpfs_mode:
        tmpfs: dict[str, Any] = {}
        put(tmpfs, "SizeBytes", m.tmpfs_size_bytes)
        put(tmpfs, "Mode", m.tmpfs_mode)
        out["TmpfsOptions"] = tmpfs
    return out


def _file_from_json(o: Obj) -> types_pb2.FileTarget:
    return types_pb2.FileTarget(name=o.text("Name"), uid=o.text("UID"), gid=o.text("GID"),
                                mode=o.uint("Mode", 0o7777) or 0)


def _file_to_json(f: types_pb2.FileTarget) -> dict[str, Any]:
    return {"Name": f.name, "UID": f.uid, "GID": f.gid, "Mode": f.mode}


def container_spec_from_json(o: Obj) -> specs_pb2.ContainerSpec:
    """Return the ContainerSpec of Docker's TaskTemplate.ContainerSpec O."""
    for key in ("Privileges", "Ulimits", "OomScoreAdj"):
        o.refuse_set(key)
    if o.text("Isolation") not in ("", "default"):
        raise o.fail("Isolation", "only the default isolation is supported")
    c = specs_pb2.ContainerSpec(
        image=o.text("Image"), labels=o.str_map("Labels"), command=o.strs("Command"),
        args=o.strs("Args"), hostname=o.text("Hostname"), env=o.strs("Env"), dir=o.text("Dir"),
        user=o.text("User"), groups=o.strs("Groups"), stop_signal=o.text("StopSignal"),
        tty=o.flag("TTY"), open_stdin=o.flag("OpenStdin"), read_only=o.flag("ReadOnly"),
        hosts=o.strs("Hosts"), sysctls=o.str_map("Sysctls"),
        capability_add=o.strs("CapabilityAdd"), capability_drop=o.strs("CapabilityDrop"),
        mounts=[mount_from_json(m) for m in o.objs("Mounts")],
    )
    for i, e in enumerate(c.env):
        if not e or e.startswith("="):
            raise o.fail(f"Env[{i}]", f"invalid environment variable {e!r}")
    if o.has("Init"):
        c.init = o.flag("Init")
    grace = o.duration("StopGracePeriod")
    if grace is not None:
        c.stop_grace_period.CopyFrom(grace)
    health = o.obj("Healthcheck")
    if health is not None:
        c.healthcheck.CopyFrom(health_from_json(health))
    dns = o.obj("DNSConfig")
    if dns is not None:
        c.dns_config.CopyFrom(types_pb2.DNSConfig(
            nameservers=dns.strs("Nameservers"), search=dns.strs("Search"),
            options=dns.strs("Options")))
    for s in o.objs("Secrets"):
        ref = c.secrets.add(secret_id=s.text("SecretID"), secret_name=s.text("SecretName"))
        f = s.obj("File")
        if f is not None:
            ref.file.CopyFrom(_file_from_json(f))
    for s in o.objs("Configs"):
        cref = c.configs.add(config_id=s.text("ConfigID"), config_name=s.text("ConfigName"))
        f = s.obj("File")
        if f is not None:
            cref.file.CopyFrom(_file_from_json(f))
    return c


def container_spec_to_json(c: specs_pb2.ContainerSpec) -> dict[str, Any]:
    """Return Docker's TaskTemplate.ContainerSpec for C."""
    out: dict[str, Any] = {"Image": c.image}
    put(out, "Labels", dict(c.labels))
    put(out, "Command", list(c.command))
    put(out, "Args", list(c.args))
    put(out, "Hostname", c.hostname)
    put(out, "Env", list(c.env))
    put(out, "Dir", c.dir)
    put(out, "User", c.user)
    put(out, "Groups", list(c.groups))
    if c.HasField("init"):
        out["Init"] = c.init
    put(out, "StopSignal", c.stop_signal)
    put(out, "TTY", c.tty)
    put(out, "OpenStdin", c.open_stdin)
    put(out, "ReadOnly", c.read_only)
    put(out, "Mounts", [mount_to_json(m) for m in c.mounts])
    if c.HasField("stop_grace_period"):
        out["StopGracePeriod"] = ns(c.stop_grace_period)
    if c.HasField("healthcheck"):
        out["Healthcheck"] = health_to_json(c.healthcheck)
    put(out, "Hosts", list(c.hosts))
    if c.HasField("dns_config"):
        d = c.dns_config
        dns: dict[str, Any] = {}
        put(dns, "Nameservers", list(d.nameservers))
        put(dns, "Search", list(d.search))
        put(dns, "Options", list(d.options))
        out["DNSConfig"] = dns
    put(out, "Secrets", [_ref_to_json(s, "Secret") for s in c.secrets])
    put(out, "Configs", [_ref_to_json(s, "Config") for s in c.configs])
    out["Isolation"] = "default"
    put(out, "Sysctls", dict(c.sysctls))
    put(out, "CapabilityAdd", list(c.capability_add))
    put(out, "CapabilityDrop", list(c.capability_drop))
    return out


def _ref_to_json(ref: Any, kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ref.HasField("file"):
        out["File"] = _file_to_json(ref.file)
    out[f"{kind}ID"] = getattr(ref, f"{kind.lower()}_id")
    out[f"{kind}Name"] = getattr(ref, f"{kind.lower()}_name")
    return out
