// Test harness for integration tests: real processes (collector, probe, CLI,
// sshd) on loopback, free ports, a temp dir per test, loopback listeners that
// misbehave on purpose, and small clients (HTTP GET of /metrics, SQLite).
// Everything binds and connects to 127.0.0.1 only.
//
// Not thread-safe unless stated; each test owns its objects.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace parallax::testing {

// Paths of the built binaries (compile definitions from CMake).
std::string CollectorBinary();
std::string ProbeBinary();
std::string CliBinary();

// Debian's libfaketime (package libfaketime).
inline constexpr const char* kLibFaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
// The argv prefix ("env", ...) that runs a program with its wall clock shifted
// by `offset` ("+10m", "-10m", "-30s"; monotonic time untouched), the process
// still the program's own (env execs). Ahead: LD_PRELOAD of Debian's
// libfaketime (FAKETIME=offset). Behind: the wall_clock_behind.cc preload,
// which shifts std::chrono::system_clock only: libfaketime behind makes gRPC's
// timer threads spin (that file says why). Empty if `offset` is not
// [+-]N[smh] or libfaketime is missing for an offset ahead.
std::vector<std::string> WallClockSkewArgv(const std::string& offset);

// A fresh directory under $TMPDIR, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A port on 127.0.0.1 that was free a moment ago.
int FreePort();
// Polls `pred` every 50 ms until it is true or `timeout` passes.
bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

// True when something accepts a TCP connection on 127.0.0.1:port (the
// connection is closed at once).
bool LoopbackPortOpen(int port);

// True when `path` exists and is executable (a server a test may start).
bool IsExecutable(const std::string& path);
void WriteFile(const std::string& path, const std::string& text);
std::string ReadFile(const std::string& path);

// A child process in its own process group, stdout+stderr to `log_path`.
// The destructor kills the group (SIGKILL) and reaps it.
class Process {
 public:
  Process(std::vector<std::string> argv, std::string log_path);
  ~Process();
  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Waits up to `timeout` for exit; returns the exit code, -signal if killed,
  // or -1000 on timeout.
  int Wait(std::chrono::milliseconds timeout);
  bool running();
  std::string log() const;

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string log_path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs a command to completion (bounded by `timeout`).
CommandResult RunCommand(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = std::chrono::seconds(20));

// GET http://127.0.0.1:port/path; empty on failure.
std::string HttpGet(int port, const std::string& path);

// Value of the first sample line starting with `series` (exact series text,
// e.g. `parallax_check_up{probe="p1",target="t"}`), or NaN.
double MetricValue(const std::string& metrics_text, const std::string& series);

// The number of results stored under run compaction (the default; store.h):
// the checks counted in runs plus the ad-hoc results (stored whole).
inline constexpr char kStoredResultsSql[] =
    "SELECT (SELECT COALESCE(SUM(count), 0) FROM runs) +"
    " (SELECT count(*) FROM results WHERE adhoc_id <> '')";
// Runs of one pair within one boot that share a seq (0 unless a result was
// counted twice).
inline constexpr char kOverlappingRunsSql[] =
    "SELECT count(*) FROM runs a JOIN runs b ON a.boot_ref = b.boot_ref"
    " AND a.probe_id = b.probe_id AND a.target_id = b.target_id"
    " AND a.id < b.id AND a.last_seq >= b.first_seq";

// Runs one SQL query on a database file (read-only) and returns the rows,
// columns joined by '|'.
std::vector<std::string> SqliteQuery(const std::string& db, const std::string& sql);

// A real OpenSSH sshd on 127.0.0.1:port with a throwaway host key.
class Sshd {
 public:
  // Returns nullptr (and why in *why) if sshd cannot run here.
  static std::unique_ptr<Sshd> Start(const TempDir& dir, std::string* why);
  int port() const { return port_; }
  std::string log() const;

 private:
  int port_ = 0;
  std::string log_path_;
  std::unique_ptr<Process> process_;
};

// A loopback TCP listener on 127.0.0.1:0 run by a thread; `behaviour` gets
// each accepted fd and must close it (or leave it to the listener's end).
class Listener {
 public:
  enum class Kind {
    kSilent,   // accepts and never writes (banner_timeout)
    kHttp,     // reads a line, answers "HTTP/1.1 400 Bad Request" (not_ssh)
    kFastSsh,  // writes an SSH identification at once, reads, closes
  };
  explicit Listener(Kind kind);
  ~Listener();
  int port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  void Loop();
  Kind kind_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::vector<int> held_;
  std::thread thread_;
};

// A port on 127.0.0.1 with nothing listening (connects are refused).
int ClosedPort();

}  // namespace parallax::testing
