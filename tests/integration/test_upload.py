"""Uploading and downloading generic package files: bodies, headers, select=package_file,
status, directory structure, the newest-file rule, the seed's listing, and what is
stored (rows and blobs)."""
import hashlib
import os
import re

import pytest
import requests

from conftest import generic_path, sha256, unique


def dev(world):
    return {"PRIVATE-TOKEN": world.pat["dev"]}


def url(depot, world, name, file_name, version="1.0.0", project="acme/app"):
    return depot.api(generic_path(world.pid(project), name, version, file_name))


def test_upload_then_download_headers(depot, world):
    name, body = unique(), os.urandom(10000)
    r = requests.put(url(depot, world, name, "myfile@1.1.tar.gz"), data=body, headers=dev(world))
    assert (r.status_code, r.json()) == (201, {"message": "201 Created"})
    assert r.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    g = requests.get(url(depot, world, name, "myfile@1.1.tar.gz"), headers=dev(world))
    assert g.status_code == 200 and g.content == body
    assert g.headers["Content-Type"] == "application/octet-stream"
    assert g.headers["Content-Disposition"] == \
        "attachment; filename=\"myfile%401.1.tar.gz\"; filename*=UTF-8''myfile%401.1.tar.gz"
    assert g.headers["X-Checksum-SHA256"] == sha256(body)
    assert g.headers["X-Checksum-SHA1"] == hashlib.sha1(body).hexdigest()
    assert g.headers["X-Checksum-MD5"] == hashlib.md5(body).hexdigest()
    assert g.headers["Content-Length"] == str(len(body))


@pytest.mark.parametrize("size", [13, 200000])
def test_stored_rows_and_blob(depot, world, size):
    """Small files (up to 64 KiB) are stored in the database with their rows, larger ones
    as content-addressed files under blobs/."""
    name, body = unique(), os.urandom(size)
    assert requests.put(url(depot, world, name, "a.txt"), data=body,
                        headers=dev(world)).status_code == 201
    rows = depot.query("SELECT f.file_name, f.size, f.file_md5, f.file_sha1, f.file_sha256,"
                       " p.version, p.status, p.creator_id FROM package_files f"
                       " JOIN packages p ON p.id = f.package_id WHERE p.name = ?", name)
    dev_id = depot.query("SELECT id FROM users WHERE username = 'dev'")[0][0]
    assert rows == [("a.txt", len(body), hashlib.md5(body).hexdigest(),
                     hashlib.sha1(body).hexdigest(), sha256(body), "1.0.0", 0, dev_id)]
    h = sha256(body)
    files, rows = depot.stored_copies(body)
    if size > 65536:
        assert (len(files), rows) == (1, 0)
        with open(files[0], "rb") as f:
            assert f.read() == body
    else:
        assert (files, rows) == ([], 1)
        assert depot.query("SELECT data FROM inline_blobs WHERE sha256 = ?", h) == [(body,)]
    assert depot.tmp_files() == []


@pytest.mark.parametrize("size", [4096, 100000])
def test_identical_content_stored_once(depot, world, size):
    body = os.urandom(size)
    for _ in range(3):
        assert requests.put(url(depot, world, unique(), "same.bin"), data=body,
                            headers=dev(world)).status_code == 201
    files, rows = depot.stored_copies(body)
    assert len(files) + rows == 1


def test_empty_file(depot, world):
    name = unique()
    r = requests.put(url(depot, world, name, "empty") + "?select=package_file", data=b"",
                     headers=dev(world))
    assert r.status_code == 200
    assert r.json()["size"] == 0
    assert r.json()["file_sha256"] == sha256(b"")
    assert requests.get(url(depot, world, name, "empty"), headers=dev(world)).content == b""


def test_select_package_file(depot, world):
    name, body = unique(), b"select me"
    r = requests.put(url(depot, world, name, "s.bin") + "?select=package_file", data=body,
                     headers=dev(world))
    assert r.status_code == 200
    j = r.json()
    assert list(j) == ["id", "package_id", "created_at", "updated_at", "size", "file_store",
                       "file_md5", "file_sha1", "file_name", "file", "file_sha256",
                       "verification_retry_at", "verified_at", "verification_failure",
                       "verification_retry_count", "verification_checksum",
                       "verification_state", "verification_started_at", "status",
                       "file_final_path", "project_id", "new_file_path"]
    pid = world.pid("acme/app")
    h = sha256(str(pid).encode())
    assert j["file"]["url"] == \
        f"/{h[:2]}/{h[2:4]}/{h}/packages/{j['package_id']}/files/{j['id']}/s.bin"
    assert (j["size"], j["file_name"], j["status"], j["project_id"]) == (9, "s.bin", "default", pid)
    assert j["file_md5"] == hashlib.md5(body).hexdigest()
    assert j["file_sha1"] == hashlib.sha1(body).hexdigest()
    assert j["file_sha256"] == sha256(body)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", j["created_at"])
    assert depot.query("SELECT id FROM package_files WHERE id = ?", j["id"]) == [(j["id"],)]


def test_newest_file_wins(depot, world):
    name = unique()
    for body in [b"first", b"second", b"third"]:
        assert requests.put(url(depot, world, name, "f"), data=body,
                            headers=dev(world)).status_code == 201
    assert requests.get(url(depot, world, name, "f"), headers=dev(world)).content == b"third"
    count = depot.query("SELECT COUNT(*) FROM package_files f JOIN packages p"
                        " ON p.id = f.package_id WHERE p.name = ?", name)[0][0]
    assert count == 3  # nothing is overwritten
    assert depot.query("SELECT COUNT(*) FROM packages WHERE name = ?", name)[0][0] == 1


def test_hidden_status(depot, world):
    name = unique()
    r = requests.put(url(depot, world, name, "h") + "?status=hidden", data=b"h",
                     headers=dev(world))
    assert r.status_code == 201
    assert depot.query("SELECT status FROM packages WHERE name = ?", name) == [(1,)]
    # hidden packages still download
    assert requests.get(url(depot, world, name, "h"), headers=dev(world)).content == b"h"
    # an explicit status=default un-hides; an upload without status leaves it alone
    requests.put(url(depot, world, name, "i") + "?status=default", data=b"i", headers=dev(world))
    assert depot.query("SELECT status FROM packages WHERE name = ?", name) == [(0,)]
    requests.put(url(depot, world, name, "j") + "?status=hidden", data=b"j", headers=dev(world))
    requests.put(url(depot, world, name, "k"), data=b"k", headers=dev(world))
    assert depot.query("SELECT status FROM packages WHERE name = ?", name) == [(1,)]


def test_directory_structure(depot, world):
    name = unique()
    r = requests.put(url(depot, world, name, "dir/sub/file.txt"), data=b"nested",
                     headers=dev(world))
    assert r.status_code == 201
    assert depot.query("SELECT f.file_name FROM package_files f JOIN packages p"
                       " ON p.id = f.package_id WHERE p.name = ?", name) == [("dir/sub/file.txt",)]
    g = requests.get(url(depot, world, name, "dir/sub/file.txt"), headers=dev(world))
    assert g.content == b"nested"
    assert g.headers["Content-Disposition"] == \
        "attachment; filename=\"file.txt\"; filename*=UTF-8''file.txt"
    # the same file through the path parameter
    g2 = requests.get(url(depot, world, name, "file.txt") + "?path=dir/sub", headers=dev(world))
    assert g2.content == b"nested"
    # and a top-level file of the same base name is another file
    assert requests.get(url(depot, world, name, "file.txt"),
                        headers=dev(world)).status_code == 404


def test_path_parameter_on_upload(depot, world):
    name = unique()
    r = requests.put(url(depot, world, name, "f.bin") + "?path=a/b%20c", data=b"p",
                     headers=dev(world))
    assert r.status_code == 201
    assert depot.query("SELECT f.file_name FROM package_files f JOIN packages p"
                       " ON p.id = f.package_id WHERE p.name = ?", name) == [("a/b c/f.bin",)]
    assert requests.get(url(depot, world, name, "a/b%20c/f.bin"),
                        headers=dev(world)).content == b"p"


def test_files_listing(depot, world):
    name = unique()
    files = {"a.txt": b"aaa", "dir/b.txt": b"bb", "dir/sub/c.txt": b"c", "dir/files": b"ok"}
    for f, body in files.items():
        assert requests.put(url(depot, world, name, f), data=body,
                            headers=dev(world)).status_code == 201
    requests.put(url(depot, world, name, "a.txt"), data=b"newer a", headers=dev(world))
    r = requests.get(url(depot, world, name, "files"), headers=dev(world))
    assert r.status_code == 200
    listing = r.json()
    files["a.txt"] = b"newer a"
    assert sorted(x["file_name"] for x in listing) == sorted(files)
    for x in listing:
        body = files[x["file_name"]]
        assert x["size"] == len(body)
        assert x["file_sha256"] == sha256(body)
        assert x["file_md5"] == hashlib.md5(body).hexdigest()
        assert x["file_sha1"] == hashlib.sha1(body).hexdigest()
        assert {"id", "package_id", "created_at"} <= set(x)


def test_files_listing_errors(depot, world):
    assert requests.get(url(depot, world, unique(), "files"),
                        headers=dev(world)).json() == {"message": "404 Not found"}
    assert requests.get(url(depot, world, unique(), "files")).status_code == 401


def test_top_level_files_is_reserved(depot, world):
    name = unique()
    r = requests.put(url(depot, world, name, "files"), data=b"x", headers=dev(world))
    assert r.status_code == 400
    assert r.json()["message"].startswith("400 Bad request - ")
    assert "files" in r.json()["message"]
    assert depot.query("SELECT COUNT(*) FROM packages WHERE name = ?", name) == [(0,)]


def test_not_found_bodies(depot, world):
    name = unique()
    r = requests.get(url(depot, world, name, "nope"), headers=dev(world))
    assert (r.status_code, r.json()) == (404, {"message": "404 Not found"})
    requests.put(url(depot, world, name, "yes"), data=b"y", headers=dev(world))
    r = requests.get(url(depot, world, name, "nope"), headers=dev(world))
    assert (r.status_code, r.json()) == (404, {"message": "404 Not found"})
    r = requests.get(url(depot, world, name, "yes", version="2.0"), headers=dev(world))
    assert (r.status_code, r.json()) == (404, {"message": "404 Not found"})


def test_unmatched_route(depot, world):
    r = requests.get(depot.api("/nothing/here"), headers=dev(world))
    assert (r.status_code, r.json()) == (404, {"error": "404 Not Found"})


def test_last_downloaded_at(depot, world):
    name = unique()
    requests.put(url(depot, world, name, "d"), data=b"d", headers=dev(world))
    assert depot.query("SELECT last_downloaded_at FROM packages WHERE name = ?", name) == [(None,)]
    import time
    before = int(time.time() * 1000)
    requests.get(url(depot, world, name, "d"), headers=dev(world))
    ts = depot.wait_downloaded(name)
    assert before - 1000 <= ts <= int(time.time() * 1000)


def test_head(depot, world):
    name, body = unique(), b"head body"
    requests.put(url(depot, world, name, "h.bin"), data=body, headers=dev(world))
    r = requests.head(url(depot, world, name, "h.bin"), headers=dev(world))
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Content-Length"] == str(len(body))
    assert r.headers["X-Checksum-SHA256"] == sha256(body)
    assert requests.head(url(depot, world, name, "x"), headers=dev(world)).status_code == 404


def test_keep_alive_download(depot, world):
    """Downloads keep the connection open (answering on the first callback would not)."""
    name = unique()
    requests.put(url(depot, world, name, "k"), data=b"k", headers=dev(world))
    r = requests.get(url(depot, world, name, "k"), headers=dev(world))
    assert r.headers.get("Connection", "").lower() != "close"


def test_parallel_first_uploads_into_new_version(depot, world):
    """GitLab asks users to upload serially; depot must not fail on parallel first uploads."""
    from concurrent.futures import ThreadPoolExecutor
    name = unique()

    def up(i):
        return requests.put(url(depot, world, name, f"f{i}"), data=str(i).encode(),
                            headers=dev(world)).status_code

    with ThreadPoolExecutor(16) as ex:
        assert list(ex.map(up, range(32))) == [201] * 32
    assert depot.query("SELECT COUNT(*) FROM packages WHERE name = ?", name) == [(1,)]
    assert depot.query("SELECT COUNT(*) FROM package_files f JOIN packages p"
                       " ON p.id = f.package_id WHERE p.name = ?", name) == [(32,)]
