"""Opens N idle keep-alive connections to HOST:PORT (each having made one request), holds
them while the caller reads the server's memory, and closes them when stdin closes."""
import socket
import sys

host, port, n, path, token = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
conns = []
for _ in range(n):
    s = socket.create_connection((host, port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {token}\r\n\r\n".encode())
    conns.append(s)
for s in conns:
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(65536)
print("open", flush=True)
sys.stdin.read()
