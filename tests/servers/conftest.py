from .fixtures import haproxy_factory, postgres_server, rgw_server  # noqa: F401
