"""Atomic publishing (issue 14): files uploaded with status=hidden build a version no selector
resolves to; POST .../:version/@publish makes it default in one transaction, optionally after
checking its files against a manifest (409 with the differences, nothing changed); the
uploads' Content-Digest is verified; and a consumer polling @latest during an atomic publish
never sees a partial version."""
import base64
import hashlib
import threading
import time

import pytest
import requests

from conftest import generic_path, unique

NOT_FOUND = {"message": "404 Package Not Found"}
DIFFER = "409 Conflict - the version's files differ from the manifest"


def sha(b):
    return hashlib.sha256(b).hexdigest()


@pytest.fixture(scope="module")
def ctx(depot, world):
    return {"pid": world.pid("acme/app"), "h": {"PRIVATE-TOKEN": world.pat["dev"]}}


def base(depot, ctx, name):
    return depot.api(f"/projects/{ctx['pid']}/packages/generic/{name}")


def push_hidden(depot, ctx, name, version, files):
    for path, body in files.items():
        r = requests.put(f"{base(depot, ctx, name)}/{version}/{path}?status=hidden", data=body,
                         headers=ctx["h"])
        assert r.status_code == 201, r.text


def status_of(depot, ctx, name, version):
    rows = depot.query("SELECT status FROM packages WHERE project_id = ? AND name = ?"
                       " AND version = ? AND status != 4", ctx["pid"], name, version)
    return rows[0][0] if rows else None


def manifest(files):
    return {"files": [{"file_name": p, "sha256": sha(b)} for p, b in files.items()]}


def test_hidden_then_publish(depot, ctx):
    name = unique("pub")
    files = {"a.txt": b"a", "dir/b.txt": b"b", "dir/sub/empty": b""}
    push_hidden(depot, ctx, name, "1.0.0", files)
    assert status_of(depot, ctx, name, "1.0.0") == 1
    b = base(depot, ctx, name)
    assert requests.get(f"{b}/@latest/a.txt", headers=ctx["h"]).json() == NOT_FOUND
    # the listing shows the hidden version to its uploader (push skips what is there)
    listing = requests.get(f"{b}/1.0.0/files", headers=ctx["h"]).json()
    assert sorted((f["file_name"], f["file_sha256"]) for f in listing) == \
        sorted((p, sha(x)) for p, x in files.items())
    r = requests.post(f"{b}/1.0.0/@publish", json=manifest(files), headers=ctx["h"])
    pkg_id = depot.query("SELECT id FROM packages WHERE project_id = ? AND name = ?",
                         ctx["pid"], name)[0][0]
    assert (r.status_code, r.json()) == (200, {"id": pkg_id, "name": name, "version": "1.0.0",
                                               "status": "default", "files": 3})
    assert status_of(depot, ctx, name, "1.0.0") == 0
    r = requests.get(f"{b}/@latest/dir/b.txt", headers=ctx["h"])
    assert r.status_code == 200 and r.content == b"b" and r.headers["X-Package-Version"] == "1.0.0"
    # again: idempotent, with or without a manifest
    for kwargs in ({}, {"json": manifest(files)}, {"json": {}}, {"json": {"files": None}}):
        r = requests.post(f"{b}/1.0.0/@publish", headers=ctx["h"], **kwargs)
        assert r.status_code == 200 and r.json()["status"] == "default"


def test_publish_without_manifest(depot, ctx):
    name = unique("pub")
    push_hidden(depot, ctx, name, "2.0.0", {"x": b"x"})
    r = requests.post(f"{base(depot, ctx, name)}/2.0.0/@publish", headers=ctx["h"])
    assert r.status_code == 200 and r.json()["files"] == 1
    assert status_of(depot, ctx, name, "2.0.0") == 0


def test_manifest_differences_are_409_and_change_nothing(depot, ctx):
    name = unique("pub")
    files = {"keep.txt": b"keep", "changed.txt": b"new", "extra/one.txt": b"1",
             "extra/two.txt": b"2"}
    push_hidden(depot, ctx, name, "1.0.0", files)
    want = {"keep.txt": b"keep", "changed.txt": b"old", "missing/a.txt": b"a", "z.txt": b"z"}
    r = requests.post(f"{base(depot, ctx, name)}/1.0.0/@publish", json=manifest(want),
                      headers=ctx["h"])
    assert (r.status_code, r.json()) == (409, {"message": DIFFER,
                                               "missing": ["missing/a.txt", "z.txt"],
                                               "unexpected": ["extra/one.txt", "extra/two.txt"],
                                               "mismatched": ["changed.txt"]})
    assert status_of(depot, ctx, name, "1.0.0") == 1
    # upper-case hex is the same SHA-256
    m = manifest(files)
    for f in m["files"]:
        f["sha256"] = f["sha256"].upper()
    r = requests.post(f"{base(depot, ctx, name)}/1.0.0/@publish", json=m, headers=ctx["h"])
    assert r.status_code == 200, r.text


def test_manifest_checked_on_a_default_version_too(depot, ctx):
    name = unique("pub")
    r = requests.put(f"{base(depot, ctx, name)}/1.0.0/a", data=b"a", headers=ctx["h"])
    assert r.status_code == 201
    r = requests.post(f"{base(depot, ctx, name)}/1.0.0/@publish",
                      json={"files": []}, headers=ctx["h"])
    assert (r.status_code, r.json()) == (409, {"message": DIFFER, "missing": [],
                                               "unexpected": ["a"], "mismatched": []})
    assert status_of(depot, ctx, name, "1.0.0") == 0


@pytest.mark.parametrize("body,error", [
    (b"[]", {"message": "400 Bad request - the body is not a JSON object"}),
    (b"{not json", {"message": "400 Bad request - the body is not a JSON object"}),
    (b'{"files": "a"}', {"error": "files is invalid"}),
    (b'{"files": [{"file_name": "a"}]}', {"error": "files is invalid"}),
    (b'{"files": [{"file_name": "a", "sha256": "xyz"}]}', {"error": "files is invalid"}),
    (b'{"files": [{"file_name": 1, "sha256": "' + b"a" * 64 + b'"}]}',
     {"error": "files is invalid"}),
    (b'{"files": [{"file_name": "a", "sha256": "' + b"a" * 64 + b'"},'
     b' {"file_name": "a", "sha256": "' + b"b" * 64 + b'"}]}', {"error": "files is invalid"}),
])
def test_bad_manifest_is_400_and_changes_nothing(depot, ctx, body, error):
    name = unique("pub")
    push_hidden(depot, ctx, name, "1.0.0", {"a": b"a"})
    r = requests.post(f"{base(depot, ctx, name)}/1.0.0/@publish", data=body,
                      headers={**ctx["h"], "Content-Type": "application/json"})
    assert (r.status_code, r.json()) == (400, error)
    assert status_of(depot, ctx, name, "1.0.0") == 1


def test_unknown_version_and_bad_names(depot, world, ctx):
    name = unique("pub")
    r = requests.post(f"{base(depot, ctx, name)}/1.0.0/@publish", headers=ctx["h"])
    assert (r.status_code, r.json()) == (404, NOT_FOUND)
    r = requests.post(f"{base(depot, ctx, name)}/1..0/@publish", headers=ctx["h"])
    assert (r.status_code, r.json()) == (400, {"error": "package_version is invalid"})
    r = requests.post(depot.api(f"/projects/{ctx['pid']}/packages/generic/a~b/1.0/@publish"),
                      headers=ctx["h"])
    assert (r.status_code, r.json()) == (400, {"error": "package_name is invalid"})
    # a deleted version is gone
    push_hidden(depot, ctx, name, "1.0.0", {"a": b"a"})
    assert requests.delete(f"{base(depot, ctx, name)}/1.0.0",
                           headers={"PRIVATE-TOKEN": world.pat["maint"]}).status_code == 204
    r = requests.post(f"{base(depot, ctx, name)}/1.0.0/@publish", headers=ctx["h"])
    assert (r.status_code, r.json()) == (404, NOT_FOUND)


def test_roles_and_protection(depot, world, ctx):
    name = unique("pub")
    push_hidden(depot, ctx, name, "1.0.0", {"a": b"a"})
    url = f"{base(depot, ctx, name)}/1.0.0/@publish"
    assert requests.post(url).status_code == 401
    r = requests.post(url, headers={"PRIVATE-TOKEN": world.pat["reporter"]})
    assert (r.status_code, r.json()) == (403, {"message": "403 Forbidden"})
    r = requests.post(url, headers={"PRIVATE-TOKEN": world.pat["outsider"]})
    assert (r.status_code, r.json()) == (404, {"message": "404 Not Found"})
    admin = {"PRIVATE-TOKEN": world.pat["admin"]}
    rule = requests.post(depot.api(f"/projects/{ctx['pid']}/packages/protection/rules"),
                         headers=admin, json={"package_name_pattern": name,
                                              "minimum_access_level_for_push": "maintainer"})
    assert rule.status_code == 201, rule.text
    try:
        r = requests.post(url, headers=ctx["h"])
        assert (r.status_code, r.json()) == (403, {"message": "403 Forbidden - Package protected."})
        assert status_of(depot, ctx, name, "1.0.0") == 1
        r = requests.post(url, headers={"PRIVATE-TOKEN": world.pat["maint"]})
        assert r.status_code == 200
    finally:
        requests.delete(depot.api(f"/projects/{ctx['pid']}/packages/protection/rules/"
                                  f"{rule.json()['id']}"), headers=admin)
    # deploy tokens that may write publish, as they upload
    name = unique("pub")
    push_hidden(depot, ctx, name, "1.0.0", {"a": b"a"})
    r = requests.post(f"{base(depot, ctx, name)}/1.0.0/@publish",
                      headers={"DEPLOY-TOKEN": world.deploy_rw["token"]})
    assert r.status_code == 200
    assert status_of(depot, ctx, name, "1.0.0") == 0


def test_publish_is_audited(depot, ctx):
    name = unique("pub")
    push_hidden(depot, ctx, name, "1.0.0", {"a": b"a", "b": b"b"})
    r = requests.post(f"{base(depot, ctx, name)}/1.0.0/@publish",
                      json=manifest({"a": b"a", "b": b"b"}), headers=ctx["h"])
    assert r.status_code == 200
    deadline = time.time() + 10
    rows = []
    while time.time() < deadline and not rows:
        rows = depot.query("SELECT username, version, size, detail FROM audit_log"
                           " WHERE action = 'publish' AND package = ?", name)
        time.sleep(0.1)
    assert rows == [("dev", "1.0.0", 2, "manifest checked")]


def digest_header(body):
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def test_content_digest_is_verified(depot, ctx):
    name = unique("pub")
    url = f"{base(depot, ctx, name)}/1.0.0/a.txt?status=hidden"
    count = "SELECT COUNT(*) FROM package_files f JOIN packages p ON p.id = f.package_id" \
        " WHERE p.name = ?"
    for n, body in enumerate((b"small", b"x" * (300 << 10))):  # inline, and the blob store
        r = requests.put(url, data=body, headers={**ctx["h"],
                                                  "Content-Digest": digest_header(b"other")})
        assert r.status_code == 400
        assert r.json()["message"] == "400 Bad request - Content-Digest checksum mismatch:" \
            f" expected {sha(b'other')}, received {sha(body)}"
        assert depot.query(count, name)[0][0] == n
        r = requests.put(url, data=body, headers={**ctx["h"], "Content-Digest": digest_header(body)})
        assert r.status_code == 201
        assert depot.query(count, name)[0][0] == n + 1


def test_consumer_never_sees_a_partial_version(depot, ctx):
    """A consumer polls @latest's listing and files while 40 files are pushed hidden and then
    published: every answer is the whole old version or the whole new one."""
    name = unique("atomic")
    b = base(depot, ctx, name)
    old = {f"f{i:02}.txt": f"old {i}".encode() for i in range(40)}
    new = {f"f{i:02}.txt": f"new {i}".encode() for i in range(40)}
    for p, body in old.items():
        assert requests.put(f"{b}/1.0.0/{p}", data=body, headers=ctx["h"]).status_code == 201
    seen, bad = [], []
    done = threading.Event()

    def consumer():
        s = requests.Session()
        while not done.is_set():
            r = s.get(f"{b}/@latest/files", headers=ctx["h"])
            version = r.headers.get("X-Package-Version")
            names = {f["file_name"]: f["file_sha256"] for f in r.json()}
            want = {"1.0.0": old, "2.0.0": new}.get(version)
            if want is None or names != {p: sha(x) for p, x in want.items()}:
                bad.append((version, len(names)))
            last = s.get(f"{b}/@latest/f39.txt", headers=ctx["h"])
            if last.status_code != 200 or \
                    last.content != {"1.0.0": old, "2.0.0": new}[last.headers["X-Package-Version"]]["f39.txt"]:
                bad.append(("f39", last.status_code))
            seen.append(version)

    t = threading.Thread(target=consumer)
    t.start()
    try:
        push_hidden(depot, ctx, name, "2.0.0", new)
        r = requests.post(f"{b}/2.0.0/@publish", json=manifest(new), headers=ctx["h"])
        assert r.status_code == 200 and r.json()["files"] == 40
        # let the consumer see the new version a few times
        while seen.count("2.0.0") < 3 and t.is_alive():
            time.sleep(0.01)
    finally:
        done.set()
        t.join()
    assert not bad, bad[:5]
    assert "1.0.0" in seen and "2.0.0" in seen
    assert seen.index("2.0.0") > 0 and "1.0.0" not in seen[seen.index("2.0.0"):]
