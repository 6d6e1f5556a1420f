"""GET /-/metrics: Prometheus's text format (0.0.4), parsed with Prometheus's own Python
parser. The counters move with the requests this file makes (an upload, downloads, a 404, a
401), histograms are cumulative and agree with the request counts, the gauges follow open
connections and uploads under way, and the page answers loopback and the --metrics-allow
ranges only (decided on the client address: behind --trusted-proxy, the one X-Forwarded-For
names), 404 to anyone else. Each process counts its own requests, so every request here
goes to one node (direct_url)."""
import http.client
import os
import socket
import urllib.parse
import subprocess
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import DEPOT, S3_MODE, Depot, generic_path, setup_world, unique

GENERIC_FILE = "/api/v4/projects/:id/packages/generic/:name/:version/*file"
ALLOW = ["--metrics-allow", "10.0.0.0/8", "--metrics-allow", "2001:db8::/32, 192.0.2.7"]


@pytest.fixture(scope="module")
def d():
    d = Depot().start("--trusted-proxy", "127.0.0.1", *ALLOW)
    d.pid_, d.headers = setup_world(d)
    yield d
    d.close()


def scrape(d, headers=None):
    """{(name, ((label, value), ...)): value} and {family name: type}."""
    r = requests.get(d.direct_url + "/-/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples, types = {}, {}
    for fam in text_string_to_metric_families(r.text):
        types[fam.name] = fam.type
        for s in fam.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in samples, key  # each series once
            samples[key] = s.value
    return samples, types


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def scrape_until(d, ok, what):
    """A request's counters move once its last byte is sent, which the client may see a
    moment before: read again until ok(samples) holds (a condition, not a duration)."""
    deadline = time.time() + 30
    while True:
        samples, _ = scrape(d)
        if ok(samples):
            return samples
        assert time.time() < deadline, f"{what}: {samples}"
        time.sleep(0.05)


def requests_of(samples, method, route, status):
    return value(samples, "depot_http_requests_total", method=method, route=route,
                 status=str(status))


def test_counters_move_with_requests(d):
    before, types = scrape(d)
    assert types["depot_http_requests"] == "counter"  # the parser drops "_total"
    assert types["depot_http_request_duration_seconds"] == "histogram"
    assert types["depot_commit_batch_size"] == "histogram"
    assert types["depot_http_open_connections"] == "gauge"
    assert types["depot_staged_uploads"] == "gauge"
    name = unique()
    body = os.urandom(3000)
    url = d.direct_url + "/api/v4" + generic_path(d.pid_, name, "1.0.0", "a.bin")
    assert requests.put(url, data=body, headers=d.headers).status_code == 201
    for _ in range(2):
        r = requests.get(url, headers=d.headers)
        assert (r.status_code, r.content) == (200, body)
    missing = d.direct_url + "/api/v4" + generic_path(d.pid_, name, "1.0.0", "nope.bin")
    assert requests.get(missing, headers=d.headers).status_code == 404
    # every GET has a route (the web pages take the rest); a PATCH nothing takes is unmatched
    assert requests.patch(d.direct_url + "/api/v4/no/such/route").status_code == 404
    r = requests.put(d.direct_url + "/api/v4" + generic_path(d.pid_, name, "1.0.0", "b.bin"), data=b"x",
                     headers={"PRIVATE-TOKEN": "glpat-not-a-token"})
    assert r.status_code == 401

    def delta(after, name_, **labels):
        return value(after, name_, **labels) - value(before, name_, **labels)

    def moved(after):
        return (requests_of(after, "PUT", GENERIC_FILE, 401) -
                requests_of(before, "PUT", GENERIC_FILE, 401)) == 1

    after = scrape_until(d, moved, "the last request is not counted")
    # by route pattern, never by the raw URL (which holds names and ids)
    assert not [k for k in after if name in str(k)]
    assert requests_of(after, "PUT", GENERIC_FILE, 201) - \
        requests_of(before, "PUT", GENERIC_FILE, 201) == 1
    assert requests_of(after, "GET", GENERIC_FILE, 200) - \
        requests_of(before, "GET", GENERIC_FILE, 200) == 2
    assert requests_of(after, "GET", GENERIC_FILE, 404) - \
        requests_of(before, "GET", GENERIC_FILE, 404) == 1
    assert requests_of(after, "PATCH", "unmatched", 404) - \
        requests_of(before, "PATCH", "unmatched", 404) == 1
    assert delta(after, "depot_uploads_total") == 1
    assert delta(after, "depot_upload_bytes_total") == 3000
    assert delta(after, "depot_downloads_total", kind="file") == 2
    assert delta(after, "depot_downloads_total", kind="archive") == 0
    assert delta(after, "depot_download_bytes_total") == 6000
    # the bodies received: the upload's and the refused one's (read and dropped)
    assert delta(after, "depot_http_received_bytes_total") == 3001
    assert delta(after, "depot_http_sent_bytes_total") >= 6000
    # the upload and its duration: one more in the route's histogram
    dur = "depot_http_request_duration_seconds_count"
    assert delta(after, dur, method="PUT", route=GENERIC_FILE) == 2  # 201 and 401
    assert delta(after, dur, method="GET", route=GENERIC_FILE) == 3
    assert delta(after, "depot_store_errors_total", kind="failed") == 0
    assert delta(after, "depot_store_errors_total", kind="unavailable") == 0


def test_group_commit_batches_are_counted(d):
    before, _ = scrape(d)
    name = unique()
    for i in range(3):
        url = d.direct_url + "/api/v4" + generic_path(d.pid_, name, "1.0.0", f"f{i}.txt")
        assert requests.put(url, data=b"small", headers=d.headers).status_code == 201
    after = scrape_until(
        d, lambda s: value(s, "depot_uploads_total") - value(before, "depot_uploads_total") == 3,
        "uploads not counted")
    # three small uploads one after the other: three batches of one (or fewer, larger)
    batches = value(after, "depot_commit_batch_size_count") - \
        value(before, "depot_commit_batch_size_count")
    uploads = value(after, "depot_commit_batch_size_sum") - \
        value(before, "depot_commit_batch_size_sum")
    assert uploads == 3 and 1 <= batches <= 3


def histograms(samples, name):
    """{labels without le: [(le, cumulative count)...]} in the order of le."""
    series = {}
    for (n, labels), v in samples.items():
        if n == name + "_bucket":
            le = dict(labels)["le"]
            rest = tuple(kv for kv in labels if kv[0] != "le")
            series.setdefault(rest, []).append((float(le), v))
    return {k: sorted(v) for k, v in series.items()}


def requests_by_series(samples):
    """{(method, route) labels: requests answered, whatever their status}"""
    totals = {}
    for (n, labels), v in samples.items():
        if n == "depot_http_requests_total":
            key = tuple(kv for kv in labels if kv[0] != "status")
            totals[key] = totals.get(key, 0) + v
    return totals


def test_histograms_are_cumulative_and_consistent(d):
    assert requests.get(d.direct_url + "/-/health").status_code == 200
    # every route's duration count is its requests, whatever their status (read again if a
    # request, a load balancer's probe say, ended between the two)
    samples = scrape_until(
        d, lambda s: requests_by_series(s) == {
            k: v[-1][1] for k, v in histograms(s, "depot_http_request_duration_seconds").items()},
        "duration counts differ from request counts")
    assert requests_by_series(samples)[(("method", "GET"), ("route", "/-/health"))] >= 1
    for name in ["depot_http_request_duration_seconds", "depot_commit_batch_size"]:
        series = histograms(samples, name)
        assert series, name
        bounds = None
        for labels, buckets in series.items():
            les = [le for le, _ in buckets]
            assert les[-1] == float("inf"), (name, labels)
            assert bounds in (None, les), "every series has the same buckets"
            bounds = les
            counts = [c for _, c in buckets]
            assert counts == sorted(counts), (name, labels, buckets)  # cumulative
            assert samples[(name + "_count", labels)] == counts[-1], (name, labels)
            assert samples[(name + "_sum", labels)] >= 0


def test_open_connections_and_uploads_under_way(d):
    host, port = d.direct_url.split("//")[1].split(":")
    idle = [socket.create_connection((host, int(port))) for _ in range(3)]
    upload = socket.create_connection((host, int(port)))
    try:
        scrape_until(d, lambda s: value(s, "depot_http_open_connections") >= 5,
                     "connections not counted")  # 3 idle, 1 upload, the scrape's own
        path = "/api/v4" + generic_path(d.pid_, unique(), "1.0.0", "slow.bin")
        upload.sendall((f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                        f"PRIVATE-TOKEN: {d.headers['PRIVATE-TOKEN']}\r\n\r\n").encode()
                       + b"y" * 10)
        scrape_until(d, lambda s: value(s, "depot_staged_uploads") == 1, "upload not under way")
    finally:
        upload.close()
        for s in idle:
            s.close()
    samples = scrape_until(d, lambda s: value(s, "depot_staged_uploads") == 0 and
                           value(s, "depot_http_open_connections") < 5, "still counted")
    assert value(samples, "depot_http_open_connections") >= 1  # the scrape's own


@pytest.mark.skipif(S3_MODE, reason="makes the local disk's staging directory vanish")
def test_store_errors_are_counted(d):
    before, _ = scrape(d)
    tmp = os.path.join(d.data, "tmp")
    os.rename(tmp, tmp + ".away")  # where uploads are staged: gone
    try:
        url = d.direct_url + "/api/v4" + generic_path(d.pid_, unique(), "1.0.0", "f.bin")
        # above 64 KiB: staged in tmp/ rather than kept in memory
        r = requests.put(url, data=b"d" * (100 << 10), headers=d.headers)
        assert (r.status_code, r.json()) == (500, {"message": "500 Internal Server Error"})
    finally:
        os.rename(tmp + ".away", tmp)
    # the request is counted when it completes, which may be just after the client has its
    # answer: wait for both counters
    after = scrape_until(d, lambda s: value(s, "depot_store_errors_total", kind="failed") -
                         value(before, "depot_store_errors_total", kind="failed") == 1 and
                         requests_of(s, "PUT", GENERIC_FILE, 500) -
                         requests_of(before, "PUT", GENERIC_FILE, 500) == 1,
                         "store error or its request not counted")
    assert value(after, "depot_uploads_total") == value(before, "depot_uploads_total")


NOT_FOUND = {"error": "404 Not Found"}


@pytest.mark.parametrize("client, allowed", [
    (None, True),  # loopback itself
    ("10.1.2.3", True), ("10.255.255.255", True), ("11.0.0.1", False),
    ("2001:db8::5", True), ("2001:db8:ffff::1", True), ("2001:db9::1", False),
    ("192.0.2.7", True), ("192.0.2.8", False), ("203.0.113.9", False),
    ("::ffff:10.1.2.3", True),  # an IPv4 client of a dual-stack socket
    # the proxy appends the address it saw last: earlier ones come from the client
    ("10.1.2.3, 203.0.113.9", False), ("203.0.113.9, 10.1.2.3", True),
    ("not-an-address", True),  # not an address: the connection's own (loopback) counts
])
def test_allowlist_decides_on_the_client_address(d, client, allowed):
    headers = {"X-Forwarded-For": client} if client else {}
    r = requests.get(d.direct_url + "/-/metrics", headers=headers)
    if allowed:
        assert r.status_code == 200 and "depot_http_requests_total" in r.text
    else:
        assert (r.status_code, r.json(), r.headers["Content-Type"]) == \
            (404, NOT_FOUND, "application/json")


def test_each_request_of_a_connection_names_its_own_forwarded_client(d):
    """The peer's address is found once per connection, X-Forwarded-For for each request:
    requests on one keep-alive connection are allowed or refused each on its own header."""
    u = urllib.parse.urlsplit(d.direct_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    statuses, socks = [], []
    for client in ["10.1.2.3", "203.0.113.9", None, "11.0.0.1", "10.1.2.3"]:
        conn.request("GET", "/-/metrics", headers={"X-Forwarded-For": client} if client else {})
        r = conn.getresponse()
        r.read()
        statuses.append(r.status)
        socks.append(conn.sock)
    conn.close()
    assert all(s is socks[0] for s in socks)  # one connection throughout
    assert statuses == [200, 404, 200, 404, 200]


@pytest.mark.parametrize("value_", ["10.0.0.0/33", "nope", "10.0.0.0/", "", "10.0.0.0/8,",
                                    "::/129", "10.0.0.1 10.0.0.2"])
def test_bad_allowlist_refused_at_start(tmp_path, value_):
    """Checked before anything starts: nothing is created in the data directory."""
    r = subprocess.run([DEPOT, "serve", "--data", str(tmp_path), "--listen", "127.0.0.1:0",
                        "--metrics-allow", "10.0.0.0/8", "--metrics-allow", value_],
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == ("depot: --metrics-allow takes IP addresses or ranges (10.0.0.0/8, "
                        f"2001:db8::/32), separated by commas, not '{value_}'\n")
    assert os.listdir(tmp_path) == []


def test_allowlist_of_too_many_values_refused(tmp_path):
    args = [a for i in range(17) for a in ("--metrics-allow", f"10.0.0.{i}")]
    r = subprocess.run([DEPOT, "serve", "--data", str(tmp_path), *args], capture_output=True,
                       text=True, timeout=60)
    assert (r.returncode, r.stderr) == (2, "depot: --metrics-allow is given more than 16 times\n")
    assert os.listdir(tmp_path) == []


def test_serve_help_lists_the_option():
    out = subprocess.run([DEPOT, "serve", "--help"], capture_output=True, text=True).stdout
    assert "\n  --metrics-allow CIDR " in out
