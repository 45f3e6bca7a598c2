#include "tests/integration/spool_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <regex>

namespace parallax::testing {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

LoopbackServer::LoopbackServer(int pre_lines, milliseconds delay)
    : pre_lines_(pre_lines), delay_(delay) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  listen(fd_, 1024);
  socklen_t len = sizeof(a);
  getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { Loop(); });
}

LoopbackServer::~LoopbackServer() {
  stop_ = true;
  thread_.join();
  for (auto& [fd, t] : held_) close(fd);
  close(fd_);
}

void LoopbackServer::Finish(int fd) {
  std::string id = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
  ssize_t ignored = write(fd, id.data(), id.size());
  (void)ignored;
  shutdown(fd, SHUT_WR);
  close(fd);
}

void LoopbackServer::Loop() {
  std::string pre;
  for (int i = 0; i < pre_lines_; ++i) {
    pre += "Notice " + std::to_string(i) + ": " + std::string(180, 'a' + i % 26) + "\r\n";
  }
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    int ready = poll(&p, 1, 5);
    auto now = Clock::now();
    while (!held_.empty() && now - held_.front().second >= delay_) {
      Finish(held_.front().first);
      held_.pop_front();
    }
    if (ready <= 0) continue;
    int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    if (!pre.empty()) {
      ssize_t ignored = write(c, pre.data(), pre.size());
      (void)ignored;
    }
    if (delay_.count() == 0) {
      Finish(c);
    } else {
      held_.emplace_back(c, Clock::now());
    }
  }
}

int64_t Int(const std::string& db, const std::string& sql) {
  auto rows = SqliteQuery(db, sql);
  return rows.empty() || rows[0].empty() || rows[0].rfind("error", 0) == 0 ? -1
                                                                           : std::stoll(rows[0]);
}

std::vector<std::string> PerBoot(const std::string& db) {
  return SqliteQuery(db,
                     "SELECT count(*), count(DISTINCT seq), max(seq) FROM results GROUP BY "
                     "boot_ref ORDER BY boot_ref");
}

Stopped StopProbe(Process* probe) {
  probe->Signal(SIGTERM);
  EXPECT_EQ(probe->Wait(seconds(20)), 0) << probe->log();
  Stopped s;
  std::smatch m;
  std::string log = probe->log();
  if (std::regex_search(
          log, m,
          std::regex(R"(stopped: (\d+) results produced, (\d+) unacknowledged, (\d+) dropped)"))) {
    s.produced = std::stoll(m[1]);
    s.unacked = std::stoll(m[2]);
    s.dropped = std::stoll(m[3]);
  }
  if (std::regex_search(
          log, m, std::regex(R"(sent (\d+) results in (\d+) batches .* (\d+) batches rejected)"))) {
    s.sent = std::stoll(m[1]);
    s.batches = std::stoll(m[2]);
    s.rejected = std::stoll(m[3]);
  }
  if (std::regex_search(log, m, std::regex(R"(spool file: (\d+) commits, (\d+) errors)"))) {
    s.disk_commits = std::stoll(m[1]);
    s.disk_errors = std::stoll(m[2]);
  }
  return s;
}

int64_t Quiesce(Cluster& cluster, const std::string& db) {
  cluster.Configure({}, "200ms", "150ms");
  cluster.collector()->Signal(SIGHUP);
  int64_t last = -1;
  int stable = 0;
  for (int i = 0; i < 240 && stable < 4; ++i) {
    std::this_thread::sleep_for(milliseconds(500));
    int64_t n = Int(db, "SELECT count(*) FROM results");
    // An unreadable count (-1: busy) is not a stable one.
    stable = n >= 0 && n == last ? stable + 1 : 0;
    last = n;
  }
  return last;
}

std::vector<TargetSpec> Targets(int n, int port) {
  std::vector<TargetSpec> targets;
  for (int i = 0; i < n; ++i) targets.push_back({"t" + std::to_string(i), "127.0.0.1", port});
  return targets;
}

Tmpfs::Tmpfs(std::string dir, uint64_t bytes) : dir_(std::move(dir)) {
  if (geteuid() != 0) {
    error_ = "needs root to mount a tmpfs (running as uid " + std::to_string(geteuid()) + ")";
    return;
  }
  if (mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    error_ = "mkdir " + dir_ + ": " + std::strerror(errno);
    return;
  }
  std::string opts = "size=" + std::to_string(bytes) + ",mode=0700";
  if (mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) != 0) {
    error_ = "mount -t tmpfs -o " + opts + " " + dir_ + ": " + std::strerror(errno);
    return;
  }
  mounted_ = true;
}

Tmpfs::~Tmpfs() {
  if (mounted_ && umount2(dir_.c_str(), MNT_DETACH) != 0) {
    ADD_FAILURE() << "umount " << dir_ << ": " << std::strerror(errno);
  }
}

uint64_t Tmpfs::Fill(const std::string& name) {
  int fd = open((dir_ + "/" + name).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  std::string block(4096, 'f');
  uint64_t written = 0;
  // Bounded: a tmpfs of a few MiB fills in a few thousand writes.
  for (int i = 0; i < (1 << 20); ++i) {
    ssize_t n = write(fd, block.data(), block.size());
    if (n <= 0) break;
    written += static_cast<uint64_t>(n);
  }
  close(fd);
  return written;
}

void Tmpfs::Free(const std::string& name) { unlink((dir_ + "/" + name).c_str()); }

uint64_t Tmpfs::FreeBytes() const {
  struct statvfs s {};
  if (statvfs(dir_.c_str(), &s) != 0) return 0;
  return static_cast<uint64_t>(s.f_bavail) * s.f_frsize;
}

}  // namespace parallax::testing
