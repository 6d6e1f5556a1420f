"""Real servers for the scale-out tests: PostgreSQL 15, a single-host Ceph RGW, HAProxy."""
