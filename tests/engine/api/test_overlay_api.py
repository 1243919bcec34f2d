"""The overlay primitive through the REST API: create, program peers and endpoints, remove."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.root

VNI = "com.docker.network.driver.overlay.vxlanid_list"


def test_overlay_network_rest_lifecycle(clean):
    st, body = clean.api("POST", "/networks/create", {
        "Name": "ov-rest", "Driver": "overlay", "Options": {VNI: "4711"},
        "IPAM": {"Config": [{"Subnet": "10.177.33.0/24"}]},
    })
    assert st == 201, body
    nid = body["Id"]
    st, info = clean.api("GET", f"/networks/{nid}")
    assert st == 200 and info["Driver"] == "overlay"
    assert info["IPAM"]["Config"][0]["Subnet"] == "10.177.33.0/24"
    # remote VTEPs are loopback here: programming FDB/neighbour entries sends nothing
    assert clean.api("POST", f"/networks/{nid}/peers", {"Vtep": "127.0.0.1"})[0] == 204
    st, _ = clean.api("POST", f"/networks/{nid}/endpoints", {
        "IP": "10.177.33.9", "MAC": "02:42:0a:b1:21:09", "Vtep": "127.0.0.1", "Name": "far"})
    assert st == 204
    assert clean.api("DELETE", f"/networks/{nid}/endpoints/10.177.33.9")[0] == 204
    assert clean.api("DELETE", f"/networks/{nid}/peers/127.0.0.1")[0] == 204
    st, body = clean.api("POST", "/networks/create", {"Name": "ov-bad", "Driver": "overlay"})
    assert st == 400 and "vxlanid_list" in body["message"]
    assert clean.api("DELETE", f"/networks/{nid}")[0] == 204
    assert clean.api("GET", f"/networks/{nid}")[0] == 404
