"""Shared harness for the integration suite: starts the real depot binary on a free port
with a temporary data directory, drives its admin CLI, and builds a world of users,
groups, projects and tokens that the tests speak to over HTTP."""
import hashlib
import http.client
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPOT = os.environ.get("DEPOT_BIN") or os.path.join(ROOT, "build", "depot")
SANITIZED = os.environ.get("DEPOT_SANITIZED") == "1"
# A command to run the server under, e.g. "valgrind --error-exitcode=99 --leak-check=full".
WRAPPER = os.environ.get("DEPOT_WRAPPER", "").split()

# ---- S3 mode (DEPOT_TEST_BLOBS=s3): file contents in a Ceph RGW bucket (the session's
# rgw_server, tests/servers), each Depot under a prefix of its own, passed with --blobs to
# serve, gc and fsck; the keys in AWS_* variables, never on a command line. Helpers that
# look at stored contents answer from the bucket; tests about the local disk itself skip.
S3_MODE = os.environ.get("DEPOT_TEST_BLOBS") == "s3"
# The schema version this build writes (src/store/meta_schema.c): 3 adds blob_keys, 4 the REST
# resources, 5 the auth epoch, 6 the audit log's upload index.
SCHEMA_VERSION = 8
S3_PART_SIZE = os.environ.get("DEPOT_TEST_S3_PART_SIZE", str(5 << 20))
S3 = {}  # "rgw": the running RGW, once the session fixture has started it
skip_in_s3 = pytest.mark.skipif(S3_MODE, reason="about the local disk's blob store")
if S3_MODE:
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from servers.fixtures import rgw_server  # noqa: F401,E402  (a fixture)


@pytest.fixture(scope="session", autouse=True)
def s3_mode(request):
    if S3_MODE:
        rgw = S3["rgw"] = request.getfixturevalue("rgw_server")
        os.environ.update(rgw.env({}))
    yield


def s3_list(prefix, uploads=False):
    """Keys under prefix in the test bucket (uploads: of open multipart uploads)."""
    import xml.etree.ElementTree as ET
    rgw = S3["rgw"]
    params = {"prefix": prefix, **({"uploads": ""} if uploads else {"list-type": "2"})}
    res = rgw.s3("GET", f"/{rgw.bucket}", params=params)
    assert res.status == 200, res.body
    ns = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
    item = "s3:Upload" if uploads else "s3:Contents"
    return sorted(e.find("s3:Key", ns).text for e in ET.fromstring(res.body).findall(item, ns))


# ---- PostgreSQL mode (DEPOT_TEST_META=pg): the metadata in a session PostgreSQL
# (tests/servers), a fresh database per Depot, dropped at close. Depot passes --meta to
# serve and every CLI call, the password in PGPASSWORD; query() and db() answer from that
# database. Tests that run the binary themselves with --data DIR get the database of
# DIR's Depot too: DEPOT is then a small script that adds --meta for a known DIR.
PG_MODE = os.environ.get("DEPOT_TEST_META", "sqlite") == "pg"
DEPOT_REAL = DEPOT
_pg = None  # the session server, set by the autouse fixture below


def _pg_template():
    """The session server's database migrated by this build, which servers' databases
    are copied from (no connection stays open to it: a copy needs none)."""
    name = getattr(_pg, "depot_template", None)
    if name is None:
        name = "depot_template_" + uuid.uuid4().hex[:12]
        _pg.admin_psql(f'CREATE DATABASE "{name}" OWNER "{_pg.user}";')
        res = subprocess.run([DEPOT_REAL, "migrate", "--meta",
                              f"postgres://{_pg.user}@127.0.0.1:{_pg.port}/{name}"],
                             capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise AssertionError(f"depot migrate failed: {res.stderr}")
        _pg.depot_template = name
    return name
_pg_maps = None  # folder of the script's data directory -> URL files

if PG_MODE:
    import atexit
    import shutil

    import psycopg2
    import psycopg2.extras

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from servers.fixtures import postgres_server  # noqa: F401 (a fixture)

    _pg_maps = tempfile.mkdtemp(prefix="depot-pg-maps-")
    atexit.register(shutil.rmtree, _pg_maps, True)
    DEPOT = os.path.join(_pg_maps, "depot")
    with open(DEPOT, "w") as f:
        f.write(f"""#!/bin/sh
data=; prev=
for a in "$@"; do [ "$prev" = --data ] && data=$a; prev=$a; done
map="{_pg_maps}/$(printf %s "$data" | sha256sum | cut -c1-32)"
if [ -n "$data" ] && [ -f "$map" ]; then exec "{DEPOT_REAL}" "$@" --meta "$(cat "$map")"; fi
exec "{DEPOT_REAL}" "$@"
""")
    os.chmod(DEPOT, 0o755)


# ---- Nodes mode (DEPOT_TEST_NODES=2, with DEPOT_TEST_META=pg and DEPOT_TEST_BLOBS=s3):
# Depot.start() runs that many `depot serve` processes over the same database and bucket
# prefix, each with a data folder of its own (its log and staging; node 0's is Depot.data,
# which the CLI calls use), on ports kept across restarts, behind HAProxy (round robin,
# checked on /-/readiness); Depot.url is HAProxy's. Depot.proc stands for every node: see
# _NodeProcs for which node a signal reaches.
NODES = int(os.environ.get("DEPOT_TEST_NODES", "1"))
NODES_MODE = NODES > 1
skip_in_nodes = pytest.mark.skipif(NODES_MODE, reason="about one process's own behaviour")
if NODES_MODE:
    assert PG_MODE and S3_MODE, "DEPOT_TEST_NODES needs DEPOT_TEST_META=pg and DEPOT_TEST_BLOBS=s3"
    from servers.common import free_port  # noqa: E402
    from servers.haproxy import HAProxy  # noqa: E402


_node_ports = set()  # every port handed to a node this session: free_port() may repeat one


def _node_port():
    while True:
        port = free_port()
        if port not in _node_ports:
            _node_ports.add(port)
            return port


class _Node:
    """One `depot serve` process of a Depot."""

    def __init__(self, data, log_path):
        self.data, self.log_path = data, log_path
        self.proc = self.log = None
        self.port = _node_port() if NODES_MODE else 0
        self.url = None


class _NodeProcs:
    """Depot.proc with several nodes, for the tests that signal "the server": SIGTERM,
    SIGINT and SIGHUP reach every node (each stops, or reopens its log, by itself); SIGKILL
    reaches one node, each in turn, so the crash harness kills one node while the other
    keeps serving. wait() waits for the nodes signalled last (the first non-zero status,
    else 0); `depot.proc = None` forgets the nodes that have exited, which start() starts
    again."""

    def __init__(self, depot):
        self.depot = depot
        self.signalled = []

    @property
    def pid(self):
        return self.depot.nodes[0].proc.pid

    def send_signal(self, sig):
        live = [n for n in self.depot.nodes if n.proc]
        if sig == signal.SIGKILL:
            live = [live[self.depot.kills % len(live)]]
            self.depot.kills += 1
        for n in live:
            n.proc.send_signal(sig)
        self.signalled = live

    def wait(self, timeout=None):
        rcs = [n.proc.wait(timeout=timeout) for n in self.signalled or self.depot.nodes if n.proc]
        return next((rc for rc in rcs if rc != 0), 0)

    def poll(self):
        rcs = [n.proc.poll() for n in self.depot.nodes if n.proc]
        return None if None in rcs else next((rc for rc in rcs if rc != 0), 0)


def _pg_map_path(data):
    return os.path.join(_pg_maps, hashlib.sha256(data.encode()).hexdigest()[:32])


@pytest.fixture(scope="session", autouse=True)
def _pg_session(request):
    global _pg
    if PG_MODE:
        _pg = request.getfixturevalue("postgres_server")
        os.environ["PGPASSWORD"] = _pg.password  # every depot this session starts
    yield


def _pg_sql(sql):
    return sql.replace("%", "%%").replace("?", "%s")


class _PgCursor:
    def __init__(self, cur):
        self.cur = cur

    def fetchall(self):
        if self.cur.description is None:
            return []
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                for row in self.cur.fetchall()]

    def fetchone(self):
        rows = self.fetchall()
        return rows[0] if rows else None


class _PgCon:
    """The part of sqlite3's connection the tests use, over psycopg2: ? placeholders,
    `with` commits (or rolls back) and closes; refusals by constraints and triggers come
    as sqlite3.IntegrityError, so the tests' expectations read the same."""

    def __init__(self, dsn):
        self.con = psycopg2.connect(dsn)

    def _run(self, fn, sql, params):
        cur = self.con.cursor()
        try:
            getattr(cur, fn)(_pg_sql(sql), params)
        except (psycopg2.IntegrityError, psycopg2.errors.RaiseException) as e:
            self.con.rollback()
            raise sqlite3.IntegrityError(str(e)) from e
        return _PgCursor(cur)

    def execute(self, sql, params=()):
        return self._run("execute", sql, tuple(params))

    def executemany(self, sql, seq):
        # An INSERT of many rows as a few statements of a thousand rows each
        # (execute_values), not one statement per row: each one a round trip and a firing
        # of the statement triggers (the 100,000-file listing test's seed took minutes).
        m = re.match(r"(?is)(INSERT .* VALUES\s*)(\(.*\))\s*$", sql)
        if not m:
            return self._run("executemany", sql, [tuple(p) for p in seq])
        cur = self.con.cursor()
        try:
            psycopg2.extras.execute_values(cur, _pg_sql(m.group(1)) + "%s",
                                           [tuple(p) for p in seq],
                                           template=_pg_sql(m.group(2)), page_size=1000)
        except (psycopg2.IntegrityError, psycopg2.errors.RaiseException) as e:
            self.con.rollback()
            raise sqlite3.IntegrityError(str(e)) from e
        return _PgCursor(cur)

    def commit(self):
        self.con.commit()

    def close(self):
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        (self.con.rollback if exc_type else self.con.commit)()
        self.con.close()


class Depot:
    """One depot data directory, and the server serving it once started."""

    def __init__(self, data=None, share=None):
        """share: another Depot whose PostgreSQL database this one uses too (a second
        node); it keeps the database, this one neither migrates nor drops it."""
        self._tmp = None
        if data is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="depot-test-")
            data = self._tmp.name
        self.data = data
        self.url = None
        self.log_path = os.path.join(data, "server.log")
        self.nodes = [_Node(data, self.log_path)]
        self._node_tmps = [tempfile.TemporaryDirectory(prefix="depot-node-")
                           for _ in range(NODES - 1)]
        self.nodes += [_Node(t.name, os.path.join(t.name, "server.log")) for t in self._node_tmps]
        self._procs = _NodeProcs(self)
        self.kills = 0  # SIGKILLs sent, to pick the next node to kill
        self.haproxy = None
        self._args = ()
        self.s3_prefix = self.blobs = None
        if S3_MODE:
            rgw = S3["rgw"]
            self.s3_prefix = f"t-{uuid.uuid4().hex[:12]}/"
            self.blobs = (f"s3://{rgw.bucket}/{self.s3_prefix}?endpoint={rgw.endpoint}"
                          f"&region={rgw.region}&path_style=1")
        self.meta_args = []
        self.pg_db = None
        if PG_MODE and share:
            self.meta, self.meta_args = share.meta, share.meta_args
            self.pg_db_shared = share.pg_db
        elif PG_MODE:
            self._pg_create()

    def _pg_create(self):
        """A fresh database as `depot migrate` leaves it: a copy of a template migrated once
        per session (a migration per server cost the PostgreSQL pass minutes)."""
        self.pg_db = "depot_" + uuid.uuid4().hex[:16]
        _pg.admin_psql(f'CREATE DATABASE "{self.pg_db}" OWNER "{_pg.user}"'
                       f' TEMPLATE "{_pg_template()}";')
        self.meta = f"postgres://{_pg.user}@127.0.0.1:{_pg.port}/{self.pg_db}"
        self.meta_args = ["--meta", self.meta]
        with open(_pg_map_path(self.data), "w") as f:
            f.write(self.meta)

    def _pg_drop(self):
        os.unlink(_pg_map_path(self.data))
        _pg.admin_psql(f'DROP DATABASE "{self.pg_db}" WITH (FORCE);')

    def blob_args(self, command=None):
        """--blobs for the commands that open the blob store, in S3 mode."""
        if not self.blobs or command not in (None, "serve", "gc", "fsck"):
            return []
        return ["--blobs", self.blobs, "--s3-part-size", S3_PART_SIZE]

    def cli(self, *args, check=True, env=None):
        res = subprocess.run([DEPOT_REAL, *args, *self.blob_args(args[0] if args else ""),
                              "--data", self.data, *self.meta_args],
                             capture_output=True, text=True, env=env, timeout=60)
        if check and res.returncode != 0:
            raise AssertionError(f"depot {' '.join(args)} failed: {res.stderr}")
        return res

    @property
    def proc(self):
        """The server process (with several nodes: _NodeProcs, for all of them)."""
        if NODES_MODE:
            return self._procs if any(n.proc for n in self.nodes) else None
        return self.nodes[0].proc

    @proc.setter
    def proc(self, value):
        assert value is None
        for n in self.nodes:
            if n.proc and (not NODES_MODE or n.proc.poll() is not None):
                n.proc = None

    @property
    def log(self):
        return self.nodes[0].log

    def start(self, *args, log_path=None):
        """log_path: where the server logs, when started with --log. With several nodes,
        starts those not running (with the arguments of the last full start when others
        still run), then HAProxy in front of them."""
        if NODES_MODE and any(n.proc for n in self.nodes):
            args = self._args
        self._args = args
        self.nodes[0].log_path = self.log_path
        try:
            for n in self.nodes:
                if n.proc is None:
                    self._start_node(n, args, log_path)
        except BaseException:
            # a start that fails leaves no server behind (the caller may never close)
            for n in self.nodes:
                if n.proc and n.proc.poll() is None:
                    n.proc.kill()
                    n.proc.wait(timeout=30)
                n.proc = None
            raise
        if not NODES_MODE:
            self.url = self.nodes[0].url
            return self
        tls = "--tls-cert" in args
        if self.haproxy is None:
            self.haproxy = HAProxy([n.url for n in self.nodes], tls_passthrough=tls,
                                   json_errors=True, fail_open=True).start(wait_up=False)
        # every node in service first, unless a test made the stores unreachable
        ready = requests.get(self.nodes[0].url + "/-/readiness", timeout=30, verify=False)
        if ready.status_code == 200:
            self.haproxy.wait_state({name: "UP" for name in self.haproxy.server_names()})
        self.url = ("https" if tls else "http") + self.haproxy.url[4:]
        return self

    def _start_node(self, n, args, log_path):
        if n.log:
            n.log.close()
        n.log = open(n.log_path, "ab")
        watch = log_path or n.log_path
        offset = os.path.getsize(watch) if os.path.exists(watch) else 0
        n.proc = subprocess.Popen(
            [*WRAPPER, DEPOT_REAL, "serve", "--data", n.data, *self.meta_args,
             "--listen", f"127.0.0.1:{n.port}",
             # the suites fail authentication on purpose, many times a minute
             *([] if "--auth-failures-per-minute" in args else
               ["--auth-failures-per-minute", "0"]), *self.blob_args(),
             # behind HAProxy: the client is the one it names in X-Forwarded-For
             *(["--trusted-proxy", "127.0.0.1"] if NODES_MODE else []), *args],
            stdout=n.log, stderr=n.log)
        port = str(n.port).encode() if n.port else rb"\d+"
        deadline = time.time() + (120 if WRAPPER else 20)
        while time.time() < deadline:
            if not os.path.exists(watch):
                time.sleep(0.02)
                continue
            with open(watch, "rb") as f:
                f.seek(offset)
                m = re.search(rb"listening on (https?://127\.0\.0\.1:" + port + rb")", f.read())
            if m:
                n.url = m.group(1).decode()
                return
            if n.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError("depot did not start:\n" + self.server_log())

    def server_log(self):
        """The log of every node, node 0's first."""
        out = ""
        for n in self.nodes:
            if os.path.exists(n.log_path):
                with open(n.log_path, "rb") as f:
                    out += f.read().decode(errors="replace")
        return out

    def stop(self):
        """SIGTERM, then insist on a clean exit of every node (the sanitizers report
        through it)."""
        running = [n for n in self.nodes if n.proc]
        for n in running:
            n.proc.send_signal(signal.SIGTERM)
        try:
            for n in running:
                rc = n.proc.wait(timeout=120 if WRAPPER else 30)
                n.proc = None
                n.log.close()
                with open(n.log_path, "rb") as f:
                    log = f.read().decode(errors="replace")
                assert "Sanitizer" not in log and "runtime error" not in log, log[-4000:]
                assert rc == 0, f"depot exited with {rc}:\n{log[-4000:]}"
        finally:
            if self.haproxy:
                self.haproxy.stop()
                self.haproxy = None

    @property
    def direct_url(self):
        """A node's own address (with several nodes: node 0's, not HAProxy's), for tests of
        how one process handles HTTP itself (malformed requests, Host, idle connections),
        which a proxy in front would answer or rewrite."""
        return self.nodes[0].url

    def pid(self):
        """The server's pid. With several nodes: node 0's, and HAProxy sends every later
        request to node 0 (the others in maintenance), so that a test watching the
        process's memory or system calls watches the one serving it."""
        if NODES_MODE and self.haproxy:
            for name in self.haproxy.server_names()[1:]:
                self.haproxy.command(f"disable server nodes/{name}")
            self.haproxy.wait_state({name: "MAINT" for name in self.haproxy.server_names()[1:]})
        return self.nodes[0].proc.pid

    def api(self, path):
        return f"{self.url}/api/v4{path}"

    def db(self):
        if PG_MODE:
            db = self.pg_db or self.pg_db_shared
            return _PgCon(f"host=127.0.0.1 port={_pg.port} dbname={db} user={_pg.user}")
        return sqlite3.connect(os.path.join(self.data, "depot.db"))

    def query(self, sql, *params):
        with self.db() as con:
            return con.execute(sql, params).fetchall()

    def wait_downloaded(self, name, version=None, timeout=5.0):
        """Download times are written in batches about every second: waits for one."""
        sql = "SELECT last_downloaded_at FROM packages WHERE name = ?" + \
            (" AND version = ?" if version else "") + " AND status != 4"
        args = (name, version) if version else (name,)
        deadline = time.time() + timeout
        while time.time() < deadline:
            rows = self.query(sql, *args)
            if rows and rows[0][0]:
                return rows[0][0]
            time.sleep(0.05)
        raise AssertionError(f"no download time recorded for {name}")

    def stored_copies(self, body):
        """Where the content is kept: files under blobs/ and rows of inline_blobs (small
        files live in the database with their rows)."""
        h = sha256(body)
        path = os.path.join(self.data, "blobs", h[:2], h[2:4], h)
        files = [path] if os.path.exists(path) else []
        if self.blobs:  # a local copy of each object found, to read its bytes from
            key = self.query("SELECT key FROM blob_keys WHERE sha256 = ?", h)
            files = [self._s3_copy(k) for k in self.blob_files()
                     if key and k == self.s3_prefix + key[0][0]]
        rows = self.query("SELECT COUNT(*) FROM inline_blobs WHERE sha256 = ?", h)[0][0]
        return files, rows

    def _s3_copy(self, key):
        rgw = S3["rgw"]
        res = rgw.s3("GET", f"/{rgw.bucket}/{key}")
        assert res.status == 200, res.body
        path = os.path.join(self.data, "s3-copies", key.replace("/", "_"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(res.body)
        return path

    def drop_blob(self, h):
        """Removes the stored content with SHA-256 h behind depot's back (as a lost disk
        file or object would be)."""
        if self.blobs:
            (key,), = self.query("SELECT key FROM blob_keys WHERE sha256 = ?", h)
            rgw = S3["rgw"]
            assert rgw.s3("DELETE", f"/{rgw.bucket}/{self.s3_prefix}{key}").status == 204
        else:
            os.unlink(os.path.join(self.data, "blobs", h[:2], h[2:4], h))

    def blob_files(self):
        if self.blobs:
            return s3_list(self.s3_prefix + "blobs/")
        out = []
        for dirpath, _, files in os.walk(os.path.join(self.data, "blobs")):
            out += [os.path.join(dirpath, f) for f in files]
        return sorted(out)

    def inline_count(self):
        return self.query("SELECT COUNT(*) FROM inline_blobs")[0][0]

    def tmp_files(self):
        """Staged uploads: files in tmp/, or (S3) open multipart uploads."""
        if self.blobs:
            return s3_list(self.s3_prefix, uploads=True)
        return sorted(os.listdir(os.path.join(self.data, "tmp")))

    def raw(self, method, path, headers=None, body=None):
        """A request whose path is sent byte for byte (no client-side normalisation)."""
        host, port = self.url.rsplit("/", 1)[1].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        if body is not None:
            conn.send(body)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        # names in any case: a proxy in front (HAProxy) sends them in lower case
        return resp.status, requests.structures.CaseInsensitiveDict(resp.getheaders()), data

    def close(self):
        self.stop()
        if self.pg_db:
            self._pg_drop()
        if self._tmp:
            self._tmp.cleanup()
        for t in self._node_tmps:
            t.cleanup()


class World:
    """Users of every role, groups, projects of each visibility, and tokens of each kind."""

    def __init__(self, depot):
        d = self.depot = depot
        for user in ["admin", "owner", "maint", "dev", "reporter", "guest", "outsider"]:
            d.cli("user", "create", user, *(["--admin"] if user == "admin" else []))
        d.cli("group", "create", "acme")
        d.cli("group", "create", "acme/sub")
        d.cli("group", "create", "pub", "--visibility", "public")
        self.projects = {}
        for path, vis in [("acme/app", "private"), ("acme/sub/lib", "private"),
                          ("acme/other", "private"), ("acme/internal", "internal"),
                          ("pub/open", "public")]:
            out = d.cli("project", "create", path, "--visibility", vis).stdout
            self.projects[path] = int(out.strip())
        for user, role in [("owner", "owner"), ("maint", "maintainer"), ("dev", "developer"),
                           ("reporter", "reporter"), ("guest", "guest")]:
            d.cli("member", "add", "--group", "acme", "--user", user, "--role", role)
        d.cli("member", "add", "--project", "pub/open", "--user", "dev", "--role", "developer")

        def token(*args):
            return json.loads(d.cli("token", "create", *args, "--json").stdout)

        self.pat = {u: token("personal", "--user", u, "--scopes", "api")["token"]
                    for u in ["admin", "owner", "maint", "dev", "reporter", "guest", "outsider"]}
        self.pat_read_api = token("personal", "--user", "dev", "--scopes", "read_api")["token"]
        self.pat_expired = token("personal", "--user", "dev", "--scopes", "api",
                                 "--expires", "2020-01-01")["token"]
        revoked = token("personal", "--user", "dev", "--scopes", "api")
        d.cli("token", "revoke", str(revoked["id"]))
        self.pat_revoked = revoked["token"]
        self.project_token = token("project", "--project", "acme/app", "--role", "developer",
                                   "--scopes", "api")
        self.project_token_guest = token("project", "--project", "acme/app", "--role", "guest",
                                         "--scopes", "api")["token"]
        self.deploy_rw = token("deploy", "--project", "acme/app", "--scopes",
                               "read_package_registry,write_package_registry")
        self.deploy_ro = token("deploy", "--project", "acme/app", "--scopes",
                               "read_package_registry")["token"]
        self.deploy_wo = token("deploy", "--project", "acme/app", "--scopes",
                               "write_package_registry")["token"]
        self.deploy_group = token("deploy", "--group", "acme", "--scopes",
                                  "read_package_registry,write_package_registry")["token"]
        self.deploy_pub = token("deploy", "--project", "pub/open", "--scopes",
                                "read_package_registry,write_package_registry")["token"]
        self.job_dev = token("job", "--project", "acme/app", "--user", "dev")["token"]

    def pid(self, path):
        return self.projects[path]


@pytest.fixture(scope="module")
def depot():
    d = Depot().start()
    yield d
    d.close()


@pytest.fixture(scope="module")
def world(depot):
    return World(depot)


def setup_world(d):
    """A small world: user u, maintainer of project g/p. (project id, u's token headers)"""
    d.cli("user", "create", "u")
    d.cli("group", "create", "g")
    pid = int(d.cli("project", "create", "g/p").stdout)
    d.cli("member", "add", "--project", "g/p", "--user", "u", "--role", "maintainer")
    token = d.cli("token", "create", "personal", "--user", "u", "--scopes", "api").stdout.strip()
    return pid, {"PRIVATE-TOKEN": token}


def unique(prefix="pkg"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def generic_path(pid, name, version, file_name):
    return f"/projects/{pid}/packages/generic/{name}/{version}/{file_name}"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def read_response_head(sock):
    """Reads from a raw socket until the end of a response head (or the connection)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf
