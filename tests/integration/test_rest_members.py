"""GitLab's members API for projects and groups (gitlab-rest.md section 6): the Member
entity, direct and inherited listings (the highest level wins), who may read and change
members, the Owner rules (project Owners are the owners' to give or touch; a group keeps its
last Owner), GitLab's bodies for bad input with nothing changed, expiry, and that a change
decides the very next request (a member added over REST uploads, a removed one cannot)."""
import datetime
import re

import pytest
import requests

from conftest import World, generic_path, unique

from conftest import skip_in_nodes as _skip_in_nodes, skip_in_s3 as _skip_in_s3

# GitLab's REST resources live in the metadata store only: the SQLite and PostgreSQL passes
# cover them; the S3 and nodes passes change where contents live.
pytestmark = [_skip_in_s3, _skip_in_nodes]
NOT_FOUND = {"message": "404 Not found"}
FORBIDDEN = {"message": "403 Forbidden"}
UNAUTHORIZED = {"message": "401 Unauthorized"}
PROJECT_NOT_FOUND = {"message": "404 Project Not Found"}
GROUP_NOT_FOUND = {"message": "404 Group Not Found"}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
MEMBER_KEYS = {"id", "username", "name", "state", "locked", "avatar_url", "web_url",
               "access_level", "created_at", "expires_at", "membership_state"}


@pytest.fixture(scope="module")
def w(depot):
    return World(depot)


def hdr(w, user):
    return {"PRIVATE-TOKEN": w.pat[user]}


def uid(depot, name):
    return depot.query("SELECT id FROM users WHERE username = ?", name)[0][0]


def gid(depot, path):
    return depot.query("SELECT id FROM groups WHERE path = ?", path)[0][0]


def new_user(depot, w, prefix="m"):
    """A new person with an api PAT (kept in w.pat); returns the username."""
    name = unique(prefix)
    depot.cli("user", "create", name)
    w.pat[name] = depot.cli("token", "create", "personal", "--user", name, "--scopes",
                            "api").stdout.strip()
    return name


def new_project(depot, group="acme", vis="private"):
    path = f"{group}/{unique('p')}"
    pid = int(depot.cli("project", "create", path, "--visibility", vis).stdout)
    return path, pid


def member_rows(depot):
    return depot.query("SELECT user_id, project_id, group_id, access_level, created_by,"
                       " expires_at FROM members ORDER BY user_id, project_id, group_id")


def members_url(depot, kind, ref, rest=""):
    return depot.api(f"/{kind}/{requests.utils.quote(str(ref), safe='')}/members{rest}")


def today():
    return datetime.datetime.now(datetime.timezone.utc).date()


def upload(depot, w, pid, user):
    url = depot.api(generic_path(pid, unique("pkg"), "1.0", "f.bin"))
    return requests.put(url, data=b"x", headers=hdr(w, user))


# ---- shapes and listings ----

def test_member_entity_and_direct_listing(depot, w):
    path, pid = new_project(depot)
    bob = new_user(depot, w)
    depot.cli("member", "add", "--project", path, "--user", bob, "--role", "reporter")
    r = requests.get(members_url(depot, "projects", pid), headers=hdr(w, "maint"))
    assert r.status_code == 200
    # direct members only: the group's (acme's) members are not listed here
    assert [m["username"] for m in r.json()] == [bob]
    m = r.json()[0]
    assert set(m) == MEMBER_KEYS  # the command line recorded no creator: created_by left out
    assert m["id"] == uid(depot, bob)
    assert m["access_level"] == 20 and m["expires_at"] is None
    assert m["state"] == "active" and m["locked"] is False and m["avatar_url"] is None
    assert m["web_url"] == f"{depot.url}/{bob}"
    assert ISO.match(m["created_at"])
    assert r.headers["X-Total"] == "1" and r.headers["X-Page"] == "1"
    # by path too, and one member
    one = requests.get(members_url(depot, "projects", path, f"/{m['id']}"),
                       headers=hdr(w, "guest"))
    assert one.status_code == 200 and one.json() == m


def test_add_records_creator_and_answers_member(depot, w):
    path, pid = new_project(depot)
    bob = new_user(depot, w)
    exp = (today() + datetime.timedelta(days=30)).isoformat()
    r = requests.post(members_url(depot, "projects", pid), headers=hdr(w, "maint"),
                      json={"user_id": uid(depot, bob), "access_level": 30, "expires_at": exp})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == MEMBER_KEYS | {"created_by"}
    assert body["id"] == uid(depot, bob) and body["username"] == bob
    assert body["access_level"] == 30 and body["expires_at"] == exp
    assert body["created_by"] == {"id": uid(depot, "maint"), "username": "maint",
                                  "name": "maint", "state": "active", "locked": False,
                                  "avatar_url": None, "web_url": f"{depot.url}/maint"}
    row = depot.query("SELECT access_level, created_by, expires_at FROM members"
                      " WHERE user_id = ? AND project_id = ?", uid(depot, bob), pid)
    expires_ms = int(datetime.datetime.fromisoformat(exp).replace(
        tzinfo=datetime.timezone.utc).timestamp()) * 1000
    assert row == [(30, uid(depot, "maint"), expires_ms)]
    # by username, form-encoded as curl sends it, on a group
    carol = new_user(depot, w)
    r = requests.post(members_url(depot, "groups", "acme/sub"), headers=hdr(w, "owner"),
                      data={"username": carol, "access_level": "10"})
    assert r.status_code == 201, r.text
    assert r.json()["access_level"] == 10 and r.json()["expires_at"] is None
    assert depot.query("SELECT access_level, created_by FROM members WHERE user_id = ?"
                       " AND group_id = ?", uid(depot, carol), gid(depot, "acme/sub")) == \
        [(10, uid(depot, "owner"))]


def test_all_inherits_from_ancestors_highest_level_wins(depot, w):
    path, pid = new_project(depot, "acme/sub")
    depot.cli("member", "add", "--project", path, "--user", "guest", "--role", "developer")
    depot.cli("member", "add", "--project", path, "--user", "reporter", "--role", "guest")
    direct = requests.get(members_url(depot, "projects", pid), headers=hdr(w, "dev"))
    assert sorted(m["username"] for m in direct.json()) == ["guest", "reporter"]
    r = requests.get(members_url(depot, "projects", pid, "/all"), headers=hdr(w, "dev"),
                     params={"per_page": 100})
    assert r.status_code == 200
    levels = {m["username"]: m["access_level"] for m in r.json()}
    # acme's members through acme/sub, one row each, the highest level
    assert {k: levels[k] for k in ["owner", "maint", "dev", "reporter", "guest"]} == \
        {"owner": 50, "maint": 40, "dev": 30, "reporter": 20, "guest": 30}
    assert len(r.json()) == len(levels)
    assert [m["id"] for m in r.json()] == sorted(m["id"] for m in r.json())
    # one of them; a member of the group only is no direct member
    one = requests.get(members_url(depot, "projects", pid, f"/all/{uid(depot, 'maint')}"),
                       headers=hdr(w, "dev"))
    assert one.status_code == 200 and one.json()["access_level"] == 40
    r = requests.get(members_url(depot, "projects", pid, f"/{uid(depot, 'maint')}"),
                     headers=hdr(w, "dev"))
    assert (r.status_code, r.json()) == (404, NOT_FOUND)
    r = requests.get(members_url(depot, "projects", pid, f"/all/{uid(depot, 'outsider')}"),
                     headers=hdr(w, "dev"))
    assert (r.status_code, r.json()) == (404, NOT_FOUND)
    # a subgroup's /all has its parent's members; its direct list does not
    sub = requests.get(members_url(depot, "groups", "acme/sub", "/all"),
                       headers=hdr(w, "guest"), params={"per_page": 100})
    assert {"owner", "maint", "dev", "reporter", "guest"} <= {m["username"] for m in sub.json()}
    subdirect = requests.get(members_url(depot, "groups", "acme/sub"), headers=hdr(w, "guest"))
    assert "owner" not in {m["username"] for m in subdirect.json()}


def test_filters_and_pagination(depot, w):
    path, pid = new_project(depot)
    names = [new_user(depot, w, "pg") for _ in range(3)]
    for n in names:
        depot.cli("member", "add", "--project", path, "--user", n, "--role", "guest")
    ids = [uid(depot, n) for n in names]
    url = members_url(depot, "projects", pid)
    r = requests.get(url, headers=hdr(w, "maint"), params={"per_page": 2, "page": 2})
    assert r.status_code == 200 and [m["id"] for m in r.json()] == ids[2:]
    assert (r.headers["X-Total"], r.headers["X-Total-Pages"], r.headers["X-Page"],
            r.headers["X-Prev-Page"]) == ("3", "2", "2", "1")
    assert 'rel="first"' in r.headers["Link"]
    r = requests.get(url, headers=hdr(w, "maint"), params={"query": names[1].upper()})
    assert [m["id"] for m in r.json()] == [ids[1]]
    r = requests.get(url + f"?user_ids[]={ids[0]}&user_ids[]={ids[2]}", headers=hdr(w, "maint"))
    assert [m["id"] for m in r.json()] == [ids[0], ids[2]]
    r = requests.get(url, headers=hdr(w, "maint"), params={"skip_users": str(ids[0])})
    assert [m["id"] for m in r.json()] == ids[1:]
    r = requests.get(url, headers=hdr(w, "maint"), params={"user_ids": "x"})
    assert (r.status_code, r.json()) == (400, {"error": "user_ids is invalid"})


# ---- who may ----

def test_read_permissions(depot, w):
    pid = w.pid("acme/app")
    url = members_url(depot, "projects", pid)
    assert requests.get(url, headers=hdr(w, "guest")).status_code == 200
    assert requests.get(url, headers=hdr(w, "admin")).status_code == 200
    r = requests.get(url, headers=hdr(w, "outsider"))
    assert (r.status_code, r.json()) == (404, PROJECT_NOT_FOUND)
    # GitLab's authenticate!: anonymous callers, job and deploy tokens get 401, even on a
    # public project
    for headers in [{}, {"JOB-TOKEN": w.job_dev}, {"DEPLOY-TOKEN": w.deploy_rw["token"]}]:
        for ref in [pid, w.pid("pub/open")]:
            r = requests.get(members_url(depot, "projects", ref), headers=headers)
            assert (r.status_code, r.json()) == (401, UNAUTHORIZED)
    r = requests.get(members_url(depot, "groups", "pub"), headers={})
    assert (r.status_code, r.json()) == (401, UNAUTHORIZED)
    r = requests.get(members_url(depot, "groups", "acme"), headers=hdr(w, "outsider"))
    assert (r.status_code, r.json()) == (404, GROUP_NOT_FOUND)
    assert requests.get(members_url(depot, "groups", "pub"),
                        headers=hdr(w, "outsider")).status_code == 200
    r = requests.get(members_url(depot, "projects", 999999), headers=hdr(w, "admin"))
    assert (r.status_code, r.json()) == (404, PROJECT_NOT_FOUND)
    r = requests.get(members_url(depot, "groups", "nope"), headers=hdr(w, "admin"))
    assert (r.status_code, r.json()) == (404, GROUP_NOT_FOUND)


def test_personal_namespace_is_no_group(depot, w):
    for who in ["dev", "admin", "outsider"]:
        for ref in ["dev", gid(depot, "dev")]:
            for rest in ["", "/all"]:
                r = requests.get(members_url(depot, "groups", ref, rest), headers=hdr(w, who))
                assert (r.status_code, r.json()) == (404, GROUP_NOT_FOUND)
    before = member_rows(depot)
    r = requests.post(members_url(depot, "groups", "dev"), headers=hdr(w, "dev"),
                      json={"user_id": uid(depot, "guest"), "access_level": 30})
    assert (r.status_code, r.json()) == (404, GROUP_NOT_FOUND)
    assert member_rows(depot) == before


@pytest.mark.parametrize("who,status", [("guest", 403), ("reporter", 403), ("dev", 403),
                                        ("maint", 201), ("owner", 201), ("admin", 201),
                                        ("outsider", 404)])
def test_project_add_permissions(depot, w, who, status):
    path, pid = new_project(depot)
    bob = new_user(depot, w)
    before = member_rows(depot)
    r = requests.post(members_url(depot, "projects", pid), headers=hdr(w, who),
                      json={"user_id": uid(depot, bob), "access_level": 30})
    assert r.status_code == status
    if status != 201:
        assert r.json() == (FORBIDDEN if status == 403 else PROJECT_NOT_FOUND)
        assert member_rows(depot) == before


@pytest.mark.parametrize("who,status", [("guest", 403), ("dev", 403), ("maint", 403),
                                        ("owner", 201), ("admin", 201)])
def test_group_add_permissions(depot, w, who, status):
    bob = new_user(depot, w)
    before = member_rows(depot)
    r = requests.post(members_url(depot, "groups", "acme"), headers=hdr(w, who),
                      json={"username": bob, "access_level": 30})
    assert r.status_code == status
    if status == 403:
        assert r.json() == FORBIDDEN and member_rows(depot) == before
    else:
        requests.delete(members_url(depot, "groups", "acme", f"/{uid(depot, bob)}"),
                        headers=hdr(w, "owner")).raise_for_status()


def test_tokens_that_are_not_people_cannot_change_members(depot, w):
    pid = w.pid("acme/app")
    before = member_rows(depot)
    body = {"user_id": uid(depot, "outsider"), "access_level": 10}
    for headers in [{}, {"JOB-TOKEN": w.job_dev}, {"DEPLOY-TOKEN": w.deploy_rw["token"]}]:
        for method, rest in [("POST", ""), ("PUT", f"/{uid(depot, 'dev')}"),
                             ("DELETE", f"/{uid(depot, 'dev')}")]:
            r = requests.request(method, members_url(depot, "projects", pid, rest),
                                 headers=headers, json=body)
            assert (r.status_code, r.json()) == (401, UNAUTHORIZED)
    assert member_rows(depot) == before


# ---- the Owner rules ----

def test_project_owner_rules(depot, w):
    path, pid = new_project(depot)
    bob, carol = new_user(depot, w), new_user(depot, w)
    url = members_url(depot, "projects", pid)
    before = member_rows(depot)
    # a maintainer may not give Owner
    r = requests.post(url, headers=hdr(w, "maint"),
                      json={"user_id": uid(depot, bob), "access_level": 50})
    assert (r.status_code, r.json()) == (403, FORBIDDEN)
    assert member_rows(depot) == before
    # an owner (of the parent group) may
    r = requests.post(url, headers=hdr(w, "owner"),
                      json={"user_id": uid(depot, bob), "access_level": 50})
    assert r.status_code == 201 and r.json()["access_level"] == 50
    r = requests.post(url, headers=hdr(w, "maint"),
                      json={"user_id": uid(depot, carol), "access_level": 40})
    assert r.status_code == 201
    before = member_rows(depot)
    # nor change or remove an Owner, nor promote to Owner
    bob_url = members_url(depot, "projects", pid, f"/{uid(depot, bob)}")
    carol_url = members_url(depot, "projects", pid, f"/{uid(depot, carol)}")
    for method, u, body in [("PUT", bob_url, {"access_level": 30}), ("DELETE", bob_url, None),
                            ("PUT", carol_url, {"access_level": 50})]:
        r = requests.request(method, u, headers=hdr(w, "maint"), json=body)
        assert (r.status_code, r.json()) == (403, FORBIDDEN), (method, u)
    assert member_rows(depot) == before
    # the Owner may; a maintainer changes a maintainer
    r = requests.put(bob_url, headers=hdr(w, "owner"), json={"access_level": 40})
    assert r.status_code == 200 and r.json()["access_level"] == 40
    r = requests.put(carol_url, headers=hdr(w, "maint"), data={"access_level": "20"})
    assert r.status_code == 200 and r.json()["access_level"] == 20
    assert requests.delete(bob_url, headers=hdr(w, "maint")).status_code == 204
    assert depot.query("SELECT COUNT(*) FROM members WHERE project_id = ?", pid) == [(1,)]


def test_group_keeps_its_last_owner(depot, w):
    grp = unique("solo")
    depot.cli("group", "create", grp)
    alice, bob = new_user(depot, w), new_user(depot, w)
    depot.cli("member", "add", "--group", grp, "--user", alice, "--role", "owner")
    a_url = members_url(depot, "groups", grp, f"/{uid(depot, alice)}")
    before = member_rows(depot)
    for who in [alice, "admin"]:
        r = requests.delete(a_url, headers=hdr(w, who))
        assert (r.status_code, r.json()) == (403, FORBIDDEN)
        r = requests.put(a_url, headers=hdr(w, who), json={"access_level": 40})
        assert (r.status_code, r.json()) == (403, FORBIDDEN)
    assert member_rows(depot) == before
    # with a second Owner the first may go
    r = requests.post(members_url(depot, "groups", grp), headers=hdr(w, alice),
                      json={"user_id": uid(depot, bob), "access_level": 50})
    assert r.status_code == 201
    r = requests.put(a_url, headers=hdr(w, bob), json={"access_level": 30})
    assert r.status_code == 200 and r.json()["access_level"] == 30
    assert requests.delete(a_url, headers=hdr(w, bob)).status_code == 204
    assert depot.query("SELECT user_id, access_level FROM members WHERE group_id = ?",
                       gid(depot, grp)) == [(uid(depot, bob), 50)]
    # the former Owner lost everything at once
    r = requests.get(members_url(depot, "groups", grp), headers=hdr(w, alice))
    assert (r.status_code, r.json()) == (404, GROUP_NOT_FOUND)


# ---- bad input ----

def test_add_bad_input(depot, w):
    path, pid = new_project(depot)
    depot.cli("member", "add", "--project", path, "--user", "outsider", "--role", "guest")
    bob = new_user(depot, w)
    url = members_url(depot, "projects", pid)
    cases = [
        ({"access_level": 30},
         400, {"error": "user_id, username are missing, at least one parameter must be provided"}),
        ({"user_id": uid(depot, bob), "username": bob, "access_level": 30},
         400, {"error": "user_id, username are mutually exclusive"}),
        ({"user_id": uid(depot, bob)}, 400, {"error": "access_level is missing"}),
        ({"user_id": uid(depot, bob), "access_level": "dev"},
         400, {"error": "access_level is invalid"}),
        ({"user_id": uid(depot, bob), "access_level": 30, "expires_at": "soon"},
         400, {"error": "expires_at is invalid"}),
        ({"user_id": 999999, "access_level": 30}, 404, {"message": "404 User Not Found"}),
        ({"username": "no-such-user", "access_level": 30},
         404, {"message": "404 User Not Found"}),
        ({"user_id": uid(depot, "outsider"), "access_level": 30},
         409, {"message": "Member already exists"}),
        ({"user_id": uid(depot, bob), "access_level": 35},
         400, {"message": {"access_level": ["is not included in the list"]}}),
        ({"user_id": uid(depot, bob), "access_level": 60},
         400, {"message": {"access_level": ["is not included in the list"]}}),
        ({"user_id": uid(depot, bob), "access_level": 30, "expires_at": "2020-01-01"},
         400, {"message": {"expires_at": ["cannot be a date in the past"]}}),
    ]
    before = member_rows(depot)
    for body, status, answer in cases:
        r = requests.post(url, headers=hdr(w, "maint"), json=body)
        assert (r.status_code, r.json()) == (status, answer), body
    assert member_rows(depot) == before
    r = requests.post(members_url(depot, "projects", 999999), headers=hdr(w, "maint"),
                      json={"user_id": uid(depot, bob), "access_level": 30})
    assert (r.status_code, r.json()) == (404, PROJECT_NOT_FOUND)
    assert member_rows(depot) == before


def test_change_and_remove_bad_input(depot, w):
    path, pid = new_project(depot)
    depot.cli("member", "add", "--project", path, "--user", "outsider", "--role", "guest")
    m_url = members_url(depot, "projects", pid, f"/{uid(depot, 'outsider')}")
    before = member_rows(depot)
    for body, status, answer in [
        ({}, 400, {"error": "access_level is missing"}),
        ({"access_level": "x"}, 400, {"error": "access_level is invalid"}),
        ({"access_level": 30, "expires_at": "31/12/2030"}, 400, {"error": "expires_at is invalid"}),
        ({"access_level": 45}, 400, {"message": {"access_level": ["is not included in the list"]}}),
        ({"access_level": 30, "expires_at": "2001-02-03"},
         400, {"message": {"expires_at": ["cannot be a date in the past"]}}),
    ]:
        r = requests.put(m_url, headers=hdr(w, "maint"), json=body)
        assert (r.status_code, r.json()) == (status, answer), body
    for method in ["PUT", "DELETE", "GET"]:
        r = requests.request(method, members_url(depot, "projects", pid,
                                                 f"/{uid(depot, 'dev')}"),
                             headers=hdr(w, "maint"), json={"access_level": 30})
        assert (r.status_code, r.json()) == (404, NOT_FOUND), method
        r = requests.request(method, members_url(depot, "projects", pid, "/abc"),
                             headers=hdr(w, "maint"), json={"access_level": 30})
        assert (r.status_code, r.json()) == (400, {"error": "user_id is invalid"}), method
    assert member_rows(depot) == before


def test_add_several_users_all_or_nothing(depot, w):
    path, pid = new_project(depot)
    a, b = new_user(depot, w), new_user(depot, w)
    url = members_url(depot, "projects", pid)
    before = member_rows(depot)
    r = requests.post(url, headers=hdr(w, "maint"),
                      json={"user_id": f"{uid(depot, a)},999999", "access_level": 30})
    assert r.status_code == 400
    assert r.json() == {"status": "error", "message": {"999999": "User not found"}}
    assert member_rows(depot) == before
    r = requests.post(url, headers=hdr(w, "maint"),
                      json={"username": f"{a},{b}", "access_level": 20})
    assert (r.status_code, r.json()) == (201, {"status": "success"})
    assert depot.query("SELECT user_id, access_level, created_by FROM members"
                       " WHERE project_id = ? ORDER BY user_id", pid) == \
        [(uid(depot, a), 20, uid(depot, "maint")), (uid(depot, b), 20, uid(depot, "maint"))]
    r = requests.post(url, headers=hdr(w, "maint"),
                      json={"username": f"{a},{b}", "access_level": 20})
    assert r.json() == {"status": "error", "message": {a: "Member already exists",
                                                       b: "Member already exists"}}
    r = requests.post(url, headers=hdr(w, "maint"),
                      json={"username": f"{a},{b}", "access_level": 50})
    assert (r.status_code, r.json()) == (403, FORBIDDEN)
    # a user named twice is added once
    c = new_user(depot, w)
    r = requests.post(url, headers=hdr(w, "maint"),
                      data={"user_id": f"{uid(depot, c)},{uid(depot, c)}", "access_level": "10"})
    assert (r.status_code, r.json()) == (201, {"status": "success"})
    assert depot.query("SELECT access_level FROM members WHERE project_id = ? AND user_id = ?",
                       pid, uid(depot, c)) == [(10,)]


# ---- membership decides the next request ----

def test_member_added_over_rest_uploads_and_removed_cannot(depot, w):
    path, pid = new_project(depot)
    bob = new_user(depot, w)
    assert upload(depot, w, pid, bob).status_code == 404  # cannot see the private project
    r = requests.post(members_url(depot, "projects", pid), headers=hdr(w, "maint"),
                      json={"username": bob, "access_level": 20})
    assert r.status_code == 201
    assert upload(depot, w, pid, bob).status_code == 403  # a reporter reads only
    m_url = members_url(depot, "projects", pid, f"/{uid(depot, bob)}")
    assert requests.put(m_url, headers=hdr(w, "maint"), json={"access_level": 30}).ok
    assert upload(depot, w, pid, bob).status_code == 201
    assert requests.delete(m_url, headers=hdr(w, "maint")).status_code == 204
    assert upload(depot, w, pid, bob).status_code == 404


def test_expired_membership_grants_nothing(depot, w):
    path, pid = new_project(depot)
    bob = new_user(depot, w)
    url = members_url(depot, "projects", pid)
    # GitLab accepts today (not a past date); a membership ends when its day begins
    r = requests.post(url, headers=hdr(w, "maint"), json={
        "user_id": uid(depot, bob), "access_level": 30, "expires_at": today().isoformat()})
    assert r.status_code == 201 and r.json()["expires_at"] == today().isoformat()
    assert upload(depot, w, pid, bob).status_code == 404
    # still listed, with its date, as GitLab lists it until its cleanup runs
    assert uid(depot, bob) in [m["id"] for m in requests.get(url, headers=hdr(w, "maint")).json()]
    m_url = members_url(depot, "projects", pid, f"/{uid(depot, bob)}")
    r = requests.put(m_url, headers=hdr(w, "maint"), json={"access_level": 30, "expires_at": None})
    assert r.status_code == 200 and r.json()["expires_at"] is None
    assert upload(depot, w, pid, bob).status_code == 201
    # a group membership expires the same way, for the group's projects too
    grp = unique("exp")
    depot.cli("group", "create", grp)
    depot.cli("member", "add", "--group", grp, "--user", "owner", "--role", "owner")
    gpid = int(depot.cli("project", "create", f"{grp}/p").stdout)
    r = requests.post(members_url(depot, "groups", grp), headers=hdr(w, "owner"), json={
        "user_id": uid(depot, bob), "access_level": 30, "expires_at": today().isoformat()})
    assert r.status_code == 201
    assert upload(depot, w, gpid, bob).status_code == 404
    r = requests.get(members_url(depot, "groups", grp), headers=hdr(w, bob))
    assert (r.status_code, r.json()) == (404, GROUP_NOT_FOUND)
    r = requests.put(members_url(depot, "groups", grp, f"/{uid(depot, bob)}"),
                     headers=hdr(w, "owner"),
                     json={"access_level": 30,
                           "expires_at": (today() + datetime.timedelta(days=2)).isoformat()})
    assert r.status_code == 200
    assert upload(depot, w, gpid, bob).status_code == 201


def test_python_gitlab_members(depot, w):
    gitlab = pytest.importorskip("gitlab")
    gl = gitlab.Gitlab(depot.url, private_token=w.pat["maint"])
    path, pid = new_project(depot)
    bob = new_user(depot, w)
    project = gl.projects.get(pid)
    member = project.members.create({"user_id": uid(depot, bob), "access_level": 30})
    assert member.username == bob and member.access_level == 30
    assert [m.id for m in project.members.list(get_all=True)] == [uid(depot, bob)]
    member.access_level = 40
    member.save()
    assert project.members.get(uid(depot, bob)).access_level == 40
    assert uid(depot, "owner") in [m.id for m in project.members_all.list(get_all=True)]
    assert project.members_all.get(uid(depot, "owner")).access_level == 50
    project.members.delete(uid(depot, bob))
    with pytest.raises(gitlab.exceptions.GitlabGetError) as e:
        project.members.get(uid(depot, bob))
    assert e.value.response_code == 404
