// PgServer: a throwaway PostgreSQL server for tests, started from Debian's
// binaries (/usr/lib/postgresql/<version>/bin): initdb into a new directory
// under $TMPDIR (/tmp as root), postgres on a free loopback port with its unix
// socket in that directory, trust authentication, fsync off (a test server: a killed server keeps
// what it committed, an OS crash would not; synchronous_commit stays on, so
// a COMMIT that returned survives the server's own crash).
// initdb takes a few seconds: share one server per test process (Shared())
// and give each test its own database (CreateDatabase).
//
// PostgreSQL refuses to run as root: when the test runs as root (CI does),
// the data directory is chowned to `nobody` and initdb and postgres run as
// that user (the child calls setgid/setuid before exec), so the postmaster
// PID is the child's and the server is stopped by that PID.
//
// Missing binaries are an error (Start fails loudly; CI installs them: see
// deploy/install-deps.sh --test).
//
// Thread-compatible; Stop() also runs at destruction.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "common/status.h"

namespace parallax::collector::testing {

class PgServer {
 public:
  // Creates the cluster and starts the server (waits until it accepts
  // connections, at most 30 s).
  static Status Start(std::unique_ptr<PgServer>* out);
  // One server for the whole test process, started at first use and stopped
  // at exit. Null (with the reason in *why) when it could not start.
  static PgServer* Shared(std::string* why);
  ~PgServer();

  // A libpq connection string for database `dbname` on this server, as
  // the role `parallax`: a plain LOGIN role (no superuser, no CREATEDB), the
  // owner of the databases CreateDatabase makes, as docs/POSTGRES.md sets
  // the collector's role up. Stores under test connect with it.
  std::string Dsn(const std::string& dbname) const;
  // CREATE DATABASE `name` OWNER parallax (a fresh, empty database).
  Status CreateDatabase(const std::string& name);
  // Runs `sql` on database `dbname` as the superuser `postgres` (simple
  // protocol), for the tests' own checks; *out gets the first column of the
  // first row, if asked and any.
  Status Exec(const std::string& dbname, const std::string& sql, std::string* out = nullptr);

  // Immediate shutdown (SIGQUIT to the postmaster: every backend dies, no
  // checkpoint), waiting for it to exit. Idempotent.
  Status Crash();
  // Starts the server again on the same port and data directory.
  Status Restart();
  int port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  PgServer() = default;
  Status Launch();
  void Stop();
  std::string AdminDsn(const std::string& dbname) const;  // as `postgres`

  std::string bin_;  // directory of initdb/postgres
  std::string dir_;  // cluster and socket directory
  int port_ = 0;
  pid_t pid_ = -1;
  uid_t uid_ = 0;  // user that runs the server (0: the current one)
  gid_t gid_ = 0;
  bool drop_ = false;  // running as root: setuid to uid_ in children
};

}  // namespace parallax::collector::testing
