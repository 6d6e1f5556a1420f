"""S3 requests signed with AWS Signature V4 by curl (--aws-sigv4), the way depot's
libcurl code will sign them. The key pair reaches curl through a config file on its
standard input, never its command line (process listings show argv)."""
import hashlib
import os
import subprocess
import tempfile
import urllib.parse
from dataclasses import dataclass, field


@dataclass
class Response:
    status: int
    headers: dict = field(default_factory=dict)  # lower-case names, last value wins
    body: bytes = b""


def _config_quote(value):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def query_string(params):
    """The query as SigV4 signs it: sorted, every parameter with `=`, values with `/`
    and space encoded (curl signs the query exactly as written)."""
    return "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(str(v), safe='-_.~')}"
                    for k, v in sorted(params.items()))


def request(endpoint, method, path, *, region="default", access=None, secret=None,
            params=None, body=None, headers=None, content_sha256=None, cacert=None,
            timeout=120):
    """One request to endpoint + path (path is already URL-encoded, e.g. /bucket/key).
    Signed when access and secret are given; x-amz-content-sha256 is the body's hex
    SHA-256 unless content_sha256 says otherwise (e.g. "UNSIGNED-PAYLOAD"). cacert: the
    CA file an https:// endpoint's certificate is checked against."""
    url = endpoint.rstrip("/") + path
    if params:
        url += "?" + query_string(params)
    payload = body if body is not None else b""
    hdrs = dict(headers or {})
    config = []
    if access is not None:
        config.append(f"user = {_config_quote(f'{access}:{secret}')}")
        config.append(f"aws-sigv4 = {_config_quote(f'aws:amz:{region}:s3')}")
        hdrs.setdefault("x-amz-content-sha256",
                        content_sha256 or hashlib.sha256(payload).hexdigest())
    with tempfile.TemporaryDirectory(prefix="depot-s3curl-") as tmp:
        head_path = os.path.join(tmp, "head")
        body_path = os.path.join(tmp, "body")
        argv = ["curl", "-sS", "-K", "-", "-D", head_path, "-o", body_path,
                "-w", "%{http_code}", "--max-time", str(timeout)]
        argv += ["-I"] if method == "HEAD" else ["-X", method]
        if cacert:
            argv += ["--cacert", cacert]
        if body is not None:
            data_path = os.path.join(tmp, "data")
            with open(data_path, "wb") as f:
                f.write(payload)
            argv += ["--data-binary", f"@{data_path}"]
            hdrs.setdefault("Content-Type", "application/octet-stream")
        for k, v in hdrs.items():
            argv += ["-H", f"{k}: {v}"]
        argv.append(url)
        res = subprocess.run(argv, input="\n".join(config) + "\n", capture_output=True,
                             text=True, timeout=timeout + 10)
        if res.returncode != 0:
            raise OSError(f"curl {method} {url} failed ({res.returncode}): {res.stderr}")
        out = Response(int(res.stdout.strip() or 0))
        with open(head_path, "rb") as f:
            # the last block: a 100 Continue may come first
            blocks = f.read().decode(errors="replace").replace("\r\n", "\n").strip().split("\n\n")
            for line in blocks[-1].splitlines()[1:]:
                name, sep, value = line.partition(":")
                if sep:
                    out.headers[name.strip().lower()] = value.strip()
        if os.path.exists(body_path):
            with open(body_path, "rb") as f:
                out.body = f.read()
        return out
