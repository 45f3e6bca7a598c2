#!/usr/bin/env python3
"""Tiny TCP services of the Parallax network lab, run inside a target's namespace.

usage: netlab_listen.py MODE PORT [NAME]
  http    an HTTP/1.1 server: "GET / HTTP/1.x" gets 200 and "netlab NAME alive"; any other
          request line (e.g. "SSH-2.0-...") gets "HTTP/1.1 400 Bad Request", as nginx does.
          (python3's http.server sends no status line for a one-word request line.)
  tarpit  accepts connections and never sends a byte; holds each for up to 600 s.
  hold    not a listener: keeps one connection to 127.0.0.1:PORT open without ever sending a
          byte (an unauthenticated SSH client, to use up sshd's MaxStartups). Prints
          "holding LINE" once the server's first line came; reconnects (every 0.2 s at most)
          when the server closes it or its first line is not "SSH-" (another client held
          the slot).

Single-threaded (selectors), at most 512 open connections, stops on SIGTERM.
"""
import os
import selectors
import signal
import socket
import sys
import time

MAX_CONNS = 512
HOLD_S = 600
REQUEST_TIMEOUT_S = 10


def http_reply(name, line):
    words = line.split()
    if len(words) == 3 and words[2] in ("HTTP/1.0", "HTTP/1.1") and words[0] in ("GET", "HEAD"):
        body = f"netlab {name} alive\n".encode()
        status = "200 OK"
    else:
        body = b"<html><body><h1>400 Bad Request</h1></body></html>\n"
        status = "400 Bad Request"
    head = (f"HTTP/1.1 {status}\r\nServer: netlab\r\nContent-Type: text/html\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    return head + (b"" if words[:1] == ["HEAD"] else body)


def first_line(sock, running):
    """The server's first line (bytes, without CR LF), or None when it closed first."""
    buf = b""
    while running[0] and b"\n" not in buf and len(buf) < 1024:
        try:
            data = sock.recv(1024)
        except socket.timeout:
            continue
        except OSError:
            return None
        if not data:
            return None
        buf += data
    return buf.split(b"\n", 1)[0].rstrip(b"\r")


def hold_one(port, running):
    """Mode hold: one silent client connection to 127.0.0.1:port, kept open."""
    while running[0]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(1.0)
        try:
            sock.connect(("127.0.0.1", port))
            line = first_line(sock, running)
            if line is not None and line.startswith(b"SSH-"):
                print("holding " + line.decode("latin-1"), flush=True)
                while running[0]:  # until the server closes it (or SIGTERM)
                    try:
                        if not sock.recv(1024):
                            break
                    except socket.timeout:
                        continue
                    except OSError:
                        break
                print("released", flush=True)
            elif line is not None:
                print("refused: " + line.decode("latin-1")[:200], flush=True)
        except OSError as e:
            print(f"connect: {e}", flush=True)
        finally:
            sock.close()
        time.sleep(0.2)


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("http", "tarpit", "hold"):
        sys.exit("usage: netlab_listen.py http|tarpit|hold PORT [NAME]")
    os.closerange(3, 4096)  # fds a caller leaked to us (pipes, locks) must not stay open
    mode, port = sys.argv[1], int(sys.argv[2])
    name = sys.argv[3] if len(sys.argv) > 3 else "host"
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    if mode == "hold":
        hold_one(port, running)
        return

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(128)
    srv.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ)
    conns = {}  # socket -> [deadline, buffer, replied]
    print(f"netlab_listen {mode} on port {port} for {name}", flush=True)

    while running[0]:
        for key, _ in sel.select(timeout=1.0):
            sock = key.fileobj
            if sock is srv:
                try:
                    c, _ = srv.accept()
                except OSError:
                    continue
                if len(conns) >= MAX_CONNS:
                    c.close()
                    continue
                c.setblocking(False)
                hold = HOLD_S if mode == "tarpit" else REQUEST_TIMEOUT_S
                conns[c] = [time.monotonic() + hold, b"", False]
                sel.register(c, selectors.EVENT_READ)
                continue
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            state = conns[sock]  # [deadline, buffer, replied]
            if data and mode == "http" and not state[2]:
                state[1] += data
                buf = state[1]
                line = buf.split(b"\n", 1)[0].decode("latin-1").strip()
                complete = b"\r\n\r\n" in buf or b"\n\n" in buf or len(buf) > 8192
                if (b"\n" in buf and not line.endswith(("HTTP/1.0", "HTTP/1.1"))) or complete:
                    try:
                        sock.setblocking(True)
                        sock.settimeout(2)
                        sock.sendall(http_reply(name, line))
                        sock.shutdown(socket.SHUT_WR)
                        sock.setblocking(False)
                    except OSError:
                        data = b""
                    state[2] = True
            if not data:
                sel.unregister(sock)
                del conns[sock]
                sock.close()
        now = time.monotonic()
        for sock in [s for s, st in conns.items() if st[0] < now]:
            sel.unregister(sock)
            del conns[sock]
            sock.close()


if __name__ == "__main__":
    main()
