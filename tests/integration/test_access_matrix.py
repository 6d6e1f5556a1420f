"""Every route x every kind of credential: the status each caller gets, so that no endpoint can
forget a rule. The routes come from the binary itself (`depot routes`), and a route without a
row here fails the test.

Rules the table encodes (docs/SECURITY.md, "Authorization"):
- a CI job token acts as its user in its own project only; on any other project and on every
  group it is an anonymous caller (who is known, so 404/403 rather than 401 on a project);
- inside its project a job token may use the package endpoints as its user's role allows, but
  never the package settings (protection rules, cleanup policy, duplicate settings): 403;
- deploy tokens are accepted by the generic endpoints only (upload, download, listing); the
  Packages API and the policies treat them as anonymous;
- anonymous callers may only read (401 for anything else)."""
import json
import uuid

import pytest
import requests

from conftest import generic_path, unique

# Credentials: (header, token attribute of the world or of the extra tokens below).
CREDS = {
    "anon": None,
    "maint": ("PRIVATE-TOKEN", lambda w, x: w.pat["maint"]),
    "dev": ("PRIVATE-TOKEN", lambda w, x: w.pat["dev"]),
    "owner": ("PRIVATE-TOKEN", lambda w, x: w.pat["owner"]),
    "outsider": ("PRIVATE-TOKEN", lambda w, x: w.pat["outsider"]),
    "admin": ("PRIVATE-TOKEN", lambda w, x: w.pat["admin"]),
    "ptok": ("PRIVATE-TOKEN", lambda w, x: w.project_token["token"]),  # acme/app, developer
    "deploy": ("DEPLOY-TOKEN", lambda w, x: w.deploy_rw["token"]),  # acme/app, read+write
    "gdeploy": ("DEPLOY-TOKEN", lambda w, x: w.deploy_group),  # group acme, read+write
    "job": ("JOB-TOKEN", lambda w, x: w.job_dev),  # acme/app, user dev (developer)
    "jobm": ("JOB-TOKEN", lambda w, x: x["jobm"]),  # acme/app, user maint (maintainer)
    "jobo": ("JOB-TOKEN", lambda w, x: x["jobo"]),  # acme/app, user owner (owns group acme)
    "joba": ("JOB-TOKEN", lambda w, x: x["joba"]),  # acme/app, user admin (an admin)
}

# Subjects: projects and groups of the world.
PROJECTS = {"app": "acme/app", "other": "acme/other", "pub": "pub/open"}
GROUPS = {"acme": "acme", "pub": "pub"}

# The cases every project route is tried with, and the statuses in this order.
PROJECT_CASES = ("anon@app anon@pub maint@app dev@app outsider@app outsider@pub admin@other "
                 "ptok@app ptok@other deploy@app deploy@other gdeploy@app job@app job@other "
                 "job@pub jobm@app jobm@other joba@app joba@other").split()
GROUP_CASES = ("anon@acme anon@pub owner@acme maint@acme outsider@acme admin@acme ptok@acme "
               "deploy@acme gdeploy@acme job@acme job@pub jobo@acme joba@acme joba@pub").split()
USER_CASES = "anon@- maint@- ptok@- deploy@- gdeploy@- job@- joba@-".split()


def row(statuses, cases):
    codes = [int(s) for s in statuses.split()]
    assert len(codes) == len(cases), (statuses, cases)
    return dict(zip(cases, codes))


# Statuses, in PROJECT_CASES order:
#        anon    maint dev out out  adm ptok    deploy  gdp  job         jobm    joba
#        app pub app   app app pub  oth app oth app oth app  app oth pub app oth app oth
READ_PKG = "401 200 200 200 404 200 200 200 404 200 404 200 200 404 200 200 404 200 404"
UPLOAD = "401 401 201 201 404 403 201 201 404 201 404 201 201 404 403 201 404 201 404"
# @publish: the uploaders publish (the fixture's version is default already: 200, idempotent).
PUBLISH = UPLOAD.replace("201", "200")
DESTROY = "401 401 204 403 404 403 204 403 404 401 401 401 403 404 403 204 404 204 404"
# The Packages API: deploy tokens are anonymous there; unknown projects 404 for all.
API_READ = "404 200 200 200 404 200 200 200 404 404 404 404 200 404 200 200 404 200 404"
API_DESTROY = DESTROY
# Package settings: maintainers and admins through their own tokens; never a job token.
SET_READ = "404 403 200 403 404 403 200 403 404 404 404 404 403 404 403 403 404 403 404"
SET_CREATE = "401 401 201 403 404 403 201 403 404 401 401 401 403 404 403 403 404 403 404"
SET_CHANGE = "401 401 200 403 404 403 200 403 404 401 401 401 403 404 403 403 404 403 404"
SET_DELETE = "401 401 204 403 404 403 204 403 404 401 401 401 403 404 403 403 404 403 404"

# In GROUP_CASES order:
#           anon    own mnt out adm ptok dep gdp job     jobo joba
#           acm pub acm acm acm acm acm  acm acm acm pub acm  acm pub
GROUP_READ = "404 200 200 200 404 200 404 404 404 404 200 404 404 200"
GROUP_ADMIN = "401 401 200 403 404 200 404 401 401 404 403 404 404 403"

MATRIX = {
    # probes answer everyone, whatever they present
    ("GET", "/-/health"): row("200 200 200 200 200 200 200", USER_CASES),
    ("GET", "/-/readiness"): row("200 200 200 200 200 200 200", USER_CASES),
    # loopback (the suite's client) reads the metrics, whatever it presents
    ("GET", "/-/metrics"): row("200 200 200 200 200 200 200", USER_CASES),
    ("GET", "/api/v4/user"): row("401 200 200 401 401 200 200", USER_CASES),
    ("GET", "/api/v4/groups/:id/packages/settings"): row(GROUP_READ, GROUP_CASES),
    ("PUT", "/api/v4/groups/:id/packages/settings"): row(GROUP_ADMIN, GROUP_CASES),
    ("GET", "/api/v4/groups/:id/packages"): row(GROUP_READ, GROUP_CASES),
    ("GET", "/api/v4/projects/:id/packages/protection/rules"): row(SET_READ, PROJECT_CASES),
    ("POST", "/api/v4/projects/:id/packages/protection/rules"): row(SET_CREATE, PROJECT_CASES),
    ("PATCH", "/api/v4/projects/:id/packages/protection/rules/:rule_id"):
        row(SET_CHANGE, PROJECT_CASES),
    ("DELETE", "/api/v4/projects/:id/packages/protection/rules/:rule_id"):
        row(SET_DELETE, PROJECT_CASES),
    ("GET", "/api/v4/projects/:id/packages/cleanup_policy"): row(SET_READ, PROJECT_CASES),
    ("PUT", "/api/v4/projects/:id/packages/cleanup_policy"): row(SET_CHANGE, PROJECT_CASES),
    ("GET", "/api/v4/projects/:id/packages/generic/:name/:version/@archive.zip"):
        row(READ_PKG, PROJECT_CASES),
    ("GET", "/api/v4/projects/:id/packages/generic/:name/:version/@archive.tar.gz"):
        row(READ_PKG, PROJECT_CASES),
    ("GET", "/api/v4/projects/:id/packages/generic/:name/:version/@archive.tar"):
        row(READ_PKG, PROJECT_CASES),
    ("POST", "/api/v4/projects/:id/packages/generic/:name/:version/@publish"):
        row(PUBLISH, PROJECT_CASES),
    ("GET", "/api/v4/projects/:id/packages/generic/:name/:version/files"):
        row(READ_PKG, PROJECT_CASES),
    ("GET", "/api/v4/projects/:id/packages/generic/:name/:version/*file"):
        row(READ_PKG, PROJECT_CASES),
    ("PUT", "/api/v4/projects/:id/packages/generic/:name/:version/*file"):
        row(UPLOAD, PROJECT_CASES),
    ("DELETE", "/api/v4/projects/:id/packages/generic/:name/:version"):
        row(DESTROY, PROJECT_CASES),
    ("DELETE", "/api/v4/projects/:id/packages/generic/:name/:version/*file"):
        row(DESTROY, PROJECT_CASES),
    ("GET", "/api/v4/projects/:id/packages"): row(API_READ, PROJECT_CASES),
    ("GET", "/api/v4/projects/:id/packages/:package_id"): row(API_READ, PROJECT_CASES),
    ("DELETE", "/api/v4/projects/:id/packages/:package_id"): row(API_DESTROY, PROJECT_CASES),
    ("GET", "/api/v4/projects/:id/packages/:package_id/package_files"):
        row(API_READ, PROJECT_CASES),
    ("DELETE", "/api/v4/projects/:id/packages/:package_id/package_files/:file_id"):
        row(API_DESTROY, PROJECT_CASES),
    ("GET", "/api/v4/projects/:id/packages/:package_id/package_files/:file_id/download"):
        row(API_READ, PROJECT_CASES),
}

BODIES = {
    "/api/v4/groups/:id/packages/settings": {"generic_duplicates_allowed": True},
    "/api/v4/projects/:id/packages/protection/rules":
        lambda: {"package_name_pattern": f"new-{uuid.uuid4().hex[:8]}-*",
                 "minimum_access_level_for_push": "maintainer"},
    "/api/v4/projects/:id/packages/protection/rules/:rule_id":
        {"minimum_access_level_for_delete": "owner"},
    "/api/v4/projects/:id/packages/cleanup_policy": {"keep_n_duplicated_package_files": "all"},
}


@pytest.fixture(scope="module")
def routes(depot):
    """The package routes: the REST resources' (marked "rest") are test_rest_matrix.py's,
    the web interface's (marked "web": pages, assets, sign-in) test_web.py's."""
    out = depot.cli("routes").stdout.split("\n")
    return [tuple(line.split(" ")[:2]) for line in out
            if line and not line.endswith(" rest") and not line.endswith(" web")]


@pytest.fixture(scope="module")
def extra(depot, world):
    def job(user):
        return json.loads(depot.cli("token", "create", "job", "--project", "acme/app", "--user",
                                    user, "--json").stdout)["token"]
    return {"jobm": job("maint"), "jobo": job("owner"), "joba": job("admin")}


def test_every_route_is_in_the_matrix(routes):
    listed = set(routes)
    assert len(listed) == len(routes), "a route is listed twice"
    missing = listed - set(MATRIX)
    assert not missing, f"routes without a row in the access matrix: {sorted(missing)}"
    stale = set(MATRIX) - listed
    assert not stale, f"matrix rows for routes that do not exist: {sorted(stale)}"


def fixture_in(depot, world, project):
    """A fresh package (one file) and protection rule in the project, made by an admin, so
    that deletes which succeed never take another case's objects."""
    admin = {"PRIVATE-TOKEN": world.pat["admin"]}
    pid = world.pid(project)
    name = unique("mx")
    r = requests.put(depot.api(generic_path(pid, name, "1.0", "f.txt")), data=b"matrix",
                     headers=admin)
    assert r.status_code == 201, r.text
    pkg_id, file_id = depot.query(
        "SELECT p.id, f.id FROM packages p JOIN package_files f ON f.package_id = p.id"
        " WHERE p.project_id = ? AND p.name = ?", pid, name)[0]
    r = requests.post(depot.api(f"/projects/{pid}/packages/protection/rules"), headers=admin,
                      json={"package_name_pattern": f"rule-{uuid.uuid4().hex[:8]}-*",
                            "minimum_access_level_for_push": "owner"})
    assert r.status_code == 201, r.text
    return {":id": str(pid), ":name": name, ":version": "1.0", "*file": "f.txt",
            ":package_id": str(pkg_id), ":file_id": str(file_id), ":rule_id": str(r.json()["id"])}


def request_for(depot, world, extra, method, pattern, case):
    cred, subject = case.split("@")
    if pattern.startswith("/api/v4/projects/"):
        values = fixture_in(depot, world, PROJECTS[subject])
        if method == "PUT" and "/generic/" in pattern:
            values[":name"] = unique("mxup")
    elif pattern.startswith("/api/v4/groups/"):
        values = {":id": GROUPS[subject]}
    else:
        values = {}
    path = "/".join(values.get(seg, seg) for seg in pattern.split("/"))
    headers = {}
    if CREDS[cred]:
        header, token = CREDS[cred]
        headers[header] = token(world, extra)
    body = BODIES.get(pattern)
    kwargs = {}
    if method == "PUT" and "/generic/" in pattern:
        kwargs["data"] = b"uploaded by the matrix"
    elif body is not None and method in ("PUT", "POST", "PATCH"):
        kwargs["json"] = body() if callable(body) else body
    return requests.request(method, depot.url + path, headers=headers, timeout=30, **kwargs)


@pytest.mark.parametrize("method,pattern", sorted(MATRIX))
def test_access_matrix(depot, world, extra, method, pattern):
    wrong = []
    for case, want in MATRIX[(method, pattern)].items():
        r = request_for(depot, world, extra, method, pattern, case)
        if r.status_code != want:
            wrong.append(f"{case}: {r.status_code} (want {want}) {r.text[:120]}")
    assert not wrong, f"{method} {pattern}:\n" + "\n".join(wrong)
