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


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def kill_pidfile(path, must_contain, timeout=20):
    """Kills the process a pid file names, if it is still the one we started (its command
    line contains must_contain: pids are reused). SIGTERM, then SIGKILL."""
    try:
        with open(path) as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return
    cmd = _cmdline(pid)
    if cmd is None or must_contain not in cmd:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _cmdline(pid) is not None:
        time.sleep(0.1)
    if _cmdline(pid) is not None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


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
