"""`depot push` and `depot pull` (issue 14's client): a tree of 200 files up and back
byte-identical, nothing transferred the second time, a corrupted local file fetched again
alone, a pull resumed with Range after the server was killed, retries of 503 answers through
a fault-injecting proxy, the progress display in a pseudo-terminal, CI job token mode, and
atomic publishing (skipped while the server has no @publish)."""
import base64
import hashlib
import http.client
import http.server
import json
import os
import pty
import random
import re
import select
import signal
import subprocess
import threading
import time
import urllib.parse

import pytest
import requests

from conftest import DEPOT_REAL, setup_world, sha256, unique


from conftest import PG_MODE as _PG_MODE, S3_MODE as _S3_MODE

# The client's behaviour does not depend on the server's stores (test_publish.py and
# test_selectors.py, which it relies on, run in every pass): the plain and ASan passes run it.
pytestmark = pytest.mark.skipif(_PG_MODE or _S3_MODE, reason="the client over the default stores")
@pytest.fixture(scope="module")
def ctx(depot, tmp_path_factory):
    pid, headers = setup_world(depot)
    token = headers["PRIVATE-TOKEN"]
    tmp = tmp_path_factory.mktemp("client")
    token_file = tmp / "token"
    token_file.write_text(token + "\n")
    return {"pid": pid, "headers": headers, "token": token, "token_file": str(token_file),
            "tmp": tmp}


def url(depot, ctx, name, version, base=None):
    return f"{base or depot.api('')}/projects/{ctx['pid']}/packages/generic/{name}/{version}"


def client(*args, env=None, token=None, timeout=180):
    """Runs the client with the token in DEPOT_TOKEN (never on the command line)."""
    e = {k: v for k, v in os.environ.items()
         if k not in ("DEPOT_TOKEN", "CI_JOB_TOKEN", "CI_API_V4_URL", "CI_PROJECT_ID")}
    if token:
        e["DEPOT_TOKEN"] = token
    e.update(env or {})
    return subprocess.run([DEPOT_REAL, *args], capture_output=True, text=True, env=e,
                          timeout=timeout)


def report(res):
    assert res.stdout.count("\n") == 1, res.stdout  # one line of JSON, messages on stderr
    return json.loads(res.stdout)


def has_publish(depot, ctx):
    """Whether the server has @publish: a server without the route answers its 404 with
    "error", the route answers a missing version with "message"."""
    r = requests.post(url(depot, ctx, unique("probe"), "0.0.1") + "/@publish",
                      headers=ctx["headers"], json={"files": []}, timeout=30)
    return not (r.status_code == 404 and "error" in r.json())


needs_publish_msg = "the server has no @publish yet (issue 14's server branch)"


def make_tree(root, n=200, seed=1):
    """n files in nested directories: empty ones, a few of some MiB, small ones."""
    rnd = random.Random(seed)
    files = {}
    for i in range(n):
        depth = i % 4
        parts = [f"d{(i // 7) % 3}", f"s{(i // 3) % 4}", f"t{i % 2}"][:depth]
        name = "/".join(parts + [f"f{i:03d}.{['bin', 'txt', 'tar.gz'][i % 3]}"])
        if i % 20 == 0:
            data = b""
        elif i % 67 == 5:
            data = rnd.randbytes((2 << 20) + rnd.randrange(1 << 20))
        else:
            data = rnd.randbytes(rnd.randrange(1, 5000))
        files[name] = data
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return files


def read_tree(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


def package_files(depot, ctx, name, version):
    return sorted(depot.query(
        "SELECT f.file_name, f.file_sha256 FROM package_files f JOIN packages p"
        " ON p.id = f.package_id WHERE p.project_id = ? AND p.name = ? AND p.version = ?"
        " AND f.status = 0", ctx["pid"], name, version))


def file_rows(depot):
    return depot.query("SELECT COUNT(*) FROM package_files")[0][0]


def audit(depot, action, name):
    return depot.query("SELECT file_name, detail FROM audit_log WHERE action = ? AND package = ?"
                       " ORDER BY id", action, name)


def wait_audit(depot, action, name, count, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = audit(depot, action, name)
        if len(rows) >= count:
            return rows
        time.sleep(0.05)
    raise AssertionError(f"{count} {action} events of {name} expected, got {audit(depot, action, name)}")


# ---- the tree: up, down, again ----

def test_push_and_pull_a_tree_of_200_files_byte_identical_then_nothing_again(depot, ctx):
    src, dst = ctx["tmp"] / "tree", ctx["tmp"] / "tree-copy"
    files = make_tree(src)
    assert sum(1 for d in files.values() if not d) == 10
    assert sum(1 for d in files.values() if len(d) > 2 << 20) >= 3
    name = unique("tree")
    u = url(depot, ctx, name, "1.0.0")
    publish = has_publish(depot, ctx)

    res = client("push", str(src), u, "-j", "4", "--json", token=ctx["token"])
    assert res.returncode == 0, res.stderr
    rep = report(res)
    assert (rep["uploaded"], rep["unchanged"], rep["failed"], rep["ok"]) == (200, 0, 0, True)
    assert rep["published"] is publish and rep["atomic"] is publish
    assert rep["bytes"] == sum(len(d) for d in files.values())
    assert sorted(f["file_name"] for f in rep["files"]) == sorted(files)
    assert {f["action"] for f in rep["files"]} == {"uploaded"}
    if not publish:
        assert "the server has no @publish: uploading without atomic publishing" in res.stderr
    # one plain line per file (stderr is not a terminal), and the summary
    lines = res.stderr.splitlines()
    assert sorted(re.match(r"pushed (\S+) \(", ln).group(1)
                  for ln in lines if ln.startswith("pushed ")) == sorted(files)
    assert f"{name} 1.0.0: pushed 200 files" in lines[-1] and ", 0 failed" in lines[-1]
    assert package_files(depot, ctx, name, "1.0.0") == sorted((n, sha256(d))
                                                               for n, d in files.items())
    status = depot.query("SELECT status FROM packages WHERE name = ?", name)
    assert status == [(0,)]  # default: visible

    res = client("pull", u, str(dst), "--json", token=ctx["token"])
    assert res.returncode == 0, res.stderr
    rep = report(res)
    assert (rep["downloaded"], rep["unchanged"], rep["failed"]) == (200, 0, 0)
    assert (rep["name"], rep["version"], rep["requested"]) == (name, "1.0.0", "1.0.0")
    assert read_tree(dst) == files
    assert not [n for n in os.listdir(dst) if n.endswith(".depot-part")]
    assert len(wait_audit(depot, "download", name, 200)) == 200

    rows = file_rows(depot)
    res = client("push", str(src), u, "--json", token=ctx["token"])
    assert res.returncode == 0, res.stderr
    rep = report(res)
    assert (rep["uploaded"], rep["unchanged"], rep["bytes"]) == (0, 200, 0)
    assert file_rows(depot) == rows
    assert not [ln for ln in res.stderr.splitlines() if ln.startswith("pushed ")]

    res = client("pull", u, str(dst), "--json", token=ctx["token"])
    assert res.returncode == 0, res.stderr
    rep = report(res)
    assert (rep["downloaded"], rep["unchanged"], rep["bytes"]) == (0, 200, 0)
    assert res.stderr.splitlines()[-1] == f"{name} 1.0.0: pulled 0 files (0 B), 200 unchanged, 0 failed"
    time.sleep(1.5)  # the audit log is written in batches: nothing more comes
    assert len(audit(depot, "download", name)) == 200
    ctx["tree"] = (name, u, files, dst)


def test_a_corrupted_local_file_is_fetched_again_alone(depot, ctx):
    name, u, files, dst = ctx["tree"]
    victim = sorted(n for n, d in files.items() if len(d) > 100)[7]
    path = os.path.join(dst, victim)
    with open(path, "r+b") as f:
        f.seek(50)
        b = f.read(1)
        f.seek(50)
        f.write(bytes([b[0] ^ 0xFF]))
    before = len(audit(depot, "download", name))
    res = client("pull", u, str(dst), "--json", token=ctx["token"])
    assert res.returncode == 0, res.stderr
    rep = report(res)
    assert (rep["downloaded"], rep["unchanged"]) == (1, 199)
    assert [f["file_name"] for f in rep["files"] if f["action"] == "downloaded"] == [victim]
    assert read_tree(dst) == files
    rows = wait_audit(depot, "download", name, before + 1)
    assert [r[0] for r in rows[before:]] == [victim]


def test_dry_run_transfers_nothing(depot, ctx):
    src = ctx["tmp"] / "dry"
    files = make_tree(src, n=5, seed=2)
    name = unique("dry")
    u = url(depot, ctx, name, "1.0.0")
    rows = file_rows(depot)
    res = client("push", str(src), u, "--dry-run", "--json", token=ctx["token"])
    assert res.returncode == 0, res.stderr
    rep = report(res)
    assert {f["action"] for f in rep["files"]} == {"would upload"} and rep["uploaded"] == 0
    assert sorted(re.findall(r"^would push (\S+) ", res.stderr, re.M)) == sorted(files)
    assert file_rows(depot) == rows
    assert depot.query("SELECT COUNT(*) FROM packages WHERE name = ?", name) == [(0,)]

    name, u, files, _ = ctx["tree"]
    out = ctx["tmp"] / "dry-out"
    res = client("pull", u, str(out), "--dry-run", "--json", token=ctx["token"])
    assert res.returncode == 0, res.stderr
    rep = report(res)
    assert rep["downloaded"] == 0 and {f["action"] for f in rep["files"]} == {"would download"}
    assert not out.exists()


# ---- refusals: nothing sent, nothing changed ----

def test_names_the_registry_refuses_are_refused_before_anything_is_sent(depot, ctx):
    src = ctx["tmp"] / "badnames"
    (src / "ok").mkdir(parents=True)
    (src / "ok" / "fine.txt").write_bytes(b"fine")
    (src / "with space.txt").write_bytes(b"x")
    name = unique("bad")
    rows = file_rows(depot)
    res = client("push", str(src), url(depot, ctx, name, "1.0.0"), token=ctx["token"])
    assert res.returncode == 1
    assert "depot: with space.txt: the registry refuses this name" in res.stderr
    assert "depot: nothing pushed: 1 name the registry would refuse" in res.stderr
    assert file_rows(depot) == rows


@pytest.mark.parametrize("args,message", [
    (["push", "DIR", "http://h/api/v4/projects/1/packages/generic/pkg/@latest"],
     "depot: push needs a version, not a selector (@latest)\n"),
    (["push", "DIR", "http://h/api/v4/projects/1/nothing/pkg/1.0"],
     "depot: 'http://h/api/v4/projects/1/nothing/pkg/1.0' is not a package URL: "
     "http(s)://HOST/api/v4/projects/ID/packages/generic/NAME/VERSION\n"),
    (["pull", "pkg/1.0"],
     "depot: 'pkg/1.0' is not a package URL; NAME/VERSION alone needs CI_API_V4_URL and "
     "CI_PROJECT_ID (set in GitLab CI jobs)\n"),
    (["pull", "http://h/api/v4/projects/1/packages/generic/pk%20g/1.0"],
     "depot: invalid package name in 'http://h/api/v4/projects/1/packages/generic/pk%20g/1.0'\n"),
])
def test_usage_mistakes(ctx, args, message):
    args = [str(ctx["tmp"]) if a == "DIR" else a for a in args]
    res = client(*args)
    assert (res.returncode, res.stdout, res.stderr) == (1, "", message)


def test_a_token_is_never_an_option(ctx):
    res = client("pull", "http://h/api/v4/projects/1/packages/generic/p/1.0", "--token", "x")
    assert (res.returncode, res.stderr) == (2, "depot: unknown option '--token'\n")


def test_a_4xx_is_not_retried_and_fails(depot, ctx):
    name, u, _, _ = ctx["tree"]
    with Proxy(depot.url) as proxy:
        res = client("pull", url(depot, ctx, name, "1.0.0", proxy.api), str(ctx["tmp"] / "x"),
                     token="glpat-wrongwrongwrongwrong")
        assert res.returncode == 1
        assert res.stderr == f"depot: listing {name} 1.0.0: 401 Unauthorized\n"
        assert [s[0] for s in proxy.seen] == ["GET"]  # once: no retry


# ---- fault injection ----

class Proxy:
    """A tiny HTTP proxy in front of depot: fail(method, n, status) answers the next n
    requests of that method itself with status; corrupt_downloads flips a byte of file
    bodies; publish_answers stands in for @publish; seen lists (method, headers, body) of
    every request."""

    def __init__(self, upstream):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.failures = {}
        self.corrupt = False
        self.publish_answers = []  # (status, body) for the next POSTs to @publish
        self.seen = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_one(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with proxy.lock:
                    proxy.seen.append((self.command, {**self.headers, ":path": self.path},
                                       body))
                    left, status = proxy.failures.get(self.command, (0, 0))
                    if left:
                        proxy.failures[self.command] = (left - 1, status)
                if self.command == "POST" and self.path.endswith("/@publish") \
                        and proxy.publish_answers:
                    left, (status, answer) = 1, proxy.publish_answers.pop(0)
                    data = json.dumps(answer).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if left:
                    data = json.dumps({"message": f"{status} Service Unavailable"}).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                conn = http.client.HTTPConnection(proxy.upstream.hostname,
                                                  proxy.upstream.port, timeout=60)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body if n else None,
                             headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                if proxy.corrupt and self.command == "GET" and data \
                        and not self.path.endswith("/files"):
                    i = min(5, len(data) - 1)
                    data = data[:i] + bytes([data[i] ^ 1]) + data[i + 1:]
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = handle_one

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.api = f"http://127.0.0.1:{self.server.server_address[1]}/api/v4"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_503_twice_then_the_retry_succeeds_with_content_digest(depot, ctx):
    src = ctx["tmp"] / "retry"
    src.mkdir()
    data = os.urandom(70000)
    (src / "one.bin").write_bytes(data)
    name = unique("retry")
    with Proxy(depot.url) as proxy:
        proxy.failures["PUT"] = (2, 503)
        res = client("push", str(src), url(depot, ctx, name, "1.0.0", proxy.api), "--json",
                     "--no-atomic", token=ctx["token"])
        assert res.returncode == 0, res.stderr
        puts = [(h, b) for m, h, b in proxy.seen if m == "PUT"]
    rep = report(res)
    assert rep["files"] == [{"file_name": "one.bin", "size": 70000, "sha256": sha256(data),
                             "action": "uploaded", "retries": 2}]
    assert re.findall(r"^retrying one\.bin in [0-9.]+ s \((\d) of 5\): 503 Service Unavailable$",
                      res.stderr, re.M) == ["1", "2"]
    assert len(puts) == 3  # two answered 503 by the proxy, the third reached depot
    digest = "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"
    for headers, body in puts:
        assert headers["Content-Digest"] == digest and body == data
        assert headers["PRIVATE-TOKEN"] == ctx["token"] and "?status=" not in headers[":path"]
    assert package_files(depot, ctx, name, "1.0.0") == [("one.bin", sha256(data))]


def test_retries_run_out_and_the_exit_status_says_so(depot, ctx):
    src = ctx["tmp"] / "retry-out"
    src.mkdir()
    (src / "a.txt").write_bytes(b"a")
    name = unique("out")
    with Proxy(depot.url) as proxy:
        proxy.failures["PUT"] = (10, 502)
        res = client("push", str(src), url(depot, ctx, name, "1.0.0", proxy.api), "--json",
                     "--no-atomic", "--retries", "2", token=ctx["token"])
    assert res.returncode == 1
    rep = report(res)
    assert (rep["ok"], rep["failed"], rep["files"][0]["action"]) == (False, 1, "failed")
    assert "depot: " not in res.stderr.splitlines()[-1]
    assert "failed a.txt: 502 Service Unavailable" in res.stderr
    assert package_files(depot, ctx, name, "1.0.0") == []


def test_a_download_that_does_not_match_its_sha256_is_not_kept(depot, ctx):
    name, _, files, _ = ctx["tree"]
    big = sorted(n for n, d in files.items() if len(d) > 1000)[0]
    out = ctx["tmp"] / "corrupt-out"
    with Proxy(depot.url) as proxy:
        proxy.corrupt = True
        res = client("pull", url(depot, ctx, name, "1.0.0", proxy.api), str(out), "--json",
                     token=ctx["token"])
    assert res.returncode == 1
    rep = report(res)
    assert rep["downloaded"] == 10  # the empty files: nothing to flip
    failed = [f for f in rep["files"] if f["action"] == "failed"]
    assert len(failed) == 190 and big in [f["file_name"] for f in failed]
    assert all("the listing says" in f["error"] for f in failed)
    assert not os.path.exists(out / big)
    assert not [p for p in read_tree(out) if p.endswith(".depot-part")]


# ---- the progress display ----

def test_progress_display_in_a_pseudo_terminal(depot, ctx):
    name, u, files, _ = ctx["tree"]
    out = ctx["tmp"] / "pty-out"
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI_JOB_TOKEN"}
    env["DEPOT_TOKEN"] = ctx["token"]
    proc = subprocess.Popen([DEPOT_REAL, "pull", u, str(out), "-j", "2"], stdin=slave,
                            stdout=slave, stderr=slave, env=env)
    os.close(slave)
    buf = b""
    while True:
        r, _, _ = select.select([master], [], [], 60)
        if not r:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        buf += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0
    text = buf.decode()
    frames = re.findall(r"\r\x1b\[K(\d+)/200 files  (\S+ \S+) / (\S+ \S+)  (\S+ \S+)/s  (\S+) left",
                        text)
    assert frames, text
    assert frames[-1][0] == "200" and frames[-1][1] == frames[-1][2]  # complete at the end
    total = sum(len(d) for d in files.values())
    assert frames[-1][2] == f"{total / (1 << 20):.1f} MiB"
    assert "pulled f" not in text  # no line per file on a terminal
    assert text.rstrip().endswith(f"{name} 1.0.0: pulled 200 files "
                                  f"({total / (1 << 20):.1f} MiB), 0 unchanged, 0 failed")
    assert read_tree(out) == files


# ---- CI ----

def test_ci_job_token_mode_needs_no_configuration(depot, ctx):
    job = depot.cli("token", "create", "job", "--project", "g/p", "--user", "u").stdout.strip()
    env = {"CI_JOB_TOKEN": job, "CI_API_V4_URL": depot.api(""),
           "CI_PROJECT_ID": str(ctx["pid"])}
    src = ctx["tmp"] / "ci"
    files = make_tree(src, n=6, seed=3)
    name = unique("ci")
    res = client("push", str(src), f"{name}/2.0.0", "--json", env=env)
    assert res.returncode == 0, res.stderr
    assert report(res)["uploaded"] == 6
    assert package_files(depot, ctx, name, "2.0.0") == sorted((n, sha256(d))
                                                               for n, d in files.items())
    wait_audit(depot, "upload", name, 6)
    users = depot.query("SELECT DISTINCT username, token_kind FROM audit_log"
                        " WHERE action = 'upload' AND package = ?", name)
    assert users == [("u", "job")]
    out = ctx["tmp"] / "ci-out"
    res = client("pull", f"{name}/2.0.0", str(out), env=env)
    assert res.returncode == 0, res.stderr
    assert read_tree(out) == files
    # DEPOT_TOKEN wins over CI_JOB_TOKEN; a bad one is refused, not replaced
    res = client("pull", f"{name}/2.0.0", str(out), env={**env, "DEPOT_TOKEN": "glpat-nope"})
    assert (res.returncode, res.stderr) == (1, f"depot: listing {name} 2.0.0: 401 Unauthorized\n")


# ---- selectors and atomic publishing (need issue 14's server) ----

def test_pull_latest_takes_the_chosen_version(depot, ctx):
    name = unique("sel")
    for version, body in [("1.2.0", b"one-two"), ("1.10.0", b"one-ten")]:
        r = requests.put(url(depot, ctx, name, version) + "/dir/f.txt", data=body,
                         headers=ctx["headers"], timeout=30)
        assert r.status_code == 201
    probe = requests.get(url(depot, ctx, name, "@latest") + "/files", headers=ctx["headers"],
                         timeout=30)
    if "X-Package-Version" not in probe.headers:
        pytest.skip("the server has no version selectors yet (issue 14's server branch)")
    out = ctx["tmp"] / "latest"
    res = client("pull", url(depot, ctx, name, "@latest"), str(out), "--json",
                 token=ctx["token"])
    assert res.returncode == 0, res.stderr
    rep = report(res)
    assert (rep["requested"], rep["version"], rep["downloaded"]) == ("@latest", "1.10.0", 1)
    assert f"{name} @latest is 1.10.0\n" in res.stderr
    assert (out / "dir" / "f.txt").read_bytes() == b"one-ten"
    res = client("pull", url(depot, ctx, name, "@~1.2.0"), str(ctx["tmp"] / "tilde"), "--json",
                 token=ctx["token"])
    assert res.returncode == 0, res.stderr
    assert report(res)["version"] == "1.2.0"


def test_atomic_push_a_consumer_never_sees_a_partial_version(depot, ctx):
    if not has_publish(depot, ctx):
        pytest.skip(needs_publish_msg)
    name = unique("atomic")
    first = ctx["tmp"] / "atomic1"
    make_tree(first, n=3, seed=4)
    assert client("push", str(first), url(depot, ctx, name, "1.0.0"),
                  token=ctx["token"]).returncode == 0
    second = ctx["tmp"] / "atomic2"
    files2 = make_tree(second, n=40, seed=5)
    proc = subprocess.Popen([DEPOT_REAL, "push", str(second), url(depot, ctx, name, "2.0.0"),
                             "-j", "2", "--limit-rate", "1000000", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "DEPOT_TOKEN": ctx["token"]})
    seen = set()
    while proc.poll() is None:
        r = requests.get(url(depot, ctx, name, "@latest") + "/files", headers=ctx["headers"],
                         timeout=30)
        assert r.status_code == 200
        v = r.headers["X-Package-Version"]
        seen.add(v)
        assert len(r.json()) == {"1.0.0": 3, "2.0.0": 40}[v], (v, len(r.json()))
        time.sleep(0.02)
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    rep = json.loads(out)
    assert (rep["atomic"], rep["published"], rep["uploaded"]) == (True, True, 40)
    assert "1.0.0" in seen
    r = requests.get(url(depot, ctx, name, "@latest") + "/files", headers=ctx["headers"],
                     timeout=30)
    assert r.headers["X-Package-Version"] == "2.0.0"
    assert sorted(f["file_name"] for f in r.json()) == sorted(files2)


def test_atomic_push_refuses_to_publish_a_version_that_differs(depot, ctx):
    if not has_publish(depot, ctx):
        pytest.skip(needs_publish_msg)
    name = unique("differs")
    u = url(depot, ctx, name, "1.0.0")
    r = requests.put(u + "/stray.txt?status=hidden", data=b"stray", headers=ctx["headers"],
                     timeout=30)
    assert r.status_code == 201
    src = ctx["tmp"] / "differs"
    src.mkdir()
    (src / "a.txt").write_bytes(b"a")
    res = client("push", str(src), u, "--json", token=ctx["token"])
    assert res.returncode == 1
    rep = report(res)
    assert (rep["uploaded"], rep["published"], rep["ok"]) == (1, False, False)
    assert '"unexpected":["stray.txt"]' in res.stderr
    assert depot.query("SELECT status FROM packages WHERE name = ?", name) == [(1,)]  # hidden


def test_atomic_push_uploads_hidden_then_publishes_with_the_manifest(depot, ctx):
    """The client's side of atomic publishing, with the proxy answering @publish as
    contract14 says (so it runs before the server has the route): the probe's empty
    manifest, uploads with status=hidden, then the manifest of every file; a 409 with the
    differences fails the push."""
    src = ctx["tmp"] / "atomic-proxy"
    files = make_tree(src, n=4, seed=6)
    name = unique("proxied")
    done = {"id": 1, "name": name, "version": "1.0.0", "status": "default", "files": 4}
    with Proxy(depot.url) as proxy:
        proxy.publish_answers = [(404, {"message": "404 Package Not Found"}), (200, done)]
        res = client("push", str(src), url(depot, ctx, name, "1.0.0", proxy.api), "--json",
                     token=ctx["token"])
        seen = list(proxy.seen)
    assert res.returncode == 0, res.stderr
    rep = report(res)
    assert (rep["atomic"], rep["published"], rep["uploaded"], rep["ok"]) == (True, True, 4, True)
    assert res.stderr.splitlines()[-1].endswith("; published")
    posts = [json.loads(b) for m, _, b in seen if m == "POST"]
    assert posts == [{"files": []}, {"files": [{"file_name": n, "sha256": sha256(files[n])}
                                               for n in sorted(files)]}]
    puts = [h[":path"] for m, h, _ in seen if m == "PUT"]
    assert len(puts) == 4 and all(p.endswith("?status=hidden") for p in puts), puts
    assert depot.query("SELECT status FROM packages WHERE name = ?", name) == [(1,)]  # hidden
    assert package_files(depot, ctx, name, "1.0.0") == sorted((n, sha256(d))
                                                               for n, d in files.items())
    # the same version again: the files are there (hidden), @publish refuses the manifest
    conflict = {"message": "409 Conflict - the version's files differ from the manifest",
                "missing": [], "unexpected": ["stray.txt"], "mismatched": []}
    with Proxy(depot.url) as proxy:
        proxy.publish_answers = [(409, conflict), (409, conflict)]
        res = client("push", str(src), url(depot, ctx, name, "1.0.0", proxy.api), "--json",
                     token=ctx["token"])
        methods = [m for m, _, _ in proxy.seen]
    assert res.returncode == 1
    rep = report(res)
    assert (rep["uploaded"], rep["unchanged"], rep["published"], rep["ok"]) == (0, 4, False, False)
    assert '"unexpected":["stray.txt"]' in res.stderr
    assert "not published (the version stays hidden)" in res.stderr
    # probe, the visible-already look-up (the Packages API), publish
    assert methods == ["GET", "POST", "GET", "POST"]


# ---- last: it restarts the server ----

def test_a_pull_interrupted_by_a_killed_server_resumes_with_range(depot, ctx):
    src = ctx["tmp"] / "resume"
    src.mkdir()
    # Larger than what the socket buffers between the two can hold (tcp_rmem's maximum is
    # 32 MiB on these machines): with 6 MiB, all of the rest was already on its way when the
    # server died, and the pull completed.
    data = os.urandom(64 << 20)
    (src / "big.bin").write_bytes(data)
    name = unique("resume")
    u = url(depot, ctx, name, "1.0.0")
    assert client("push", str(src), u, token=ctx["token"]).returncode == 0
    out = ctx["tmp"] / "resume-out"
    part = out / f".big.bin.{sha256(data)[:16]}.depot-part"
    proc = subprocess.Popen([DEPOT_REAL, "pull", u, str(out), "--limit-rate", "8000000",
                             "--retries", "1", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "DEPOT_TOKEN": ctx["token"]})
    deadline = time.time() + 60
    while time.time() < deadline and not (part.exists() and part.stat().st_size > 1 << 20):
        time.sleep(0.05)
    assert part.exists() and part.stat().st_size > 1 << 20
    depot.proc.send_signal(signal.SIGKILL)
    depot.proc.wait()
    depot.proc = None
    depot.log.close()
    out_text, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert json.loads(out_text)["files"][0]["action"] == "failed"
    assert "retrying big.bin in 0.25 s (1 of 1)" in err
    kept = part.stat().st_size
    assert 1 << 20 < kept < len(data) and not (out / "big.bin").exists()
    assert (part.read_bytes()) == data[:kept]

    depot.start()
    u = url(depot, ctx, name, "1.0.0")
    res = client("pull", u, str(out), "--json", token=ctx["token"])
    assert res.returncode == 0, res.stderr
    assert report(res)["downloaded"] == 1
    assert "pulled big.bin (64.0 MiB), resumed" in res.stderr
    assert (out / "big.bin").read_bytes() == data and not part.exists()
    rows = wait_audit(depot, "download", name, 1)
    assert rows[-1] == ("big.bin", "range")
