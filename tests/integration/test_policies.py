"""Publishing policies (gitlab-behaviour.md 4.10, 6, 8): GitLab's duplicate matrix with the
exception regex, user regexes that cannot stall a request, protection rules for push and
delete at every level and for deploy tokens, cleanup policies with before/after listings,
dry runs, concurrent publishing, and settings that survive a restart."""
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import Depot, World, generic_path, unique

DUP = {"message": "400 Bad request - Duplicate package is not allowed"}
PROTECTED = {"message": "403 Forbidden - Package protected."}
DELETE_PROTECTED = {"message": "403 Forbidden - Package is deletion protected."}


def hdr(world, user="dev"):
    return {"PRIVATE-TOKEN": world.pat[user]}


def upload(depot, world, project, name, version, f, body=b"x", user="dev", headers=None):
    url = depot.api(generic_path(world.pid(project), name, version, f))
    return requests.put(url, data=body, headers=headers or hdr(world, user))


def files_named(depot, name):
    return depot.query("SELECT COUNT(*) FROM package_files f JOIN packages p"
                       " ON p.id = f.package_id WHERE p.name = ? AND f.status = 0", name)[0][0]


def set_settings(depot, group, allowed, regex):
    depot.cli("settings", "set", "--group", group, f"generic_duplicates_allowed={allowed}",
              f"generic_duplicate_exception_regex={regex}")


# (duplicates allowed, exception regex, name ({u}: unique), version, second upload allowed?)
MATRIX = [
    ("true", "", "pkg-{u}", "1.0", True),
    ("false", "", "pkg-{u}", "1.0", False),
    ("true", "pkg-.*", "pkg-{u}", "1.0", False),         # regex matches the name: forbidden
    ("true", "1\\.0", "n{u}", "1.0", False),            # regex matches the version
    ("true", "other", "n{u}", "1.0", True),              # matches nothing
    ("true", "pkg", "pkg-{u}", "1.0", True),             # anchored: a prefix is no match
    ("false", "pkg-.*", "pkg-{u}", "1.0", True),         # disallowed, name excepted
    ("false", ".*-SNAPSHOT", "n{u}", "2.0-SNAPSHOT", True),  # version excepted
    ("false", "other", "n{u}", "1.0", False),
    ("false", "1", "n{u}", "1.0", False),                # anchored on the version too
]


@pytest.mark.parametrize("allowed,regex,name,version,ok", MATRIX)
def test_duplicate_matrix(depot, world, allowed, regex, name, version, ok):
    set_settings(depot, "acme", allowed, regex)
    name = name.format(u=unique("")[1:])
    assert upload(depot, world, "acme/app", name, version, "f.bin", b"one").status_code == 201
    second = upload(depot, world, "acme/app", name, version, "f.bin", b"two")
    if ok:
        assert second.status_code == 201
        assert files_named(depot, name) == 2
    else:
        assert (second.status_code, second.json()) == (400, DUP)
        assert files_named(depot, name) == 1
        got = requests.get(depot.api(generic_path(world.pid("acme/app"), name, version, "f.bin")),
                           headers=hdr(world))
        assert got.content == b"one"
    # another file name in the same version is never a duplicate
    assert upload(depot, world, "acme/app", name, version, "g.bin", b"3").status_code == 201
    set_settings(depot, "acme", "true", "")


def test_duplicate_of_a_deleted_file_is_allowed(depot, world):
    set_settings(depot, "acme", "false", "")
    name = unique()
    assert upload(depot, world, "acme/app", name, "1.0", "f").status_code == 201
    assert upload(depot, world, "acme/app", name, "1.0", "f").status_code == 400
    url = depot.api(f"/projects/{world.pid('acme/app')}/packages/generic/{name}/1.0/f")
    requests.put(depot.api(generic_path(world.pid("acme/app"), name, "1.0", "g")), data=b"g",
                 headers=hdr(world))
    assert requests.delete(url, headers=hdr(world, "maint")).status_code == 204
    assert upload(depot, world, "acme/app", name, "1.0", "f", b"again").status_code == 201
    set_settings(depot, "acme", "true", "")


def test_direct_group_setting_applies(depot, world):
    """acme/sub/lib follows acme/sub's settings, not acme's."""
    set_settings(depot, "acme", "false", "")
    name = unique()
    assert upload(depot, world, "acme/sub/lib", name, "1.0", "f").status_code == 201
    assert upload(depot, world, "acme/sub/lib", name, "1.0", "f").status_code == 201
    set_settings(depot, "acme/sub", "false", "")
    assert upload(depot, world, "acme/sub/lib", name, "1.0", "f").json() == DUP
    set_settings(depot, "acme", "true", "")
    set_settings(depot, "acme/sub", "true", "")


def test_invalid_and_pathological_regex(depot, world):
    r = depot.cli("settings", "set", "--group", "acme", "generic_duplicate_exception_regex=(",
                  check=False)
    assert r.returncode != 0 and r.stdout == "" and len(r.stderr.splitlines()) == 1
    r = depot.cli("settings", "set", "--group", "acme",
                  "generic_duplicate_exception_regex=" + "a" * 256, check=False)
    assert r.returncode != 0
    url = depot.api("/groups/acme/packages/settings")
    r = requests.put(url, json={"generic_duplicate_exception_regex": "(a"},
                     headers=hdr(world, "owner"))
    assert r.status_code == 400
    assert r.json()["error"].startswith("generic_duplicate_exception_regex is invalid")
    # catastrophic backtracking for a backtracking engine; bounded here
    evil = "(a+)+$b|(a|aa)*c"
    assert requests.put(url, json={"generic_duplicate_exception_regex": evil},
                        headers=hdr(world, "owner")).status_code == 200
    name = "a" * 200
    t = time.monotonic()
    r = upload(depot, world, "acme/app", name, "a" * 200, "f")
    assert r.status_code == 201
    assert time.monotonic() - t < 1.0
    set_settings(depot, "acme", "true", "")


def test_settings_rest_permissions_and_restart(world):
    d = Depot().start()
    try:
        w = World(d)
        url = d.api("/groups/acme/packages/settings")
        assert requests.get(url, headers=hdr(w, "guest")).json() == \
            {"generic_duplicates_allowed": True, "generic_duplicate_exception_regex": ""}
        body = {"generic_duplicates_allowed": False, "generic_duplicate_exception_regex": "nightly-.*"}
        assert requests.put(url, json=body, headers=hdr(w, "maint")).status_code == 403
        assert requests.put(url, json=body).status_code == 401
        assert requests.get(url, headers=hdr(w, "outsider")).status_code == 404
        r = requests.put(url, json=body, headers=hdr(w, "owner"))
        assert (r.status_code, r.json()) == (200, body)
        assert requests.put(url, json={"generic_duplicates_allowed": "no"},
                            headers=hdr(w, "admin")).json() == \
            {"error": "generic_duplicates_allowed is invalid"}
        d.stop()
        d.start()
        url = d.api("/groups/acme/packages/settings")  # a restart binds a new port
        assert requests.get(url, headers=hdr(w, "dev")).json() == body
        assert json.loads(d.cli("settings", "show", "--group", "acme").stdout) == body
        # the setting works after the restart
        name = unique()
        assert upload(d, w, "acme/app", name, "1.0", "f").status_code == 201
        assert upload(d, w, "acme/app", name, "1.0", "f").json() == DUP
        assert upload(d, w, "acme/app", "nightly-" + name, "1.0", "f").status_code == 201
        assert upload(d, w, "acme/app", "nightly-" + name, "1.0", "f").status_code == 201
        # protection rules and cleanup policies survive too
        d.cli("protection", "add", "--project", "acme/app", "--pattern", "kept-*", "--push", "owner")
        d.cli("cleanup-policy", "set", "--project", "acme/app", "--keep-n-versions", "3")
        d.stop()
        d.start()
        rules = requests.get(d.api(f"/projects/{w.pid('acme/app')}/packages/protection/rules"),
                             headers=hdr(w, "maint")).json()
        assert [r["package_name_pattern"] for r in rules] == ["kept-*"]
        pol = requests.get(d.api(f"/projects/{w.pid('acme/app')}/packages/cleanup_policy"),
                           headers=hdr(w, "maint")).json()
        assert pol["keep_n_versions"] == 3
    finally:
        d.close()


@pytest.fixture()
def rules(depot, world):
    """Removes the module's protection rules after each test."""
    yield
    for r in json.loads(depot.cli("protection", "list", "--project", "acme/app").stdout):
        depot.cli("protection", "remove", "--project", "acme/app", str(r["id"]))


# (push minimum, caller, allowed?)
PUSH = [("maintainer", "dev", False), ("maintainer", "maint", True), ("owner", "maint", False),
        ("owner", "owner", True), ("admin", "owner", False), ("admin", "admin", True)]


@pytest.mark.parametrize("level,user,ok", PUSH)
def test_push_protection(depot, world, rules, level, user, ok):
    out = depot.cli("protection", "add", "--project", "acme/app", "--pattern", "prot-*",
                    "--push", level).stdout
    assert out.strip().isdigit()
    name = "PROT-" + unique("")[1:]  # the pattern matches case-insensitively
    before = files_named(depot, name)
    r = upload(depot, world, "acme/app", name, "1.0", "f", user=user)
    if ok:
        assert r.status_code == 201
    else:
        assert (r.status_code, r.json()) == (403, PROTECTED)
        assert files_named(depot, name) == before
    # names the pattern does not match are not protected
    assert upload(depot, world, "acme/app", "free-" + unique(), "1.0", "f").status_code == 201


def test_deploy_tokens_blocked_by_any_rule(depot, world, rules):
    depot.cli("protection", "add", "--project", "acme/app", "--pattern", "dp*",
              "--push", "maintainer")
    r = upload(depot, world, "acme/app", "dp-" + unique(), "1.0", "f",
               headers={"DEPLOY-TOKEN": world.deploy_rw["token"]})
    assert (r.status_code, r.json()) == (403, PROTECTED)
    assert upload(depot, world, "acme/app", "other-" + unique(), "1.0", "f",
                  headers={"DEPLOY-TOKEN": world.deploy_rw["token"]}).status_code == 201


@pytest.mark.parametrize("level,user,ok", [("owner", "maint", False), ("owner", "owner", True),
                                           ("admin", "owner", False), ("admin", "admin", True)])
def test_delete_protection(depot, world, rules, level, user, ok):
    depot.cli("protection", "add", "--project", "acme/app", "--pattern", "del-*", "--delete", level)
    name = "del-" + unique()
    assert upload(depot, world, "acme/app", name, "1.0", "f").status_code == 201
    (pkg,), = depot.query("SELECT id FROM packages WHERE name = ?", name)
    pid = world.pid("acme/app")
    urls = [depot.api(f"/projects/{pid}/packages/generic/{name}/1.0/f"),
            depot.api(f"/projects/{pid}/packages/generic/{name}/1.0"),
            depot.api(f"/projects/{pid}/packages/{pkg}")]
    if ok:
        # the file by name (the version goes with it), then nothing is left to delete
        assert [requests.delete(u, headers=hdr(world, user)).status_code for u in urls] == \
            [204, 404, 404]
        assert depot.query("SELECT status FROM packages WHERE id = ?", pkg) == [(4,)]
    else:
        for url in urls:
            r = requests.delete(url, headers=hdr(world, user))
            assert (r.status_code, r.json()) == (403, DELETE_PROTECTED)
        assert depot.query("SELECT status FROM packages WHERE id = ?", pkg) == [(0,)]


def test_protection_rules_rest(depot, world, rules):
    base = depot.api(f"/projects/{world.pid('acme/app')}/packages/protection/rules")
    rule = {"package_name_pattern": "rest-*", "package_type": "generic",
            "minimum_access_level_for_push": "maintainer",
            "minimum_access_level_for_delete": None}
    assert requests.post(base, json=rule, headers=hdr(world, "dev")).status_code == 403
    assert requests.post(base, json=rule).status_code == 401
    r = requests.post(base, json=rule, headers=hdr(world, "maint"))
    assert r.status_code == 201
    created = r.json()
    assert {k: created[k] for k in rule} == rule
    assert requests.post(base, json=rule, headers=hdr(world, "maint")).status_code == 422
    bad = dict(rule, minimum_access_level_for_push="developer")
    assert requests.post(base, json=bad, headers=hdr(world, "maint")).json() == \
        {"error": "minimum_access_level_for_push does not have a valid value"}
    bad = dict(rule, minimum_access_level_for_push=None)
    assert requests.post(base, json=bad, headers=hdr(world, "maint")).status_code == 400
    listed = requests.get(base, headers=hdr(world, "maint"))
    assert [x["id"] for x in listed.json()] == [created["id"]]
    assert listed.headers["X-Total"] == "1"
    r = requests.patch(f"{base}/{created['id']}", headers=hdr(world, "maint"),
                       json={"minimum_access_level_for_delete": "owner"})
    assert r.status_code == 200 and r.json()["minimum_access_level_for_delete"] == "owner"
    assert upload(depot, world, "acme/app", "rest-" + unique(), "1.0", "f").json() == PROTECTED
    assert requests.delete(f"{base}/{created['id']}", headers=hdr(world, "maint")).status_code == 204
    assert requests.delete(f"{base}/{created['id']}", headers=hdr(world, "maint")).status_code == 404
    assert upload(depot, world, "acme/app", "rest-" + unique(), "1.0", "f").status_code == 201


def names_versions(depot, project_id):
    return sorted(depot.query("SELECT name, version FROM packages WHERE project_id = ?"
                              " AND status != 4", project_id))


@pytest.fixture()
def cleanup_project(depot, world):
    path = "acme/" + unique("clean")
    pid = int(depot.cli("project", "create", path).stdout)
    world.projects[path] = pid
    return path, pid


def run_cleanup(depot, path, dry=False):
    out = depot.cli("cleanup", "run", "--project", path, *(["--dry-run"] if dry else [])).stdout
    return out.splitlines()


def test_cleanup_keep_n_duplicated_files(depot, world, cleanup_project):
    path, pid = cleanup_project
    for i in range(4):
        upload(depot, world, path, "dup", "1.0", "f.bin", str(i).encode())
    upload(depot, world, path, "dup", "1.0", "single.bin", b"s")
    depot.cli("cleanup-policy", "set", "--project", path, "--keep-n-duplicated-package-files", "1")
    before = depot.query("SELECT COUNT(*) FROM package_files f JOIN packages p ON p.id ="
                         " f.package_id WHERE p.project_id = ? AND f.status = 0", pid)
    dry = run_cleanup(depot, path, dry=True)
    assert len(dry) == 3 and all(l.startswith("would remove file " + path) for l in dry)
    assert all(l.endswith("by keep_n_duplicated_package_files=1") for l in dry)
    assert depot.query("SELECT COUNT(*) FROM package_files f JOIN packages p ON p.id ="
                       " f.package_id WHERE p.project_id = ? AND f.status = 0", pid) == before
    lines = run_cleanup(depot, path)
    assert [l.replace("removed", "would remove", 1) for l in lines] == dry
    url = depot.api(generic_path(pid, "dup", "1.0", "f.bin"))
    assert requests.get(url, headers=hdr(world)).content == b"3"
    listing = requests.get(depot.api(generic_path(pid, "dup", "1.0", "files")), headers=hdr(world))
    assert sorted(f["file_name"] for f in listing.json()) == ["f.bin", "single.bin"]
    assert depot.query("SELECT COUNT(*) FROM package_files f JOIN packages p ON p.id ="
                       " f.package_id WHERE p.project_id = ? AND f.status = 0", pid) == [(2,)]
    assert run_cleanup(depot, path) == []


def test_cleanup_removals_are_logged_with_their_rule(depot, world, cleanup_project):
    path, pid = cleanup_project
    upload(depot, world, path, "logged", "1.0", "f", b"a")
    upload(depot, world, path, "logged", "1.0", "f", b"b")
    depot.cli("cleanup-policy", "set", "--project", path, "--keep-n-duplicated-package-files", "1")
    res = depot.cli("cleanup", "run", "--project", path)
    assert "depot: cleanup removed file " + path + " logged/1.0/f" in res.stderr
    assert "by keep_n_duplicated_package_files=1" in res.stderr


def backdate(depot, pid, name, version, days, field="created_at"):
    ms = int((time.time() - days * 86400) * 1000)
    depot.query(f"UPDATE packages SET {field} = ? WHERE project_id = ? AND name = ?"
                " AND version = ?", ms, pid, name, version)


def test_cleanup_keep_n_versions_with_keep_regex(depot, world, cleanup_project):
    path, pid = cleanup_project
    for i, v in enumerate(["1.0", "release-1", "1.1", "1.2", "1.3"]):
        upload(depot, world, path, "app", v, "f")
        backdate(depot, pid, "app", v, 10 - i)
    upload(depot, world, path, "other", "0.1", "f")
    depot.cli("cleanup-policy", "set", "--project", path, "--keep-n-versions", "2",
              "--keep-regex", "release-.*")
    lines = run_cleanup(depot, path)
    assert len(lines) == 2
    assert all("by keep_n_versions=2" in l and l.startswith("removed version " + path) for l in lines)
    assert names_versions(depot, pid) == [("app", "1.2"), ("app", "1.3"), ("app", "release-1"),
                                          ("other", "0.1")]
    assert requests.get(depot.api(generic_path(pid, "app", "1.0", "f")),
                        headers=hdr(world)).status_code == 404


def test_cleanup_older_than_days(depot, world, cleanup_project):
    path, pid = cleanup_project
    for v, age in [("old", 40), ("new", 1), ("release-old", 90)]:
        upload(depot, world, path, "app", v, "f")
        backdate(depot, pid, "app", v, age)
    depot.cli("cleanup-policy", "set", "--project", path, "--older-than-days", "30",
              "--keep-regex", "release-.*")
    dry = run_cleanup(depot, path, dry=True)
    assert len(dry) == 1 and dry[0].startswith(f"would remove version {path} app/old ")
    assert names_versions(depot, pid) == [("app", "new"), ("app", "old"), ("app", "release-old")]
    lines = run_cleanup(depot, path)
    assert len(lines) == 1 and "app/old" in lines[0] and lines[0].endswith("by older_than_days=30")
    assert names_versions(depot, pid) == [("app", "new"), ("app", "release-old")]


def test_cleanup_not_downloaded_days(depot, world, cleanup_project):
    path, pid = cleanup_project
    for v in ["used", "unused", "never"]:
        upload(depot, world, path, "app", v, "f")
        backdate(depot, pid, "app", v, 20)
    requests.get(depot.api(generic_path(pid, "app", "used", "f")), headers=hdr(world))
    depot.wait_downloaded("app", "used")
    backdate(depot, pid, "app", "unused", 15, field="last_downloaded_at")
    depot.cli("cleanup-policy", "set", "--project", path, "--not-downloaded-days", "7")
    lines = run_cleanup(depot, path)
    assert sorted(l.split()[3] for l in lines) == ["app/never", "app/unused"]
    assert all(l.endswith("by not_downloaded_days=7") for l in lines)
    assert names_versions(depot, pid) == [("app", "used")]


def test_cleanup_policy_cli_and_rest(depot, world, cleanup_project):
    path, pid = cleanup_project
    show = json.loads(depot.cli("cleanup-policy", "show", "--project", path).stdout)
    assert show == {"keep_n_duplicated_package_files": "all", "keep_n_versions": None,
                    "older_than_days": None, "not_downloaded_days": None, "keep_regex": ""}
    for bad in [["--keep-n-duplicated-package-files", "5"], ["--keep-n-versions", "-1"],
                ["--keep-regex", "(("], ["--older-than-days", "x"]]:
        r = depot.cli("cleanup-policy", "set", "--project", path, *bad, check=False)
        assert r.returncode != 0 and len(r.stderr.splitlines()) == 1
    url = depot.api(f"/projects/{pid}/packages/cleanup_policy")
    assert requests.put(url, json={"keep_n_versions": 2}, headers=hdr(world)).status_code == 403
    r = requests.put(url, json={"keep_n_duplicated_package_files": "10", "older_than_days": 30},
                     headers=hdr(world, "maint"))
    assert r.status_code == 200
    assert r.json()["keep_n_duplicated_package_files"] == "10"
    assert requests.put(url, json={"keep_n_duplicated_package_files": "7"},
                        headers=hdr(world, "maint")).json() == \
        {"error": "keep_n_duplicated_package_files is invalid"}
    shown = json.loads(depot.cli("cleanup-policy", "show", "--project", path).stdout)
    assert (shown["keep_n_duplicated_package_files"], shown["older_than_days"]) == ("10", 30)


def test_cleanup_deletes_then_gc_frees(depot, world, cleanup_project):
    path, pid = cleanup_project
    import os
    body = os.urandom(100000)
    upload(depot, world, path, "app", "old", "f", body)
    backdate(depot, pid, "app", "old", 100)
    depot.cli("cleanup-policy", "set", "--project", path, "--older-than-days", "30")
    assert len(run_cleanup(depot, path)) == 1
    assert depot.stored_copies(body)[0] != []
    depot.cli("gc")
    assert depot.stored_copies(body) == ([], 0)


def test_scheduled_cleanup(world):
    d = Depot()
    try:
        d.start("--cleanup-interval", "1", "--gc-interval", "1")
        w = World(d)
        pid = w.pid("acme/app")
        upload(d, w, "acme/app", "sched", "old", "f")
        backdate(d, pid, "sched", "old", 50)
        d.cli("cleanup-policy", "set", "--project", "acme/app", "--older-than-days", "30")
        deadline = time.time() + 10
        while time.time() < deadline and names_versions(d, pid) != []:
            time.sleep(0.2)
        assert names_versions(d, pid) == []
        assert "by older_than_days=30" in d.server_log()
    finally:
        d.close()


@pytest.mark.parametrize("allowed", ["false", "true"])
def test_concurrent_uploads_to_a_new_version(depot, world, allowed):
    set_settings(depot, "acme", allowed, "")
    session_pool = [requests.Session() for _ in range(32)]
    try:
        for rnd in range(20):
            name = unique("race")
            barrier = threading.Barrier(32)

            def go(i):
                f = "same.bin" if allowed == "false" else f"f{i}.bin"
                url = depot.api(generic_path(world.pid("acme/app"), name, "1.0", f))
                barrier.wait()
                return session_pool[i].put(url, data=str(i).encode(), headers=hdr(world)).status_code

            with ThreadPoolExecutor(32) as ex:
                codes = list(ex.map(go, range(32)))
            assert 500 not in codes
            if allowed == "false":
                assert sorted(codes) == [201] + [400] * 31, codes
                assert files_named(depot, name) == 1
            else:
                assert codes == [201] * 32
                assert files_named(depot, name) == 32
            assert depot.query("SELECT COUNT(*) FROM packages WHERE name = ?", name) == [(1,)]
    finally:
        set_settings(depot, "acme", "true", "")


def test_cleanup_deletions_are_audited(depot, world, cleanup_project):
    path, pid = cleanup_project
    upload(depot, world, path, "aud", "old", "f")
    backdate(depot, pid, "aud", "old", 100)
    depot.cli("cleanup-policy", "set", "--project", path, "--older-than-days", "30")
    run_cleanup(depot, path)
    events = [json.loads(l) for l in depot.cli("audit", "--project", path).stdout.splitlines()]
    assert events[0]["action"] == "delete" and events[0]["user"] == "cleanup"
    assert (events[0]["package"], events[0]["version"], events[0]["detail"]) == \
        ("aud", "old", "older_than_days=30")


def test_retention_keeps_delete_protected_packages(depot, world, cleanup_project):
    """Regression (issue 9.2): retention deleted owner-protected packages that the maintainer
    who set the policy could not delete by hand."""
    path, pid = cleanup_project
    maint = hdr(world, "maint")
    rule = requests.post(depot.api(f"/projects/{pid}/packages/protection/rules"), headers=maint,
                         json={"package_name_pattern": "release-*",
                               "minimum_access_level_for_delete": "owner"})
    assert rule.status_code == 201, rule.text
    rule_id = rule.json()["id"]
    for i, v in enumerate(["1.0", "2.0"]):
        upload(depot, world, path, "release-app", v, "f", b"r" + v.encode())
        backdate(depot, pid, "release-app", v, 10 - i)
        upload(depot, world, path, "plain-app", v, "f", b"p" + v.encode())
        backdate(depot, pid, "plain-app", v, 10 - i)
    for body in (b"a", b"b"):  # two files of one name in a protected version
        upload(depot, world, path, "release-app", "2.0", "dup", body)
    old_id = depot.query("SELECT id FROM packages WHERE project_id = ? AND name = 'release-app'"
                         " AND version = '1.0'", pid)[0][0]
    r = requests.delete(depot.api(f"/projects/{pid}/packages/{old_id}"), headers=maint)
    assert (r.status_code, r.json()) == (403, DELETE_PROTECTED)
    r = requests.put(depot.api(f"/projects/{pid}/packages/cleanup_policy"), headers=maint,
                     json={"keep_n_versions": 1, "keep_n_duplicated_package_files": "1"})
    assert r.status_code == 200, r.text

    kept_version = (f"kept version {path} release-app/1.0 (package {old_id}):"
                    f" delete-protected by rule {rule_id}")
    dry = run_cleanup(depot, path, dry=True)
    assert kept_version in dry
    assert any(l.startswith(f"kept file {path} release-app/2.0/dup ") and
               l.endswith(f"delete-protected by rule {rule_id}") for l in dry), dry
    assert [l for l in dry if l.startswith("would remove")] == \
        [l for l in dry if "plain-app/1.0" in l]
    res = depot.cli("cleanup", "run", "--project", path)
    assert f"depot: cleanup {kept_version}" in res.stderr
    assert names_versions(depot, pid) == [("plain-app", "2.0"), ("release-app", "1.0"),
                                          ("release-app", "2.0")]
    assert depot.query("SELECT COUNT(*) FROM package_files f JOIN packages p ON p.id ="
                       " f.package_id WHERE p.name = 'release-app' AND p.version = '2.0'"
                       " AND f.file_name = 'dup' AND f.status = 0") == [(2,)]
    assert requests.get(depot.api(generic_path(pid, "release-app", "1.0", "f")),
                        headers=hdr(world)).content == b"r1.0"
