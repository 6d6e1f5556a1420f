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


class Depot:
    """One depot data directory, and the server serving it once started."""

    def __init__(self, data=None):
        self._tmp = None
        if data is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="depot-test-")
            data = self._tmp.name
        self.data = data
        self.proc = None
        self.url = None
        self.log_path = os.path.join(data, "server.log")

    def cli(self, *args, check=True, env=None):
        res = subprocess.run([DEPOT, *args, "--data", self.data], capture_output=True,
                             text=True, env=env, timeout=60)
        if check and res.returncode != 0:
            raise AssertionError(f"depot {' '.join(args)} failed: {res.stderr}")
        return res

    def start(self, *args, log_path=None):
        """log_path: where the server logs, when started with --log."""
        self.log = open(self.log_path, "ab")
        watch = log_path or self.log_path
        offset = os.path.getsize(watch) if os.path.exists(watch) else 0
        self.proc = subprocess.Popen(
            [*WRAPPER, DEPOT, "serve", "--data", self.data, "--listen", "127.0.0.1:0",
             # the suites fail authentication on purpose, many times a minute
             *([] if "--auth-failures-per-minute" in args else
               ["--auth-failures-per-minute", "0"]), *args],
            stdout=self.log, stderr=self.log)
        deadline = time.time() + (120 if WRAPPER else 20)
        while time.time() < deadline:
            if not os.path.exists(watch):
                time.sleep(0.02)
                continue
            with open(watch, "rb") as f:
                f.seek(offset)
                m = re.search(rb"listening on (https?://127\.0\.0\.1:\d+)", f.read())
            if m:
                self.url = m.group(1).decode()
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError("depot did not start:\n" + self.server_log())

    def server_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        """SIGTERM, then insist on a clean exit (the sanitizers report through it)."""
        if not self.proc:
            return
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=120 if WRAPPER else 30)
        self.proc = None
        self.log.close()
        log = self.server_log()
        assert "Sanitizer" not in log and "runtime error" not in log, log[-4000:]
        assert rc == 0, f"depot exited with {rc}:\n{log[-4000:]}"

    def pid(self):
        return self.proc.pid

    def api(self, path):
        return f"{self.url}/api/v4{path}"

    def db(self):
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
        rows = self.query("SELECT COUNT(*) FROM inline_blobs WHERE sha256 = ?", h)[0][0]
        return files, rows

    def blob_files(self):
        out = []
        for dirpath, _, files in os.walk(os.path.join(self.data, "blobs")):
            out += [os.path.join(dirpath, f) for f in files]
        return sorted(out)

    def inline_count(self):
        return self.query("SELECT COUNT(*) FROM inline_blobs")[0][0]

    def tmp_files(self):
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
        return resp.status, dict(resp.getheaders()), data

    def close(self):
        self.stop()
        if self._tmp:
            self._tmp.cleanup()


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
