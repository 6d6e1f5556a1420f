"""Server lifecycle and store checks: SIGTERM lets an upload in flight finish (201, intact
after restart) and exits 0; SIGHUP reopens the log file; stale staged uploads are removed
on start; depot fsck finds missing, corrupt and orphaned content and --repair fixes what can
be fixed without losing a committed file."""
import hashlib
import os
import signal
import socket
import subprocess
import time

import requests

from conftest import read_response_head, DEPOT, Depot, generic_path, skip_in_s3, setup_world



def test_sigterm_lets_an_upload_in_flight_finish():
    d = Depot()
    pid, h = setup_world(d)
    token = h["PRIVATE-TOKEN"]
    d.start()
    body = os.urandom(400000)
    host, port = d.direct_url.rsplit("/", 1)[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=20)
    path = "/api/v4" + generic_path(pid, "inflight", "1.0", "f.bin")
    s.sendall((f"PUT {path} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {token}\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:100000])
    time.sleep(0.3)
    d.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    # no new connections once stopping
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        refused = False
    except OSError:
        refused = True
    assert refused
    s.sendall(body[100000:])
    head = read_response_head(s)
    s.close()
    assert head.startswith(b"HTTP/1.1 201"), head
    assert d.proc.wait(timeout=20) == 0
    d.proc = None
    d.log.close()
    d.start()
    r = requests.get(d.api(generic_path(pid, "inflight", "1.0", "f.bin")),
                     headers={"PRIVATE-TOKEN": token})
    assert r.content == body
    d.close()


def test_shutdown_timeout_bounds_the_wait():
    d = Depot()
    pid, h = setup_world(d)
    token = h["PRIVATE-TOKEN"]
    d.start("--shutdown-timeout", "1")
    host, port = d.url.rsplit("/", 1)[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=20)
    path = "/api/v4" + generic_path(pid, "stalled", "1.0", "f.bin")
    s.sendall((f"PUT {path} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {token}\r\n"
               f"Content-Length: 1000\r\n\r\n").encode() + b"x" * 10)
    time.sleep(0.3)
    t = time.time()
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(timeout=20) == 0
    assert time.time() - t < 5
    d.proc = None
    d.log.close()
    s.close()
    assert d.query("SELECT COUNT(*) FROM packages WHERE name = 'stalled'") == [(0,)]
    d.close()


def test_sighup_reopens_the_log(tmp_path):
    d = Depot()
    pid, h = setup_world(d)
    token = h["PRIVATE-TOKEN"]
    log = tmp_path / "depot.log"
    d.start("--log", str(log), log_path=str(log))
    url = d.api(generic_path(pid, "p", "1", "f"))
    requests.put(url, data=b"x", headers={"PRIVATE-TOKEN": token})
    deadline = time.time() + 5
    while b"PUT /api/v4" not in log.read_bytes() and time.time() < deadline:
        time.sleep(0.05)
    assert b"PUT /api/v4" in log.read_bytes()
    os.rename(log, tmp_path / "depot.log.1")
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 5
    while not log.exists() and time.time() < deadline:
        time.sleep(0.05)
    requests.get(url, headers={"PRIVATE-TOKEN": token})
    deadline = time.time() + 5
    while b"GET /api/v4" not in log.read_bytes() and time.time() < deadline:
        time.sleep(0.05)
    assert b"GET /api/v4" in log.read_bytes()
    assert b"GET /api/v4" not in (tmp_path / "depot.log.1").read_bytes()
    assert token.encode() not in log.read_bytes() + (tmp_path / "depot.log.1").read_bytes()
    d.close()


@skip_in_s3
def test_stale_staged_uploads_removed_on_start():
    d = Depot()
    setup_world(d)
    d.start()
    d.stop()
    stale = os.path.join(d.data, "tmp", "upload-crashed")
    with open(stale, "wb") as f:
        f.write(b"half an upload")
    d.start()
    deadline = time.time() + 10  # the start-up sweep runs once the server listens
    while d.tmp_files() and time.time() < deadline:
        time.sleep(0.05)
    assert d.tmp_files() == []
    d.close()


def fsck(d, *args):
    return subprocess.run([DEPOT, "fsck", "--data", d.data, *args], capture_output=True, text=True)


@skip_in_s3
def test_fsck_finds_and_repairs():
    d = Depot()
    pid, h = setup_world(d)
    token = h["PRIVATE-TOKEN"]
    d.start()
    h = {"PRIVATE-TOKEN": token}
    big, small = os.urandom(200000), os.urandom(100)
    for name, body in [("big", big), ("small", small), ("victim", os.urandom(150000))]:
        assert requests.put(d.api(generic_path(pid, name, "1", "f")), data=body,
                            headers=h).status_code == 201
    d.stop()
    res = fsck(d)
    assert (res.returncode, res.stdout) == (0, "")
    # an orphan blob, a staged leftover, a corrupted blob and a missing one
    orphan = os.urandom(99999)
    oh = hashlib.sha256(orphan).hexdigest()
    os.makedirs(os.path.join(d.data, "blobs", oh[:2], oh[2:4]), exist_ok=True)
    with open(os.path.join(d.data, "blobs", oh[:2], oh[2:4], oh), "wb") as f:
        f.write(orphan)
    with open(os.path.join(d.data, "tmp", "upload-left"), "wb") as f:
        f.write(b"x")
    bh = hashlib.sha256(big).hexdigest()
    with open(os.path.join(d.data, "blobs", bh[:2], bh[2:4], bh), "r+b") as f:
        f.write(b"CORRUPT")
    (vh,), = d.query("SELECT f.file_sha256 FROM package_files f JOIN packages p ON p.id ="
                     " f.package_id WHERE p.name = 'victim'")
    os.unlink(os.path.join(d.data, "blobs", vh[:2], vh[2:4], vh))
    res = fsck(d)
    assert res.returncode == 1
    lines = sorted(res.stdout.splitlines())
    assert any(l.startswith(f"corrupt content {bh} of package_file") for l in lines)
    assert any(l.startswith(f"missing content {vh} of package_file") for l in lines)
    assert f"orphan blob {oh}" in lines
    assert "1 staged upload(s) left over" in lines
    assert os.path.exists(os.path.join(d.data, "blobs", oh[:2], oh[2:4], oh))  # report only
    res = fsck(d, "--repair")
    assert res.returncode == 1  # the corrupt and missing files cannot be repaired
    assert f"orphan blob {oh} (removed)" in res.stdout
    assert not os.path.exists(os.path.join(d.data, "blobs", oh[:2], oh[2:4], oh))
    assert d.tmp_files() == []
    # committed files are never removed by a repair
    assert d.query("SELECT COUNT(*) FROM package_files") == [(3,)]
    res = fsck(d)
    assert sorted(l.split()[0] for l in res.stdout.splitlines()) == ["corrupt", "missing"]
    d.close()


def test_tls(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    d = Depot()
    pid, h = setup_world(d)
    token = h["PRIVATE-TOKEN"]
    d.start("--tls-cert", str(cert), "--tls-key", str(key))
    assert d.url.startswith("https://")
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(300000))
    url = d.api(generic_path(pid, "tls", "1.0", "f.bin"))
    up = subprocess.run(["curl", "-sS", "--cacert", str(cert), "-H", f"PRIVATE-TOKEN: {token}",
                         "--upload-file", str(src), url], capture_output=True, text=True)
    assert up.stdout == '{"message":"201 Created"}', up.stderr
    down = subprocess.run(["curl", "-sS", "--cacert", str(cert), "-H", f"PRIVATE-TOKEN: {token}",
                           "-o", str(tmp_path / "out.bin"), url], capture_output=True, text=True)
    assert down.returncode == 0, down.stderr
    assert (tmp_path / "out.bin").read_bytes() == src.read_bytes()
    # plain HTTP to the TLS port does not work
    plain = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                            url.replace("https://", "http://")], capture_output=True, text=True)
    assert plain.stdout != "200"
    d.close()
