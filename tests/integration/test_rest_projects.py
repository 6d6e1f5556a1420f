"""GitLab's REST resources for groups and projects: entity shapes, listings with their
filters and pagination, who sees and changes what (anonymous, outsider, member, admin; job
and deploy tokens count as anonymous), bad input answering GitLab's bodies and changing no
row, deletion (packages pending destruction, removed by gc, path free at once), and the
`group list` / `project list` commands."""
import json
import re

import pytest
import requests

from conftest import generic_path, unique

from conftest import skip_in_nodes as _skip_in_nodes, skip_in_s3 as _skip_in_s3

# GitLab's REST resources live in the metadata store only: the SQLite and PostgreSQL passes
# cover them; the S3 and nodes passes change where contents live.
pytestmark = [_skip_in_s3, _skip_in_nodes]
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def call(depot, world):
    def call(method, path, who=None, token=None, **kw):
        headers = kw.pop("headers", {})
        if who:
            headers["PRIVATE-TOKEN"] = world.pat[who]
        if token:
            headers.update(token)
        return requests.request(method, depot.api(path), headers=headers, timeout=30, **kw)
    return call


def rows(depot, table):
    return depot.query(f"SELECT * FROM {table} ORDER BY id")


def snapshot(depot):
    return {t: rows(depot, t) for t in ("groups", "projects")} | {
        "members": depot.query("SELECT user_id, project_id, group_id, access_level FROM members"
                               " ORDER BY user_id, project_id, group_id")}


def make_group(call, who, path, **extra):
    r = call("POST", "/groups", who, json={"name": path, "path": path, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def make_project(call, who, **body):
    r = call("POST", "/projects", who, json=body)
    assert r.status_code == 201, r.text
    return r.json()


# ---- shapes ----

def test_project_entity_has_what_clients_read(depot, world, call):
    pid = world.pid("acme/app")
    r = call("GET", f"/projects/{pid}", "owner")
    assert r.status_code == 200
    p = r.json()
    base = depot.url
    (gid,), = depot.query("SELECT id FROM groups WHERE path = 'acme'")
    assert p["id"] == pid and p["name"] == "app" and p["path"] == "app"
    assert p["path_with_namespace"] == "acme/app"
    assert p["name_with_namespace"] == "acme / app"
    assert p["namespace"] == {"id": gid, "name": "acme", "path": "acme", "kind": "group",
                              "full_path": "acme", "parent_id": None, "avatar_url": None,
                              "web_url": f"{base}/groups/acme"}
    assert p["web_url"] == f"{base}/acme/app"
    assert p["http_url_to_repo"] == f"{base}/acme/app.git"
    assert p["ssh_url_to_repo"].startswith("git@") and p["ssh_url_to_repo"].endswith(":acme/app.git")
    assert p["visibility"] == "private" and p["description"] == ""
    assert p["packages_enabled"] is True and p["package_registry_access_level"] == "enabled"
    assert ISO.match(p["created_at"]) and ISO.match(p["updated_at"])
    assert ISO.match(p["last_activity_at"])
    assert (p["default_branch"], p["archived"], p["empty_repo"]) == (None, False, True)
    assert (p["topics"], p["tag_list"], p["star_count"], p["forks_count"]) == ([], [], 0, 0)
    assert p["creator_id"] == 0  # made by the command line
    assert "owner" not in p  # a group's project
    assert p["_links"]["self"] == f"{base}/api/v4/projects/{pid}"
    assert p["_links"]["members"] == f"{base}/api/v4/projects/{pid}/members"
    assert p["permissions"] == {"project_access": None,
                                "group_access": {"access_level": 50, "notification_level": 3}}


def test_project_by_url_encoded_path_and_personal_project(depot, world, call):
    r = call("GET", "/projects/acme%2Fsub%2Flib", "dev")
    assert r.status_code == 200 and r.json()["id"] == world.pid("acme/sub/lib")
    assert r.json()["namespace"]["full_path"] == "acme/sub"
    assert r.json()["name_with_namespace"] == "acme / sub / lib"
    assert r.json()["permissions"]["group_access"]["access_level"] == 30
    p = make_project(call, "outsider", path=unique("mine"))
    (uid,), = depot.query("SELECT id FROM users WHERE username = 'outsider'")
    assert p["namespace"]["kind"] == "user" and p["namespace"]["full_path"] == "outsider"
    assert p["namespace"]["web_url"] == f"{depot.url}/outsider"
    assert p["owner"]["username"] == "outsider" and p["owner"]["id"] == uid
    assert p["creator_id"] == uid
    assert p["permissions"] == {"project_access": {"access_level": 50, "notification_level": 3},
                                "group_access": None}
    # no project by a bare word
    assert call("GET", "/projects/app", "admin").json() == {"message": "404 Project Not Found"}


def test_group_entity_and_detail(depot, world, call):
    r = call("GET", "/groups/acme%2Fsub", "dev")
    assert r.status_code == 200
    g = r.json()
    (sub_id, acme_id), = depot.query(
        "SELECT s.id, a.id FROM groups s, groups a WHERE s.path = 'acme/sub' AND a.path = 'acme'")
    assert g["id"] == sub_id and g["path"] == "sub" and g["full_path"] == "acme/sub"
    assert g["name"] == "sub" and g["full_name"] == "acme / sub"
    assert g["parent_id"] == acme_id and g["visibility"] == "private"
    assert g["web_url"] == f"{depot.url}/groups/acme/sub"
    assert g["project_creation_level"] == "maintainer"
    assert g["subgroup_creation_level"] == "maintainer"
    assert ISO.match(g["created_at"]) and g["description"] == ""
    assert g["shared_with_groups"] == [] and g["shared_projects"] == []
    assert [p["path_with_namespace"] for p in g["projects"]] == ["acme/sub/lib"]
    g2 = call("GET", f"/groups/{acme_id}?with_projects=false", "dev").json()
    assert g2["parent_id"] is None and "projects" not in g2
    assert g2["prevent_sharing_groups_outside_hierarchy"] is False


# ---- who sees what ----

@pytest.mark.parametrize("who,path,status", [
    (None, "acme/app", 404), (None, "acme/internal", 404), (None, "pub/open", 200),
    ("outsider", "acme/app", 404), ("outsider", "acme/internal", 200),
    ("outsider", "pub/open", 200), ("guest", "acme/app", 200), ("admin", "acme/sub/lib", 200),
])
def test_project_visibility(world, call, who, path, status):
    r = call("GET", f"/projects/{world.pid(path)}", who)
    assert r.status_code == status
    if status == 404:
        assert r.json() == {"message": "404 Project Not Found"}
    else:
        assert r.json()["path_with_namespace"] == path
        assert ("permissions" in r.json()) == (who is not None)


def test_job_and_deploy_tokens_are_anonymous_here(world, call):
    private, public = world.pid("acme/app"), world.pid("pub/open")
    for token in [{"JOB-TOKEN": world.job_dev}, {"DEPLOY-TOKEN": world.deploy_rw["token"]}]:
        assert call("GET", f"/projects/{private}", token=token).status_code == 404
        r = call("GET", f"/projects/{public}", token=token)
        assert r.status_code == 200 and "permissions" not in r.json()
        assert call("DELETE", f"/projects/{private}", token=token).json() == \
            {"message": "401 Unauthorized"}


def listed(r):
    assert r.status_code == 200, r.text
    return {p["path_with_namespace"] for p in r.json()}


def test_projects_listing_by_caller(depot, world, call):
    everything = {p for (p,) in depot.query(
        "SELECT path FROM projects WHERE pending_delete = 0")}
    anon = call("GET", "/projects?per_page=100")
    assert listed(anon) == {p for (p,) in depot.query(
        "SELECT path FROM projects WHERE pending_delete = 0 AND visibility = 20")}
    assert "visibility" not in anon.json()[0]  # BasicProjectDetails
    outsider = listed(call("GET", "/projects?per_page=100", "outsider"))
    assert {"acme/internal", "pub/open"} <= outsider and "acme/app" not in outsider
    dev = listed(call("GET", "/projects?per_page=100", "dev"))
    assert {"acme/app", "acme/sub/lib", "acme/other", "acme/internal", "pub/open"} <= dev
    assert listed(call("GET", "/projects?per_page=100", "admin")) == everything
    assert listed(call("GET", "/projects?membership=true&per_page=100", "guest")) == \
        {"acme/app", "acme/sub/lib", "acme/other", "acme/internal"}
    assert listed(call("GET", "/projects?owned=true&per_page=100", "maint")) == set()
    assert listed(call("GET", "/projects?search=LI&per_page=100", "dev")) == {"acme/sub/lib"}
    assert listed(call("GET", "/projects?visibility=internal&per_page=100", "dev")) == \
        {"acme/internal"}
    simple = call("GET", "/projects?simple=true&search=lib", "dev").json()[0]
    assert "visibility" not in simple and simple["namespace"]["full_path"] == "acme/sub"


def test_projects_order_and_pagination(world, call):
    r = call("GET", "/projects?membership=true&order_by=path&sort=asc&per_page=2", "guest")
    assert [p["path_with_namespace"] for p in r.json()] == ["acme/app", "acme/internal"]
    assert (r.headers["X-Total"], r.headers["X-Total-Pages"], r.headers["X-Page"],
            r.headers["X-Per-Page"], r.headers["X-Next-Page"]) == ("4", "2", "1", "2", "2")
    assert 'rel="next"' in r.headers["Link"] and "order_by=path" in r.headers["Link"]
    r2 = call("GET", "/projects?membership=true&order_by=path&sort=asc&per_page=2&page=2",
              "guest")
    assert [p["path_with_namespace"] for p in r2.json()] == ["acme/other", "acme/sub/lib"]
    ids = [p["id"] for p in call("GET", "/projects?membership=true", "guest").json()]
    assert ids == sorted(ids, reverse=True)  # created_at desc by default
    bad = call("GET", "/projects?order_by=stars", "guest")
    assert (bad.status_code, bad.json()) == (400, {"error": "order_by does not have a valid value"})
    bad = call("GET", "/projects?visibility=secret", "guest")
    assert (bad.status_code, bad.json()) == (400, {"error": "visibility does not have a valid value"})
    bad = call("GET", "/projects?membership=maybe", "guest")
    assert (bad.status_code, bad.json()) == (400, {"error": "membership is invalid"})


def groups_listed(r):
    assert r.status_code == 200, r.text
    return [g["full_path"] for g in r.json()]


def test_groups_listing(depot, world, call):
    assert "pub" in groups_listed(call("GET", "/groups?per_page=100"))
    assert "acme" not in groups_listed(call("GET", "/groups?per_page=100"))
    dev = groups_listed(call("GET", "/groups", "dev"))
    assert dev == ["acme", "acme/sub"]  # member groups, by name; no personal namespace
    assert "pub" in groups_listed(call("GET", "/groups?all_available=true", "dev"))
    every = {p for (p,) in depot.query(
        "SELECT path FROM groups WHERE owner_id = 0 AND pending_delete = 0")}
    assert set(groups_listed(call("GET", "/groups?per_page=100", "admin"))) == every
    assert groups_listed(call("GET", "/groups", "outsider")) == []
    assert groups_listed(call("GET", "/groups?owned=true", "owner")) == ["acme"]
    assert groups_listed(call("GET", "/groups?owned=true", "maint")) == []
    assert groups_listed(call("GET", "/groups?min_access_level=40", "maint")) == \
        ["acme", "acme/sub"]
    assert groups_listed(call("GET", "/groups?min_access_level=40", "dev")) == []
    assert groups_listed(call("GET", "/groups?search=SU", "dev")) == ["acme/sub"]
    assert groups_listed(call("GET", "/groups?top_level_only=true", "dev")) == ["acme"]
    r = call("GET", "/groups?order_by=id&sort=desc&per_page=1", "dev")
    assert groups_listed(r) == ["acme/sub"] and r.headers["X-Total"] == "2"
    bad = call("GET", "/groups?min_access_level=35", "dev")
    assert (bad.status_code, bad.json()) == \
        (400, {"error": "min_access_level does not have a valid value"})


def test_group_visibility_and_personal_namespaces(world, call):
    assert call("GET", "/groups/acme").json() == {"message": "404 Group Not Found"}
    assert call("GET", "/groups/acme", "outsider").status_code == 404
    assert call("GET", "/groups/pub").status_code == 200
    # a user's namespace is no group (the namespaces API shows it)
    assert call("GET", "/groups/dev", "dev").json() == {"message": "404 Group Not Found"}
    assert call("GET", "/groups/424242", "admin").status_code == 404
    r = call("GET", "/groups/acme/subgroups", "dev")
    assert groups_listed(r) == ["acme/sub"]
    r = call("GET", "/groups/acme/projects?per_page=100", "dev")
    assert listed(r) == {"acme/app", "acme/other", "acme/internal"}
    r = call("GET", "/groups/acme/projects?include_subgroups=true&per_page=100", "dev")
    assert "acme/sub/lib" in listed(r)
    assert call("GET", "/groups/acme/projects", "outsider").status_code == 404


# ---- groups: create, update, delete ----

def test_create_group_and_subgroup(depot, world, call):
    path = unique("grp")
    r = call("POST", "/groups", "outsider", json={"name": "My Group", "path": path,
                                                 "visibility": "internal",
                                                 "description": "d",
                                                 "project_creation_level": "developer",
                                                 "subgroup_creation_level": "owner"})
    assert r.status_code == 201, r.text
    g = r.json()
    assert (g["name"], g["path"], g["full_path"], g["visibility"], g["description"]) == \
        ("My Group", path, path, "internal", "d")
    assert (g["project_creation_level"], g["subgroup_creation_level"]) == ("developer", "owner")
    assert "projects" not in g
    (uid,), = depot.query("SELECT id FROM users WHERE username = 'outsider'")
    assert depot.query("SELECT access_level FROM members WHERE user_id = ? AND group_id = ?",
                       uid, g["id"]) == [(50,)]
    sub = call("POST", "/groups", "outsider", data={"name": "Kid", "path": "kid",
                                                   "parent_id": str(g["id"])})
    assert sub.status_code == 201, sub.text
    assert (sub.json()["full_path"], sub.json()["full_name"], sub.json()["parent_id"]) == \
        (f"{path}/kid", "My Group / Kid", g["id"])
    # developers create projects here, as the level says
    (gid,), = depot.query("SELECT id FROM groups WHERE path = ?", f"{path}/kid")
    assert gid == sub.json()["id"]


def test_subgroup_permissions(world, call):
    (acme,) = [g["id"] for g in call("GET", "/groups?search=acme&top_level_only=true",
                                     "admin").json()]
    name = unique("sg")
    assert call("POST", "/groups", "maint", json={"name": name, "path": name,
                                                  "parent_id": acme}).status_code == 201
    r = call("POST", "/groups", "dev", json={"name": name + "x", "path": name + "x",
                                             "parent_id": acme})
    assert (r.status_code, r.json()) == (403, {"message": "403 Forbidden"})
    r = call("POST", "/groups", "outsider", json={"name": name + "y", "path": name + "y",
                                                  "parent_id": acme})
    assert (r.status_code, r.json()) == (404, {"message": "404 Group Not Found"})
    r = call("POST", "/groups", json={"name": "x", "path": "x"})
    assert (r.status_code, r.json()) == (401, {"message": "401 Unauthorized"})


@pytest.mark.parametrize("body,status,answer", [
    ({}, 400, {"error": "name is missing, path is missing"}),
    ({"name": "x"}, 400, {"error": "path is missing"}),
    ({"name": "x", "path": "-bad"}, 400, {"message": "Failed to save group {:path=>[\"can "
     "contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or "
     "end in '.atom'\"]}"}),
    ({"name": "x", "path": "a/b"}, 400, None),
    ({"name": "x", "path": "x.git"}, 400, None),
    ({"name": "-x", "path": "okpath"}, 400, {"message": "Failed to save group {:name=>[\"can "
     "contain only letters, digits, emoji, '_', '.', dash, space, parenthesis. It must start "
     "with letter, digit, emoji or '_'.\"]}"}),
    ({"name": "x", "path": "acme"}, 400,
     {"message": "Failed to save group {:path=>[\"has already been taken\"]}"}),
    ({"name": "x", "path": "DEV"}, 400,  # a user's namespace has it
     {"message": "Failed to save group {:path=>[\"has already been taken\"]}"}),
    ({"name": "x", "path": "x1", "visibility": "secret"}, 400,
     {"error": "visibility does not have a valid value"}),
    ({"name": "x", "path": "x1", "project_creation_level": "everyone"}, 400,
     {"error": "project_creation_level does not have a valid value"}),
    ({"name": "x", "path": "x1", "parent_id": "abc"}, 400, {"error": "parent_id is invalid"}),
    ({"name": ["x"], "path": "x1"}, 400, {"error": "name is invalid"}),
    ({"name": "x", "path": "x1", "parent_id": 999999}, 404, {"message": "404 Group Not Found"}),
])
def test_create_group_bad_input_changes_nothing(depot, world, call, body, status, answer):
    before = snapshot(depot)
    r = call("POST", "/groups", "owner", json=body)
    assert r.status_code == status, r.text
    if answer:
        assert r.json() == answer
    else:
        assert r.json()["message"].startswith("Failed to save group {:path=>")
    assert snapshot(depot) == before


def test_subgroup_not_more_visible_than_parent(depot, world, call):
    (acme,), = depot.query("SELECT id FROM groups WHERE path = 'acme'")
    before = snapshot(depot)
    r = call("POST", "/groups", "owner", json={"name": "v", "path": "vis", "parent_id": acme,
                                               "visibility": "public"})
    assert (r.status_code, r.json()) == (400, {
        "message": "Failed to save group {:visibility_level=>[\"public is not allowed since "
                   "the parent group has a private visibility.\"]}"})
    assert snapshot(depot) == before


def test_update_group(depot, world, call):
    path = unique("upd")
    g = make_group(call, "dev", path, visibility="public")
    kid = call("POST", "/groups", "dev", json={"name": "k", "path": "k", "parent_id": g["id"],
                                               "visibility": "internal"}).json()
    p = make_project(call, "dev", path="tool", namespace_id=kid["id"], visibility="internal")
    r = call("PUT", f"/groups/{g['id']}", "dev", json={"description": "new", "name": "Renamed"})
    assert r.status_code == 200, r.text
    assert (r.json()["description"], r.json()["name"]) == ("new", "Renamed")
    assert r.json()["projects"] == []
    # lower than what it holds: refused, nothing changes
    before = snapshot(depot)
    r = call("PUT", f"/groups/{kid['id']}", "dev", json={"visibility": "private"})
    assert (r.status_code, r.json()) == (400, {"message": {"visibility_level": [
        "private is not allowed since this group contains projects with higher visibility."]}})
    r = call("PUT", f"/groups/{g['id']}", "dev", json={"visibility": "private"})
    assert (r.status_code, r.json()) == (400, {"message": {"visibility_level": [
        "private is not allowed since there are sub-groups with higher visibility."]}})
    r = call("PUT", f"/groups/{g['id']}", "dev", json={"path": "acme"})
    assert (r.status_code, r.json()) == (400, {"message": {"path": ["has already been taken"]}})
    r = call("PUT", f"/groups/{g['id']}", "dev", json={"visibility": "hidden"})
    assert r.status_code == 400
    r = call("PUT", f"/groups/{g['id']}", "outsider", json={"description": "x"})
    assert (r.status_code, r.json()) == (403, {"message": "403 Forbidden"})
    r = call("PUT", f"/groups/{g['id']}", json={"description": "x"})
    assert r.status_code == 401
    assert snapshot(depot) == before
    # a new path carries the subgroups and projects along
    r = call("PUT", f"/groups/{g['id']}", "dev", json={"path": path + "-moved"})
    assert r.status_code == 200 and r.json()["full_path"] == path + "-moved"
    assert call("GET", f"/projects/{p['id']}", "dev").json()["path_with_namespace"] == \
        f"{path}-moved/k/tool"
    assert call("GET", f"/groups/{path}-moved%2Fk", "dev").json()["id"] == kid["id"]
    assert call("GET", f"/groups/{path}%2Fk", "dev").status_code == 404


def upload(depot, pid, headers, name, body=b"content-" + b"x" * 100):
    return requests.put(depot.api(generic_path(pid, name, "1.0", "f.bin")), data=body,
                        headers=headers, timeout=30)


def test_delete_group(depot, world, call):
    path = unique("del")
    g = make_group(call, "dev", path)
    kid = call("POST", "/groups", "dev", json={"name": "k", "path": "k",
                                               "parent_id": g["id"]}).json()
    p = make_project(call, "dev", path="tool", namespace_id=kid["id"])
    headers = {"PRIVATE-TOKEN": world.pat["dev"]}
    body = unique("blob").encode() * 5000
    assert upload(depot, p["id"], headers, "pkg", body).status_code == 201
    r = call("DELETE", f"/groups/{g['id']}", "reporter")
    assert r.status_code == 404  # reporter cannot see it
    before = snapshot(depot)
    (uid,), = depot.query("SELECT id FROM users WHERE username = 'maint'")
    r = call("POST", f"/groups/{g['id']}/members", "dev", json={"user_id": uid,
                                                                "access_level": 40})
    if r.status_code == 201:  # the members area is there: a maintainer may not delete
        assert call("DELETE", f"/groups/{g['id']}", "maint").status_code == 403
        before = snapshot(depot)
    r = call("DELETE", f"/groups/{g['id']}", "dev")
    assert (r.status_code, r.json()) == (202, {"message": "202 Accepted"})
    assert snapshot(depot) != before
    assert call("GET", f"/groups/{g['id']}", "dev").status_code == 404
    assert call("GET", f"/groups/{path}%2Fk", "dev").status_code == 404
    assert call("GET", f"/projects/{p['id']}", "dev").status_code == 404
    assert path not in groups_listed(call("GET", "/groups?per_page=100", "admin"))
    assert depot.query("SELECT pending_delete, path FROM groups WHERE id = ?", g["id"]) == \
        [(1, f"{path}-deletion_scheduled-{g['id']}")]
    assert depot.query("SELECT pending_delete FROM projects WHERE id = ?", p["id"]) == [(1,)]
    assert depot.query("SELECT status FROM packages WHERE project_id = ?", p["id"]) == [(4,)]
    depot.cli("gc")
    assert depot.query("SELECT COUNT(*) FROM packages WHERE project_id = ?", p["id"]) == [(0,)]
    assert depot.stored_copies(body) == ([], 0)
    # the path is free at once
    again = make_group(call, "dev", path)
    assert again["id"] != g["id"]


# ---- projects: create, update, delete ----

def test_create_project_in_namespaces(depot, world, call):
    name = unique("proj")
    p = make_project(call, "maint", name=name, namespace_id="acme", visibility="public",
                     description="about")
    assert p["path_with_namespace"] == f"acme/{name}"
    assert (p["visibility"], p["description"]) == ("private", "about")  # capped by acme
    (acme,), = depot.query("SELECT id FROM groups WHERE path = 'acme'")
    p2 = make_project(call, "owner", name="My Fancy Tool", namespace_id=acme)
    assert (p2["path"], p2["name"]) == ("my-fancy-tool", "My Fancy Tool")
    p3 = make_project(call, "dev", path=unique("Path_Only"))
    assert p3["name"] == p3["path"] and p3["namespace"]["full_path"] == "dev"
    p4 = make_project(call, "dev", path=unique("pub"), visibility="public",
                      packages_enabled=False)
    assert (p4["visibility"], p4["packages_enabled"]) == ("public", False)
    assert p4["package_registry_access_level"] == "disabled"
    assert depot.query("SELECT creator_id, packages_enabled FROM projects WHERE id = ?",
                       p4["id"]) == [(depot.query(
                           "SELECT id FROM users WHERE username = 'dev'")[0][0], 0)]
    # admins create anywhere
    make_project(call, "admin", path=unique("adm"), namespace_id="dev")


@pytest.mark.parametrize("who,body,status,answer", [
    ("dev", {}, 400,
     {"error": "name, path are missing, at least one parameter must be provided"}),
    ("dev", {"name": "", "path": ""}, 400,
     {"error": "name, path are missing, at least one parameter must be provided"}),
    ("dev", {"path": "x", "namespace_id": "acme"}, 400,
     {"message": {"namespace": ["is not valid"]}}),  # developers may not, by default
    ("outsider", {"path": "x", "namespace_id": "acme"}, 400,
     {"message": {"namespace": ["is not valid"]}}),  # invisible
    ("dev", {"path": "x", "namespace_id": 999999}, 400,
     {"message": {"namespace": ["is not valid"]}}),
    ("dev", {"path": "x", "namespace_id": "owner"}, 400,
     {"message": {"namespace": ["is not valid"]}}),  # another user's namespace
    ("dev", {"path": "x", "namespace_id": {"id": 1}}, 400,
     {"message": {"namespace": ["is not valid"]}}),
    ("owner", {"path": "app", "namespace_id": "acme"}, 400,
     {"message": {"path": ["has already been taken"], "name": ["has already been taken"]}}),
    ("owner", {"path": "APP2", "name": "app", "namespace_id": "acme"}, 400,
     {"message": {"name": ["has already been taken"]}}),
    ("owner", {"path": "sub", "name": "other name", "namespace_id": "acme"}, 400,
     {"message": {"path": ["has already been taken"]}}),  # a subgroup has it
    ("dev", {"path": "bad/path", "name": "fine"}, 400, {"message": {"path": [
        "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in "
        "'.git' or end in '.atom'"]}}),
    ("dev", {"path": "x.atom"}, 400, {"message": {"path": [
        "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in "
        "'.git' or end in '.atom'"]}}),
    ("dev", {"path": "ok", "name": "!bad"}, 400, {"message": {"name": [
        "can contain only letters, digits, emoji, '_', '.', '+', dashes, or spaces. It must "
        "start with a letter, digit, emoji, or '_'."]}}),
    ("dev", {"path": "ok", "visibility": "open"}, 400,
     {"error": "visibility does not have a valid value"}),
    ("dev", {"path": "ok", "packages_enabled": "perhaps"}, 400,
     {"error": "packages_enabled is invalid"}),
    ("dev", {"path": "ok", "description": "d" * 2001}, 400,
     {"message": {"description": ["is too long (maximum is 2000 characters)"]}}),
    (None, {"path": "ok"}, 401, {"message": "401 Unauthorized"}),
])
def test_create_project_bad_input_changes_nothing(depot, world, call, who, body, status, answer):
    before = snapshot(depot)
    r = call("POST", "/projects", who, json=body)
    assert (r.status_code, r.json()) == (status, answer)
    assert snapshot(depot) == before


def test_update_project(depot, world, call):
    p = make_project(call, "owner", path=unique("upd"), visibility="internal")
    pid = p["id"]
    r = call("PUT", f"/projects/{pid}", "maint", json={"description": "x"})
    assert r.status_code == 403  # maint sees it (internal) but is no member
    (uid,), = depot.query("SELECT id FROM users WHERE username = 'maint'")
    depot.cli("member", "add", "--project", p["path_with_namespace"], "--user", "maint",
              "--role", "maintainer")
    r = call("PUT", f"/projects/{pid}", "maint", json={"description": "x", "name": "Nice name"})
    assert r.status_code == 200 and (r.json()["description"], r.json()["name"]) == \
        ("x", "Nice name")
    assert r.json()["updated_at"] >= p["updated_at"]
    before = snapshot(depot)
    r = call("PUT", f"/projects/{pid}", "maint", json={"visibility": "public"})
    assert (r.status_code, r.json()) == (403, {"message": "403 Forbidden"})
    r = call("PUT", f"/projects/{pid}", "dev", json={"description": "y"})
    assert (r.status_code, r.json()) == (403, {"message": "403 Forbidden"})
    r = call("PUT", f"/projects/{pid}", json={"description": "y"})
    assert (r.status_code, r.json()) == (401, {"message": "401 Unauthorized"})
    r = call("PUT", f"/projects/{pid}", "owner", json={"unknown": 1})
    assert (r.status_code, r.json()) == (400, {"error": "name, description, visibility, "
        "packages_enabled, package_registry_access_level are missing, at least one parameter "
        "must be provided"})
    r = call("PUT", f"/projects/{pid}", "owner", json={"visibility": "nope"})
    assert (r.status_code, r.json()) == (400, {"error": "visibility does not have a valid value"})
    r = call("PUT", f"/projects/{pid}", "owner", json={"package_registry_access_level": "x"})
    assert r.json() == {"error": "package_registry_access_level does not have a valid value"}
    r = call("PUT", f"/projects/{world.pid('acme/other')}", "owner",
             json={"visibility": "public"})
    assert (r.status_code, r.json()) == (400, {"message": {"visibility_level": [
        "public is not allowed in a private group."]}})
    r = call("PUT", f"/projects/{pid}", "owner", json={"name": "app2 !"})
    assert r.status_code == 400
    r = call("PUT", "/projects/999999", "owner", json={"name": "n"})
    assert (r.status_code, r.json()) == (404, {"message": "404 Project Not Found"})
    assert snapshot(depot) == before
    r = call("PUT", f"/projects/{pid}", "owner", json={"visibility": "public"})
    assert r.status_code == 200 and r.json()["visibility"] == "public"
    assert call("GET", f"/projects/{pid}").status_code == 200


def test_packages_disabled_answers_403_until_enabled(depot, world, call):
    p = make_project(call, "dev", path=unique("pk"))
    pid, headers = p["id"], {"PRIVATE-TOKEN": world.pat["dev"]}
    assert upload(depot, pid, headers, "a").status_code == 201
    r = call("PUT", f"/projects/{pid}", "dev", data={"packages_enabled": "false"})
    assert r.status_code == 200 and r.json()["packages_enabled"] is False
    assert r.json()["package_registry_access_level"] == "disabled"
    assert upload(depot, pid, headers, "b").status_code == 403
    down = requests.get(depot.api(generic_path(pid, "a", "1.0", "f.bin")), headers=headers)
    assert down.status_code == 403
    assert requests.get(depot.api(f"/projects/{pid}/packages"), headers=headers).status_code == 403
    assert call("GET", f"/projects/{pid}", "dev").status_code == 200  # the project is there
    r = call("PUT", f"/projects/{pid}", "dev", json={"package_registry_access_level": "enabled"})
    assert r.json()["packages_enabled"] is True
    assert upload(depot, pid, headers, "b").status_code == 201
    assert requests.get(depot.api(generic_path(pid, "a", "1.0", "f.bin")),
                        headers=headers).status_code == 200


def test_delete_project(depot, world, call):
    path = unique("gone")
    p = make_project(call, "dev", path=path)
    pid, headers = p["id"], {"PRIVATE-TOKEN": world.pat["dev"]}
    body = unique("content").encode() * 5000
    assert upload(depot, pid, headers, "pkg", body).status_code == 201
    deploy = json.loads(depot.cli("token", "create", "deploy", "--project", f"dev/{path}",
                                  "--scopes", "read_package_registry", "--json").stdout)
    r = call("DELETE", f"/projects/{pid}", "outsider")
    assert (r.status_code, r.json()) == (404, {"message": "404 Project Not Found"})
    r = call("DELETE", f"/projects/{pid}")
    assert (r.status_code, r.json()) == (401, {"message": "401 Unauthorized"})
    r = call("DELETE", f"/projects/{world.pid('acme/app')}", "maint")
    assert (r.status_code, r.json()) == (403, {"message": "403 Forbidden"})
    r = call("DELETE", f"/projects/{pid}", "dev")
    assert (r.status_code, r.json()) == (202, {"message": "202 Accepted"})
    assert call("GET", f"/projects/{pid}", "dev").status_code == 404
    assert call("GET", f"/projects/dev%2F{path}", "dev").status_code == 404
    assert pid not in [x["id"] for x in call("GET", "/projects?per_page=100", "admin").json()]
    assert call("DELETE", f"/projects/{pid}", "dev").status_code == 404
    assert depot.query("SELECT path, pending_delete FROM projects WHERE id = ?", pid) == \
        [(f"dev/{path}-deletion_scheduled-{pid}", 1)]
    assert depot.query("SELECT status FROM packages WHERE project_id = ?", pid) == [(4,)]
    assert depot.query("SELECT revoked FROM tokens WHERE id = ?", deploy["id"]) == [(1,)]
    assert depot.stored_copies(body) != ([], 0)
    depot.cli("gc")
    assert depot.query("SELECT COUNT(*) FROM packages WHERE project_id = ?", pid) == [(0,)]
    assert depot.stored_copies(body) == ([], 0)
    again = make_project(call, "dev", path=path)
    assert again["id"] != pid and again["path_with_namespace"] == f"dev/{path}"


# ---- the command line ----

def test_cli_lists(depot, world):
    out = depot.cli("group", "list").stdout.splitlines()
    assert out[0].split() == ["ID", "PATH", "VISIBILITY", "CREATED"]
    paths = [line.split()[1] for line in out[1:]]
    assert "acme/sub" in paths and "dev" not in paths
    groups = [json.loads(line) for line in depot.cli("group", "list", "--json").stdout.splitlines()]
    acme = next(g for g in groups if g["path"] == "acme")
    assert set(acme) == {"id", "path", "name", "visibility", "created_at"}
    assert acme["visibility"] == "private" and ISO.match(acme["created_at"])
    projects = [json.loads(line)
                for line in depot.cli("project", "list", "--json").stdout.splitlines()]
    app = next(p for p in projects if p["path"] == "acme/app")
    assert app == {"id": world.pid("acme/app"), "path": "acme/app", "name": "app",
                   "visibility": "private", "created_at": app["created_at"],
                   "packages_enabled": True}
    assert not any("deletion_scheduled" in p["path"] for p in projects)
    text = depot.cli("project", "list").stdout.splitlines()
    assert text[0].split() == ["ID", "PATH", "VISIBILITY", "CREATED", "PACKAGES"]
    assert any(line.split()[1] == "pub/open" and line.split()[2] == "public" for line in text)


def test_python_gitlab_reads_and_writes_projects_and_groups(depot, world):
    """python-gitlab's managers, without lazy=True: what scripts call first."""
    import gitlab
    gl = gitlab.Gitlab(depot.url, private_token=world.pat["owner"])
    assert gl.projects.get("acme/app").id == world.pid("acme/app")
    group = gl.groups.create({"name": "PG", "path": unique("pg")})
    sub = gl.groups.create({"name": "Sub", "path": "sub", "parent_id": group.id})
    project = gl.projects.create({"name": "Tool", "namespace_id": sub.id})
    assert project.path_with_namespace == f"{group.path}/sub/Tool"  # a valid path as is
    assert gl.groups.get(group.full_path).projects.list() == []
    assert [p.id for p in gl.groups.get(sub.id).projects.list()] == [project.id]
    assert [g.id for g in gl.groups.get(group.id).subgroups.list()] == [sub.id]
    project.description = "changed"
    project.save()
    assert gl.projects.get(project.id).description == "changed"
    assert project.id in [p.id for p in gl.projects.list(membership=True, get_all=True)]
    project.delete()
    with pytest.raises(gitlab.exceptions.GitlabGetError):
        gl.projects.get(project.id)
    group.delete()
