"""The Packages API (gitlab-behaviour.md 4.4-4.9): listing with filters, ordering and
pagination, package and file details, deletes by id and by name, group listings, the
by-id download, and that shared content survives a delete until nothing needs it."""
import os
import subprocess
import time
import urllib.parse

import gitlab
import pytest
import requests

from conftest import generic_path, sha256, unique, skip_in_s3


def hdr(world, user="dev"):
    return {"PRIVATE-TOKEN": world.pat[user]}


def put(depot, world, project, name, version, file_name, body=b"x", user="dev", params=""):
    url = depot.api(generic_path(world.pid(project), name, version, file_name)) + params
    r = requests.put(url, data=body, headers=hdr(world, user))
    assert r.status_code == 201, r.text
    return r


@pytest.fixture(scope="module")
def many(depot, world):
    """acme/many: 45 packages (one version each, created in order), and one package with
    250 files."""
    pid = int(depot.cli("project", "create", "acme/many").stdout)
    world.projects["acme/many"] = pid
    s = requests.Session()
    s.headers.update(hdr(world))
    for i in range(45):
        url = depot.api(generic_path(pid, f"pkg{i:02d}", f"1.{i}.0", "f.bin"))
        assert s.put(url, data=b"p").status_code == 201
    for i in range(250):
        url = depot.api(generic_path(pid, "bigpkg", "1.0.0", f"file{i:03d}.txt"))
        assert s.put(url, data=str(i).encode()).status_code == 201
    return pid


def test_pagination_headers_packages(depot, world, many):
    url = depot.api(f"/projects/{many}/packages")
    r = requests.get(url, headers=hdr(world), params={"per_page": 20, "page": 2})
    assert r.status_code == 200
    h = r.headers
    assert (h["X-Page"], h["X-Per-Page"], h["X-Total"], h["X-Total-Pages"]) == ("2", "20", "46", "3")
    assert (h["X-Next-Page"], h["X-Prev-Page"]) == ("3", "1")
    links = requests.utils.parse_header_links(h["Link"])
    rels = {l["rel"]: l["url"] for l in links}
    assert set(rels) == {"next", "prev", "first", "last"}
    for rel, page in [("next", "3"), ("prev", "1"), ("first", "1"), ("last", "3")]:
        u = urllib.parse.urlparse(rels[rel])
        assert f"{u.scheme}://{u.netloc}" == depot.url
        assert u.path == f"/api/v4/projects/{many}/packages"
        q = urllib.parse.parse_qs(u.query)
        assert q["page"] == [page] and q["per_page"] == ["20"]
    assert len(r.json()) == 20
    # walking every page gives every package once
    seen, page = [], 1
    while page:
        r = requests.get(url, headers=hdr(world), params={"page": page})
        seen += [p["name"] for p in r.json()]
        page = int(r.headers["X-Next-Page"] or 0)
    assert sorted(seen) == sorted([f"pkg{i:02d}" for i in range(45)] + ["bigpkg"])
    last = requests.get(url, headers=hdr(world), params={"page": 3})
    assert (last.headers["X-Next-Page"], len(last.json())) == ("", 6)
    # default per_page 20, maximum 100
    assert requests.get(url, headers=hdr(world)).headers["X-Per-Page"] == "20"
    assert requests.get(url, headers=hdr(world),
                        params={"per_page": 1000}).headers["X-Per-Page"] == "100"
    assert requests.get(url, headers=hdr(world), params={"page": "x"}).json() == \
        {"error": "page is invalid"}
    # zero and negative values are refused, as GitLab does (only_positive_pagination_values)
    for param in ("page", "per_page"):
        for value in (0, -1):
            r = requests.get(url, headers=hdr(world), params={param: value})
            assert (r.status_code, r.json()) == \
                (400, {"error": f"{param} does not have a valid value"}), (param, value)


def test_pagination_250_files(depot, world, many):
    pkg = requests.get(depot.api(f"/projects/{many}/packages"), headers=hdr(world),
                       params={"package_name": "bigpkg"}).json()[0]
    url = depot.api(f"/projects/{many}/packages/{pkg['id']}/package_files")
    r = requests.get(url, headers=hdr(world), params={"per_page": 100, "page": 3})
    assert (r.headers["X-Total"], r.headers["X-Total-Pages"], r.headers["X-Page"]) == ("250", "3", "3")
    assert len(r.json()) == 50
    names = []
    next_url = url + "?per_page=100"
    while next_url:
        r = requests.get(next_url, headers=hdr(world))
        names += [f["file_name"] for f in r.json()]
        next_url = r.links.get("next", {}).get("url")
    assert names == [f"file{i:03d}.txt" for i in range(250)]
    # the seed's listing: every file without page/per_page (streamed, no pagination
    # headers), paginated the same way with them
    seed_url = depot.api(generic_path(many, "bigpkg", "1.0.0", "files"))
    r = requests.get(seed_url, headers=hdr(world))
    assert [f["file_name"] for f in r.json()] == [f"file{i:03d}.txt" for i in range(250)]
    assert r.headers["Content-Type"] == "application/json"
    assert not {"X-Total", "X-Total-Pages", "X-Page", "X-Next-Page", "Link"} & set(r.headers)
    r = requests.get(seed_url, headers=hdr(world), params={"per_page": 100, "page": 3})
    assert [f["file_name"] for f in r.json()] == [f"file{i:03d}.txt" for i in range(200, 250)]
    assert (r.headers["X-Total"], r.headers["X-Total-Pages"]) == ("250", "3")
    r = requests.get(seed_url, headers=hdr(world), params={"page": 2})
    assert [f["file_name"] for f in r.json()] == [f"file{i:03d}.txt" for i in range(20, 40)]
    assert requests.head(seed_url, headers=hdr(world)).status_code == 200


def test_python_gitlab_walks_pages(depot, world, many):
    gl = gitlab.Gitlab(depot.url, private_token=world.pat["dev"], per_page=7)
    project = gl.projects.get(many)
    pkgs = project.packages.list(get_all=True)
    assert len(pkgs) == 46
    assert len(list(project.packages.list(iterator=True))) == 46
    big = [p for p in pkgs if p.name == "bigpkg"][0]
    files = project.packages.get(big.id).package_files.list(get_all=True)
    assert sorted(f.file_name for f in files) == [f"file{i:03d}.txt" for i in range(250)]


def test_list_filters_and_order(depot, world):
    pid = int(depot.cli("project", "create", "acme/filters").stdout)
    world.projects["acme/filters"] = pid
    put(depot, world, "acme/filters", "Alpha-Tool", "2.0", "a")
    put(depot, world, "acme/filters", "beta", "1.0", "b")
    put(depot, world, "acme/filters", "alphabet", "3.0", "c")
    put(depot, world, "acme/filters", "secret", "1.0", "d", params="?status=hidden")
    url = depot.api(f"/projects/{pid}/packages")

    def names(**params):
        r = requests.get(url, headers=hdr(world), params=params)
        assert r.status_code == 200, r.text
        return [p["name"] for p in r.json()]

    assert names() == ["Alpha-Tool", "beta", "alphabet"]  # created_at asc, hidden left out
    assert names(sort="desc") == ["alphabet", "beta", "Alpha-Tool"]
    assert names(order_by="name") == ["Alpha-Tool", "alphabet", "beta"]
    assert names(order_by="version", sort="desc") == ["alphabet", "Alpha-Tool", "beta"]
    assert names(package_name="ALPHA") == ["Alpha-Tool", "alphabet"]
    assert names(package_name="pha-") == ["Alpha-Tool"]
    assert names(package_name="%") == []
    assert names(package_version="1.0") == ["beta"]
    assert names(status="hidden") == ["secret"]
    assert names(package_type="generic") == ["Alpha-Tool", "beta", "alphabet"]
    assert names(package_type="maven") == []
    assert names(include_versionless="true") == ["Alpha-Tool", "beta", "alphabet"]
    for param, value in [("order_by", "downloads"), ("sort", "up"), ("package_type", "zip"),
                         ("status", "gone")]:
        r = requests.get(url, headers=hdr(world), params={param: value})
        assert (r.status_code, r.json()) == (400, {"error": f"{param} does not have a valid value"})
    p = requests.get(url, headers=hdr(world)).json()[0]
    assert set(p) >= {"id", "name", "version", "package_type", "status", "_links", "created_at",
                      "last_downloaded_at", "tags"}
    assert (p["package_type"], p["status"], p["tags"], p["last_downloaded_at"]) == \
        ("generic", "default", [], None)
    assert p["_links"]["web_path"] == f"/acme/filters/-/packages/{p['id']}"
    assert "delete_api_path" not in p["_links"]  # developers cannot delete
    m = requests.get(url, headers=hdr(world, "maint")).json()[0]
    assert m["_links"]["delete_api_path"] == f"{depot.url}/api/v4/projects/{pid}/packages/{p['id']}"


def test_get_package_with_versions(depot, world):
    name = unique()
    for v in ["1.0", "1.1", "2.0"]:
        put(depot, world, "acme/app", name, v, "f")
    pkgs = requests.get(depot.api(f"/projects/{world.pid('acme/app')}/packages"),
                        headers=hdr(world), params={"package_name": name}).json()
    one = [p for p in pkgs if p["version"] == "1.1"][0]
    r = requests.get(depot.api(f"/projects/{world.pid('acme/app')}/packages/{one['id']}"),
                     headers=hdr(world))
    assert r.status_code == 200
    assert r.json()["version"] == "1.1"
    assert [v["version"] for v in r.json()["versions"]] == ["1.0", "2.0"]
    # error status: 404 "Package not found"; unknown id: 404 "404 Not found"
    depot.query("UPDATE packages SET status = 3 WHERE id = ?", one["id"])
    r = requests.get(depot.api(f"/projects/{world.pid('acme/app')}/packages/{one['id']}"),
                     headers=hdr(world))
    assert (r.status_code, r.json()) == (404, {"message": "Package not found"})
    r = requests.get(depot.api(f"/projects/{world.pid('acme/app')}/packages/99999999"),
                     headers=hdr(world))
    assert (r.status_code, r.json()) == (404, {"message": "404 Not found"})


def package_id(depot, world, project, name, version="1.0"):
    (pid,), = depot.query("SELECT id FROM packages WHERE project_id = ? AND name = ?"
                          " AND version = ? AND status != 4", world.pid(project), name, version)
    return pid


def test_package_files_order_and_download(depot, world):
    name = unique()
    for f in ["b.txt", "a.txt", "c.txt"]:
        put(depot, world, "acme/app", name, "1.0", f, body=f.encode())
    pkg = package_id(depot, world, "acme/app", name)
    base = depot.api(f"/projects/{world.pid('acme/app')}/packages/{pkg}/package_files")
    files = requests.get(base, headers=hdr(world)).json()
    assert [f["file_name"] for f in files] == ["b.txt", "a.txt", "c.txt"]
    assert [f["file_name"] for f in requests.get(base, headers=hdr(world),
            params={"order_by": "file_name"}).json()] == ["a.txt", "b.txt", "c.txt"]
    assert [f["file_name"] for f in requests.get(base, headers=hdr(world),
            params={"order_by": "created_at", "sort": "desc"}).json()] == ["c.txt", "a.txt", "b.txt"]
    f = files[1]
    # GitLab's fields, and depot's uploaded_by (test_web_api.py)
    assert set(f) == {"id", "package_id", "created_at", "file_name", "size", "file_md5",
                      "file_sha1", "file_sha256", "uploaded_by"}
    assert f["file_sha256"] == sha256(b"a.txt")
    d = requests.get(f"{base}/{f['id']}/download", headers=hdr(world))
    assert d.status_code == 200 and d.content == b"a.txt"
    assert d.headers["Content-Disposition"].startswith('attachment; filename="a.txt"')
    assert d.headers["X-Checksum-SHA256"] == sha256(b"a.txt")
    r = requests.get(f"{base}/99999999/download", headers=hdr(world))
    assert (r.status_code, r.json()) == (404, {"message": "404 Not Found"})


def test_delete_package_then_reupload(depot, world):
    name = unique()
    put(depot, world, "acme/app", name, "1.0", "f", body=b"old")
    pkg = package_id(depot, world, "acme/app", name)
    url = depot.api(f"/projects/{world.pid('acme/app')}/packages/{pkg}")
    assert requests.delete(url, headers=hdr(world)).status_code == 403  # developer
    r = requests.delete(url)
    assert r.status_code == 401
    r = requests.delete(url, headers=hdr(world, "outsider"))
    assert (r.status_code, r.json()) == (404, {"message": "404 Project Not Found"})
    r = requests.delete(url, headers=hdr(world, "maint"))
    assert (r.status_code, r.content) == (204, b"")
    assert requests.get(depot.api(generic_path(world.pid("acme/app"), name, "1.0", "f")),
                        headers=hdr(world)).status_code == 404
    assert requests.get(url, headers=hdr(world)).status_code == 404
    assert requests.delete(url, headers=hdr(world, "maint")).status_code == 404
    put(depot, world, "acme/app", name, "1.0", "f", body=b"new")
    new = package_id(depot, world, "acme/app", name)
    assert new != pkg
    assert depot.query("SELECT status FROM packages WHERE id = ?", pkg) == [(4,)]
    assert requests.get(depot.api(generic_path(world.pid("acme/app"), name, "1.0", "f")),
                        headers=hdr(world)).content == b"new"


def test_delete_package_file(depot, world):
    name = unique()
    put(depot, world, "acme/app", name, "1.0", "keep", body=b"k")
    put(depot, world, "acme/app", name, "1.0", "drop", body=b"d1")
    put(depot, world, "acme/app", name, "1.0", "drop", body=b"d2")
    pkg = package_id(depot, world, "acme/app", name)
    base = depot.api(f"/projects/{world.pid('acme/app')}/packages/{pkg}/package_files")
    files = requests.get(base, headers=hdr(world)).json()
    newest_drop = [f for f in files if f["file_name"] == "drop"][-1]
    assert requests.delete(f"{base}/{newest_drop['id']}", headers=hdr(world)).status_code == 403
    r = requests.delete(f"{base}/{newest_drop['id']}", headers=hdr(world, "owner"))
    assert r.status_code == 204
    # the older file of that name is served again
    assert requests.get(depot.api(generic_path(world.pid("acme/app"), name, "1.0", "drop")),
                        headers=hdr(world)).content == b"d1"
    r = requests.delete(f"{base}/{newest_drop['id']}", headers=hdr(world, "owner"))
    assert (r.status_code, r.json()) == (404, {"message": "404 Not Found"})
    assert len(requests.get(base, headers=hdr(world)).json()) == 2


def test_private_project_permissions(depot, world):
    url = depot.api(f"/projects/{world.pid('acme/app')}/packages")
    assert requests.get(url, headers=hdr(world, "guest")).status_code == 200
    r = requests.get(url, headers=hdr(world, "outsider"))
    assert (r.status_code, r.json()) == (404, {"message": "404 Project Not Found"})
    assert requests.get(url).status_code == 404
    assert requests.get(depot.api(f"/projects/{world.pid('pub/open')}/packages")).status_code == 200
    # deploy tokens are not accepted by the Packages API
    r = requests.get(url, headers={"DEPLOY-TOKEN": world.deploy_ro})
    assert r.status_code == 404


def test_delete_by_name(depot, world):
    name = unique()
    put(depot, world, "acme/app", name, "1.0", "a", body=b"a")
    put(depot, world, "acme/app", name, "1.0", "dir/b", body=b"b1")
    put(depot, world, "acme/app", name, "1.0", "dir/b", body=b"b2")
    put(depot, world, "acme/app", name, "2.0", "a", body=b"a2")
    pid = world.pid("acme/app")
    file_url = depot.api(f"/projects/{pid}/packages/generic/{name}/1.0/dir/b")
    assert requests.delete(file_url, headers=hdr(world)).status_code == 403
    assert requests.delete(file_url).status_code == 401
    assert requests.delete(file_url, headers=hdr(world, "outsider")).status_code == 404
    assert requests.delete(file_url, headers=hdr(world, "maint")).status_code == 204
    # every duplicate of the name went
    assert requests.get(file_url, headers=hdr(world)).status_code == 404
    assert requests.delete(file_url, headers=hdr(world, "maint")).json() == {"message": "404 Not found"}
    assert requests.get(depot.api(generic_path(pid, name, "1.0", "a")),
                        headers=hdr(world)).content == b"a"
    # the version goes with its last file
    assert requests.delete(depot.api(f"/projects/{pid}/packages/generic/{name}/1.0/a"),
                           headers=hdr(world, "maint")).status_code == 204
    assert depot.query("SELECT status FROM packages WHERE name = ? AND version = '1.0'",
                       name) == [(4,)]
    # the whole version at once
    v2 = depot.api(f"/projects/{pid}/packages/generic/{name}/2.0")
    assert requests.delete(v2, headers=hdr(world, "maint")).status_code == 204
    assert requests.get(depot.api(generic_path(pid, name, "2.0", "a")),
                        headers=hdr(world)).status_code == 404
    assert requests.delete(v2, headers=hdr(world, "maint")).json() == {"message": "404 Not found"}


def test_group_packages(depot, world):
    name = unique("grp")
    put(depot, world, "acme/app", name, "1.0", "f")
    put(depot, world, "acme/sub/lib", name, "1.0", "f")
    put(depot, world, "pub/open", name, "1.0", "f")
    url = depot.api("/groups/acme/packages")
    r = requests.get(url, headers=hdr(world), params={"package_name": name})
    assert r.status_code == 200
    assert sorted(p["project_path"] for p in r.json()) == ["acme/app", "acme/sub/lib"]
    assert all(p["project_id"] == world.pid(p["project_path"]) for p in r.json())
    r = requests.get(url, headers=hdr(world), params={"package_name": name,
                                                      "exclude_subgroups": "true"})
    assert [p["project_path"] for p in r.json()] == ["acme/app"]
    r = requests.get(url, headers=hdr(world), params={"package_name": name,
                                                      "order_by": "project_path", "sort": "desc"})
    assert [p["project_path"] for p in r.json()] == ["acme/sub/lib", "acme/app"]
    r = requests.get(url, headers=hdr(world, "outsider"))
    assert (r.status_code, r.json()) == (404, {"message": "404 Group Not Found"})
    assert requests.get(url).status_code == 404
    # a public group lists only what the caller may read
    r = requests.get(depot.api("/groups/pub/packages"), params={"package_name": name})
    assert [p["project_path"] for p in r.json()] == ["pub/open"]
    gid = depot.query("SELECT id FROM groups WHERE path = 'acme'")[0][0]
    r = requests.get(depot.api(f"/groups/{gid}/packages"), headers=hdr(world),
                     params={"package_name": name})
    assert len(r.json()) == 2


def blob_path(depot, body):
    h = sha256(body)
    return os.path.join(depot.data, "blobs", h[:2], h[2:4], h)


@pytest.mark.parametrize("size", [5000, 100000])
def test_shared_blob_survives_delete(depot, world, size):
    body = os.urandom(size)
    a, b = unique(), unique()
    put(depot, world, "acme/app", a, "1.0", "same.bin", body=body)
    put(depot, world, "acme/app", b, "1.0", "same.bin", body=body)
    pid = world.pid("acme/app")
    assert requests.delete(depot.api(f"/projects/{pid}/packages/generic/{a}/1.0"),
                           headers=hdr(world, "maint")).status_code == 204
    depot.cli("gc")
    assert depot.stored_copies(body) != ([], 0)
    g = requests.get(depot.api(generic_path(pid, b, "1.0", "same.bin")), headers=hdr(world))
    assert g.content == body
    assert requests.delete(depot.api(f"/projects/{pid}/packages/generic/{b}/1.0"),
                           headers=hdr(world, "maint")).status_code == 204
    assert depot.stored_copies(body) != ([], 0)  # removal waits for the sweep
    depot.cli("gc")
    assert depot.stored_copies(body) == ([], 0)
    assert depot.query("SELECT COUNT(*) FROM package_files WHERE file_sha256 = ?",
                       sha256(body)) == [(0,)]
    # uploading the same content again brings it back
    put(depot, world, "acme/app", b, "1.0", "same.bin", body=body)
    assert requests.get(depot.api(generic_path(pid, b, "1.0", "same.bin")),
                        headers=hdr(world)).content == body


@skip_in_s3  # writes a file under blobs/ (test_s3.py has the object-storage orphan)
def test_gc_removes_orphan_blobs(depot, world):
    body = b"orphan " + os.urandom(32)
    h = sha256(body)
    os.makedirs(os.path.dirname(blob_path(depot, body)), exist_ok=True)
    with open(blob_path(depot, body), "wb") as f:
        f.write(body)
    depot.cli("gc")
    assert not os.path.exists(blob_path(depot, body))
    assert h not in str(depot.blob_files())


def test_python_gitlab_packages(depot, world, tmp_path):
    name = unique()
    put(depot, world, "acme/sub/lib", name, "1.0", "one", body=b"1")
    put(depot, world, "acme/sub/lib", name, "1.0", "two", body=b"2")
    put(depot, world, "acme/sub/lib", name, "2.0", "one", body=b"3")
    gl = gitlab.Gitlab(depot.url, private_token=world.pat["owner"])
    project = gl.projects.get(world.pid("acme/sub/lib"))
    pkgs = [p for p in project.packages.list(get_all=True) if p.name == name]
    assert sorted(p.version for p in pkgs) == ["1.0", "2.0"]
    pkg = project.packages.get(pkgs[0].id)
    files = pkg.package_files.list(get_all=True)
    assert sorted(f.file_name for f in files) == ["one", "two"]
    files[0].delete()
    assert len(project.packages.get(pkgs[0].id).package_files.list(get_all=True)) == 1
    pkgs[1].delete()
    left = [p for p in project.packages.list(get_all=True) if p.name == name]
    assert [p.version for p in left] == ["1.0"]
    group = gl.groups.get("acme")
    assert name in {p.name for p in group.packages.list(get_all=True)}
    # the CLI
    cfg = tmp_path / "cfg"
    cfg.write_text(f"[global]\ndefault = d\n[d]\nurl = {depot.url}\n"
                   f"private_token = {world.pat['owner']}\n")
    out = subprocess.run(["/usr/bin/python-gitlab", "-c", str(cfg), "-o", "json",
                          "project-package", "list", "--project-id",
                          str(world.pid("acme/sub/lib")), "--get-all"],
                         capture_output=True, text=True, env=dict(os.environ, HOME=str(tmp_path)))
    assert out.returncode == 0, out.stderr
    import json
    assert name in {p["name"] for p in json.loads(out.stdout)}


PRECONDITION_FAILED = {"message": "412 Precondition Failed"}


def test_deletes_honour_if_unmodified_since(depot, world):
    """Regression (issue 9.4): GitLab's destroy_conditionally! answers 412 when the date is
    older than the resource's updated_at; depot deleted anyway."""
    pid = world.pid("acme/app")
    maint = {"PRIVATE-TOKEN": world.pat["maint"]}
    name = unique("cond")
    for f in ("a.txt", "b.txt"):
        assert requests.put(depot.api(generic_path(pid, name, "1.0", f)), data=b"x",
                            headers=maint).status_code == 201
    pkg_id, a_id = depot.query("SELECT p.id, f.id FROM packages p JOIN package_files f ON"
                               " f.package_id = p.id WHERE p.name = ? AND f.file_name = 'a.txt'",
                               name)[0]
    old = {"If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT", **maint}
    future = {"If-Unmodified-Since": "Fri, 01 Jan 2100 00:00:00 GMT", **maint}
    garbage = {"If-Unmodified-Since": "yesterday", **maint}
    file_url = depot.api(f"/projects/{pid}/packages/{pkg_id}/package_files/{a_id}")
    r = requests.delete(file_url, headers=old)
    assert (r.status_code, r.json()) == (412, PRECONDITION_FAILED)
    assert depot.query("SELECT status FROM package_files WHERE id = ?", a_id) == [(0,)]
    assert requests.delete(file_url, headers=future).status_code == 204
    assert depot.query("SELECT status FROM package_files WHERE id = ?", a_id) == [(1,)]
    pkg_url = depot.api(f"/projects/{pid}/packages/{pkg_id}")
    r = requests.delete(pkg_url, headers=old)
    assert (r.status_code, r.json()) == (412, PRECONDITION_FAILED)
    assert depot.query("SELECT status FROM packages WHERE id = ?", pkg_id) == [(0,)]
    assert requests.delete(pkg_url, headers=garbage).status_code == 204  # unparsable: ignored
    assert depot.query("SELECT status FROM packages WHERE id = ?", pkg_id) == [(4,)]
