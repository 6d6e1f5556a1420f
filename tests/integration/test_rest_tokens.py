"""GitLab's token resources over REST (gitlab-rest.md sections 7-9, the tokens rows of the
REST contract): personal, project access and deploy tokens, and depot's job tokens for CI
systems other than GitLab. Shapes, secrets only in creation and rotation answers (never in
the server log), rotation, revocation, permissions, GitLab's bodies for bad input with no
row changed, and each new token used to upload and download a generic package."""
import datetime
import json
import re
import time

import requests

from conftest import generic_path, unique

from conftest import skip_in_nodes as _skip_in_nodes, skip_in_s3 as _skip_in_s3

# GitLab's REST resources live in the metadata store only: the SQLite and PostgreSQL passes
# cover them; the S3 and nodes passes change where contents live.
pytestmark = [_skip_in_s3, _skip_in_nodes]
PAT_KEYS = {"id", "name", "revoked", "created_at", "description", "scopes", "user_id",
            "last_used_at", "active", "expires_at", "expired"}
PROJECT_TOKEN_KEYS = PAT_KEYS | {"access_level", "resource_type", "resource_id"}
DEPLOY_KEYS = {"id", "name", "username", "expires_at", "scopes", "revoked", "expired"}
SECRETS = []  # every secret an answer showed; none may reach the server log


def h(token):
    return {"PRIVATE-TOKEN": token}


def call(depot, method, path, token=None, headers=None, **kw):
    hd = dict(headers or {})
    if token:
        hd["PRIVATE-TOKEN"] = token
    r = requests.request(method, depot.api(path), headers=hd, timeout=30, **kw)
    if r.headers.get("Content-Type", "").startswith("application/json") and r.content:
        body = r.json()
        if isinstance(body, dict) and "token" in body:
            SECRETS.append(body["token"])
    return r


def token_rows(depot):
    return depot.query("SELECT id, kind, revoked, expires_at, name FROM tokens ORDER BY id")


def round_trip(depot, pid, headers, status_up=201, status_down=200):
    """Uploads a generic package file with headers, then downloads it with them."""
    name, body = unique(), b"payload " + unique().encode()
    up = requests.put(depot.api(generic_path(pid, name, "1.0.0", "f.bin")), data=body,
                      headers=headers, timeout=30)
    assert up.status_code == status_up, up.text
    if status_up != 201:
        return name
    down = requests.get(depot.api(generic_path(pid, name, "1.0.0", "f.bin")), headers=headers,
                        timeout=30)
    assert down.status_code == status_down, down.text
    if status_down == 200:
        assert down.content == body
    return name


def uid(depot, username):
    return depot.query("SELECT id FROM users WHERE username = ?", username)[0][0]


def today_plus(days):
    return (datetime.datetime.now(datetime.timezone.utc).date() +
            datetime.timedelta(days=days)).isoformat()


def admin_pat(depot, world, user, **body):
    body = {"name": "t", "scopes": ["api"], **body}
    r = call(depot, "POST", f"/users/{uid(depot, user)}/personal_access_tokens",
             world.pat["admin"], json=body)
    assert r.status_code == 201, r.text
    return r.json()


# ---- personal access tokens

def test_admin_creates_a_personal_token_for_a_user(depot, world):
    dev = uid(depot, "dev")
    r = call(depot, "POST", f"/users/{dev}/personal_access_tokens", world.pat["admin"],
             json={"name": "ci", "scopes": ["api", "read_api"], "expires_at": "2099-01-31",
                   "description": "for CI"})
    assert r.status_code == 201, r.text
    t = r.json()
    assert set(t) == PAT_KEYS | {"token"}
    assert t["token"].startswith("glpat-")
    assert (t["name"], t["description"], t["scopes"], t["user_id"], t["expires_at"]) == \
        ("ci", "for CI", ["api", "read_api"], dev, "2099-01-31")
    assert (t["revoked"], t["active"], t["expired"], t["last_used_at"]) == (False, True, False, None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t["created_at"])
    # the row keeps the hash only
    (stored,), = depot.query("SELECT token_sha256 FROM tokens WHERE id = ?", t["id"])
    assert t["token"] not in stored
    round_trip(depot, world.pid("acme/app"), h(t["token"]))
    # read back: no secret
    got = call(depot, "GET", f"/personal_access_tokens/{t['id']}", t["token"])
    assert got.status_code == 200 and "token" not in got.json()
    assert got.json()["id"] == t["id"]


def test_personal_token_defaults_and_comma_scopes(depot, world):
    t = admin_pat(depot, world, "reporter", scopes="read_api,read_user")
    assert t["scopes"] == ["read_api", "read_user"]
    assert t["expires_at"] == today_plus(365)  # GitLab's maximum lifetime
    assert t["description"] is None


def test_creating_a_personal_token_refuses_bad_input_and_changes_nothing(depot, world):
    before = token_rows(depot)
    dev = uid(depot, "dev")
    path = f"/users/{dev}/personal_access_tokens"
    body = {"name": "x", "scopes": ["api"]}
    cases = [
        (None, body, 401, {"message": "401 Unauthorized"}),
        (world.pat["maint"], body, 403, {"message": "403 Forbidden"}),
        (world.pat["admin"], {}, 400, {"error": "name is missing, scopes is missing"}),
        (world.pat["admin"], {"name": "x"}, 400, {"error": "scopes is missing"}),
        (world.pat["admin"], {"name": "x", "scopes": ["sudo"]}, 400,
         {"error": "scopes does not have a valid value"}),
        (world.pat["admin"], {"name": "x", "scopes": ["read_package_registry"]}, 400,
         {"error": "scopes does not have a valid value"}),
        (world.pat["admin"], {"name": "x", "scopes": "api,nope"}, 400,
         {"error": "scopes does not have a valid value"}),
        (world.pat["admin"], {"name": "x", "scopes": [1]}, 400, {"error": "scopes is invalid"}),
        (world.pat["admin"], {**body, "expires_at": "soon"}, 400,
         {"error": "expires_at is invalid"}),
        (world.pat["admin"], {**body, "name": ["x"]}, 400, {"error": "name is invalid"}),
        (world.pat["admin"], {**body, "name": "n" * 256}, 422,
         {"message": "Name is too long (maximum is 255 characters)"}),
        (world.pat["admin"], {"name": "x", "scopes": []}, 422,
         {"message": "Scopes can't be blank"}),
    ]
    for token, b, status, answer in cases:
        r = call(depot, "POST", path, token, json=b)
        assert (r.status_code, r.json()) == (status, answer), (b, r.text)
    r = call(depot, "POST", "/users/999999/personal_access_tokens", world.pat["admin"], json=body)
    assert (r.status_code, r.json()) == (404, {"message": "404 User Not Found"})
    r = call(depot, "POST", "/users/abc/personal_access_tokens", world.pat["admin"], json=body)
    assert (r.status_code, r.json()) == (400, {"error": "user_id is invalid"})
    # job and deploy tokens are anonymous on REST routes
    r = call(depot, "POST", path, headers={"JOB-TOKEN": world.job_dev}, json=body)
    assert (r.status_code, r.json()) == (401, {"message": "401 Unauthorized"})
    assert token_rows(depot) == before


def test_listing_personal_tokens(depot, world):
    owner = uid(depot, "owner")
    a = admin_pat(depot, world, "owner", name="Alpha-build")
    b = admin_pat(depot, world, "owner", name="beta")
    call(depot, "DELETE", f"/personal_access_tokens/{b['id']}", world.pat["admin"])
    r = call(depot, "GET", "/personal_access_tokens", world.pat["owner"])
    assert r.status_code == 200
    mine = r.json()
    assert mine and all(t["user_id"] == owner for t in mine)
    assert {a["id"], b["id"]} <= {t["id"] for t in mine}
    assert all(set(t) == PAT_KEYS for t in mine)
    assert r.headers["X-Total"] == str(len(mine)) and r.headers["X-Page"] == "1"
    # filters
    got = call(depot, "GET", "/personal_access_tokens?search=alpha", world.pat["owner"]).json()
    assert [t["id"] for t in got] == [a["id"]]
    got = call(depot, "GET", "/personal_access_tokens?revoked=true", world.pat["owner"]).json()
    assert [t["id"] for t in got] == [b["id"]]
    got = call(depot, "GET", "/personal_access_tokens?state=inactive", world.pat["owner"]).json()
    assert [t["id"] for t in got] == [b["id"]]
    got = call(depot, "GET", "/personal_access_tokens?state=active", world.pat["owner"]).json()
    assert b["id"] not in [t["id"] for t in got] and a["id"] in [t["id"] for t in got]
    r = call(depot, "GET", "/personal_access_tokens?per_page=1&page=2", world.pat["owner"])
    assert len(r.json()) == 1 and r.headers["X-Total"] == str(len(mine))
    # admins see everyone's, or one user's
    every = call(depot, "GET", "/personal_access_tokens?per_page=100", world.pat["admin"]).json()
    assert len({t["user_id"] for t in every}) > 1
    got = call(depot, "GET", f"/personal_access_tokens?user_id={owner}&per_page=100",
               world.pat["admin"]).json()
    assert {t["id"] for t in got} == {t["id"] for t in mine}
    # someone else's: 401 for non-admins; an unknown user: 404 for admins
    r = call(depot, "GET", f"/personal_access_tokens?user_id={owner}", world.pat["dev"])
    assert (r.status_code, r.json()) == (401, {"message": "401 Unauthorized"})
    r = call(depot, "GET", "/personal_access_tokens?user_id=999999", world.pat["admin"])
    assert (r.status_code, r.json()) == (404, {"message": "404 Not Found"})
    r = call(depot, "GET", "/personal_access_tokens?state=bogus", world.pat["owner"])
    assert (r.status_code, r.json()) == (400, {"error": "state does not have a valid value"})
    r = call(depot, "GET", "/personal_access_tokens?revoked=maybe", world.pat["owner"])
    assert (r.status_code, r.json()) == (400, {"error": "revoked is invalid"})
    r = call(depot, "GET", "/personal_access_tokens")
    assert (r.status_code, r.json()) == (401, {"message": "401 Unauthorized"})


def test_one_personal_token_by_id(depot, world):
    t = admin_pat(depot, world, "guest")
    r = call(depot, "GET", f"/personal_access_tokens/{t['id']}", world.pat["admin"])
    assert r.status_code == 200 and set(r.json()) == PAT_KEYS
    r = call(depot, "GET", f"/personal_access_tokens/{t['id']}", world.pat["dev"])
    assert (r.status_code, r.json()) == (401, {"message": "401 Unauthorized"})
    r = call(depot, "GET", "/personal_access_tokens/999999", world.pat["dev"])
    assert (r.status_code, r.json()) == (401, {"message": "401 Unauthorized"})
    r = call(depot, "GET", "/personal_access_tokens/999999", world.pat["admin"])
    assert (r.status_code, r.json()) == (404, {"message": "404 Not Found"})
    # a deploy token's id is no personal access token
    r = call(depot, "GET", f"/personal_access_tokens/{world.deploy_rw['id']}", world.pat["admin"])
    assert r.status_code == 404


def test_personal_token_self(depot, world):
    t = admin_pat(depot, world, "dev", scopes=["read_repository"])
    # any scope may read itself
    r = call(depot, "GET", "/personal_access_tokens/self", t["token"])
    assert r.status_code == 200 and r.json()["id"] == t["id"] and "token" not in r.json()
    # but nothing else
    r = call(depot, "GET", "/personal_access_tokens", t["token"])
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
    r = call(depot, "GET", "/personal_access_tokens/self")
    assert (r.status_code, r.json()) == (401, {"message": "401 Unauthorized"})
    r = call(depot, "GET", "/personal_access_tokens/self", headers={"JOB-TOKEN": world.job_dev})
    assert r.status_code == 401
    r = call(depot, "DELETE", "/personal_access_tokens/self", t["token"])
    assert r.status_code == 204 and r.content == b""
    assert depot.query("SELECT revoked FROM tokens WHERE id = ?", t["id"]) == [(1,)]
    r = call(depot, "GET", "/personal_access_tokens/self", t["token"])
    assert r.status_code == 401


def test_rotating_itself(depot, world):
    t = admin_pat(depot, world, "dev", scopes=["self_rotate"])
    pid = world.pid("acme/app")
    r = call(depot, "POST", "/personal_access_tokens/self/rotate", t["token"],
             json={"expires_at": "2099-02-01"})
    assert r.status_code == 200, r.text
    new = r.json()
    assert set(new) == PAT_KEYS | {"token"}
    assert new["id"] != t["id"] and new["token"] != t["token"]
    assert (new["name"], new["scopes"], new["expires_at"]) == ("t", ["self_rotate"], "2099-02-01")
    assert depot.query("SELECT previous_id FROM tokens WHERE id = ?", new["id"]) == [(t["id"],)]
    # the old one is revoked at once; self_rotate alone cannot use the package API
    r = call(depot, "GET", "/personal_access_tokens/self", t["token"])
    assert r.status_code == 401
    round_trip(depot, pid, h(new["token"]), status_up=403)
    # with api scope the rotated token works for packages
    t2 = admin_pat(depot, world, "dev")
    r = call(depot, "POST", "/personal_access_tokens/self/rotate", t2["token"])
    assert r.status_code == 200 and r.json()["expires_at"] == today_plus(7)
    round_trip(depot, pid, h(r.json()["token"]))
    round_trip(depot, pid, h(t2["token"]), status_up=401)
    # read_api may not rotate itself
    t3 = admin_pat(depot, world, "dev", scopes=["read_api"])
    r = call(depot, "POST", "/personal_access_tokens/self/rotate", t3["token"])
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"


def test_rotating_by_id(depot, world):
    t = admin_pat(depot, world, "maint", description="kept")
    pid = world.pid("acme/app")
    before = token_rows(depot)
    r = call(depot, "POST", f"/personal_access_tokens/{t['id']}/rotate", world.pat["dev"])
    assert (r.status_code, r.json()) == (401, {"message": "401 Unauthorized"})
    r = call(depot, "POST", f"/personal_access_tokens/{t['id']}/rotate", t["token"],
             json={"expires_at": "never"})
    assert (r.status_code, r.json()) == (400, {"error": "expires_at is invalid"})
    r = call(depot, "POST", "/personal_access_tokens/999999/rotate", world.pat["admin"])
    assert (r.status_code, r.json()) == (404, {"message": "404 Not Found"})
    assert token_rows(depot) == before
    r = call(depot, "POST", f"/personal_access_tokens/{t['id']}/rotate", world.pat["admin"],
             json={"expires_at": "2099-03-01"})
    assert r.status_code == 200, r.text
    new = r.json()
    assert (new["description"], new["expires_at"], new["user_id"]) == \
        ("kept", "2099-03-01", uid(depot, "maint"))
    round_trip(depot, pid, h(t["token"]), status_up=401)
    round_trip(depot, pid, h(new["token"]))
    # a revoked token cannot be rotated again
    before = token_rows(depot)
    r = call(depot, "POST", f"/personal_access_tokens/{t['id']}/rotate", world.pat["admin"])
    assert (r.status_code, r.json()) == (400, {"message": "400 Bad request - Token already revoked"})
    assert token_rows(depot) == before


def test_revoking_by_id(depot, world):
    t = admin_pat(depot, world, "reporter")
    pid = world.pid("acme/app")
    round_trip(depot, pid, {"PRIVATE-TOKEN": t["token"]}, status_up=403)  # a reporter
    r = call(depot, "DELETE", f"/personal_access_tokens/{t['id']}", world.pat["dev"])
    assert (r.status_code, r.json()) == (400, {"message": "400 Bad request"})
    r = call(depot, "DELETE", "/personal_access_tokens/999999", world.pat["dev"])
    assert (r.status_code, r.json()) == (404, {"message": "404 Not found"})
    r = call(depot, "DELETE", "/personal_access_tokens/x", world.pat["dev"])
    assert (r.status_code, r.json()) == (400, {"error": "id is invalid"})
    assert depot.query("SELECT revoked FROM tokens WHERE id = ?", t["id"]) == [(0,)]
    r = call(depot, "DELETE", f"/personal_access_tokens/{t['id']}", t["token"])
    assert r.status_code == 204
    # at once, on every route
    down = requests.get(depot.api(f"/projects/{pid}/packages"), headers=h(t["token"]), timeout=30)
    assert down.status_code == 401
    assert call(depot, "GET", "/personal_access_tokens", t["token"]).status_code == 401
    assert requests.get(depot.api("/user"), headers=h(t["token"]), timeout=30).status_code == 401


# ---- project access tokens

def test_project_access_token_life(depot, world):
    pid = world.pid("acme/app")
    path = f"/projects/{pid}/access_tokens"
    r = call(depot, "POST", path, world.pat["maint"],
             json={"name": "deployer", "scopes": ["api"], "expires_at": "2099-04-01"})
    assert r.status_code == 201, r.text
    t = r.json()
    assert set(t) == PROJECT_TOKEN_KEYS | {"token"}
    assert (t["access_level"], t["resource_type"], t["resource_id"], t["expires_at"]) == \
        (40, "project", pid, "2099-04-01")
    (username, name, bot, email), = depot.query(
        "SELECT username, name, bot, email FROM users WHERE id = ?", t["user_id"])
    assert re.fullmatch(rf"project_{pid}_bot_[0-9a-f]{{32}}", username)
    assert (name, bot) == ("deployer", 1) and email.startswith(username + "@noreply.")
    assert depot.query("SELECT access_level FROM members WHERE user_id = ? AND project_id = ?",
                       t["user_id"], pid) == [(40,)]
    me = requests.get(depot.api("/user"), headers=h(t["token"]), timeout=30).json()
    assert me["username"] == username
    round_trip(depot, pid, h(t["token"]))
    # read back
    got = call(depot, "GET", f"{path}/{t['id']}", world.pat["maint"])
    assert got.status_code == 200 and set(got.json()) == PROJECT_TOKEN_KEYS
    listed = call(depot, "GET", path, world.pat["owner"])
    assert t["id"] in [x["id"] for x in listed.json()] and "X-Total" in listed.headers
    assert all(x["resource_id"] == pid for x in listed.json())
    # rotate: a new id and secret, same bot and level, the old one dead at once
    r = call(depot, "POST", f"{path}/{t['id']}/rotate", world.pat["maint"])
    assert r.status_code == 200, r.text
    new = r.json()
    assert (new["user_id"], new["access_level"], new["expires_at"]) == \
        (t["user_id"], 40, today_plus(7))
    assert new["id"] != t["id"]
    round_trip(depot, pid, h(t["token"]), status_up=401)
    round_trip(depot, pid, h(new["token"]))
    r = call(depot, "POST", f"{path}/{t['id']}/rotate", world.pat["maint"])
    assert (r.status_code, r.json()) == (400, {"message": "400 Bad request - Token already revoked"})
    # the token rotates itself
    r = call(depot, "POST", f"{path}/self/rotate", new["token"])
    assert r.status_code == 200, r.text
    newer = r.json()
    assert depot.query("SELECT previous_id FROM tokens WHERE id = ?", newer["id"]) == [(new["id"],)]
    other = world.pid("acme/other")
    r = call(depot, "POST", f"/projects/{other}/access_tokens/self/rotate", newer["token"])
    assert r.status_code == 404  # the bot cannot see another private project
    r = call(depot, "POST", f"{path}/self/rotate", world.pat["maint"])
    assert (r.status_code, r.json()) == (405, {"message": "405 Method Not Allowed"})
    # revoke: a developer may not, a maintainer may; the bot and its membership stay
    r = call(depot, "DELETE", f"{path}/{newer['id']}", world.pat["dev"])
    assert (r.status_code, r.json()) == (400, {"message": "400 Bad request - dev cannot delete deployer"})
    r = call(depot, "DELETE", f"{path}/{newer['id']}", world.pat["maint"])
    assert r.status_code == 204
    round_trip(depot, pid, h(newer["token"]), status_up=401)
    assert depot.query("SELECT access_level FROM members WHERE user_id = ? AND project_id = ?",
                       t["user_id"], pid) == [(40,)]
    got = call(depot, "GET", f"{path}/{newer['id']}", world.pat["maint"]).json()
    assert (got["revoked"], got["active"]) == (True, False)


def test_project_access_token_permissions_and_bad_input(depot, world):
    pid = world.pid("acme/app")
    path = f"/projects/{pid}/access_tokens"
    body = {"name": "x", "scopes": ["api"]}
    users_before = depot.query("SELECT COUNT(*) FROM users")
    members_before = depot.query("SELECT COUNT(*) FROM members")
    before = token_rows(depot)
    cases = [
        (None, "POST", path, body, 401, {"message": "401 Unauthorized"}),
        (None, "GET", path, None, 401, {"message": "401 Unauthorized"}),
        (world.pat["dev"], "GET", path, None, 401, {"message": "401 Unauthorized"}),
        (world.pat["dev"], "GET", f"{path}/1", None, 401, {"message": "401 Unauthorized"}),
        (world.pat["dev"], "POST", f"{path}/1/rotate", None, 401, {"message": "401 Unauthorized"}),
        (world.pat["outsider"], "GET", path, None, 404, {"message": "404 Project Not Found"}),
        (world.pat["dev"], "POST", path, body, 400,
         {"message": "400 Bad request - User does not have permission to create project access token"}),
        (world.pat["maint"], "POST", path, {**body, "access_level": 50}, 400,
         {"message": "400 Bad request - Could not provision owner access to project access token"}),
        (world.pat["maint"], "POST", path, {**body, "access_level": 35}, 400,
         {"error": "access_level does not have a valid value"}),
        (world.pat["maint"], "POST", path, {**body, "access_level": "high"}, 400,
         {"error": "access_level is invalid"}),
        (world.pat["maint"], "POST", path, {"name": "x"}, 400, {"error": "scopes is missing"}),
        (world.pat["maint"], "POST", path, {"name": "x", "scopes": ["read_user"]}, 400,
         {"error": "scopes does not have a valid value"}),
        (world.pat["maint"], "POST", path, {"name": "x", "scopes": []}, 400,
         {"message": "400 Bad request - Scopes can't be blank"}),
        (world.pat["maint"], "GET", f"{path}/999999", None, 404,
         {"message": "404 project Access Token Not Found"}),
        (world.pat["maint"], "GET", f"{path}/{world.deploy_rw['id']}", None, 404,
         {"message": "404 project Access Token Not Found"}),
        (world.pat["maint"], "DELETE", f"{path}/999999", None, 404,
         {"message": "404 project Access Token Not Found"}),
        (world.pat["maint"], "POST", f"{path}/999999/rotate", None, 401,
         {"message": "401 Unauthorized"}),
        (world.pat["admin"], "POST", f"{path}/999999/rotate", None, 404,
         {"message": "404 Not Found"}),
        (world.pat["maint"], "GET", "/projects/999999/access_tokens", None, 404,
         {"message": "404 Project Not Found"}),
    ]
    for token, method, p, b, status, answer in cases:
        r = call(depot, method, p, token, json=b)
        assert (r.status_code, r.json()) == (status, answer), (token, method, p, b, r.text)
    # a developer-level project token cannot make a maintainer-level one
    r = call(depot, "POST", path, world.project_token["token"], json={**body, "access_level": 40})
    assert r.status_code == 400 and r.json()["message"].startswith(
        "400 Bad request - User does not have permission")
    assert token_rows(depot) == before
    assert depot.query("SELECT COUNT(*) FROM users") == users_before
    assert depot.query("SELECT COUNT(*) FROM members") == members_before
    # an owner may give owner
    r = call(depot, "POST", path, world.pat["owner"], json={**body, "access_level": 50})
    assert r.status_code == 201 and r.json()["access_level"] == 50
    # and a maintainer may not rotate it
    r2 = call(depot, "POST", f"{path}/{r.json()['id']}/rotate", world.pat["maint"])
    assert (r2.status_code, r2.json()) == (400, {"message": "400 Bad request - Not eligible to "
                                                 "rotate token with access level higher than the user"})


# ---- deploy tokens

def test_project_deploy_token_life(depot, world):
    pid = world.pid("acme/app")
    path = f"/projects/{pid}/deploy_tokens"
    r = call(depot, "POST", path, world.pat["maint"],
             json={"name": "customer", "expires_at": "2099-01-01",
                   "scopes": ["write_package_registry", "read_repository", "read_package_registry"]})
    assert r.status_code == 201, r.text
    t = r.json()
    assert set(t) == DEPLOY_KEYS | {"token"}
    assert t["token"].startswith("gldt-")
    assert t["username"] == f"gitlab+deploy-token-{t['id']}"
    assert t["expires_at"] == "2099-01-01T00:00:00.000Z"
    assert t["scopes"] == ["read_repository", "read_package_registry", "write_package_registry"]
    assert (t["revoked"], t["expired"]) == (False, False)
    round_trip(depot, pid, {"Deploy-Token": t["token"]})
    # listings and reads never show the secret
    listed = call(depot, "GET", path, world.pat["maint"])
    assert listed.status_code == 200 and "X-Total" in listed.headers
    mine = [x for x in listed.json() if x["id"] == t["id"]]
    assert mine == [{k: v for k, v in t.items() if k != "token"}]
    got = call(depot, "GET", f"{path}/{t['id']}", world.pat["maint"]).json()
    assert "token" not in got and got["id"] == t["id"]
    every = call(depot, "GET", "/deploy_tokens?per_page=100", world.pat["admin"]).json()
    assert t["id"] in [x["id"] for x in every] and all("token" not in x for x in every)
    # a custom username, and no expiry
    r = call(depot, "POST", path, world.pat["maint"],
             data={"name": "named", "scopes[]": "read_package_registry",
                   "username": "Customer.one+ci_x-1"})
    assert r.status_code == 201, r.text
    named = r.json()
    assert (named["username"], named["expires_at"]) == ("Customer.one+ci_x-1", None)
    # delete: the row goes and the token stops working at once
    r = call(depot, "DELETE", f"{path}/{t['id']}", world.pat["maint"])
    assert r.status_code == 204
    assert depot.query("SELECT COUNT(*) FROM tokens WHERE id = ?", t["id"]) == [(0,)]
    round_trip(depot, pid, {"Deploy-Token": t["token"]}, status_up=401)
    r = call(depot, "GET", f"{path}/{t['id']}", world.pat["maint"])
    assert (r.status_code, r.json()) == (404, {"message": "404 Not found"})


def test_deploy_token_permissions_and_bad_input(depot, world):
    pid, pub = world.pid("acme/app"), world.pid("pub/open")
    path = f"/projects/{pid}/deploy_tokens"
    body = {"name": "x", "scopes": ["read_package_registry"]}
    before = token_rows(depot)
    cases = [
        (None, "GET", f"/projects/{pub}/deploy_tokens", None, 403, {"message": "403 Forbidden"}),
        (None, "GET", path, None, 404, {"message": "404 Project Not Found"}),
        (None, "POST", path, body, 401, {"message": "401 Unauthorized"}),
        (world.pat["dev"], "GET", path, None, 403, {"message": "403 Forbidden"}),
        (world.pat["dev"], "POST", path, body, 403, {"message": "403 Forbidden"}),
        (world.pat["outsider"], "GET", path, None, 404, {"message": "404 Project Not Found"}),
        (world.pat["maint"], "POST", path, {}, 400, {"error": "name is missing, scopes is missing"}),
        (world.pat["maint"], "POST", path, {"name": "x", "scopes": ["api"]}, 400,
         {"error": "scopes does not have a valid value"}),
        (world.pat["maint"], "POST", path, {**body, "expires_at": "2099-13-45"}, 400,
         {"error": "expires_at is invalid"}),
        (world.pat["maint"], "POST", path, {**body, "username": "no spaces"}, 400,
         {"message": "Username can contain only letters, digits, '_', '-', '+', and '.'"}),
        (world.pat["maint"], "POST", path, {**body, "username": "u" * 256}, 400,
         {"message": "Username can contain only letters, digits, '_', '-', '+', and '.'"}),
        (world.pat["maint"], "POST", path, {"name": "x", "scopes": []}, 400,
         {"message": "Scopes can't be blank"}),
        (world.pat["maint"], "GET", f"{path}/abc", None, 400, {"error": "token_id is invalid"}),
        (world.pat["maint"], "GET", f"{path}/999999", None, 404, {"message": "404 Not found"}),
        (world.pat["maint"], "DELETE", f"{path}/999999", None, 404, {"message": "404 Not found"}),
        # a token of another project is not found here
        (world.pat["admin"], "GET", f"/projects/{pub}/deploy_tokens/{world.deploy_rw['id']}", None,
         404, {"message": "404 Not found"}),
        (world.pat["dev"], "GET", "/deploy_tokens", None, 403, {"message": "403 Forbidden"}),
        (None, "GET", "/deploy_tokens", None, 401, {"message": "401 Unauthorized"}),
        (world.pat["maint"], "POST", "/groups/acme/deploy_tokens", body, 403,
         {"message": "403 Forbidden"}),
        (world.pat["dev"], "GET", "/groups/acme/deploy_tokens", None, 403,
         {"message": "403 Forbidden"}),
        (world.pat["owner"], "GET", "/groups/owner/deploy_tokens", None, 404,
         {"message": "404 Group Not Found"}),
    ]
    for token, method, p, b, status, answer in cases:
        r = call(depot, method, p, token, json=b)
        assert (r.status_code, r.json()) == (status, answer), (token, method, p, b, r.text)
    # deploy tokens get none of these endpoints
    r = call(depot, "GET", path, headers={"DEPLOY-TOKEN": world.deploy_rw["token"]})
    assert (r.status_code, r.json()) == (404, {"message": "404 Project Not Found"})
    assert token_rows(depot) == before


def test_group_deploy_tokens(depot, world):
    r = call(depot, "POST", "/groups/acme/deploy_tokens", world.pat["owner"],
             json={"name": "group-wide", "scopes": "read_package_registry,write_package_registry"})
    assert r.status_code == 201, r.text
    t = r.json()
    sub_lib = world.pid("acme/sub/lib")
    round_trip(depot, sub_lib, {"Deploy-Token": t["token"]})
    listed = call(depot, "GET", "/groups/acme/deploy_tokens", world.pat["maint"]).json()
    assert t["id"] in [x["id"] for x in listed]
    got = call(depot, "GET", f"/groups/acme/deploy_tokens/{t['id']}", world.pat["maint"])
    assert got.status_code == 200 and "token" not in got.json()
    r = call(depot, "DELETE", f"/groups/acme/deploy_tokens/{t['id']}", world.pat["maint"])
    assert (r.status_code, r.json()) == (403, {"message": "403 Forbidden"})
    active = call(depot, "GET", "/deploy_tokens?active=true&per_page=100", world.pat["admin"]).json()
    assert t["id"] in [x["id"] for x in active]
    r = call(depot, "DELETE", f"/groups/acme/deploy_tokens/{t['id']}", world.pat["owner"])
    assert r.status_code == 204
    round_trip(depot, sub_lib, {"Deploy-Token": t["token"]}, status_up=401)


# ---- job tokens (depot's extension)

def test_job_tokens(depot, world):
    pid, other = world.pid("acme/app"), world.pid("acme/other")
    before = token_rows(depot)
    for token, b, status, answer in [
        (None, {}, 401, {"message": "401 Unauthorized"}),
        (world.pat["dev"], {}, 403, {"message": "403 Forbidden"}),
        (world.pat["outsider"], {}, 404, {"message": "404 Project Not Found"}),
        (world.pat["maint"], {"ttl": 0}, 400, {"error": "ttl does not have a valid value"}),
        (world.pat["maint"], {"ttl": 86401}, 400, {"error": "ttl does not have a valid value"}),
        (world.pat["maint"], {"ttl": "soon"}, 400, {"error": "ttl is invalid"}),
    ]:
        r = call(depot, "POST", f"/projects/{pid}/job_tokens", token, json=b)
        assert (r.status_code, r.json()) == (status, answer), (token, b, r.text)
    r = call(depot, "POST", f"/projects/{pid}/job_tokens",
             headers={"JOB-TOKEN": world.job_dev}, json={})
    assert r.status_code == 401
    assert token_rows(depot) == before
    start = time.time()
    r = call(depot, "POST", f"/projects/{pid}/job_tokens", world.pat["maint"], json={"ttl": 600})
    assert r.status_code == 201, r.text
    t = r.json()
    assert set(t) == {"id", "token", "expires_at"} and t["token"].startswith("glcbt-")
    expires = datetime.datetime.strptime(t["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    assert start + 590 < expires < time.time() + 610
    assert depot.query("SELECT kind, user_id, project_id FROM tokens WHERE id = ?", t["id"]) == \
        [(3, uid(depot, "maint"), pid)]
    round_trip(depot, pid, {"JOB-TOKEN": t["token"]})
    # in that project only
    round_trip(depot, other, {"JOB-TOKEN": t["token"]}, status_up=404)
    # the default lasts an hour
    r = call(depot, "POST", f"/projects/{pid}/job_tokens", world.pat["owner"])
    assert r.status_code == 201


# ---- last use, the log, the command line

def test_last_used_at_is_recorded_at_most_once_a_minute(depot, world):
    t = admin_pat(depot, world, "dev")
    assert depot.query("SELECT last_used_at FROM tokens WHERE id = ?", t["id"]) == [(0,)]
    assert requests.get(depot.api("/user"), headers=h(t["token"]), timeout=30).status_code == 200
    (first,), = depot.query("SELECT last_used_at FROM tokens WHERE id = ?", t["id"])
    assert abs(first / 1000 - time.time()) < 60
    assert requests.get(depot.api("/user"), headers=h(t["token"]), timeout=30).status_code == 200
    assert depot.query("SELECT last_used_at FROM tokens WHERE id = ?", t["id"]) == [(first,)]
    got = call(depot, "GET", "/personal_access_tokens/self", t["token"]).json()
    assert got["last_used_at"] is not None
    # deploy tokens too
    r = call(depot, "POST", f"/projects/{world.pid('acme/app')}/deploy_tokens", world.pat["maint"],
             json={"name": "used", "scopes": ["read_package_registry"]})
    d = r.json()
    requests.get(depot.api(f"/projects/{world.pid('acme/app')}/packages/generic/x/1/y"),
                 headers={"Deploy-Token": d["token"]}, timeout=30)
    assert depot.query("SELECT last_used_at FROM tokens WHERE id = ?", d["id"])[0][0] > 0


def test_cli_token_list(depot, world):
    pid = world.pid("acme/app")
    r = call(depot, "POST", f"/projects/{pid}/access_tokens", world.pat["maint"],
             json={"name": "listed", "scopes": ["read_api"]})
    pt = r.json()
    rows = json.loads(depot.cli("token", "list", "--json").stdout)
    secrets = set(SECRETS) | {world.pat["dev"]}
    hashes = {x[0] for x in depot.query("SELECT token_sha256 FROM tokens")}
    text = json.dumps(rows)
    assert not any(s in text for s in secrets | hashes)
    by_id = {x["id"]: x for x in rows}
    assert set(by_id[pt["id"]]) == {"id", "kind", "name", "user", "project", "group", "scopes",
                                    "created_at", "expires_at", "last_used_at", "revoked"}
    assert (by_id[pt["id"]]["kind"], by_id[pt["id"]]["project"], by_id[pt["id"]]["name"]) == \
        ("project", "acme/app", "listed")
    mine = json.loads(depot.cli("token", "list", "--user", "dev", "--json").stdout)
    assert mine and all(x["user"] == "dev" for x in mine)
    proj = json.loads(depot.cli("token", "list", "--project", "acme/app", "--json").stdout)
    assert proj and all(x["project"] == "acme/app" for x in proj)
    assert {"project", "deploy", "job"} <= {x["kind"] for x in proj}
    out = depot.cli("token", "list", "--project", "acme/app").stdout.splitlines()
    assert out[0].split("\t") == ["ID", "KIND", "NAME", "USER", "PROJECT/GROUP", "SCOPES",
                                  "EXPIRES", "LAST_USED", "REVOKED"]
    assert any(line.startswith(f"{pt['id']}\tproject\tlisted\t") for line in out[1:])
    bad = depot.cli("token", "list", "--user", "nobody", check=False)
    assert bad.returncode == 1 and bad.stderr == "depot: no user 'nobody'\n"
    bad = depot.cli("token", "list", "--user", "dev", "--project", "acme/app", check=False)
    assert bad.returncode == 1
    # the id it shows is the one revoke takes
    depot.cli("token", "revoke", str(pt["id"]))
    assert call(depot, "GET", "/personal_access_tokens/self", pt["token"]).status_code == 401


def test_python_gitlab_drives_the_token_resources(depot, world):
    """python-gitlab 3.x (Debian's) without lazy objects: create, list, rotate, delete."""
    import gitlab
    pid = world.pid("acme/app")
    from gitlab.v4.objects import ProjectAccessTokenManager, ProjectDeployTokenManager
    gl = gitlab.Gitlab(depot.url, private_token=world.pat["maint"])

    # GET /projects/:id is the projects area's; the managers need only their parent's id
    class P:
        id = pid
        encoded_id = pid
        _parent_attrs = {}
    at = ProjectAccessTokenManager(gl, parent=P)
    created = at.create({"name": "pg-bot", "scopes": ["api"], "access_level": 30})
    SECRETS.append(created.token)
    assert created.access_level == 30
    round_trip(depot, pid, h(created.token))
    assert created.id in [t.id for t in at.list()]
    dt = ProjectDeployTokenManager(gl, parent=P)
    d = dt.create({"name": "pg-deploy", "scopes": ["read_package_registry",
                                                     "write_package_registry"]})
    SECRETS.append(d.token)
    round_trip(depot, pid, {"Deploy-Token": d.token})
    dt.delete(d.id)
    round_trip(depot, pid, {"Deploy-Token": d.token}, status_up=401)
    at.delete(created.id)
    round_trip(depot, pid, h(created.token), status_up=401)
    admin = gitlab.Gitlab(depot.url, private_token=world.pat["admin"])
    pats = admin.personal_access_tokens.list(user_id=uid(depot, "maint"))
    assert pats and all(t.user_id == uid(depot, "maint") for t in pats)


def test_secrets_never_reach_the_server_log(depot, world):
    assert len(SECRETS) > 10
    log = depot.server_log()
    assert log  # the harness keeps it
    leaked = [s for s in SECRETS if s in log]
    assert leaked == []
