"""The admin command line is a contract: exact stdout, messages on stderr, exit codes,
--data and $DEPOT_DATA, and that it works while the server runs."""
import json
import os
import re
import subprocess
import time

import pytest
import requests

from conftest import DEPOT, PG_MODE, S3_MODE, Depot, generic_path


@pytest.fixture()
def fresh():
    d = Depot()
    yield d
    d.close()


def test_setup_outputs(fresh):
    d = fresh
    r = d.cli("user", "create", "ann")
    assert (r.returncode, r.stdout) == (0, "")
    assert d.cli("group", "create", "top").stdout == ""
    assert d.cli("group", "create", "top/nested", "--visibility", "internal").stdout == ""
    out = d.cli("project", "create", "top/nested/proj", "--visibility", "public").stdout
    assert re.fullmatch(r"\d+\n", out)
    assert d.query("SELECT path, visibility FROM projects") == [("top/nested/proj", 20)]
    assert d.query("SELECT path, visibility FROM groups WHERE owner_id = 0 ORDER BY id") == \
        [("top", 0), ("top/nested", 10)]
    assert d.cli("member", "add", "--group", "top", "--user", "ann", "--role", "maintainer").stdout == ""
    assert d.query("SELECT access_level FROM members m JOIN groups g ON g.id = m.group_id"
                   " WHERE g.path = 'top'") == [(40,)]


def test_token_outputs(fresh):
    d = fresh
    d.cli("user", "create", "ann")
    d.cli("group", "create", "g")
    d.cli("project", "create", "g/p")
    secret = d.cli("token", "create", "personal", "--user", "ann", "--scopes", "api").stdout
    assert re.fullmatch(r"glpat-[A-Za-z0-9_-]{40}\n", secret)
    j = json.loads(d.cli("token", "create", "personal", "--user", "ann", "--scopes",
                         "api,read_api", "--expires", "2099-12-31", "--name", "ci", "--json").stdout)
    assert j["username"] == "ann" and j["token"].startswith("glpat-") and j["id"] > 0
    assert j["expires_at"] == "2099-12-31T00:00:00.000Z"
    dep = json.loads(d.cli("token", "create", "deploy", "--project", "g/p", "--scopes",
                           "read_package_registry", "--json").stdout)
    assert dep["username"] == f"gitlab+deploy-token-{dep['id']}"
    assert dep["token"].startswith("gldt-")
    dep2 = json.loads(d.cli("token", "create", "deploy", "--group", "g", "--scopes",
                            "write_package_registry", "--username", "robot", "--json").stdout)
    assert dep2["username"] == "robot"
    job = json.loads(d.cli("token", "create", "job", "--project", "g/p", "--user", "ann",
                           "--ttl", "60", "--json").stdout)
    assert job["token"].startswith("glcbt-") and job["username"] == "ann"
    proj = json.loads(d.cli("token", "create", "project", "--project", "g/p", "--role",
                            "developer", "--scopes", "api", "--json").stdout)
    assert proj["username"].startswith("project_") and "_bot_" in proj["username"]
    # secrets are stored only as SHA-256 hashes
    import hashlib
    stored = {h for (h,) in d.query("SELECT token_sha256 FROM tokens")}
    for t in [secret.strip(), j["token"], dep["token"], job["token"], proj["token"]]:
        assert hashlib.sha256(t.encode()).hexdigest() in stored
    if not PG_MODE:  # nor anywhere in the SQLite file
        raw = open(os.path.join(d.data, "depot.db"), "rb").read()
        assert secret.strip().encode() not in raw
    assert d.cli("token", "revoke", str(j["id"])).stdout == ""
    assert d.query("SELECT revoked FROM tokens WHERE id = ?", j["id"]) == [(1,)]


@pytest.mark.parametrize("args", [
    ["user", "create"],
    ["user", "create", "a", "b"],
    ["user", "remove", "a"],
    ["user", "create", "bad name"],
    ["group", "create", "x/y"],  # parent missing
    ["group", "create", "g", "--visibility", "secret"],
    ["project", "create", "nogroup"],
    ["project", "create", "missing/p"],
    ["member", "add", "--project", "g/p", "--user", "nobody", "--role", "developer"],
    ["member", "add", "--project", "g/p", "--user", "ann", "--role", "boss"],
    ["member", "add", "--user", "ann", "--role", "developer"],
    ["token", "create", "personal", "--user", "ann", "--scopes", "write_package_registry"],
    ["token", "create", "personal", "--user", "ann", "--scopes", "sudo"],
    ["token", "create", "personal", "--user", "ann"],
    ["token", "create", "personal", "--user", "ann", "--scopes", "api", "--expires", "soon"],
    ["token", "create", "deploy", "--project", "g/p", "--scopes", "api"],
    ["token", "create", "deploy", "--project", "g/p", "--group", "g", "--scopes",
     "read_package_registry"],
    ["token", "create", "job", "--project", "g/p", "--user", "ann", "--ttl", "-5"],
    ["token", "create", "job", "--project", "g/p", "--user", "ann", "--scopes", "api"],
    ["token", "create", "magic", "--user", "ann"],
    ["token", "revoke", "999"],
    ["token", "revoke", "abc"],
    ["serve", "--listen", "nowhere"],
    ["frobnicate"],
])
def test_errors_are_one_line_and_nonzero(fresh, args):
    d = fresh
    d.cli("user", "create", "ann")
    d.cli("group", "create", "g")
    d.cli("project", "create", "g/p")
    r = d.cli(*args, check=False)
    assert r.returncode != 0
    assert r.stdout == ""
    if args[0] != "frobnicate":
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_duplicates_refused(fresh):
    d = fresh
    d.cli("user", "create", "ann")
    assert d.cli("user", "create", "ann", check=False).returncode != 0
    d.cli("group", "create", "g")
    assert d.cli("group", "create", "g", check=False).returncode != 0
    d.cli("project", "create", "g/p")
    assert d.cli("project", "create", "g/p", check=False).returncode != 0


def test_depot_data_env(tmp_path):
    env = dict(os.environ, DEPOT_DATA=str(tmp_path / "envdata"))
    r = subprocess.run([DEPOT, "user", "create", "envuser"], env=env, capture_output=True)
    assert r.returncode == 0
    assert os.path.exists(tmp_path / "envdata" / "depot.db")


def test_cli_while_server_runs(fresh):
    d = fresh
    d.start()
    d.cli("user", "create", "live")
    d.cli("group", "create", "lg")
    pid = int(d.cli("project", "create", "lg/lp").stdout)
    d.cli("member", "add", "--project", "lg/lp", "--user", "live", "--role", "developer")
    tok = d.cli("token", "create", "personal", "--user", "live", "--scopes", "api").stdout.strip()
    url = d.api(generic_path(pid, "p", "1", "f"))
    assert requests.put(url, data=b"x", headers={"PRIVATE-TOKEN": tok}).status_code == 201
    tid = d.query("SELECT id FROM tokens WHERE user_id = (SELECT id FROM users"
                  " WHERE username = 'live')")[0][0]
    d.cli("token", "revoke", str(tid))
    assert requests.get(url, headers={"PRIVATE-TOKEN": tok}).status_code == 401


def wait_log(d, pattern, timeout=20):
    """The demo is made once the server listens: waits for what it prints."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(pattern, d.server_log())
        if m:
            return m
        time.sleep(0.02)
    raise AssertionError(f"no {pattern!r} in:\n{d.server_log()}")


DEMO_TOKEN = r"personal access token \(shown once\): (glpat-\S+)\n"
DEMO_EXISTS = ("depot: the demo exists (user demo, project demo/project); a new token: "
               "depot token create personal --user demo --scopes api")


def start_demo_and_upload(d):
    """Starts with --demo, waits for the token it prints and publishes with it."""
    d.start("--demo")
    m = wait_log(d, DEMO_TOKEN)
    pid = d.query("SELECT id FROM projects WHERE path = 'demo/project'")[0][0]
    url = d.api(generic_path(pid, "my_package", "1.0.0", "file.txt"))
    assert requests.put(url, data=b"demo", headers={"PRIVATE-TOKEN": m.group(1)}).status_code == 201


def test_serve_demo(fresh, tmp_path):
    d = fresh
    start_demo_and_upload(d)
    # the demo is made once: a restart does not make another
    d.stop()
    d.start("--demo")
    wait_log(d, re.escape(DEMO_EXISTS))
    assert d.query("SELECT COUNT(*) FROM users WHERE username = 'demo'") == [(1,)]


# The data-directory lock keeps a second server off SQLite; a PostgreSQL store is shared by
# design, and serve with --meta takes no lock.
sqlite_lock_only = pytest.mark.skipif(PG_MODE, reason="the lock is the SQLite store's")


def serve_once(d, *args, timeout=20):
    """`depot serve` on d's data directory that is expected to refuse: its result, or a
    failure naming what it did instead (a second server starting and serving)."""
    try:
        return subprocess.run([DEPOT, "serve", "--data", d.data, "--listen", "127.0.0.1:0",
                               *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"still running after {timeout}s: {e.stderr!r}") from None


@sqlite_lock_only
def test_second_server_on_the_same_data_refused(fresh):
    d = fresh
    d.start()
    r = serve_once(d)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == (f"depot: {d.data} is in use by depot serve (pid {d.pid()});"
                        " one server per data directory\n")
    # the admin commands keep working alongside, and so does the server
    d.cli("user", "create", "alongside")
    assert d.cli("fsck").returncode == 0
    assert requests.get(d.api("/projects/1/packages")).status_code == 404
    # fsck --repair would remove an upload in flight: it waits for the server to stop
    r = d.cli("fsck", "--repair", check=False)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == (f"depot: {d.data} is in use by depot serve (pid {d.pid()});"
                        " stop it before fsck --repair\n")
    d.stop()
    assert d.cli("fsck", "--repair").returncode == 0
    d.start()  # the lock went with the first server


@sqlite_lock_only
def test_server_refused_while_another_process_holds_the_lock(fresh):
    """The lock is the kernel's, held by a process: a held lock refuses `serve`, and one
    left by a killed process does not."""
    import fcntl
    d = fresh
    d.cli("user", "create", "ann")
    holder = subprocess.Popen(
        ["/usr/bin/python3", "-c",
         "import fcntl, os, sys, time\n"
         "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o640)\n"
         "fcntl.lockf(fd, fcntl.LOCK_EX)\n"
         "print('locked', flush=True)\n"
         "time.sleep(60)\n", os.path.join(d.data, "depot.lock")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        r = serve_once(d)
        assert r.returncode == 1
        assert r.stderr == (f"depot: {d.data} is in use by another process (pid {holder.pid});"
                            " one server per data directory\n")
    finally:
        holder.kill()
        holder.wait()
    d.start()
    assert open(os.path.join(d.data, "depot.lock")).read() == f"{d.pid()} serve\n"
    with open(os.path.join(d.data, "depot.lock"), "r+") as f:  # held: lockf would block
        with pytest.raises(OSError):
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_demo_survives_a_first_start_that_cannot_bind(fresh):
    """The first `make run` on a busy port used to create the demo and lose its token."""
    import socket
    d = fresh
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        r = serve_once(d, "--demo", "--listen", f"127.0.0.1:{port}")
    finally:
        busy.close()
    assert r.returncode != 0 and "personal access token" not in r.stdout
    assert d.query("SELECT COUNT(*) FROM users") == [(0,)]
    start_demo_and_upload(d)
    # later --demo starts say how to get another token
    d.stop()
    d.start("--demo")
    wait_log(d, re.escape(DEMO_EXISTS))
    assert d.server_log().count("personal access token (shown once)") == 1


def test_make_run_takes_port():
    from conftest import ROOT
    # as a user types it, not as the make running this suite would pass it on
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    r = subprocess.run(["make", "-s", "-n", "-C", ROOT, "run", "PORT=18123"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert re.search(r"depot serve --demo --data \./depot-data --listen 127\.0\.0\.1:18123\n",
                     r.stdout), r.stdout


def test_every_command_takes_the_store_options(fresh):
    """--meta and --blobs go to serve and every admin command (issue 10), so a deployment
    can hand every command the same store options; those that never touch file contents
    take --blobs and ignore it (their --help says so)."""
    blobs = ["--blobs", "s3://bucket/prefix?endpoint=http://127.0.0.1:9&region=r&path_style=1",
             "--s3-part-size", "5242880"]
    d = fresh
    for args in (["user", "create", "ann"], ["group", "create", "grp"],
                 ["project", "create", "grp/app"],
                 ["member", "add", "--project", "grp/app", "--user", "ann", "--role", "developer"],
                 ["token", "create", "personal", "--user", "ann", "--scopes", "api"],
                 ["settings", "show", "--group", "grp"], ["protection", "list", "--project", "grp/app"],
                 ["cleanup-policy", "show", "--project", "grp/app"], ["audit"], ["routes"]):
        res = d.cli(*args, *blobs, check=False)
        assert res.returncode == 0, (args, res.stderr)
        usage = d.cli(args[0], "--help").stdout
        assert "taken and ignored: this command does not touch file contents" in usage, args
    assert "taken and ignored" not in d.cli("serve", "--help").stdout
    res = d.cli("user", "create", "bob", "--bogus", "1", check=False)
    assert (res.returncode, res.stderr) == (2, "depot: unknown option '--bogus'\n")


def test_worker_threads_default_to_the_cores(fresh):
    """One worker thread per CPU (at least 2) when both stores are local; over PostgreSQL
    or object storage, where requests wait on round trips, two per CPU (at least 4);
    --threads decides otherwise. The start line says how many."""
    cpus = os.cpu_count()
    networked = PG_MODE or S3_MODE
    want = max(4, 2 * cpus) if networked else max(2, cpus)
    d = fresh
    d.start()
    assert f"({want} worker threads)" in d.server_log()
    d.stop()
    d.start("--threads", "3")
    assert "(3 worker threads)" in d.server_log().rsplit("listening on", 1)[1]
