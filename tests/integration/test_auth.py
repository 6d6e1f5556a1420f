"""The authentication and authorization matrix of gitlab-behaviour.md sections 2.1-2.4:
every credential kind and carrier, every role, visibility and token state, for uploads
and downloads, with GitLab's exact status codes and bodies."""
import base64

import pytest
import requests

from conftest import generic_path, unique

REALM = 'Basic realm="GitLab Packages Registry"'


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# name -> function(world) -> headers
CREDS = {
    "anonymous": lambda w: {},
    "admin": lambda w: {"PRIVATE-TOKEN": w.pat["admin"]},
    "owner": lambda w: {"PRIVATE-TOKEN": w.pat["owner"]},
    "maint": lambda w: {"PRIVATE-TOKEN": w.pat["maint"]},
    "dev": lambda w: {"PRIVATE-TOKEN": w.pat["dev"]},
    "reporter": lambda w: {"PRIVATE-TOKEN": w.pat["reporter"]},
    "guest": lambda w: {"PRIVATE-TOKEN": w.pat["guest"]},
    "outsider": lambda w: {"PRIVATE-TOKEN": w.pat["outsider"]},
    "dev-bearer": lambda w: {"Authorization": "Bearer " + w.pat["dev"]},
    "dev-basic": lambda w: basic("anything", w.pat["dev"]),
    "dev-query": lambda w: {"__query": "private_token=" + w.pat["dev"]},
    "read-api": lambda w: {"PRIVATE-TOKEN": w.pat_read_api},
    "expired": lambda w: {"PRIVATE-TOKEN": w.pat_expired},
    "revoked": lambda w: {"PRIVATE-TOKEN": w.pat_revoked},
    "expired-basic": lambda w: basic("dev", w.pat_expired),
    "bad-private": lambda w: {"PRIVATE-TOKEN": "glpat-doesnotexist"},
    "bad-job": lambda w: {"JOB-TOKEN": "glcbt-doesnotexist"},
    "bad-deploy": lambda w: {"DEPLOY-TOKEN": "gldt-doesnotexist"},
    "bad-basic": lambda w: basic("someone", "not-a-token"),
    "bad-bearer": lambda w: {"Authorization": "Bearer nope"},
    "pat-as-deploy": lambda w: {"DEPLOY-TOKEN": w.pat["dev"]},
    "deploy-as-private": lambda w: {"PRIVATE-TOKEN": w.deploy_ro},
    "project-token": lambda w: {"PRIVATE-TOKEN": w.project_token["token"]},
    "project-token-basic": lambda w: basic(w.project_token["username"], w.project_token["token"]),
    "project-token-guest": lambda w: {"PRIVATE-TOKEN": w.project_token_guest},
    "deploy-rw": lambda w: {"DEPLOY-TOKEN": w.deploy_rw["token"]},
    "deploy-rw-basic": lambda w: basic(w.deploy_rw["username"], w.deploy_rw["token"]),
    "deploy-rw-bearer": lambda w: {"Authorization": "Bearer " + w.deploy_rw["token"]},
    "deploy-ro": lambda w: {"DEPLOY-TOKEN": w.deploy_ro},
    "deploy-wo": lambda w: {"DEPLOY-TOKEN": w.deploy_wo},
    "deploy-group": lambda w: {"DEPLOY-TOKEN": w.deploy_group},
    "deploy-pub": lambda w: {"DEPLOY-TOKEN": w.deploy_pub},
    "job": lambda w: {"JOB-TOKEN": w.job_dev},
    "job-basic": lambda w: basic("gitlab-ci-token", w.job_dev),
    "job-bearer": lambda w: {"Authorization": "Bearer " + w.job_dev},
    "job-query": lambda w: {"__query": "job_token=" + w.job_dev},
    "job-basic-wrong-user": lambda w: basic("someone", w.job_dev),
}

# (credential, project, expected upload status)
UPLOAD = [
    ("anonymous", "acme/app", 401),
    ("admin", "acme/app", 201),
    ("owner", "acme/app", 201),
    ("maint", "acme/app", 201),
    ("dev", "acme/app", 201),
    ("dev-bearer", "acme/app", 201),
    ("dev-basic", "acme/app", 201),
    ("dev-query", "acme/app", 201),
    ("reporter", "acme/app", 403),
    ("guest", "acme/app", 403),
    ("outsider", "acme/app", 404),
    ("read-api", "acme/app", 403),
    ("expired", "acme/app", 401),
    ("revoked", "acme/app", 401),
    ("expired-basic", "acme/app", 401),
    ("bad-private", "acme/app", 401),
    ("bad-job", "acme/app", 401),
    ("bad-deploy", "acme/app", 401),
    ("bad-basic", "acme/app", 401),
    ("bad-bearer", "acme/app", 401),
    ("pat-as-deploy", "acme/app", 401),
    ("deploy-as-private", "acme/app", 401),
    ("project-token", "acme/app", 201),
    ("project-token-basic", "acme/app", 201),
    ("project-token", "acme/other", 404),
    ("project-token-guest", "acme/app", 403),
    ("deploy-rw", "acme/app", 201),
    ("deploy-rw-basic", "acme/app", 201),
    ("deploy-rw-bearer", "acme/app", 201),
    ("deploy-ro", "acme/app", 403),
    ("deploy-wo", "acme/app", 201),
    ("deploy-rw", "acme/other", 404),
    ("deploy-group", "acme/app", 201),
    ("deploy-group", "acme/sub/lib", 201),
    ("deploy-group", "pub/open", 403),
    ("deploy-pub", "acme/app", 404),
    ("job", "acme/app", 201),
    ("job-basic", "acme/app", 201),
    ("job-bearer", "acme/app", 201),
    ("job-query", "acme/app", 201),
    ("job-basic-wrong-user", "acme/app", 401),
    ("job", "acme/other", 404),
    ("job", "pub/open", 403),
    ("dev", "acme/sub/lib", 201),
    ("guest", "acme/sub/lib", 403),
    ("outsider", "acme/sub/lib", 404),
    ("anonymous", "pub/open", 401),
    ("outsider", "pub/open", 403),
    ("dev", "pub/open", 201),
    ("outsider", "acme/internal", 403),
    ("anonymous", "acme/internal", 401),
    ("admin", "acme/internal", 201),
]

# (credential, project, expected download status)
DOWNLOAD = [
    ("anonymous", "acme/app", 401),
    ("admin", "acme/app", 200),
    ("dev", "acme/app", 200),
    ("reporter", "acme/app", 200),
    ("guest", "acme/app", 200),
    ("outsider", "acme/app", 404),
    ("read-api", "acme/app", 200),
    ("expired", "acme/app", 401),
    ("revoked", "acme/app", 401),
    ("bad-private", "acme/app", 401),
    ("bad-job", "acme/app", 401),
    ("bad-deploy", "acme/app", 401),
    ("bad-basic", "acme/app", 401),
    ("project-token", "acme/app", 200),
    ("project-token-guest", "acme/app", 200),
    ("deploy-rw", "acme/app", 200),
    ("deploy-ro", "acme/app", 200),
    ("deploy-wo", "acme/app", 200),
    ("deploy-rw-basic", "acme/app", 200),
    ("deploy-pub", "acme/app", 404),
    ("deploy-group", "acme/sub/lib", 200),
    ("job", "acme/app", 200),
    ("job-basic", "acme/app", 200),
    ("job", "acme/other", 404),
    ("anonymous", "pub/open", 200),
    ("outsider", "pub/open", 200),
    ("bad-basic", "pub/open", 200),
    ("bad-deploy", "pub/open", 200),
    ("bad-private", "pub/open", 401),
    ("bad-job", "pub/open", 401),
    ("job", "pub/open", 200),
    ("anonymous", "acme/internal", 401),
    ("outsider", "acme/internal", 200),
    ("deploy-rw", "acme/internal", 404),
]


def request(depot, world, method, cred, project, name, data=None):
    headers = dict(CREDS[cred](world))
    query = headers.pop("__query", None)
    url = depot.api(generic_path(world.pid(project), name, "1.0.0", "file.bin"))
    if query:
        url += "?" + query
    return requests.request(method, url, headers=headers, data=data)


def assert_failure_body(resp, status):
    assert resp.headers["Content-Type"] == "application/json"
    body = resp.json()
    if status == 401:
        assert resp.headers.get("WWW-Authenticate") == REALM
        assert body in ({"message": "401 Unauthorized"},
                        {"error": "invalid_token", "error_description":
                         "Token is expired. You can either do re-authorization or token refresh."},
                        {"error": "invalid_token", "error_description":
                         "Token was revoked. You have to re-authorize from the user."})
    elif status == 403:
        assert body.get("message") == "403 Forbidden" or body.get("error") == "insufficient_scope"
    elif status == 404:
        assert body == {"message": "404 Not Found"}


@pytest.mark.parametrize("cred,project,status", UPLOAD, ids=[f"{c}@{p}" for c, p, _ in UPLOAD])
def test_upload_matrix(depot, world, cred, project, status):
    name = unique()
    before = depot.query("SELECT COUNT(*) FROM package_files")[0][0]
    resp = request(depot, world, "PUT", cred, project, name, data=b"payload " + name.encode())
    assert resp.status_code == status, resp.text
    after = depot.query("SELECT COUNT(*) FROM package_files")[0][0]
    if status == 201:
        assert resp.json() == {"message": "201 Created"}
        assert after == before + 1
        got = requests.get(depot.api(generic_path(world.pid(project), name, "1.0.0", "file.bin")),
                           headers={"PRIVATE-TOKEN": world.pat["admin"]})
        assert got.content == b"payload " + name.encode()
    else:
        assert_failure_body(resp, status)
        assert after == before


@pytest.fixture(scope="module")
def published(depot, world):
    """One file in each project, uploaded by the admin."""
    name = unique("dl")
    for path in world.projects:
        url = depot.api(generic_path(world.pid(path), name, "1.0.0", "file.bin"))
        r = requests.put(url, data=path.encode(), headers={"PRIVATE-TOKEN": world.pat["admin"]})
        assert r.status_code == 201
    return name


@pytest.mark.parametrize("cred,project,status", DOWNLOAD,
                         ids=[f"{c}@{p}" for c, p, _ in DOWNLOAD])
def test_download_matrix(depot, world, published, cred, project, status):
    resp = request(depot, world, "GET", cred, project, published)
    assert resp.status_code == status, resp.text
    if status == 200:
        assert resp.content == project.encode()
    else:
        assert_failure_body(resp, status)


def test_insufficient_scope_body(depot, world):
    resp = request(depot, world, "PUT", "read-api", "acme/app", unique(), data=b"x")
    assert resp.status_code == 403
    assert resp.json()["error"] == "insufficient_scope"


def test_expired_and_revoked_bodies(depot, world):
    r = request(depot, world, "GET", "expired", "acme/app", "x")
    assert r.json()["error_description"].startswith("Token is expired")
    r = request(depot, world, "GET", "revoked", "acme/app", "x")
    assert r.json()["error_description"].startswith("Token was revoked")


def test_job_token_expires(depot, world):
    job = depot.cli("token", "create", "job", "--project", "acme/app", "--user", "dev",
                    "--ttl", "1").stdout.strip()
    url = depot.api(generic_path(world.pid("acme/app"), unique(), "1.0.0", "f.bin"))
    assert requests.put(url, data=b"a", headers={"JOB-TOKEN": job}).status_code == 201
    import time
    time.sleep(1.2)
    r = requests.put(url, data=b"a", headers={"JOB-TOKEN": job})
    assert r.status_code == 401
    assert r.json() == {"message": "401 Unauthorized"}


def test_deploy_token_expired_is_anonymous(depot, world):
    tok = depot.cli("token", "create", "deploy", "--project", "pub/open", "--scopes",
                    "read_package_registry,write_package_registry",
                    "--expires", "2021-05-01").stdout.strip()
    url = depot.api(generic_path(world.pid("pub/open"), unique(), "1.0.0", "f.bin"))
    r = requests.put(url, data=b"a", headers={"DEPLOY-TOKEN": tok})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == REALM


def test_project_by_url_encoded_path(depot, world):
    name = unique()
    url = depot.api(f"/projects/acme%2Fsub%2Flib/packages/generic/{name}/1.0.0/f.bin")
    r = requests.put(url, data=b"by path", headers={"PRIVATE-TOKEN": world.pat["dev"]})
    assert r.status_code == 201
    url2 = depot.api(generic_path(world.pid("acme/sub/lib"), name, "1.0.0", "f.bin"))
    assert requests.get(url2, headers={"PRIVATE-TOKEN": world.pat["dev"]}).content == b"by path"


@pytest.mark.parametrize("ref", ["999999", "abc", "acme%2Fnope", "-1"])
def test_unknown_project(depot, world, ref):
    url = depot.api(f"/projects/{ref}/packages/generic/p/1.0.0/f.bin")
    r = requests.put(url, data=b"x", headers={"PRIVATE-TOKEN": world.pat["dev"]})
    assert (r.status_code, r.json()) == (404, {"message": "404 Not Found"})
    r = requests.get(url)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == REALM


def test_current_user(depot, world):
    r = requests.get(depot.api("/user"), headers={"PRIVATE-TOKEN": world.pat["dev"]})
    assert r.status_code == 200
    # GitLab's UserPublic: is_admin is only there for administrators (UserWithAdmin)
    assert r.json()["username"] == "dev" and "is_admin" not in r.json()
    assert r.json()["web_url"] == depot.url + "/dev"
    assert requests.get(depot.api("/user"),
                        headers={"PRIVATE-TOKEN": world.pat["admin"]}).json()["is_admin"] is True
    assert requests.get(depot.api("/user")).status_code == 401
    assert requests.get(depot.api("/user"),
                        headers={"DEPLOY-TOKEN": world.deploy_ro}).status_code == 401
    assert requests.get(depot.api("/user"),
                        headers={"PRIVATE-TOKEN": "glpat-nope"}).status_code == 401
