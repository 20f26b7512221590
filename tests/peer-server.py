#!/usr/bin/python3
"""A bundle endpoint for anchor's federation tests: serves a directory over
HTTP or HTTPS on 127.0.0.1, and in adversarial modes serves attacks.

usage: peer-server.py --dir DIR --port-file FILE [--mode-file FILE]
                      [--cert PEM --key PEM] [--log FILE]

The port (chosen by the system) is written to --port-file once the server
listens.  The mode is read from --mode-file at every request (a missing or
empty file means "normal"); one line, a word and its arguments:

  normal               GET /a/b serves DIR/a/b (404 when absent); the same
                       files are also under /mirror/ (a redirect target)
  file PATH FILE ...   FILE at PATH (pairs), DIR elsewhere
  big [chunked]        2 MiB at every path, with a Content-Length or
                       chunked without one
  drip                 headers, then one byte every 0.5 s for 60 s
  redirect PREFIX      302 to PREFIX + path, except under /mirror/
  status CODE          that status at every path
  close                read the request, close without a byte

With --cert and --key it speaks TLS; the files are read again when they
change, so that a test can swap the certificate without a restart.  Every
request is logged to --log as "METHOD PATH STATUS".
"""

import argparse
import os
import posixpath
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BIG = 2 * 1024 * 1024


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.ctx = None
        self.ctx_stamp = None
        super().__init__(("127.0.0.1", 0), Handler)

    def tls_context(self):
        a = self.args
        stamp = (os.stat(a.cert).st_mtime_ns, os.stat(a.key).st_mtime_ns)
        with self.lock:
            if stamp != self.ctx_stamp:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(a.cert, a.key)
                self.ctx, self.ctx_stamp = ctx, stamp
            return self.ctx

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.args.cert:
            # The handshake runs in the handler's thread, on first read.
            sock = self.tls_context().wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def mode(self):
        try:
            with open(self.args.mode_file) as f:
                words = f.read().split()
        except (OSError, TypeError):
            words = []
        return words or ["normal"]

    def log_line(self, line):
        if self.args.log:
            with self.lock, open(self.args.log, "a") as f:
                f.write(line + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError) as e:
                self.server.log_line("TLS - handshake failed: %s" % e)
                raise

    def reply(self, code, body=b"", ctype="application/json", extra=()):
        self.server.log_line("%s %s %d" % (self.command, self.path, code))
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def local_file(self, path):
        path = urllib.parse.urlsplit(path).path
        if path.startswith("/mirror/"):
            path = path[len("/mirror"):]
        path = posixpath.normpath(urllib.parse.unquote(path))
        if not path.startswith("/") or ".." in path.split("/"):
            return None
        full = os.path.join(self.server.args.dir, path.lstrip("/"))
        return full if os.path.isfile(full) else None

    def serve_file(self, full):
        if full is None:
            self.reply(404, b"not found\n", "text/plain")
            return
        with open(full, "rb") as f:
            body = f.read()
        ctype = ("application/jose+json" if full.endswith(".jws")
                 else "application/json")
        self.reply(200, body, ctype)

    def do_GET(self):
        mode = self.server.mode()
        word = mode[0]
        path = urllib.parse.urlsplit(self.path).path
        files = dict(zip(mode[1::2], mode[2::2])) if word == "file" else {}
        if path in files:
            self.serve_file(files[path])
        elif word == "big":
            self.big(len(mode) > 1 and mode[1] == "chunked")
        elif word == "drip":
            self.drip()
        elif word == "redirect" and not path.startswith("/mirror/"):
            self.reply(302, b"", "text/plain",
                       [("Location", mode[1] + self.path)])
        elif word == "status":
            self.reply(int(mode[1]), b"{}\n")
        elif word == "close":
            self.server.log_line("%s %s closed" % (self.command, self.path))
            self.close_connection = True
        else:
            self.serve_file(self.local_file(self.path))

    do_HEAD = do_GET

    def big(self, chunked):
        self.server.log_line("%s %s 200 big" % (self.command, self.path))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(BIG))
        self.end_headers()
        block = b" " * 65536
        try:
            for _ in range(BIG // len(block)):
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
                else:
                    self.wfile.write(block)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
        self.close_connection = True

    def drip(self):
        self.server.log_line("%s %s 200 drip" % (self.command, self.path))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "120")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for _ in range(120):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.5)
        except OSError:
            pass
        self.close_connection = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--mode-file")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--log")
    args = ap.parse_args()
    if bool(args.cert) != bool(args.key):
        ap.error("--cert and --key go together")
    srv = Server(args)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
