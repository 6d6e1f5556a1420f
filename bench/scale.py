"""The scale-out mode's servers for make bench: a private PostgreSQL 15 and a single-host
Ceph RGW on a BlueStore file (tests/servers), started for the run. Prints shell
assignments for bench/run.sh to eval (the password and keys go into its environment,
never onto a command line), then one line "ready", and stops both when its stdin closes."""
import os
import shlex
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests"))
from servers.postgres import Postgres  # noqa: E402
from servers.rgw import RGW  # noqa: E402

pg, rgw = Postgres(), RGW(objectstore=os.environ.get("DEPOT_RGW_OBJECTSTORE", "bluestore"))
try:
    pg.start()
    rgw.start()
    out = {"SCALE_META": pg.url, "SCALE_BLOBS": rgw.blobs_url, "PGPASSWORD": pg.password,
           "AWS_ACCESS_KEY_ID": rgw.access_key, "AWS_SECRET_ACCESS_KEY": rgw.secret_key}
    for k, v in out.items():
        print(f"export {k}={shlex.quote(v)}")
    print("ready", flush=True)
    sys.stdin.read()
finally:
    rgw.stop()
    pg.stop()
