"""Turns bench/run.sh's raw lines ("metric server value") into the results table."""
import platform
import statistics
import subprocess
import sys
import time

path, rounds, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
vals = {}
for line in open(path):
    metric, server, value = line.split()
    vals.setdefault((metric, server), []).append(float(value))


def med(metric, server):
    v = vals.get((metric, server))
    return statistics.median(v) if v else float("nan")


def span(metric, server):
    v = vals.get((metric, server), [])
    return f"{min(v):.0f}–{max(v):.0f}" if v else ""


rows_out = []
for metric, what, unit, target in [
        ("get_small", "GET 1 KiB, PRIVATE-TOKEN, 64 connections", "req/s", 1.0),
        ("get_big", "GET 1 GiB", "MB/s", 0.95),
        ("put_big", "PUT 1 GiB (depot: MD5+SHA-1+SHA-256, fsync)", "MB/s", 0.9),
        ("put_small", "PUT 1 KiB, 64 connections (depot durable)", "uploads/s", 1.0)]:
    d, n = med(metric, "depot"), med(metric, "nginx")
    ratio = d / n
    rows_out.append(f"| {what} | {d:,.0f} {unit} ({span(metric, 'depot')}) | {n:,.0f} {unit} "
                    f"({span(metric, 'nginx')}) | **{ratio:.2f}** | ≥ {target} | "
                    f"{'met' if ratio >= target else 'not met'} |")
mem = []
for metric, what, limit in [("rss_get_small", "peak RSS during 1 KiB GETs", 32),
                            ("rss_put_big", "peak RSS during the 1 GiB PUT", 32),
                            ("rss_idle", "RSS with 1,000 idle keep-alive connections", 64)]:
    v = med(metric, "depot")
    mem.append(f"| {what} | {v:.1f} MiB | < {limit} MiB | {'met' if v < limit else 'not met'} |")
lat = []
for op in ["up", "down", "list"]:
    a, b = med(f"lat_{op}_1k", "depot"), med(f"lat_{op}_big", "depot")
    name = {"up": "upload 1 KiB", "down": "download", "list": "list a version"}[op]
    lat.append(f"| {name} | {a:.2f} ms | {b:.2f} ms | **{b / a:.2f}** | ≤ 1.5 | "
               f"{'met' if b / a <= 1.5 else 'not met'} |")
scale = []
if ("get_small", "scale") in vals:
    for metric, what, unit in [("get_small", "GET 1 KiB, PRIVATE-TOKEN, 64 connections", "req/s"),
                               ("get_big", "GET 1 GiB (ranged GETs of 4 MiB from the bucket)", "MB/s"),
                               ("put_big", "PUT 1 GiB (16 MiB multipart parts)", "MB/s")]:
        a, b = med(metric, "scale"), med(metric, "depot")
        scale.append(f"| {what} | {a:,.0f} {unit} ({span(metric, 'scale')}) | {b:,.0f} {unit} "
                     f"| **{a / b:.2f}** |")
    for metric, what in [("rss_get_small", "peak RSS during 1 KiB GETs"),
                         ("rss_put_big", "peak RSS during the 1 GiB PUT")]:
        scale.append(f"| {what} | {med(metric, 'scale'):.1f} MiB | {med(metric, 'depot'):.1f} MiB "
                     f"| {med(metric, 'scale') / med(metric, 'depot'):.2f} |")
cpu = subprocess.run(["sh", "-c", "nproc; grep -m1 'model name' /proc/cpuinfo"],
                     capture_output=True, text=True).stdout.split("\n")
print(f"""# depot vs nginx — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}

Machine: {cpu[0]} cores, {cpu[1].split(':')[-1].strip() if len(cpu) > 1 else ''}, kernel {platform.release()}.
Medians of {rounds} alternated rounds (min–max in brackets), both servers on loopback in the
same run; nginx serves static files with sendfile and takes WebDAV PUTs (no hashing, no fsync).

| benchmark | depot | nginx | depot/nginx | target | |
| --- | --- | --- | --- | --- | --- |
""" + "\n".join(rows_out) + """

| memory | depot | target | |
| --- | --- | --- | --- |
""" + "\n".join(mem) + f"""

Cost growth: median latency of 300 sequential keep-alive requests with 1,000 and with
{rows:,} package files in the database.

| operation | 1,000 rows | {rows:,} rows | ratio | target | |
| --- | --- | --- | --- | --- | --- |
""" + "\n".join(lat) + ("" if not scale else """

Scale-out mode on the same machine: one depot node over PostgreSQL 15 and a single-host Ceph
RGW (BlueStore on a file), both from tests/servers, in the same rounds, against the
single-machine depot (SQLite + local folder) above. A 1 KiB file lives in PostgreSQL
(inline); the 1 GiB file in the bucket, streamed through the node.

| benchmark | scale-out | single machine | scale-out/single |
| --- | --- | --- | --- |
""" + "\n".join(scale)))
