"""The size limit (from Content-Length before the body, and while streaming), a refused
Expect: 100-continue upload that never sends its body, an aborted upload leaving no trace,
and a 1 GiB round trip whose peak RSS stays small."""
import hashlib
import json
import os
import socket
import subprocess
import time

import pytest
import requests

from conftest import (read_response_head, PG_MODE, SANITIZED, S3_MODE, Depot, World, generic_path,
                      unique)

LIMIT = 1000
TOO_LARGE = {"message": "400 Bad request - File is too large"}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = Depot()
    w = None
    d.start("--max-file-size", str(LIMIT))
    w = World(d)
    yield d, w
    d.close()


def put_url(d, w, name, f="f.bin"):
    return d.api(generic_path(w.pid("acme/app"), name, "1.0.0", f))


def counts(d):
    return (d.query("SELECT COUNT(*) FROM package_files")[0][0], d.blob_files(), d.inline_count(), d.tmp_files())


@pytest.mark.parametrize("size,status", [(0, 201), (LIMIT - 1, 201), (LIMIT, 400),
                                         (LIMIT + 1, 400), (10 * LIMIT, 400)])
def test_size_limit_with_length(small, size, status):
    d, w = small
    before = counts(d)
    r = requests.put(put_url(d, w, unique()), data=b"x" * size,
                     headers={"PRIVATE-TOKEN": w.pat["dev"]})
    assert r.status_code == status
    if status == 400:
        assert r.json() == TOO_LARGE
        assert counts(d) == before


def chunks(total, size=300):
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield b"y" * n
        sent += n


def test_size_limit_while_streaming(small):
    """A chunked upload announces no length: the limit is enforced on the bytes received."""
    d, w = small
    before = counts(d)
    r = requests.put(put_url(d, w, unique()), data=chunks(5 * LIMIT),
                     headers={"PRIVATE-TOKEN": w.pat["dev"]})
    assert r.status_code == 400 and r.json() == TOO_LARGE
    assert counts(d) == before
    ok = requests.put(put_url(d, w, unique()), data=chunks(LIMIT - 1),
                      headers={"PRIVATE-TOKEN": w.pat["dev"]})
    assert ok.status_code == 201


def test_refusal_reaches_a_client_streaming_64_mib(small):
    """After refusing a streamed upload the server reads and drops the rest of the body (it
    used to hang up after 16 MiB, and the client saw a reset instead of the 400); it stores
    nothing and keeps serving. Cutting off an endless body: test_body.py."""
    d, w = small
    before = counts(d)
    r = requests.put(put_url(d, w, unique()), data=chunks(64 << 20, 1 << 16),
                     headers={"PRIVATE-TOKEN": w.pat["dev"]})
    assert (r.status_code, r.json()) == (400, TOO_LARGE)
    assert counts(d) == before
    assert requests.put(put_url(d, w, unique()), data=b"fine",
                        headers={"PRIVATE-TOKEN": w.pat["dev"]}).status_code == 201


def raw_socket(d):
    host, port = d.url.rsplit("/", 1)[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    return s



def test_refused_expect_continue_sends_no_body(small):
    """A too-large upload announced with Expect: 100-continue is refused at once: the
    server answers 400 without asking for (or waiting for) the body."""
    d, w = small
    s = raw_socket(d)
    path = generic_path(w.pid("acme/app"), unique(), "1.0.0", "big.bin")
    s.sendall((f"PUT /api/v4{path} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {w.pat['dev']}\r\n"
               f"Content-Length: 1000000000\r\nExpect: 100-continue\r\n\r\n").encode())
    head = read_response_head(s)
    s.close()
    assert head.startswith(b"HTTP/1.1 400"), head
    assert b"100 Continue" not in head
    body = head.split(b"\r\n\r\n", 1)[1]
    assert json.loads(body) == TOO_LARGE


def test_refused_expect_continue_unauthorized(small):
    d, w = small
    s = raw_socket(d)
    path = generic_path(w.pid("acme/app"), unique(), "1.0.0", "big.bin")
    s.sendall((f"PUT /api/v4{path} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {w.pat['guest']}\r\n"
               f"Content-Length: 500\r\nExpect: 100-continue\r\n\r\n").encode())
    head = read_response_head(s)
    s.close()
    assert head.startswith(b"HTTP/1.1 403"), head


def test_accepted_expect_continue(small):
    d, w = small
    s = raw_socket(d)
    name = unique()
    path = generic_path(w.pid("acme/app"), name, "1.0.0", "ok.bin")
    s.sendall((f"PUT /api/v4{path} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {w.pat['dev']}\r\n"
               f"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n").encode())
    assert read_response_head(s).startswith(b"HTTP/1.1 100 Continue")
    s.sendall(b"hello")
    assert read_response_head(s).startswith(b"HTTP/1.1 201")
    s.close()


def wait_until(pred, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


@pytest.mark.parametrize("sent", [0, 100, 999])
def test_aborted_upload_leaves_no_trace(depot, world, sent):
    name = unique()
    before = counts(depot)
    s = raw_socket(depot)
    path = generic_path(world.pid("acme/app"), name, "1.0.0", "cut.bin")
    s.sendall((f"PUT /api/v4{path} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {world.pat['dev']}\r\n"
               f"Content-Length: 1000\r\n\r\n").encode() + b"z" * sent)
    time.sleep(0.2)
    s.close()
    assert wait_until(lambda: "aborted" in depot.server_log().split(name, 1)[-1])
    assert counts(depot) == before
    assert depot.query("SELECT COUNT(*) FROM packages WHERE name = ?", name) == [(0,)]
    # the server still serves
    r = requests.put(depot.api(path), data=b"z" * 1000, headers={"PRIVATE-TOKEN": world.pat["dev"]})
    assert r.status_code == 201


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(SANITIZED, reason="ASan's shadow memory makes RSS meaningless")
def test_one_gib_round_trip_small_rss(tmp_path):
    d = Depot().start()
    try:
        w = World(d)
        src = tmp_path / "big.bin"
        block = os.urandom(1 << 20)
        h = hashlib.sha256()
        with open(src, "wb") as f:
            for i in range(1024):
                chunk = i.to_bytes(4, "little") + block[4:]
                f.write(chunk)
                h.update(chunk)
        url = d.api(generic_path(w.pid("acme/app"), "big", "1.0.0", "big.bin"))
        up = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                             "-H", f"PRIVATE-TOKEN: {w.pat['dev']}", "--upload-file", str(src),
                             url], capture_output=True, text=True, timeout=300)
        assert up.stdout == "201", up.stderr
        dst = tmp_path / "down.bin"
        down = subprocess.run(["curl", "-sS", "-o", str(dst), "-w", "%{http_code}",
                               "-H", f"PRIVATE-TOKEN: {w.pat['dev']}", url],
                              capture_output=True, text=True, timeout=300)
        assert down.stdout == "200", down.stderr
        src.unlink()
        h2 = hashlib.sha256()
        with open(dst, "rb") as f:
            while chunk := f.read(1 << 20):
                h2.update(chunk)
        assert h2.hexdigest() == h.hexdigest()
        assert d.query("SELECT size, file_sha256 FROM package_files") == \
            [(1 << 30, h.hexdigest())]
        rss = peak_rss_kib(d.pid())
        assert rss < 64 * 1024, f"peak RSS {rss} KiB"
    finally:
        d.close()


# The listing reads the metadata store only: the SQLite and PostgreSQL passes cover it; the
# S3 and nodes passes (which only change where contents live) would repeat a 75 s test.
@pytest.mark.skipif(S3_MODE, reason="the metadata store's listing: covered without S3")
def test_seed_listing_of_100000_files_streams_in_bounded_memory():
    """The seed's listing without page/per_page answers every file of the package: 100,000
    rows (inserted straight into the database, with older files of the same names and files
    pending destruction mixed in, in no particular id order) come back as one valid JSON
    array with the newest live file of every name exactly once, ordered by name, while the
    server's peak RSS grows by far less than the answer's size."""
    import random
    d = Depot().start()
    try:
        w = World(d)
        pid = w.pid("acme/app")
        url = d.api(generic_path(pid, "huge", "1.0", "first.bin"))
        assert requests.put(url, data=b"x", headers={"PRIVATE-TOKEN": w.pat["dev"]}).status_code == 201
        (pkg,), = d.query("SELECT id FROM packages WHERE name = 'huge'")
        rnd = random.Random(9)
        names = [f"dir{i % 97}/file-{i:06d}.bin" for i in range(100000)] + \
                ["a", "a.b", "a-b", "a/b", "A", "z~", "0"]
        rnd.shuffle(names)
        rows = []
        for n in names:
            rows.append((pkg, n, 0))  # the live file
            r = rnd.random()
            if r < 0.05:
                rows.insert(rnd.randrange(len(rows)), (pkg, n, 0))  # an older copy...
            elif r < 0.08:
                rows.append((pkg, n, 1))  # ...or a newer one pending destruction
        h = "0" * 64
        with d.db() as con:
            con.executemany("INSERT INTO package_files(package_id, file_name, size, file_md5,"
                            " file_sha1, file_sha256, status, created_at, updated_at)"
                            " VALUES (?, ?, 1, '', '', ?, ?, 0, 0)",
                            [(p, n, h, st) for p, n, st in rows])
        if PG_MODE:  # what autovacuum does after a bulk load (docs/ARCHITECTURE.md, PostgreSQL)
            d.query("ANALYZE package_files")
        expected = {n: i for i, n in d.query(
            "SELECT MAX(id), file_name FROM package_files WHERE package_id = ? AND status = 0"
            " GROUP BY file_name", pkg)}
        assert len(expected) == len(names) + 1
        before = peak_rss_kib(d.pid())
        r = requests.get(d.api(generic_path(pid, "huge", "1.0", "files")),
                         headers={"PRIVATE-TOKEN": w.pat["dev"]}, timeout=300)
        assert r.status_code == 200
        after = peak_rss_kib(d.pid())
        listed = json.loads(r.content)
        assert [f["file_name"] for f in listed] == sorted(expected, key=lambda n: n.encode())
        assert {f["file_name"]: f["id"] for f in listed} == expected
        assert len(r.content) > 15 << 20
        if not SANITIZED:  # ASan's quarantine keeps freed batches resident
            assert after - before < 16 * 1024, f"peak RSS grew by {after - before} KiB"
    finally:
        d.close()
