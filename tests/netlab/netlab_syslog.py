#!/usr/bin/env python3
"""Runs a daemon that logs to stderr (sshd -D -e) and writes its lines to a file in
syslog's traditional format, as rsyslog writes /var/log/auth.log:

    Dec  1 15:04:46 t4 sshd[1234]: Connection closed by 10.1.1.10 port 40000 [preauth]

so that fail2ban reads the lab's sshd like a Debian host's (the lab's namespaces have no
/dev/log and no syslog daemon). PID is the daemon's own (its per-connection children log
through the same stderr).

Usage: netlab_syslog.py LOGFILE HOSTNAME TAG -- CMD [ARGS...]

The daemon is this process's child: TERM/INT/HUP are passed on to it, and this process
exits with the daemon's status once its stderr closes and it is gone. Every line written is
flushed at once. Lines are capped at 4096 bytes; bytes that are not printable ASCII are
written as '?'.
"""
import os
import signal
import subprocess
import sys
import time


def main(argv):
    if len(argv) < 6 or argv[4] != "--":
        sys.stderr.write("usage: netlab_syslog.py LOGFILE HOSTNAME TAG -- CMD [ARGS...]\n")
        return 2
    path, host, tag, cmd = argv[1], argv[2], argv[3], argv[5:]
    os.closerange(3, 4096)  # fds a caller leaked to us (pipes, locks) must not stay open
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)

    def forward(signum, _frame):
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, forward)
    with open(path, "ab", buffering=0) as out:
        for raw in iter(lambda: child.stderr.readline(4096), b""):
            text = raw.rstrip(b"\r\n").decode("ascii", "replace")
            text = "".join(c if " " <= c <= "~" else "?" for c in text)
            stamp = time.strftime("%b %e %H:%M:%S")
            out.write(f"{stamp} {host} {tag}[{child.pid}]: {text}\n".encode())
    return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
