"""Every REST resource route of issue 11 x every kind of caller: the status each one gets,
so that no endpoint can forget a rule. The routes come from the binary (`depot routes`, the
lines ending in " rest"); a route without a row here fails the test, and so does a row for a
route that does not exist. test_access_matrix.py does the same for the package routes.

The callers (ORDER): anonymous, the guest, developer, maintainer and owner members of a
private group "mx" (by their personal access tokens), an instance admin who is no member, a
deploy token of the group's project mx/app, and a CI job token of the developer in mx/app.
The rules (/work/rest-contract.md, GitLab's behaviour in shared/docs/gitlab-rest.md):
- job and deploy tokens are anonymous on every REST route (GitLab looks at them on the
  package routes only), so their columns are the anonymous one;
- anonymous writes are 401 `{"message":"401 Unauthorized"}` before anything else;
- a private project or group is 404 to whoever cannot see it (anonymous too, NOT 401), except
  where GitLab authenticates first (members, access tokens, namespaces, /version: 401);
- project access tokens are listed and read by maintainers only, and GitLab answers 401 (not
  403) to the others; creating or revoking one without the right is a 400;
- routes that act on "self" act on the credential presented: each case presents a fresh one
  (and "ptok", a project access token of mx/app, tries them too).
Routes that create or delete get a subject of their own for every case that succeeds (the
refused cases share one, which a refusal leaves as it was)."""
import datetime
import json

import pytest
import requests

from conftest import skip_in_nodes, skip_in_s3, unique

# Permissions do not depend on where contents are stored: the S3 (and nodes) passes skip it.
pytestmark = [skip_in_s3, skip_in_nodes]

ORDER = ("anon", "guest", "dev", "maint", "owner", "admin", "deploy", "job")
PERSONS = ("guest", "dev", "maint", "owner", "admin")
ROLES = {"guest": "guest", "dev": "developer", "maint": "maintainer", "owner": "owner"}
V4 = "/api/v4"


def in_days(n):
    return (datetime.date.today() + datetime.timedelta(days=n)).isoformat()


class MxWorld:
    """Group mx (private) with a guest, a developer, a maintainer and an owner member; its
    private project mx/app (pm a direct developer member of it); an admin; a deploy token of
    mx/app and of mx; a project access token of mx/app; a job token of dev in mx/app."""

    def __init__(self, d):
        self.d = d
        for u in ("admin", "guest", "dev", "maint", "owner", "pm"):
            d.cli("user", "create", u, *(["--admin"] if u == "admin" else []))
        d.cli("group", "create", "mx")
        self.gid = self.group_id("mx")
        self.pid = int(d.cli("project", "create", "mx/app").stdout)
        for u, role in ROLES.items():
            d.cli("member", "add", "--group", "mx", "--user", u, "--role", role)
        d.cli("member", "add", "--project", "mx/app", "--user", "pm", "--role", "developer")
        self.uid = {u: self.user_id(u) for u in ("admin", "guest", "dev", "maint", "owner", "pm")}
        self.pat = {u: self.token("personal", "--user", u, "--scopes", "api")["token"]
                    for u in PERSONS}
        self.dev_pat_id = self.token("personal", "--user", "dev", "--scopes", "api")["id"]
        self.deploy = self.token("deploy", "--project", "mx/app", "--scopes",
                                 "read_package_registry,write_package_registry")
        self.group_deploy_id = self.token("deploy", "--group", "mx", "--scopes",
                                          "read_package_registry")["id"]
        self.ptok_id = self.fresh_ptok()["id"]
        self.job = self.token("job", "--project", "mx/app", "--user", "dev")["token"]

    def token(self, *args):
        return json.loads(self.d.cli("token", "create", *args, "--json").stdout)

    def user_id(self, name):
        (uid,), = self.d.query("SELECT id FROM users WHERE username = ?", name)
        return uid

    def group_id(self, path):
        (gid,), = self.d.query("SELECT id FROM groups WHERE path = ?", path)
        return gid

    # ---- fresh subjects, made by the operator's CLI
    def fresh_user(self):
        name = unique("u")
        self.d.cli("user", "create", name)
        return self.user_id(name)

    def fresh_member(self, where):
        """A new user, a direct developer member of mx/app ("project") or mx ("group")."""
        name = unique("m")
        self.d.cli("user", "create", name)
        self.d.cli("member", "add", f"--{where}", "mx/app" if where == "project" else "mx",
                   "--user", name, "--role", "developer")
        return self.user_id(name)

    def fresh_project(self):
        return int(self.d.cli("project", "create", f"mx/{unique('p')}").stdout)

    def fresh_subgroup(self):
        path = f"mx/{unique('g')}"
        self.d.cli("group", "create", path)
        return self.group_id(path)

    def fresh_pat(self, user):
        return self.token("personal", "--user", user, "--scopes", "api")

    def fresh_ptok(self):
        return self.token("project", "--project", "mx/app", "--role", "developer",
                          "--scopes", "api")

    def headers(self, case, token=None):
        if case == "anon":
            return {}
        if case == "deploy":
            return {"DEPLOY-TOKEN": self.deploy["token"]}
        if case == "job":
            return {"JOB-TOKEN": self.job}
        return {"PRIVATE-TOKEN": token or self.pat[case]}


@pytest.fixture(scope="module")
def mx(depot):
    return MxWorld(depot)


@pytest.fixture(scope="module")
def routes(depot):
    out = depot.cli("routes").stdout.split("\n")
    return [tuple(line.split(" ")[:2]) for line in out if line.endswith(" rest")]


def row(statuses, **extra):
    codes = [int(s) for s in statuses.split()]
    assert len(codes) == len(ORDER), statuses
    return {**dict(zip(ORDER, codes)), **extra}


# ---- what each case sends. A prepare(w, case, subject) answers {"values": {capture: text},
# "body": json, "token": credential}; subject(make) is the route's current fresh subject.
def plain(w, case, subject):
    return {}


def with_values(**values):
    def prepare(w, case, subject):
        return {"values": {k: str(v(w) if callable(v) else v) for k, v in values.items()}}
    return prepare


def with_body(body):
    def prepare(w, case, subject):
        return {"body": body(w) if callable(body) else body}
    return prepare


def fresh(capture, make, body=None):
    """The capture names a fresh subject, made by make(w)."""
    def prepare(w, case, subject):
        out = {"values": {capture: str(subject(lambda: make(w)))}}
        if body is not None:
            out["body"] = body
        return out
    return prepare


def fresh_self(w, case, subject):
    """The credential itself is the subject: a new one for every case that presents one."""
    if case in PERSONS:
        return {"token": w.fresh_pat(case)["token"]}
    if case == "ptok":
        return {"token": w.fresh_ptok()["token"]}
    return {}


def new_user(w):
    n = unique("nu")
    return {"username": n, "name": n, "email": f"{n}@example.com",
            "force_random_password": True, "skip_confirmation": True}


def new_group(w):
    n = unique("sg")
    return {"name": n, "path": n, "parent_id": w.gid}


# Statuses in ORDER:  anon guest dev maint owner admin deploy job
SIGNED_IN = row("401 200 200 200 200 200 401 401")
VISIBLE = row("404 200 200 200 200 200 404 404")      # the private group or project
EVERYONE = row("200 200 200 200 200 200 200 200")
ADMIN_ONLY = "401 403 403 403 403 {ok} 401 401"
MAINT_UP = "401 403 403 {ok} {ok} {ok} 401 401"       # project maintainers, owners, admins
OWNER_UP = "401 403 403 403 {ok} {ok} 401 401"        # owners and admins
TOKEN_OWNER = "401 401 {ok} 401 401 {ok} 401 401"     # dev's token: dev and admins; 401 others
PAT_MAINT = "401 401 401 {ok} {ok} {ok} 401 401"      # project access tokens, read and rotate
DEPLOY_READ = row("404 403 403 200 200 200 404 404")  # deploy tokens of the private mx, mx/app


def ok(pattern, code):
    return row(pattern.format(ok=code))


P = V4 + "/projects/:id"
G = V4 + "/groups/:id"
MATRIX = {
    # ---- users, version, metadata, namespaces
    ("GET", V4 + "/version"): (SIGNED_IN, plain),
    ("GET", V4 + "/metadata"): (SIGNED_IN, plain),
    ("GET", V4 + "/users"): (row("403 200 200 200 200 200 403 403"), plain),
    ("POST", V4 + "/users"): (ok(ADMIN_ONLY, 201), with_body(new_user)),
    ("GET", V4 + "/users/:user_id"):
        (row("403 200 200 200 200 200 403 403"),
         with_values(**{":user_id": lambda w: w.uid["dev"]})),
    ("DELETE", V4 + "/users/:user_id"):
        (ok(ADMIN_ONLY, 204), fresh(":user_id", MxWorld.fresh_user)),
    ("GET", V4 + "/namespaces"): (SIGNED_IN, plain),
    ("GET", V4 + "/namespaces/:id"): (SIGNED_IN, with_values(**{":id": lambda w: w.gid})),
    ("GET", V4 + "/namespaces/:id/exists"): (SIGNED_IN, with_values(**{":id": "mx"})),
    # ---- groups and projects
    ("GET", V4 + "/groups"): (EVERYONE, plain),
    ("POST", V4 + "/groups"): (row("401 403 403 201 201 201 401 401"), with_body(new_group)),
    ("GET", G): (VISIBLE, plain),
    ("PUT", G): (ok(OWNER_UP, 200), with_body({"visibility": "private"})),
    ("DELETE", G): (ok(OWNER_UP, 202), fresh(":id", MxWorld.fresh_subgroup)),
    ("GET", G + "/projects"): (VISIBLE, plain),
    ("GET", G + "/subgroups"): (VISIBLE, plain),
    ("GET", V4 + "/projects"): (EVERYONE, plain),
    ("POST", V4 + "/projects"):
        (row("401 400 400 201 201 201 401 401"),
         with_body(lambda w: {"name": unique("np"), "namespace_id": w.gid})),
    ("GET", P): (VISIBLE, plain),
    ("PUT", P): (ok(MAINT_UP, 200), with_body({"packages_enabled": True})),
    ("DELETE", P): (ok(OWNER_UP, 202), fresh(":id", MxWorld.fresh_project)),
    # ---- members of the project (mx's members inherit; pm is a direct member)
    ("GET", P + "/members"): (SIGNED_IN, plain),
    ("GET", P + "/members/all"): (SIGNED_IN, plain),
    ("GET", P + "/members/all/:user_id"):
        (SIGNED_IN, with_values(**{":user_id": lambda w: w.uid["dev"]})),
    ("GET", P + "/members/:user_id"):
        (SIGNED_IN, with_values(**{":user_id": lambda w: w.uid["pm"]})),
    ("POST", P + "/members"):
        (ok(MAINT_UP, 201),
         lambda w, case, subject: {"body": {"user_id": subject(w.fresh_user),
                                            "access_level": 30}}),
    ("PUT", P + "/members/:user_id"):
        (ok(MAINT_UP, 200), fresh(":user_id", lambda w: w.fresh_member("project"),
                                  body={"access_level": 20})),
    ("DELETE", P + "/members/:user_id"):
        (ok(MAINT_UP, 204), fresh(":user_id", lambda w: w.fresh_member("project"))),
    # ---- members of the group (all of mx's are direct)
    ("GET", G + "/members"): (SIGNED_IN, plain),
    ("GET", G + "/members/all"): (SIGNED_IN, plain),
    ("GET", G + "/members/all/:user_id"):
        (SIGNED_IN, with_values(**{":user_id": lambda w: w.uid["dev"]})),
    ("GET", G + "/members/:user_id"):
        (SIGNED_IN, with_values(**{":user_id": lambda w: w.uid["dev"]})),
    ("POST", G + "/members"):
        (ok(OWNER_UP, 201),
         lambda w, case, subject: {"body": {"user_id": subject(w.fresh_user),
                                            "access_level": 30}}),
    ("PUT", G + "/members/:user_id"):
        (ok(OWNER_UP, 200), fresh(":user_id", lambda w: w.fresh_member("group"),
                                  body={"access_level": 20})),
    ("DELETE", G + "/members/:user_id"):
        (ok(OWNER_UP, 204), fresh(":user_id", lambda w: w.fresh_member("group"))),
    # ---- personal access tokens
    ("GET", V4 + "/personal_access_tokens"): (SIGNED_IN, plain),
    ("GET", V4 + "/personal_access_tokens/self"): (row("401 200 200 200 200 200 401 401",
                                                       ptok=200), fresh_self),
    ("DELETE", V4 + "/personal_access_tokens/self"): (row("401 204 204 204 204 204 401 401",
                                                          ptok=204), fresh_self),
    ("POST", V4 + "/personal_access_tokens/self/rotate"):
        (row("401 200 200 200 200 200 401 401", ptok=200), fresh_self),
    ("GET", V4 + "/personal_access_tokens/:token_id"):
        (ok(TOKEN_OWNER, 200), with_values(**{":token_id": lambda w: w.dev_pat_id})),
    # GitLab's revocation service refuses another person's token with 400 (gitlab-rest.md 7)
    ("DELETE", V4 + "/personal_access_tokens/:token_id"):
        (row("401 400 204 400 400 204 401 401"),
         fresh(":token_id", lambda w: w.fresh_pat("dev")["id"])),
    ("POST", V4 + "/personal_access_tokens/:token_id/rotate"):
        (ok(TOKEN_OWNER, 200), fresh(":token_id", lambda w: w.fresh_pat("dev")["id"])),
    ("POST", V4 + "/users/:user_id/personal_access_tokens"):
        (ok(ADMIN_ONLY, 201),
         lambda w, case, subject: {"values": {":user_id": str(w.uid["dev"])},
                                   "body": {"name": unique("t"), "scopes": ["api"],
                                            "expires_at": in_days(30)}}),
    # ---- project access tokens
    ("GET", P + "/access_tokens"): (ok(PAT_MAINT, 200), plain),
    ("GET", P + "/access_tokens/:token_id"):
        (ok(PAT_MAINT, 200), with_values(**{":token_id": lambda w: w.ptok_id})),
    ("POST", P + "/access_tokens"):
        (row("401 400 400 201 201 201 401 401"),
         with_body(lambda w: {"name": unique("t"), "scopes": ["api"], "access_level": 30,
                              "expires_at": in_days(30)})),
    ("DELETE", P + "/access_tokens/:token_id"):
        (row("401 400 400 204 204 204 401 401"),
         fresh(":token_id", lambda w: w.fresh_ptok()["id"])),
    ("POST", P + "/access_tokens/:token_id/rotate"):
        (ok(PAT_MAINT, 200), fresh(":token_id", lambda w: w.fresh_ptok()["id"])),
    # a person's own token is not a project access token: GitLab's 405
    ("POST", P + "/access_tokens/self/rotate"):
        (row("401 405 405 405 405 405 401 401", ptok=200), fresh_self),
    # ---- deploy tokens
    ("GET", V4 + "/deploy_tokens"): (ok(ADMIN_ONLY, 200), plain),
    ("GET", P + "/deploy_tokens"): (DEPLOY_READ, plain),
    ("POST", P + "/deploy_tokens"):
        (ok(MAINT_UP, 201),
         with_body(lambda w: {"name": unique("dt"), "scopes": ["read_package_registry"]})),
    ("GET", P + "/deploy_tokens/:token_id"):
        (DEPLOY_READ, with_values(**{":token_id": lambda w: w.deploy["id"]})),
    ("DELETE", P + "/deploy_tokens/:token_id"):
        (ok(MAINT_UP, 204),
         fresh(":token_id", lambda w: w.token("deploy", "--project", "mx/app", "--scopes",
                                              "read_package_registry")["id"])),
    ("GET", G + "/deploy_tokens"): (DEPLOY_READ, plain),
    ("GET", G + "/deploy_tokens/:token_id"):
        (DEPLOY_READ, with_values(**{":token_id": lambda w: w.group_deploy_id})),
    ("POST", G + "/deploy_tokens"):
        (ok(OWNER_UP, 201),
         with_body(lambda w: {"name": unique("dt"), "scopes": ["read_package_registry"]})),
    ("DELETE", G + "/deploy_tokens/:token_id"):
        (ok(OWNER_UP, 204),
         fresh(":token_id", lambda w: w.token("deploy", "--group", "mx", "--scopes",
                                              "read_package_registry")["id"])),
    # ---- job tokens for other CI systems (depot's extension)
    ("POST", P + "/job_tokens"): (ok(MAINT_UP, 201), with_body({"ttl": 600})),
}

# Bodies the contract spells out, checked where the status is the one named.
BODIES = {
    ("GET", V4 + "/users", 403):
        {"message": "403 Forbidden - Not authorized to access /api/v4/users"},
    ("GET", V4 + "/users/:user_id", 403): {"message": "403 Forbidden - Not authorized!"},
    ("GET", G, 404): {"message": "404 Group Not Found"},
    ("GET", G + "/projects", 404): {"message": "404 Group Not Found"},
    ("GET", G + "/subgroups", 404): {"message": "404 Group Not Found"},
    ("GET", P, 404): {"message": "404 Project Not Found"},
    ("POST", V4 + "/projects", 400): {"message": {"namespace": ["is not valid"]}},
    ("POST", P + "/access_tokens", 400):
        {"message": "400 Bad request - User does not have permission to create project "
                    "access token"},
}
UNAUTHORIZED = {"message": "401 Unauthorized"}


def base_values(w, pattern):
    """The subject of a route under /projects/:id or /groups/:id: mx/app or mx."""
    if pattern.startswith(V4 + "/projects/:id"):
        return {":id": str(w.pid)}
    if pattern.startswith(V4 + "/groups/:id"):
        return {":id": str(w.gid)}
    return {}


def cases(method, pattern):
    want, prepare = MATRIX[(method, pattern)]
    return list(want.items()), prepare


def test_every_rest_route_is_in_the_matrix(routes):
    listed = set(routes)
    assert len(listed) == len(routes), "a route is listed twice"
    missing = listed - set(MATRIX)
    assert not missing, f"REST routes without a row in the matrix: {sorted(missing)}"
    stale = set(MATRIX) - listed
    assert not stale, f"matrix rows for REST routes that do not exist: {sorted(stale)}"


@pytest.mark.parametrize("method,pattern", sorted(MATRIX))
def test_rest_matrix(depot, mx, method, pattern):
    want_by_case, prepare = cases(method, pattern)
    current = {}

    def subject(make):
        if "v" not in current:
            current["v"] = make()
        return current["v"]

    wrong = []
    for case, want in want_by_case:
        req = prepare(mx, case, subject)
        values = {**base_values(mx, pattern), **req.get("values", {})}
        path = "/".join(values[s] if s.startswith(":") else s for s in pattern.split("/"))
        kwargs = {"json": req["body"]} if "body" in req else {}
        r = requests.request(method, depot.url + path, headers=mx.headers(case, req.get("token")),
                             timeout=30, **kwargs)
        if r.status_code < 300:
            current.clear()  # a success may have used the subject up: the next case gets another
        body = r.json() if r.headers.get("Content-Type", "").startswith("application/json") \
            else r.text
        if r.status_code != want:
            wrong.append(f"{case}: {r.status_code} (want {want}) {r.text[:160]}")
        elif want == 401 and body != UNAUTHORIZED:
            wrong.append(f"{case}: 401 with {body!r} (want {UNAUTHORIZED})")
        elif (method, pattern, want) in BODIES and body != BODIES[(method, pattern, want)]:
            wrong.append(f"{case}: {want} with {body!r} "
                         f"(want {BODIES[(method, pattern, want)]})")
    assert not wrong, f"{method} {pattern}:\n" + "\n".join(wrong)
