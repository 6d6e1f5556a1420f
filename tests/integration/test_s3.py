"""The S3 blob store over a real Ceph RGW (run in S3 mode: DEPOT_TEST_BLOBS=s3, make
integration-s3): multipart uploads streamed in parts, aborted uploads leaving nothing,
content stored once, gc and fsck over the bucket, an unreachable store and a wrong secret
answered cleanly, and the server's memory during a large upload; HTTPS with a CA file
(and without it: refused), virtual-hosted addressing and another region, each against the
RGW (its HTTPS endpoint and `rgw dns name = localhost`, tests/servers/rgw.py)."""
import hashlib
import os
import socket
import time

import pytest
import requests

from conftest import S3, S3_MODE, S3_PART_SIZE, SANITIZED, Depot, generic_path, unique, setup_world

pytestmark = pytest.mark.skipif(not S3_MODE, reason="needs DEPOT_TEST_BLOBS=s3 (an RGW)")
MiB = 1 << 20


@pytest.fixture(scope="module")
def s3depot():
    d = Depot()
    pid, h = setup_world(d)
    d.start()
    yield d, pid, h
    d.close()


def wait_for(cond, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def test_part_size_is_small_in_this_suite():
    assert int(S3_PART_SIZE) == 5 * MiB  # so the multipart tests below cross parts


def test_multipart_upload_downloads_identical(s3depot):
    d, pid, h = s3depot
    body = os.urandom(40 * MiB + 12345)  # 9 parts of 5 MiB, the last one short
    before = d.blob_files()
    url = d.api(generic_path(pid, unique(), "1.0", "big.bin"))
    r = requests.put(url, data=body, headers=h)
    assert (r.status_code, r.json()) == (201, {"message": "201 Created"})
    g = requests.get(url, headers=h)
    assert g.status_code == 200 and g.content == body
    assert g.headers["X-Checksum-SHA256"] == hashlib.sha256(body).hexdigest()
    assert g.headers["X-Checksum-MD5"] == hashlib.md5(body).hexdigest()
    assert g.headers["Content-Length"] == str(len(body))
    r = requests.get(url, headers={**h, "Range": "bytes=10485755-10485774"})
    assert (r.status_code, r.content) == (206, body[10485755:10485775])
    assert r.headers["Content-Range"] == f"bytes 10485755-10485774/{len(body)}"
    assert requests.head(url, headers=h).headers["Content-Length"] == str(len(body))
    (key,), = d.query("SELECT key FROM blob_keys WHERE sha256 = ?", hashlib.sha256(body).hexdigest())
    assert d.blob_files() == sorted(before + [d.s3_prefix + key])
    assert d.tmp_files() == []  # no open multipart upload
    assert d.cli("fsck").stdout == ""


def test_upload_cut_mid_body_leaves_nothing(s3depot):
    d, pid, h = s3depot
    before = d.blob_files()
    name = unique()
    host, port = d.url.rsplit("/", 1)[1].split(":")
    s = socket.create_connection((host, int(port)))
    s.sendall((f"PUT /api/v4{generic_path(pid, name, '1.0', 'cut.bin')} HTTP/1.1\r\n"
               f"Host: {host}\r\nPRIVATE-TOKEN: {h['PRIVATE-TOKEN']}\r\n"
               f"Content-Length: {40 * MiB}\r\n\r\n").encode())
    chunk = os.urandom(MiB)
    for _ in range(18):  # three parts sent, the fourth filling
        s.sendall(chunk)
    assert wait_for(lambda: d.tmp_files() != [])  # the multipart upload is under way
    s.close()
    assert wait_for(lambda: d.tmp_files() == [])  # aborted
    assert d.blob_files() == before
    assert d.query("SELECT COUNT(*) FROM packages WHERE name = ?", name) == [(0,)]


@pytest.mark.parametrize("size", [200_000, 12 * MiB])
def test_identical_content_stored_once(s3depot, size):
    d, pid, h = s3depot
    body = os.urandom(size)
    before = d.blob_files()
    for _ in range(2):
        assert requests.put(d.api(generic_path(pid, unique(), "1.0", "same.bin")), data=body,
                            headers=h).status_code == 201
    assert len(d.blob_files()) == len(before) + 1
    files, rows = d.stored_copies(body)
    assert (len(files), rows) == (1, 0)
    with open(files[0], "rb") as f:
        assert f.read() == body
    assert d.tmp_files() == []


def test_gc_removes_the_object_of_a_deleted_file(s3depot):
    d, pid, h = s3depot
    body, name = os.urandom(300_000), unique()
    assert requests.put(d.api(generic_path(pid, name, "1.0", "f")), data=body,
                        headers=h).status_code == 201
    assert d.stored_copies(body)[0] != []
    r = requests.delete(d.api(f"/projects/{pid}/packages/generic/{name}/1.0"), headers=h)
    assert r.status_code == 204
    d.cli("gc")
    assert d.stored_copies(body) == ([], 0)
    assert d.query("SELECT COUNT(*) FROM blob_keys WHERE sha256 = ?",
                   hashlib.sha256(body).hexdigest()) == [(0,)]


def test_gc_removes_orphans_and_stale_multipart_uploads(s3depot):
    d, pid, h = s3depot
    rgw = S3["rgw"]
    orphan = f"/{rgw.bucket}/{d.s3_prefix}blobs/{'0' * 32}"
    assert rgw.s3("PUT", orphan, body=b"nobody maps me").status == 200
    res = rgw.s3("POST", f"/{rgw.bucket}/{d.s3_prefix}blobs/{'1' * 32}", params={"uploads": ""})
    assert res.status == 200
    # young: perhaps an upload about to commit, on this node or another
    d.cli("gc")
    assert d.s3_prefix + f"blobs/{'0' * 32}" in d.blob_files()
    assert d.tmp_files() == [d.s3_prefix + f"blobs/{'1' * 32}"]
    res = d.cli("fsck", "--min-age", "0", check=False)
    assert res.returncode == 1
    assert res.stdout.splitlines() == [f"orphan blob blobs/{'0' * 32}",
                                       "1 staged upload(s) left over"]
    res = d.cli("gc", "--min-age", "0")
    assert "1 orphan blob(s)" in res.stderr
    assert d.s3_prefix + f"blobs/{'0' * 32}" not in d.blob_files()
    assert d.tmp_files() == []


def test_fsck_reads_the_objects(s3depot):
    d, pid, h = s3depot
    body = os.urandom(200_000)
    assert requests.put(d.api(generic_path(pid, unique(), "1.0", "f")), data=body,
                        headers=h).status_code == 201
    assert d.cli("fsck").stdout == ""
    sha = hashlib.sha256(body).hexdigest()
    (key,), = d.query("SELECT key FROM blob_keys WHERE sha256 = ?", sha)
    rgw = S3["rgw"]
    assert rgw.s3("PUT", f"/{rgw.bucket}/{d.s3_prefix}{key}",
                  body=b"X" + body[1:]).status == 200  # bit rot: same size, other bytes
    res = d.cli("fsck", check=False)
    assert res.returncode == 1 and res.stdout.startswith(f"corrupt content {sha} of package_file")
    assert requests.put(d.api(generic_path(pid, unique(), "1.0", "f")), data=body,
                        headers=h).status_code == 201  # keeps the mapped (damaged) copy


def test_unreachable_store_answers_503_and_records_nothing():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # nothing listens once closed
    d = Depot()
    pid, h = setup_world(d)
    d.blobs = d.blobs.replace(S3["rgw"].endpoint, f"http://127.0.0.1:{dead}")
    d.start("--gc-interval", "0")
    try:
        for size in (200_000, 12 * MiB):
            r = requests.put(d.api(generic_path(pid, unique(), "1.0", "f")),
                             data=os.urandom(size), headers=h)
            assert (r.status_code, r.json()) == (503, {"message": "503 Service Unavailable"})
        assert d.query("SELECT COUNT(*) FROM package_files") == [(0,)]
        assert d.query("SELECT COUNT(*) FROM blob_keys") == [(0,)]
        # small files live in the database: they do not need the store
        assert requests.put(d.api(generic_path(pid, unique(), "1.0", "s")), data=b"tiny",
                            headers=h).status_code == 201
        # a recorded file whose object cannot be reached: 503, not 404
        name = unique()
        d.query("INSERT INTO packages(project_id, name, version, created_at, updated_at)"
                " VALUES(?, ?, '1.0', 0, 0)", pid, name)
        d.query("INSERT INTO package_files(package_id, file_name, size, file_md5, file_sha1,"
                " file_sha256, created_at, updated_at) SELECT id, 'f', 200000, '', '', ?, 0, 0"
                " FROM packages WHERE name = ?", "ab" * 32, name)
        d.query("INSERT INTO blob_keys VALUES(?, 'blobs/" + "2" * 32 + "')", "ab" * 32)
        r = requests.get(d.api(generic_path(pid, name, "1.0", "f")), headers=h)
        assert (r.status_code, r.json()) == (503, {"message": "503 Service Unavailable"})
    finally:
        d.close()


def test_wrong_secret_fails_cleanly_and_is_not_logged():
    d = Depot()
    pid, h = setup_world(d)
    wrong = "W" * 40
    env = {**os.environ, "AWS_SECRET_ACCESS_KEY": wrong}
    old = os.environ["AWS_SECRET_ACCESS_KEY"]
    os.environ["AWS_SECRET_ACCESS_KEY"] = wrong  # the server inherits it
    try:
        d.start("--gc-interval", "0")
    finally:
        os.environ["AWS_SECRET_ACCESS_KEY"] = old
    try:
        for size in (200_000, 12 * MiB):
            r = requests.put(d.api(generic_path(pid, unique(), "1.0", "f")),
                             data=os.urandom(size), headers=h)
            assert (r.status_code, r.json()) == (500, {"message": "500 Internal Server Error"})
        assert d.query("SELECT COUNT(*) FROM package_files") == [(0,)]
        res = d.cli("gc", env=env, check=False)
        assert res.returncode == 1 and wrong not in res.stderr
    finally:
        d.stop()
    log = d.server_log()
    assert "SignatureDoesNotMatch" in log
    assert wrong not in log and old not in log
    assert d.tmp_files() == []  # what the failing store may have begun, nothing remains
    d.close()


def test_credentials_file_and_no_keys(tmp_path):
    d = Depot()
    rgw = S3["rgw"]
    creds = tmp_path / "creds"
    creds.write_text(f"[default]\naws_access_key_id = {rgw.access_key}\n"
                     f"aws_secret_access_key = {rgw.secret_key}\n")
    bare = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    res = d.cli("gc", env=bare, check=False)
    assert (res.returncode, res.stderr.splitlines()[-1]) == (
        1, f"depot: cannot use the blob store {d.blobs}: no S3 keys: set AWS_ACCESS_KEY_ID "
           "and AWS_SECRET_ACCESS_KEY, or give --s3-credentials FILE")
    assert d.cli("gc", "--s3-credentials", str(creds), env=bare).returncode == 0
    d.close()


@pytest.mark.skipif(SANITIZED, reason="sanitizers multiply memory use")
def test_peak_memory_of_a_200_mib_upload(tmp_path):
    d = Depot()
    pid, h = setup_world(d)
    d.start()
    try:
        src = tmp_path / "huge.bin"
        with open(src, "wb") as f:
            chunk = os.urandom(MiB)
            for _ in range(200):
                f.write(chunk)
        url = d.api(generic_path(pid, unique(), "1.0", "huge.bin"))
        with open(src, "rb") as f:  # streamed, with its Content-Length
            r = requests.put(url, data=f, headers=h)
        assert r.status_code == 201, r.text
        with requests.get(url, headers=h, stream=True) as g:
            n = sum(len(c) for c in g.iter_content(MiB))
        assert n == 200 * MiB
        status = open(f"/proc/{d.pid()}/status").read()
        peak_kib = int(status.split("VmHWM:")[1].split()[0])
        print(f"peak RSS {peak_kib} KiB")
        assert peak_kib < 64 * 1024, f"peak RSS {peak_kib} KiB"
    finally:
        d.close()


# ---- addressing, region and HTTPS (issue 10): one depot per form of --blobs

def depot_over(endpoint, path_style=True, ca=None, region=None):
    """A started depot whose --blobs names endpoint, its own prefix, region (the RGW's by
    default), path_style and ca as given."""
    rgw = S3["rgw"]
    d = Depot()
    pid, h = setup_world(d)
    d.blobs = (f"s3://{rgw.bucket}/{d.s3_prefix}?endpoint={endpoint}"
               f"&region={region or rgw.region}" + ("&path_style=1" if path_style else "")
               + (f"&ca={ca}" if ca else ""))
    d.start("--gc-interval", "0")
    return d, pid, h


def round_trip(d, pid, h):
    """A single-PUT file and a multipart one (3 parts of 5 MiB), each downloaded
    byte-identical and found in the bucket (listed path-style over plain HTTP, apart from
    the server under test); then deleted and collected by gc, leaving nothing."""
    bodies = {"small.bin": os.urandom(300_000), "big.bin": os.urandom(12 * MiB + 7)}
    name = unique()
    for file, body in bodies.items():
        url = d.api(generic_path(pid, name, "1.0", file))
        r = requests.put(url, data=body, headers=h)
        assert (r.status_code, r.json()) == (201, {"message": "201 Created"})
        g = requests.get(url, headers=h)
        assert g.status_code == 200 and g.content == body
        assert g.headers["X-Checksum-SHA256"] == hashlib.sha256(body).hexdigest()
    keys = sorted(d.s3_prefix + d.query("SELECT key FROM blob_keys WHERE sha256 = ?",
                                        hashlib.sha256(b).hexdigest())[0][0]
                  for b in bodies.values())
    assert d.blob_files() == keys
    for body in bodies.values():
        files, rows = d.stored_copies(body)
        assert (len(files), rows) == (1, 0)
        with open(files[0], "rb") as f:
            assert f.read() == body
    assert d.tmp_files() == []
    assert d.cli("fsck").stdout == ""  # reads every object back through the same --blobs
    r = requests.delete(d.api(f"/projects/{pid}/packages/generic/{name}/1.0"), headers=h)
    assert r.status_code == 204
    d.cli("gc")
    assert d.blob_files() == [] and d.tmp_files() == []
    assert d.query("SELECT COUNT(*) FROM blob_keys") == [(0,)]


def test_https_with_a_ca_file():
    rgw = S3["rgw"]
    d, pid, h = depot_over(rgw.https_endpoint, ca=rgw.ca_file)
    try:
        assert requests.get(d.url + "/-/readiness").status_code == 200
        round_trip(d, pid, h)
    finally:
        d.close()


def test_https_without_the_ca_file_is_refused_cleanly():
    """The system's CA store does not know the RGW's CA: nothing is stored, the client
    gets a JSON error, the load balancer a failed readiness; the log says why."""
    d, pid, h = depot_over(S3["rgw"].https_endpoint)
    try:
        for size in (300_000, 12 * MiB):
            r = requests.put(d.api(generic_path(pid, unique(), "1.0", "f")),
                             data=os.urandom(size), headers=h)
            assert (r.status_code, r.json()) == (500, {"message": "500 Internal Server Error"})
        assert d.query("SELECT COUNT(*) FROM package_files") == [(0,)]
        assert d.blob_files() == [] and d.tmp_files() == []
        r = requests.get(d.url + "/-/readiness")
        assert (r.status_code, r.json()) == (503, {
            "status": "failed", "meta_check": [{"status": "ok"}],
            "blobs_check": [{"status": "failed", "message": "the blob store does not answer"}]})
        res = d.cli("gc", check=False)
        assert res.returncode == 1
    finally:
        d.stop()
    assert "SSL certificate problem: unable to get local issuer certificate" in d.server_log()
    d.close()


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_virtual_hosted_addressing(https):
    """No path_style: depot sends Host BUCKET.localhost (libcurl resolves it to loopback)
    and paths without the bucket; radosgw takes the bucket from Host (rgw dns name =
    localhost) — read path-style, the prefix would be taken for a bucket and nothing would
    land in the harness's bucket."""
    rgw = S3["rgw"]
    endpoint = rgw.vhost_https_endpoint if https else rgw.vhost_endpoint
    d, pid, h = depot_over(endpoint, path_style=False, ca=rgw.ca_file if https else None)
    try:
        assert requests.get(d.url + "/-/readiness").status_code == 200
        round_trip(d, pid, h)
    finally:
        d.close()
    # what radosgw saw of depot's writes (the test's own checks read path-style): the key
    # right after the host, never the bucket in the path
    prefix = d.s3_prefix.rstrip("/")
    assert wait_for(lambda: any(line.startswith(f"POST /{d.s3_prefix}blobs/")
                                for line in rgw.request_lines(prefix)))
    writes = [line for line in rgw.request_lines(prefix) if line.split()[0] in ("PUT", "POST")]
    assert len([w for w in writes if w.startswith(f"PUT /{d.s3_prefix}blobs/")]) == 4  # 1 + 3 parts
    assert [w for w in writes if f"/{rgw.bucket}/" in w] == []


def test_another_region_name():
    """radosgw accepts any region in the signature, as AWS does for a bucket's own."""
    rgw = S3["rgw"]
    d, pid, h = depot_over(rgw.endpoint, region="eu-central-7")
    try:
        round_trip(d, pid, h)
    finally:
        d.close()
