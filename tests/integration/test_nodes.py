"""Nodes that share nothing but the stores (DEPOT_TEST_NODES=2, over PostgreSQL and RGW):
what one node changes, the other answers at once (identities and access levels are
cached per node under the auth epoch, which every request reads); the duplicate check is one decision across nodes; gc on one node never takes
content an upload on the other is linking; a node SIGKILLed mid-upload leaves nothing fsck
objects to; a PostgreSQL restart under load answers 503 with JSON and heals by itself.
Requests go to one node's own address where the test needs to know which node answers,
else through HAProxy (Depot.url)."""
import hashlib
import http.client
import json
import os
import signal
import threading
import time

import pytest
import requests

import conftest
from conftest import NODES_MODE, Depot, World, generic_path, sha256, unique

pytestmark = pytest.mark.skipif(not NODES_MODE, reason="needs DEPOT_TEST_NODES=2 (with pg and s3)")

DUP = {"message": "400 Bad request - Duplicate package is not allowed"}
PROTECTED = {"message": "403 Forbidden - Package protected."}
UNAVAILABLE = {"message": "503 Service Unavailable"}


def at(node, path):
    return f"{node.url}/api/v4{path}"


def put(node, w, user, pid, name, body, version="1.0", file_name="f.bin"):
    return requests.put(at(node, generic_path(pid, name, version, file_name)), data=body,
                        headers={"PRIVATE-TOKEN": w.pat[user]}, timeout=60)


def cached_file(depot, world):
    """A file dev may download, and a new personal token of dev's that both nodes have used
    (so that their caches hold it) for it and for GET /user: (download path, token)."""
    a, b = depot.nodes
    name = unique("cached")
    assert put(a, world, "dev", world.pid("acme/app"), name, b"cached").status_code == 201
    path = generic_path(world.pid("acme/app"), name, "1.0", "f.bin")
    t = json.loads(depot.cli("token", "create", "personal", "--user", "dev", "--scopes", "api",
                             "--json").stdout)
    h = {"PRIVATE-TOKEN": t["token"]}
    for _ in range(3):
        for n in (a, b):
            assert requests.get(at(n, "/user"), headers=h).status_code == 200
            assert requests.get(at(n, path), headers=h).content == b"cached"
    return path, t


REVOKED = {"error": "invalid_token",
           "error_description": "Token was revoked. You have to re-authorize from the user."}


def test_a_revoked_token_is_refused_by_the_other_node_at_once(depot, world):
    """Nodes cache identities under the auth epoch, which a download reads with its
    lookup and other requests on their own: the very next request is refused."""
    a, b = depot.nodes
    path, t = cached_file(depot, world)
    h = {"PRIVATE-TOKEN": t["token"]}
    depot.cli("token", "revoke", str(t["id"]))  # another process
    for n in (b, a):
        for p in (path, "/user"):
            r = requests.get(at(n, p), headers=h)
            assert (r.status_code, r.json()) == (401, REVOKED), (n.url, p)


def test_a_token_revoked_through_one_node_is_refused_by_it_at_once(depot, world):
    a, b = depot.nodes
    path, t = cached_file(depot, world)
    h = {"PRIVATE-TOKEN": t["token"]}
    r = requests.delete(at(a, f"/personal_access_tokens/{t['id']}"),
                        headers={"PRIVATE-TOKEN": world.pat["admin"]})
    assert r.status_code == 204
    for n, p in [(a, "/user"), (b, path), (b, "/user"), (a, path)]:
        r = requests.get(at(n, p), headers=h)
        assert (r.status_code, r.json()) == (401, REVOKED), (n.url, p)


def test_a_membership_removed_through_one_node_is_refused_by_the_other(depot, world):
    a, b = depot.nodes
    name = unique("m")
    depot.cli("user", "create", name)
    depot.cli("member", "add", "--project", "acme/app", "--user", name, "--role", "reporter")
    t = json.loads(depot.cli("token", "create", "personal", "--user", name, "--scopes", "api",
                             "--json").stdout)
    h = {"PRIVATE-TOKEN": t["token"]}
    fname = unique("m")
    assert put(a, world, "dev", world.pid("acme/app"), fname, b"m").status_code == 201
    path = generic_path(world.pid("acme/app"), fname, "1.0", "f.bin")
    for _ in range(3):
        for n in (a, b):
            assert requests.get(at(n, path), headers=h).status_code == 200
    uid = depot.query("SELECT id FROM users WHERE username = ?", name)[0][0]
    r = requests.delete(at(a, f"/projects/{world.pid('acme/app')}/members/{uid}"),
                        headers={"PRIVATE-TOKEN": world.pat["owner"]})
    assert r.status_code == 204, r.text
    for n in (a, b):
        r = requests.get(at(n, path), headers=h)
        assert (r.status_code, r.json()) == (404, {"message": "404 Not Found"}), n.url


def test_settings_rules_and_deletes_are_seen_by_the_other_node_at_once(depot, world):
    a, b = depot.nodes
    pid = world.pid("acme/app")
    settings = "/groups/acme/packages/settings"
    owner = {"PRIVATE-TOKEN": world.pat["owner"]}
    name = unique("dup")
    assert put(a, world, "dev", pid, name, b"one").status_code == 201
    assert put(b, world, "dev", pid, name, b"two").status_code == 201  # allowed so far
    r = requests.put(at(a, settings), headers=owner,
                     json={"generic_duplicates_allowed": False,
                           "generic_duplicate_exception_regex": ""})
    assert r.status_code == 200
    r = put(b, world, "dev", pid, name, b"three")
    assert (r.status_code, r.json()) == (400, DUP)
    r = requests.put(at(b, settings), headers=owner,
                     json={"generic_duplicates_allowed": True})
    assert r.status_code == 200
    assert put(a, world, "dev", pid, name, b"four").status_code == 201

    # a protection rule made through one node binds uploads through the other
    rules = at(b, f"/projects/{pid}/packages/protection/rules")
    r = requests.post(rules, headers={"PRIVATE-TOKEN": world.pat["maint"]},
                      json={"package_name_pattern": "nodes-prot-*", "package_type": "generic",
                            "minimum_access_level_for_push": "maintainer",
                            "minimum_access_level_for_delete": None})
    assert r.status_code == 201
    rule = r.json()["id"]
    r = put(a, world, "dev", pid, unique("nodes-prot"), b"x")
    assert (r.status_code, r.json()) == (403, PROTECTED)
    assert requests.delete(f"{rules}/{rule}",
                           headers={"PRIVATE-TOKEN": world.pat["maint"]}).status_code == 204
    assert put(a, world, "dev", pid, unique("nodes-prot"), b"x").status_code == 201

    # a deleted package: gone on the other node, though it served it a moment ago (small
    # files are kept in its hot-blob cache, which is keyed by content, not by name)
    gone = unique("gone")
    for body in (b"small and hot", os.urandom(300_000)):
        assert put(a, world, "dev", pid, gone, body, file_name=f"{len(body)}").status_code == 201
        url = generic_path(pid, gone, "1.0", f"{len(body)}")
        for _ in range(3):
            r = requests.get(at(b, url), headers={"PRIVATE-TOKEN": world.pat["dev"]})
            assert r.content == body
    pkg = requests.get(at(a, f"/projects/{pid}/packages?package_name={gone}"),
                       headers={"PRIVATE-TOKEN": world.pat["dev"]}).json()
    assert [p["name"] for p in pkg] == [gone]
    assert requests.delete(at(a, f"/projects/{pid}/packages/{pkg[0]['id']}"),
                           headers={"PRIVATE-TOKEN": world.pat["maint"]}).status_code == 204
    for size in ("13", "300000"):
        r = requests.get(at(b, generic_path(pid, gone, "1.0", size)),
                         headers={"PRIVATE-TOKEN": world.pat["dev"]})
        assert r.status_code == 404, size


@pytest.mark.parametrize("size", [10, 200_000])  # inline (group commit), and an object
def test_32_concurrent_uploads_of_one_new_file_through_haproxy(depot, world, size):
    """Duplicates disallowed: of 32 uploads spread over both nodes, exactly one 201."""
    depot.cli("settings", "set", "--group", "acme", "generic_duplicates_allowed=false",
              "generic_duplicate_exception_regex=")
    pid = world.pid("acme/app")
    try:
        for _ in range(3):
            name = unique("race")
            barrier = threading.Barrier(32)
            results = [None] * 32

            def go(i):
                body = str(i).encode().ljust(size, b".")
                url = depot.api(generic_path(pid, name, "1.0", "same.bin"))
                barrier.wait()
                r = requests.put(url, data=body, headers={"PRIVATE-TOKEN": world.pat["dev"]},
                                 timeout=120)
                results[i] = (r.status_code, r.json())

            threads = [threading.Thread(target=go, args=(i,)) for i in range(32)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=180)
            assert sorted(s for s, _ in results) == [201] + [400] * 31, results
            assert all(body == DUP for s, body in results if s == 400)
            assert depot.query("SELECT COUNT(*) FROM package_files f JOIN packages p"
                               " ON p.id = f.package_id WHERE p.name = ?", name) == [(1,)]
            # HAProxy spread them: each node answered some
            for n in depot.nodes:
                with open(n.log_path, "rb") as f:
                    assert f"/{name}/".encode() in f.read(), n.log_path
    finally:
        depot.cli("settings", "set", "--group", "acme", "generic_duplicates_allowed=true")


@pytest.mark.parametrize("size", [100, 300_000])  # inline row, and an object in the bucket
def test_gc_on_one_node_never_takes_content_an_upload_on_the_other_links(depot, world, size):
    """Node b uploads one content under new names again and again; node a, meanwhile,
    uploads the same content, deletes it and runs gc in a loop, so the content keeps
    dropping to no live file just as b links to it. Every file b heard 201 for downloads
    with its SHA-256, and fsck finds nothing wrong. (gc's --min-age keeps it off objects
    not yet mapped, an upload's own; what is raced here is the mapped content.)"""
    a, b = depot.nodes
    pid = world.pid("acme/sub/lib")
    body = os.urandom(size)
    h = {"PRIVATE-TOKEN": world.pat["dev"]}
    stop = threading.Event()
    kept, errors = [], []

    def uploader():
        s = requests.Session()
        while not stop.is_set():
            name = unique("kept")
            r = s.put(at(b, generic_path(pid, name, "1.0", "f.bin")), data=body, headers=h,
                      timeout=60)
            if r.status_code == 201:
                kept.append(name)
            else:
                errors.append((r.status_code, r.text))

    def collector():
        s = requests.Session()
        while not stop.is_set():
            name = unique("dropped")
            url = at(a, generic_path(pid, name, "1.0", "f.bin"))
            if s.put(url, data=body, headers=h, timeout=60).status_code != 201:
                errors.append(("collector upload", name))
                continue
            pkgs = s.get(at(a, f"/projects/{pid}/packages?package_name={name}"), headers=h).json()
            s.delete(at(a, f"/projects/{pid}/packages/{pkgs[0]['id']}"),
                     headers={"PRIVATE-TOKEN": world.pat["maint"]})
            res = depot.cli("gc", "--min-age", "60", check=False)
            if res.returncode != 0:
                errors.append(("gc", res.stderr))

    threads = [threading.Thread(target=uploader), threading.Thread(target=collector)]
    for t in threads:
        t.start()
    deadline = time.time() + 20
    while time.time() < deadline and (len(kept) < 40 or not stop.is_set()):
        time.sleep(0.1)
        if len(kept) >= 40:
            stop.set()
    stop.set()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:5]
    assert len(kept) >= 10, "too few uploads raced"
    depot.cli("gc", "--min-age", "60")
    want = sha256(body)
    for name in kept:
        r = requests.get(depot.api(generic_path(pid, name, "1.0", "f.bin")), headers=h)
        assert (r.status_code, sha256(r.content)) == (200, want), name
    res = depot.cli("fsck", check=False)
    assert (res.returncode, res.stdout) == (0, ""), res


def test_a_node_killed_mid_upload_while_the_other_serves(depot, world):
    """SIGKILL of node b while it receives a multipart upload: node a (and HAProxy) keep
    serving; after gc, fsck finds nothing wrong and no multipart upload is left open."""
    a, b = depot.nodes
    pid = world.pid("acme/app")
    h = {"PRIVATE-TOKEN": world.pat["dev"]}
    sent, killed = threading.Event(), threading.Event()
    outcome = []

    def body():
        chunk = os.urandom(1 << 20)
        for i in range(64):
            if i == 12:  # two parts of 5 MiB are on their way
                sent.set()
                killed.wait(30)
            yield chunk

    def upload():
        try:
            r = requests.put(at(b, generic_path(pid, "killed", "1.0", "big.bin")), data=body(),
                             headers=h, timeout=60)
            outcome.append(r.status_code)
        except requests.RequestException as e:
            outcome.append(type(e).__name__)

    t = threading.Thread(target=upload)
    t.start()
    assert sent.wait(30)
    time.sleep(0.5)
    b.proc.send_signal(signal.SIGKILL)
    b.proc.wait()
    killed.set()
    t.join(timeout=60)
    assert outcome and outcome[0] != 201, outcome
    try:
        # HAProxy sends everything to the node alive (a refused connection is redispatched)
        for i in range(10):
            body_i = os.urandom(70_000)
            r = requests.put(depot.api(generic_path(pid, "alive", "1.0", f"f{i}")), data=body_i,
                             headers=h, timeout=30)
            assert r.status_code == 201, (i, r.status_code, r.text)
            r = requests.get(depot.api(generic_path(pid, "alive", "1.0", f"f{i}")), headers=h)
            assert r.content == body_i
        assert depot.query("SELECT COUNT(*) FROM packages WHERE name = 'killed'") == [(0,)]
        assert depot.tmp_files() != []  # b's multipart upload, left open by the kill
        res = depot.cli("gc", "--min-age", "0")
        assert depot.tmp_files() == []
        res = depot.cli("fsck", check=False)
        assert (res.returncode, res.stdout) == (0, ""), res
    finally:
        b.proc = None
        depot.start()  # b again, on its port; HAProxy takes it back in


def test_postgres_restart_under_load_through_haproxy(depot, world):
    """Requests in flight when PostgreSQL restarts answer 503 with depot's JSON message
    (from the nodes: HAProxy, with both out, still passes requests on to them); the nodes
    reconnect by themselves; every 201 downloads, and fsck finds nothing half-recorded."""
    pid = world.pid("acme/internal")
    h = {"PRIVATE-TOKEN": world.pat["dev"]}
    stop = threading.Event()
    seen, acked = [], {}

    def load(k):
        s = requests.Session()
        i = 0
        while not stop.is_set():
            name = f"pgr{k}-{i}"
            body = os.urandom((0, 1000, 100_000)[i % 3])
            try:
                r = s.put(depot.api(generic_path(pid, name, "1.0", "f")), data=body, headers=h,
                          timeout=60)
                seen.append((r.status_code, r.headers.get("Content-Type"), r.text))
                if r.status_code == 201:
                    acked[name] = body
                r = s.get(depot.api(generic_path(pid, "pgr-read", "1.0", "f")), headers=h,
                          timeout=60)
                seen.append((r.status_code, r.headers.get("Content-Type"), r.text))
            except requests.ConnectionError as e:
                seen.append((0, None, str(e)))
            i += 1

    assert requests.put(depot.api(generic_path(pid, "pgr-read", "1.0", "f")), data=b"r",
                        headers=h).status_code == 201
    threads = [threading.Thread(target=load, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    for mode in ["fast", "immediate", "fast"]:
        conftest._pg.restart(mode)
        time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    failed = [s for s in seen if s[0] not in (200, 201)]
    assert len(seen) > len(failed) > 0, seen[-5:]
    for status, ctype, text in failed:
        assert (status, ctype, json.loads(text)) == (503, "application/json", UNAVAILABLE), \
            (status, ctype, text)
    # back by itself: everything after succeeds, through either node
    for n in depot.nodes:
        deadline = time.time() + 20
        while requests.get(n.url + "/-/readiness").status_code != 200:
            assert time.time() < deadline
            time.sleep(0.1)
    for i in range(10):
        r = requests.put(depot.api(generic_path(pid, "pgr-after", "1.0", f"f{i}")),
                         data=b"y" * (i % 2 * 70000 + 1), headers=h)
        assert r.status_code == 201, (i, r.status_code, r.text)
    for name, body in acked.items():
        r = requests.get(depot.api(generic_path(pid, name, "1.0", "f")), headers=h)
        assert (r.status_code, hashlib.sha256(r.content).hexdigest()) == (200, sha256(body)), name
    depot.cli("gc", "--min-age", "0")
    res = depot.cli("fsck", check=False)
    assert (res.returncode, res.stdout) == (0, ""), res


def test_object_storage_unreachable_through_haproxy():
    """Both nodes' bucket unreachable: their readiness fails, HAProxy still passes requests
    on (fail open), and each answers as one node would: uploads 503, nothing recorded,
    small files (kept in PostgreSQL) still accepted."""
    d = Depot()
    w = World(d)
    d.blobs = d.blobs.replace(conftest.S3["rgw"].endpoint, "http://127.0.0.1:9")  # discard
    d.start("--gc-interval", "0")
    try:
        assert d.haproxy.wait_state({"node0": "DOWN", "node1": "DOWN"})
        pid = w.pid("acme/app")
        h = {"PRIVATE-TOKEN": w.pat["dev"]}
        for size in (200_000, 12 << 20):
            r = requests.put(d.api(generic_path(pid, unique(), "1.0", "f")),
                             data=os.urandom(size), headers=h)
            assert (r.status_code, r.json()) == (503, UNAVAILABLE)
        assert d.query("SELECT COUNT(*) FROM package_files") == [(0,)]
        assert d.query("SELECT COUNT(*) FROM blob_keys") == [(0,)]
        assert requests.put(d.api(generic_path(pid, unique(), "1.0", "s")), data=b"tiny",
                            headers=h).status_code == 201
    finally:
        d.close()


def test_one_package_deleted_through_both_nodes_at_once_is_deleted_once(depot, world):
    """Of concurrent deletes of one package spread over both nodes, one answers 204, the
    others 404, and the audit log says it once."""
    pid = world.pid("acme/app")
    h = {"PRIVATE-TOKEN": world.pat["maint"]}
    for _ in range(3):
        name = unique("del")
        assert put(depot.nodes[0], world, "dev", pid, name, b"x").status_code == 201
        pkg = requests.get(depot.api(f"/projects/{pid}/packages?package_name={name}"),
                           headers=h).json()[0]["id"]
        barrier = threading.Barrier(16)
        codes = []

        def go(i):
            url = at(depot.nodes[i % 2], f"/projects/{pid}/packages/{pkg}")
            barrier.wait()
            codes.append(requests.delete(url, headers=h, timeout=60).status_code)

        threads = [threading.Thread(target=go, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert sorted(codes) == [204] + [404] * 15, codes
        deadline = time.time() + 10  # audit events are written in batches
        while time.time() < deadline:
            rows = depot.query("SELECT COUNT(*) FROM audit_log WHERE action = 'delete'"
                               " AND package = ?", name)
            if rows == [(1,)]:
                break
            time.sleep(0.1)
        time.sleep(1.5)  # a second event would be flushed by now
        assert depot.query("SELECT COUNT(*) FROM audit_log WHERE action = 'delete'"
                           " AND package = ?", name) == [(1,)]


def test_download_times_never_go_back_when_nodes_flush_out_of_order(depot, world):
    """Each node batches download times and writes them about once a second: a download on
    node a, then one on node b, leaves b's (the later) time, whichever node writes last.
    Which node writes first depends on where in the second the downloads fall: 20 packages,
    downloaded 50 ms apart."""
    a, b = depot.nodes
    pid = world.pid("acme/app")
    h = {"PRIVATE-TOKEN": world.pat["dev"]}
    names = [unique("dl") for _ in range(20)]
    for name in names:
        assert put(a, world, "dev", pid, name, b"d").status_code == 201
    later = {}
    for name in names:
        url = generic_path(pid, name, "1.0", "f.bin")
        assert requests.get(at(a, url), headers=h).status_code == 200
        time.sleep(0.005)
        later[name] = int(time.time() * 1000)
        assert requests.get(at(b, url), headers=h).status_code == 200
        time.sleep(0.05)
    time.sleep(2.5)  # both nodes have written theirs
    for name in names:
        got = depot.query("SELECT last_downloaded_at FROM packages WHERE name = ?", name)
        assert got[0][0] is not None and got[0][0] >= later[name], (name, got, later[name])


def _get_from(url, source, headers):
    host, port = url.rsplit("/", 1)[1].split(":")
    c = http.client.HTTPConnection(host, int(port), source_address=(source, 0), timeout=30)
    c.request("GET", "/api/v4/user", headers=headers)
    status = c.getresponse().status
    c.close()
    return status


def test_client_address_behind_the_proxy_and_a_limiter_per_node():
    """Behind HAProxy (--trusted-proxy 127.0.0.1) a node logs and throttles the client's
    address, the last one X-Forwarded-For names, not the proxy's or one the client made
    up; a connection from elsewhere keeps its own address whatever it claims. Failed
    authentications are counted by each node for itself (no shared state)."""
    d = Depot().start("--auth-failures-per-minute", "2")
    try:
        bad = {"PRIVATE-TOKEN": "glpat-guessing", "X-Forwarded-For": "10.9.9.9"}
        assert _get_from(d.url, "127.0.0.5", bad) == 401
        assert _get_from(d.nodes[0].url, "127.0.0.6", bad) == 401  # not a trusted proxy
        log = d.server_log()
        assert "authentication failed from 127.0.0.5: unknown credentials" in log
        assert "authentication failed from 127.0.0.6: unknown credentials" in log
        assert "10.9.9.9" not in log and "from 127.0.0.1" not in log
        # two failures at node 0 block 127.0.0.7 there; node 1 has seen none
        for _ in range(2):
            assert _get_from(d.nodes[0].url, "127.0.0.7", bad) == 401
        assert _get_from(d.nodes[0].url, "127.0.0.7", bad) == 429
        assert _get_from(d.nodes[1].url, "127.0.0.7", bad) == 401
    finally:
        d.close()


def test_a_refusal_from_the_headers_reaches_the_client_through_haproxy(depot, world):
    """An upload refused from its headers (401 here) is answered after its body is read:
    answered at once, the connection closed with the body unread was reset, and HAProxy,
    still passing the body on, lost the answer (the client saw the connection closed)."""
    pid = world.pid("acme/app")
    s = requests.Session()
    body = os.urandom(512 * 1024)
    for i in range(40):
        try:
            r = s.put(depot.api(generic_path(pid, unique("refused"), "1.0", "f")), data=body,
                      headers={"PRIVATE-TOKEN": "glpat-unknown"}, timeout=60)
            got = (r.status_code, r.json())
        except requests.ConnectionError as e:
            got = (0, str(e))
            s = requests.Session()
        assert got == (401, {"message": "401 Unauthorized"}), (i, got)
