"""The command table: what `shoal` can run, loaded only when a command is chosen.

Each entry names a module and a function ``fn(ctx: Context, argv: list[str]) -> int``
and a one-line summary for `shoal --help`. Nothing here imports a command module:
`shoal run` pays only for the modules `run` needs.

Adding a command group (service, node, stack, swarm, ...):
write ``cli/commands/<group>.py`` with one function per sub-command, then add
an entry to GROUPS below (or call ``register_group`` from a plugin module)::

    GROUPS["network"] = Group("Manage networks", {
        "ls": Entry("shoal.cli.commands.network", "ls", "List networks"),
        "create": Entry("shoal.cli.commands.network", "create", "Create a network"),
    }, aliases={"list": "ls", "remove": "rm"})

Top-level shortcuts (like ``shoal ps`` for ``shoal container ls``) go in COMMANDS.
"""

from __future__ import annotations


class Entry:
    """Where a command's function lives, and its summary."""

    __slots__ = ("func", "module", "summary")

    def __init__(self, module: str, func: str, summary: str) -> None:
        self.module, self.func, self.summary = module, func, summary


class Group:
    """A management command (``shoal container ...``) and its sub-commands."""

    __slots__ = ("aliases", "commands", "summary")

    def __init__(self, summary: str, commands: dict[str, Entry],
                 aliases: dict[str, str] | None = None) -> None:
        self.summary, self.commands, self.aliases = summary, commands, aliases or {}

    def find(self, name: str) -> Entry | None:
        """Return the sub-command called name (or one of its aliases)."""
        return self.commands.get(self.aliases.get(name, name))


_RUN = "shoal.cli.commands.run"
_CT = "shoal.cli.commands.containers"
_EX = "shoal.cli.commands.exec"
_IM = "shoal.cli.commands.images"
_REG = "shoal.cli.commands.registry_cmds"
_SYS = "shoal.cli.commands.system"
_NET = "shoal.cli.commands.network"
_VOL = "shoal.cli.commands.volume"

_CONTAINER = {
    "attach": Entry(
        _EX, "attach",
        "Attach local standard input, output, and error streams to a running container"),
    "create": Entry(_RUN, "create", "Create a new container"),
    "exec": Entry(_EX, "exec_", "Execute a command in a running container"),
    "inspect": Entry(_CT, "inspect_containers",
                     "Display detailed information on one or more containers"),
    "kill": Entry(_CT, "kill", "Kill one or more running containers"),
    "logs": Entry(_CT, "logs", "Fetch the logs of a container"),
    "ls": Entry(_CT, "ps", "List containers"),
    "port": Entry(_CT, "port", "List port mappings or a specific mapping for the container"),
    "restart": Entry(_CT, "restart", "Restart one or more containers"),
    "rm": Entry(_CT, "rm", "Remove one or more containers"),
    "run": Entry(_RUN, "run", "Create and run a new container from an image"),
    "start": Entry(_CT, "start", "Start one or more stopped containers"),
    "stop": Entry(_CT, "stop", "Stop one or more running containers"),
    "wait": Entry(_CT, "wait",
                  "Block until one or more containers stop, then print their exit codes"),
}

_IMAGE = {
    "import": Entry(_IM, "import_",
                    "Import the contents from a tarball to create a filesystem image"),
    "inspect": Entry(_IM, "inspect_images", "Display detailed information on one or more images"),
    "load": Entry(_IM, "load", "Load an image from a tar archive or STDIN"),
    "ls": Entry(_IM, "images", "List images"),
    "pull": Entry(_IM, "pull", "Download an image from a registry"),
    "push": Entry(_REG, "push", "Upload an image to a registry"),
    "rm": Entry(_IM, "rmi", "Remove one or more images"),
    "save": Entry(_IM, "save",
                  "Save one or more images to a tar archive (streamed to STDOUT by default)"),
    "tag": Entry(_IM, "tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
}

_NETWORK = {
    "connect": Entry(_NET, "connect", "Connect a container to a network"),
    "create": Entry(_NET, "create", "Create a network"),
    "disconnect": Entry(_NET, "disconnect", "Disconnect a container from a network"),
    "inspect": Entry(_NET, "inspect", "Display detailed information on one or more networks"),
    "ls": Entry(_NET, "ls", "List networks"),
    "prune": Entry(_NET, "prune", "Remove all unused networks"),
    "rm": Entry(_NET, "rm", "Remove one or more networks"),
}

_VOLUME = {
    "create": Entry(_VOL, "create", "Create a volume"),
    "inspect": Entry(_VOL, "inspect", "Display detailed information on one or more volumes"),
    "ls": Entry(_VOL, "ls", "List volumes"),
    "prune": Entry(_VOL, "prune", "Remove unused local volumes"),
    "rm": Entry(_VOL, "rm", "Remove one or more volumes"),
}

_SYSTEM = {
    "info": Entry(_SYS, "info", "Display system-wide information"),
}

GROUPS: dict[str, Group] = {
    "container": Group("Manage containers", _CONTAINER,
                       {"list": "ls", "ps": "ls", "remove": "rm"}),
    "image": Group("Manage images", _IMAGE, {"list": "ls", "remove": "rm", "rmi": "rm"}),
    "network": Group("Manage networks", _NETWORK, {"list": "ls", "remove": "rm"}),
    "volume": Group("Manage volumes", _VOLUME, {"list": "ls", "remove": "rm"}),
    "system": Group("Manage shoal", _SYSTEM),
}

COMMANDS: dict[str, Entry] = {
    "run": _CONTAINER["run"],
    "exec": _CONTAINER["exec"],
    "ps": _CONTAINER["ls"],
    "images": _IMAGE["ls"],
    "pull": _IMAGE["pull"],
    "push": _IMAGE["push"],
    "login": Entry(_REG, "login", "Log in to a registry"),
    "logout": Entry(_REG, "logout", "Log out from a registry"),
    "info": _SYSTEM["info"],
    "version": Entry(_SYS, "version", "Show the shoal version information"),
    "attach": _CONTAINER["attach"],
    "create": _CONTAINER["create"],
    "import": _IMAGE["import"],
    "inspect": Entry(_CT, "inspect", "Return low-level information on shoal objects"),
    "kill": _CONTAINER["kill"],
    "load": _IMAGE["load"],
    "logs": _CONTAINER["logs"],
    "port": _CONTAINER["port"],
    "restart": _CONTAINER["restart"],
    "rm": _CONTAINER["rm"],
    "rmi": _IMAGE["rm"],
    "save": _IMAGE["save"],
    "start": _CONTAINER["start"],
    "stop": _CONTAINER["stop"],
    "tag": _IMAGE["tag"],
    "wait": _CONTAINER["wait"],
}

# Shown first in `shoal --help`, as docker's "Common Commands".
COMMON = ("run", "exec", "ps", "images", "pull", "info", "version")


def register_group(name: str, summary: str, commands: dict[str, Entry],
                   aliases: dict[str, str] | None = None) -> None:
    """Add a management command group (or extend an existing one)."""
    if name in GROUPS:
        GROUPS[name].commands.update(commands)
        GROUPS[name].aliases.update(aliases or {})
    else:
        GROUPS[name] = Group(summary, commands, aliases)


def resolve(args: list[str]) -> tuple[Entry | Group | None, list[str], list[str]]:
    """Return (entry or group, the command words used, the remaining args)."""
    if not args:
        return None, [], []
    name = args[0]
    if name in COMMANDS:
        return COMMANDS[name], [name], args[1:]
    group = GROUPS.get(name)
    if group is None:
        return None, [name], args[1:]
    if len(args) < 2 or args[1].startswith("-"):
        return group, [name], args[1:]
    entry = group.find(args[1])
    return entry, [name, args[1]], args[2:]


# -- cluster commands: cluster (alias swarm), node, service, stack --------------
_CLU = "shoal.cli.commands.cluster"
_NODE = "shoal.cli.commands.node"
_SVC = "shoal.cli.commands.service"
_STK = "shoal.cli.commands.stack"

_CLUSTER = {
    "init": Entry(_CLU, "init", "Initialize a cluster"),
    "join": Entry(_CLU, "join", "Join a cluster as a node and/or manager"),
    "join-token": Entry(_CLU, "join_token", "Manage join tokens"),
    "leave": Entry(_CLU, "leave", "Leave the cluster"),
    "inspect": Entry(_CLU, "inspect", "Display detailed information on the cluster"),
    "update": Entry(_CLU, "update", "Update the cluster"),
}
GROUPS["cluster"] = Group("Manage the cluster", _CLUSTER)
GROUPS["swarm"] = Group("Manage the cluster (same as 'shoal cluster')", _CLUSTER)
GROUPS["node"] = Group("Manage cluster nodes", {
    "demote": Entry(_NODE, "demote", "Demote one or more nodes from manager in the cluster"),
    "inspect": Entry(_NODE, "inspect", "Display detailed information on one or more nodes"),
    "ls": Entry(_NODE, "ls", "List nodes in the cluster"),
    "promote": Entry(_NODE, "promote", "Promote one or more nodes to manager in the cluster"),
    "ps": Entry(_NODE, "ps", "List tasks running on one or more nodes, defaults to current node"),
    "rm": Entry(_NODE, "rm", "Remove one or more nodes from the cluster"),
    "update": Entry(_NODE, "update", "Update a node"),
}, {"list": "ls", "remove": "rm"})
GROUPS["service"] = Group("Manage cluster services", {
    "create": Entry(_SVC, "create", "Create a new service"),
    "inspect": Entry(_SVC, "inspect", "Display detailed information on one or more services"),
    "logs": Entry("shoal.cli.commands.service_logs", "logs",
                  "Fetch the logs of a service or task"),
    "ls": Entry(_SVC, "ls", "List services"),
    "ps": Entry(_SVC, "ps", "List the tasks of one or more services"),
    "rm": Entry(_SVC, "rm", "Remove one or more services"),
    "rollback": Entry(_SVC, "rollback", "Revert changes to a service's configuration"),
    "scale": Entry(_SVC, "scale", "Scale one or multiple replicated services"),
    "update": Entry(_SVC, "update", "Update a service"),
}, {"list": "ls", "remove": "rm"})
GROUPS["stack"] = Group("Manage stacks (Compose files deployed as services)", {
    "deploy": Entry(_STK, "deploy", "Deploy a new stack or update an existing stack"),
    "ls": Entry(_STK, "ls", "List stacks"),
    "ps": Entry(_STK, "ps", "List the tasks in the stack"),
    "rm": Entry(_STK, "rm", "Remove one or more stacks"),
    "services": Entry(_STK, "services", "List the services in the stack"),
}, {"list": "ls", "remove": "rm", "down": "rm", "up": "deploy"})


# -- lab clusters (docs/lab.md) -------------------------------------------------
_LAB = "shoal.cli.commands.lab"
GROUPS["lab"] = Group("Manage lab clusters (hosts in network namespaces on this machine)", {
    "up": Entry(_LAB, "up", "Create a lab cluster and print its hosts"),
    "ls": Entry(_LAB, "ls", "List lab clusters"),
    "down": Entry(_LAB, "down", "Remove lab clusters, leaving nothing behind"),
    "env": Entry(_LAB, "env", "Print the export line that points shoal at a lab host"),
    "kill": Entry(_LAB, "kill", "Power a lab host off (kill all its processes, cut its link)"),
    "cut": Entry(_LAB, "cut", "Cut a lab host's underlay link"),
    "restore": Entry(_LAB, "restore", "Restore a lab host's underlay link"),
    "start": Entry(_LAB, "start", "Boot a lab host (restore its link, start its daemon)"),
    "stop": Entry(_LAB, "stop", "Stop a lab host's daemon (SIGTERM; containers keep running)"),
}, {"list": "ls", "create": "up", "rm": "down", "delete": "down"})


# -- builds (docs/build.md) -------------------------------------------------------
_BLD = "shoal.cli.commands.build"
COMMANDS["build"] = Entry(_BLD, "build", "Build an image from a Dockerfile")
COMMANDS["history"] = Entry(_BLD, "history", "Show the history of an image")
_IMAGE["build"] = COMMANDS["build"]
_IMAGE["history"] = COMMANDS["history"]
_IMAGE["prune"] = Entry(_BLD, "image_prune", "Remove unused images")
GROUPS["builder"] = Group("Manage builds", {
    "build": COMMANDS["build"],
    "prune": Entry(_BLD, "builder_prune", "Remove build cache"),
})
