#!/usr/bin/env python3
"""A line server for the socket tests: like `nc -lk`, but it sends every
line appended to a file to every client connected (nc serves one client
at a time, and the tests run several views). Writes the number of
connected clients to a status file. Loopback only; stops when killed.

usage: line_server.py PORT TYPED_FILE STATUS_FILE
"""
import os
import select
import socket
import sys
import threading
import time

port, typed, status = int(sys.argv[1]), sys.argv[2], sys.argv[3]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(16)
clients = []
lock = threading.Lock()


def write_status():
    with open(status + ".tmp", "w") as f:
        f.write("%d\n" % len(clients))
    os.replace(status + ".tmp", status)


def accept():
    while True:
        c, _ = srv.accept()
        with lock:
            clients.append(c)
            write_status()


with lock:
    write_status()
threading.Thread(target=accept, daemon=True).start()
with open(typed) as f:
    f.seek(0, 2)
    while True:
        line = f.readline()
        if not line:
            # what clients send is dropped; those that hung up go
            with lock:
                gone = [c for c in select.select(clients, [], [], 0)[0]
                        if not c.recv(65536)]
                for c in gone:
                    clients.remove(c)
                    c.close()
                if gone:
                    write_status()
            time.sleep(0.01)
            continue
        with lock:
            for c in list(clients):
                try:
                    c.sendall(line.encode())
                except OSError:
                    clients.remove(c)
            write_status()
