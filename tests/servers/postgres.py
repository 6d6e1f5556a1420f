"""A private PostgreSQL 15 cluster for tests: initdb in a temporary folder, the server on
127.0.0.1 on a free port (and a socket in that folder), one database and one role with a
password. Debian's package postgresql-15; run as the `postgres` account when we are root,
since initdb and postgres refuse to run as root.

The password is never on a command line: tests pass it to clients with env()
(PGPASSWORD), as depot will read it through libpq."""
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time

from .common import ServerError, logs_of, rss_kib, spawn, stop_proc, wait_until, free_port

PG_BIN = os.environ.get("DEPOT_PG_BIN", "/usr/lib/postgresql/15/bin")


class Postgres:
    def __init__(self, db="depot", user="depot", tmp_parent=None):
        self.db = db
        self.user = user
        self.password = secrets.token_urlsafe(18)
        self.tmp_parent = tmp_parent
        self.dir = None
        self.data = None
        self.socket_dir = None
        self.log_path = None
        self.port = None
        self.proc = None
        self.start_seconds = None

    # ---- what tests use
    @property
    def url(self):
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{self.db}"

    @property
    def conninfo(self):
        return f"host=127.0.0.1 port={self.port} dbname={self.db} user={self.user}"

    def env(self, base=None):
        """An environment for a client of this database: the password in PGPASSWORD."""
        env = dict(os.environ if base is None else base)
        env["PGPASSWORD"] = self.password
        return env

    def psql(self, sql, password=None, check=True):
        """Runs SQL over TCP as the test role (the password from the environment), returns
        the result as unaligned text without headers."""
        env = self.env()
        if password is not None:
            env["PGPASSWORD"] = password
        res = subprocess.run([f"{PG_BIN}/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                              "-d", self.conninfo, "-f", "-"], input=sql, text=True,
                             capture_output=True, env=env, timeout=60)
        if check and res.returncode != 0:
            raise AssertionError(f"psql failed: {res.stderr}")
        return res

    def admin_psql(self, sql, db="postgres"):
        """SQL as the superuser over the private socket (trusted: only the owner of the
        temporary folder can reach it)."""
        res = subprocess.run(self._as_owner([f"{PG_BIN}/psql", "-X", "-q", "-A", "-t",
                                             "-v", "ON_ERROR_STOP=1", "-h", self.socket_dir,
                                             "-p", str(self.port), "-U", "postgres", "-d", db,
                                             "-f", "-"]),
                             input=sql, text=True, capture_output=True, timeout=60)
        if res.returncode != 0:
            raise ServerError(f"psql as postgres failed: {res.stderr}\n{self.logs()}")
        return res.stdout

    def rss_kib(self):
        return rss_kib(self.proc.pid) if self.proc and self.proc.poll() is None else 0

    # ---- life cycle
    def start(self):
        t0 = time.monotonic()
        try:
            self._create()
            self.start_server()
            # the role's password goes through psql's stdin, never argv
            quoted = self.password.replace("'", "''")
            self.admin_psql(f"CREATE ROLE \"{self.user}\" LOGIN PASSWORD '{quoted}';\n"
                            f"CREATE DATABASE \"{self.db}\" OWNER \"{self.user}\";\n")
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def start_server(self):
        """Starts the server on the cluster made by start() (same port), waits until it
        accepts connections."""
        # the postmaster itself is our child (no runuser in between), so signals reach it
        # and it dies with the harness
        self.proc = spawn([f"{PG_BIN}/postgres", "-D", self.data], self.log_path,
                          env=self._owner_env(), user=self._owner())
        wait_until(self._ready, 60, "PostgreSQL to accept connections",
                   logs=[self.log_path], procs=[("postgres", self.proc)])

    def stop_server(self, mode="fast"):
        """Stops the server, keeping the cluster. mode: "fast" (SIGINT: ends sessions,
        clean shutdown), "immediate" (SIGQUIT: no checkpoint, crash recovery next start),
        "kill" (SIGKILL of the postmaster)."""
        sig = {"fast": 2, "immediate": 3, "kill": 9}[mode]
        stop_proc(self.proc, sig=sig, timeout=30)
        self.proc = None

    def restart(self, mode="fast"):
        """A restart on the same port, as an operator (or a crash) would do it under load."""
        self.stop_server(mode)
        self.start_server()

    def stop(self):
        self.stop_server()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def logs(self):
        return logs_of([self.log_path] if self.log_path else [])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- inside
    def _owner(self):
        return "postgres" if os.geteuid() == 0 else None

    def _as_owner(self, argv):
        # runuser keeps the argv and needs no password; the account is Debian's own
        return ["runuser", "-u", "postgres", "--", *argv] if self._owner() else argv

    def _owner_env(self):
        env = dict(os.environ)
        if self._owner():
            env["HOME"] = pwd.getpwnam("postgres").pw_dir
        env.pop("PGPASSWORD", None)
        return env

    def _create(self):
        if not os.path.exists(f"{PG_BIN}/initdb"):
            raise ServerError(f"{PG_BIN}/initdb is missing: run `make scale-deps` "
                              "(Debian package postgresql-15)")
        self.dir = tempfile.mkdtemp(prefix="depot-pg-", dir=self.tmp_parent)
        if self._owner():
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700)
        self.data = os.path.join(self.dir, "data")
        self.socket_dir = self.dir
        self.log_path = os.path.join(self.dir, "postgres.log")
        res = subprocess.run(self._as_owner([f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres",
                                             "--auth-local=trust", "--auth-host=scram-sha-256",
                                             "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"]),
                             capture_output=True, text=True, env=self._owner_env(), timeout=120)
        if res.returncode != 0:
            raise ServerError(f"initdb failed ({res.returncode}):\n{res.stdout}{res.stderr}")
        self.port = free_port()
        with open(os.path.join(self.data, "postgresql.auto.conf"), "a") as f:
            # loopback and a socket only we can reach; fsync off because the tests crash
            # processes, never the machine, and a process crash loses nothing fsync saves
            f.write(f"listen_addresses = '127.0.0.1'\n"
                    f"port = {self.port}\n"
                    f"unix_socket_directories = '{self.socket_dir}'\n"
                    "fsync = off\n"
                    "full_page_writes = off\n"
                    "max_connections = 200\n"
                    "logging_collector = off\n"
                    "log_min_messages = warning\n")
        # only 127.0.0.1 with a password, and the owner over the socket
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all postgres trust\n"
                    "host all all 127.0.0.1/32 scram-sha-256\n")

    def _ready(self):
        res = subprocess.run([f"{PG_BIN}/pg_isready", "-q", "-h", "127.0.0.1",
                              "-p", str(self.port)], timeout=10)
        return res.returncode == 0
