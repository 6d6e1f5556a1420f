"""Disk full and I/O errors: a write that fails ends the upload with a JSON 5xx (507 for no
space), leaves no staged file, row or blob, and the server keeps serving. Tested on a small
tmpfs filled to the brim, and with a failure injected into the blob store."""
import contextlib
import os
import socket
import subprocess
import tempfile

import pytest
import requests

from conftest import PG_MODE, Depot, World, generic_path, unique, skip_in_s3

pytestmark = skip_in_s3  # the local disk's blob store itself


@contextlib.contextmanager
def depot_on_tmpfs(size):
    """A started Depot, its world and the mount point, its data directory on a tmpfs of that
    size; unmounted after, whatever happened."""
    mnt = tempfile.mkdtemp(prefix="depot-tmpfs-")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", mnt]).returncode:
        os.rmdir(mnt)
        pytest.skip("cannot mount a tmpfs here")
    d = None
    try:
        os.makedirs(os.path.join(mnt, "data"))
        d = Depot(data=os.path.join(mnt, "data"))
        d.start("--max-file-size", "0")
        yield d, World(d), mnt
    finally:
        if d:
            d.close()
        subprocess.run(["umount", "-l", mnt])
        os.rmdir(mnt)


def state(d):
    return (d.query("SELECT COUNT(*) FROM package_files")[0][0], d.blob_files(), d.inline_count(),
            d.tmp_files())


@pytest.mark.parametrize("fault,status,message", [
    ("ENOSPC:100000", 507, "507 Insufficient Storage"),
    ("EIO:100000", 500, "500 Internal Server Error")])
def test_injected_write_failure(fault, status, message, monkeypatch):
    monkeypatch.setenv("DEPOT_BLOB_FAULT", fault)
    d = Depot().start()
    try:
        w = World(d)
        h = {"PRIVATE-TOKEN": w.pat["dev"]}
        before = state(d)
        url = d.api(generic_path(w.pid("acme/app"), unique(), "1.0", "big.bin"))
        r = requests.put(url, data=os.urandom(300000), headers=h)
        assert (r.status_code, r.json()) == (status, {"message": message})
        assert state(d) == before
        # below the fault's threshold uploads still work, and the server serves
        ok = d.api(generic_path(w.pid("acme/app"), unique(), "1.0", "ok.bin"))
        assert requests.put(ok, data=os.urandom(80000), headers=h).status_code == 201
        assert len(requests.get(ok, headers=h).content) == 80000
    finally:
        d.close()


def test_full_tmpfs():
    with depot_on_tmpfs("6m") as (d, w, mnt):
        h = {"PRIVATE-TOKEN": w.pat["dev"]}
        first = os.urandom(2 << 20)
        url1 = d.api(generic_path(w.pid("acme/app"), "fits", "1.0", "a.bin"))
        assert requests.put(url1, data=first, headers=h).status_code == 201
        before = state(d)
        url2 = d.api(generic_path(w.pid("acme/app"), "toobig", "1.0", "b.bin"))
        r = requests.put(url2, data=os.urandom(8 << 20), headers=h)
        assert (r.status_code, r.json()) == (507, {"message": "507 Insufficient Storage"})
        assert state(d) == before
        assert requests.get(url1, headers=h).content == first
        # fill the rest, then small uploads (stored in the database) fail cleanly too; a
        # PostgreSQL database is not on this disk: they succeed there
        filler = os.path.join(mnt, "filler")
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
        small = d.api(generic_path(w.pid("acme/app"), "small", "1.0", "c.bin"))
        codes = {requests.put(small, data=os.urandom(60000), headers=h).status_code for _ in range(3)}
        assert codes <= ({201} if PG_MODE else {507, 500}), codes
        os.unlink(filler)
        assert requests.put(small, data=b"room again", headers=h).status_code == 201
        assert requests.get(url1, headers=h).content == first


def test_507_reaches_a_client_still_sending(tmp_path):
    """64 MiB into a data directory with a few MiB free: the server stops storing at the
    first ENOSPC, reads and drops the rest of the announced body, then answers 507, both to
    curl and to a raw socket that sends the whole body before reading."""
    with depot_on_tmpfs("8m") as (d, w, mnt):
        before = state(d)
        src = tmp_path / "big.bin"
        with open(src, "wb") as f:
            for _ in range(64):
                f.write(os.urandom(1 << 20))
        url = d.api(generic_path(w.pid("acme/app"), unique(), "1.0", "big.bin"))
        up = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", "-H",
                             f"PRIVATE-TOKEN: {w.pat['dev']}", "--upload-file", str(src), url],
                            capture_output=True, text=True, timeout=120)
        assert (up.returncode, up.stdout) == \
            (0, '{"message":"507 Insufficient Storage"}\n507'), up.stderr
        assert state(d) == before

        host, port = d.url.rsplit("/", 1)[1].split(":")
        s = socket.create_connection((host, int(port)), timeout=60)
        path = "/api/v4" + generic_path(w.pid("acme/app"), unique(), "1.0", "raw.bin")
        s.sendall((f"PUT {path} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {w.pat['dev']}\r\n"
                   f"Content-Length: {64 << 20}\r\n\r\n").encode())
        with open(src, "rb") as f:
            while piece := f.read(1 << 20):
                s.sendall(piece)
        got = b""
        while chunk := s.recv(65536):
            got += chunk
            if got.endswith(b"}"):
                break
        s.close()
        assert got.startswith(b"HTTP/1.1 507 "), got[:200]
        assert got.split(b"\r\n\r\n", 1)[1] == b'{"message":"507 Insufficient Storage"}'
        assert state(d) == before
