"""Smoke tests of the real test servers: each does what depot's scale-out tests will rely
on, refuses what it must refuse, listens on 127.0.0.1 only, and leaves nothing behind."""
import hashlib
import http.server
import os
import re
import subprocess
import threading
import xml.etree.ElementTree as ET

import pytest
import requests

from .common import free_port, listening_addrs as listening
from .postgres import Postgres
from .haproxy import HAProxy
from .rgw import RGW

S3NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
MiB = 1 << 20


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---- PostgreSQL

def test_postgres_answers_with_the_password_from_the_environment(postgres_server):
    pg = postgres_server
    assert re.fullmatch(r"postgres://depot@127\.0\.0\.1:\d+/depot", pg.url)
    res = pg.psql("SELECT current_user, current_database(), inet_server_addr();")
    assert res.stdout.strip() == "depot|depot|127.0.0.1"
    # the password is nowhere on the server's or the client's command line
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    assert pg.password.encode() not in f.read()
            except OSError:
                pass


def test_postgres_refuses_a_wrong_or_missing_password(postgres_server):
    res = postgres_server.psql("SELECT 1;", password="not-the-password", check=False)
    assert res.returncode != 0
    assert 'password authentication failed for user "depot"' in res.stderr
    env = postgres_server.env()
    del env["PGPASSWORD"]
    res = subprocess.run(["/usr/lib/postgresql/15/bin/psql", "-X", "-w", "-d",
                          postgres_server.conninfo, "-c", "SELECT 1"], env=env,
                         capture_output=True, text=True, timeout=30)
    assert res.returncode != 0
    assert "no password supplied" in res.stderr


def test_postgres_listens_on_loopback_only(postgres_server):
    addrs = listening(postgres_server.proc.pid)
    assert addrs == [f"127.0.0.1:{postgres_server.port}"]


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_restart_keeps_data_and_address(postgres_server, mode):
    pg = postgres_server
    pg.psql(f"CREATE TABLE restart_{mode} (v text); INSERT INTO restart_{mode} VALUES ('kept');")
    old_pid = pg.proc.pid
    pg.restart(mode)
    assert pg.proc.pid != old_pid and not alive(old_pid)
    assert pg.psql(f"SELECT v FROM restart_{mode};").stdout.strip() == "kept"


def test_postgres_stop_leaves_nothing():
    pg = Postgres().start()
    pid, folder = pg.proc.pid, pg.dir
    assert pg.psql("SELECT 1;").stdout.strip() == "1"
    pg.stop()
    assert not alive(pid)
    assert not os.path.exists(folder)


# ---- Ceph RGW

def test_rgw_refuses_unsigned_requests(rgw_server):
    rgw = rgw_server
    assert rgw.s3("PUT", "/depot/unsigned", body=b"x").status == 200  # signed: fine
    for method, body in (("GET", None), ("PUT", b"y"), ("DELETE", None)):
        res = rgw.s3(method, "/depot/unsigned", sign=False, body=body)
        assert res.status == 403, (method, res.body)
        assert b"<Code>AccessDenied</Code>" in res.body
    assert rgw.s3("GET", "/depot/unsigned").body == b"x"  # untouched


def test_rgw_refuses_a_wrong_secret(rgw_server):
    for method, body in (("GET", None), ("PUT", b"y")):
        res = rgw_server.s3(method, "/depot/wrong-secret", secret="0" * 40, body=body)
        assert res.status == 403
        assert b"<Code>SignatureDoesNotMatch</Code>" in res.body
    assert rgw_server.s3("GET", "/depot/wrong-secret").status == 404


def test_rgw_signed_put_and_get(rgw_server):
    rgw = rgw_server
    data = os.urandom(300_000)
    key = "/depot/some%20dir/a%2Bb%3Dc.bin"  # a key with a space, + and =
    put = rgw.s3("PUT", key, body=data)
    assert put.status == 200
    assert put.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = rgw.s3("GET", key)
    assert got.status == 200 and got.body == data
    part = rgw.s3("GET", key, headers={"Range": "bytes=-6"})
    assert part.status == 206 and part.body == data[-6:]
    listing = ET.fromstring(rgw.s3("GET", "/depot", params={"prefix": "some dir/"}).body)
    assert [k.text for k in listing.iter(f"{S3NS}Key")] == ["some dir/a+b=c.bin"]
    assert rgw.s3("DELETE", key).status == 204
    assert rgw.s3("GET", key).status == 404


def test_rgw_checks_the_payload_hash(rgw_server):
    res = rgw_server.s3("PUT", "/depot/hash-mismatch", body=b"real body",
                        content_sha256=hashlib.sha256(b"other body").hexdigest())
    assert res.status == 400
    assert b"XAmzContentSHA256Mismatch" in res.body
    assert rgw_server.s3("GET", "/depot/hash-mismatch").status == 404


def _create_upload(rgw, key):
    res = rgw.s3("POST", key, params={"uploads": ""}, body=b"")
    assert res.status == 200, res.body
    return ET.fromstring(res.body).find(f"{S3NS}UploadId").text


def test_rgw_multipart_upload(rgw_server):
    rgw = rgw_server
    key = "/depot/multi.bin"
    parts = [os.urandom(5 * MiB), os.urandom(1234)]  # every part but the last >= 5 MiB
    upload = _create_upload(rgw, key)
    etags = []
    for n, data in enumerate(parts, 1):
        res = rgw.s3("PUT", key, params={"partNumber": n, "uploadId": upload}, body=data)
        assert res.status == 200, res.body
        etags.append(res.headers["etag"])
    complete = "<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
        for n, e in enumerate(etags, 1)) + "</CompleteMultipartUpload>"
    res = rgw.s3("POST", key, params={"uploadId": upload}, body=complete.encode(),
                 headers={"Content-Type": "application/xml"})
    assert res.status == 200, res.body
    assert ET.fromstring(res.body).find(f"{S3NS}Key").text == "multi.bin"
    got = rgw.s3("GET", key)
    assert got.status == 200
    assert hashlib.sha256(got.body).digest() == hashlib.sha256(b"".join(parts)).digest()


def test_rgw_multipart_abort_leaves_nothing(rgw_server):
    rgw = rgw_server
    key = "/depot/aborted.bin"
    upload = _create_upload(rgw, key)
    assert rgw.s3("PUT", key, params={"partNumber": 1, "uploadId": upload},
                  body=os.urandom(MiB)).status == 200
    open_uploads = ET.fromstring(rgw.s3("GET", "/depot", params={"uploads": ""}).body)
    assert upload in [u.text for u in open_uploads.iter(f"{S3NS}UploadId")]
    assert rgw.s3("GET", key, params={"uploadId": upload}).status == 200  # ListParts
    assert rgw.s3("DELETE", key, params={"uploadId": upload}).status == 204
    # radosgw answers ListParts of an aborted upload with NoSuchKey (AWS: NoSuchUpload)
    assert rgw.s3("GET", key, params={"uploadId": upload}).status == 404
    res = rgw.s3("PUT", key, params={"partNumber": 2, "uploadId": upload}, body=b"late")
    assert res.status == 404 and b"<Code>NoSuchUpload</Code>" in res.body
    open_uploads = ET.fromstring(rgw.s3("GET", "/depot", params={"uploads": ""}).body)
    assert upload not in [u.text for u in open_uploads.iter(f"{S3NS}UploadId")]
    assert rgw.s3("GET", key).status == 404


def test_rgw_daemons_listen_on_loopback_only(rgw_server):
    for name, proc in rgw_server.procs.items():
        addrs = listening(proc.pid)
        assert addrs, name
        assert all(a.startswith("127.0.0.1:") for a in addrs), (name, addrs)
    assert f"127.0.0.1:{rgw_server.rgw_port}" in listening(rgw_server.procs["radosgw"].pid)
    assert f"127.0.0.1:{rgw_server.rgw_ssl_port}" in listening(rgw_server.procs["radosgw"].pid)


def test_rgw_https_with_its_ca_only(rgw_server):
    rgw = rgw_server
    assert rgw.s3("PUT", "/depot/tls", body=b"over TLS", endpoint=rgw.https_endpoint).status == 200
    assert rgw.s3("GET", "/depot/tls").body == b"over TLS"  # the same bucket as plain HTTP
    assert rgw.s3("GET", "/depot/tls", endpoint=rgw.vhost_https_endpoint).body == b"over TLS"
    # the system's CA store does not know the harness's CA
    res = subprocess.run(["curl", "-sS", "-o", "/dev/null", rgw.https_endpoint + "/"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 60 and "unable to get local issuer certificate" in res.stderr


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_rgw_virtual_hosted_addressing(rgw_server, https):
    """Host depot.localhost names the bucket (rgw dns name); curl resolves *.localhost to
    loopback by itself. Host localhost or 127.0.0.1 stays path-style."""
    rgw = rgw_server
    base = rgw.vhost_https_endpoint if https else rgw.vhost_endpoint
    vhost = base.replace("://localhost:", f"://{rgw.bucket}.localhost:")
    assert rgw.s3("PUT", "/vhost%20key", body=b"v", endpoint=vhost).status == 200
    assert rgw.s3("GET", "/depot/vhost%20key").body == b"v"
    assert rgw.s3("GET", "/depot/vhost%20key", endpoint=base).body == b"v"
    listing = ET.fromstring(rgw.s3("GET", "/", params={"prefix": "vhost"}, endpoint=vhost).body)
    assert [k.text for k in listing.iter(f"{S3NS}Key")] == ["vhost key"]
    assert rgw.s3("DELETE", "/vhost%20key", endpoint=vhost).status == 204
    assert rgw.s3("GET", "/depot/vhost%20key").status == 404


def test_rgw_stop_leaves_nothing():
    rgw = RGW(memstore_bytes=256 * MiB).start()
    pids, folder = [p.pid for p in rgw.procs.values()], rgw.dir
    assert sorted(rgw.procs) == ["mon", "osd", "radosgw"]
    assert rgw.s3("PUT", "/depot/x", body=b"x").status == 200
    rgw.stop()
    assert not [p for p in pids if alive(p)]
    assert not os.path.exists(folder)


# ---- HAProxy

class Node:
    """A trivial backend: answers its name, and /-/readiness with `ready`."""

    def __init__(self, name):
        node = self
        self.name = name
        self.ready = 200
        self.hits = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/-/readiness":
                    status, body = node.ready, b"{}"
                else:
                    node.hits += 1
                    status, body = 200, node.name.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # health checks hang up without reading the body

        self.server = Server(("127.0.0.1", free_port()), Handler)
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def two_nodes():
    nodes = [Node("a"), Node("b")]
    yield nodes
    for n in nodes:
        n.close()


def _answers(url, count):
    return [requests.get(url + "/x", timeout=10).text for _ in range(count)]


def test_haproxy_round_robin_and_readiness(haproxy_factory, two_nodes):
    a, b = two_nodes
    hp = haproxy_factory([a.addr, b.addr])
    assert listening(hp.proc.pid) == [f"127.0.0.1:{hp.port}"]
    got = _answers(hp.url, 10)
    assert sorted(got) == ["a"] * 5 + ["b"] * 5
    b.ready = 503
    hp.wait_state({"node0": "UP", "node1": "DOWN"})
    assert _answers(hp.url, 6) == ["a"] * 6
    b.ready = 200
    hp.wait_state({"node0": "UP", "node1": "UP"})
    # back in rotation (a returning server may first get a run of requests in a row)
    assert "b" in _answers(hp.url, 4)


def test_haproxy_stop_leaves_nothing(two_nodes):
    hp = HAProxy([n.addr for n in two_nodes]).start()
    pid, folder = hp.proc.pid, hp.dir
    hp.stop()
    assert not alive(pid)
    assert not os.path.exists(folder)
