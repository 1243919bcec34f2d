"""A container's Healthcheck: the request's fields over the image's, as Docker merges them."""

from __future__ import annotations

from shoal.engine.containers.config import merge_config
from shoal.engine.containers.health import effective, merge

IMAGE = {"Cmd": ["sh"], "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30, "Retries": 4}}


def test_the_image_check_applies_when_the_request_sets_none() -> None:
    assert merge_config(IMAGE, {})["Healthcheck"] == IMAGE["Healthcheck"]
    assert merge_config({"Cmd": ["sh"]}, {})["Healthcheck"] is None


def test_given_fields_override_the_image_and_keep_its_test() -> None:
    hc = merge_config(IMAGE, {"Healthcheck": {"Interval": 5}})["Healthcheck"]
    assert hc == {"Test": ["CMD", "true"], "Interval": 5, "Retries": 4}
    hc = merge(IMAGE["Healthcheck"], {"Test": ["CMD-SHELL", "exit 0"]})
    assert hc is not None and hc["Test"] == ["CMD-SHELL", "exit 0"] and hc["Interval"] == 30


def test_none_disables_the_image_check() -> None:
    hc = merge_config(IMAGE, {"Healthcheck": {"Test": ["NONE"]}})["Healthcheck"]
    assert effective(hc) is None
