"""The probes a load balancer uses (GitLab's names): /-/health answers while the process
runs; /-/readiness answers 200 while both stores answer and 503, naming the failing store,
when one does not — and 200 again once it is back, without a restart."""
import os

import requests

from conftest import Depot, skip_in_s3


def test_health_and_readiness(depot):
    r = requests.get(depot.url + "/-/health")
    assert (r.status_code, r.text, r.headers["Content-Type"]) == \
        (200, "depot OK", "text/plain; charset=utf-8")
    r = requests.get(depot.url + "/-/readiness")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "meta_check": [{"status": "ok"}],
                        "blobs_check": [{"status": "ok"}]}
    assert requests.head(depot.url + "/-/health").status_code == 200


@skip_in_s3  # a local folder taken away (test_s3.py: an unreachable endpoint)
def test_readiness_fails_while_a_store_is_gone():
    d = Depot().start()
    try:
        blobs = os.path.join(d.data, "blobs")
        os.rename(blobs, blobs + ".away")  # the blob store's disk, unmounted say
        r = requests.get(d.url + "/-/readiness")
        assert r.status_code == 503
        assert r.json() == {"status": "failed", "meta_check": [{"status": "ok"}],
                            "blobs_check": [{"status": "failed",
                                             "message": "the blob store does not answer"}]}
        assert requests.get(d.url + "/-/health").status_code == 200  # the process is fine
        assert "readiness: the blob store does not answer" in d.server_log()
        os.rename(blobs + ".away", blobs)
        assert requests.get(d.url + "/-/readiness").status_code == 200
    finally:
        d.close()
