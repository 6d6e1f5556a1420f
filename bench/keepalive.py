"""N sequential GETs of one path over one keep-alive connection, each checked (200, the
expected length); for counting a server's instructions per request under callgrind.
Usage: keepalive.py HOST PORT PATH N LENGTH [TOKEN]"""
import http.client
import sys

host, port, path, n, length = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
headers = {"PRIVATE-TOKEN": sys.argv[6]} if len(sys.argv) > 6 else {}
conn = http.client.HTTPConnection(host, port, timeout=120)
for i in range(n):
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200 or len(body) != length or resp.will_close:
        sys.exit(f"request {i}: status {resp.status}, {len(body)} bytes, will_close={resp.will_close}")
conn.close()
