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


def verdict(ratio, target, at_most=False):
    if target is None:
        return "—", ""
    met = ratio <= target if at_most else ratio >= target
    return f"{'≤' if at_most else '≥'} {target}", "met" if met else "not met"


# (target None: reported only; the 1 GiB PUT's target is against the hashing ceiling below)
rows_out = []
for metric, what, unit, target, fmt, at_most in [
        ("get_small", "GET 1 KiB, PRIVATE-TOKEN, 64 connections", "req/s", 1.0, ",.0f", False),
        ("get_small_p99", "GET 1 KiB: p99 latency of the same runs", "ms", 1.5, ".2f", True),
        ("get_big", "GET 1 GiB", "MB/s", 0.95, ",.0f", False),
        ("put_big", "PUT 1 GiB (depot: MD5+SHA-1+SHA-256, fsync)", "MB/s", None, ",.0f", False),
        ("put_small", "PUT 1 KiB, 64 connections (depot durable)", "uploads/s", 1.0, ",.0f",
         False)]:
    if (metric, "depot") not in vals:
        continue
    d, n = med(metric, "depot"), med(metric, "nginx")
    ratio = d / n
    t, v = verdict(ratio, target, at_most)
    sd, sn = span(metric, "depot"), span(metric, "nginx")
    if fmt != ",.0f":
        sd = f"{min(vals[(metric, 'depot')]):{fmt}}–{max(vals[(metric, 'depot')]):{fmt}}"
        sn = f"{min(vals[(metric, 'nginx')]):{fmt}}–{max(vals[(metric, 'nginx')]):{fmt}}"
    rows_out.append(f"| {what} | {d:{fmt}} {unit} ({sd}) | {n:{fmt}} {unit} "
                    f"({sn}) | **{ratio:.2f}** | {t} | {v} |")

# The digests on two cores: MD5 on one, SHA-1 then SHA-256 on the other (digest.c's lanes).
hashing = []
if ("hash_md5", "host") in vals:
    md5, sha1, sha256 = (med(f"hash_{a}", "host") for a in ("md5", "sha1", "sha256"))
    ceiling = min(md5, 1 / (1 / sha1 + 1 / sha256))
    for a, v in [("MD5", md5), ("SHA-1", sha1), ("SHA-256", sha256)]:
        m = "hash_" + a.lower().replace("-", "")
        hashing.append(f"| `openssl speed -evp {a.lower().replace('-', '')}`, 16 KiB blocks, one core "
                       f"| {v:,.0f} MB/s ({span(m, 'host')}) | | |")
    hashing.append(f"| ceiling on 2 cores: min(MD5, 1/(1/SHA-1 + 1/SHA-256)) | {ceiling:,.0f} MB/s "
                   "| | |")
    put = med("put_big", "depot")
    t, v = verdict(put / ceiling, 0.6)
    hashing.append(f"| PUT 1 GiB, depot | {put:,.0f} MB/s | **{put / ceiling:.2f}** of the ceiling "
                   f"| {t} {v} |")

cg = []
if ("cg_get_small", "depot") in vals:
    d, m = med("cg_get_small", "depot"), med("cg_get_small", "mhd_min")
    da, ma = med("cg_get_small_all", "depot"), med("cg_get_small_all", "mhd_min")
    t, v = verdict(d / m, 5, True)
    cg.append(f"| instructions per request, outside memset | {d:,.0f} | {m:,.0f} | **{d / m:.1f}** "
              f"| {t} | {v} |")
    cg.append(f"| all instructions per request | {da:,.0f} | {ma:,.0f} | {da / ma:.1f} | | |")
mem = []
for metric, what, limit in [] if ("rss_idle", "depot") not in vals else [("rss_get_small", "peak RSS during 1 KiB GETs", 32),
                            ("rss_put_big", "peak RSS during the 1 GiB PUT", 32),
                            ("rss_idle", "RSS with 1,000 idle keep-alive connections", 64)]:
    v = med(metric, "depot")
    mem.append(f"| {what} | {v:.1f} MiB | < {limit} MiB | {'met' if v < limit else 'not met'} |")
lat = []
for op in [] if ("lat_up_1k", "depot") not in vals else ["up", "down", "list"]:
    a, b = med(f"lat_{op}_1k", "depot"), med(f"lat_{op}_big", "depot")
    name = {"up": "upload 1 KiB", "down": "download", "list": "list a version"}[op]
    lat.append(f"| {name} | {a:.2f} ms | {b:.2f} ms | **{b / a:.2f}** | ≤ 1.5 | "
               f"{'met' if b / a <= 1.5 else 'not met'} |")
scale = []
if ("get_small", "scale") in vals:
    for metric, what, unit in [("get_small", "GET 1 KiB, PRIVATE-TOKEN, 64 connections", "req/s"),
                               ("get_big", "GET 1 GiB (ranged GETs of 4 MiB from the bucket)", "MB/s"),
                               ("put_big", "PUT 1 GiB (16 MiB multipart parts)", "MB/s")]:
        a, b = med(metric, "scale"), med(metric, "local")
        scale.append(f"| {what} | {a:,.0f} {unit} ({span(metric, 'scale')}) | {b:,.0f} {unit} "
                     f"| **{a / b:.2f}** |")
    for metric, what in [("rss_get_small", "peak RSS during 1 KiB GETs"),
                         ("rss_put_big", "peak RSS during the 1 GiB PUT")]:
        scale.append(f"| {what} | {med(metric, 'scale'):.1f} MiB | {med(metric, 'local'):.1f} MiB "
                     f"| {med(metric, 'scale') / med(metric, 'local'):.2f} |")
cpu = subprocess.run(["sh", "-c", "nproc; grep -m1 'model name' /proc/cpuinfo"],
                     capture_output=True, text=True).stdout.split("\n")
print(f"""# depot vs nginx — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}

Machine: {cpu[0]} cores, {cpu[1].split(':')[-1].strip() if len(cpu) > 1 else ''}, kernel {platform.release()}.
Medians of {rounds} alternated rounds (min–max in brackets), both servers on loopback in the
same run; nginx serves static files with sendfile and takes WebDAV PUTs (no hashing, no fsync).
Load average (1 min) at the start and the end: {med('load_start', 'host'):.2f} and
{med('load_end', 'host'):.2f} (on a machine shared with others' work, above ~1 the figures
are not the servers' own).

| benchmark | depot | nginx | depot/nginx | target | |
| --- | --- | --- | --- | --- | --- |
""" + "\n".join(rows_out) + ("" if not hashing else """

The hashing ceiling of a 1 GiB upload, measured in the same run (each round):

| | | | target |
| --- | --- | --- | --- |
""" + "\n".join(hashing)) + ("" if not cg else """

Instructions per 1 KiB GET (PRIVATE-TOKEN for depot), counted by callgrind: 2,000 keep-alive
GETs on one connection after 200, against a bare libmicrohttpd server answering from memory
(bench/mhd_min.c: epoll, a pool of 2, the same 32 KiB connection memory). memset is left out
as valgrind counts `rep stosb` once per byte (libmicrohttpd zeroes its connection memory).

| | depot | bare libmicrohttpd | depot/bare | target | |
| --- | --- | --- | --- | --- | --- |
""" + "\n".join(cg)) + ("" if not mem else """

| memory | depot | target | |
| --- | --- | --- | --- |
""" + "\n".join(mem)) + ("" if not lat else f"""

Cost growth: median latency of 300 sequential keep-alive requests with 1,000 and with
{rows:,} package files in the database.

| operation | 1,000 rows | {rows:,} rows | ratio | target | |
| --- | --- | --- | --- | --- | --- |
""" + "\n".join(lat)) + ("" if not scale else """

Scale-out mode on the same machine: one depot node over PostgreSQL 15 and a single-host Ceph
RGW (BlueStore on a file), both from tests/servers, started after the rounds above, in
rounds of their own against the single-machine depot (SQLite + local folder) measured again
in them (so both with those daemons running). A 1 KiB file lives in PostgreSQL (inline); the
1 GiB file in the bucket, streamed through the node.

| benchmark | scale-out | single machine | scale-out/single |
| --- | --- | --- | --- |
""" + "\n".join(scale)))
