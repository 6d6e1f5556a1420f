"""GitLab's REST resources of the users area (gitlab-rest.md sections 1, 2, 4): GET /version
and /metadata, users (list, get, create, delete), namespaces (list, get, exists) and
`depot user list`: entity shapes, filters, pagination headers, who may call what (job and
deploy tokens count as anonymous), and bad input answering GitLab's bodies with no row
changed. Over SQLite and PostgreSQL alike."""
import json
import re
import subprocess
import time

import pytest
import requests

from conftest import DEPOT, generic_path, unique

from conftest import skip_in_nodes as _skip_in_nodes, skip_in_s3 as _skip_in_s3

# GitLab's REST resources live in the metadata store only: the SQLite and PostgreSQL passes
# cover them; the S3 and nodes passes change where contents live.
pytestmark = [_skip_in_s3, _skip_in_nodes]
UNAUTHORIZED = {"message": "401 Unauthorized"}
FORBIDDEN = {"message": "403 Forbidden"}
NO_ROUTE = {"error": "404 Not Found"}
USER_NOT_FOUND = {"message": "404 User Not Found"}
NS_NOT_FOUND = {"message": "404 Namespace Not Found"}
BASIC_KEYS = {"id", "username", "name", "state", "locked", "avatar_url", "web_url"}
USER_KEYS = BASIC_KEYS | {"created_at", "bio", "location", "public_email", "skype", "linkedin",
                          "twitter", "discord", "website_url", "organization", "job_title",
                          "pronouns", "bot", "work_information", "followers", "following",
                          "is_followed", "local_time"}
PUBLIC_KEYS = USER_KEYS | {"last_sign_in_at", "confirmed_at", "last_activity_on", "email",
                           "theme_id", "color_scheme_id", "projects_limit", "current_sign_in_at",
                           "identities", "can_create_group", "can_create_project",
                           "two_factor_enabled", "external", "private_profile", "commit_email",
                           "preferred_language"}
ADMIN_KEYS = PUBLIC_KEYS | {"is_admin", "note", "namespace_id", "created_by",
                            "email_reset_offered_at"}
NS_KEYS = {"id", "name", "path", "kind", "full_path", "parent_id", "avatar_url", "web_url"}
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def hdr(world, user):
    return {"PRIVATE-TOKEN": world.pat[user]}


def not_persons(world):
    """Credentials the REST resources treat as anonymous, and no credentials at all."""
    return [{}, {"JOB-TOKEN": world.job_dev}, {"DEPLOY-TOKEN": world.deploy_ro}]


def uid(depot, username):
    return depot.query("SELECT id FROM users WHERE username = ?", username)[0][0]


def rows(depot):
    """What a refused request must leave unchanged."""
    return [depot.query(f"SELECT * FROM {t} ORDER BY 1, 2, 3") for t in
            ("users", "groups", "members")] + [
        depot.query("SELECT id, revoked FROM tokens ORDER BY id")]


def create(depot, world, **body):
    return requests.post(depot.api("/users"), json=body, headers=hdr(world, "admin"))


def new_user(depot, world, prefix="u"):
    name = unique(prefix)
    r = create(depot, world, email=f"{name}@example.com", name=f"N {name}", username=name,
               password="s3cret-pass")
    assert r.status_code == 201, r.text
    return r.json()


# ---- version and metadata ----

@pytest.mark.parametrize("path", ["/version", "/metadata"])
def test_version_and_metadata(depot, world, path):
    version = subprocess.run([DEPOT, "--version"], capture_output=True, text=True).stdout.split()[1]
    for user in ["dev", "admin", "outsider"]:
        r = requests.get(depot.api(path), headers=hdr(world, user))
        assert r.status_code == 200
        body = r.json()
        assert re.fullmatch(r"[0-9a-f]{4,40}|unknown", body.pop("revision"))
        assert body == {"version": version, "enterprise": False,
                        "kas": {"enabled": False, "externalUrl": None,
                                "externalK8sProxyUrl": None, "version": None}}
    for h in not_persons(world):
        r = requests.get(depot.api(path), headers=h)
        assert (r.status_code, r.json()) == (401, UNAUTHORIZED)


# ---- GET /users ----

def test_users_list_people_see_user_basic(depot, world):
    r = requests.get(depot.api("/users"), headers=hdr(world, "dev"), params={"per_page": 100})
    assert r.status_code == 200
    users = r.json()
    assert all(set(u) == BASIC_KEYS for u in users)
    ids = [u["id"] for u in users]
    assert ids == sorted(ids, reverse=True)  # id desc, GitLab's default
    assert ids == [row[0] for row in depot.query("SELECT id FROM users ORDER BY id DESC")]
    dev = next(u for u in users if u["username"] == "dev")
    assert dev == {"id": uid(depot, "dev"), "username": "dev", "name": "dev", "state": "active",
                   "locked": False, "avatar_url": None, "web_url": depot.url + "/dev"}


def test_users_list_admins_see_user_with_admin(depot, world):
    r = requests.get(depot.api("/users"), headers=hdr(world, "admin"),
                     params={"username": "admin"})
    assert r.status_code == 200
    [u] = r.json()
    assert set(u) == ADMIN_KEYS
    ns = depot.query("SELECT id FROM groups WHERE owner_id = ?", u["id"])[0][0]
    assert (u["is_admin"], u["namespace_id"], u["bot"], u["created_by"]) == (True, ns, False, None)
    assert TIME.fullmatch(u["created_at"])


def test_users_list_anonymous_only_by_username(depot, world):
    for h in not_persons(world):
        r = requests.get(depot.api("/users"), headers=h)
        assert (r.status_code, r.json()) == (
            403, {"message": "403 Forbidden - Not authorized to access /api/v4/users"})
        r = requests.get(depot.api("/users"), headers=h, params={"username": "DEV"})
        assert r.status_code == 200
        assert [(u["username"], set(u)) for u in r.json()] == [("dev", BASIC_KEYS)]
    r = requests.get(depot.api("/users"), params={"username": "nobody-here"})
    assert (r.status_code, r.json(), r.headers["X-Total"]) == (200, [], "0")


def test_users_list_filters(depot, world):
    def names(user="dev", **params):
        r = requests.get(depot.api("/users"), headers=hdr(world, user),
                         params={"per_page": 100, **params})
        assert r.status_code == 200, r.text
        return [u["username"] for u in r.json()]

    bots = [r[0] for r in depot.query("SELECT username FROM users WHERE bot = 1 ORDER BY id DESC")]
    assert bots  # the world's project access tokens
    everyone = names()
    assert names(search="OUTS") == ["outsider"]  # substring, any case
    assert names(search="Main") == ["maint"]
    assert names(humans="true") == [u for u in everyone if u not in bots]
    assert names(without_project_bots="true") == [u for u in everyone if u not in bots]
    assert names(exclude_humans="true") == bots
    assert names(blocked="true") == [] and names(active="true") == everyone
    # admins= and order_by are for administrators; others' are dropped
    assert names("admin", admins="true") == ["admin"]
    assert names(admins="true") == everyone
    assert names("admin", order_by="username", sort="asc")[:2] == ["admin", "dev"]
    assert names(order_by="username", sort="asc") == everyone[::-1]


def test_users_list_pagination(depot, world):
    total = depot.query("SELECT COUNT(*) FROM users")[0][0]
    r = requests.get(depot.api("/users"), headers=hdr(world, "dev"),
                     params={"per_page": 2, "page": 2, "search": ""})
    assert r.status_code == 200 and len(r.json()) == 2
    h = r.headers
    pages = (total + 1) // 2
    assert (h["X-Page"], h["X-Per-Page"], h["X-Total"], h["X-Total-Pages"]) == (
        "2", "2", str(total), str(pages))
    assert (h["X-Prev-Page"], h["X-Next-Page"].strip()) == ("1", "3" if pages > 2 else "")
    assert f'<{depot.url}/api/v4/users?search=&page=1&per_page=2>; rel="prev"' in h["Link"]
    assert 'rel="first"' in h["Link"] and 'rel="last"' in h["Link"]
    ids = [row[0] for row in depot.query("SELECT id FROM users ORDER BY id DESC")]
    assert [u["id"] for u in r.json()] == ids[2:4]


@pytest.mark.parametrize("params,error", [
    ({"humans": "maybe"}, "humans is invalid"),
    ({"order_by": "karma"}, "order_by does not have a valid value"),
    ({"sort": "up"}, "sort does not have a valid value"),
    ({"page": "two"}, "page is invalid"),
])
def test_users_list_bad_params(depot, world, params, error):
    r = requests.get(depot.api("/users"), headers=hdr(world, "dev"), params=params)
    assert (r.status_code, r.json()) == (400, {"error": error})


# ---- GET /users/:id ----

def test_get_user(depot, world):
    dev = uid(depot, "dev")
    r = requests.get(depot.api(f"/users/{dev}"), headers=hdr(world, "outsider"))
    assert r.status_code == 200
    u = r.json()
    assert set(u) == USER_KEYS and "email" not in u and "is_admin" not in u
    assert (u["id"], u["username"], u["bot"], u["bio"]) == (dev, "dev", False, "")
    r = requests.get(depot.api(f"/users/{dev}"), headers=hdr(world, "admin"))
    assert set(r.json()) == ADMIN_KEYS and r.json()["is_admin"] is False
    bot = depot.query("SELECT id FROM users WHERE bot = 1 ORDER BY id")[0][0]
    r = requests.get(depot.api(f"/users/{bot}"), headers=hdr(world, "dev"))
    assert r.json()["bot"] is True
    r = requests.get(depot.api(f"/users/{bot}"), headers=hdr(world, "admin"))
    assert r.json()["namespace_id"] is None  # bots have no personal namespace


def test_get_user_refusals(depot, world):
    dev = uid(depot, "dev")
    for h in not_persons(world):
        r = requests.get(depot.api(f"/users/{dev}"), headers=h)
        assert (r.status_code, r.json()) == (403, {"message": "403 Forbidden - Not authorized!"})
    r = requests.get(depot.api("/users/99999999"), headers=hdr(world, "dev"))
    assert (r.status_code, r.json()) == (404, USER_NOT_FOUND)
    for ref in ["dev", "-1", "1x"]:  # /users/:id only matches digits
        r = requests.get(depot.api(f"/users/{ref}"), headers=hdr(world, "dev"))
        assert (r.status_code, r.json()) == (404, NO_ROUTE), ref


def test_current_user_is_user_public(depot, world):
    r = requests.get(depot.api("/user"), headers=hdr(world, "dev"))
    assert r.status_code == 200 and set(r.json()) == PUBLIC_KEYS
    r = requests.get(depot.api("/user"), headers=hdr(world, "admin"))
    assert set(r.json()) == ADMIN_KEYS and r.json()["is_admin"] is True
    r = requests.get(depot.api("/user"), headers={"PRIVATE-TOKEN": world.project_token["token"]})
    assert r.json()["bot"] is True and r.json()["can_create_group"] is False


# ---- POST /users ----

def test_create_user(depot, world):
    name = unique("carol")
    r = create(depot, world, email=f"{name}@Example.com", name="Carol Smith", username=name,
               reset_password=True, admin=False, skip_confirmation=True)
    assert r.status_code == 201, r.text
    u = r.json()
    assert set(u) == ADMIN_KEYS
    new_id = u["id"]
    assert (u["username"], u["name"], u["email"], u["is_admin"], u["bot"], u["state"]) == (
        name, "Carol Smith", f"{name}@Example.com", False, False, "active")
    assert u["created_by"]["username"] == "admin" and u["web_url"] == f"{depot.url}/{name}"
    assert depot.query("SELECT username, name, email, is_admin, bot, created_by FROM users"
                       " WHERE id = ?", new_id) == [
        (name, "Carol Smith", f"{name}@Example.com", 0, 0, uid(depot, "admin"))]
    # the personal namespace, which its user owns
    [(ns, path, owner)] = depot.query("SELECT id, path, owner_id FROM groups WHERE owner_id = ?",
                                      new_id)
    assert (ns, path, owner) == (u["namespace_id"], name, new_id)
    assert depot.query("SELECT access_level FROM members WHERE user_id = ? AND group_id = ?",
                       new_id, ns) == [(50,)]
    # seen by the others and in GET /users/:id
    r = requests.get(depot.api(f"/users/{new_id}"), headers=hdr(world, "dev"))
    assert r.json()["name"] == "Carol Smith"
    # a project goes in it, and its token lists it
    pid = int(depot.cli("project", "create", f"{name}/x").stdout)
    assert depot.query("SELECT group_id FROM projects WHERE id = ?", pid) == [(ns,)]
    token = depot.cli("token", "create", "personal", "--user", name, "--scopes", "api").stdout
    r = requests.get(depot.api("/namespaces"), headers={"PRIVATE-TOKEN": token.strip()})
    assert [(n["id"], n["kind"], n["full_path"], n["name"]) for n in r.json()] == [
        (ns, "user", name, "Carol Smith")]


def test_create_admin_user(depot, world):
    name = unique("root")
    r = create(depot, world, email=f"{name}@example.com", name=name, username=name,
               force_random_password="true", admin="true")
    assert r.status_code == 201 and r.json()["is_admin"] is True
    assert depot.query("SELECT is_admin FROM users WHERE username = ?", name) == [(1,)]


def test_create_user_form_encoded(depot, world):
    name = unique("form")
    r = requests.post(depot.api("/users"), headers=hdr(world, "admin"),
                      data={"email": f"{name}@example.com", "name": "F", "username": name,
                            "password": "long-enough"})
    assert r.status_code == 201 and r.json()["username"] == name


def test_create_user_permissions(depot, world):
    before = rows(depot)
    body = {"email": "x@example.com", "name": "x", "username": unique("x"), "password": "12345678"}
    for h in not_persons(world):
        r = requests.post(depot.api("/users"), json=body, headers=h)
        assert (r.status_code, r.json()) == (401, UNAUTHORIZED)
    for user in ["dev", "owner", "outsider"]:
        r = requests.post(depot.api("/users"), json=body, headers=hdr(world, user))
        assert (r.status_code, r.json()) == (403, FORBIDDEN)
    assert rows(depot) == before


TRIO = ("password, reset_password, force_random_password are missing, at least one parameter "
        "must be provided")
FORMAT = ("can contain only letters, digits, '_', '-' and '.'. Cannot start with '-' or end in "
          "'.', '.git' or '.atom'.")


@pytest.mark.parametrize("body,status,answer", [
    ({}, 400, {"error": f"email is missing, {TRIO}, name is missing, username is missing"}),
    ({"name": "n", "username": "n1", "password": "12345678"}, 400, {"error": "email is missing"}),
    ({"email": "n@e.io", "name": "n", "username": "n1"}, 400, {"error": TRIO}),
    ({"email": "n@e.io", "name": "", "username": "n1", "password": "12345678"}, 400,
     {"error": "name is missing"}),
    ({"email": 5, "name": "n", "username": "n1", "password": "12345678"}, 400,
     {"error": "email is invalid"}),
    ({"email": "n@e.io", "name": "n", "username": "n1", "password": "12345678", "admin": "maybe"},
     400, {"error": "admin is invalid"}),
    ({"email": "n@e.io", "name": "n", "username": ["n1"], "password": "12345678"}, 400,
     {"error": "username is invalid"}),
    ({"email": "nope", "name": "n", "username": "n1", "password": "12345678"}, 400,
     {"message": {"email": ["is invalid"]}}),
    ({"email": "n@e.io", "name": "n", "username": "n1", "password": "short"}, 400,
     {"message": {"password": ["is too short (minimum is 8 characters)"]}}),
    ({"email": "n@e.io", "name": "n" * 256, "username": "n1", "password": "12345678"}, 400,
     {"message": {"name": ["is too long (maximum is 255 characters)"]}}),
    ({"email": "a b@e.io", "name": "n", "username": "-n", "password": "12345678"}, 400,
     {"message": {"email": ["is invalid"], "username": [FORMAT]}}),
    ({"email": "n@e.io", "name": "n", "username": "n.git", "password": "12345678"}, 400,
     {"message": {"username": [FORMAT]}}),
    ({"email": "n@e.io", "name": "n", "username": "a/b", "password": "12345678"}, 400,
     {"message": {"username": [FORMAT]}}),
    ({"email": "n@e.io", "name": "n", "username": "n.", "password": "12345678"}, 400,
     {"message": {"username": [FORMAT]}}),
    ({"email": "n@e.io", "name": "n", "username": "DEV", "password": "12345678"}, 409,
     {"message": "Username has already been taken"}),
    # namespaces share paths: a group's is taken too
    ({"email": "n@e.io", "name": "n", "username": "acme", "password": "12345678"}, 409,
     {"message": "Username has already been taken"}),
    ({"email": "TAKEN@example.com", "name": "n", "username": "dev", "password": "12345678"},
     409, {"message": "Email has already been taken"}),
])
def test_create_user_bad_input(depot, world, body, status, answer):
    taken = "taken@example.com"
    if not depot.query("SELECT id FROM users WHERE email = ?", taken):
        create(depot, world, email=taken, name="t", username=unique("taken"), password="12345678")
    before = rows(depot)
    r = requests.post(depot.api("/users"), json=body, headers=hdr(world, "admin"))
    assert (r.status_code, r.json()) == (status, answer)
    assert rows(depot) == before


# ---- DELETE /users/:id ----

def test_delete_user(depot, world):
    u = new_user(depot, world, "gone")
    name, ns = u["username"], u["namespace_id"]
    tok = depot.cli("token", "create", "personal", "--user", name, "--scopes", "api").stdout.strip()
    depot.cli("member", "add", "--project", "pub/open", "--user", name, "--role", "developer")
    depot.cli("member", "add", "--group", "acme", "--user", name, "--role", "owner")
    pkg = unique("gone-pkg")
    r = requests.put(depot.api(generic_path(world.pid("pub/open"), pkg, "1.0.0", "f.txt")),
                     data=b"x", headers={"PRIVATE-TOKEN": tok})
    assert r.status_code == 201
    r = requests.delete(depot.api(f"/users/{u['id']}"), headers=hdr(world, "admin"))
    assert (r.status_code, r.content) == (204, b"")
    assert depot.query("SELECT * FROM users WHERE id = ?", u["id"]) == []
    assert depot.query("SELECT * FROM groups WHERE id = ?", ns) == []
    assert depot.query("SELECT * FROM members WHERE user_id = ? OR group_id = ?", u["id"], ns) == []
    assert depot.query("SELECT revoked FROM tokens WHERE user_id = ?", u["id"]) == [(1,)]
    r = requests.get(depot.api("/user"), headers={"PRIVATE-TOKEN": tok})
    assert r.status_code == 401
    r = requests.get(depot.api(f"/users/{u['id']}"), headers=hdr(world, "admin"))
    assert (r.status_code, r.json()) == (404, USER_NOT_FOUND)
    # the audit log keeps who did what, by name
    deadline = time.monotonic() + 10  # the audit log is written in batches
    while not (out := depot.cli("audit", "--package", pkg).stdout) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [json.loads(line)["user"] for line in out.splitlines()] == [name]
    # the name is free again
    r = create(depot, world, email=f"{name}@example.com", name="again", username=name,
               password="12345678")
    assert r.status_code == 201


def test_delete_user_sole_owner(depot, world):
    u = new_user(depot, world, "solo")
    group = unique("solo-g")
    depot.cli("group", "create", group)
    depot.cli("member", "add", "--group", group, "--user", u["username"], "--role", "owner")
    before = rows(depot)
    for params in [{}, {"hard_delete": "true"}]:
        r = requests.delete(depot.api(f"/users/{u['id']}"), headers=hdr(world, "admin"),
                            params=params)
        assert (r.status_code, r.json()) == (
            409, {"message": "User cannot be removed while is the sole-owner of a group"})
    assert rows(depot) == before
    # an Owner of a parent group shares the subgroup: not sole
    co = new_user(depot, world, "co")["username"]
    depot.cli("member", "add", "--group", group, "--user", co, "--role", "owner")
    sub = unique("solo-s")
    depot.cli("group", "create", f"{group}/{sub}")
    depot.cli("member", "add", "--group", f"{group}/{sub}", "--user", u["username"],
              "--role", "owner")
    r = requests.delete(depot.api(f"/users/{u['id']}"), headers=hdr(world, "admin"))
    assert r.status_code == 204


def test_delete_user_with_personal_project(depot, world):
    u = new_user(depot, world, "proj")
    depot.cli("project", "create", f"{u['username']}/tool")
    before = rows(depot)
    r = requests.delete(depot.api(f"/users/{u['id']}"), headers=hdr(world, "admin"))
    assert (r.status_code, r.json()) == (409, {
        "message": "User cannot be removed while their personal namespace has projects: "
                   "delete them first"})
    assert rows(depot) == before


def test_delete_user_whose_projects_await_gc(depot, world):
    """A personal project deleted but not yet removed by gc still names the namespace: the
    namespace is renamed away and marked pending too, and the username is free at once."""
    u = new_user(depot, world, "later")
    name, ns = u["username"], u["namespace_id"]
    pid = int(depot.cli("project", "create", f"{name}/tool").stdout)
    with depot.db() as con:  # what DELETE /projects/:id leaves for gc
        con.execute("UPDATE projects SET pending_delete = 1, path = path || '-deleted' WHERE id = ?",
                    (pid,))
    r = requests.delete(depot.api(f"/users/{u['id']}"), headers=hdr(world, "admin"))
    assert r.status_code == 204
    assert depot.query("SELECT path, pending_delete FROM groups WHERE id = ?", ns) == [
        (f"{name}-deletion_scheduled-{ns}", 1)]
    assert depot.query("SELECT * FROM users WHERE id = ?", u["id"]) == []
    r = requests.get(depot.api(f"/namespaces/{ns}"), headers=hdr(world, "admin"))
    assert (r.status_code, r.json()) == (404, NS_NOT_FOUND)
    again = new_user(depot, world, "x")  # any new user gets a namespace as before
    r = create(depot, world, email=f"{name}@example.org", name="n", username=name,
               password="12345678")
    assert r.status_code == 201 and r.json()["namespace_id"] not in (ns, again["namespace_id"])


def test_delete_user_refusals(depot, world):
    u = new_user(depot, world, "keep")
    before = rows(depot)
    for h in not_persons(world):
        r = requests.delete(depot.api(f"/users/{u['id']}"), headers=h)
        assert (r.status_code, r.json()) == (401, UNAUTHORIZED)
    for user in ["dev", "owner"]:
        r = requests.delete(depot.api(f"/users/{u['id']}"), headers=hdr(world, user))
        assert (r.status_code, r.json()) == (403, FORBIDDEN)
    r = requests.delete(depot.api("/users/99999999"), headers=hdr(world, "admin"))
    assert (r.status_code, r.json()) == (404, USER_NOT_FOUND)
    r = requests.delete(depot.api(f"/users/{u['username']}"), headers=hdr(world, "admin"))
    assert (r.status_code, r.json()) == (404, NO_ROUTE)
    r = requests.delete(depot.api(f"/users/{u['id']}"), headers=hdr(world, "admin"),
                        params={"hard_delete": "perhaps"})
    assert (r.status_code, r.json()) == (400, {"error": "hard_delete is invalid"})
    r = requests.delete(depot.api(f"/users/{u['id']}"), headers={
        **hdr(world, "admin"), "If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert (r.status_code, r.json()) == (412, {"message": "412 Precondition Failed"})
    assert rows(depot) == before


# ---- namespaces ----

def ns_paths(depot, world, user, **params):
    r = requests.get(depot.api("/namespaces"), headers=hdr(world, user),
                     params={"per_page": 100, **params})
    assert r.status_code == 200, r.text
    return [(n["full_path"], n["kind"]) for n in r.json()]


def test_namespaces_list(depot, world):
    # their own, and groups they belong to directly or through an ancestor; by id
    assert ns_paths(depot, world, "dev") == [("dev", "user"), ("acme", "group"),
                                             ("acme/sub", "group")]
    assert ns_paths(depot, world, "outsider") == [("outsider", "user")]
    assert ns_paths(depot, world, "owner", owned_only="true") == [
        ("owner", "user"), ("acme", "group"), ("acme/sub", "group")]
    assert ns_paths(depot, world, "dev", owned_only="true") == [("dev", "user")]
    assert ns_paths(depot, world, "dev", top_level_only="true") == [("dev", "user"),
                                                                    ("acme", "group")]
    assert ns_paths(depot, world, "dev", search="SU") == [("acme/sub", "group")]
    # administrators: every namespace but those pending deletion
    every = [(p, "user" if o else "group") for p, o in depot.query(
        "SELECT path, owner_id FROM groups WHERE pending_delete = 0 ORDER BY id")]
    assert ns_paths(depot, world, "admin") == every
    assert ns_paths(depot, world, "admin", owned_only="true") == [("admin", "user")]


def test_namespace_entities(depot, world):
    r = requests.get(depot.api("/namespaces"), headers=hdr(world, "dev"))
    dev, acme, sub = r.json()
    assert set(acme) == NS_KEYS
    gid = depot.query("SELECT id FROM groups WHERE path = 'acme'")[0][0]
    assert acme == {"id": gid, "name": "acme", "path": "acme", "kind": "group",
                    "full_path": "acme", "parent_id": None, "avatar_url": None,
                    "web_url": depot.url + "/groups/acme"}
    assert (sub["path"], sub["full_path"], sub["parent_id"], sub["web_url"]) == (
        "sub", "acme/sub", gid, depot.url + "/groups/acme/sub")
    assert (dev["kind"], dev["path"], dev["web_url"]) == ("user", "dev", depot.url + "/dev")


def test_namespaces_pagination_and_refusals(depot, world):
    r = requests.get(depot.api("/namespaces"), headers=hdr(world, "dev"),
                     params={"per_page": 1, "page": 2})
    h = r.headers
    assert [n["full_path"] for n in r.json()] == ["acme"]
    assert (h["X-Total"], h["X-Total-Pages"], h["X-Page"], h["X-Prev-Page"], h["X-Next-Page"]) == (
        "3", "3", "2", "1", "3")
    for h in not_persons(world):
        r = requests.get(depot.api("/namespaces"), headers=h)
        assert (r.status_code, r.json()) == (401, UNAUTHORIZED)
    r = requests.get(depot.api("/namespaces"), headers=hdr(world, "dev"),
                     params={"owned_only": "sure"})
    assert (r.status_code, r.json()) == (400, {"error": "owned_only is invalid"})


def test_namespace_get(depot, world):
    def get(user, ref):
        return requests.get(depot.api(f"/namespaces/{ref}"), headers=hdr(world, user))

    dev_ns = depot.query("SELECT id FROM groups WHERE path = 'dev'")[0][0]
    for ref in [dev_ns, "dev", "DEV"]:
        r = get("dev", ref)
        assert r.status_code == 200 and (r.json()["id"], r.json()["kind"]) == (dev_ns, "user")
    r = get("guest", "acme%2Fsub")
    assert r.status_code == 200 and r.json()["full_path"] == "acme/sub"
    # not through a membership: someone else's namespace, a public group, nothing at all
    for user, ref in [("outsider", "dev"), ("outsider", "acme"), ("dev", "pub"),
                      ("dev", "99999999"), ("dev", "nope"), ("dev", "acme%2Fnope")]:
        r = get(user, ref)
        assert (r.status_code, r.json()) == (404, NS_NOT_FOUND), (user, ref)
    for ref in ["dev", "pub", "acme%2Fsub"]:
        assert get("admin", ref).status_code == 200
    for h in not_persons(world):
        r = requests.get(depot.api("/namespaces/dev"), headers=h)
        assert (r.status_code, r.json()) == (401, UNAUTHORIZED)


def test_namespace_exists(depot, world):
    def exists(ref, user="outsider", **params):
        r = requests.get(depot.api(f"/namespaces/{ref}/exists"), headers=hdr(world, user),
                         params=params)
        return r.status_code, r.json()

    assert exists("acme") == (200, {"exists": True, "suggests": ["acme1"]})
    assert exists("DEV") == (200, {"exists": True, "suggests": ["DEV1"]})
    assert exists("free-" + unique()) == (200, {"exists": False, "suggests": []})
    acme = depot.query("SELECT id FROM groups WHERE path = 'acme'")[0][0]
    assert exists("sub", parent_id=acme) == (200, {"exists": True, "suggests": ["sub1"]})
    assert exists("acme", parent_id=acme) == (200, {"exists": False, "suggests": []})
    assert exists("sub") == (200, {"exists": False, "suggests": []})  # not at the top level
    assert exists("sub", parent_id=99999999) == (200, {"exists": False, "suggests": []})
    depot.cli("group", "create", "taken1")
    depot.cli("group", "create", "taken")
    assert exists("taken") == (200, {"exists": True, "suggests": ["taken2"]})
    assert exists("acme", parent_id="x") == (400, {"error": "parent_id is invalid"})
    for h in not_persons(world):
        r = requests.get(depot.api("/namespaces/acme/exists"), headers=h)
        assert (r.status_code, r.json()) == (401, UNAUTHORIZED)


# ---- the command line ----

def test_cli_user_list(depot, world):
    out = depot.cli("user", "list").stdout.splitlines()
    assert out[0] == "id\tusername\tname\tadmin\tbot\tcreated"
    db = depot.query("SELECT id, username, name, is_admin, bot FROM users ORDER BY id")
    lines = [line.split("\t") for line in out[1:]]
    assert [(int(i), u, n, a, b) for i, u, n, a, b, _ in lines] == [
        (i, u, n, "admin" if a else "-", "bot" if b else "-") for i, u, n, a, b in db]
    assert all(TIME.fullmatch(line[5]) for line in lines)
    listed = json.loads(depot.cli("user", "list", "--json").stdout)
    assert [(u["id"], u["username"], u["name"], u["admin"], u["bot"]) for u in listed] == [
        (i, u, n, bool(a), bool(b)) for i, u, n, a, b in db]
    assert set(listed[0]) == {"id", "username", "name", "admin", "bot", "created_at"}
    r = depot.cli("user", "list", "--frobnicate", check=False)
    assert r.returncode == 2 and r.stdout == ""
