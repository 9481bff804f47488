#!/usr/bin/env python3
"""A scripted TCP peer for the socket tests: the first client to connect
gets the actions below, in order; later clients (the source reconnecting)
get nothing and are held open, so that nothing is sent twice. Loopback
only; stops when killed. Writes "listening PORT" to STATUS_FILE once it
listens (do not probe the port: a probe would be the first client), and
"done" once the first client's actions are over. PORT 0: a port the
kernel picks (free for sure), the one written to STATUS_FILE
(pgs_start_peer in test/lib.sh).

usage: peer.py PORT STATUS_FILE ACTION...
  file:PATH           send the bytes of PATH as they are (NULs included)
  fill:N:MB_PER_S     send N bytes of 'x' (no newline), at about that rate
  wait:SECONDS        pause
  close               close the connection (the rest is not sent)
"""
import os
import socket
import sys
import threading
import time

port, status, actions = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(16)
held = []
with open(status + ".part", "w") as f:
    f.write("listening %d\n" % srv.getsockname()[1])
os.rename(status + ".part", status)


def run(c):
    for a in actions:
        kind, _, arg = a.partition(":")
        if kind == "file":
            with open(arg, "rb") as f:
                c.sendall(f.read())
        elif kind == "fill":
            n, rate = arg.split(":")
            n, chunk = int(n), 65536
            pause = chunk / (float(rate) * 1024 * 1024)
            while n > 0:
                c.sendall(b"x" * min(chunk, n))
                n -= chunk
                time.sleep(pause)
        elif kind == "wait":
            time.sleep(float(arg))
        elif kind == "close":
            c.close()
            break
    with open(status, "w") as f:
        f.write("done\n")


first = True
while True:
    c, _ = srv.accept()
    if first:
        first = False
        threading.Thread(target=run, args=(c,), daemon=True).start()
    else:
        held.append(c)
