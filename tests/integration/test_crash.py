"""Crash consistency: clients upload and delete while the server is SIGKILLed at random
moments and restarted (DEPOT_CRASH_KILLS times; 50 in make test, 10 in its S3 and nodes
passes, more in make torture).
Afterwards every upload that got a 201 downloads byte-identical, every acknowledged delete
stays deleted, nothing visible differs from what a client sent, and fsck is clean."""
import hashlib
import os
import random
import signal
import subprocess
import threading
import time

import requests

from conftest import DEPOT, NODES_MODE, S3_MODE, WRAPPER, Depot

# Over object storage a kill and restart costs several times what it does over the local
# disk (measured: 81 s for 50 in the S3 pass, a third of it; 16 s over PostgreSQL and the
# disk), more over two nodes: 10 kills keep the S3 and nodes passes within make test's
# time, the SQLite and PostgreSQL passes do 50, make torture more.
KILLS = int(os.environ.get("DEPOT_CRASH_KILLS", "10" if NODES_MODE or S3_MODE else "50"))


class Cluster:
    """The server under test, restarted after each kill on whatever port it gets."""

    def __init__(self, depot):
        self.d = depot
        self.lock = threading.Lock()
        self.stop = False

    def url(self):
        with self.lock:
            return self.d.url

    def kill_and_restart(self):
        with self.lock:
            self.d.proc.send_signal(signal.SIGKILL)
            self.d.proc.wait()
            self.d.proc = None
            self.d.log.close()
            self.d.start()


def client(cluster, pid, token, seed, acked, deleted, sent):
    rnd = random.Random(seed)
    s = requests.Session()
    n = 0
    while not cluster.stop:
        n += 1
        base = f"{cluster.url()}/api/v4/projects/{pid}/packages/generic"
        try:
            if acked and rnd.random() < 0.15:
                name = rnd.choice(list(acked))
                # until the 204 arrives its fate is unknown (a kill may land after the
                # commit, before the answer): it leaves the acknowledged set now
                if acked.pop(name, None) is None:
                    continue
                r = s.delete(f"{base}/{name}/1.0/f.bin", headers={"PRIVATE-TOKEN": token}, timeout=5)
                if r.status_code == 204:
                    deleted.add(name)
                continue
            name = f"c{seed}-{n}"
            size = rnd.choice([0, 100, 5000, 70000, 300000])
            body = os.urandom(size)
            sent[name] = body
            r = s.put(f"{base}/{name}/1.0/f.bin", data=body, headers={"PRIVATE-TOKEN": token},
                      timeout=10)
            if r.status_code == 201:
                acked[name] = body
        except requests.exceptions.RequestException:
            s = requests.Session()
            time.sleep(0.01)


def test_sigkill_torture(tmp_path):
    d = Depot()
    d.cli("user", "create", "crash")
    d.cli("group", "create", "g")
    pid = int(d.cli("project", "create", "g/p").stdout)
    d.cli("member", "add", "--project", "g/p", "--user", "crash", "--role", "maintainer")
    token = d.cli("token", "create", "personal", "--user", "crash", "--scopes", "api").stdout.strip()
    d.start()
    cluster = Cluster(d)
    acked, deleted, sent = {}, set(), {}
    threads = [threading.Thread(target=client, args=(cluster, pid, token, i, acked, deleted, sent))
               for i in range(6)]
    for t in threads:
        t.start()
    rnd = random.Random(42)
    try:
        for _ in range(KILLS):
            time.sleep(rnd.uniform(0.05, 0.3) * (4 if WRAPPER else 1))
            cluster.kill_and_restart()
    finally:
        cluster.stop = True
        for t in threads:
            t.join()
    assert len(acked) + len(deleted) > KILLS, "the clients made too little progress"
    # one more crash for good measure, then a clean start
    cluster.kill_and_restart()
    base = f"{d.url}/api/v4/projects/{pid}/packages/generic"
    h = {"PRIVATE-TOKEN": token}
    for name, body in acked.items():
        r = requests.get(f"{base}/{name}/1.0/f.bin", headers=h)
        assert r.status_code == 200, name
        assert hashlib.sha256(r.content).hexdigest() == hashlib.sha256(body).hexdigest(), name
    for name in deleted:
        assert requests.get(f"{base}/{name}/1.0/f.bin", headers=h).status_code == 404, name
    # whatever else is visible (an upload whose 201 a kill swallowed) is exactly what was sent
    rows = d.query("SELECT p.name, f.file_sha256, f.size FROM package_files f JOIN packages p"
                   " ON p.id = f.package_id WHERE f.status = 0 AND p.status != 4")
    for name, sha, size in rows:
        assert name in sent, name
        assert (hashlib.sha256(sent[name]).hexdigest(), len(sent[name])) == (sha, size), name
    d.stop()
    res = d.cli("fsck", check=False)
    assert (res.returncode, res.stdout) == (0, ""), res.stdout + res.stderr
    d.close()
