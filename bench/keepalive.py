"""Sequential GETs of one path over one keep-alive connection, each checked (200, the
expected length); for counting a server's instructions per request under callgrind.
COUNTS is N or N+M+...: each group of GETs is followed by a pause of 2.5 s, so that a
server's once-a-second work after them (depot's audit batch) is done before the next group
or the stop.
Usage: keepalive.py HOST PORT PATH COUNTS LENGTH [TOKEN]"""
import http.client
import sys
import time

host, port, path, length = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[5])
groups = [int(c) for c in sys.argv[4].split("+")]
headers = {"PRIVATE-TOKEN": sys.argv[6]} if len(sys.argv) > 6 else {}
conn = http.client.HTTPConnection(host, port, timeout=120)
for n in groups:
    for i in range(n):
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200 or len(body) != length or resp.will_close:
            sys.exit(f"request {i}: status {resp.status}, {len(body)} bytes,"
                     f" will_close={resp.will_close}")
    time.sleep(2.5)
conn.close()
