"""Issue 11's "Done when", first part: a python-gitlab script (Debian's python3-gitlab 3.12,
unchanged) and the python-gitlab CLI (Debian's gitlab-cli, /usr/bin/python-gitlab) against a
fresh depot, the way a team scripts GitLab: groups, a subgroup, projects, a member, personal,
project and deploy tokens (created, used for a generic package, rotated, listed, deleted), and
the project deleted. No `lazy=True` anywhere: every object is fetched from the server.

What python-gitlab 3.12 sends and reads (checked in its source):
- POST/PUT bodies as JSON (`scopes` as a JSON array); `list()` filters in the query string;
- `projects.get("a/b")` requests /projects/a%2Fb; `delete()` only needs a 2xx;
- 3.12 has no `rotate()` on token managers: rotation goes through `gl.http_post(...)`, the
  library's own request method, to GitLab's rotate endpoints (200 with the new id and token);
- GitLab has no deploy-token rotation: a deploy token is rotated as GitLab documents it, by
  creating the new one and deleting the old one;
- a deploy token is not a `private_token`: GitLab accepts it on the package routes only, in a
  `Deploy-Token` header or as HTTP Basic (username, token), so the script uses requests there;
- the CLI calls `gl.auth()` (GET /user) first when a private token is configured, prints
  `id: N` and the object's repr attribute (`path_with_namespace: ...`, `username: ...`,
  `name: ...`) in its default ("legacy") output, and everything with `-o json`."""
import datetime
import os
import re
import shutil
import stat
import subprocess

import gitlab
import pytest
import requests

from conftest import generic_path, unique

# Debian installs the CLI as python-gitlab (upstream's name is gitlab).
CLI = shutil.which("gitlab") or shutil.which("python-gitlab") or "/usr/bin/python-gitlab"


def in_days(n):
    return (datetime.date.today() + datetime.timedelta(days=n)).isoformat()


def cli_token(d, *args):
    import json
    return json.loads(d.cli("token", "create", *args, "--json").stdout)


def user_id(d, username):
    (uid,), = d.query("SELECT id FROM users WHERE username = ?", username)
    return uid


@pytest.fixture(scope="module")
def people(depot):
    """An admin (root), a user who scripts (alice) and one she adds as a member (carol),
    made with depot's CLI, each with a personal access token from `depot token create`."""
    d = depot
    d.cli("user", "create", "root", "--admin")
    d.cli("user", "create", "alice")
    d.cli("user", "create", "carol")
    return {u: cli_token(d, "personal", "--user", u, "--scopes", "api")["token"]
            for u in ("root", "alice", "carol")}


def client(depot, token):
    return gitlab.Gitlab(depot.url, private_token=token, timeout=30)


def upload_download(project, name, body, tmp_path):
    """python-gitlab's generic_packages upload, then download: the bytes that come back."""
    src = tmp_path / f"{name}.bin"
    src.write_bytes(body)
    pkg = project.generic_packages.upload(package_name=name, package_version="1.0.0",
                                          file_name="blob.bin", path=str(src))
    assert pkg.message == "201 Created"
    return project.generic_packages.download(package_name=name, package_version="1.0.0",
                                             file_name="blob.bin")


def refused_401(fn):
    """fn's request refused as GitLab refuses a revoked, deleted or unknown token."""
    with pytest.raises(gitlab.exceptions.GitlabAuthenticationError) as e:
        fn()
    assert e.value.response_code == 401, e.value


def test_python_gitlab_script(depot, people, tmp_path):
    d = depot
    gl = client(d, people["alice"])
    admin = client(d, people["root"])
    alice_id, carol_id = user_id(d, "alice"), user_id(d, "carol")

    gl.auth()
    assert (gl.user.id, gl.user.username) == (alice_id, "alice")
    version, _ = gl.version()
    assert version != "unknown"

    # ---- a group, a subgroup, a project in the subgroup, one in alice's namespace
    group = gl.groups.create({"name": "Acme Tools", "path": "acme-tools"})
    assert (group.name, group.path, group.full_path) == ("Acme Tools", "acme-tools",
                                                         "acme-tools")
    sub = gl.groups.create({"name": "Libs", "path": "libs", "parent_id": group.id})
    assert (sub.full_path, sub.parent_id) == ("acme-tools/libs", group.id)
    assert d.query("SELECT id, parent_id FROM groups WHERE path = ?", "acme-tools/libs") == \
        [(sub.id, group.id)]
    assert gl.groups.get("acme-tools/libs").id == sub.id
    assert [g.id for g in gl.groups.get(group.id).subgroups.list()] == [sub.id]
    assert group.id in {g.id for g in gl.groups.list(get_all=True)}

    project = gl.projects.create({"name": "engine", "namespace_id": sub.id})
    assert (project.path, project.path_with_namespace) == ("engine", "acme-tools/libs/engine")
    assert (project.namespace["id"], project.namespace["kind"],
            project.namespace["full_path"]) == (sub.id, "group", "acme-tools/libs")
    assert d.query("SELECT id FROM projects WHERE path = ?", "acme-tools/libs/engine") == \
        [(project.id,)]
    mine = gl.projects.create({"name": "scratch"})
    assert mine.path_with_namespace == "alice/scratch"
    assert (mine.namespace["kind"], mine.namespace["full_path"]) == ("user", "alice")
    assert d.query("SELECT id FROM projects WHERE path = ?", "alice/scratch") == [(mine.id,)]
    # looked up again by URL-encoded path (python-gitlab sends acme-tools%2Flibs%2Fengine)
    project = gl.projects.get("acme-tools/libs/engine")
    assert project.id == d.query("SELECT id FROM projects WHERE path = ?",
                                 "acme-tools/libs/engine")[0][0]
    mine_listed = {p.id for p in gl.projects.list(membership=True, get_all=True)}
    assert {project.id, mine.id} <= mine_listed

    # ---- a member: carol cannot see the private project until alice adds her
    gl_carol = client(d, people["carol"])
    with pytest.raises(gitlab.exceptions.GitlabGetError) as e:
        gl_carol.projects.get(project.id)
    assert e.value.response_code == 404
    carol = gl.users.list(username="carol")[0]
    assert carol.id == carol_id
    member = project.members.create({"user_id": carol.id, "access_level": 30})
    assert (member.id, member.username, member.access_level) == (carol_id, "carol", 30)
    assert carol_id in {m.id for m in project.members.list(get_all=True)}
    assert d.query("SELECT access_level FROM members WHERE user_id = ? AND project_id = ?",
                   carol_id, project.id) == [(30,)]
    assert gl_carol.projects.get(project.id).path_with_namespace == "acme-tools/libs/engine"

    # ---- a personal access token (made by an admin for alice), used, rotated, listed, deleted
    pat = admin.users.get(alice_id).personal_access_tokens.create(
        {"name": "ci", "scopes": ["api"], "expires_at": in_days(30)})
    assert (pat.user_id, pat.scopes, pat.expires_at) == (alice_id, ["api"], in_days(30))
    assert pat.token.startswith("glpat-")
    project_pat = client(d, pat.token).projects.get(project.id)
    body = os.urandom(3000)
    assert upload_download(project_pat, unique("pat"), body, tmp_path) == body
    rotated = gl.http_post(f"/personal_access_tokens/{pat.id}/rotate",
                           post_data={"expires_at": in_days(10)})
    assert rotated["id"] != pat.id and rotated["token"] != pat.token
    assert rotated["expires_at"] == in_days(10)
    refused_401(lambda: project_pat.generic_packages.download(
        package_name="any", package_version="1.0.0", file_name="blob.bin"))
    project_pat2 = client(d, rotated["token"]).projects.get(project.id)
    body = os.urandom(2000)
    assert upload_download(project_pat2, unique("pat2"), body, tmp_path) == body
    listed = {t.id: t.active for t in gl.personal_access_tokens.list(get_all=True)}
    assert listed[rotated["id"]] is True
    assert listed.get(pat.id, False) is False
    assert rotated["id"] in {t.id for t in admin.personal_access_tokens.list(
        user_id=alice_id, get_all=True)}
    gl.personal_access_tokens.delete(rotated["id"])
    refused_401(lambda: project_pat2.generic_packages.download(
        package_name="any", package_version="1.0.0", file_name="blob.bin"))
    assert d.query("SELECT COUNT(*) FROM tokens WHERE id IN (?, ?) AND revoked = 0",
                   pat.id, rotated["id"]) == [(0,)]

    # ---- a project access token: its bot, a developer of the project
    ptok = project.access_tokens.create({"name": "ci-bot", "scopes": ["api"],
                                         "access_level": 30, "expires_at": in_days(30)})
    assert (ptok.name, ptok.scopes, ptok.access_level) == ("ci-bot", ["api"], 30)
    assert ptok.user_id not in (alice_id, carol_id)
    project_bot = client(d, ptok.token).projects.get(project.id)
    body = os.urandom(1500)
    assert upload_download(project_bot, unique("bot"), body, tmp_path) == body
    rotated = gl.http_post(f"/projects/{project.id}/access_tokens/{ptok.id}/rotate",
                           post_data={"expires_at": in_days(10)})
    assert rotated["id"] != ptok.id and rotated["token"] != ptok.token
    assert (rotated["user_id"], rotated["access_level"]) == (ptok.user_id, 30)
    refused_401(lambda: project_bot.generic_packages.download(
        package_name="any", package_version="1.0.0", file_name="blob.bin"))
    project_bot2 = client(d, rotated["token"]).projects.get(project.id)
    body = os.urandom(1500)
    assert upload_download(project_bot2, unique("bot2"), body, tmp_path) == body
    listed = {t.id: t.active for t in project.access_tokens.list(get_all=True)}
    assert listed[rotated["id"]] is True
    assert listed.get(ptok.id, False) is False
    project.access_tokens.delete(rotated["id"])
    refused_401(lambda: project_bot2.generic_packages.download(
        package_name="any", package_version="1.0.0", file_name="blob.bin"))
    assert rotated["id"] not in {t.id for t in project.access_tokens.list(get_all=True)
                                 if t.active}

    # ---- a deploy token (for a customer): the secret in the creation answer only
    scopes = ["read_package_registry", "write_package_registry"]
    dt = project.deploytokens.create({"name": "customer", "scopes": scopes})
    assert (dt.name, dt.scopes, dt.username) == ("customer", scopes,
                                                 f"gitlab+deploy-token-{dt.id}")
    assert dt.token.startswith("gldt-")
    assert "token" not in project.deploytokens.get(dt.id).attributes

    def deploy_put_get(token, username, body):
        name = unique("dt")
        url = d.api(generic_path(project.id, name, "1.0.0", "blob.bin"))
        r = requests.put(url, data=body, headers={"Deploy-Token": token}, timeout=30)
        assert r.status_code == 201, r.text
        r = requests.get(url, auth=(username, token), timeout=30)
        assert r.status_code == 200, r.text
        return r.content

    body = os.urandom(1200)
    assert deploy_put_get(dt.token, dt.username, body) == body
    dt2 = project.deploytokens.create({"name": "customer-2026", "scopes": scopes})
    project.deploytokens.delete(dt.id)
    url = d.api(generic_path(project.id, "any", "1.0.0", "blob.bin"))
    assert requests.get(url, headers={"Deploy-Token": dt.token}, timeout=30).status_code == 401
    body = os.urandom(1200)
    assert deploy_put_get(dt2.token, dt2.username, body) == body
    ids = {t.id for t in project.deploytokens.list(get_all=True)}
    assert dt2.id in ids and dt.id not in ids
    assert dt2.id in {t.id for t in admin.deploytokens.list(get_all=True)}
    project.deploytokens.delete(dt2.id)
    assert requests.get(url, auth=(dt2.username, dt2.token), timeout=30).status_code == 401
    assert d.query("SELECT COUNT(*) FROM tokens WHERE id IN (?, ?) AND revoked = 0",
                   dt.id, dt2.id) == [(0,)]

    # ---- the project deleted: gone from the listing and from every lookup
    pid = project.id
    project.delete()
    assert pid not in {p.id for p in gl.projects.list(get_all=True)}
    assert pid not in {p.id for p in admin.projects.list(get_all=True)}
    with pytest.raises(gitlab.exceptions.GitlabGetError) as e:
        gl.projects.get(pid)
    assert e.value.response_code == 404
    with pytest.raises(gitlab.exceptions.GitlabGetError) as e:
        gl.projects.get("acme-tools/libs/engine")
    assert e.value.response_code == 404
    assert d.query("SELECT COUNT(*) FROM projects WHERE id = ? AND pending_delete = 0",
                   pid) == [(0,)]
    # the other project is untouched
    assert gl.projects.get(mine.id).path_with_namespace == "alice/scratch"


@pytest.fixture
def cli(depot, people, tmp_path):
    """Runs the python-gitlab CLI as alice: her token only in a 0600 config file."""
    cfg = tmp_path / "python-gitlab.cfg"
    fd = os.open(cfg, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"[global]\ndefault = depot\ntimeout = 30\n\n[depot]\nurl = {depot.url}\n"
                f"private_token = {people['alice']}\napi_version = 4\n")
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITLAB_", "CI_"))}
    env["HOME"] = str(tmp_path)  # no ~/.python-gitlab.cfg of the machine's

    def run(*args):
        argv = [CLI, "-c", str(cfg), *args]
        assert not any(people["alice"] in a for a in argv)
        res = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        assert res.returncode == 0, f"{' '.join(args)}: {res.stderr}"
        return res.stdout
    return run


def field(out, name):
    """A value of the CLI's legacy output (`name: value` lines)."""
    return re.findall(rf"^{re.escape(name)}: (.*)$", out, re.M)


def test_python_gitlab_cli(depot, people, cli):
    import json
    d = depot
    name = unique("cli")

    out = cli("project", "create", "--name", name)
    (pid,) = [int(v) for v in field(out, "id")]
    assert field(out, "path_with_namespace") == [f"alice/{name}"]
    assert d.query("SELECT id FROM projects WHERE path = ?", f"alice/{name}") == [(pid,)]

    out = cli("project", "get", "--id", str(pid))
    assert field(out, "id") == [str(pid)]
    assert field(out, "path_with_namespace") == [f"alice/{name}"]

    out = cli("project", "list")
    assert f"alice/{name}" in field(out, "path_with_namespace")
    assert str(pid) in field(out, "id")

    out = cli("-o", "json", "project-deploy-token", "create", "--project-id", str(pid),
              "--name", "from-cli", "--scopes", "read_package_registry,write_package_registry")
    dt = json.loads(out)
    assert (dt["name"], dt["scopes"]) == ("from-cli",
                                          ["read_package_registry", "write_package_registry"])
    assert dt["token"].startswith("gldt-")
    assert d.query("SELECT COUNT(*) FROM tokens WHERE id = ? AND project_id = ? AND revoked = 0",
                   dt["id"], pid) == [(1,)]
    # the token works where GitLab accepts deploy tokens
    url = d.api(generic_path(pid, unique("clidt"), "1.0.0", "f.txt"))
    r = requests.put(url, data=b"from the CLI's deploy token", timeout=30,
                     headers={"Deploy-Token": dt["token"]})
    assert r.status_code == 201, r.text

    out = cli("user", "list")
    assert {"root", "alice", "carol"} <= set(field(out, "username"))

    group_path = unique("clig")
    out = cli("group", "create", "--name", f"CLI {group_path}", "--path", group_path)
    (gid,) = [int(v) for v in field(out, "id")]
    assert field(out, "name") == [f"CLI {group_path}"]
    assert d.query("SELECT id, parent_id FROM groups WHERE path = ?", group_path) == \
        [(gid, None)]
    # alice made it, so she owns it (GitLab makes the creator an Owner member)
    assert d.query("SELECT access_level FROM members WHERE user_id = ? AND group_id = ?",
                   user_id(d, "alice"), gid) == [(50,)]
