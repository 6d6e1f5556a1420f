"""A single-host Ceph RGW for tests, from Debian's packages (ceph-mon, ceph-osd, radosgw,
ceph-common): one monitor, one OSD, one radosgw with beast, all on 127.0.0.1, every file
under one temporary folder, a user and a bucket made. The recipe and its measurements are
in ../shared/docs/s3-test-server.md; tests/servers/README.md sums it up.

radosgw listens twice: plain HTTP (endpoint) and HTTPS (https_endpoint) with a server
certificate for 127.0.0.1, localhost and BUCKET.localhost signed by a CA made for this
server (ca_file). `rgw dns name = localhost` makes it take Host BUCKET.localhost as the
bucket (virtual-hosted style); libcurl resolves localhost and every *.localhost name to the
loopback address itself (RFC 6761), so no /etc/hosts or DNS entry is needed.

objectstore: "memstore" (the default: the OSD keeps the data in its RAM, memstore_bytes
at most) or "bluestore" (a sparse file of bluestore_bytes in the OSD's folder, for uploads
larger than RAM should hold, e.g. make test-scale's 6 GiB)."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid

from . import s3curl
from .common import (ServerError, free_port, free_port_range, kill_marked, kill_pidfile, logs_of,
                     rss_kib, spawn, stop_proc, wait_until)

GiB = 1 << 30
DNS_NAME = "localhost"  # libcurl resolves <anything>.localhost to loopback by itself


class RGW:
    def __init__(self, objectstore="memstore", memstore_bytes=4 * GiB,
                 bluestore_bytes=16 * GiB, bucket="depot", region="default",
                 tmp_parent=None, timeout=120):
        if objectstore not in ("memstore", "bluestore"):
            raise ValueError(f"objectstore: memstore or bluestore, not {objectstore!r}")
        self.objectstore = objectstore
        self.memstore_bytes = memstore_bytes
        self.bluestore_bytes = bluestore_bytes
        self.bucket = bucket
        self.region = region  # radosgw accepts any region name in the signature
        self.tmp_parent = tmp_parent
        self.timeout = timeout
        self.dir = None
        self.procs = {}  # name -> Popen
        self.access_key = None
        self.secret_key = None
        self.endpoint = None        # http://127.0.0.1:PORT, for path-style
        self.https_endpoint = None  # https://127.0.0.1:PORT
        self.ca_file = None         # the CA that signed the HTTPS certificate (PEM)
        self.start_seconds = None
        self.phase_seconds = {}

    # ---- what tests use
    def env(self, base=None):
        """An environment for an S3 client of this server: the keys in AWS_* variables."""
        env = dict(os.environ if base is None else base)
        env["AWS_ACCESS_KEY_ID"] = self.access_key
        env["AWS_SECRET_ACCESS_KEY"] = self.secret_key
        return env

    @property
    def vhost_endpoint(self):
        """http://localhost:PORT: a client addressing BUCKET.localhost (no path_style)."""
        return f"http://{DNS_NAME}:{self.rgw_port}"

    @property
    def vhost_https_endpoint(self):
        return f"https://{DNS_NAME}:{self.rgw_ssl_port}"

    @property
    def blobs_url(self):
        """depot's --blobs form for this bucket (issue 10), keys kept out of it."""
        return (f"s3://{self.bucket}/?endpoint={self.endpoint}&region={self.region}"
                "&path_style=1")

    def s3(self, method, path, secret=None, sign=True, endpoint=None, **kw):
        """A request signed with this server's user (or secret= a wrong one; sign=False:
        unsigned). path: /bucket/key, URL-encoded. endpoint: another of this server's
        (an https:// one is checked against ca_file)."""
        if sign:
            kw.update(access=self.access_key, secret=secret or self.secret_key)
        endpoint = endpoint or self.endpoint
        if endpoint.startswith("https:"):
            kw.setdefault("cacert", self.ca_file)
        return s3curl.request(endpoint, method, path, region=self.region, **kw)

    def admin(self, *args, timeout=60):
        """radosgw-admin on this cluster; returns its stdout (JSON for most commands)."""
        res = self._run(["radosgw-admin", "-n", "client.admin", *args], timeout=timeout)
        if res.returncode != 0:
            raise ServerError(f"radosgw-admin {' '.join(args)} failed ({res.returncode}):"
                              f"\n{res.stdout}{res.stderr}\n{self.logs()}")
        return res.stdout

    def request_lines(self, contains):
        """The request lines ("PUT /path HTTP/1.1") of radosgw's access log that contain
        the text: how a client addressed the bucket (path-style: /BUCKET/key; virtual-hosted:
        /key). radosgw writes its log a moment after answering."""
        path = self._path("log", "ceph-client.rgw.depot.log")
        with open(path, errors="replace") as f:
            return [line.split('"')[1] for line in f
                    if " beast: " in line and line.count('"') >= 2 and contains in line]

    def rss_kib(self):
        """Resident memory of each daemon, in KiB."""
        return {name: rss_kib(p.pid) for name, p in self.procs.items() if p.poll() is None}

    def logs(self):
        return logs_of(self._log_paths())

    # ---- life cycle
    def start(self):
        t0 = time.monotonic()
        try:
            self._configure()
            self._phase("monitor", self._start_mon)
            self._phase("osd", self._start_osd)
            self._phase("radosgw", self._start_rgw)
            self._phase("user and bucket", self._make_user_and_bucket)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def stop(self):
        """Kills every daemon (ours by Popen, then whatever a pid file still names), then
        removes the folder. Safe to call twice and after a failed start."""
        for name in ("radosgw", "osd", "mon"):
            stop_proc(self.procs.get(name), timeout=20)
        if self.dir:
            # what the handles missed: anything still running with our CEPH_CONF (radosgw
            # in the foreground writes no pid file), then what the pid files name
            marker = f"CEPH_CONF={self.conf}"
            kill_marked(marker)
            run_dir = os.path.join(self.dir, "run")
            for pidfile in sorted(os.listdir(run_dir)) if os.path.isdir(run_dir) else ():
                if pidfile.endswith(".pid"):
                    kill_pidfile(os.path.join(run_dir, pidfile), marker)
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        self.procs = {}

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- inside
    def _phase(self, name, fn):
        t = time.monotonic()
        fn()
        self.phase_seconds[name] = round(time.monotonic() - t, 2)

    def _path(self, *parts):
        return os.path.join(self.dir, *parts)

    def _log_paths(self):
        if not self.dir:
            return []
        logs = self._path("log")
        return [os.path.join(logs, n) for n in sorted(os.listdir(logs))] if os.path.isdir(logs) else []

    def _env(self):
        env = dict(os.environ)
        env["CEPH_CONF"] = self.conf
        env.pop("AWS_ACCESS_KEY_ID", None)
        env.pop("AWS_SECRET_ACCESS_KEY", None)
        return env

    def _run(self, argv, timeout=60, input=None):
        try:
            return subprocess.run(argv, capture_output=True, text=True,
                                  env=self._env(), timeout=timeout, input=input)
        except subprocess.TimeoutExpired as e:
            raise ServerError(f"{' '.join(argv)} did not finish in {timeout} s\n{self.logs()}") from e

    def _check(self, argv, what, timeout=60):
        res = self._run(argv, timeout=timeout)
        if res.returncode != 0:
            raise ServerError(f"{what} failed ({res.returncode}): {' '.join(argv)}\n"
                              f"{res.stdout}{res.stderr}\n{self.logs()}")
        return res.stdout

    def _ceph(self, *args, timeout=30):
        return self._run(["ceph", "--connect-timeout", "10", *args], timeout=timeout)

    def _spawn(self, name, argv):
        self.procs[name] = spawn(argv, self._path("log", f"{name}.out"),
                                 env=self._env())

    def _configure(self):
        for tool in ("ceph-mon", "ceph-osd", "radosgw", "ceph", "monmaptool", "ceph-authtool",
                     "openssl"):
            if shutil.which(tool) is None:
                raise ServerError(f"{tool} is missing: run `make scale-deps` (Debian packages "
                                  "ceph-mon ceph-osd radosgw ceph-common)")
        self.dir = tempfile.mkdtemp(prefix="depot-rgw-", dir=self.tmp_parent)
        for d in ("run", "log", "mon", "osd", "rgw", "crash", "tls"):
            os.makedirs(self._path(d))
        self.fsid = str(uuid.uuid4())
        self.mon_v2 = free_port()
        self.mon_v1 = free_port()
        self.rgw_port = free_port()
        self.rgw_ssl_port = free_port()
        # the OSD's messengers (public, cluster, two heartbeat ones, each v2 and v1)
        osd_ports = free_port_range(20)
        self.endpoint = f"http://127.0.0.1:{self.rgw_port}"
        self.https_endpoint = f"https://127.0.0.1:{self.rgw_ssl_port}"
        self.conf = self._path("ceph.conf")
        store = {
            "memstore": f"osd objectstore = memstore\nmemstore device bytes = {self.memstore_bytes}\n",
            # do not set bluestore block path inside the OSD folder: ELOOP
            "bluestore": ("osd objectstore = bluestore\nbluestore block create = true\n"
                          f"bluestore block size = {self.bluestore_bytes}\n"),
        }[self.objectstore]
        d = self.dir
        with open(self.conf, "w") as f:
            f.write(f"""[global]
fsid = {self.fsid}
mon host = [v2:127.0.0.1:{self.mon_v2},v1:127.0.0.1:{self.mon_v1}]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind port min = {osd_ports}
ms bind port max = {osd_ports + 19}
# auth off; the messenger's default secure mode needs auth (hangs with -13), crc does not
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
ms mon service mode = crc
ms mon cluster mode = crc
ms client mode = crc
ms service mode = crc
ms cluster mode = crc
# one OSD
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
# radosgw's start is a series of pool commands, each waiting for the next map proposal
# (1 s by default); proposing sooner makes the start faster
paxos propose interval = 0.1
# every file under {d}
run dir = {d}/run
pid file = {d}/run/$cluster-$name.pid
admin socket = {d}/run/$cluster-$name.asok
log file = {d}/log/$cluster-$name.log
crash dir = {d}/crash
mon cluster log file = default={d}/log/$cluster.$channel.log cluster={d}/log/$cluster.log
keyring = {d}/keyring
log to stderr = false
err to stderr = false

[mon]
mon data = {d}/mon/$cluster-$id

[osd]
osd data = {d}/osd/$cluster-$id
{store}
[client.rgw.depot]
rgw frontends = beast endpoint=127.0.0.1:{self.rgw_port} ssl_endpoint=127.0.0.1:{self.rgw_ssl_port} ssl_certificate={d}/tls/server.pem ssl_private_key={d}/tls/server.key
# Host: BUCKET.localhost[:PORT] names the bucket; any other Host is path-style
rgw dns name = {DNS_NAME}
rgw data = {d}/rgw
""")
        self._make_certificates()

    def _make_certificates(self):
        """A CA (ca.pem, exposed as ca_file) and a server certificate it signs for
        127.0.0.1, localhost and BUCKET.localhost (OpenSSL takes no *.localhost: a wildcard
        needs two labels after it). EC keys: made at once."""
        tls = self._path("tls")
        key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        self._check(["openssl", "req", "-x509", *key, "-keyout", f"{tls}/ca.key",
                     "-out", f"{tls}/ca.pem", "-days", "7", "-subj", "/CN=depot test CA",
                     "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign"], "openssl (CA)")
        self._check(["openssl", "req", *key, "-keyout", f"{tls}/server.key",
                     "-out", f"{tls}/server.csr", "-subj", f"/CN={DNS_NAME}"],
                    "openssl (request)")
        with open(f"{tls}/server.ext", "w") as f:
            f.write(f"subjectAltName = IP:127.0.0.1, DNS:{DNS_NAME}, "
                    f"DNS:{self.bucket}.{DNS_NAME}\n"
                    "basicConstraints = critical, CA:FALSE\n"
                    "keyUsage = critical, digitalSignature, keyEncipherment\n"
                    "extendedKeyUsage = serverAuth\n"
                    "subjectKeyIdentifier = hash\n"
                    "authorityKeyIdentifier = keyid, issuer\n")
        self._check(["openssl", "x509", "-req", "-in", f"{tls}/server.csr", "-CA",
                     f"{tls}/ca.pem", "-CAkey", f"{tls}/ca.key", "-CAcreateserial",
                     "-out", f"{tls}/server.pem", "-days", "7",
                     "-extfile", f"{tls}/server.ext"], "openssl (server certificate)")
        self.ca_file = f"{tls}/ca.pem"

    def _start_mon(self):
        keyring = self._path("mon.keyring")
        self._check(["ceph-authtool", "--create-keyring", keyring, "--gen-key", "-n", "mon.",
                     "--cap", "mon", "allow *"], "ceph-authtool")
        monmap = self._path("monmap")
        self._check(["monmaptool", "--create", "--fsid", self.fsid, "--addv", "a",
                     f"[v2:127.0.0.1:{self.mon_v2},v1:127.0.0.1:{self.mon_v1}]", monmap],
                    "monmaptool")
        os.makedirs(self._path("mon", "ceph-a"))
        self._check(["ceph-mon", "--mkfs", "-i", "a", "--monmap", monmap, "--keyring", keyring],
                    "ceph-mon --mkfs")
        self._spawn("mon", ["ceph-mon", "-f", "-i", "a"])
        wait_until(lambda: self._ceph("mon", "stat").returncode == 0, self.timeout,
                   "the monitor to answer", logs=self._log_paths(), procs=self._watch())

    def _start_osd(self):
        osd_uuid = str(uuid.uuid4())
        osd_id = self._check(["ceph", "--connect-timeout", "10", "osd", "new", osd_uuid],
                             "ceph osd new").strip()
        os.makedirs(self._path("osd", f"ceph-{osd_id}"))
        self._check(["ceph-osd", "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid],
                    "ceph-osd --mkfs", timeout=120)
        self._spawn("osd", ["ceph-osd", "-f", "-i", osd_id])

        def up():
            res = self._ceph("osd", "dump", "--format", "json")
            return res.returncode == 0 and any(
                o["osd"] == int(osd_id) and o["up"] == 1 for o in json.loads(res.stdout)["osds"])
        wait_until(up, self.timeout, f"osd.{osd_id} to be up", logs=self._log_paths(),
                   procs=self._watch())

    def _start_rgw(self):
        self._spawn("radosgw", ["radosgw", "-f", "-n", "client.rgw.depot"])

        def answers():
            return s3curl.request(self.endpoint, "GET", "/", timeout=5).status > 0
        wait_until(answers, self.timeout, "radosgw to answer HTTP", logs=self._log_paths(),
                   procs=self._watch(), interval=0.3)

        # over HTTPS too, its certificate checked against ca_file (curl's error is kept)
        def answers_https():
            return s3curl.request(self.https_endpoint, "GET", "/", cacert=self.ca_file,
                                  timeout=5).status > 0
        wait_until(answers_https, 30, "radosgw to answer HTTPS", logs=self._log_paths(),
                   procs=self._watch(), interval=0.3)

    def _make_user_and_bucket(self):
        # radosgw-admin makes the keys, so the secret never appears on a command line
        user = json.loads(self.admin("user", "create", "--uid", "depot", "--display-name",
                                     "depot tests", "--gen-access-key", "--gen-secret"))
        self.access_key = user["keys"][0]["access_key"]
        self.secret_key = user["keys"][0]["secret_key"]

        def bucket_made():
            # radosgw may still be creating its pools: retry
            res = self.s3("PUT", f"/{self.bucket}", body=b"")
            if res.status != 200:
                raise ServerError(f"PUT /{self.bucket} answered {res.status}: {res.body[:300]!r}")
            return True
        wait_until(bucket_made, self.timeout, f"bucket {self.bucket} to be created",
                   logs=self._log_paths(),
                   procs=self._watch(), interval=1)

    def _watch(self):
        return list(self.procs.items())
