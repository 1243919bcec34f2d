"""Container ids and names: generation and validation, as Docker does them."""

from __future__ import annotations

import re
import secrets

from shoal.engine.errors import InvalidArgument

_NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

_LEFT = (
    "admiring agile bold brave calm clever dazzling eager elated fervent focused gallant "
    "gifted happy jolly keen lucid modest nifty optimistic quirky relaxed serene sharp "
    "stoic sweet tender trusting vibrant wizardly zealous"
).split()
_RIGHT = (
    "anchovy barracuda carp dolphin eel flounder grouper herring koi mackerel marlin "
    "minnow perch pike salmon sardine shark snapper sturgeon trout tuna wrasse"
).split()


def new_id() -> str:
    """Return a fresh 64-hex container id."""
    return secrets.token_hex(32)


def random_name() -> str:
    """Return a Docker-style generated name (adjective_fish)."""
    return f"{secrets.choice(_LEFT)}_{secrets.choice(_RIGHT)}"


def validate_name(name: str) -> str:
    """Check NAME and return it without a leading slash; raise InvalidArgument if malformed."""
    if not _NAME_RE.match(name):
        raise InvalidArgument(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return name.lstrip("/")
