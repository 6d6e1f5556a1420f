"""Version selectors (issue 14): `@latest` and npm-style ranges in place of a version, for
file downloads, the `files` listing and archives. The issue's table of versions, each
selector with the version it must choose, the answer's headers (X-Package-Version,
Content-Location, ETag of the chosen file, Cache-Control, Vary), conditional requests,
hidden versions never chosen, and bad selectors refused without a change."""
import hashlib
from urllib.parse import quote

import pytest
import requests

from conftest import generic_path, unique

# Uploaded in this order (creation time breaks ties of equal precedence).
VERSIONS = ["1.2.0", "1.10.0", "2.0.0-rc.1", "1.2.0+build", "nightly-2024-01-01"]

# selector -> the version chosen (None: no version matches)
TABLE = [
    ("latest", "1.10.0"),
    ("^1.2", "1.10.0"),
    ("~1.2.0", "1.2.0+build"),  # 1.2.0 and 1.2.0+build rank equal: the newer upload
    ("~1.10", "1.10.0"),
    ("1.x", "1.10.0"),
    ("1.2.x", "1.2.0+build"),
    ("1.2.0", "1.2.0+build"),
    (">=2.0.0 <3", None),  # 2.0.0-rc.1 ranks below 2.0.0
    (">=2.0.0-rc.0 <3", "2.0.0-rc.1"),
    ("^2.0.0-rc", "2.0.0-rc.1"),
    ("<1.10", "1.2.0+build"),
    ("*", "1.10.0"),
    ("1.2 - 1.4", "1.2.0+build"),
    ("^0.1 || ^1.9", "1.10.0"),
    ("^3", None),
]

VARY = "Authorization, PRIVATE-TOKEN, JOB-TOKEN, DEPLOY-TOKEN"
NOT_FOUND = {"message": "404 Package Not Found"}
BAD_VERSION = {"error": "package_version is invalid"}


def content(version):
    return f"content of {version}\n".encode()


@pytest.fixture(scope="module")
def pkg(depot, world):
    h = {"PRIVATE-TOKEN": world.pat["dev"]}
    pid = world.pid("acme/app")
    name = unique("sel")
    for v in VERSIONS:
        r = requests.put(depot.api(generic_path(pid, name, v, "bin/tool.txt")), data=content(v),
                         headers=h)
        assert r.status_code == 201, r.text
    # a hidden version above all of them: never chosen
    r = requests.put(depot.api(generic_path(pid, name, "9.0.0", "bin/tool.txt")) + "?status=hidden",
                     data=content("9.0.0"), headers=h)
    assert r.status_code == 201, r.text
    # the same name in another project, and another name here, are never candidates
    other = world.pid("acme/other")
    r = requests.put(depot.api(generic_path(other, name, "8.0.0", "bin/tool.txt")),
                     data=b"other", headers={"PRIVATE-TOKEN": world.pat["admin"]})
    assert r.status_code == 201, r.text
    r = requests.put(depot.api(generic_path(pid, name + "-x", "7.0.0", "bin/tool.txt")),
                     data=b"x", headers=h)
    assert r.status_code == 201, r.text
    return {"pid": pid, "name": name, "h": h,
            "base": depot.api(f"/projects/{pid}/packages/generic/{name}")}


def url(pkg, selector, rest):
    return f"{pkg['base']}/@{quote(selector, safe='')}/{rest}"


@pytest.mark.parametrize("selector,chosen", TABLE)
def test_download_chooses(depot, pkg, selector, chosen):
    r = requests.get(url(pkg, selector, "bin/tool.txt"), headers=pkg["h"])
    if chosen is None:
        assert (r.status_code, r.json()) == (404, NOT_FOUND)
        return
    assert r.status_code == 200, r.text
    assert r.content == content(chosen)
    assert r.headers["X-Package-Version"] == chosen
    assert r.headers["Content-Location"] == \
        f"/api/v4/projects/{pkg['pid']}/packages/generic/{pkg['name']}/{chosen}/bin/tool.txt"
    assert r.headers["ETag"] == '"' + hashlib.sha256(content(chosen)).hexdigest() + '"'
    assert r.headers["Cache-Control"] == "private, no-cache"
    assert r.headers["Vary"] == VARY
    # the concrete URL serves the same bytes, without the selector's headers
    c = requests.get(depot.url + r.headers["Content-Location"], headers=pkg["h"])
    assert c.status_code == 200 and c.content == r.content
    assert "X-Package-Version" not in c.headers


@pytest.mark.parametrize("selector,chosen", TABLE)
def test_files_listing_chooses(pkg, selector, chosen):
    r = requests.get(url(pkg, selector, "files"), headers=pkg["h"])
    if chosen is None:
        assert (r.status_code, r.json()) == (404, NOT_FOUND)
        return
    assert r.status_code == 200
    assert [(f["file_name"], f["file_sha256"]) for f in r.json()] == \
        [("bin/tool.txt", hashlib.sha256(content(chosen)).hexdigest())]
    assert r.headers["X-Package-Version"] == chosen
    assert r.headers["Content-Location"].endswith(f"/{pkg['name']}/{chosen}/files")


def test_paged_listing_has_the_headers(pkg):
    r = requests.get(url(pkg, "latest", "files") + "?per_page=1", headers=pkg["h"])
    assert r.status_code == 200
    assert r.headers["X-Total"] == "1" and r.headers["X-Package-Version"] == "1.10.0"
    assert len(r.json()) == 1


def test_literal_at_and_encoded_at_are_the_same(pkg):
    for sel in ("@latest", "%40latest"):
        r = requests.get(f"{pkg['base']}/{sel}/bin/tool.txt", headers=pkg["h"])
        assert r.status_code == 200 and r.headers["X-Package-Version"] == "1.10.0"


def test_conditional_get_revalidates(pkg):
    r = requests.get(url(pkg, "latest", "bin/tool.txt"), headers=pkg["h"])
    again = requests.get(url(pkg, "latest", "bin/tool.txt"),
                         headers={**pkg["h"], "If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["X-Package-Version"] == "1.10.0"
    assert again.headers["ETag"] == r.headers["ETag"]
    assert again.headers["Vary"] == VARY
    stale = requests.get(url(pkg, "latest", "bin/tool.txt"),
                         headers={**pkg["h"], "If-None-Match": '"0000"'})
    assert stale.status_code == 200 and stale.content == content("1.10.0")


def test_head_and_range(pkg):
    r = requests.head(url(pkg, "^1", "bin/tool.txt"), headers=pkg["h"])
    assert r.status_code == 200 and r.headers["X-Package-Version"] == "1.10.0"
    r = requests.get(url(pkg, "^1", "bin/tool.txt"), headers={**pkg["h"], "Range": "bytes=0-6"})
    assert r.status_code == 206 and r.content == b"content"
    assert r.headers["X-Package-Version"] == "1.10.0"


def test_hidden_version_is_never_chosen_but_stays_reachable(pkg):
    r = requests.get(url(pkg, ">=9", "bin/tool.txt"), headers=pkg["h"])
    assert (r.status_code, r.json()) == (404, NOT_FOUND)
    r = requests.get(f"{pkg['base']}/9.0.0/bin/tool.txt", headers=pkg["h"])
    assert r.status_code == 200 and r.content == content("9.0.0")


def test_missing_file_in_the_chosen_version(pkg):
    r = requests.get(url(pkg, "latest", "nope.txt"), headers=pkg["h"])
    assert (r.status_code, r.json()) == (404, {"message": "404 Not found"})


def test_unknown_package_name(depot, world, pkg):
    r = requests.get(depot.api(f"/projects/{pkg['pid']}/packages/generic/{unique('none')}"
                               "/@latest/files"), headers=pkg["h"])
    assert (r.status_code, r.json()) == (404, NOT_FOUND)


@pytest.mark.parametrize("selector", ["", "latest2", "LATEST", "1.2.3.4", "^", "a.b", "1.x.3",
                                      ">=>=1", "^1 ||", "nightly-2024-01-01"])
def test_bad_selector_is_400(pkg, selector):
    r = requests.get(url(pkg, selector, "bin/tool.txt"), headers=pkg["h"])
    assert (r.status_code, r.json()) == (400, BAD_VERSION)


def test_selectors_never_name_a_version_to_write(depot, pkg):
    before = depot.query("SELECT COUNT(*) FROM package_files")[0][0]
    r = requests.put(url(pkg, "latest", "new.txt"), data=b"x", headers=pkg["h"])
    assert (r.status_code, r.json()) == (400, BAD_VERSION)
    r = requests.delete(url(pkg, "latest", "bin/tool.txt"), headers=pkg["h"])
    assert (r.status_code, r.json()) == (400, BAD_VERSION)
    r = requests.delete(f"{pkg['base']}/@latest", headers=pkg["h"])
    assert (r.status_code, r.json()) == (400, BAD_VERSION)
    r = requests.post(f"{pkg['base']}/@latest/@publish", headers=pkg["h"])
    assert (r.status_code, r.json()) == (400, BAD_VERSION)
    assert depot.query("SELECT COUNT(*) FROM package_files")[0][0] == before
    assert depot.query("SELECT COUNT(*) FROM packages WHERE project_id = ? AND name = ?"
                       " AND status = 0", pkg["pid"], pkg["name"])[0][0] == len(VERSIONS)


def test_selectors_follow_download_authorization(depot, world, pkg):
    r = requests.get(url(pkg, "latest", "bin/tool.txt"))
    assert r.status_code == 401
    r = requests.get(url(pkg, "latest", "bin/tool.txt"),
                     headers={"PRIVATE-TOKEN": world.pat["outsider"]})
    assert (r.status_code, r.json()) == (404, {"message": "404 Not Found"})
    r = requests.get(url(pkg, "latest", "bin/tool.txt"),
                     headers={"DEPLOY-TOKEN": world.deploy_rw["token"]})
    assert r.status_code == 200 and r.headers["X-Package-Version"] == "1.10.0"


def test_latest_moves_when_a_version_is_published(depot, world):
    h = {"PRIVATE-TOKEN": world.pat["dev"]}
    pid = world.pid("acme/app")
    name = unique("move")
    base = depot.api(f"/projects/{pid}/packages/generic/{name}")
    for v in ("nightly-1", "nightly-2"):
        assert requests.put(f"{base}/{v}/a.txt", data=v.encode(), headers=h).status_code == 201
    r = requests.get(f"{base}/@latest/a.txt", headers=h)
    assert r.headers["X-Package-Version"] == "nightly-2" and r.content == b"nightly-2"
    assert requests.put(f"{base}/0.1.0-alpha/a.txt", data=b"a", headers=h).status_code == 201
    assert requests.get(f"{base}/@latest/a.txt", headers=h).headers["X-Package-Version"] == \
        "0.1.0-alpha"
    assert requests.put(f"{base}/0.0.1/a.txt", data=b"r", headers=h).status_code == 201
    assert requests.get(f"{base}/@latest/a.txt", headers=h).headers["X-Package-Version"] == \
        "0.0.1"
    # a deleted version is no candidate
    assert requests.delete(f"{base}/0.0.1", headers={"PRIVATE-TOKEN": world.pat["maint"]}) \
        .status_code == 204
    assert requests.get(f"{base}/@latest/a.txt", headers=h).headers["X-Package-Version"] == \
        "0.1.0-alpha"
