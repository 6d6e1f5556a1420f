"""Downloads of small hot files are answered from what earlier requests kept (issue 12): the
lookup of project, package and file (valid while the auth and content epochs stand) and the
whole reply (by file id). What a client sees must be exactly what a freshly built answer
is, for GET and HEAD, and every change to the file — new content under the same name, a
delete, a change written by another process, a range, validators — must be answered as if
nothing were kept. Each test asks several times first, so that kept things answer."""
import time

import pytest
import requests

from conftest import generic_path, unique

VOLATILE = {"date", "connection", "keep-alive"}


def headers_of(r):
    """Names in lower case: a load balancer in front (the nodes pass) may change their case."""
    return {k.lower(): v for k, v in r.headers.items() if k.lower() not in VOLATILE}


@pytest.fixture
def small(depot, world):
    h = {"PRIVATE-TOKEN": world.pat["admin"]}
    name = unique("hot")
    url = depot.api(generic_path(world.pid("acme/app"), name, "1.0", "dir/f.bin"))
    body = b"hot body \x00\xff" * 50
    r = requests.put(url, data=body, headers=h)
    assert r.status_code == 201, r.text
    return {"url": url, "h": h, "body": body, "name": name}


def downloads(depot, name, n):
    sql = ("SELECT size, detail FROM audit_log WHERE action = 'download' AND package = ?"
           " ORDER BY size, detail")
    deadline = time.time() + 10
    rows = depot.query(sql, name)
    while time.time() < deadline and len(rows) < n:
        time.sleep(0.1)
        rows = depot.query(sql, name)
    time.sleep(1.2)  # the audit log is written in batches: nothing more may come
    return depot.query(sql, name)


def test_repeated_gets_and_heads_answer_the_same(depot, small):
    s = requests.Session()
    first = s.get(small["url"], headers=small["h"])
    assert first.status_code == 200 and first.content == small["body"]
    expected = headers_of(first)
    assert expected["content-length"] == str(len(small["body"]))
    assert expected["content-disposition"] == 'attachment; filename="f.bin"; filename*=UTF-8\'\'f.bin'
    assert expected["x-content-type-options"] == "nosniff"
    for _ in range(4):  # one connection, as keep-alive clients do, and new ones
        for client in (s, requests):
            r = client.get(small["url"], headers=small["h"])
            assert (r.status_code, r.content, headers_of(r)) == (200, small["body"], expected)
    head = s.head(small["url"], headers=small["h"])
    assert (head.status_code, head.content, headers_of(head)) == (200, b"", expected)
    # every GET is a download (9), a HEAD is not
    assert downloads(depot, small["name"], 9) == [(len(small["body"]), "")] * 9


def test_ranges_and_validators_after_a_kept_reply(depot, small):
    for _ in range(3):
        assert requests.get(small["url"], headers=small["h"]).status_code == 200
    r = requests.get(small["url"], headers={**small["h"], "Range": "bytes=3-9"})
    assert r.status_code == 206 and r.content == small["body"][3:10]
    assert r.headers["Content-Range"] == f"bytes 3-9/{len(small['body'])}"
    etag = requests.get(small["url"], headers=small["h"]).headers["ETag"]
    r = requests.get(small["url"], headers={**small["h"], "If-None-Match": etag})
    assert r.status_code == 304 and r.content == b""
    r = requests.get(small["url"], headers={**small["h"], "If-None-Match": '"other"'})
    assert r.status_code == 200 and r.content == small["body"]


def test_new_content_under_the_same_name_is_served_at_once(depot, small):
    for _ in range(3):
        assert requests.get(small["url"], headers=small["h"]).content == small["body"]
    new = b"replaced" * 10
    assert requests.put(small["url"], data=new, headers=small["h"]).status_code == 201
    r = requests.get(small["url"], headers=small["h"])
    assert r.status_code == 200 and r.content == new
    assert r.headers["Content-Length"] == str(len(new))
    assert r.headers["ETag"] != requests.head(small["url"], headers=small["h"]).headers.get(
        "X-Checksum-MD5")


def test_a_deleted_file_is_gone_at_once(depot, world, small):
    for _ in range(3):
        assert requests.get(small["url"], headers=small["h"]).status_code == 200
    pid = world.pid("acme/app")
    pkgs = requests.get(depot.api(f"/projects/{pid}/packages"),
                        params={"package_name": small["name"]}, headers=small["h"]).json()
    files = requests.get(depot.api(f"/projects/{pid}/packages/{pkgs[0]['id']}/package_files"),
                         headers=small["h"]).json()
    r = requests.delete(depot.api(f"/projects/{pid}/packages/{pkgs[0]['id']}/package_files/"
                                  f"{files[0]['id']}"), headers=small["h"])
    assert r.status_code == 204, r.text
    r = requests.get(small["url"], headers=small["h"])
    assert r.status_code == 404 and r.json() == {"message": "404 Not found"}


def test_a_kept_reply_is_never_sent_without_authorization(depot, small):
    for _ in range(3):
        assert requests.get(small["url"], headers=small["h"]).status_code == 200
    r = requests.get(small["url"])
    assert r.status_code in (401, 404) and r.content != small["body"]
    r = requests.get(small["url"], headers={"PRIVATE-TOKEN": "glpat-not-a-token-at-all"})
    assert r.status_code == 401 and r.content != small["body"]


def test_the_same_content_under_other_names_keeps_each_name(depot, world, small):
    """Kept replies carry a file's own headers, not only its content's."""
    other = small["url"].rsplit("/", 1)[0] + "/g.bin"
    assert requests.put(other, data=small["body"], headers=small["h"]).status_code == 201
    for _ in range(3):
        for url, name in ((small["url"], "f.bin"), (other, "g.bin")):
            r = requests.get(url, headers=small["h"])
            assert r.status_code == 200 and r.content == small["body"]
            assert r.headers["Content-Disposition"] == \
                f'attachment; filename="{name}"; filename*=UTF-8\'\'{name}'


def file_row(depot, name):
    return depot.query("SELECT f.id, p.id FROM package_files f JOIN packages p"
                       " ON p.id = f.package_id WHERE p.name = ?", name)[0]


def write(depot, sql, *params):
    """A change by another process (the CLI, another node, an operator's SQL)."""
    with depot.db() as con:
        con.execute(sql, params)


@pytest.mark.parametrize("change", ["file", "package"])
def test_a_withdrawal_written_by_sql_outside_depot_is_seen_within_a_tenth_of_a_second(
        depot, small, change):
    """SQL outside depot counts no write where depot's processes count theirs, so it is seen
    through the epochs: over SQLite as read at most 0.1 s before, over PostgreSQL by every
    request. (depot's own processes, the CLI among them, are seen by the next request:
    test_token_cache.py.)"""
    for _ in range(3):
        assert requests.get(small["url"], headers=small["h"]).status_code == 200
    file_id, package_id = file_row(depot, small["name"])
    if change == "file":  # FILE_PENDING_DESTRUCTION
        write(depot, "UPDATE package_files SET status = 1 WHERE id = ?", file_id)
    else:  # PKG_PENDING_DESTRUCTION
        write(depot, "UPDATE packages SET status = 4 WHERE id = ?", package_id)
    time.sleep(0.15)
    r = requests.get(small["url"], headers=small["h"])
    assert r.status_code == 404 and r.json() == {"message": "404 Not found"}


def content_epoch(depot):
    return depot.query("SELECT n FROM content_epoch WHERE id = 1")[0][0]


def test_the_content_epoch_moves_with_files_not_with_downloads(depot, small):
    before = content_epoch(depot)
    for _ in range(3):
        assert requests.get(small["url"], headers=small["h"]).status_code == 200
    assert depot.wait_downloaded(small["name"])  # the download time was written
    assert content_epoch(depot) == before
    other = small["url"].rsplit("/", 1)[0] + "/new.bin"
    assert requests.put(other, data=b"new", headers=small["h"]).status_code == 201
    assert content_epoch(depot) > before
