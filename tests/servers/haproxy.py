"""HAProxy in front of N HTTP backends for tests (Debian package haproxy): round robin,
each backend health-checked with GET /-/readiness (the endpoint depot's nodes will
answer, 503 when a store is unreachable), on a free port of 127.0.0.1, its configuration
and admin socket in a temporary folder."""
import os
import shutil
import socket
import tempfile
import time

from .common import ServerError, free_port, logs_of, spawn, stop_proc, wait_until


JSON_ERRORS = [(502, "Bad Gateway"), (503, "Service Unavailable"), (504, "Gateway Timeout")]


class HAProxy:
    def __init__(self, backends, check_interval_ms=300, fall=2, rise=2,
                 timeout_server="600s", timeout_client="600s", tmp_parent=None,
                 tls_passthrough=False, json_errors=False, fail_open=False):
        """backends: "127.0.0.1:PORT" or http://127.0.0.1:PORT for each node. A node is
        taken out after `fall` failed checks and back in after `rise` good ones. The
        timeouts are inactivity limits, long enough for a slow multi-GB transfer.
        tls_passthrough: the nodes speak HTTPS themselves; HAProxy forwards the TCP
        stream (mode tcp) and checks readiness over TLS. json_errors: HAProxy's own 502, 503
        and 504 (a node gone mid-request, no node ready, a node too slow) carry depot's
        JSON body {"message": "503 Service Unavailable"} instead of HAProxy's HTML.
        fail_open: when every node fails its check (a store they share is down), requests
        still go to them (as unchecked backup servers), and each node answers as it would
        alone: 503 for what needs the missing store, the rest served."""
        self.backends = [b.split("://", 1)[-1].rstrip("/") for b in backends]
        self.check_interval_ms = check_interval_ms
        self.fall = fall
        self.rise = rise
        self.timeout_server = timeout_server
        self.timeout_client = timeout_client
        self.tmp_parent = tmp_parent
        self.tls_passthrough = tls_passthrough
        self.json_errors = json_errors
        self.fail_open = fail_open
        self.dir = None
        self.proc = None
        self.port = None
        self.start_seconds = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def server_names(self):
        return [f"node{i}" for i in range(len(self.backends))]

    def start(self, wait_up=True):
        """wait_up: wait until every backend has passed its health check."""
        if shutil.which("haproxy") is None:
            raise ServerError("haproxy is missing: run `make scale-deps` (Debian package haproxy)")
        t0 = time.monotonic()
        self.dir = tempfile.mkdtemp(prefix="depot-haproxy-", dir=self.tmp_parent)
        self.port = free_port()
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        self.sock = os.path.join(self.dir, "admin.sock")
        self.log_path = os.path.join(self.dir, "haproxy.log")
        errorfiles = ""
        if self.json_errors:
            for code, reason in JSON_ERRORS:
                path = os.path.join(self.dir, f"{code}.http")
                body = f'{{"message":"{code} {reason}"}}'
                with open(path, "w") as f:
                    f.write(f"HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\n"
                            f"Content-Length: {len(body)}\r\nCache-Control: no-cache\r\n"
                            f"Connection: close\r\n\r\n{body}")
                errorfiles += f"    errorfile {code} {path}\n"
        # the client's address, for nodes that trust this proxy (--trusted-proxy)
        forwardfor = "" if self.tls_passthrough else "    option forwardfor\n"
        check = "check check-ssl verify none" if self.tls_passthrough else "check"
        mode = "tcp" if self.tls_passthrough else "http"
        servers = "\n".join(f"    server {name} {addr} {check}"
                            for name, addr in zip(self.server_names(), self.backends))
        if self.fail_open:  # the same nodes again, unchecked, used when all are down
            servers += "\n    option allbackups\n" + "\n".join(
                f"    server {name}-open {addr} backup"
                for name, addr in zip(self.server_names(), self.backends))
        with open(self.cfg, "w") as f:
            f.write(f"""global
    maxconn 1024
    stats socket {self.sock} mode 600 level admin
    log stderr format short local0 notice

defaults
    mode {mode}
    log global
    option dontlognull
    # a connection refused (a node just killed, not yet seen down) is tried on another
    retries 3
    option redispatch 1
{forwardfor}{errorfiles}    timeout connect 5s
    timeout client {self.timeout_client}
    timeout server {self.timeout_server}
    timeout http-request 60s

frontend depot
    bind 127.0.0.1:{self.port}
    default_backend nodes

backend nodes
    balance roundrobin
    option httpchk GET /-/readiness
    http-check expect status 200
    default-server inter {self.check_interval_ms}ms fall {self.fall} rise {self.rise}
{servers}
""")
        try:
            check = spawn(["haproxy", "-c", "-q", "-f", self.cfg], self.log_path)
            if check.wait(timeout=30) != 0:
                raise ServerError(f"haproxy refused its configuration\n{self.logs()}")
            # -db: stay in the foreground, so it is our child and dies with the harness
            self.proc = spawn(["haproxy", "-db", "-f", self.cfg], self.log_path)
            wait_until(lambda: os.path.exists(self.sock) and self.states(), 30,
                       "haproxy's admin socket", logs=[self.log_path],
                       procs=[("haproxy", self.proc)])
            if wait_up:
                self.wait_state({n: "UP" for n in self.server_names()}, timeout=30)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def command(self, cmd):
        """One command on the admin socket (e.g. "show stat"); returns the answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(self.sock)
            s.sendall(cmd.encode() + b"\n")
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        return b"".join(chunks).decode()

    def states(self):
        """{server name: "UP" | "DOWN" | ...} from "show stat"."""
        lines = self.command("show stat").splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        cols = lines[0][2:].split(",")
        out = {}
        for line in lines[1:]:
            row = dict(zip(cols, line.split(",")))
            if row.get("pxname") == "nodes" and row.get("svname") not in ("BACKEND", None):
                out[row["svname"]] = row["status"].split()[0]
        return out

    def wait_state(self, want, timeout=30):
        """Waits until each named server has the wanted state (e.g. {"node1": "DOWN"})."""
        return wait_until(lambda: all(self.states().get(k) == v for k, v in want.items()),
                          timeout, f"haproxy servers to be {want}", logs=[self.log_path],
                          procs=[("haproxy", self.proc)])

    def stop(self):
        stop_proc(self.proc, timeout=10)
        self.proc = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def logs(self):
        return logs_of([self.log_path])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
