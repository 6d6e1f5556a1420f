"""Hostile input and resource exhaustion: malformed and smuggling-shaped HTTP requests each
get their exact status and change nothing; failed authentications are logged (never the
secret) and throttled with 429 + Retry-After; 500 slow connections from another address do
not starve a normal client; idle connections are closed."""
import http.client
import json
import os
import socket
import time

import pytest
import requests

from conftest import read_response_head, Depot, World, generic_path, unique, skip_in_nodes

P = "/api/v4/projects/{pid}/packages/generic/p/1/f.bin"

# (name, raw request with {P} and {T}, expected status)
BAD = [
    ("huge header", "PUT {P} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {T}\r\nX-Big: " + "a" * 40000 +
     "\r\nContent-Length: 1\r\n\r\nx", 431),
    ("negative Content-Length", "PUT {P} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {T}\r\n"
     "Content-Length: -1\r\n\r\nx", 400),
    ("huge Content-Length", "PUT {P} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {T}\r\n"
     "Content-Length: 99999999999999999999999\r\n\r\nx", 413),
    ("Content-Length and Transfer-Encoding", "PUT {P} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {T}\r\n"
     "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("two Content-Lengths", "PUT {P} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {T}\r\n"
     "Content-Length: 1\r\nContent-Length: 2\r\n\r\nxx", 400),
    ("bad chunk size", "PUT {P} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {T}\r\n"
     "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
    ("overflowing chunk size", "PUT {P} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {T}\r\n"
     "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nabc\r\n0\r\n\r\n", 413),
    ("unsupported Transfer-Encoding", "PUT {P} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {T}\r\n"
     "Transfer-Encoding: gzip\r\n\r\nxx", 501),
    ("control byte in a header", "PUT {P} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {T}\r\n"
     "X-A: a\x01b\r\nContent-Length: 1\r\n\r\nx", 400),
    ("space before the colon", "PUT {P} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN : {T}\r\n"
     "Content-Length: 1\r\n\r\nx", 400),
    ("control byte in the path", "PUT {P}\x01 HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {T}\r\n"
     "Content-Length: 1\r\n\r\nx", 400),
    ("no Host in HTTP/1.1", "PUT {P} HTTP/1.1\r\nPRIVATE-TOKEN: {T}\r\nContent-Length: 1\r\n\r\nx", 400),
    ("NUL byte in the path", "PUT {P}\x00.evil HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {T}\r\n"
     "Content-Length: 1\r\n\r\nx", 400),
    ("NUL byte in the query", "PUT {P}?status=default\x00x HTTP/1.1\r\nHost: x\r\n"
     "PRIVATE-TOKEN: {T}\r\nContent-Length: 1\r\n\r\nx", 400),
    ("NUL byte before the query", "PUT {P}\x00x?select=package_file HTTP/1.1\r\nHost: x\r\n"
     "PRIVATE-TOKEN: {T}\r\nContent-Length: 1\r\n\r\nx", 400),
    ("CR in the path", "GET /api/v4/user\rX HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("ESC in the path", "PUT {P}\x1b[2J HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {T}\r\n"
     "Content-Length: 1\r\n\r\nx", 400),
    ("tab in the path", "GET /api/v4/us\ter HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("DEL in the path", "GET /api/v4/user\x7f HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("control byte in a query value", "PUT {P}?status=default\x1b HTTP/1.1\r\nHost: x\r\n"
     "PRIVATE-TOKEN: {T}\r\nContent-Length: 1\r\n\r\nx", 400),
    ("control byte in a query key", "GET /api/v4/user?a\rb=1 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("request target over 4096 bytes", "GET /api/v4/user?x=" + "a" * 4090 +
     " HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("overlong URL", "GET /api/v4/" + "a" * 40000 + " HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("unknown HTTP version", "GET {P} HTTP/9.9\r\nHost: x\r\n\r\n", 505),
    ("absolute URI to another host", "PUT http://evil{P} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {T}\r\n"
     "Content-Length: 1\r\n\r\nx", 404),
    ("lower-case method", "put {P} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {T}\r\n"
     "Content-Length: 1\r\n\r\nx", 404),
    ("TRACE", "TRACE {P} HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    ("Basic with no colon", "PUT {P} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic bm9jb2xvbg==\r\n"
     "Content-Length: 1\r\n\r\nx", 401),
    ("overlong token", "PUT {P} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: " + "t" * 9000 +
     "\r\nContent-Length: 1\r\n\r\nx", 401),
]


def raw(depot, data, source=None):
    host, port = depot.direct_url.rsplit("/", 1)[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=5, source_address=source)
    s.sendall(data.encode("latin-1"))
    try:
        return read_response_head(s)
    finally:
        s.close()


@pytest.mark.parametrize("name,req,status", BAD, ids=[b[0] for b in BAD])
def test_bad_requests(depot, world, name, req, status):
    before = (depot.query("SELECT COUNT(*) FROM package_files")[0][0], depot.blob_files(),
              depot.inline_count(), depot.tmp_files())
    req = req.replace("{P}", P.format(pid=world.pid("acme/app"))).replace("{T}", world.pat["dev"])
    head = raw(depot, req)
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), head[:200]
    after = (depot.query("SELECT COUNT(*) FROM package_files")[0][0], depot.blob_files(),
             depot.inline_count(), depot.tmp_files())
    assert after == before


@pytest.fixture(scope="module")
def limited():
    d = Depot()
    d.start("--auth-failures-per-minute", "5", "--idle-timeout", "2")
    w = World(d)
    yield d, w
    d.close()


@skip_in_nodes  # each node counts for itself: test_nodes.py shows it
def test_failed_authentications_logged_and_throttled(limited):
    d, w = limited
    url = d.api(generic_path(w.pid("acme/app"), unique(), "1.0", "f"))
    for _ in range(5):
        assert requests.get(url, headers={"PRIVATE-TOKEN": "glpat-guessing"}).status_code == 401
    r = requests.get(url, headers={"PRIVATE-TOKEN": w.pat["dev"]})
    assert r.status_code == 429
    assert r.json() == {"message": "429 Too Many Requests"}
    assert 0 < int(r.headers["Retry-After"]) <= 60
    # another address is not affected
    host, port = d.url.rsplit("/", 1)[1].split(":")
    c = http.client.HTTPConnection(host, int(port), source_address=("127.0.0.2", 0))
    c.request("GET", url.split(d.url, 1)[1], headers={"PRIVATE-TOKEN": w.pat["dev"]})
    assert c.getresponse().status == 404  # authenticated; the file does not exist
    log = d.server_log()
    assert "authentication failed from 127.0.0.1: unknown credentials" in log
    assert "glpat-guessing" not in log and w.pat["dev"] not in log


def test_failed_authentication_line_without_a_token_id(limited):
    """Regression: the line read "unknown credentials0" when no token id was known."""
    d, w = limited
    host, port = d.url.rsplit("/", 1)[1].split(":")
    for headers in [{"PRIVATE-TOKEN": "glpat-guessing"}, {"DEPLOY-TOKEN": "gldt-guessing"}]:
        c = http.client.HTTPConnection(host, int(port), source_address=("127.0.0.5", 0))
        c.request("GET", "/api/v4/user", headers=headers)
        assert c.getresponse().status == 401
    lines = [l for l in d.server_log().splitlines() if "authentication failed from 127.0.0.5" in l]
    assert len(lines) == 2
    assert all(l.endswith(": authentication failed from 127.0.0.5: unknown credentials")
               for l in lines), lines


def test_expired_token_failure_names_the_token(limited):
    d, w = limited
    host, port = d.url.rsplit("/", 1)[1].split(":")
    c = http.client.HTTPConnection(host, int(port), source_address=("127.0.0.3", 0))
    c.request("GET", f"/api/v4/projects/{w.pid('acme/app')}/packages/generic/p/1/f",
              headers={"PRIVATE-TOKEN": w.pat_expired})
    assert c.getresponse().status == 401
    (tid,), = d.query("SELECT id FROM tokens WHERE expires_at != 0 AND expires_at < 1700000000000")
    assert f"authentication failed from 127.0.0.3: expired token, token {tid}" in d.server_log()


def test_idle_connections_are_closed(limited):
    d, w = limited
    host, port = d.direct_url.rsplit("/", 1)[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=10, source_address=("127.0.0.4", 0))
    s.sendall(b"GET /api/v4/user HTTP/1.1\r\nHo")  # and then nothing
    t = time.time()
    assert s.recv(100) == b""  # closed by the server
    assert 1 <= time.time() - t < 8
    s.close()


def test_slow_clients_do_not_starve_others(world, depot):
    """500 connections from 127.0.0.2 that dribble their headers; a client on 127.0.0.1
    still uploads and downloads 1 MiB in its usual time."""
    host, port = depot.url.rsplit("/", 1)[1].split(":")
    url = depot.api(generic_path(world.pid("acme/app"), unique(), "1.0", "f.bin"))
    body = os.urandom(1 << 20)
    h = {"PRIVATE-TOKEN": world.pat["dev"]}
    t = time.time()
    assert requests.put(url, data=body, headers=h).status_code == 201
    assert requests.get(url, headers=h).content == body
    usual = time.time() - t
    slow = []
    for _ in range(500):
        try:
            s = socket.create_connection((host, int(port)), timeout=2, source_address=("127.0.0.2", 0))
            s.sendall(b"PUT /api/v4/projects/1/packages/generic/p/1/f HTTP/1.1\r\nHost: x\r\n")
            slow.append(s)
        except OSError:
            break  # the per-address limit refuses the rest
    try:
        for s in slow[:50]:
            s.sendall(b"X-Slow: 1\r\n")
        t = time.time()
        url2 = depot.api(generic_path(world.pid("acme/app"), unique(), "1.0", "f.bin"))
        assert requests.put(url2, data=body, headers=h, timeout=10).status_code == 201
        assert requests.get(url2, headers=h, timeout=10).content == body
        assert time.time() - t < max(2.0, 5 * usual)
    finally:
        for s in slow:
            s.close()


def audit(depot, *args):
    out = depot.cli("audit", *args).stdout
    return [json.loads(l) for l in out.splitlines()]


def wait_audit(depot, pred, *args):
    deadline = time.time() + 5
    while time.time() < deadline:
        events = audit(depot, *args)
        if pred(events):
            return events
        time.sleep(0.1)
    raise AssertionError(audit(depot, *args))


def test_audit_log(depot, world):
    name = unique("aud")
    url = depot.api(generic_path(world.pid("acme/app"), name, "1.0", "a.bin"))
    body = os.urandom(2000)
    assert requests.put(url, data=body, headers={"PRIVATE-TOKEN": world.pat["dev"]}).status_code == 201
    assert requests.get(url, headers={"DEPLOY-TOKEN": world.deploy_ro}).status_code == 200
    assert requests.delete(url, headers={"PRIVATE-TOKEN": world.pat["maint"]}).status_code == 204
    events = wait_audit(depot, lambda e: len(e) == 3, "--package", name)
    assert [e["action"] for e in events] == ["delete", "download", "upload"]  # newest first
    up = events[2]
    assert (up["user"], up["token_kind"], up["project_id"], up["version"], up["file_name"],
            up["size"], up["client"]) == ("dev", "personal", world.pid("acme/app"), "1.0",
                                          "a.bin", 2000, "127.0.0.1")
    import hashlib
    assert up["sha256"] == hashlib.sha256(body).hexdigest()
    assert events[1]["user"].startswith("gitlab+deploy-token-")
    assert events[0]["user"] == "maint"
    assert len(audit(depot, "--package", name, "--user", "dev")) == 1
    assert any(e["package"] == name for e in audit(depot, "--project", "acme/app"))
    # append-only: the database refuses changes
    import sqlite3
    with pytest.raises(sqlite3.IntegrityError):
        depot.query("DELETE FROM audit_log")
    with pytest.raises(sqlite3.IntegrityError):
        depot.query("UPDATE audit_log SET username = 'x'")


@skip_in_nodes  # two nodes' batches interleave their ids
def test_audit_batch_rows_in_order(depot, world):
    """A flush writes its events AUDIT_CHUNK (32) rows per INSERT and the rest one by one:
    100 downloads in quick succession (likely one flush: three chunks and a tail) come back
    as rows in request order, each with its own columns."""
    import hashlib
    name = unique("audb")
    pid = world.pid("acme/app")
    bodies = {f"f{i}.bin": os.urandom(100 + i) for i in range(5)}
    s = requests.Session()
    h = {"PRIVATE-TOKEN": world.pat["dev"]}
    for f, body in bodies.items():
        assert s.put(depot.api(generic_path(pid, name, "1.0", f)), data=body,
                     headers=h).status_code == 201
    order = [f"f{(i * 3) % 5}.bin" for i in range(100)]
    for f in order:
        assert s.get(depot.api(generic_path(pid, name, "1.0", f)), headers=h).status_code == 200
    sql = ("SELECT action, username, token_kind, project_id, version, file_name, size, sha256,"
           " client, detail FROM audit_log WHERE package = ? AND action = 'download' ORDER BY id")
    deadline = time.time() + 10
    rows = []
    while time.time() < deadline and len(rows) < len(order):
        rows = depot.query(sql, name)
        time.sleep(0.1)
    assert rows == [("download", "dev", "personal", pid, "1.0", f, len(bodies[f]),
                     hashlib.sha256(bodies[f]).hexdigest(), "127.0.0.1", "") for f in order]


def test_control_bytes_cannot_forge_log_lines(depot, world):
    """Regression: a raw CR or ESC in the request target reached the request log verbatim, so
    a client could write a line of its choosing or drive the terminal of whoever reads the
    log. Such targets answer 400; client text that is logged is escaped as \\xHH (bytes above
    0x7e and the backslash included), so one request is one log line."""
    for target in ["/api/v4/x\r2031-01-01T00:00:00.000Z_depot:_FORGED",
                   "/api/v4/x\x1b]0;owned\x07", "/api/v4/user?q=\rFORGED"]:
        s = socket.create_connection(tuple(depot.direct_url.rsplit("/", 1)[1].split(":")),
                                     timeout=5)
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode("latin-1"))
        resp = b""
        while chunk := s.recv(4096):
            resp += chunk
        s.close()
        assert resp.startswith(b"HTTP/1.1 400 "), resp
        assert resp.endswith(b'{"message":"400 Bad request - control character in the request '
                             b'target"}'), resp
    # bytes the target may carry but that a terminal may interpret: logged escaped
    head = raw(depot, "GET /api/v4/x\x9b31m\\x41\xff HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 "), head
    # the request's log line is written when it completes, just after the answer is sent
    deadline = time.time() + 10
    while True:
        with open(depot.log_path, "rb") as f:
            log = f.read()
        if b"GET /api/v4/x\\x9b31m" in log or time.time() > deadline:
            break
        time.sleep(0.05)
    assert b"\r" not in log and b"\x1b" not in log and b"\x07" not in log and b"\x9b" not in log
    assert b"\nFORGED" not in log and b"\n2031-01-01" not in log
    assert b"GET /api/v4/x\\x0d2031-01-01T00:00:00.000Z_depot:_FORGED 400 " in log
    assert b"GET /api/v4/x\\x1b]0;owned\\x07 400 " in log
    assert b"GET /api/v4/x\\x9b31m\\x5cx41\\xff 404 " in log
