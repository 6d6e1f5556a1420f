"""Instructions per request of a server under `valgrind --tool=callgrind`, as a difference of
two runs over one keep-alive connection (bench/keepalive.py): the server started, WARM GETs,
a pause of 2.5 s, stopped; then again with N more GETs and a pause after the first pause.
Start-up, warm-up and shutdown cancel out, and so does what a server does once after its
first requests: the pauses let its once-a-second maintenance run after each group (depot's
first audit batch opens that thread's database connection and prepares its statements),
and leave nothing for the stop to write (before, the 2,200-GET run's stop wrote the last
batch on the main thread, preparing statements there: ~1,400 instructions per GET that
were no GET's). Prints two figures per
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
        counts = str(warm) + (f"+{count - warm}" if count > warm else "")
        args = [sys.executable, os.path.join(here, "keepalive.py"), "127.0.0.1", str(port),
                path, counts, length] + ([] if token == "-" else [token])
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
