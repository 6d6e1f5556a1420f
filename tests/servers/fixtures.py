"""pytest fixtures over the server harnesses, for this folder's smoke tests and, later,
tests/integration (add tests/ to sys.path, then `from servers.fixtures import *`).

The PostgreSQL cluster and the RGW are session-scoped: started once, on first use, and
stopped when the session ends, also when tests fail or are interrupted (and the kernel
kills the daemons if pytest itself dies). DEPOT_RGW_OBJECTSTORE=bluestore puts the RGW's
data on a sparse file instead of in RAM (make test-scale)."""
import os

import pytest

from .haproxy import HAProxy
from .postgres import Postgres
from .rgw import RGW


@pytest.fixture(scope="session")
def postgres_server():
    pg = Postgres()
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture(scope="session")
def rgw_server():
    rgw = RGW(objectstore=os.environ.get("DEPOT_RGW_OBJECTSTORE", "memstore"))
    rgw.start()
    try:
        yield rgw
    finally:
        rgw.stop()


@pytest.fixture
def haproxy_factory():
    """haproxy_factory(["127.0.0.1:PORT", ...], **options) -> a started HAProxy; every
    one started is stopped after the test."""
    started = []

    def make(backends, **kw):
        hp = HAProxy(backends, **kw)
        started.append(hp)
        return hp.start()
    try:
        yield make
    finally:
        for hp in started:
            hp.stop()
