// Helpers shared by the probe spool tests (probe_spool_test, the long-outage
// soak test, the full-disk test): a loopback SSH-ish server, row counts of the
// collector's database, the probe's exit summary, and a small tmpfs.
//
// Not thread-safe unless stated: one test thread uses them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/integration/cluster.h"

namespace parallax::testing {

// A loopback SSH-ish server: on accept it writes `pre_lines` lines of ~190
// bytes (text before the identification, as some servers send), waits
// `delay`, writes an SSH identification line and closes. Its own thread.
class LoopbackServer {
 public:
  LoopbackServer(int pre_lines, std::chrono::milliseconds delay);
  ~LoopbackServer();
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;
  int port() const { return port_; }

 private:
  void Finish(int fd);
  void Loop();

  int pre_lines_;
  std::chrono::milliseconds delay_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::deque<std::pair<int, std::chrono::steady_clock::time_point>> held_;
  std::thread thread_;
};

// The first column of the first row of `sql` as an integer; -1 if the query
// fails (e.g. the database is busy) or returns nothing.
int64_t Int(const std::string& db, const std::string& sql);

// "count|distinct|max" of the stored seqs, one row per boot.
std::vector<std::string> PerBoot(const std::string& db);

// What the probe's exit summary says (-1: not found in the log).
struct Stopped {
  int64_t produced = -1, unacked = -1, dropped = -1;
  int64_t sent = -1, batches = -1, rejected = -1;
  int64_t disk_commits = -1, disk_errors = -1;
};
// SIGTERM, waits for exit 0 (EXPECTed), parses the summary.
Stopped StopProbe(Process* probe);

// Stops the checks (an empty config, reloaded: the probe gets no targets) and
// waits until the stored count has not moved for 2 s (readable each time):
// everything the probe produced has been delivered. Returns the count.
int64_t Quiesce(Cluster& cluster, const std::string& db);

// `n` targets t0..t<n-1> on 127.0.0.1:`port`.
std::vector<TargetSpec> Targets(int n, int port);

// A tmpfs of `bytes` mounted on `dir` (created) for the life of the object,
// unmounted (lazily) by the destructor. Needs root (CAP_SYS_ADMIN):
// ok() is false otherwise, and error() says why.
class Tmpfs {
 public:
  Tmpfs(std::string dir, uint64_t bytes);
  ~Tmpfs();
  Tmpfs(const Tmpfs&) = delete;
  Tmpfs& operator=(const Tmpfs&) = delete;
  bool ok() const { return mounted_; }
  const std::string& error() const { return error_; }
  const std::string& dir() const { return dir_; }
  // Writes a file `name` until the file system is full (ENOSPC); returns
  // the bytes written. Free() removes it.
  uint64_t Fill(const std::string& name = "filler");
  void Free(const std::string& name = "filler");
  // Bytes still free (statvfs).
  uint64_t FreeBytes() const;

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

}  // namespace parallax::testing
