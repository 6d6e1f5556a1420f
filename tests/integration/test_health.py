"""The probes a load balancer uses (GitLab's names): /-/health answers while the process
runs; /-/readiness answers 200 while both stores answer and 503, naming the failing store,
when one does not — and 200 again once it is back, without a restart."""
import os
import socket

import pytest
import requests

from conftest import S3, S3_MODE, Depot


def test_health_and_readiness(depot):
    r = requests.get(depot.url + "/-/health")
    assert (r.status_code, r.text, r.headers["Content-Type"]) == \
        (200, "depot OK", "text/plain; charset=utf-8")
    r = requests.get(depot.url + "/-/readiness")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "meta_check": [{"status": "ok"}],
                        "blobs_check": [{"status": "ok"}]}
    assert requests.head(depot.url + "/-/health").status_code == 200


BLOBS_DOWN = {"status": "failed", "meta_check": [{"status": "ok"}],
              "blobs_check": [{"status": "failed", "message": "the blob store does not answer"}]}


@pytest.mark.skipif(not S3_MODE, reason="needs DEPOT_TEST_BLOBS=s3 (an RGW)")
def test_readiness_fails_while_the_object_store_is_unreachable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # nothing listens once closed
    d = Depot()
    d.blobs = d.blobs.replace(S3["rgw"].endpoint, f"http://127.0.0.1:{dead}")
    d.start("--gc-interval", "0")
    try:
        r = requests.get(d.url + "/-/readiness")
        assert (r.status_code, r.json()) == (503, BLOBS_DOWN)
        assert requests.get(d.url + "/-/health").status_code == 200
    finally:
        d.close()


@pytest.mark.skipif(S3_MODE, reason="about the local disk's blob store")
def test_readiness_fails_while_a_store_is_gone():
    d = Depot().start()
    try:
        blobs = os.path.join(d.data, "blobs")
        os.rename(blobs, blobs + ".away")  # the blob store's disk, unmounted say
        for _ in range(5):  # a load balancer probes every second or so
            r = requests.get(d.url + "/-/readiness")
            assert (r.status_code, r.json()) == (503, BLOBS_DOWN)
        assert requests.get(d.url + "/-/health").status_code == 200  # the process is fine
        # said once, not once per probe
        assert d.server_log().count("readiness: the blob store does not answer") == 1
        os.rename(blobs + ".away", blobs)
        for _ in range(3):
            assert requests.get(d.url + "/-/readiness").status_code == 200
        assert d.server_log().count("readiness: the blob store answers again") == 1
    finally:
        d.close()
