"""Absolute URLs in replies (the pagination Link header, a package's delete_api_path): built
from the parsed and re-encoded parameters the listings know, on `--external-url` or else a
syntactically valid Host (else the address the client reached); never cut short, and a
request target over 4,096 bytes answers 414."""
import re
import socket
import subprocess
import urllib.parse

import pytest
import requests

from conftest import DEPOT, Depot, World, generic_path, read_response_head, unique

ELEMENT = re.compile(r'<([^<>"\s]+)>; rel="(prev|next|first|last)"')


def hdr(world, user="dev"):
    return {"PRIVATE-TOKEN": world.pat[user]}


@pytest.fixture(scope="module")
def listed(depot, world):
    """acme/links: three packages, so that per_page=1 gives next, first and last links."""
    pid = int(depot.cli("project", "create", "acme/links").stdout)
    world.projects["acme/links"] = pid
    for i in range(3):
        url = depot.api(generic_path(pid, f"lnk{i}", "1.0", "f.bin"))
        assert requests.put(url, data=b"x", headers=hdr(world)).status_code == 201
    return pid


def links(header):
    """The Link header split into {rel: url}, asserting that every element is whole."""
    parts = header.split(", ")
    found = [ELEMENT.fullmatch(p) for p in parts]
    assert all(found), header
    rels = {m.group(2): m.group(1) for m in found}
    assert len(rels) == len(parts), header
    return rels


def get_raw(depot, target, headers):
    """GET with the target and headers sent byte for byte; (status, headers, body)."""
    host, port = depot.direct_url.rsplit("/", 1)[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    lines = [f"GET {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    s.sendall(("\r\n".join(lines) + "\r\nConnection: close\r\n\r\n").encode("latin-1"))
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.decode("latin-1").partition(": ")
        fields[k.lower()] = v
    return status, fields, body


def test_unknown_parameters_do_not_reach_the_link(depot, world, listed):
    """Regression: ?foo=a>;rel="evil";x=< was copied raw into Link and added a relation."""
    target = f'/api/v4/projects/{listed}/packages?foo=a>;rel="evil";x=<&per_page=1'
    status, h, _ = get_raw(depot, target, {"Host": "h.example", **hdr(world)})
    assert status == 200
    base = f"http://h.example/api/v4/projects/{listed}/packages"
    assert h["link"] == (f'<{base}?page=2&per_page=1>; rel="next", '
                         f'<{base}?page=1&per_page=1>; rel="first", '
                         f'<{base}?page=3&per_page=1>; rel="last"')


def test_known_parameters_are_kept_reencoded(depot, world, listed):
    """The listing's own parameters survive (in the request's order, decoded and encoded
    again); unknown ones and credentials do not."""
    target = (f"/api/v4/projects/{listed}/packages?sort=desc&package_name=l+n%6B&x=1"
              f"&order_by=name&private_token={world.pat['dev']}&status=default"
              "&package_type=generic&include_versionless=false&page=1&per_page=1"
              "&sort=asc")
    status, h, body = get_raw(depot, target, {"Host": "h.example"})
    assert status == 200, body
    rels = links(h["link"])
    assert set(rels) == {"first", "last"}  # "l nk" matches nothing
    assert rels["first"] == (f"http://h.example/api/v4/projects/{listed}/packages?sort=desc"
                             "&package_name=l%20nk&order_by=name&status=default"
                             "&package_type=generic&include_versionless=false"
                             "&page=1&per_page=1")
    assert world.pat["dev"] not in h["link"]


def test_group_listing_keeps_its_parameters(depot, world, listed):
    target = ("/api/v4/groups/acme/packages?exclude_subgroups=true&package_version=1.0"
              "&order_by=project_path&per_page=1")
    status, h, body = get_raw(depot, target, {"Host": "h.example", **hdr(world)})
    assert status == 200, body
    rels = links(h["link"])
    q = urllib.parse.urlsplit(rels["next"]).query
    assert q == "exclude_subgroups=true&package_version=1.0&order_by=project_path&page=2&per_page=1"


@pytest.mark.parametrize("host,base", [
    ("depot.internal:8443", "http://depot.internal:8443"),
    ("Depot-1.example", "http://Depot-1.example"),
    ("10.1.2.3", "http://10.1.2.3"),
    ("[::1]:9", "http://[::1]:9"),
    ('attacker.example>; rel="x"', None),
    ("a.example/evil", None),
    ("a.example:99999", None),
    ("a.example:", None),
    ("user@a.example", None),
    ("[::1", None),
    ("h\xe9.example", None),
])
def test_link_host(depot, world, listed, host, base):
    """A Host that is not a valid host[:port] is ignored: links use the address the client
    reached (the listening address)."""
    base = base or depot.direct_url
    status, h, body = get_raw(depot, f"/api/v4/projects/{listed}/packages?per_page=1",
                              {"Host": host, **hdr(world, "maint")})
    assert status == 200, body
    for url in links(h["link"]).values():
        assert url.startswith(f"{base}/api/v4/projects/{listed}/packages?"), url
    import json
    for pkg in json.loads(body):
        assert pkg["_links"]["delete_api_path"] == \
            f"{base}/api/v4/projects/{listed}/packages/{pkg['id']}"


def test_http10_without_host(depot, world, listed):
    host, port = depot.direct_url.rsplit("/", 1)[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(f"GET /api/v4/projects/{listed}/packages?per_page=1 HTTP/1.0\r\n"
              f"PRIVATE-TOKEN: {world.pat['dev']}\r\n\r\n".encode())
    head = read_response_head(s).decode("latin-1")
    s.close()
    link = [l for l in head.split("\r\n") if l.startswith("Link: ")][0][6:]
    assert links(link)["first"].startswith(f"{depot.direct_url}/api/v4/"), link


def test_long_query_gives_a_whole_link(depot, world, listed):
    """Regression: a 2,020-byte query made an 8 KiB Link cut in the middle of a URL."""
    target = f"/api/v4/projects/{listed}/packages?per_page=1&foo=" + "a" * 2020
    status, h, _ = get_raw(depot, target, {"Host": "h.example", **hdr(world)})
    assert status == 200
    assert set(links(h["link"])) == {"next", "first", "last"}
    assert "foo" not in h["link"]
    # long known values are encoded in full
    name = "<>\"% é" * 36  # 252 bytes decoded, every one encoded again
    status, h, _ = get_raw(depot, f"/api/v4/projects/{listed}/packages?per_page=1&package_name="
                           + urllib.parse.quote(name, safe=""), {"Host": "h.example", **hdr(world)})
    assert status == 200
    rels = links(h["link"])
    assert set(rels) == {"first", "last"}
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(rels["last"]).query)
    assert q["package_name"] == [name]


def test_link_stays_whole_and_sendable_at_the_limits(depot, world, listed):
    """Every listing parameter at its longest, each byte needing an escape, a long Host and
    large other headers: the answer still arrives, its Link whole. Values no listing would
    accept (an order_by of 255 bytes) are not carried."""
    params = ["package_name", "package_version", "package_type", "status", "order_by",
              "sort", "include_versionless", "exclude_subgroups"]
    q = "&".join(p + "=" + "\xff" * 255 for p in params)
    target = f"/api/v4/projects/{listed}/packages/generic/lnk1/1.0/files?page=1&per_page=1&{q}"
    assert len(target) < 4096
    status, h, body = get_raw(depot, target, {"Host": "h" * 250 + ":8080", **hdr(world),
                                              "X-Pad": "p" * 12000})
    assert status == 200, body
    rels = links(h["link"])
    assert set(rels) == {"first", "last"}
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(rels["last"]).query, encoding="latin-1")
    assert q == {"package_name": ["\xff" * 255], "package_version": ["\xff" * 255],
                 "page": ["1"], "per_page": ["1"]}


def test_link_path_is_reencoded(depot, world, listed):
    """However the client escaped the path, the Link carries a plain one (a %2F stays)."""
    status, h, body = get_raw(depot, "/api/v4/projects/%61cme%2flinks/packages?per_page=1",
                              {"Host": "h.example", **hdr(world)})
    assert status == 200, body
    assert links(h["link"])["first"] == \
        "http://h.example/api/v4/projects/acme%2Flinks/packages?page=1&per_page=1"


def test_request_target_limit(depot, world, listed):
    """A request target (path and query) of 4,096 bytes is served, one byte more answers 414
    before anything else."""
    path = f"/api/v4/projects/{listed}/packages?per_page=1&x="
    target = path + "a" * (4096 - len(path))
    assert len(target) == 4096
    status, _, _ = get_raw(depot, target, {"Host": "h.example", **hdr(world)})
    assert status == 200
    status, h, body = get_raw(depot, target + "a", {"Host": "h.example", **hdr(world)})
    assert (status, body) == (414, b'{"message":"414 URI Too Long"}')
    # whatever the route
    target = "/api/v4" + generic_path(listed, "p", "1.0", "d/" * 2100 + "f")
    status, _, body = get_raw(depot, target, {"Host": "h.example", **hdr(world)})
    assert (status, body) == (414, b'{"message":"414 URI Too Long"}')


def test_external_url(tmp_path):
    d = Depot()
    d.start("--external-url", "https://depot.example.com/registry/")
    try:
        w = World(d)
        pid = w.pid("acme/app")
        for i in range(2):
            url = d.api(generic_path(pid, unique(), "1.0", "f.bin"))
            assert requests.put(url, data=b"x", headers=hdr(w)).status_code == 201
        r = requests.get(d.api(f"/projects/{pid}/packages"), params={"per_page": 1},
                         headers={**hdr(w, "maint"), "Host": "attacker.example"})
        base = "https://depot.example.com/registry/api/v4"
        assert links(r.headers["Link"])["next"] == f"{base}/projects/{pid}/packages?page=2&per_page=1"
        assert r.json()[0]["_links"]["delete_api_path"] == \
            f"{base}/projects/{pid}/packages/{r.json()[0]['id']}"
    finally:
        d.close()


@pytest.mark.parametrize("url", ["depot.example.com", "ftp://depot.example.com",
                                 'https://depot.example.com/"><x', "https://a b",
                                 "https://" + "a" * 600])
def test_invalid_external_url_is_refused(tmp_path, url):
    res = subprocess.run([DEPOT, "serve", "--data", str(tmp_path), "--listen", "127.0.0.1:0",
                          "--external-url", url], capture_output=True, text=True, timeout=10)
    assert res.returncode == 1
    assert "--external-url" in res.stderr, res.stderr
