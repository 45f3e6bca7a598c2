/* parallax-bench-http: drives blackbox_exporter the way Prometheus would,
 * with C keep-alive HTTP/1.1 connections each asking, in turn,
 *   GET /probe?module=<m>&target=127.0.0.1:<port>
 * (ports rotate over -p). Bounded by -d seconds and -n requests. Prints:
 *   requests=N success=N failed=N errors=N seconds=S
 * (success: the response says probe_success 1).
 * Usage: parallax-bench-http -s EXPORTER_PORT -p PORT[,PORT...] [-m ssh_banner]
 *                            [-c 8] [-d 5] [-n 100000000] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kMaxPorts = 64, kMaxConc = 1024, kBuf = 65536 };

struct Conn {
  int fd;
  size_t have;
  char buf[kBuf];
};

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct sockaddr_in g_server;
static int g_ports[kMaxPorts], g_nports = 0, g_next = 0, g_epoll;
static const char* g_module = "ssh_banner";
static unsigned long long g_sent, g_success, g_failed, g_errors;

static int Send(struct Conn* c) {
  char req[512];
  int n = snprintf(req, sizeof(req),
                   "GET /probe?module=%s&target=127.0.0.1:%d HTTP/1.1\r\nHost: bench\r\n\r\n",
                   g_module, g_ports[g_next++ % g_nports]);
  c->have = 0;
  ++g_sent;
  return write(c->fd, req, (size_t)n) == n ? 0 : -1;
}

static int Open(struct Conn* c, int index) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* blocking connect: loopback */
  if (c->fd < 0 || connect(c->fd, (struct sockaddr*)&g_server, sizeof(g_server)) != 0) {
    fprintf(stderr, "parallax-bench-http: connect to the exporter: %s\n", strerror(errno));
    return -1;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)index};
  epoll_ctl(g_epoll, EPOLL_CTL_ADD, c->fd, &ev);
  return Send(c);
}

/* 1 when c->buf holds one complete response, 0 when more is needed. */
static int Complete(struct Conn* c, int* success) {
  c->buf[c->have] = '\0';
  char* body = strstr(c->buf, "\r\n\r\n");
  if (!body) return 0;
  body += 4;
  size_t body_have = c->have - (size_t)(body - c->buf);
  char* cl = strcasestr(c->buf, "\r\nContent-Length:");
  if (cl && cl < body) {
    if (body_have < (size_t)strtoul(cl + 17, NULL, 10)) return 0;
  } else if (!strstr(body, "\r\n0\r\n\r\n")) { /* chunked */
    return 0;
  }
  *success = strstr(body, "\nprobe_success 1") != NULL;
  return 1;
}

int main(int argc, char** argv) {
  char* ports = NULL;
  int server_port = 0, conc = 8, opt;
  double seconds = 5;
  unsigned long long max_requests = 100000000ULL;
  while ((opt = getopt(argc, argv, "s:p:m:c:d:n:")) != -1) {
    switch (opt) {
      case 's':
        server_port = atoi(optarg);
        break;
      case 'p':
        ports = optarg;
        break;
      case 'm':
        g_module = optarg;
        break;
      case 'c':
        conc = atoi(optarg);
        break;
      case 'd':
        seconds = atof(optarg);
        break;
      case 'n':
        max_requests = strtoull(optarg, NULL, 10);
        break;
      default:
        fprintf(stderr, "usage: see the header of http_load.c\n");
        return 2;
    }
  }
  if (server_port < 1 || server_port > 65535 || conc < 1 || conc > kMaxConc || seconds <= 0 ||
      seconds > 3600) {
    fprintf(stderr,
            "parallax-bench-http: need -s PORT (1..65535), -c 1..%d, -d (0, 3600]; "
            "got -s %d -c %d -d %g\n",
            kMaxConc, server_port, conc, seconds);
    return 2;
  }
  for (char* p = ports ? strtok(ports, ",") : NULL; p && g_nports < kMaxPorts;
       p = strtok(NULL, ",")) {
    g_ports[g_nports++] = atoi(p);
  }
  if (g_nports == 0) {
    fprintf(stderr, "parallax-bench-http: -p PORT[,PORT...] is required\n");
    return 2;
  }
  g_server.sin_family = AF_INET;
  g_server.sin_port = htons((unsigned short)server_port);
  inet_pton(AF_INET, "127.0.0.1", &g_server.sin_addr);
  g_epoll = epoll_create1(EPOLL_CLOEXEC);
  struct Conn* conns = calloc((size_t)conc, sizeof(struct Conn));
  for (int i = 0; i < conc; ++i) {
    if (Open(&conns[i], i) != 0) return 1;
  }
  double start = Now(), end = start + seconds;
  struct epoll_event events[256];
  while (Now() < end) {
    int n = epoll_wait(g_epoll, events, 256, 50);
    for (int i = 0; i < n; ++i) {
      struct Conn* c = &conns[events[i].data.u32];
      if (c->fd < 0) continue;
      ssize_t r = read(c->fd, c->buf + c->have, kBuf - 1 - c->have);
      if (r <= 0) { /* the exporter closed it: count, reopen */
        ++g_errors;
        close(c->fd);
        if (Open(c, (int)events[i].data.u32) != 0) return 1;
        continue;
      }
      c->have += (size_t)r;
      int success = 0;
      if (!Complete(c, &success)) {
        if (c->have >= kBuf - 1) c->have = 0; /* oversized: drop */
        continue;
      }
      if (success)
        ++g_success;
      else
        ++g_failed;
      if (g_sent < max_requests)
        Send(c);
      else {
        close(c->fd);
        c->fd = -1;
      }
    }
    if (g_success + g_failed >= max_requests) break;
  }
  printf("requests=%llu success=%llu failed=%llu errors=%llu seconds=%.3f\n", g_success + g_failed,
         g_success, g_failed, g_errors, Now() - start);
  return 0;
}
