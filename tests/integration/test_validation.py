"""Every validation rule of gitlab-behaviour.md section 3 with its status and body, the
traversal attempts in their encodings, and that a refused request stores nothing."""
import pytest

from conftest import unique

INVALID = "is invalid"
BAD_PATH = "should be a valid file path"

# (raw path after /generic/, expected {"error": ...}); sent byte for byte.
CASES = [
    ("my%20pkg/1.0/f", "package_name " + INVALID),
    ("my%2Fpkg/1.0/f", "package_name " + INVALID),
    ("pkg%40x/1.0/f", "package_name " + INVALID),
    ("pkg~/1.0/f", "package_name " + INVALID),
    ("./1.0/f", "package_name " + BAD_PATH),
    ("../1.0/f", "package_name " + BAD_PATH),
    ("%2e%2e/1.0/f", "package_name " + BAD_PATH),
    ("%2E/1.0/f", "package_name " + BAD_PATH),
    ("pkg%00/1.0/f", "package_name " + INVALID),
    ("pkg%zz/1.0/f", "package_name " + INVALID),
    ("p" * 256 + "/1.0/f", "package_name " + INVALID),
    ("pkg/1..0/f", "package_version " + INVALID),
    ("pkg/../f", "package_version " + INVALID),
    ("pkg/1.0~1/f", "package_version " + INVALID),
    ("pkg/1.0%201/f", "package_version " + INVALID),
    ("pkg/1.0%2F2/f", "package_version " + INVALID),
    ("pkg/v%C3%A9/f", "package_version " + INVALID),
    ("pkg/" + "1" * 256 + "/f", "package_version " + INVALID),
    ("pkg/1.0/~file", "file_name " + INVALID),
    ("pkg/1.0/file~", "file_name " + INVALID),
    ("pkg/1.0/@file", "file_name " + INVALID),
    ("pkg/1.0/file@", "file_name " + INVALID),
    ("pkg/1.0/my%20file", "file_name " + INVALID),
    ("pkg/1.0/a%2Fb", "file_name " + INVALID),
    ("pkg/1.0/..%2Fetc%2Fpasswd", "file_name " + INVALID),
    ("pkg/1.0/%2e%2e%2f%2e%2e%2fetc", "file_name " + INVALID),
    ("pkg/1.0/..", "file_name " + BAD_PATH),
    ("pkg/1.0/.", "file_name " + BAD_PATH),
    ("pkg/1.0/%2e%2e", "file_name " + BAD_PATH),
    ("pkg/1.0/f%00", "file_name " + INVALID),
    ("pkg/1.0/f%0a", "file_name " + INVALID),
    ("pkg/1.0/f%C3%A9", "file_name " + INVALID),
    ("pkg/1.0/f%", "file_name " + INVALID),
    ("pkg/1.0/" + "f" * 256, "file_name " + INVALID),
    ("pkg/1.0/dir/../f", "path " + BAD_PATH),
    ("pkg/1.0/../../f", "path " + BAD_PATH),
    ("pkg/1.0/dir/%2e%2e/f", "path " + BAD_PATH),
    ("pkg/1.0/%2e%2e/f", "path " + BAD_PATH),
    ("pkg/1.0/dir/./f", "path " + BAD_PATH),
    ("pkg/1.0/dir//f", "path " + BAD_PATH),
    ("pkg/1.0//f", "path " + BAD_PATH),
    ("pkg/1.0//dir/f", "path " + BAD_PATH),
    ("pkg/1.0/%2Fetc/f", "path " + BAD_PATH),
    ("pkg/1.0/dir%5C..%5C/f", "path " + BAD_PATH),
    ("pkg/1.0/%252e%252e/f", "path " + BAD_PATH),
    ("pkg/1.0/%25252e/f", "path " + BAD_PATH),
    ("pkg/1.0/d%0ar/f", "path " + BAD_PATH),
    ("pkg/1.0/d%ffr/f", "path " + BAD_PATH),
    ("pkg/1.0/d%00r/f", "path " + BAD_PATH),
    ("pkg/1.0/" + "d/" * 600 + "f", "path " + BAD_PATH),
    ("pkg/1.0/f?path=../x", "path " + BAD_PATH),
    ("pkg/1.0/f?path=/etc", "path " + BAD_PATH),
    ("pkg/1.0/f?path=a/%2e%2e/b", "path " + BAD_PATH),
    ("pkg/1.0/f?path=a%5Cb", "path " + BAD_PATH),
    ("pkg/1.0/f?path=%zz", "path " + BAD_PATH),
    ("pkg/1.0/f?status=public", "status does not have a valid value"),
    ("pkg/1.0/f?status=", "status does not have a valid value"),
    ("pkg/1.0/f?select=everything", "select does not have a valid value"),
]


@pytest.fixture()
def unchanged(depot):
    """Asserts that the test changed no row, no blob and left no temp file."""
    def snapshot():
        return (depot.query("SELECT COUNT(*) FROM packages")[0][0],
                depot.query("SELECT COUNT(*) FROM package_files")[0][0],
                depot.blob_files(), depot.inline_count(), depot.tmp_files())
    before = snapshot()
    yield
    assert snapshot() == before


@pytest.mark.parametrize("rest,error", CASES, ids=[c[0][:40] for c in CASES])
def test_invalid_upload(depot, world, unchanged, rest, error):
    path = f"/api/v4/projects/{world.pid('acme/app')}/packages/generic/{rest}"
    status, headers, body = depot.raw("PUT", path, {"PRIVATE-TOKEN": world.pat["dev"]}, b"bad")
    assert status == 400, body
    assert headers["Content-Type"] == "application/json"
    import json
    assert json.loads(body) == {"error": error}


@pytest.mark.parametrize("rest,error", [c for c in CASES if "status" not in c[0]
                                        and "select" not in c[0]],
                         ids=[c[0][:40] for c in CASES if "status" not in c[0]
                              and "select" not in c[0]])
def test_invalid_download(depot, world, rest, error):
    path = f"/api/v4/projects/{world.pid('acme/app')}/packages/generic/{rest}"
    status, _, body = depot.raw("GET", path, {"PRIVATE-TOKEN": world.pat["dev"]})
    assert status == 400, body
    import json
    assert json.loads(body) == {"error": error}


@pytest.mark.parametrize("name,version,file_name", [
    ("my_package", "1.0.0", "file.txt"),
    ("A.b-c+d_e", "v1.0-rc.1+build_7", "a.b-c+d_e~f@g"),
    ("pkg", "2024.01.01", "x"),
    ("pkg", "1", "..hidden"),
    ("pkg", ".1", "f..g"),
])
def test_valid_names(depot, world, name, version, file_name):
    name = name + unique("")
    path = f"/api/v4/projects/{world.pid('acme/app')}/packages/generic/{name}/{version}/{file_name}"
    status, _, body = depot.raw("PUT", path, {"PRIVATE-TOKEN": world.pat["dev"]}, b"ok")
    assert status == 201, body
    status, _, body = depot.raw("GET", path, {"PRIVATE-TOKEN": world.pat["dev"]})
    assert (status, body) == (200, b"ok")


def test_validation_before_project_lookup_for_put(depot, world, unchanged):
    """An anonymous PUT is refused (401) before validation; a bad name from a member 400s."""
    path = "/api/v4/projects/999999/packages/generic/bad%20name/1.0/f"
    assert depot.raw("PUT", path, {}, b"x")[0] == 401
    assert depot.raw("PUT", path, {"PRIVATE-TOKEN": world.pat["dev"]}, b"x")[0] == 400
