"""Docker's merge rules for Config, and HostConfig validation."""

import pytest

from shoal.engine.containers.config import (
    merge_config,
    merge_env,
    parse_signal,
    validate_host_config,
)
from shoal.engine.containers.errors import InvalidConfig

IMAGE = {
    "Env": ["PATH=/bin", "A=1"],
    "Cmd": ["sh"],
    "Entrypoint": None,
    "WorkingDir": "/srv",
    "User": "app",
    "Labels": {"from": "image"},
    "StopSignal": "SIGUSR1",
}


def test_request_cmd_overrides_image_cmd():
    cfg = merge_config(IMAGE, {"Cmd": ["echo", "hi"]})
    assert cfg["Cmd"] == ["echo", "hi"]
    assert cfg["WorkingDir"] == "/srv" and cfg["User"] == "app"
    assert cfg["StopSignal"] == "SIGUSR1"


def test_image_cmd_used_when_request_has_none():
    assert merge_config(IMAGE, {})["Cmd"] == ["sh"]


def test_entrypoint_in_request_resets_image_cmd():
    cfg = merge_config(IMAGE, {"Entrypoint": ["/bin/true"]})
    assert cfg["Entrypoint"] == ["/bin/true"]
    assert cfg["Cmd"] is None


def test_env_merged_by_key_request_wins():
    assert merge_env(["A=1", "B=2"], ["B=3", "C=4"]) == ["A=1", "B=3", "C=4"]


def test_labels_merged():
    cfg = merge_config(IMAGE, {"Labels": {"x": "y"}})
    assert cfg["Labels"] == {"from": "image", "x": "y"}


def test_missing_command_is_an_error():
    with pytest.raises(InvalidConfig, match="No command specified"):
        merge_config({}, {})


def test_relative_workdir_is_an_error():
    with pytest.raises(InvalidConfig, match="absolute path"):
        merge_config(IMAGE, {"WorkingDir": "rel"})


@pytest.mark.parametrize("value,num", [("KILL", 9), ("SIGTERM", 15), ("9", 9), (2, 2)])
def test_parse_signal(value, num):
    assert parse_signal(value) == num


def test_parse_signal_rejects_unknown():
    with pytest.raises(InvalidConfig, match="Invalid signal: SIGNOPE"):
        parse_signal("SIGNOPE")


def test_memory_below_minimum_rejected():
    with pytest.raises(InvalidConfig, match="Minimum memory limit allowed is 6MB"):
        validate_host_config({"Memory": 1024})


def test_negative_memory_rejected():
    with pytest.raises(InvalidConfig, match="negative"):
        validate_host_config({"Memory": -5})


def test_memory_must_be_an_integer():
    with pytest.raises(InvalidConfig, match="HostConfig.Memory must be an integer"):
        validate_host_config({"Memory": "12x"})


def test_too_many_cpus_rejected():
    with pytest.raises(InvalidConfig, match="Range of CPUs"):
        validate_host_config({"NanoCpus": 10_000 * 1_000_000_000})


def test_container_network_mode_rejected():
    with pytest.raises(InvalidConfig, match="unsupported network mode"):
        validate_host_config({"NetworkMode": "container:abc"})


def test_defaults_filled():
    hc = validate_host_config({})
    assert hc["NetworkMode"] == "default" and hc["AutoRemove"] is False
