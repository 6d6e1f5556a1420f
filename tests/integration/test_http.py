"""HTTP semantics of file responses (ETag, conditional requests, ranges, HEAD, checksum
headers) and verified uploads (Content-MD5, Content-Digest, Repr-Digest, X-Checksum-*):
a mismatch answers 400 and stores nothing; a refused 100-continue upload sends no body."""
import base64
import hashlib
import os
import socket

import pytest
import requests

from conftest import read_response_head, generic_path, sha256, unique

BODY = bytes(range(256)) * 40  # 10240 bytes


def hdr(world):
    return {"PRIVATE-TOKEN": world.pat["dev"]}


@pytest.fixture(scope="module")
def stored(depot, world):
    name = unique()
    url = depot.api(generic_path(world.pid("acme/app"), name, "1.0", "r.bin"))
    assert requests.put(url, data=BODY, headers=hdr(world)).status_code == 201
    (fid,), = depot.query("SELECT f.id FROM package_files f JOIN packages p ON p.id ="
                          " f.package_id WHERE p.name = ?", name)
    (pid,), = depot.query("SELECT id FROM packages WHERE name = ?", name)
    by_id = depot.api(f"/projects/{world.pid('acme/app')}/packages/{pid}/package_files/{fid}/download")
    return {"generic": url, "by_id": by_id}


@pytest.fixture(params=["generic", "by_id"])
def url(request, stored):
    return stored[request.param]


def get(world, url, method="GET", **headers):
    return requests.request(method, url, headers={**hdr(world), **headers})


def test_validators_and_checksums(world, url):
    for method in ["GET", "HEAD"]:
        r = get(world, url, method)
        assert r.status_code == 200
        assert r.headers["ETag"] == f'"{sha256(BODY)}"'
        assert r.headers["Accept-Ranges"] == "bytes"
        assert r.headers["Last-Modified"].endswith(" GMT")
        assert r.headers["X-Checksum-SHA256"] == sha256(BODY)
        assert r.headers["X-Checksum-SHA1"] == hashlib.sha1(BODY).hexdigest()
        assert r.headers["X-Checksum-MD5"] == hashlib.md5(BODY).hexdigest()
        assert r.headers["Content-Length"] == str(len(BODY))
        assert r.content == (BODY if method == "GET" else b"")


def test_if_none_match(world, url):
    etag = get(world, url).headers["ETag"]
    for value in [etag, f"W/{etag}", f'"nope", {etag}', "*"]:
        r = get(world, url, **{"If-None-Match": value})
        assert (r.status_code, r.content) == (304, b""), value
        assert r.headers["ETag"] == etag
    assert get(world, url, **{"If-None-Match": '"other"'}).status_code == 200


def test_if_modified_since(world, url):
    lm = get(world, url).headers["Last-Modified"]
    assert get(world, url, **{"If-Modified-Since": lm}).status_code == 304
    assert get(world, url, **{"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}).status_code == 200
    assert get(world, url, **{"If-Modified-Since": "yesterday"}).status_code == 200
    # If-None-Match wins over If-Modified-Since
    assert get(world, url, **{"If-Modified-Since": lm, "If-None-Match": '"x"'}).status_code == 200


@pytest.mark.parametrize("rng,start,end", [("bytes=0-99", 0, 99), ("bytes=100-", 100, 10239),
                                           ("bytes=-10", 10230, 10239), ("bytes=10000-20000", 10000, 10239),
                                           ("bytes=5-5", 5, 5), ("bytes=-99999", 0, 10239)])
def test_single_range(world, url, rng, start, end):
    r = get(world, url, Range=rng)
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes {start}-{end}/{len(BODY)}"
    assert r.content == BODY[start:end + 1]
    assert r.headers["Content-Length"] == str(end - start + 1)


@pytest.mark.parametrize("rng", ["bytes=10240-", "bytes=20000-30000", "bytes=-0"])
def test_unsatisfiable_range(world, url, rng):
    r = get(world, url, Range=rng)
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{len(BODY)}"


@pytest.mark.parametrize("rng", ["bytes=0-1,5-6", "bytes=5-1", "items=0-5", "bytes=abc", "bytes="])
def test_ranges_answered_whole(world, url, rng):
    r = get(world, url, Range=rng)
    assert (r.status_code, r.content) == (200, BODY)


def test_if_range(world, url):
    r0 = get(world, url)
    etag, lm = r0.headers["ETag"], r0.headers["Last-Modified"]
    assert get(world, url, Range="bytes=0-9", **{"If-Range": etag}).status_code == 206
    assert get(world, url, Range="bytes=0-9", **{"If-Range": lm}).status_code == 206
    r = get(world, url, Range="bytes=0-9", **{"If-Range": '"stale"'})
    assert (r.status_code, len(r.content)) == (200, len(BODY))
    assert get(world, url, Range="bytes=0-9", **{"If-Range": "W/" + etag}).status_code == 200
    assert get(world, url, Range="bytes=0-9",
               **{"If-Range": "Sat, 01 Jan 2000 00:00:00 GMT"}).status_code == 200


def b64(raw):
    return base64.b64encode(raw).decode()


GOOD = {
    "Content-MD5": lambda b: b64(hashlib.md5(b).digest()),
    "Content-Digest": lambda b: f"sha-256=:{b64(hashlib.sha256(b).digest())}:",
    "Repr-Digest": lambda b: f"sha-512=:{b64(hashlib.sha512(b).digest())}:",
    "X-Checksum-Sha256": lambda b: hashlib.sha256(b).hexdigest(),
    "X-Checksum-Sha1": lambda b: hashlib.sha1(b).hexdigest().upper(),
    "X-Checksum-Md5": lambda b: hashlib.md5(b).hexdigest(),
}


def counts(depot):
    return (depot.query("SELECT COUNT(*) FROM package_files")[0][0], depot.blob_files(), depot.inline_count(),
            depot.tmp_files())


@pytest.mark.parametrize("header", list(GOOD))
def test_verified_upload(depot, world, header):
    body = os.urandom(3000)
    url = depot.api(generic_path(world.pid("acme/app"), unique(), "1.0", "v.bin"))
    r = requests.put(url, data=body, headers={**hdr(world), header: GOOD[header](body)})
    assert r.status_code == 201
    before = counts(depot)
    other = os.urandom(3000)
    r = requests.put(url, data=other, headers={**hdr(world), header: GOOD[header](body)})
    assert r.status_code == 400
    msg = r.json()["message"]
    assert msg.startswith("400 Bad request - ") and "checksum mismatch" in msg and header in msg
    assert counts(depot) == before
    assert requests.get(url, headers=hdr(world)).content == body


def test_digest_field_with_several_algorithms(depot, world):
    body = b"several"
    url = depot.api(generic_path(world.pid("acme/app"), unique(), "1.0", "s.bin"))
    value = (f"unixsum=:AAAA:, sha-256=:{b64(hashlib.sha256(body).digest())}:, "
             f"sha-512=:{b64(hashlib.sha512(body).digest())}:")
    assert requests.put(url, data=body, headers={**hdr(world), "Content-Digest": value}).status_code == 201
    bad = f"sha-256=:{b64(hashlib.sha256(body).digest())}:, sha-512=:{b64(hashlib.sha512(b'x').digest())}:"
    r = requests.put(url, data=body, headers={**hdr(world), "Content-Digest": bad})
    assert r.status_code == 400 and "Content-Digest checksum mismatch" in r.json()["message"]


@pytest.mark.parametrize("header,value", [("Content-MD5", "not base64!"), ("Content-MD5", b64(b"short")),
                                          ("Content-Digest", "sha-256=abc"),
                                          ("Content-Digest", "sha-256=:" + b64(b"x" * 31) + ":"),
                                          ("X-Checksum-Sha256", "abc"), ("X-Checksum-Md5", "z" * 32)])
def test_malformed_digest_headers(depot, world, header, value):
    before = counts(depot)
    url = depot.api(generic_path(world.pid("acme/app"), unique(), "1.0", "m.bin"))
    r = requests.put(url, data=b"body", headers={**hdr(world), header: value})
    assert (r.status_code, r.json()) == (400, {"message": f"400 Bad request - malformed {header} header"})
    assert counts(depot) == before


def test_conflicting_digest_headers(depot, world):
    body = b"conflict"
    url = depot.api(generic_path(world.pid("acme/app"), unique(), "1.0", "c.bin"))
    r = requests.put(url, data=body, headers={**hdr(world),
                                              "X-Checksum-Sha256": hashlib.sha256(body).hexdigest(),
                                              "Content-Digest": f"sha-256=:{b64(hashlib.sha256(b'y').digest())}:"})
    assert r.status_code == 400


def test_refused_continue_sends_no_body(depot, world):
    """A bad checksum header, like any refusal decided from the headers, answers before the
    server asks for the body: the client never sends it."""
    host, port = depot.url.rsplit("/", 1)[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    path = generic_path(world.pid("acme/app"), unique(), "1.0", "x.bin")
    s.sendall((f"PUT /api/v4{path} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {world.pat['dev']}\r\n"
               f"Content-MD5: ???\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n").encode())
    head = read_response_head(s)
    s.close()
    assert head.startswith(b"HTTP/1.1 400") and b"100 Continue" not in head


def test_ranges_and_conditionals_on_a_large_file(depot, world):
    """Files above the in-memory size are sent from disk (sendfile): the same semantics."""
    body = os.urandom(300000)
    url = depot.api(generic_path(world.pid("acme/app"), unique(), "1.0", "big.bin"))
    assert requests.put(url, data=body, headers=hdr(world)).status_code == 201
    r = get(world, url, Range="bytes=100000-100099")
    assert (r.status_code, r.content) == (206, body[100000:100100])
    assert r.headers["Content-Range"] == "bytes 100000-100099/300000"
    r = get(world, url, Range="bytes=-5")
    assert r.content == body[-5:]
    assert get(world, url, **{"If-None-Match": f'"{sha256(body)}"'}).status_code == 304
    assert get(world, url).content == body
    assert get(world, url, "HEAD").headers["Content-Length"] == "300000"


def test_download_time_only_when_content_is_sent(depot, world):
    """Regression (issue 9.5): last_downloaded_at was set by HEAD, 304, 416 and missing
    content; it feeds the not_downloaded_days retention rule."""
    pid = world.pid("acme/app")
    h = {"PRIVATE-TOKEN": world.pat["dev"]}
    small, big, control = unique("touch"), unique("touch"), unique("touch")
    big_body = os.urandom(200_000)  # above the inline limit: a file under blobs/
    for name, body in ((small, b"1"), (big, big_body), (control, b"c")):
        assert requests.put(depot.api(generic_path(pid, name, "1.0", "f")), data=body,
                            headers=h).status_code == 201
    url = depot.api(generic_path(pid, small, "1.0", "f"))
    assert requests.head(url, headers=h).status_code == 200
    etag = requests.head(url, headers=h).headers["ETag"]
    assert requests.get(url, headers={**h, "If-None-Match": etag}).status_code == 304
    assert requests.get(url, headers={**h, "Range": "bytes=100-"}).status_code == 416
    depot.drop_blob(sha256(big_body))
    assert requests.get(depot.api(generic_path(pid, big, "1.0", "f")),
                        headers=h).status_code == 404
    # Download times are written in batches: once the control's is in, so would be theirs.
    assert requests.get(depot.api(generic_path(pid, control, "1.0", "f")),
                        headers=h).content == b"c"
    depot.wait_downloaded(control)
    assert depot.query("SELECT name, last_downloaded_at FROM packages WHERE name IN (?, ?)"
                       " ORDER BY name", small, big) == sorted([(small, None), (big, None)])
    assert requests.get(url, headers={**h, "Range": "bytes=0-0"}).status_code == 206
    assert depot.wait_downloaded(small) > 0
