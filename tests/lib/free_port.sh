# shellcheck shell=bash
# free_port: prints a free TCP port on 127.0.0.1 below Linux's ephemeral range
# (10000-32767, so no outgoing connection holds it). Sourced by the shell tests.
free_port() {
  python3 -c '
import random, socket
for _ in range(1000):
    p = random.randint(10000, 32767)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()'
}
