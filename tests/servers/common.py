"""What the server harnesses share: free loopback ports, children that die with the
harness, wait loops that fail with the daemon's log, and killing by pid file."""
import ctypes
import os
import random
import signal
import socket
import subprocess
import time

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


class ServerError(AssertionError):
    """A server did not start or stop; the message carries the tail of its logs."""


def _die_with_parent():
    # A daemon must not outlive a harness that was killed (pytest ^C, SIGKILL, a crash):
    # the kernel sends it SIGKILL when the harness goes away.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(argv, log_path, env=None, user=None, cwd=None):
    """Starts a foreground daemon whose stdout and stderr go to log_path; it is killed
    when this process dies. user: run as that account (initdb and postgres refuse root)."""
    log = open(log_path, "ab")
    try:
        kw = {}
        if user is not None:
            kw = {"user": user, "group": user, "extra_groups": []}
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=env, cwd=cwd, preexec_fn=_die_with_parent, **kw)
    finally:
        log.close()


def free_port():
    """A port on 127.0.0.1 nobody listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bindable(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_range(count, low=20000, high=32000):
    """count consecutive free ports below the kernel's ephemeral range (where outgoing
    connections would take them), at a random place so harnesses running at the same
    time on one machine rarely meet."""
    for _ in range(200):
        base = random.randrange(low, high - count)
        if all(_bindable(p) for p in range(base, base + count)):
            return base
    raise ServerError(f"no {count} consecutive free ports between {low} and {high}")


def tail(path, lines=60):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode(errors="replace")
    except OSError as e:
        return f"({path}: {e.strerror})"
    return "\n".join(text.splitlines()[-lines:])


def logs_of(paths):
    return "\n".join(f"--- {p} (last lines)\n{tail(p)}" for p in paths)


def wait_until(check, timeout, what, logs=(), procs=(), interval=0.2):
    """Calls check() until it returns a true value, which is returned. Fails with the
    logs when timeout seconds pass or when one of procs (name, Popen) has exited."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - the last error goes into the message
            last = e
        for name, proc in procs:
            if proc is not None and proc.poll() is not None:
                raise ServerError(f"{name} exited with {proc.returncode} while waiting for "
                                  f"{what}\n{logs_of(logs)}")
        if time.monotonic() >= deadline:
            raise ServerError(f"timed out after {timeout} s waiting for {what}"
                              f"{f' (last error: {last})' if last else ''}\n{logs_of(logs)}")
        time.sleep(interval)


def stop_proc(proc, sig=signal.SIGTERM, timeout=20):
    """Signals a child, waits for it, and SIGKILLs it if it does not go in time."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _proc_text(pid, what):
    try:
        with open(f"/proc/{pid}/{what}", "rb") as f:
            return f.read().replace(b"\0", b"\n").decode(errors="replace")
    except OSError:
        return None


def kill_pidfile(path, marker, timeout=20):
    """Kills the process a pid file names if it is still one we started: marker (e.g.
    CEPH_CONF=/tmp/depot-rgw-x/ceph.conf) is in its command line or environment, since pids
    are reused. SIGTERM, then SIGKILL."""
    try:
        with open(path) as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return
    if not any(marker in (_proc_text(pid, w) or "") for w in ("cmdline", "environ")):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def kill_marked(marker, timeout=10):
    """SIGKILLs every process whose environment holds marker (e.g. CEPH_CONF=<our conf>):
    whatever we started that a handle or a pid file may have missed. Straight to SIGKILL:
    its state is about to be deleted, and a daemon whose peers are gone may hang in a
    clean shutdown."""
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()
            and marker in (_proc_text(p, "environ") or "").splitlines()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if _alive(p)]
        time.sleep(0.05)


def _alive(pid):
    stat = _proc_text(pid, "stat")
    return stat is not None and stat.rsplit(")", 1)[-1].split()[0] != "Z"


def rss_kib(pid):
    """Resident memory of a process and its descendants, in KiB (0 if it is gone)."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return total


def listening_addrs(pid):
    """The TCP addresses ("127.0.0.1:PORT") a process listens on, from /proc (no ss)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return []
    out = []
    for table, v6 in (("tcp", False), ("tcp6", True)):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
                continue
            hexaddr, hexport = cols[1].split(":")
            if v6:
                addr = "[" + socket.inet_ntop(socket.AF_INET6, _v6(hexaddr)) + "]"
            else:
                addr = socket.inet_ntop(socket.AF_INET, bytes.fromhex(hexaddr)[::-1])
            out.append(f"{addr}:{int(hexport, 16)}")
    return sorted(out)


def _v6(hexaddr):
    # /proc prints an IPv6 address as four host-order 32-bit words
    raw = bytes.fromhex(hexaddr)
    return b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
