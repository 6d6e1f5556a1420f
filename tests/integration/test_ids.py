"""Ids the API has shown are never handed out again (a retried delete must not hit a newer
package), in new data directories and in ones written before schema versions existed:
the schema migrations run at start, keep every row and id, and a database newer than the
binary is refused."""
import os
import signal
import sqlite3
import subprocess

import pytest
import requests

from conftest import SCHEMA_VERSION, DEPOT, PG_MODE, ROOT, Depot, World, generic_path, unique

# SQLite's own schema: sqlite_master, PRAGMA user_version, the pre-version fixture file
# (test_meta_pg.py checks PostgreSQL's identity columns and schema versions).
sqlite_only = pytest.mark.skipif(PG_MODE, reason="about the SQLite file's schema")

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "schema-v1.sql")
ID_TABLES = ["users", "groups", "projects", "tokens", "packages", "package_files",
             "package_protection_rules"]
ALL_TABLES = ID_TABLES + ["members", "namespace_package_settings", "cleanup_policies",
                          "audit_log", "inline_blobs"]
NOT_FOUND = (404, {"message": "404 Not found"})


def package_id(d, h, pid, name):
    r = requests.get(d.api(f"/projects/{pid}/packages"), params={"package_name": name}, headers=h)
    (pkg,) = r.json()
    return pkg["id"]


def file_ids(d, h, pid, pkg):
    r = requests.get(d.api(f"/projects/{pid}/packages/{pkg}/package_files"), headers=h)
    return [f["id"] for f in r.json()]


def test_retried_delete_after_gc_does_not_destroy_another_package():
    d = Depot().start()
    try:
        w = World(d)
        pid = w.pid("acme/app")
        dev, maint = {"PRIVATE-TOKEN": w.pat["dev"]}, {"PRIVATE-TOKEN": w.pat["maint"]}
        victim = unique("victim")
        url = d.api(generic_path(pid, victim, "1.0", "v.txt"))
        assert requests.put(url, data=b"victim", headers=dev).status_code == 201
        vpkg = package_id(d, dev, pid, victim)
        vfiles = file_ids(d, dev, pid, vpkg)
        delete = d.api(f"/projects/{pid}/packages/{vpkg}")
        assert requests.delete(delete, headers=maint).status_code == 204
        d.cli("gc")
        assert d.query("SELECT COUNT(*) FROM packages WHERE id = ?", vpkg) == [(0,)]
        # another user publishes; its ids are new ones
        important = unique("important")
        url = d.api(generic_path(pid, important, "2.0", "i.txt"))
        assert requests.put(url, data=b"important", headers=maint).status_code == 201
        ipkg = package_id(d, maint, pid, important)
        assert ipkg > vpkg
        assert min(file_ids(d, maint, pid, ipkg)) > max(vfiles)
        # the client retries its delete: nothing of anyone else's goes
        r = requests.delete(delete, headers=maint)
        assert (r.status_code, r.json()) == NOT_FOUND
        assert requests.get(url, headers=maint).content == b"important"
    finally:
        d.close()


def test_deleted_protection_rule_id_is_not_reused(depot, world):
    base = depot.api(f"/projects/{world.pid('acme/app')}/packages/protection/rules")
    h = {"PRIVATE-TOKEN": world.pat["maint"]}

    def create(pattern):
        r = requests.post(base, headers=h, json={
            "package_name_pattern": pattern, "package_type": "generic",
            "minimum_access_level_for_push": "maintainer"})
        assert r.status_code == 201
        return r.json()["id"]

    first = create("ids-a-*")
    assert requests.delete(f"{base}/{first}", headers=h).status_code == 204
    second = create("ids-b-*")
    assert second > first
    r = requests.delete(f"{base}/{first}", headers=h)
    assert (r.status_code, r.json()) == NOT_FOUND
    assert [x["id"] for x in requests.get(base, headers=h).json()] == [second]


@sqlite_only
def test_every_id_table_never_reuses_ids(depot, world):
    """Users, groups, projects and tokens have no delete yet; their tables are made so
    that a future one cannot free an id either."""
    for table in ID_TABLES:
        (sql,), = depot.query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                              table)
        assert "AUTOINCREMENT" in sql, table
    assert depot.query("PRAGMA user_version") == [(SCHEMA_VERSION,)]


def load_fixture(d):
    with open(FIXTURE) as f:
        script = f.read()
    con = sqlite3.connect(os.path.join(d.data, "depot.db"))
    con.executescript(script)
    con.close()


V4_INDEXES = {"groups_owner", "tokens_user", "tokens_project", "members_project",
              "projects_group", "groups_parent"}
V6_INDEXES = {"audit_uploads"}  # version 6: the audit log's upload events by file


def columns(d):
    return {t: [c[1] for c in d.query(f"PRAGMA table_info({t})")] for t in ALL_TABLES}


# Rows version 4 adds: each person's personal namespace and their ownership of it.
ADDED_ROWS = {"groups": "owner_id = 0",
              "members": "group_id NOT IN (SELECT id FROM groups WHERE owner_id != 0)"}


def rows(d, cols=None):
    """Every row of every table: with cols, only those columns (a table's columns before a
    migration) and not the rows version 4 adds."""
    out = {}
    for t in ALL_TABLES:
        sel = ", ".join(cols[t]) if cols else "*"
        where = f" WHERE {ADDED_ROWS[t]}" if cols and t in ADDED_ROWS else ""
        order = "sha256" if t == "inline_blobs" else "rowid"
        out[t] = d.query(f"SELECT {sel} FROM {t}{where} ORDER BY {order}")
    return out


def schema_objects(d, kind):
    return sorted(d.query("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = ?", kind))


@sqlite_only
def test_migration_keeps_rows_and_ids_of_a_database_from_before_versions():
    d = Depot()
    try:
        load_fixture(d)
        before, cols = rows(d), columns(d)
        indexes, triggers = schema_objects(d, "index"), schema_objects(d, "trigger")
        assert d.query("PRAGMA user_version") == [(0,)]
        assert len(before["packages"]) == 4 and len(before["audit_log"]) == 6
        # any command migrates: one that changes no row
        assert d.cli("audit", "--project", "acme/app").returncode == 0
        assert d.query("PRAGMA user_version") == [(SCHEMA_VERSION,)]
        assert rows(d, cols) == before
        # version 4: each person got a personal namespace, which they own; names filled in
        users = d.query("SELECT id, username FROM users WHERE bot = 0 ORDER BY id")
        assert d.query("SELECT owner_id, path, name, visibility FROM groups WHERE owner_id != 0"
                       " ORDER BY owner_id") == [(i, u, u, 20) for i, u in users]
        assert d.query("SELECT m.user_id, m.access_level FROM members m JOIN groups g"
                       " ON g.id = m.group_id WHERE g.owner_id != 0 ORDER BY m.user_id") == \
            [(i, 50) for i, _ in users]
        assert d.query("SELECT path, name FROM groups WHERE owner_id = 0 ORDER BY id") == \
            [("acme", "acme"), ("acme/tools", "tools")]
        d.start()
        # indexes (packages_live among them, still partial) and the audit triggers survive
        # (version 3's table brings its own, versions 4 and 6 add some, version 8 drops
        # the audit log's by project)
        assert [i for i in schema_objects(d, "index") if i[1] != "blob_keys"
                and i[0] not in V4_INDEXES | V6_INDEXES] == \
            [i for i in indexes if i[0] != "audit_by_project"]
        assert "audit_by_project" in {i[0] for i in indexes}
        assert V6_INDEXES <= {i[0] for i in schema_objects(d, "index")}
        # version 5's auth epoch triggers and version 7's content epoch triggers come on top
        epochs = ("auth_epoch_", "content_epoch_")
        assert [t for t in schema_objects(d, "trigger") if not t[0].startswith(epochs)] \
            == triggers
        assert len([t for t in schema_objects(d, "trigger") if t[0].startswith("auth_epoch_")]) \
            == 11
        assert len([t for t in schema_objects(d, "trigger")
                    if t[0].startswith("content_epoch_")]) == 5
        assert d.query("SELECT id FROM content_epoch") == [(1,)]
        assert ("packages_live", "packages", "CREATE UNIQUE INDEX packages_live ON packages("
                "project_id, package_type, name, version) WHERE status != 4") in indexes
        assert [t[0] for t in triggers] == ["audit_no_delete", "audit_no_update"]
        con = d.db()
        for sql in ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"]:
            try:
                con.execute(sql)
                raise AssertionError(f"{sql} was allowed")
            except sqlite3.IntegrityError as e:
                assert str(e) == "the audit log is append-only"
        try:
            con.execute("INSERT INTO packages(project_id, name, version, created_at, updated_at)"
                        " VALUES(1, 'keep', '1.0', 0, 0)")
            raise AssertionError("a second live keep/1.0 was allowed")
        except sqlite3.IntegrityError as e:
            assert "UNIQUE constraint failed" in str(e)
        con.rollback()
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        con.close()
        # (groups: 2, then the two personal namespaces of version 4)
        assert sorted(d.query("SELECT name, seq FROM sqlite_sequence")) == sorted([
            ("users", 2), ("groups", 4), ("projects", 2), ("tokens", 4), ("packages", 4),
            ("package_files", 5), ("package_protection_rules", 2)])

        # the migrated data serves: alice's files, with a token made now (a new id)
        token = d.cli("token", "create", "personal", "--user", "alice", "--scopes", "api",
                      "--json").stdout
        assert '"id":5' in token.replace(" ", "")
        h = {"PRIVATE-TOKEN": token.split('"token":')[1].split('"')[1]}
        r = requests.get(d.api(generic_path(1, "keep", "1.0", "dir/b.txt")), headers=h)
        assert (r.status_code, r.content) == (200, b"content of keep/1.0/dir/b.txt\n")
        # tail/1.0 (package 4, file 5) was deleted before the upgrade: gc'd now, its ids
        # stay retired
        d.cli("gc")
        assert d.query("SELECT COUNT(*) FROM packages WHERE id = 4") == [(0,)]
        url = d.api(generic_path(1, "fresh", "1.0", "f.txt"))
        assert requests.put(url, data=b"fresh", headers=h).status_code == 201
        assert d.query("SELECT p.id, f.id FROM packages p JOIN package_files f ON"
                       " f.package_id = p.id WHERE p.name = 'fresh'") == [(5, 6)]
        r = requests.delete(d.api("/projects/1/packages/4"), headers=h)
        assert (r.status_code, r.json()) == NOT_FOUND
        # a second start finds nothing to migrate
        d.stop()
        after = rows(d)
        d.start()
        assert rows(d) == after
        assert d.query("PRAGMA user_version") == [(SCHEMA_VERSION,)]
    finally:
        d.close()


@sqlite_only
def test_a_database_newer_than_the_binary_is_refused():
    d = Depot()
    try:
        d.cli("user", "create", "u")
        con = d.db()
        con.execute("PRAGMA user_version = 99")
        con.commit()
        con.close()
        path = os.path.join(d.data, "depot.db")
        expected = (f"depot: cannot open {path}: its schema is version 99, this depot knows "
                    f"versions up to {SCHEMA_VERSION}: use a newer depot\n")
        proc = subprocess.Popen([DEPOT, "serve", "--data", d.data, "--listen", "127.0.0.1:0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=20)
            raise AssertionError("depot serve started on a newer schema")
        assert (proc.returncode, err) == (1, expected)
        res = d.cli("user", "create", "v", check=False)
        assert (res.returncode, res.stderr) == (1, expected)
        assert d.query("PRAGMA user_version") == [(99,)]
        assert d.query("SELECT username FROM users") == [("u",)]
    finally:
        d.close()
