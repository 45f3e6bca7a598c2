#include "collector/store/testing/pg_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

namespace parallax::collector::testing {
namespace {

// The newest /usr/lib/postgresql/<N>/bin holding initdb and postgres.
std::string FindBin() {
  std::error_code ec;
  std::vector<std::pair<int, std::string>> found;
  for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string bin = e.path().string() + "/bin";
    if (access((bin + "/initdb").c_str(), X_OK) == 0 &&
        access((bin + "/postgres").c_str(), X_OK) == 0) {
      found.emplace_back(std::atoi(e.path().filename().c_str()), bin);
    }
  }
  if (found.empty()) return "";
  std::sort(found.begin(), found.end());
  return found.back().second;
}

int FreeLoopbackPort() {
  std::mt19937 rng(
      static_cast<unsigned>(getpid()) ^
      static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::uniform_int_distribution<int> dist(10000, 32767);  // below the ephemeral range
  for (int i = 0; i < 1000; ++i) {
    const int port = dist(rng);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    close(fd);
    if (ok) return port;
  }
  return 0;
}

// Runs argv (as uid/gid if drop), output to `log`; returns the child's pid.
pid_t Spawn(const std::vector<std::string>& argv, bool drop, uid_t uid, gid_t gid,
            const std::string& log) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid != 0) return pid;
  // Child: own process group (a test's kill never reaches us by accident).
  setpgid(0, 0);
  int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
  }
  if (drop && (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) _exit(126);
  execv(args[0], args.data());
  _exit(127);
}

std::string Tail(const std::string& path) {
  FILE* f = fopen(path.c_str(), "r");
  if (!f) return "";
  std::string all;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), f)) > 0;) all.append(buf, n);
  fclose(f);
  return all.size() > 2000 ? all.substr(all.size() - 2000) : all;
}

}  // namespace

Status PgServer::Start(std::unique_ptr<PgServer>* out) {
  std::unique_ptr<PgServer> s(new PgServer());
  s->bin_ = FindBin();
  if (s->bin_.empty()) {
    return Status::NotFound(
        "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (initdb, "
        "postgres): install the postgresql package (deploy/install-deps.sh --test)");
  }
  // As root the server runs as nobody, who must reach the directory: /tmp
  // (TMPDIR may be a root-only path then).
  const char* tmp = geteuid() == 0 ? nullptr : getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/parallax_pg_XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return Status::IoError("mkdtemp " + tmpl);
  s->dir_ = tmpl;
  if (geteuid() == 0) {
    const passwd* pw = getpwnam("nobody");
    if (pw == nullptr) return Status::NotFound("running as root and no user \"nobody\"");
    s->drop_ = true;
    s->uid_ = pw->pw_uid;
    s->gid_ = pw->pw_gid;
    if (chown(s->dir_.c_str(), s->uid_, s->gid_) != 0) {
      return Status::IoError("chown " + s->dir_ + " to nobody");
    }
  }
  chmod(s->dir_.c_str(), 0700);
  const std::string log = s->dir_ + "/initdb.log";
  pid_t pid = Spawn({s->bin_ + "/initdb", "-D", s->dir_ + "/data", "-U", "postgres", "--auth=trust",
                     "-E", "UTF8", "--locale=C", "--no-sync"},
                    s->drop_, s->uid_, s->gid_, log);
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    return Status::Internal("initdb failed (status " + std::to_string(status) + ") in " + s->dir_ +
                            (s->drop_ ? " as nobody" : "") + ": " + Tail(log));
  }
  s->port_ = FreeLoopbackPort();
  if (s->port_ == 0) return Status::Unavailable("no free loopback port");
  Status st = s->Launch();
  if (!st.ok()) return st;
  // The collector's role as docs/POSTGRES.md creates it: a plain login role
  // that owns its database (CreateDatabase), no superuser.
  st = s->Exec("postgres", "CREATE ROLE parallax LOGIN");
  if (!st.ok()) return st;
  *out = std::move(s);
  return Status::Ok();
}

Status PgServer::Launch() {
  const std::string log = dir_ + "/postgres.log";
  pid_ = Spawn({bin_ + "/postgres", "-D", dir_ + "/data", "-p", std::to_string(port_), "-k", dir_,
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
                "-c", "max_connections=50", "-c", "shared_buffers=16MB"},
               drop_, uid_, gid_, log);
  if (pid_ < 0) return Status::Internal("fork failed");
  const std::string dsn = AdminDsn("postgres");
  for (int i = 0; i < 300; ++i) {  // at most ~30 s
    if (PQping(dsn.c_str()) == PQPING_OK) return Status::Ok();
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::Internal("postgres exited at start (status " + std::to_string(status) +
                              "); data directory " + dir_);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status::Unavailable("postgres did not accept connections within 30 s on port " +
                             std::to_string(port_));
}

PgServer* PgServer::Shared(std::string* why) {
  static std::unique_ptr<PgServer> server;
  static Status status = [] {
    Status s = Start(&server);
    // Stopped at exit, after every test of the process.
    std::atexit([] { server.reset(); });
    return s;
  }();
  if (!status.ok()) {
    *why = status.ToString();
    return nullptr;
  }
  return server.get();
}

PgServer::~PgServer() {
  Stop();
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

void PgServer::Stop() { Crash(); }

Status PgServer::Crash() {
  if (pid_ <= 0) return Status::Ok();
  kill(pid_, SIGQUIT);
  int status = 0;
  for (int i = 0; i < 100; ++i) {  // at most ~10 s, then SIGKILL
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::Ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return Status::Ok();
}

Status PgServer::Restart() {
  Crash();
  return Launch();
}

std::string PgServer::Dsn(const std::string& dbname) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=parallax dbname=" + dbname +
         " sslmode=disable connect_timeout=5";
}

std::string PgServer::AdminDsn(const std::string& dbname) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + dbname +
         " sslmode=disable connect_timeout=5";
}

Status PgServer::Exec(const std::string& dbname, const std::string& sql, std::string* out) {
  PGconn* c = PQconnectdb(AdminDsn(dbname).c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string why = PQerrorMessage(c);
    PQfinish(c);
    return Status::Unavailable("connect: " + why);
  }
  PGresult* r = PQexec(c, sql.c_str());
  Status s;
  const ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    s = Status::Internal(sql + ": " + PQresultErrorMessage(r));
  } else if (out) {
    *out = PQntuples(r) > 0 && PQnfields(r) > 0 ? PQgetvalue(r, 0, 0) : "";
  }
  PQclear(r);
  PQfinish(c);
  return s;
}

Status PgServer::CreateDatabase(const std::string& name) {
  return Exec("postgres", "CREATE DATABASE " + name + " OWNER parallax");
}

}  // namespace parallax::collector::testing
