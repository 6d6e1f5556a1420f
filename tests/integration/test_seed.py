"""The seed page's commands (shared/seed/gitlab-generic-packages.md), every tab, run with
bash and curl as a user would paste them: only the placeholders are filled in (server URL,
project id, tokens) and the CI variables set. Uploads must give 201s and downloads must be
byte-identical."""
import os
import subprocess

import pytest
import requests

from conftest import generic_path

UPLOADS = {
    "personal-header": '''curl --location --header "PRIVATE-TOKEN: <personal_access_token>" \\
     --upload-file path/to/file.txt \\
     "https://gitlab.example.com/api/v4/projects/24/packages/generic/my_package/1.0.0/file.txt"''',
    "personal-basic": '''curl --location --user "<username>:<personal_access_token>" \\
     --upload-file path/to/file.txt \\
     "https://gitlab.example.com/api/v4/projects/24/packages/generic/my_package/1.0.0/file.txt"''',
    "project-header": '''curl --location --header  "PRIVATE-TOKEN: <project_access_token>" \\
     --upload-file path/to/file.txt \\
     "https://gitlab.example.com/api/v4/projects/24/packages/generic/my_package/1.0.0/file.txt"''',
    "project-basic": '''curl --location --user "<project_access_token_username>:project_access_token" \\
     --upload-file path/to/file.txt \\
     "https://gitlab.example.com/api/v4/projects/24/packages/generic/my_package/1.0.0/file.txt"''',
    "deploy-header": '''curl --location --header  "DEPLOY-TOKEN: <deploy_token>" \\
     --upload-file path/to/file.txt \\
     "https://gitlab.example.com/api/v4/projects/24/packages/generic/my_package/1.0.0/file.txt"''',
    "deploy-basic": '''curl --location --user "<deploy_token_username>:<deploy_token>" \\
     --upload-file path/to/file.txt \\
     "https://gitlab.example.com/api/v4/projects/24/packages/generic/my_package/1.0.0/file.txt"''',
    "job-header": '''curl --location --header "JOB-TOKEN: ${CI_JOB_TOKEN}" \\
     --upload-file path/to/file.txt \\
     "${CI_API_V4_URL}/projects/${CI_PROJECT_ID}/packages/generic/my_package/${CI_COMMIT_TAG}/file.txt"''',
    "job-basic": '''curl --location --user "gitlab-ci-token:${CI_JOB_TOKEN}" \\
     --upload-file path/to/file.txt \\
     "${CI_API_V4_URL}/projects/${CI_PROJECT_ID}/packages/generic/my_package/${CI_COMMIT_TAG}/file.txt"''',
}

DOWNLOADS = {
    "personal-header": '''curl --header "PRIVATE-TOKEN: <access_token>" \\
     --location \\
     "https://gitlab.example.com/api/v4/projects/1/packages/generic/my_package/0.0.1/file.txt" \\
     --output file.txt''',
    "personal-basic": '''curl --user "<username>:<access_token>" \\
     --location \\
     "https://gitlab.example.com/api/v4/projects/1/packages/generic/my_package/0.0.1/file.txt" \\
     --output file.txt''',
    "project-header": '''curl --header "PRIVATE-TOKEN: <project_access_token>" \\
     --location \\
     "https://gitlab.example.com/api/v4/projects/1/packages/generic/my_package/0.0.1/file.txt" \\
     --output file.txt''',
    "project-basic": '''curl --user "<project_access_token_username>:<project_access_token>" \\
     --location \\
     "https://gitlab.example.com/api/v4/projects/1/packages/generic/my_package/0.0.1/file.txt" \\
     --output file.txt''',
    "deploy-header": '''curl --header "DEPLOY-TOKEN: <deploy_token>" \\
     --location \\
     "https://gitlab.example.com/api/v4/projects/1/packages/generic/my_package/0.0.1/file.txt" \\
     --output file.txt''',
    "deploy-basic": '''curl --user "<deploy_token_username>:<deploy_token>" \\
     --location \\
     "https://gitlab.example.com/api/v4/projects/1/packages/generic/my_package/0.0.1/file.txt" \\
     --output file.txt''',
    "job-header": '''curl --header "JOB-TOKEN: ${CI_JOB_TOKEN}" \\
     --location \\
     --output file.txt \\
     "${CI_API_V4_URL}/projects/${CI_PROJECT_ID}/packages/generic/my_package/${CI_COMMIT_TAG}/file.txt"''',
    "job-basic": '''curl --user "gitlab-ci-token:${CI_JOB_TOKEN}" \\
     --location \\
     --output file.txt \\
     "${CI_API_V4_URL}/projects/${CI_PROJECT_ID}/packages/generic/my_package/${CI_COMMIT_TAG}/file.txt"''',
}

MULTI_UPLOAD = '''#!/bin/bash

TOKEN="<access_token>"
PROJECT_ID="24"
PACKAGE_NAME="my_package"
PACKAGE_VERSION="1.0.0"
DIRECTORY_PATH="./files_to_upload"

for file in "$DIRECTORY_PATH"/*; do
    if [ -f "$file" ]; then
        filename=$(basename "$file")
        curl --location --header  "PRIVATE-TOKEN: $TOKEN" \\
             --upload-file "$file" \\
             "https://gitlab.example.com/api/v4/projects/$PROJECT_ID/packages/generic/$PACKAGE_NAME/$PACKAGE_VERSION/$filename"
        echo "Uploaded: $filename"
    fi
done
'''

CI_MULTI_UPLOAD = '''for file in ./build/*; do
  if [ -f "$file" ]; then
    filename=$(basename "$file")
    curl --header "JOB-TOKEN: $CI_JOB_TOKEN" \\
         --upload-file "$file" \\
         "${CI_API_V4_URL}/projects/${CI_PROJECT_ID}/packages/generic/my_package/${CI_COMMIT_TAG}/$filename"
    echo "Uploaded: $filename"
  fi
done
'''

TREE_UPLOAD = '''#!/bin/bash

TOKEN="<access_token>"
PROJECT_ID="24"
PACKAGE_NAME="my_package"
PACKAGE_VERSION="1.0.0"
DIRECTORY_PATH="./files_to_upload"

find "$DIRECTORY_PATH" -type f | while read -r file; do
    relative_path=${file#"$DIRECTORY_PATH/"}
    curl --location --header  "PRIVATE-TOKEN: $TOKEN" \\
         --upload-file "$file" \\
         "https://gitlab.example.com/api/v4/projects/$PROJECT_ID/packages/generic/$PACKAGE_NAME/$PACKAGE_VERSION/$relative_path"
    echo "Uploaded: $relative_path"
done
'''

MULTI_DOWNLOAD = '''#!/bin/bash

TOKEN="<access_token>"
PROJECT_ID="24"
PACKAGE_NAME="my_package"
PACKAGE_VERSION="1.0.0"
OUTPUT_DIR="./downloaded_files"

# Create output directory if it doesn't exist
mkdir -p "$OUTPUT_DIR"

# Array of files to download
files=("file1.txt" "file2.txt" "subdirectory/file3.txt")

for file in "${files[@]}"; do
    curl --location --header  "PRIVATE-TOKEN: $TOKEN" \\
         --output "$OUTPUT_DIR/$file" \\
         --create-dirs \\
         "https://gitlab.example.com/api/v4/projects/$PROJECT_ID/packages/generic/$PACKAGE_NAME/$PACKAGE_VERSION/$file"
    echo "Downloaded: $file"
done
'''

CI_MULTI_DOWNLOAD = '''FILES=("file1.txt" "file2.txt" "subdirectory/file3.txt")
for file in "${FILES[@]}"; do
  curl --location --header  "JOB-TOKEN: $CI_JOB_TOKEN" \\
       --output "$file" \\
       --create-dirs \\
       "${CI_API_V4_URL}/projects/${CI_PROJECT_ID}/packages/generic/my_package/${CI_COMMIT_TAG}/$file"
  echo "Downloaded: $file"
done
'''

PACKAGE_DOWNLOAD = '''TOKEN="<access_token>"
PROJECT_ID="24"
PACKAGE_NAME="my_package"
PACKAGE_VERSION="1.0.0"
OUTPUT_DIR="./downloaded_package"

# Create output directory
mkdir -p "$OUTPUT_DIR"

# Get list of files in the package
files=$(curl --location --header  "PRIVATE-TOKEN: $TOKEN" \\
     "https://gitlab.example.com/api/v4/projects/$PROJECT_ID/packages/generic/$PACKAGE_NAME/$PACKAGE_VERSION/files" \\
     | jq -r '.[].file_name')

# Download each file
for file in $files; do
    curl --location --header  "PRIVATE-TOKEN: $TOKEN" \\
         --output "$OUTPUT_DIR/$file" \\
         --create-dirs \\
         "https://gitlab.example.com/api/v4/projects/$PROJECT_ID/packages/generic/$PACKAGE_NAME/$PACKAGE_VERSION/$file"
    echo "Downloaded: $file"
done
'''


@pytest.fixture(scope="module")
def seed(depot):
    """A project for the seed's examples, its tokens, and the placeholder values."""
    d = depot
    d.cli("user", "create", "seeduser")
    d.cli("group", "create", "seed")
    pid = int(d.cli("project", "create", "seed/project").stdout)
    d.cli("member", "add", "--group", "seed", "--user", "seeduser", "--role", "developer")
    import json
    pat = d.cli("token", "create", "personal", "--user", "seeduser", "--scopes", "api").stdout.strip()
    proj = json.loads(d.cli("token", "create", "project", "--project", "seed/project", "--role",
                            "developer", "--scopes", "api", "--json").stdout)
    dep = json.loads(d.cli("token", "create", "deploy", "--project", "seed/project", "--scopes",
                           "read_package_registry,write_package_registry", "--json").stdout)
    job = d.cli("token", "create", "job", "--project", "seed/project", "--user",
                "seeduser").stdout.strip()
    subst = [
        ("https://gitlab.example.com", d.url),
        ("projects/24/", f"projects/{pid}/"),
        ("projects/1/", f"projects/{pid}/"),
        ('PROJECT_ID="24"', f'PROJECT_ID="{pid}"'),
        ("<personal_access_token>", pat),
        ("<access_token>", pat),
        ("<username>", "seeduser"),
        ("<project_access_token_username>", proj["username"]),
        ("<project_access_token>", proj["token"]),
        (":project_access_token\"", ":" + proj["token"] + "\""),  # the page drops the <>
        ("<deploy_token_username>", dep["username"]),
        ("<deploy_token>", dep["token"]),
    ]
    env = dict(os.environ, CI_JOB_TOKEN=job, CI_API_V4_URL=d.url + "/api/v4",
               CI_PROJECT_ID=str(pid), CI_COMMIT_TAG="v1.0.0")
    return {"pid": pid, "pat": pat, "subst": subst, "env": env}


def run(seed, script, cwd):
    for old, new in seed["subst"]:
        script = script.replace(old, new)
    assert "<" not in script.replace("<<", ""), script  # every placeholder filled
    res = subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=seed["env"],
                         capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout.decode()


def fetch(depot, seed, version, name):
    url = depot.api(generic_path(seed["pid"], "my_package", version, name))
    return requests.get(url, headers={"PRIVATE-TOKEN": seed["pat"]})


@pytest.mark.parametrize("tab", list(UPLOADS))
def test_seed_upload(depot, seed, tmp_path, tab):
    body = f"uploaded with the {tab} tab\n".encode() + os.urandom(64)
    (tmp_path / "path" / "to").mkdir(parents=True)
    (tmp_path / "path" / "to" / "file.txt").write_bytes(body)
    out = run(seed, UPLOADS[tab], tmp_path)
    assert '{"message":"201 Created"}' in out
    version = "v1.0.0" if tab.startswith("job") else "1.0.0"
    assert fetch(depot, seed, version, "file.txt").content == body


@pytest.mark.parametrize("tab", list(DOWNLOADS))
def test_seed_download(depot, seed, tmp_path, tab):
    body = f"to be downloaded with {tab}\n".encode() + os.urandom(64)
    version = "v1.0.0" if tab.startswith("job") else "0.0.1"
    url = depot.api(generic_path(seed["pid"], "my_package", version, "file.txt"))
    assert requests.put(url, data=body, headers={"PRIVATE-TOKEN": seed["pat"]}).status_code == 201
    run(seed, DOWNLOADS[tab], tmp_path)
    assert (tmp_path / "file.txt").read_bytes() == body


def make_tree(root, files):
    for rel, body in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(body)


def test_seed_multi_upload_scripts(depot, seed, tmp_path):
    files = {f"file{i}.txt": os.urandom(100) for i in range(1, 4)}
    make_tree(tmp_path / "files_to_upload", files)
    out = run(seed, MULTI_UPLOAD, tmp_path)
    assert out.count('{"message":"201 Created"}') == 3
    for name, body in files.items():
        assert fetch(depot, seed, "1.0.0", name).content == body
    ci = {f"ci{i}.bin": os.urandom(100) for i in range(3)}
    make_tree(tmp_path / "build", ci)
    out = run(seed, CI_MULTI_UPLOAD, tmp_path)
    assert out.count('{"message":"201 Created"}') == 3
    for name, body in ci.items():
        assert fetch(depot, seed, "v1.0.0", name).content == body


def test_seed_directory_structure_then_download_scripts(depot, seed, tmp_path):
    files = {"file1.txt": b"one\n", "file2.txt": b"two\n", "subdirectory/file3.txt": b"three\n",
             "deep/er/tree/file4.bin": os.urandom(300)}
    make_tree(tmp_path / "files_to_upload", files)
    out = run(seed, TREE_UPLOAD, tmp_path)
    assert out.count('{"message":"201 Created"}') == len(files)
    # the listing names are the relative paths, with real slashes
    listing = requests.get(depot.api(f"/projects/{seed['pid']}/packages/generic/my_package/1.0.0/files"),
                           headers={"PRIVATE-TOKEN": seed["pat"]}).json()
    assert set(files) <= {x["file_name"] for x in listing}

    run(seed, MULTI_DOWNLOAD, tmp_path)
    for name in ["file1.txt", "file2.txt", "subdirectory/file3.txt"]:
        assert (tmp_path / "downloaded_files" / name).read_bytes() == files[name]

    run(seed, PACKAGE_DOWNLOAD, tmp_path)
    for name, body in files.items():
        assert (tmp_path / "downloaded_package" / name).read_bytes() == body

    # the CI download loop, against a tagged version
    for name in ["file1.txt", "file2.txt", "subdirectory/file3.txt"]:
        url = depot.api(generic_path(seed["pid"], "my_package", "v1.0.0", name))
        requests.put(url, data=files[name], headers={"PRIVATE-TOKEN": seed["pat"]})
    ci_dir = tmp_path / "ci"
    ci_dir.mkdir()
    run(seed, CI_MULTI_DOWNLOAD, ci_dir)
    for name in ["file1.txt", "file2.txt", "subdirectory/file3.txt"]:
        assert (ci_dir / name).read_bytes() == files[name]


def test_seed_download_entire_package_of_150_files(depot, seed, tmp_path):
    """Regression: the listing answered 20 files, so the page's "download an entire package"
    script fetched 20 of 150 without an error. Without page/per_page it lists every file."""
    version = "150-files"
    files = {f"f{i:03d}.bin": os.urandom(50) for i in range(145)}
    files.update({f"dir{i}/sub/g.txt": f"nested {i}\n".encode() for i in range(5)})
    s = requests.Session()
    s.headers["PRIVATE-TOKEN"] = seed["pat"]
    for name, body in files.items():
        url = depot.api(generic_path(seed["pid"], "my_package", version, name))
        assert s.put(url, data=body).status_code == 201
    script = PACKAGE_DOWNLOAD.replace('PACKAGE_VERSION="1.0.0"', f'PACKAGE_VERSION="{version}"')
    out = run(seed, script, tmp_path)
    assert out.count("Downloaded: ") == 150
    got = {str(p.relative_to(tmp_path / "downloaded_package")): p.read_bytes()
           for p in (tmp_path / "downloaded_package").rglob("*") if p.is_file()}
    assert got == files
