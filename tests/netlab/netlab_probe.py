#!/usr/bin/env python3
"""Raw TCP reachability check of the Parallax network lab: connect, optionally send a line,
read the first line back, and classify what happened. Run inside a probe's namespace.

usage: netlab_probe.py [--timeout S] [--send LINE | --connect-only] ADDRESS PORT

Prints one line "OUTCOME MILLISECONDS [DETAIL]" and exits 0, where OUTCOME is:
  connected   connected (only with --connect-only, which stops there)
  line        connected and a first line came back (DETAIL: the line, e.g. SSH-2.0-OpenSSH_9.2)
  refused     connection refused (TCP reset or ICMP port unreachable)
  unreachable no route to host (ICMP host unreachable / admin prohibited)
  netunreach  network unreachable (ICMP net unreachable or no route)
  timeout     no answer to the connect within the timeout
  silent      connected, but no byte within the timeout
  closed      connected, then closed without a line
  reset       connected, then reset
  error       any other error (DETAIL: errno name)
When the connect failed because of an ICMP error, DETAIL ends with "icmp TYPE/CODE from ADDR"
(read from the socket's error queue, IP_RECVERR): e.g. "ECONNREFUSED icmp 3/3 from 10.1.10.11"
for a REJECT rule, plain "ECONNREFUSED" for a TCP reset.
Exits 2 on bad arguments. Each phase (connect, read) is bounded by the timeout.
"""
import argparse
import errno
import socket
import struct
import sys
import time

IP_RECVERR = 11  # linux/in.h
SO_EE_ORIGIN_ICMP = 2


def icmp_error(s):
    """ "icmp TYPE/CODE from ADDR" of the ICMP error queued on s, or "" (linux/errqueue.h)."""
    try:
        s.setblocking(False)  # else Python waits for readability up to the socket's timeout
        _, ancdata, _, _ = s.recvmsg(1, 512, socket.MSG_ERRQUEUE)
    except OSError:
        return ""
    for level, kind, data in ancdata:
        if level != socket.IPPROTO_IP or kind != IP_RECVERR or len(data) < 24:
            continue
        _, origin, icmp_type, code, _, _, _ = struct.unpack_from("=IBBBBII", data)
        if origin != SO_EE_ORIGIN_ICMP:
            continue
        sender = socket.inet_ntoa(data[20:24])  # sockaddr_in after the 16-byte header
        return f" icmp {icmp_type}/{code} from {sender}"
    return ""


def classify(err):
    return {
        errno.ECONNREFUSED: "refused",
        errno.EHOSTUNREACH: "unreachable",
        errno.ENETUNREACH: "netunreach",
        errno.ETIMEDOUT: "timeout",
        errno.ECONNRESET: "reset",
    }.get(err, "error")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--send", default=None)
    ap.add_argument("--connect-only", action="store_true")
    ap.add_argument("address")
    ap.add_argument("port", type=int)
    a = ap.parse_args()
    if not 0 < a.timeout <= 60:
        sys.exit(f"netlab_probe: --timeout {a.timeout} is invalid: expected 0 < S <= 60")
    start = time.monotonic()

    def report(outcome, detail=""):
        ms = int((time.monotonic() - start) * 1000)
        print(f"{outcome} {ms} {detail}".rstrip(), flush=True)

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
    s.settimeout(a.timeout)
    try:
        s.connect((a.address, a.port))
    except socket.timeout:
        return report("timeout")
    except OSError as e:
        return report(classify(e.errno), errno.errorcode.get(e.errno, str(e.errno)) + icmp_error(s))
    if a.connect_only:
        s.close()
        return report("connected")
    try:
        if a.send is not None:
            s.sendall(a.send.encode() + b"\r\n")
        buf = b""
        deadline = time.monotonic() + a.timeout
        while b"\n" not in buf and len(buf) < 4096:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            s.settimeout(left)
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    except socket.timeout:
        return report("silent" if not buf else "line", buf.decode("latin-1").strip())
    except OSError as e:
        if buf:
            return report("line", buf.split(b"\n")[0].decode("latin-1").strip())
        return report(classify(e.errno), errno.errorcode.get(e.errno, str(e.errno)))
    finally:
        s.close()
    if not buf:
        return report("closed")
    return report("line", buf.split(b"\n")[0].decode("latin-1").strip())


if __name__ == "__main__":
    main()
