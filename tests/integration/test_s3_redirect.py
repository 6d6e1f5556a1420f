"""--blobs-redirect over a real Ceph RGW (S3 mode: DEPOT_TEST_BLOBS=s3): an authorized GET
of a file in object storage answers 302 to a presigned URL that curl follows to the bytes,
with depot's file name and type; the URL cannot be edited or used after it expires; HEAD,
conditional requests and small (inline) files are answered by depot itself; the download
is audited and its time recorded as a direct one."""
import hashlib
import os
import subprocess
import time
import urllib.parse

import pytest
import requests

from conftest import DEPOT_REAL, S3, S3_MODE, Depot, generic_path, unique, setup_world

s3_only = pytest.mark.skipif(not S3_MODE, reason="needs DEPOT_TEST_BLOBS=s3 (an RGW)")
SIZE = 300_000  # above the 64 KiB kept in the metadata store
NAME = "my+pkg@1.tar.gz"  # '+' would be a space if left unencoded in a query
DISPOSITION = "attachment; filename=\"my+pkg%401.tar.gz\"; filename*=UTF-8''my+pkg%401.tar.gz"


def start(seconds):
    d = Depot()
    pid, h = setup_world(d)
    d.start("--blobs-redirect", str(seconds))
    return d, pid, h


@pytest.fixture(scope="module")
def rdepot():
    d, pid, h = start(300)
    body, name = os.urandom(SIZE), unique()
    url = d.api(generic_path(pid, name, "1.0", NAME))
    assert requests.put(url, data=body, headers=h).status_code == 201
    yield d, h, url, body, name
    d.close()


def location(url, h, **headers):
    r = requests.get(url, headers={**h, **headers}, allow_redirects=False)
    assert r.status_code == 302, (r.status_code, r.text)
    return r


def curl(url, h, *args):
    """curl -L, as a user would: status of the last answer, its headers, the body."""
    res = subprocess.run(["curl", "-sS", "-L", "-D", "-", "-o", "/dev/stderr",
                          "-H", f"PRIVATE-TOKEN: {h['PRIVATE-TOKEN']}", *args, url],
                         capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    last = res.stdout.decode().split("\r\n\r\n")[-2].split("\r\n")
    status = int(last[0].split()[1])
    headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in last[1:])}
    return status, headers, res.stderr


@s3_only
def test_get_redirects_to_a_presigned_url_curl_follows(rdepot):
    d, h, url, body, _ = rdepot
    r = location(url, h)
    loc = r.headers["Location"]
    rgw = S3["rgw"]
    (key,), = d.query("SELECT key FROM blob_keys WHERE sha256 = ?", hashlib.sha256(body).hexdigest())
    parts = urllib.parse.urlsplit(loc)
    assert f"{parts.scheme}://{parts.netloc}" == rgw.endpoint
    assert parts.path == f"/{rgw.bucket}/{d.s3_prefix}{key}"
    q = dict(urllib.parse.parse_qsl(parts.query))
    assert q["X-Amz-Expires"] == "300" and q["X-Amz-SignedHeaders"] == "host"
    assert q["response-content-disposition"] == DISPOSITION
    assert q["response-content-type"] == "application/octet-stream"
    assert rgw.secret_key not in loc
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Checksum-SHA256"] == hashlib.sha256(body).hexdigest()
    assert r.content == b""
    status, headers, got = curl(url, h)
    assert status == 200 and got == body
    assert headers["content-disposition"] == DISPOSITION
    assert headers["content-type"] == "application/octet-stream"
    assert headers["content-length"] == str(SIZE)
    assert "X-Amz-Signature" not in d.server_log()  # the URL is a credential while valid


@s3_only
def test_a_range_is_redirected_and_honoured_by_the_store(rdepot):
    d, h, url, body, _ = rdepot
    location(url, h, Range="bytes=1000-1999")
    status, headers, got = curl(url, h, "-r", "1000-1999")
    assert (status, got) == (206, body[1000:2000])
    assert headers["content-range"] == f"bytes 1000-1999/{SIZE}"


@s3_only
def test_an_edited_presigned_url_is_refused(rdepot):
    d, h, url, body, _ = rdepot
    loc = location(url, h).headers["Location"]
    assert requests.get(loc).status_code == 200  # as handed out: anyone may use it
    edits = [loc.replace("X-Amz-Expires=300", "X-Amz-Expires=3000"),
             loc.replace("tar.gz", "tar.gx"),  # another file name for the download
             loc.replace("response-content-type=application%2Foctet-stream",
                         "response-content-type=text%2Fhtml")]
    key = urllib.parse.urlsplit(loc).path.rsplit("/", 1)[1]
    edits.append(loc.replace(key, key[:-1] + ("0" if key[-1] != "0" else "1")))  # another object
    for bad in edits:
        assert bad != loc
        r = requests.get(bad)
        assert r.status_code == 403, (bad, r.status_code)
        assert b"SignatureDoesNotMatch" in r.content or b"AccessDenied" in r.content


@s3_only
def test_an_expired_presigned_url_is_refused():
    d, pid, h = start(1)
    try:
        body = os.urandom(SIZE)
        url = d.api(generic_path(pid, unique(), "1.0", "f.bin"))
        assert requests.put(url, data=body, headers=h).status_code == 201
        loc = location(url, h).headers["Location"]
        assert "X-Amz-Expires=1&" in loc
        time.sleep(3)  # whole seconds in X-Amz-Date: 1 s of validity may end within 2 s
        r = requests.get(loc)
        assert r.status_code == 403 and b"AccessDenied" in r.content
        r = requests.get(url, headers=h)  # depot hands out a fresh one
        assert r.status_code == 200 and r.content == body
    finally:
        d.close()


@s3_only
def test_head_and_conditionals_are_answered_by_depot(rdepot):
    d, h, url, body, _ = rdepot
    etag = f"\"{hashlib.sha256(body).hexdigest()}\""
    r = requests.head(url, headers=h, allow_redirects=False)
    assert r.status_code == 200 and "Location" not in r.headers
    assert r.headers["Content-Length"] == str(SIZE) and r.headers["ETag"] == etag
    last_mod = r.headers["Last-Modified"]
    cases = [({"If-None-Match": etag}, 304, b""),
             ({"If-None-Match": "\"other\""}, 200, body),
             ({"If-Modified-Since": last_mod}, 304, b""),
             ({"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}, 200, body),
             ({"If-Match": etag}, 200, body),
             ({"If-Unmodified-Since": last_mod}, 200, body),
             ({"Range": "bytes=0-9", "If-Range": etag}, 206, body[:10]),
             ({"Range": "bytes=0-9", "If-Range": "\"other\""}, 200, body),
             ({"Range": "bytes=0-1,5-6"}, 200, body),  # several ranges: depot sends all
             ({"Range": f"bytes={SIZE}-"}, 416, None)]
    for headers, status, content in cases:
        r = requests.get(url, headers={**h, **headers}, allow_redirects=False)
        assert r.status_code == status, (headers, r.status_code)
        assert "Location" not in r.headers
        if content is not None:
            assert r.content == content, headers


@s3_only
def test_small_files_from_the_metadata_store_are_served(rdepot):
    d, h, url, _, _ = rdepot
    body = os.urandom(1024)
    small = url.rsplit("/", 3)[0] + f"/{unique()}/1.0/small.bin"
    assert requests.put(small, data=body, headers=h).status_code == 201
    assert d.stored_copies(body) == ([], 1)  # inline
    r = requests.get(small, headers=h, allow_redirects=False)
    assert r.status_code == 200 and r.content == body


@s3_only
def test_redirected_downloads_are_audited_and_timed(rdepot):
    d, h, url, body, _ = rdepot
    name = unique()  # a package of its own: the audit log is written in batches
    url = url.rsplit("/", 3)[0] + f"/{name}/1.0/{NAME}"
    assert requests.put(url, data=body, headers=h).status_code == 201
    location(url, h)
    location(url, h, Range="bytes=5-14")
    requests.head(url, headers=h)  # not a download
    assert d.wait_downloaded(name)
    # Ordered by content, not id: behind the load balancer the two downloads may be served by
    # different nodes, and each node writes its audit events in its own batches.
    sql = ("SELECT username, file_name, size, sha256, detail FROM audit_log "
           "WHERE action = 'download' AND package = ? ORDER BY size DESC")
    deadline = time.time() + 10
    while time.time() < deadline and len(d.query(sql, name)) < 2:
        time.sleep(0.1)
    time.sleep(1.5)  # and nothing more comes
    sha = hashlib.sha256(body).hexdigest()
    assert [tuple(r) for r in d.query(sql, name)] == [("u", NAME, SIZE, sha, ""),
                                                      ("u", NAME, 10, sha, "range")]


@s3_only
def test_unauthorized_gets_no_url(rdepot):
    d, h, url, _, _ = rdepot
    r = requests.get(url, allow_redirects=False)
    assert r.status_code in (401, 404) and "Location" not in r.headers
    r = requests.get(url, headers={"PRIVATE-TOKEN": "glpat-wrongwrongwrongwrong"},
                     allow_redirects=False)
    assert r.status_code == 401 and "Location" not in r.headers


def test_redirect_needs_object_storage(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DEPOT_BLOBS"}
    res = subprocess.run([DEPOT_REAL, "serve", "--data", str(tmp_path), "--listen",
                          "127.0.0.1:0", "--blobs-redirect", "60"],
                         capture_output=True, text=True, env=env, timeout=30)
    assert res.returncode == 2
    assert "--blobs-redirect needs file contents in object storage" in res.stderr
    res = subprocess.run([DEPOT_REAL, "serve", "--data", str(tmp_path), "--listen",
                          "127.0.0.1:0", "--blobs-redirect", "604801"],
                         capture_output=True, text=True, env=env, timeout=30)
    assert res.returncode == 2 and "at most 604800" in res.stderr
