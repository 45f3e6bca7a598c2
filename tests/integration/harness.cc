#include "tests/integration/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace parallax::testing {

std::string CollectorBinary() { return PARALLAX_COLLECTOR_BIN; }
std::string ProbeBinary() { return PARALLAX_PROBE_BIN; }
std::string CliBinary() { return PARALLAX_CLI_BIN; }

std::vector<std::string> WallClockSkewArgv(const std::string& offset) {
  if (offset.size() < 3 || (offset[0] != '+' && offset[0] != '-')) return {};
  long long seconds = 0;
  for (size_t i = 1; i + 1 < offset.size(); ++i) {
    if (offset[i] < '0' || offset[i] > '9' || seconds > 1000000) return {};
    seconds = seconds * 10 + (offset[i] - '0');
  }
  switch (offset.back()) {
    case 's':
      break;
    case 'm':
      seconds *= 60;
      break;
    case 'h':
      seconds *= 3600;
      break;
    default:
      return {};
  }
  if (offset[0] == '-') {
    return {"env", std::string("LD_PRELOAD=") + PARALLAX_WALL_CLOCK_BEHIND_LIB,
            "PARALLAX_WALL_CLOCK_OFFSET_S=-" + std::to_string(seconds)};
  }
  if (access(kLibFaketime, R_OK) != 0) return {};
  return {"env", std::string("LD_PRELOAD=") + kLibFaketime, "FAKETIME=" + offset,
          "FAKETIME_DONT_FAKE_MONOTONIC=1", "FAKETIME_NO_CACHE=1"};
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/parallax-test-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
  chmod(path_.c_str(), 0755);
}

TempDir::~TempDir() {
  if (std::getenv("PARALLAX_KEEP_TEST_DIRS") != nullptr) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

// Ports below Linux's ephemeral range (32768-60999): no outgoing connection of
// a concurrently running test can hold one as its local port meanwhile.
int FreePort() {
  static std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pick(10000, 32767);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int port = pick(rng);
    addr.sin_port = htons(port);
    bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    if (ok) return port;
  }
  return 0;
}

int ClosedPort() { return FreePort(); }

bool LoopbackPortOpen(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

bool IsExecutable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Process::Process(std::vector<std::string> argv, std::string log_path)
    : log_path_(std::move(log_path)) {
  // Everything the child needs is prepared before fork: tests have threads,
  // and the child of a threaded process must not allocate.
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const char* log = log_path_.c_str();
  pid_ = fork();
  if (pid_ == 0) {
    setpgid(0, 0);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    int null = open("/dev/null", O_RDONLY);
    dup2(null, STDIN_FILENO);
    execvp(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  setpgid(pid_, pid_);
}

Process::~Process() {
  if (pid_ > 0 && !reaped_) {
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
  }
}

void Process::Signal(int sig) {
  if (!reaped_) kill(pid_, sig);
}

bool Process::running() {
  if (reaped_) return false;
  pid_t r = waitpid(pid_, &status_, WNOHANG);
  if (r == pid_) reaped_ = true;
  return !reaped_;
}

int Process::Wait(std::chrono::milliseconds timeout) {
  if (!WaitFor([this] { return !running(); }, timeout)) return -1000;
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  return -WTERMSIG(status_);
}

std::string Process::log() const { return ReadFile(log_path_); }

CommandResult RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) return {};
  std::vector<char*> args;  // built before fork: the child must not allocate
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    close(out_pipe[0]);
    close(err_pipe[0]);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  CommandResult result;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (open_fds > 0 && std::chrono::steady_clock::now() < deadline) {
    if (poll(fds, 2, 100) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? result.out : result.err).append(buf, n);
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int status = 0;
  if (open_fds > 0) kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  return result;
}

std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (write(fd, req.data(), req.size()) < 0) {
    close(fd);
    return "";
  }
  std::string resp;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) resp.append(buf, n);
  close(fd);
  size_t body = resp.find("\r\n\r\n");
  return body == std::string::npos ? "" : resp.substr(body + 4);
}

double MetricValue(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0)
      return std::strtod(line.c_str() + series.size() + 1, nullptr);
  }
  return std::nan("");
}

std::vector<std::string> SqliteQuery(const std::string& db, const std::string& sql) {
  std::vector<std::string> rows;
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(h);
    return {"error: open " + db};
  }
  sqlite3_busy_timeout(h, 5000);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    rows.push_back(std::string("error: ") + sqlite3_errmsg(h));
    sqlite3_close(h);
    return rows;
  }
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::string row;
    for (int i = 0; i < sqlite3_column_count(st); ++i) {
      if (i > 0) row += "|";
      const unsigned char* t = sqlite3_column_text(st, i);
      row += t != nullptr ? reinterpret_cast<const char*>(t) : "NULL";
    }
    rows.push_back(row);
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return rows;
}

std::unique_ptr<Sshd> Sshd::Start(const TempDir& dir, std::string* why) {
  const char* sshd_bin = "/usr/sbin/sshd";
  if (access(sshd_bin, X_OK) != 0) {
    *why = "no /usr/sbin/sshd (apt-get install openssh-server)";
    return nullptr;
  }
  std::string key = dir.File("ssh_host_ed25519_key");
  CommandResult kg = RunCommand({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key});
  if (kg.exit_code != 0) {
    *why = "ssh-keygen failed: " + kg.err;
    return nullptr;
  }
  if (geteuid() == 0) std::filesystem::create_directories("/run/sshd");
  auto s = std::unique_ptr<Sshd>(new Sshd());
  s->port_ = FreePort();
  s->log_path_ = dir.File("sshd.log");
  std::string cfg = dir.File("sshd_config");
  WriteFile(cfg, "Port " + std::to_string(s->port_) + "\nListenAddress 127.0.0.1\nHostKey " + key +
                     "\nPidFile " + dir.File("sshd.pid") +
                     "\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                     "UsePAM no\nLogLevel VERBOSE\nMaxStartups 100:30:200\n");
  // -r: no re-exec per connection (a fork, not an exec that loads libraries,
  // config and keys again): 4 vs 26 ms to the identification line here, so
  // a starved CI machine still answers within the tests' short timeouts
  // (one run saw banner_timeout at 700 ms). Clients see the same server.
  s->process_ = std::make_unique<Process>(
      std::vector<std::string>{sshd_bin, "-D", "-r", "-e", "-f", cfg}, s->log_path_);
  int port = s->port_;
  bool up = WaitFor(
      [port] {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
        close(fd);
        return ok;
      },
      std::chrono::seconds(10));
  if (!up) {
    *why = "sshd did not start: " + s->log();
    return nullptr;
  }
  return s;
}

std::string Sshd::log() const { return ReadFile(log_path_); }

Listener::Listener(Kind kind) : kind_(kind) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  listen(fd_, 128);
  socklen_t len = sizeof(addr);
  getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Loop(); });
}

Listener::~Listener() {
  stop_ = true;
  shutdown(fd_, SHUT_RDWR);
  thread_.join();
  close(fd_);
  for (int fd : held_) close(fd);
}

void Listener::Loop() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    int c = accept(fd_, nullptr, nullptr);
    if (c < 0) continue;
    ++accepted_;
    switch (kind_) {
      case Kind::kSilent:
        held_.push_back(c);  // never answer; closed at the end
        break;
      case Kind::kHttp: {
        pollfd q{c, POLLIN, 0};
        char buf[512];
        if (poll(&q, 1, 2000) > 0 && read(c, buf, sizeof(buf)) > 0) {
          const char* resp =
              "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
          ssize_t ignored = write(c, resp, std::strlen(resp));
          (void)ignored;
        }
        close(c);
        break;
      }
      case Kind::kFastSsh: {
        const char* id = "SSH-2.0-FastBanner_1.0\r\n";
        ssize_t ignored = write(c, id, std::strlen(id));
        (void)ignored;
        shutdown(c, SHUT_WR);
        close(c);
        break;
      }
    }
  }
}

}  // namespace parallax::testing
