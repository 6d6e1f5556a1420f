"""What the web interface's pages read that GitLab's API does not have, added as depot's
extensions GitLab clients ignore (issue 13): who uploaded each file (uploaded_by, from the
audit log, in the package files listing), each package's size and file count in the
Packages API listings with order_by=size, and GitLab's statistics=true on projects (their
packages' bytes)."""
import time

import pytest
import requests

from conftest import PG_MODE, generic_path, sha256, unique

STAT_ZERO = {"commit_count": 0, "repository_size": 0, "wiki_size": 0, "lfs_objects_size": 0,
             "job_artifacts_size": 0, "pipeline_artifacts_size": 0, "snippets_size": 0,
             "uploads_size": 0, "container_registry_size": 0}


def hdr(world, user="dev"):
    return {"PRIVATE-TOKEN": world.pat[user]}


def put(depot, pid, name, version, file_name, body, headers):
    r = requests.put(depot.api(generic_path(pid, name, version, file_name)), data=body,
                     headers=headers)
    assert r.status_code == 201, r.text
    return r


def package_id(depot, world, pid, name, version="1.0"):
    r = requests.get(depot.api(f"/projects/{pid}/packages"), headers=hdr(world, "admin"),
                     params={"package_name": name, "package_version": version})
    [p] = [p for p in r.json() if p["name"] == name]
    return p["id"]


def files_of(depot, world, pid, pkg, **params):
    r = requests.get(depot.api(f"/projects/{pid}/packages/{pkg}/package_files"),
                     headers=hdr(world), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def wait_uploaders(depot, world, pid, pkg, expected, timeout=10):
    """The audit log is written in batches about every second: waits until the listing
    names every expected uploader, then returns the listing."""
    deadline = time.monotonic() + timeout
    while True:
        files = files_of(depot, world, pid, pkg, per_page=100)
        got = [f["uploaded_by"] for f in files]
        if got == expected or time.monotonic() > deadline:
            assert got == expected
            return files
        time.sleep(0.1)


def project_packages(depot, world, pid, user="dev", **params):
    r = requests.get(depot.api(f"/projects/{pid}/packages"), headers=hdr(world, user),
                     params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_files_name_their_uploader(depot, world):
    pid = world.pid("acme/app")
    name = unique("upl")
    put(depot, pid, name, "1.0", "by-dev.txt", b"one", hdr(world))
    put(depot, pid, name, "1.0", "dir/by-deploy.txt", b"two",
        {"DEPLOY-TOKEN": world.deploy_rw["token"]})
    put(depot, pid, name, "1.0", "by-bot.txt", b"three",
        {"PRIVATE-TOKEN": world.project_token["token"]})
    pkg = package_id(depot, world, pid, name)
    files = wait_uploaders(depot, world, pid, pkg,
                           ["dev", world.deploy_rw["username"], world.project_token["username"]])
    f = files[1]
    assert f == {"id": f["id"], "package_id": pkg, "created_at": f["created_at"],
                 "file_name": "dir/by-deploy.txt", "size": 3, "file_md5": f["file_md5"],
                 "file_sha1": f["file_sha1"], "file_sha256": sha256(b"two"),
                 "uploaded_by": world.deploy_rw["username"]}
    # every order and page carries it
    by_name = files_of(depot, world, pid, pkg, order_by="file_name", per_page=1, page=2)
    assert [(f["file_name"], f["uploaded_by"]) for f in by_name] == [("by-dev.txt", "dev")]


def test_duplicate_uploads_each_name_their_own_uploader(depot, world):
    """The same bytes under the same name twice (duplicates are allowed by default): each
    file row has its own upload event, the one nearest its creation."""
    pid = world.pid("acme/app")
    name = unique("dup")
    put(depot, pid, name, "1.0", "same.bin", b"same", hdr(world, "dev"))
    time.sleep(0.2)  # two uploads apart, as two people's are
    put(depot, pid, name, "1.0", "same.bin", b"same", hdr(world, "maint"))
    pkg = package_id(depot, world, pid, name)
    wait_uploaders(depot, world, pid, pkg, ["dev", "maint"])


def test_files_made_without_an_upload_event_have_a_null_uploader(depot, world):
    """Files from before the audit log (rows an older depot wrote, here straight into the
    database): uploaded_by is null, and the listing is otherwise unchanged."""
    pid = world.pid("acme/app")
    name = unique("old")
    now = int(time.time() * 1000)
    with depot.db() as con:
        pkg = con.execute("INSERT INTO packages(project_id, name, version, package_type,"
                          " status, created_at, updated_at) VALUES(?, ?, '1.0', 'generic', 0,"
                          " ?, ?) RETURNING id", (pid, name, now, now)).fetchone()[0]
        con.execute("INSERT INTO package_files(package_id, file_name, size, file_md5,"
                    " file_sha1, file_sha256, status, created_at, updated_at)"
                    " VALUES(?, 'legacy.bin', 5, ?, ?, ?, 0, ?, ?)",
                    (pkg, "0" * 32, "0" * 40, "0" * 64, now, now))
    # an upload of another file to it later is audited: that one names its uploader
    put(depot, pid, name, "1.0", "new.bin", b"new", hdr(world))
    files = wait_uploaders(depot, world, pid, pkg, [None, "dev"])
    assert [f["file_name"] for f in files] == ["legacy.bin", "new.bin"]
    # an event for the same name but other content is not this file's
    put(depot, pid, name, "1.0", "legacy.bin", b"other", hdr(world))
    files = wait_uploaders(depot, world, pid, pkg, [None, "dev", "dev"])
    assert files[0]["uploaded_by"] is None


def test_package_sizes_in_listings_and_after_a_delete(depot, world):
    pid = int(depot.cli("project", "create", "acme/sizes").stdout)
    world.projects["acme/sizes"] = pid
    put(depot, pid, "small", "1.0", "a", b"x" * 10, hdr(world))
    put(depot, pid, "big", "1.0", "a", b"x" * 1000, hdr(world))
    put(depot, pid, "big", "1.0", "b/c", b"y" * 500, hdr(world))
    put(depot, pid, "mid", "1.0", "a", b"z" * 700, hdr(world))
    put(depot, pid, "mid", "2.0", "a", b"z" * 300, hdr(world))
    put(depot, pid, "large", "1.0", "a", b"h" * 5000, hdr(world))
    put(depot, pid, "large", "1.0", "b", b"h", hdr(world))
    got = {(p["name"], p["version"]): (p["size"], p["file_count"])
           for p in project_packages(depot, world, pid)}
    assert got == {("small", "1.0"): (10, 1), ("big", "1.0"): (1500, 2),
                   ("mid", "1.0"): (700, 1), ("mid", "2.0"): (300, 1),
                   ("large", "1.0"): (5001, 2)}

    def by_size(**params):
        return [(p["name"], p["version"], p["size"])
                for p in project_packages(depot, world, pid, order_by="size", **params)]

    assert by_size(sort="desc") == [("large", "1.0", 5001), ("big", "1.0", 1500),
                                    ("mid", "1.0", 700), ("mid", "2.0", 300),
                                    ("small", "1.0", 10)]
    assert by_size(sort="asc", per_page=2, page=2) == [("mid", "1.0", 700),
                                                       ("big", "1.0", 1500)]
    assert by_size(sort="desc", package_name="mi") == [("mid", "1.0", 700), ("mid", "2.0", 300)]

    # a deleted file no longer counts, nor does a deleted package
    big = package_id(depot, world, pid, "big")
    files = files_of(depot, world, pid, big)
    c = [f for f in files if f["file_name"] == "b/c"][0]
    r = requests.delete(depot.api(f"/projects/{pid}/packages/{big}/package_files/{c['id']}"),
                        headers=hdr(world, "maint"))
    assert r.status_code == 204
    large = package_id(depot, world, pid, "large")
    r = requests.delete(depot.api(f"/projects/{pid}/packages/{large}"),
                        headers=hdr(world, "maint"))
    assert r.status_code == 204
    assert by_size(sort="desc") == [("big", "1.0", 1000), ("mid", "1.0", 700),
                                    ("mid", "2.0", 300), ("small", "1.0", 10)]
    [p] = [p for p in project_packages(depot, world, pid) if p["name"] == "big"]
    assert (p["size"], p["file_count"]) == (1000, 1)

    # the group listing has them too, and sorts by them across its projects
    r = requests.get(depot.api(f"/groups/{world.group_id('acme')}/packages"), headers=hdr(world),
                     params={"order_by": "size", "sort": "desc", "per_page": 100})
    assert r.status_code == 200
    listed = [(p["project_path"], p["name"], p["size"]) for p in r.json()]
    sizes = [s for _, _, s in listed]
    assert sizes == sorted(sizes, reverse=True)
    assert ("acme/sizes", "big", 1000) in listed
    assert all("file_count" in p for p in r.json())
    # an unknown order is still GitLab's 400
    r = requests.get(depot.api(f"/projects/{pid}/packages"), headers=hdr(world),
                     params={"order_by": "bytes"})
    assert (r.status_code, r.json()) == (400, {"error": "order_by does not have a valid value"})


def test_project_statistics(depot, world):
    pid = int(depot.cli("project", "create", "acme/stats").stdout)
    world.projects["acme/stats"] = pid
    url = depot.api(f"/projects/{pid}")

    def stats(user, **params):
        r = requests.get(url, headers=hdr(world, user), params=params)
        assert r.status_code == 200, r.text
        return r.json().get("statistics", "absent")

    assert stats("reporter", statistics="true") == {**STAT_ZERO, "storage_size": 0,
                                                    "packages_size": 0}
    put(depot, pid, "one", "1.0", "a", b"a" * 100, hdr(world))
    put(depot, pid, "one", "1.0", "b", b"b" * 23, hdr(world))
    put(depot, pid, "two", "1.0", "a", b"a" * 100, hdr(world))  # the same bytes count again
    expected = {**STAT_ZERO, "storage_size": 223, "packages_size": 223}
    for user in ["reporter", "dev", "maint", "owner", "admin"]:
        assert stats(user, statistics="true") == expected, user
    assert stats("guest", statistics="true") == "absent"  # Reporters and above, as on GitLab
    assert stats("reporter") == "absent"
    assert stats("reporter", statistics="false") == "absent"
    r = requests.get(url, headers=hdr(world), params={"statistics": "maybe"})
    assert (r.status_code, r.json()) == (400, {"error": "statistics is invalid"})

    # a deleted package's files no longer count
    two = package_id(depot, world, pid, "two")
    assert requests.delete(depot.api(f"/projects/{pid}/packages/{two}"),
                           headers=hdr(world, "maint")).status_code == 204
    assert stats("dev", statistics="true")["packages_size"] == 123

    # the listings: one query for the page, each project its own numbers
    r = requests.get(depot.api("/projects"), headers=hdr(world),
                     params={"statistics": "true", "membership": "true", "per_page": 100})
    assert r.status_code == 200
    by_path = {p["path_with_namespace"]: p for p in r.json()}
    assert by_path["acme/stats"]["statistics"] == {**STAT_ZERO, "storage_size": 123,
                                                   "packages_size": 123}
    assert by_path["acme/other"]["statistics"]["packages_size"] == 0
    r = requests.get(depot.api(f"/groups/{world.group_id('acme')}/projects"),
                     headers=hdr(world, "guest"), params={"statistics": "true"})
    assert r.status_code == 200 and r.json()
    assert all("statistics" not in p for p in r.json())  # a guest of every one
    r = requests.get(depot.api("/projects"), headers=hdr(world), params={"membership": "true"})
    assert all("statistics" not in p for p in r.json())


def test_public_project_statistics_are_for_reporters(depot, world):
    pid = world.pid("pub/open")
    put(depot, pid, unique("pub"), "1.0", "a", b"p" * 7, {"DEPLOY-TOKEN": world.deploy_pub})
    r = requests.get(depot.api(f"/projects/{pid}"), params={"statistics": "true"})
    assert r.status_code == 200 and "statistics" not in r.json()  # anonymous
    r = requests.get(depot.api(f"/projects/{pid}"), params={"statistics": "true"},
                     headers=hdr(world, "outsider"))
    assert r.status_code == 200 and "statistics" not in r.json()
    r = requests.get(depot.api(f"/projects/{pid}"), params={"statistics": "true"},
                     headers=hdr(world, "dev"))  # a developer of pub/open
    assert r.json()["statistics"]["packages_size"] >= 7


def test_the_audit_upload_index_exists(depot):
    if PG_MODE:
        rows = depot.query("SELECT indexdef FROM pg_indexes WHERE indexname = 'audit_uploads'")
        assert len(rows) == 1 and "WHERE (action = 'upload'::text)" in rows[0][0]
    else:
        rows = depot.query("SELECT sql FROM sqlite_master WHERE name = 'audit_uploads'")
        assert rows == [("CREATE INDEX audit_uploads ON audit_log(project_id, package, version,"
                         " file_name) WHERE action = 'upload'",)]


@pytest.fixture(scope="module", autouse=True)
def _group_ids(depot, world):
    def group_id(path):
        r = requests.get(depot.api(f"/groups/{path.replace('/', '%2F')}"),
                         headers=hdr(world, "admin"))
        return r.json()["id"]
    world.group_id = group_id
