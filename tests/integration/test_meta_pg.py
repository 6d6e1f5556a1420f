"""The PostgreSQL metadata store (DEPOT_TEST_META=pg, make integration-pg): `depot migrate`
fresh, twice and from two processes at once; serve refusing a schema older or newer than it
knows, naming the command to run; 32 concurrent uploads of one new file over two nodes with
duplicates disallowed; a PostgreSQL restart under a running server; no password on the
command line."""
import json
import os
import subprocess
import threading
import time
import uuid
from types import SimpleNamespace

import pytest
import requests

import conftest
from conftest import SCHEMA_VERSION, DEPOT_REAL, PG_MODE, Depot, World, generic_path, unique

pytestmark = pytest.mark.skipif(not PG_MODE, reason="PostgreSQL mode only (DEPOT_TEST_META=pg)")

DUP = {"message": "400 Bad request - Duplicate package is not allowed"}


@pytest.fixture
def empty_db():
    """A database with nothing in it, and its --meta URL; dropped after the test."""
    pg = conftest._pg
    name = "depot_" + uuid.uuid4().hex[:16]
    pg.admin_psql(f'CREATE DATABASE "{name}" OWNER "{pg.user}";')
    yield name, f"postgres://{pg.user}@127.0.0.1:{pg.port}/{name}"
    pg.admin_psql(f'DROP DATABASE "{name}" WITH (FORCE);')


def depot(*args, meta, timeout=60):
    return subprocess.run([DEPOT_REAL, *args, "--meta", meta], capture_output=True, text=True,
                          timeout=timeout)


def sql(db, query):
    from servers.postgres import PG_BIN  # on sys.path in PostgreSQL mode
    pg = conftest._pg
    res = subprocess.run([f"{PG_BIN}/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                          f"host=127.0.0.1 port={pg.port} dbname={db} user={pg.user}",
                          "-c", query], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def serve_refusal(meta, tmp_path):
    """serve's exit status and stderr when it refuses to start."""
    res = subprocess.run([DEPOT_REAL, "serve", "--data", str(tmp_path), "--meta", meta,
                          "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                         timeout=30)
    return res.returncode, res.stderr


def test_migrate_fresh_then_again(empty_db, tmp_path):
    db, meta = empty_db
    rc, err = serve_refusal(meta, tmp_path)
    assert rc == 1
    assert err == ("depot: cannot open the PostgreSQL metadata store: its schema is version 0,"
                   f" this depot needs version {SCHEMA_VERSION}: run depot migrate --meta"
                   f" '{meta}'\n")
    for _ in range(2):  # the second run finds nothing to do
        res = depot("migrate", meta=meta)
        assert (res.returncode, res.stdout) == (0, "")
        assert res.stderr == f"depot: the metadata schema is at version {SCHEMA_VERSION}\n"
        assert sql(db, "SELECT version FROM depot_schema") == str(SCHEMA_VERSION)
    # ids never come back: identity columns (SQLite's AUTOINCREMENT, its version 2)
    ids = sql(db, "SELECT table_name FROM information_schema.columns WHERE column_name = 'id'"
                  " AND is_identity = 'YES' ORDER BY table_name").split()
    assert ids == sorted(["audit_log", "groups", "package_files", "package_protection_rules",
                          "packages", "projects", "tokens", "users"])
    # and it serves
    d = Depot(data=str(tmp_path), share=SimpleNamespace(meta=meta, meta_args=["--meta", meta],
                                                         pg_db=db)).start()
    try:
        d.cli("user", "create", "ann")
        assert d.query("SELECT username FROM users") == [("ann",)]
    finally:
        d.stop()


def test_two_migrations_at_once_apply_each_version_once(empty_db):
    """Without the advisory lock the second CREATE TABLE fails (or both record the
    version): both must succeed, and the schema must be there once."""
    db, meta = empty_db
    for _ in range(3):
        procs = [subprocess.Popen([DEPOT_REAL, "migrate", "--meta", meta],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        outs = [p.communicate(timeout=60) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        assert sql(db, "SELECT COUNT(*), MAX(version) FROM depot_schema") == \
            f"1|{SCHEMA_VERSION}"
        assert sql(db, "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'packages'") == "1"
        sql(db, "DROP TABLE depot_schema, blob_keys, inline_blobs, audit_log, cleanup_policies,"
                " package_protection_rules, namespace_package_settings, package_files,"
                " packages, tokens, members, projects, groups, users, auth_epoch,"
                " content_epoch; DROP FUNCTION audit_append_only;"
                " DROP FUNCTION auth_epoch_bump; DROP FUNCTION content_epoch_bump")


def test_serve_refuses_a_newer_schema(empty_db, tmp_path):
    db, meta = empty_db
    assert depot("migrate", meta=meta).returncode == 0
    sql(db, "UPDATE depot_schema SET version = 99")
    rc, err = serve_refusal(meta, tmp_path)
    assert rc == 1
    assert err == ("depot: cannot open the PostgreSQL metadata store: its schema is version 99,"
                   f" this depot knows versions up to {SCHEMA_VERSION}: use a newer depot\n")
    # migrate refuses it too, and changes nothing
    res = depot("migrate", meta=meta)
    assert res.returncode == 1 and "use a newer depot" in res.stderr
    assert sql(db, "SELECT version FROM depot_schema") == "99"


def test_a_password_on_the_command_line_is_refused(tmp_path):
    pg = conftest._pg
    for meta in [f"postgres://{pg.user}:{pg.password}@127.0.0.1:{pg.port}/{pg.db}",
                 f"host=127.0.0.1 port={pg.port} dbname={pg.db} user={pg.user}"
                 f" password={pg.password}"]:
        res = subprocess.run([DEPOT_REAL, "user", "create", "x", "--data", str(tmp_path),
                              "--meta", meta], capture_output=True, text=True, timeout=30)
        assert res.returncode == 1
        assert res.stderr == ("depot: cannot open the PostgreSQL metadata store: no password in"
                              " the URL or connection string, please: give it in PGPASSWORD"
                              " or a PGPASSFILE (libpq's password file)\n")
        assert pg.password not in res.stderr


@pytest.fixture(scope="module")
def two_nodes():
    """Two servers over one database and one data directory, as behind a load balancer."""
    a = Depot().start()
    b = Depot(data=a.data, share=a)
    b.log_path = os.path.join(a.data, "server-b.log")
    b.start()
    w = World(a)
    yield a, b, w
    b.stop()
    a.close()


@pytest.mark.parametrize("size", [10, 200_000])  # inline (group commit), and a blob file
def test_32_concurrent_uploads_of_one_new_file_over_two_nodes(two_nodes, size):
    a, b, w = two_nodes
    a.cli("settings", "set", "--group", "acme", "generic_duplicates_allowed=false",
          "generic_duplicate_exception_regex=")
    pid = w.pid("acme/app")
    sessions = [requests.Session() for _ in range(32)]
    for _ in range(5):
        name = unique("race")
        barrier = threading.Barrier(32)
        results = [None] * 32

        def go(i):
            node = (a, b)[i % 2]
            url = node.api(generic_path(pid, name, "1.0", "same.bin"))
            body = str(i).encode().ljust(size, b".")
            barrier.wait()
            r = sessions[i].put(url, data=body, headers={"PRIVATE-TOKEN": w.pat["dev"]})
            results[i] = (r.status_code, r.json())

        threads = [threading.Thread(target=go, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        statuses = sorted(s for s, _ in results)
        assert statuses == [201] + [400] * 31, results
        assert all(body == DUP for s, body in results if s == 400)
        assert a.query("SELECT COUNT(*) FROM package_files f JOIN packages p"
                       " ON p.id = f.package_id WHERE p.name = ?", name) == [(1,)]
        assert a.query("SELECT COUNT(*) FROM packages WHERE name = ?", name) == [(1,)]


def test_postgres_restart_under_a_running_server():
    """Requests in flight may fail, with a JSON 503; the ones after a restart succeed on
    every worker thread, without restarting depot."""
    d = Depot().start("--threads", "4")
    try:
        w = World(d)
        pid = w.pid("acme/app")
        h = {"PRIVATE-TOKEN": w.pat["dev"]}
        name = unique("restart")
        stop = threading.Event()
        seen = []

        def load():
            s = requests.Session()
            i = 0
            while not stop.is_set():
                url = d.api(generic_path(pid, name, "1", f"f{i}"))
                try:
                    r = s.put(url, data=b"x" * (i % 3 * 50000 + 1), headers=h, timeout=30)
                    seen.append((r.status_code, r.headers.get("Content-Type"), r.text))
                except requests.ConnectionError as e:
                    seen.append((0, None, str(e)))
                i += 1

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        for mode in ["fast", "immediate"]:
            conftest._pg.restart(mode)
            time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        failed = [s for s in seen if s[0] != 201]
        assert seen
        for status, ctype, text in failed:  # the store is unavailable: try again
            assert (status, ctype, json.loads(text)) == \
                (503, "application/json", {"message": "503 Service Unavailable"}), (status, text)
        # a restart while the server is idle: every thread's connection is gone, and none
        # of the requests after it may fail (each thread notices and reconnects first)
        conftest._pg.restart("fast")
        for i in range(40):
            url = d.api(generic_path(pid, name, "2", f"after{i}"))
            r = requests.put(url, data=b"y" * (i % 2 * 70000 + 1), headers=h)
            assert r.status_code == 201, (i, r.status_code, r.text)
            assert requests.get(url, headers=h).status_code == 200
        assert d.cli("user", "create", "after-restart").returncode == 0
    finally:
        d.close()


def test_readiness_follows_postgres():
    """A load balancer takes a node out while its metadata store does not answer, and back
    in once it does, without restarting depot."""
    d = Depot().start()
    try:
        assert requests.get(d.url + "/-/readiness").status_code == 200
        conftest._pg.stop_server()
        try:
            r = requests.get(d.url + "/-/readiness", timeout=30)
            assert r.status_code == 503
            assert r.json() == {"status": "failed",
                                "meta_check": [{"status": "failed",
                                                "message": "the metadata store does not answer"}],
                                "blobs_check": [{"status": "ok"}]}
            assert requests.get(d.url + "/-/health").status_code == 200
        finally:
            conftest._pg.start_server()
        deadline = time.time() + 20
        while requests.get(d.url + "/-/readiness").status_code != 200:
            assert time.time() < deadline, "readiness did not come back"
            time.sleep(0.1)
    finally:
        d.close()
