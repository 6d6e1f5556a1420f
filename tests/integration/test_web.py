"""The web interface (issue 13): the page shell at GitLab's URL shapes, the compiled-in
assets, signing in with a personal access token (an HttpOnly, SameSite=Strict cookie bound to
the token), CSRF on cookie-authenticated changes; then the pages themselves in Debian's
Chromium (tests/browser/run.mjs: playwright-core and axe-core), one browser for every
scenario."""
import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest
import requests

from conftest import (NODES_MODE, PG_MODE, S3_MODE, Depot, World, generic_path, sha256)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BROWSER_DIR = os.path.join(ROOT, "tests", "browser")
CSP = "default-src 'self'; object-src 'none'; frame-ancestors 'self'"


@pytest.fixture(scope="module")
def key_dir():
    with tempfile.TemporaryDirectory(prefix="depot-web-key-") as d:
        yield d


@pytest.fixture(scope="module")
def depot(key_dir):
    # one key file for every node (in nodes mode each has its own data folder)
    d = Depot().start("--session-key-file", os.path.join(key_dir, "session.key"))
    yield d
    d.close()


@pytest.fixture(scope="module")
def world(depot):
    return World(depot)


def sign_in(depot, token):
    s = requests.Session()
    r = s.post(depot.url + "/-/sign_in", json={"token": token})
    assert r.status_code == 200, r.text
    return s, r


def test_pages_answer_the_shell_at_gitlab_shapes(depot):
    for path in ["/", "/-/sign_in", "/-/sign_out", "/acme", "/acme/sub", "/acme/app/",
                 "/acme/-/packages", "/acme/app/-/packages", "/acme/sub/lib/-/packages/12",
                 "/acme/app/-/settings/packages"]:
        r = requests.get(depot.url + path)
        assert r.status_code == 200, path
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        assert r.headers["Content-Security-Policy"] == CSP
        assert r.headers["Cache-Control"] == "no-cache"
        assert "<script" in r.text and "<script>" not in r.text  # no inline script
        assert re.search(r'<script type="module" src="/-/assets/[0-9a-f]{16}/app\.js">', r.text)


def test_unknown_pages_are_html_404_and_the_api_keeps_json(depot):
    for path in ["/acme/-/issues", "/acme/app/-/packages/x", "/-/nothing", "/acme//app"]:
        r = requests.get(depot.url + path)
        assert r.status_code == 404, path
        assert r.headers["Content-Type"].startswith("text/html"), path
    for path in ["/api/v4/nothing", "/api/v4/projects/1/unknown", "/api"]:
        r = requests.get(depot.url + path)
        assert r.status_code == 404
        assert r.json() == {"error": "404 Not Found"}
    # other methods than GET know no pages either
    r = requests.post(depot.url + "/acme/app/-/packages")
    assert r.status_code == 404 and r.json() == {"error": "404 Not Found"}


def assets_prefix(depot):
    return re.search(r'/-/assets/[0-9a-f]{16}', requests.get(depot.url + "/").text).group(0)


def test_assets_are_content_hashed_and_cached_for_long(depot):
    prefix = assets_prefix(depot)
    for name, ctype in [("app.js", "text/javascript; charset=utf-8"),
                        ("dom.js", "text/javascript; charset=utf-8"),
                        ("style.css", "text/css; charset=utf-8"),
                        ("favicon.svg", "image/svg+xml")]:
        r = requests.get(depot.url + f"{prefix}/{name}")
        assert r.status_code == 200, name
        assert r.headers["Content-Type"] == ctype
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert r.content == open(os.path.join(ROOT, "web", name), "rb").read()
    # another hash (a page from before an upgrade), an unknown file: 404, not cached
    for path in ["/-/assets/0000000000000000/app.js", f"{prefix}/nothing.js", f"{prefix}/index.html"]:
        r = requests.get(depot.url + path)
        assert r.status_code == 404 and r.headers["Cache-Control"] == "no-store"


def test_sign_in_sets_a_cookie_bound_to_the_token(depot, world):
    s, r = sign_in(depot, world.pat["maint"])
    cookie = r.headers["Set-Cookie"]
    assert re.fullmatch(r"depot_session=\d+\.\d+\.[0-9a-f]{64}; Path=/; Max-Age=604800; "
                        r"HttpOnly; SameSite=Strict", cookie), cookie
    assert world.pat["maint"] not in cookie  # the secret never goes into the cookie
    body = r.json()
    assert body["signed_in"] is True and body["user"]["username"] == "maint"
    assert re.fullmatch(r"[0-9a-f]{64}", body["csrf_token"])
    assert s.get(depot.url + "/-/session").json() == body
    assert s.get(depot.api("/user")).json()["username"] == "maint"
    # the session reads private projects as its user does
    pid = world.pid("acme/app")
    assert s.get(depot.api(f"/projects/{pid}/packages")).status_code == 200
    assert requests.get(depot.api(f"/projects/{pid}/packages")).status_code == 404


def test_sign_in_refusals(depot, world):
    url = depot.url + "/-/sign_in"
    for token in ["glpat-nothing", world.pat_revoked, world.pat_expired,
                  world.project_token["token"], world.deploy_ro, world.job_dev]:
        r = requests.post(url, json={"token": token})
        assert r.status_code == 401, token
        assert r.json() == {"message": "401 Unauthorized"}
        assert "Set-Cookie" not in r.headers
    r = requests.post(url, json={})
    assert r.status_code == 400 and r.json() == {"error": "token is missing"}
    # a form (what another site could make a browser send) is refused
    r = requests.post(url, data={"token": world.pat["maint"]})
    assert r.status_code == 415 and "Set-Cookie" not in r.headers
    assert requests.get(depot.url + "/-/session").json() == {"signed_in": False}


def test_changes_with_the_cookie_need_the_csrf_token(depot, world):
    s, r = sign_in(depot, world.pat["maint"])
    csrf = r.json()["csrf_token"]
    pid = world.pid("acme/app")
    rules = f"/projects/{pid}/packages/protection/rules"
    before = depot.query("SELECT COUNT(*) FROM package_protection_rules")
    body = {"package_name_pattern": "csrf-*", "minimum_access_level_for_push": "maintainer"}
    for headers in [{}, {"X-CSRF-Token": "0" * 64}, {"X-CSRF-Token": csrf[:-1]}]:
        r = s.post(depot.api(rules), json=body, headers=headers)
        assert r.status_code == 403, headers
        assert r.json() == {"message": "403 Forbidden - invalid CSRF token"}
    assert depot.query("SELECT COUNT(*) FROM package_protection_rules") == before
    # a file upload and a delete alike
    r = s.put(depot.api(generic_path(pid, "csrf", "1.0", "f.txt")), data=b"x")
    assert r.status_code == 403
    assert depot.query("SELECT COUNT(*) FROM packages WHERE name = 'csrf'") == [(0,)]
    r = s.post(depot.api(rules), json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    # another session's token does not fit this one
    s2, r2 = sign_in(depot, world.pat["maint"])
    if r2.json()["csrf_token"] != csrf:
        r = s.delete(depot.api(f"{rules}/{r.json()['id']}"),
                     headers={"X-CSRF-Token": r2.json()["csrf_token"]})
        assert r.status_code == 403
    # a token presented as a header needs no CSRF token: it is no cookie
    r = requests.post(depot.api(rules), headers={"PRIVATE-TOKEN": world.pat["maint"]},
                      json={"package_name_pattern": "hdr-*",
                            "minimum_access_level_for_push": "maintainer"})
    assert r.status_code == 201


def test_revoking_the_token_ends_the_session(depot, world):
    made = json.loads(depot.cli("token", "create", "personal", "--user", "dev", "--scopes", "api",
                                "--json").stdout)
    s, _ = sign_in(depot, made["token"])
    assert s.get(depot.api("/user")).status_code == 200
    depot.cli("token", "revoke", str(made["id"]))
    r = s.get(depot.api("/user"))
    assert r.status_code == 401
    assert r.json()["error_description"].startswith("Token was revoked")
    r = s.get(depot.url + "/-/session")
    assert r.status_code == 401
    assert r.json() == {"signed_in": False, "message": "401 Unauthorized - your session has ended"}
    assert r.headers["Set-Cookie"].startswith("depot_session=; Path=/; Max-Age=0;")


def test_a_forged_or_tampered_cookie_is_refused(depot, world):
    s, r = sign_in(depot, world.pat["maint"])
    value = s.cookies["depot_session"]
    tid, issued, mac = value.split(".")
    other = json.loads(depot.cli("token", "create", "personal", "--user", "admin", "--scopes",
                                 "api", "--json").stdout)["id"]
    for forged in [f"{other}.{issued}.{mac}", f"{tid}.{int(issued) - 1}.{mac}",
                   f"{tid}.{issued}.{'0' * 64}", "1.2.3", "x" * 500]:
        r = requests.get(depot.api("/user"), cookies={"depot_session": forged})
        assert r.status_code == 401, forged
    # and a session older than a week
    r = requests.get(depot.api("/user"), cookies={"depot_session": f"{tid}.1000.{mac}"})
    assert r.status_code == 401


def test_sign_out_clears_the_cookie_and_needs_csrf(depot, world):
    s, r = sign_in(depot, world.pat["maint"])
    csrf = r.json()["csrf_token"]
    r = s.post(depot.url + "/-/sign_out")
    assert r.status_code == 403  # another site cannot sign a visitor out
    assert s.get(depot.url + "/-/session").json()["signed_in"] is True
    r = s.post(depot.url + "/-/sign_out", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json() == {"signed_in": False}
    assert r.headers["Set-Cookie"] == ("depot_session=; Path=/; Max-Age=0; HttpOnly; "
                                       "SameSite=Strict")
    assert s.get(depot.url + "/-/session").json() == {"signed_in": False}


def test_signing_out_ends_the_session_on_the_server(depot, world):
    """A copy of the cookie (another tab's, or a stolen one) stops working once its session
    signs out: sign-out ends every session of that token signed in until then, and a new
    sign-in works at once."""
    s, r = sign_in(depot, world.pat["maint"])
    other, _ = sign_in(depot, world.pat["maint"])  # the same token in another browser
    copy = dict(s.cookies)
    assert requests.get(depot.api("/user"), cookies=copy).status_code == 200
    r = s.post(depot.url + "/-/sign_out", headers={"X-CSRF-Token": r.json()["csrf_token"]})
    assert r.status_code == 200
    for cookies in (copy, dict(other.cookies)):
        r = requests.get(depot.url + "/-/session", cookies=cookies)
        assert (r.status_code, r.json()) == (401, {"signed_in": False, "message":
                                                   "401 Unauthorized - your session has ended"})
        assert requests.get(depot.api("/user"), cookies=cookies).status_code == 401
    again, r = sign_in(depot, world.pat["maint"])
    assert again.get(depot.url + "/-/session").json()["signed_in"] is True
    assert again.get(depot.api("/user")).json()["username"] == "maint"


def test_the_cookie_is_secure_behind_https(depot, world):
    d = Depot().start("--external-url", "https://depot.example.com")
    try:
        r = requests.post(d.url + "/-/sign_in", json={"token": "glpat-x"})
        assert r.status_code == 401
        tok = d.cli("user", "create", "u") and d.cli(
            "token", "create", "personal", "--user", "u", "--scopes", "api").stdout.strip()
        r = requests.post(d.url + "/-/sign_in", json={"token": tok})
        assert r.headers["Set-Cookie"].endswith("; HttpOnly; SameSite=Strict; Secure")
        assert os.path.getsize(os.path.join(d.data, "session.key")) == 32
        assert oct(os.stat(os.path.join(d.data, "session.key")).st_mode & 0o777) == "0o600"
    finally:
        d.close()


# ---- the pages in a real browser ----

HOSTILE = '"><img src=x onerror="window.__pwned=1">'


def upload(depot, token, pid, name, version, file_name, data):
    r = requests.put(depot.api(generic_path(pid, name, version, file_name)), data=data,
                     headers={"PRIVATE-TOKEN": token})
    assert r.status_code == 201, r.text


def browser_world(depot, world):
    """Packages to browse, and names made to break a page that inserts them as markup."""
    admin, maint = world.pat["admin"], world.pat["maint"]
    pub, app = world.pid("pub/open"), world.pid("acme/app")
    tool = os.urandom(3000) + b"tool"
    upload(depot, admin, pub, "tool", "1.0.0", "README.txt", b"read me\n")
    upload(depot, admin, pub, "tool", "1.0.0", "bin/linux/tool", tool)
    upload(depot, admin, pub, "tool", "1.1.0", "README.txt", b"read me too\n")
    upload(depot, admin, pub, "other-lib", "2.0.0", "lib.tar.gz", b"lib" * 100)
    nested = os.urandom(5000)
    upload(depot, maint, app, "app", "1.0.0", "a.txt", b"file a\n")
    upload(depot, maint, app, "app", "1.0.0", "dir/sub/b.bin", nested)
    upload(depot, maint, app, "app", "2.0.0", "c.txt", b"file c\n")
    upload(depot, maint, app, "app-extra", "0.1.0", "x.txt", b"x\n")
    app_total = 7 + len(nested) + 7 + 2  # the project page's total: every live file's bytes
    # hostile: a group's and a project's names and descriptions, a directory name
    h = {"PRIVATE-TOKEN": admin}
    r = requests.post(depot.api("/groups"), headers=h, json={
        "name": "evil", "path": "evil", "visibility": "public",
        "description": HOSTILE + " javascript:alert(1)"})
    assert r.status_code == 201, r.text
    r = requests.post(depot.api("/projects"), headers=h, json={
        "name": "evil project", "path": "evilproj", "namespace_id": r.json()["id"],
        "visibility": "public", "description": "<script>window.__pwned=2</script>"})
    assert r.status_code == 201, r.text
    evil = r.json()["id"]
    upload(depot, admin, evil, "evil", "1.0.0", f"{HOSTILE}/javascript-alert.txt", b"evil")
    evil_pkg = depot.query("SELECT id FROM packages WHERE project_id = ? AND name = 'evil'",
                           evil)[0][0]

    def pkg_id(pid, name, version):
        return depot.query("SELECT id FROM packages WHERE project_id = ? AND name = ? AND "
                           "version = ?", pid, name, version)[0][0]
    # the audit log is written about every second: the version page names the uploader
    deadline = time.monotonic() + 10
    while depot.query("SELECT COUNT(*) FROM audit_log WHERE action = 'upload' AND"
                      " project_id = ? AND package = 'app'", app) != [(3,)]:
        assert time.monotonic() < deadline, "upload events not written"
        time.sleep(0.1)
    revocable = json.loads(depot.cli("token", "create", "personal", "--user", "maint",
                                     "--scopes", "api", "--json").stdout)
    return {
        "url": depot.url,
        "tokens": {"maint": maint, "dev": world.pat["dev"], "admin": admin,
                   "revocable": revocable["token"]},
        "pub": {"path": "pub/open", "id": pub, "tool_100": pkg_id(pub, "tool", "1.0.0"),
                "tool_sha256": sha256(tool), "tool_b64": base64.b64encode(tool).decode()},
        "app": {"path": "acme/app", "id": app, "app_100": pkg_id(app, "app", "1.0.0"),
                "app_200": pkg_id(app, "app", "2.0.0"), "nested_sha256": sha256(nested),
                "nested_b64": base64.b64encode(nested).decode(), "total": app_total,
                "total_text": f"{app_total / 1024:.1f} KiB"},
        "evil": {"group": "evil", "path": "evil/evilproj", "package": evil_pkg,
                 "dir": HOSTILE},
        # the README's picture is refreshed on request only (DEPOT_SCREENSHOT=docs/ui-package.png),
        # so that a test run leaves the checkout as it was
        "screenshot": os.environ.get("DEPOT_SCREENSHOT") or
        os.path.join(tempfile.mkdtemp(prefix="depot-shot-"), "ui-package.png"),
    }


def npm_ci():
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR, check=True,
                       timeout=300)


@pytest.mark.skipif(PG_MODE or S3_MODE or NODES_MODE,
                    reason="the pages read the JSON API, whichever the stores: one browser run "
                           "per make test pass over SQLite is enough")
@pytest.mark.skipif(not shutil.which("chromium") or not shutil.which("node"),
                    reason="needs Debian's chromium and nodejs (make test-deps)")
def test_pages_in_chromium(depot, world):
    fixture = browser_world(depot, world)
    npm_ci()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(fixture, f)
    try:
        res = subprocess.run(["node", os.path.join(BROWSER_DIR, "run.mjs"), f.name],
                             capture_output=True, text=True, timeout=240)
    finally:
        os.unlink(f.name)
    print(res.stdout)
    assert res.returncode == 0, res.stdout + res.stderr
    with open(fixture["screenshot"], "rb") as shot:  # the package page, as Chromium drew it
        assert shot.read(8) == b"\x89PNG\r\n\x1a\n"
    # what the maintainer deleted in the browser is gone from the store
    app = fixture["app"]
    assert depot.query("SELECT status FROM packages WHERE id = ?", app["app_100"]) != [(0,)]
    r = requests.get(depot.api(f"/projects/{app['id']}/packages/{app['app_100']}"),
                     headers={"PRIVATE-TOKEN": world.pat["maint"]})
    assert r.status_code == 404
    r = requests.get(depot.api(f"/projects/{app['id']}/packages/{app['app_200']}"),
                     headers={"PRIVATE-TOKEN": world.pat["maint"]})
    assert r.status_code == 200  # the developer's forged delete changed nothing
