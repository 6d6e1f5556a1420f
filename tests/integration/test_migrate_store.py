"""depot migrate-store (make integration-migrate: DEPOT_TEST_MIGRATE=1, a private PostgreSQL
and a Ceph RGW from tests/servers): a single-machine registry of 1,000 packages (small files
held inline, large ones in blobs/, some above the 5 MiB part size, contents shared between
packages, deleted ones, policies, tokens of every kind, audit events) moved into PostgreSQL and
object storage, row for row; a server over the copy serves every file with its SHA-256 to the
old tokens; a run SIGKILLed mid-way completes when run again; a second run changes nothing;
a damaged source blob, a target holding another registry's data, a target not migrated and a
source still served are each refused with a clear message."""
import hashlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import requests

from conftest import (SCHEMA_VERSION, DEPOT_REAL, PG_MODE, ROOT, S3_MODE, Depot, World,
                      generic_path, sha256)

pytestmark = pytest.mark.skipif(
    os.environ.get("DEPOT_TEST_MIGRATE") != "1" or PG_MODE or S3_MODE,
    reason="make integration-migrate (DEPOT_TEST_MIGRATE=1: PostgreSQL and RGW)")

if os.environ.get("DEPOT_TEST_MIGRATE") == "1":
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import psycopg2  # noqa: E402
    from servers.fixtures import postgres_server, rgw_server  # noqa: F401,E402 (fixtures)

KiB, MiB = 1 << 10, 1 << 20
NPACKAGES = 1000
PART = str(5 * MiB)

# The tables and their keys, as migrate_store.c lists them; blob_keys is compared apart.
TABLES = {
    "users": "id", "groups": "id", "projects": "id",
    "members": "user_id, project_id, group_id", "tokens": "id", "packages": "id",
    "package_files": "id", "namespace_package_settings": "group_id",
    "package_protection_rules": "id", "cleanup_policies": "project_id", "audit_log": "id",
    "inline_blobs": "sha256",
}


@pytest.fixture(scope="module")
def servers(request):
    pg = request.getfixturevalue("postgres_server")
    rgw = request.getfixturevalue("rgw_server")
    saved = {k: os.environ.get(k) for k in ("PGPASSWORD", "AWS_ACCESS_KEY_ID",
                                            "AWS_SECRET_ACCESS_KEY")}
    os.environ["PGPASSWORD"] = pg.password  # never on a command line
    os.environ.update({k: v for k, v in rgw.env({}).items() if k.startswith("AWS_")})
    yield SimpleNamespace(pg=pg, rgw=rgw)
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def source(servers):
    """The registry to move, its server stopped (migrate-store holds its lock)."""
    d = Depot().start()
    w = World(d)
    h = {"PRIVATE-TOKEN": w.pat["maint"]}
    rng = random.Random(10)
    files = []  # (project id, name, version, file name, body)
    shared = os.urandom(80 * KiB)  # one content in several packages: stored once
    for i in range(NPACKAGES):
        pid = w.pid("acme/app") if i % 3 else w.pid("acme/sub/lib")
        if i % 100 == 7:
            body = os.urandom(6 * MiB + i)  # more than one 5 MiB part
        elif i % 10 == 3:
            body = os.urandom(rng.randrange(65 * KiB, 200 * KiB))  # in blobs/
        elif i % 50 == 11:
            body = shared
        else:
            body = os.urandom(rng.randrange(1, 4 * KiB))  # inline
        files.append((pid, f"pkg-{i:04d}", f"1.{i % 7}.{i}", f"file-{i}.bin", body))
    files.append((w.pid("acme/other"), "empty", "1.0", "empty.txt", b""))

    session = requests.Session()

    def put(f):
        pid, name, version, fname, body = f
        r = session.put(d.api(generic_path(pid, name, version, fname)), data=body, headers=h)
        assert r.status_code == 201, r.text
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(put, files))
    # deleted: a whole package, and one file (rows pending destruction until gc)
    gone = files[13]
    r = session.get(d.api(f"/projects/{gone[0]}/packages"), headers=h,
                    params={"package_name": gone[1]})
    (pkg,) = r.json()
    assert session.delete(d.api(f"/projects/{gone[0]}/packages/{pkg['id']}"),
                          headers=h).status_code == 204
    files.remove(gone)
    # downloads: audit events and download times
    for f in files[:50]:
        assert session.get(d.api(generic_path(*f[:4])), headers=h).status_code == 200
    d.cli("settings", "set", "--group", "acme", "generic_duplicates_allowed=false",
          "generic_duplicate_exception_regex=.*-SNAPSHOT")
    d.cli("protection", "add", "--project", "acme/app", "--pattern", "release-*", "--push",
          "maintainer", "--delete", "owner")
    d.cli("cleanup-policy", "set", "--project", "acme/app", "--keep-n-versions", "5",
          "--keep-regex", "release-.*")
    # the newest user deleted would free an id: here a revoked token stands for "used ids"
    d.stop()
    yield SimpleNamespace(depot=d, world=w, files=files, data=d.data)
    d.close()


def new_target(servers):
    """A fresh database (migrated to the current schema) and an empty bucket prefix."""
    pg, rgw = servers.pg, servers.rgw
    db = "depot_" + uuid.uuid4().hex[:16]
    pg.admin_psql(f'CREATE DATABASE "{db}" OWNER "{pg.user}";')
    meta = f"postgres://{pg.user}@127.0.0.1:{pg.port}/{db}"
    prefix = f"m-{uuid.uuid4().hex[:12]}/"
    blobs = (f"s3://{rgw.bucket}/{prefix}?endpoint={rgw.endpoint}&region={rgw.region}"
             "&path_style=1")
    res = subprocess.run([DEPOT_REAL, "migrate", "--meta", meta], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return SimpleNamespace(db=db, meta=meta, blobs=blobs, prefix=prefix, pg=pg)


def drop_target(t):
    t.pg.admin_psql(f'DROP DATABASE "{t.db}" WITH (FORCE);')


@pytest.fixture
def target(servers):
    t = new_target(servers)
    yield t
    drop_target(t)


def migrate_args(data, t):
    return [DEPOT_REAL, "migrate-store", "--from-data", data, "--meta", t.meta, "--blobs",
            t.blobs, "--s3-part-size", PART]


def migrate(data, t, timeout=600):
    return subprocess.run(migrate_args(data, t), capture_output=True, text=True,
                          timeout=timeout)


def pg_rows(t, sql):
    con = psycopg2.connect(host="127.0.0.1", port=t.pg.port, dbname=t.db, user=t.pg.user)
    try:
        with con.cursor() as cur:
            cur.execute(sql)
            return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                    for row in cur.fetchall()]
    finally:
        con.close()


def sqlite_rows(data, sql):
    con = sqlite3.connect(os.path.join(data, "depot.db"))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def columns(data, table):
    return [r[1] for r in sqlite_rows(data, f"SELECT * FROM pragma_table_info('{table}')")]


def snapshot(t):
    """Everything the target holds: every table's rows, the id sequences, the objects."""
    out = {table: pg_rows(t, f"SELECT * FROM {table} ORDER BY {key}")
           for table, key in {**TABLES, "blob_keys": "sha256"}.items()}
    out["sequences"] = pg_rows(t, "SELECT sequencename, last_value FROM pg_sequences"
                                  " ORDER BY sequencename")
    out["objects"] = object_list(t)
    return out


def object_list(t):
    import xml.etree.ElementTree as ET
    rgw = _rgw[0]
    res = rgw.s3("GET", f"/{rgw.bucket}", params={"list-type": "2", "prefix": t.prefix})
    assert res.status == 200, res.body
    ns = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
    return sorted((e.find("s3:Key", ns).text, int(e.find("s3:Size", ns).text))
                  for e in ET.fromstring(res.body).findall("s3:Contents", ns))


_rgw = []


@pytest.fixture(scope="module", autouse=True)
def _remember_rgw(servers):
    _rgw.append(servers.rgw)
    yield
    _rgw.clear()


def assert_rows_equal(data, t):
    """Every table row for row: ids, token hashes, policies, timestamps as the source has
    them (columns named, so both sides list them alike)."""
    for table, key in TABLES.items():
        cols = ", ".join(columns(data, table))
        src = sqlite_rows(data, f"SELECT {cols} FROM {table} ORDER BY {key}")
        dst = pg_rows(t, f"SELECT {cols} FROM {table} ORDER BY {key}")
        assert len(dst) == len(src), table
        assert dst == src, table


def stored_contents(data):
    """Contents in blobs/ that rows name: what the bucket must hold, one object each."""
    return {r[0]: r[1] for r in sqlite_rows(
        data, "SELECT file_sha256, MAX(size) FROM package_files WHERE file_sha256 NOT IN"
              " (SELECT sha256 FROM inline_blobs) GROUP BY file_sha256")}


def assert_objects(data, t):
    want = stored_contents(data)
    keys = dict(pg_rows(t, "SELECT sha256, key FROM blob_keys"))
    assert sorted(keys) == sorted(want)
    objects = dict(object_list(t))
    assert sorted(objects) == sorted(t.prefix + k for k in keys.values())
    for h, k in keys.items():
        assert objects[t.prefix + k] == want[h]


def test_moves_everything_and_serves_it(source, target, tmp_path):
    data = source.data
    t0 = time.monotonic()
    res = migrate(data, target)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    nrows = sum(sqlite_rows(data, f"SELECT COUNT(*) FROM {table}")[0][0] for table in TABLES)
    contents = stored_contents(data)
    big = sum(contents.values())
    lines = res.stderr.splitlines()
    assert lines[0] == f"depot: the target holds 0 row(s) of this registry; {nrows} to copy"
    assert f"depot: copied {len(contents)}/{len(contents)} files, " in res.stderr
    assert lines[-1] == (f"depot: migrate-store done: copied {nrows} row(s) and"
                         f" {len(contents)} file(s) ({big} bytes); 0 row(s) and 0 file(s)"
                         " were there already")
    print(f"\nmigrate-store: {NPACKAGES} packages, {nrows} rows, {len(contents)} files,"
          f" {big / MiB:.1f} MiB in {elapsed:.1f} s")
    assert_rows_equal(data, target)
    assert_objects(data, target)
    # the copied tables have statistics at once (no wait for autovacuum: plans such as the
    # streamed files listing's depend on them)
    analyzed = pg_rows(target, "SELECT DISTINCT tablename FROM pg_stats WHERE schemaname ="
                               " 'public' AND tablename IN ('packages', 'package_files')")
    assert sorted(r[0] for r in analyzed) == ["package_files", "packages"]
    # ids never come back: each identity sequence is at the source's highest id
    for table in ["users", "groups", "projects", "tokens", "packages", "package_files",
                  "package_protection_rules", "audit_log"]:
        (top,), = sqlite_rows(data, f"SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence"
                                    f" WHERE name = '{table}'), 0), (SELECT MAX(id) FROM {table}))")
        assert pg_rows(target, f"SELECT last_value FROM pg_sequences WHERE sequencename ="
                               f" '{table}_id_seq'") == [(top,)], table

    # a second run copies nothing and changes nothing
    before = snapshot(target)
    t0 = time.monotonic()
    again = migrate(data, target)
    print(f"migrate-store again (nothing to copy): {time.monotonic() - t0:.1f} s")
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines()[0] == (f"depot: the target holds {nrows + len(contents)}"
                                            " row(s) of this registry; 0 to copy")
    assert again.stderr.splitlines()[-1] == (
        "depot: migrate-store done: copied 0 row(s) and 0 file(s) (0 bytes);"
        f" {nrows} row(s) and {len(contents)} file(s) were there already")
    assert snapshot(target) == before

    # a server over the copy serves every file, with its SHA-256, to the old tokens
    d = Depot(data=str(tmp_path))
    d.meta_args = ["--meta", target.meta]
    d.blobs = target.blobs
    d.start()
    try:
        w = source.world
        session = requests.Session()
        h = {"PRIVATE-TOKEN": w.pat["dev"]}
        for pid, name, version, fname, body in source.files:
            r = session.get(d.api(generic_path(pid, name, version, fname)), headers=h)
            assert r.status_code == 200, (name, r.text)
            assert r.headers["X-Checksum-SHA256"] == sha256(body)
            assert sha256(r.content) == sha256(body), name
        pid, name, version, fname, body = next(f for f in source.files
                                               if f[0] == w.pid("acme/app"))
        url = d.api(generic_path(pid, name, version, fname))
        for creds in [{"headers": {"PRIVATE-TOKEN": w.pat["reporter"]}},
                      {"headers": {"PRIVATE-TOKEN": w.project_token["token"]}},
                      {"headers": {"Deploy-Token": w.deploy_rw["token"]}},
                      {"headers": {"Deploy-Token": w.deploy_group}},
                      {"headers": {"Job-Token": w.job_dev}},
                      {"auth": (w.deploy_rw["username"], w.deploy_rw["token"])}]:
            assert session.get(url, **creds).content == body, creds
        for bad in [w.pat_revoked, w.pat_expired]:
            assert session.get(url, headers={"PRIVATE-TOKEN": bad}).status_code == 401
        # policies came along: duplicates refused in acme, protection rule in force
        r = session.put(url, data=b"again", headers={"PRIVATE-TOKEN": w.pat["maint"]})
        assert (r.status_code, r.json()) == (
            400, {"message": "400 Bad request - Duplicate package is not allowed"})
        r = session.put(d.api(generic_path(pid, "release-x", "1.0", "a.bin")), data=b"x",
                        headers={"PRIVATE-TOKEN": w.pat["dev"]})
        assert r.status_code == 403
        # new rows get new ids
        (top_pkg,), = sqlite_rows(data, "SELECT MAX(id) FROM packages")
        r = session.put(d.api(generic_path(pid, "new-after-move", "1.0", "n.bin")),
                        data=b"n", headers={"PRIVATE-TOKEN": w.pat["maint"]})
        assert r.status_code == 201
        (new_id,), = pg_rows(target, "SELECT id FROM packages WHERE name = 'new-after-move'")
        assert new_id == top_pkg + 1
        err = d.cli("user", "create", "newcomer").stderr
        (top_user,), = sqlite_rows(data, "SELECT MAX(id) FROM users")
        assert err == f"depot: created user newcomer (id {top_user + 1})\n"
    finally:
        d.stop()
    fsck = d.cli("fsck", "--blobs", target.blobs, check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


def test_interrupted_then_run_again_completes(source, target):
    data = source.data
    contents = stored_contents(data)
    proc = subprocess.Popen(migrate_args(data, target), stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if line.startswith("depot: copied ") and " files" in line:
                done = int(line.split()[2].split("/")[0])
                if 0 < done < len(contents) // 2:
                    proc.send_signal(signal.SIGKILL)
                    break
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    mapped = pg_rows(target, "SELECT COUNT(*) FROM blob_keys")[0][0]
    assert 0 < mapped < len(contents)  # killed part-way through the contents
    res = migrate(data, target)
    assert res.returncode == 0, res.stderr
    nrows = sum(sqlite_rows(data, f"SELECT COUNT(*) FROM {table}")[0][0] for table in TABLES)
    last = res.stderr.splitlines()[-1]
    assert last.startswith(f"depot: migrate-store done: copied 0 row(s) and"
                           f" {len(contents) - mapped} file(s) (")
    assert last.endswith(f"; {nrows} row(s) and {mapped} file(s) were there already")
    assert_rows_equal(data, target)
    keys = dict(pg_rows(target, "SELECT sha256, key FROM blob_keys"))
    assert sorted(keys) == sorted(contents)
    # the object the kill cut short is not mapped: gc's orphan walk removes it later
    objects = dict(object_list(target))
    assert set(target.prefix + k for k in keys.values()) <= set(objects)


def test_damaged_source_blob_is_refused(source, target, tmp_path):
    data = str(tmp_path / "copy")
    shutil.copytree(source.data, data, ignore=shutil.ignore_patterns("depot.lock"))
    first = min(stored_contents(data))  # the first content copied (by SHA-256)
    path = os.path.join(data, "blobs", first[:2], first[2:4], first)
    with open(path, "r+b") as f:
        byte = f.read(1)
        f.seek(0)
        f.write(bytes([byte[0] ^ 1]))
    with open(path, "rb") as f:
        actual = hashlib.sha256(f.read()).hexdigest()
    res = migrate(data, target)
    assert res.returncode == 1
    assert res.stderr.splitlines()[-1] == (
        f"depot: migrate-store stopped: {path}: its content's SHA-256 is {actual}, not the"
        " one its name and rows record: the source is damaged (depot fsck names what);"
        " nothing copied after it")
    assert pg_rows(target, "SELECT COUNT(*) FROM blob_keys") == [(0,)]
    assert object_list(target) == []  # the object being written was aborted


def test_target_with_other_data_is_refused(source, target, servers):
    # another registry's user where the source has its first one
    res = subprocess.run([DEPOT_REAL, "user", "create", "stranger", "--meta", target.meta],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    res = migrate(source.data, target)
    assert res.returncode == 1
    assert res.stderr == (
        "depot: migrate-store stopped: the target already holds data of another registry:"
        " its users row (id) = (1) differs from the row in the source; migrate-store copies"
        " into an empty database (or completes its own earlier run): give it a new"
        " database\n")
    assert pg_rows(target, "SELECT COUNT(*) FROM packages") == [(0,)]  # nothing written
    assert pg_rows(target, "SELECT username FROM users") == [("stranger",)]


def test_bucket_prefix_with_objects_is_refused(source, target, servers):
    rgw = servers.rgw
    res = rgw.s3("PUT", f"/{rgw.bucket}/{target.prefix}blobs/0123456789abcdef0123456789abcdef",
                 body=b"someone else's")
    assert res.status == 200
    res = migrate(source.data, target)
    assert res.returncode == 1
    assert res.stderr == (
        "depot: migrate-store stopped: the target's blob store already holds objects, and its"
        " database nothing: they would be another registry's; give migrate-store an empty"
        " bucket prefix\n")
    assert pg_rows(target, "SELECT COUNT(*) FROM users") == [(0,)]


def test_target_not_migrated_and_source_served_are_refused(source, servers):
    pg = servers.pg
    db = "depot_" + uuid.uuid4().hex[:16]
    pg.admin_psql(f'CREATE DATABASE "{db}" OWNER "{pg.user}";')
    t = SimpleNamespace(db=db, meta=f"postgres://{pg.user}@127.0.0.1:{pg.port}/{db}",
                        blobs=new_blobs(servers), pg=pg)
    try:
        res = migrate(source.data, t)
        assert res.returncode == 1
        assert res.stderr.splitlines()[-1] == (
            "depot: cannot open the PostgreSQL metadata store: its schema is version 0, this"
            f" depot needs version {SCHEMA_VERSION}: run depot migrate --meta '{t.meta}'")
    finally:
        drop_target(t)
    source.depot.start()
    try:
        t = new_target(servers)
        res = migrate(source.data, t)
        drop_target(t)
        assert res.returncode == 1
        assert res.stderr == (f"depot: {source.data} is in use by depot serve (pid"
                              f" {source.depot.pid()}); stop it before migrate-store\n")
    finally:
        source.depot.stop()


def new_blobs(servers):
    rgw = servers.rgw
    return (f"s3://{rgw.bucket}/m-{uuid.uuid4().hex[:12]}/?endpoint={rgw.endpoint}"
            f"&region={rgw.region}&path_style=1")


def test_needs_every_store_named(source):
    res = subprocess.run([DEPOT_REAL, "migrate-store", "--from-data", source.data],
                         capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in os.environ.items()
                              if k not in ("DEPOT_META", "DEPOT_BLOBS")})
    assert (res.returncode, res.stderr) == (
        2, "depot: migrate-store needs --meta URL (or DEPOT_META): the PostgreSQL database"
           " to copy into\n")
    with tempfile.TemporaryDirectory() as empty:
        res = subprocess.run([DEPOT_REAL, "migrate-store", "--from-data", empty, "--meta",
                              "postgres://x@127.0.0.1:1/x", "--blobs", "s3://b/?endpoint=x"],
                             capture_output=True, text=True, timeout=60)
    assert (res.returncode, res.stderr) == (
        1, f"depot: cannot read {empty}/depot.db: No such file or directory\n")


def test_rows_cut_short_are_completed(source, target):
    """As a run killed while it copied rows leaves the target: some tables whole, one cut
    at a chunk, the rest empty (here: the newest package files, some inline contents and
    every content mapping removed from a finished copy)."""
    data = source.data
    assert migrate(data, target).returncode == 0
    (half,), = sqlite_rows(data, "SELECT MAX(id) / 2 FROM package_files")
    con = psycopg2.connect(host="127.0.0.1", port=target.pg.port, dbname=target.db,
                           user=target.pg.user)
    with con, con.cursor() as cur:
        cur.execute("DELETE FROM inline_blobs WHERE sha256 > '8'")
        removed_inline = cur.rowcount
        cur.execute("DELETE FROM package_files WHERE id > %s", (half,))
        removed_files = cur.rowcount
        cur.execute("DELETE FROM blob_keys")
    con.close()
    assert removed_inline > 0 and removed_files > 0
    res = migrate(data, target)
    assert res.returncode == 0, res.stderr
    contents = stored_contents(data)
    last = res.stderr.splitlines()[-1]
    assert last.startswith(f"depot: migrate-store done: copied"
                           f" {removed_inline + removed_files} row(s) and {len(contents)} file(s)")
    assert_rows_equal(data, target)
    keys = dict(pg_rows(target, "SELECT sha256, key FROM blob_keys"))
    assert sorted(keys) == sorted(contents)  # mapped again (the first run's objects
    # stay until gc removes them as orphans)
