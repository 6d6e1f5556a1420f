"""Debian's python-gitlab, unchanged, against depot: the library's generic_packages
upload/download and the `python-gitlab generic-package` CLI (Debian's name for `gitlab`),
with a personal access token and with a CI job token."""
import os
import subprocess

import gitlab
import pytest

from conftest import unique

CLI = "/usr/bin/python-gitlab"


@pytest.mark.parametrize("kind", ["private_token", "job_token"])
def test_library_upload_download(depot, world, tmp_path, kind):
    token = world.pat["dev"] if kind == "private_token" else world.job_dev
    gl = gitlab.Gitlab(depot.url, **{kind: token})
    # GET /projects/:id, like GitLab's, does not look at job tokens (the project is private:
    # 404), so a CI job names its project without fetching it
    project = gl.projects.get(world.pid("acme/app"), lazy=kind == "job_token")
    src = tmp_path / "lib.bin"
    body = os.urandom(50000)
    src.write_bytes(body)
    name = unique()
    pkg = project.generic_packages.upload(package_name=name, package_version="1.2.3",
                                          file_name="lib.bin", path=str(src))
    assert pkg.message == "201 Created"
    assert project.generic_packages.download(package_name=name, package_version="1.2.3",
                                             file_name="lib.bin") == body
    # streamed download through the library's iterator
    chunks = []
    project.generic_packages.download(package_name=name, package_version="1.2.3",
                                      file_name="lib.bin", streamed=True, action=chunks.append)
    assert b"".join(chunks) == body


def test_library_errors_surface(depot, world, tmp_path):
    gl = gitlab.Gitlab(depot.url, private_token=world.pat["guest"])
    project = gl.projects.get(world.pid("acme/app"))
    src = tmp_path / "x"
    src.write_bytes(b"x")
    with pytest.raises(gitlab.exceptions.GitlabUploadError) as e:
        project.generic_packages.upload(package_name="p", package_version="1", file_name="x",
                                        path=str(src))
    assert e.value.response_code == 403
    with pytest.raises(gitlab.exceptions.GitlabGetError) as e:
        project.generic_packages.download(package_name="nope", package_version="1",
                                          file_name="x")
    assert e.value.response_code == 404


@pytest.mark.parametrize("kind", ["private_token", "job_token"])
def test_cli_upload_download(depot, world, tmp_path, kind):
    token = world.pat["dev"] if kind == "private_token" else world.job_dev
    cfg = tmp_path / "python-gitlab.cfg"
    cfg.write_text(f"[global]\ndefault = depot\n\n[depot]\nurl = {depot.url}\n"
                   f"{kind} = {token}\napi_version = 4\n")
    src = tmp_path / "cli.txt"
    body = b"uploaded by the gitlab CLI\n" * 100
    src.write_bytes(body)
    name = unique()
    common = ["--project-id", str(world.pid("acme/app")), "--package-name", name,
              "--package-version", "0.1.0", "--file-name", "cli.txt"]
    env = dict(os.environ, HOME=str(tmp_path))
    up = subprocess.run([CLI, "-c", str(cfg), "generic-package", "upload", *common,
                         "--path", str(src)], capture_output=True, env=env, timeout=60)
    assert up.returncode == 0, up.stderr
    down = subprocess.run([CLI, "-c", str(cfg), "generic-package", "download", *common],
                          capture_output=True, env=env, timeout=60)
    assert down.returncode == 0, down.stderr
    assert down.stdout == body
