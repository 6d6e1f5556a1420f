"""make test-scale (not in make test): a 6 GiB file uploaded through one depot node and
downloaded through another, both over the same PostgreSQL database and RGW bucket (RGW on
a BlueStore file: DEPOT_RGW_OBJECTSTORE=bluestore), byte-identical, each node's peak
resident memory (VmHWM) under 64 MiB. The nodes are addressed directly (no load balancer).
Prints its figures (times, MB/s, memory, disk used); run with -s to see them."""
import hashlib
import http.client
import os
import struct
import time
import urllib.parse

import pytest

from conftest import PG_MODE, S3, S3_MODE, WRAPPER, Depot, generic_path, setup_world

SCALE = os.environ.get("DEPOT_TEST_SCALE") == "1"
pytestmark = pytest.mark.skipif(not SCALE, reason="make test-scale (DEPOT_TEST_SCALE=1)")
MiB, GiB = 1 << 20, 1 << 30
SIZE = int(os.environ.get("DEPOT_TEST_SCALE_BYTES", 6 * GiB))
RSS_LIMIT_KIB = 64 * 1024


def chunks(size):
    """size bytes in 1 MiB chunks, each distinct (its number in front of one random MiB),
    so a part stored twice or out of order changes the checksum."""
    block = os.urandom(MiB)
    for i in range(0, size, MiB):
        yield (struct.pack("<Q", i // MiB) + block[8:])[:min(MiB, size - i)]


def vm_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def disk_kib(path):
    """Blocks allocated under path (the BlueStore file is sparse)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total // 1024


def connect(d):
    u = urllib.parse.urlsplit(d.url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=600)


def test_six_gib_through_two_nodes():
    assert PG_MODE and S3_MODE, "make test-scale sets DEPOT_TEST_META=pg DEPOT_TEST_BLOBS=s3"
    assert not WRAPPER, "VmHWM is read from the server's own pid"
    rgw = S3["rgw"]
    assert rgw.objectstore == "bluestore", "make test-scale sets DEPOT_RGW_OBJECTSTORE"
    node1 = Depot()
    node2 = Depot(share=node1)  # same database; same bucket and prefix:
    node2.blobs, node2.s3_prefix = node1.blobs, node1.s3_prefix
    pid, h = setup_world(node1)
    try:
        for node in (node1, node2):
            node.start("--max-file-size", "0")
        disk_before = disk_kib(rgw.dir)
        path = "/api/v4" + generic_path(pid, "big", "1.0", "six.bin")

        # upload through node 1, with Content-Length, as the body is generated
        want = hashlib.sha256()
        c = connect(node1)
        t0 = time.monotonic()
        c.putrequest("PUT", path)
        c.putheader("PRIVATE-TOKEN", h["PRIVATE-TOKEN"])
        c.putheader("Content-Length", str(SIZE))
        c.endheaders()
        for chunk in chunks(SIZE):
            want.update(chunk)
            c.send(chunk)
        r = c.getresponse()
        body = r.read()
        up_s = time.monotonic() - t0
        assert (r.status, body) == (201, b'{"message":"201 Created"}')
        c.close()

        # download through node 2
        got, n = hashlib.sha256(), 0
        c = connect(node2)
        t0 = time.monotonic()
        c.request("GET", path, headers={"PRIVATE-TOKEN": h["PRIVATE-TOKEN"]})
        r = c.getresponse()
        assert r.status == 200
        assert r.getheader("Content-Length") == str(SIZE)
        assert r.getheader("X-Checksum-SHA256") == want.hexdigest()
        while True:
            buf = r.read(4 * MiB)
            if not buf:
                break
            got.update(buf)
            n += len(buf)
        down_s = time.monotonic() - t0
        c.close()
        assert n == SIZE and got.hexdigest() == want.hexdigest()

        hwm = [vm_kib(node.pid(), "VmHWM") for node in (node1, node2)]
        disk_after = disk_kib(rgw.dir)
        rows = node1.query("SELECT f.size, f.file_sha256 FROM package_files f "
                           "JOIN packages p ON p.id = f.package_id WHERE p.name = 'big'")
        assert rows == [(SIZE, want.hexdigest())]
        print(f"\nscale: {SIZE / GiB:.2f} GiB, SHA-256 {want.hexdigest()} on both sides\n"
              f"scale: upload through node 1: {up_s:.1f} s, {SIZE / up_s / 1e6:.0f} MB/s\n"
              f"scale: download through node 2: {down_s:.1f} s, {SIZE / down_s / 1e6:.0f} MB/s\n"
              f"scale: peak RSS (VmHWM) node 1 {hwm[0] / 1024:.1f} MiB, "
              f"node 2 {hwm[1] / 1024:.1f} MiB (limit 64)\n"
              f"scale: RGW folder {disk_before / 1024:.0f} MiB before, "
              f"{disk_after / 1024:.0f} MiB after (+{(disk_after - disk_before) / 1024:.0f}); "
              f"RGW daemons' RSS {rgw.rss_kib()}")
        assert hwm[0] < RSS_LIMIT_KIB and hwm[1] < RSS_LIMIT_KIB, hwm
    finally:
        node2.close()
        node1.close()
