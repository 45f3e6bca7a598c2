/* parallax-bench-ceiling: the kernel's ceiling for SSH checks. A minimal C
 * epoll loop keeping C non-blocking connects in flight against loopback
 * ports; each check is connect + read of the identification line + close,
 * nothing else (no scheduling, no results, no encoding). Bounded by
 * -d seconds and -n checks. Prints one line:
 *   checks=N ok=N refused=N timeout=N other=N seconds=S cpu_s=S rss_kb=N
 * With -w it also does what parallax-probe does beyond that (and an SSH
 * client must): send its own identification line after the connect, and at
 * the end drain what is left, shutdown(), close(); this measures the kernel's
 * share of that extra work.
 * Usage: parallax-bench-ceiling -p PORT[,PORT...] [-a 127.0.0.1] [-c 64]
 *                               [-d 5] [-n 100000000] [-t 1000 (timeout ms)] [-w] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kMaxPorts = 64, kMaxConc = 16384 };

struct Slot {
  int fd;
  int connected;
  double started;
};

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct sockaddr_in g_addr[kMaxPorts];
static int g_nports = 0, g_next_port = 0;
static int g_epoll;
static int g_like_ssh_client = 0;
static const char kHello[] = "SSH-2.0-parallax_probe_0.1.0\r\n";
static unsigned long long g_ok, g_refused, g_timeout, g_other, g_started;

static void Open(struct Slot* s, int index) {
  s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  s->connected = 0;
  s->started = Now();
  ++g_started;
  if (s->fd < 0) {
    ++g_other;
    return;
  }
  struct sockaddr_in* a = &g_addr[g_next_port++ % g_nports];
  if (connect(s->fd, (struct sockaddr*)a, sizeof(*a)) != 0 && errno != EINPROGRESS) {
    if (errno == ECONNREFUSED)
      ++g_refused;
    else
      ++g_other;
    close(s->fd);
    s->fd = -1;
    return;
  }
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLET, .data.u32 = (unsigned)index};
  epoll_ctl(g_epoll, EPOLL_CTL_ADD, s->fd, &ev);
}

static void Done(struct Slot* s, unsigned long long* counter) {
  ++*counter;
  if (g_like_ssh_client) {
    char sink[512];
    (void)!recv(s->fd, sink, sizeof(sink), MSG_DONTWAIT);
    shutdown(s->fd, SHUT_RDWR);
  }
  close(s->fd);
  s->fd = -1;
}

static void Event(struct Slot* s) {
  if (!s->connected) {
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      Done(s, err == ECONNREFUSED ? &g_refused : &g_other);
      return;
    }
    s->connected = 1; /* the banner may already be here: read below */
    if (g_like_ssh_client) (void)!write(s->fd, kHello, sizeof(kHello) - 1);
  }
  /* Edge-triggered: try the read now; EAGAIN waits for the next edge. */
  char buf[512];
  ssize_t n = read(s->fd, buf, sizeof(buf));
  if (n < 0 && errno == EAGAIN) return;
  if (n >= 8 && memcmp(buf, "SSH-2.0-", 8) == 0 && memchr(buf, '\n', (size_t)n)) {
    Done(s, &g_ok);
  } else {
    Done(s, &g_other);
  }
}

int main(int argc, char** argv) {
  const char* host = "127.0.0.1";
  char* ports = NULL;
  int conc = 64, opt;
  double seconds = 5, timeout_s = 1, rate = 0;
  unsigned long long max_checks = 100000000ULL;
  while ((opt = getopt(argc, argv, "a:p:c:d:n:t:wr:")) != -1) {
    switch (opt) {
      case 'a':
        host = optarg;
        break;
      case 'p':
        ports = optarg;
        break;
      case 'c':
        conc = atoi(optarg);
        break;
      case 'd':
        seconds = atof(optarg);
        break;
      case 'n':
        max_checks = strtoull(optarg, NULL, 10);
        break;
      case 't':
        timeout_s = atof(optarg) / 1000.0;
        break;
      case 'w':
        g_like_ssh_client = 1;
        break;
      case 'r':
        rate = atof(optarg);
        break;
      default:
        fprintf(stderr, "usage: see the header of ceiling_client.c\n");
        return 2;
    }
  }
  if (conc < 1 || conc > kMaxConc) {
    fprintf(stderr, "parallax-bench-ceiling: -c %d: concurrency must be 1..%d\n", conc, kMaxConc);
    return 2;
  }
  if (seconds <= 0 || seconds > 3600) {
    fprintf(stderr, "parallax-bench-ceiling: -d %g: seconds must be in (0, 3600]\n", seconds);
    return 2;
  }
  for (char* p = ports ? strtok(ports, ",") : NULL; p && g_nports < kMaxPorts;
       p = strtok(NULL, ",")) {
    int port = atoi(p);
    if (port < 1 || port > 65535) {
      fprintf(stderr, "parallax-bench-ceiling: -p: \"%s\" is not a port\n", p);
      return 2;
    }
    g_addr[g_nports].sin_family = AF_INET;
    g_addr[g_nports].sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &g_addr[g_nports].sin_addr) != 1) {
      fprintf(stderr, "parallax-bench-ceiling: -a \"%s\" is not an IPv4 address\n", host);
      return 2;
    }
    ++g_nports;
  }
  if (g_nports == 0) {
    fprintf(stderr, "parallax-bench-ceiling: -p PORT[,PORT...] is required\n");
    return 2;
  }
  if (rate < 0 || rate > 1e7) {
    fprintf(stderr, "parallax-bench-ceiling: -r %g: rate must be in [0, 10000000] checks/s\n",
            rate);
    return 2;
  }
  g_epoll = epoll_create1(EPOLL_CLOEXEC);
  struct Slot* slots = calloc((size_t)conc, sizeof(struct Slot));
  double start = Now(), end = start + seconds, last_scan = start;
  for (int i = 0; i < conc; ++i) slots[i].fd = -1;
  if (rate == 0)
    for (int i = 0; i < conc; ++i) Open(&slots[i], i);
  struct epoll_event events[512];
  int free_hint = 0;
  while (Now() < end && g_started < max_checks) {
    int n;
    if (rate > 0) {
      /* Sleep until the next check is due (or an event comes). */
      double due = start + (double)g_started / rate, wait = due - Now();
      if (wait < 0) wait = 0;
      if (wait > 0.05) wait = 0.05;
      struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
      n = epoll_pwait2(g_epoll, events, 512, &ts, NULL);
    } else {
      n = epoll_wait(g_epoll, events, 512, 50);
    }
    for (int i = 0; i < n; ++i) {
      struct Slot* s = &slots[events[i].data.u32];
      if (s->fd >= 0) Event(s);
    }
    double now = Now();
    if (now - last_scan > 0.05) {  // deadlines
      last_scan = now;
      for (int i = 0; i < conc; ++i) {
        if (slots[i].fd >= 0 && now - slots[i].started > timeout_s) Done(&slots[i], &g_timeout);
      }
    }
    if (rate > 0) {
      /* Every check due by now, in free slots (a full table delays them). */
      for (int k = 0; k < conc && g_started < max_checks && start + g_started / rate <= now;
           ++k) {
        int i = (free_hint + k) % conc;
        if (slots[i].fd < 0) {
          Open(&slots[i], i);
          free_hint = i + 1;
        }
      }
      continue;
    }
    for (int i = 0; i < conc && g_started < max_checks; ++i) {
      if (slots[i].fd < 0) Open(&slots[i], i);
    }
  }
  double elapsed = Now() - start;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec / 1e6;
  printf(
      "checks=%llu ok=%llu refused=%llu timeout=%llu other=%llu seconds=%.3f cpu_s=%.3f "
      "rss_kb=%ld\n",
      g_ok + g_refused + g_timeout + g_other, g_ok, g_refused, g_timeout, g_other, elapsed, cpu,
      ru.ru_maxrss);
  return 0;
}
