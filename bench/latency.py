"""Median latency (ms) of N sequential keep-alive requests: upload, download and list."""
import http.client
import statistics
import sys
import time

host, port, token, pid, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
c = http.client.HTTPConnection(host, port)
H = {"PRIVATE-TOKEN": token}


def timed(method, path, body=None):
    t = time.perf_counter()
    c.request(method, path, body=body, headers=H)
    r = c.getresponse()
    r.read()
    assert r.status < 300, (method, path, r.status)
    return (time.perf_counter() - t) * 1000


base = f"/api/v4/projects/{pid}/packages"
up = [timed("PUT", f"{base}/generic/lat/1.0/f{i}-{time.time_ns()}.bin", b"x" * 1024) for i in range(n)]
down = [timed("GET", f"{base}/generic/seed0/1.{i % 10}/file{i % 100}.bin") for i in range(n)]
lst = [timed("GET", f"{base}/generic/seed0/1.{i % 10}/files") for i in range(n)]
print(f"{statistics.median(up):.3f} {statistics.median(down):.3f} {statistics.median(lst):.3f}")
