"""Instructions per request of a server under `valgrind --tool=callgrind`, as a difference of
two runs: the server started, WARM keep-alive GETs (bench/keepalive.py), stopped; then again
with WARM + N GETs. Start-up, warm-up and shutdown cancel out. Prints two figures per
request: all instructions, and those outside memset (valgrind counts `rep stosb` one
instruction per byte, so libmicrohttpd zeroing its connection memory would drown the rest).
Usage: callgrind.py OUTDIR N WARM PATH LENGTH TOKEN|- -- SERVER-COMMAND ({port}: the port)"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

outdir, n, warm, path, length, token = sys.argv[1:7]
n, warm = int(n), int(warm)
cmd = sys.argv[sys.argv.index("--") + 1:]
here = os.path.dirname(os.path.abspath(__file__))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(count):
    """Ir of a server session that answered count GETs: (total, in memset)."""
    port = free_port()
    out = os.path.join(outdir, f"callgrind.{count}.{port}.out")
    srv = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] +
                           [a.replace("{port}", str(port)) for a in cmd],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        args = [sys.executable, os.path.join(here, "keepalive.py"), "127.0.0.1", str(port),
                path, str(count), length] + ([] if token == "-" else [token])
        subprocess.run(args, check=True)
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=120)
    ann = subprocess.run(["callgrind_annotate", "--threshold=100", out], capture_output=True,
                         text=True, check=True).stdout
    total = memset = 0
    for line in ann.splitlines():
        m = re.match(r"\s*([\d,]+) .*(PROGRAM TOTALS|memset)", line)
        if m and m.group(2) == "PROGRAM TOTALS":
            total = int(m.group(1).replace(",", ""))
        elif m:
            memset += int(m.group(1).replace(",", ""))
    return total, memset


t0, m0 = run(warm)
t1, m1 = run(warm + n)
print(f"{(t1 - t0) / n:.0f} {((t1 - m1) - (t0 - m0)) / n:.0f}")
