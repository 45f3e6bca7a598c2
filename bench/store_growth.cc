// Database growth and ingest rate of the two Store drivers (issue 16): writes
// N results (default 1,000,000) of 100 probes x 100 targets through the
// Store interface (batches of 500, each committed before its callback, as
// ingest does) into SQLite and into a PostgreSQL server it starts itself
// (collector/store/testing/pg_server.h), then prints results/s and bytes per
// result. Results are realistic "ok" rows (address, SSH identification,
// latencies), ts_ms spread over one day at 10 s per pair.
//
// Usage: parallax-bench-store [--results N] [--dir DIR] [--driver sqlite|postgres|both]
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "collector/store/store.h"
#include "collector/store/testing/pg_server.h"
#include "common/clock.h"

using parallax::Status;
using namespace parallax::collector;

namespace {

struct Outcome {
  double seconds = 0;
  int64_t bytes = 0;
};

int Run(Store* store, int64_t n, double* seconds) {
  constexpr int kProbes = 100, kTargets = 100, kBatch = 500;
  const int64_t start_ms = parallax::WallClockMs() - 24LL * 3600 * 1000;
  std::atomic<int64_t> inflight{0}, failed{0};
  std::vector<uint64_t> seq(kProbes, 0);
  const auto t0 = std::chrono::steady_clock::now();
  int64_t written = 0;
  for (int64_t round = 0; written < n; ++round) {
    for (int p = 0; p < kProbes && written < n; ++p) {
      std::vector<parallax::v1::CheckResult> batch;
      for (int i = 0; i < kBatch && written < n; ++i, ++written) {
        parallax::v1::CheckResult r;
        r.set_seq(++seq[p]);
        const int t = static_cast<int>(seq[p] % kTargets);
        r.set_target("target-" + std::to_string(t) + ".example.net");
        const int64_t ts = start_ms + static_cast<int64_t>(seq[p] / kTargets) * 10000 + t;
        r.set_started_unix_ms(ts);
        r.set_collector_started_unix_ms(ts);
        r.set_received_unix_ms(ts + 5);
        // 1% changes: one timeout every 200 checks of a pair.
        const int64_t k = static_cast<int64_t>(seq[p] / kTargets);
        const bool fault = (k + p * 7 + t * 13) % 200 == 0;
        r.set_outcome(fault ? parallax::v1::OUTCOME_TIMEOUT : parallax::v1::OUTCOME_OK);
        r.set_connect_us(400 + static_cast<uint32_t>(seq[p] % 97));
        r.set_banner_us(900 + static_cast<uint32_t>(seq[p] % 89));
        r.set_address("10.0." + std::to_string(t / 250) + "." + std::to_string(t % 250) + ":22");
        if (fault) {
          r.set_connect_us(0);
          r.set_banner_us(0);
          r.set_detail("no answer within 5s");
        } else {
          r.set_identification("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3");
        }
        batch.push_back(std::move(r));
      }
      while (inflight > 40) std::this_thread::sleep_for(std::chrono::microseconds(200));
      ++inflight;
      store->SubmitResults("probe-" + std::to_string(p), "boot", std::move(batch),
                           [&](const CommitInfo& info) {
                             if (!info.status.ok()) ++failed;
                             --inflight;
                           });
    }
  }
  store->Flush();
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<int>(failed.load());
}

// Bytes this process passed to write() and friends (/proc/self/io wchar).
int64_t WrittenBytes() {
  std::ifstream io("/proc/self/io");
  std::string key;
  int64_t value = 0;
  while (io >> key >> value) {
    if (key == "wchar:") return value;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Store growth per million results, SQLite and PostgreSQL"};
  int64_t n = 1000000;
  std::string dir = "/tmp";
  std::string driver = "both";
  app.add_option("--results", n, "results to write");
  app.add_option("--dir", dir, "directory for the SQLite file");
  app.add_option("--driver", driver, "sqlite, postgres or both");
  std::string compaction = "both";
  app.add_option("--compaction", compaction, "run compaction on, off or both");
  CLI11_PARSE(app, argc, argv);

  // Bytes per result = MB per million results.
  std::printf(
      "driver    compaction  results   seconds  results/s  db bytes/result  written "
      "bytes/result\n");
  std::unique_ptr<testing::PgServer> pg;
  int db_index = 0;
  for (const std::string d : {"sqlite", "postgres"}) {
    if (driver != "both" && driver != d) continue;
    for (const bool on : {false, true}) {
      if (compaction != "both" && compaction != (on ? "on" : "off")) continue;
      StoreOptions o;
      o.retention = std::chrono::milliseconds(0);
      o.incident_retention = std::chrono::milliseconds(0);
      o.change_retention = std::chrono::milliseconds(0);
      o.compaction = on;
      std::string path = dir + "/parallax-bench-store.db";
      const std::string dbname = "bench" + std::to_string(++db_index);
      if (d == "postgres") {
        Status s = pg ? Status::Ok() : testing::PgServer::Start(&pg);
        if (s.ok()) s = pg->CreateDatabase(dbname);
        if (!s.ok()) {
          std::fprintf(stderr, "postgres: %s\n", s.ToString().c_str());
          return 1;
        }
        o.driver = "postgres";
        o.dsn = pg->Dsn(dbname);
      } else {
        std::filesystem::remove(path);
        std::filesystem::remove(path + "-wal");
        o.path = path;
      }
      std::unique_ptr<Store> store;
      Status s = Store::Open(o, &store);
      if (!s.ok()) {
        std::fprintf(stderr, "%s: %s\n", d.c_str(), s.ToString().c_str());
        return 1;
      }
      int64_t before = 0, written_before = 0;
      if (d == "postgres") {
        std::string v;
        pg->Exec(dbname, "CHECKPOINT", nullptr);
        pg->Exec(dbname, "SELECT pg_database_size(current_database())", &v);
        before = std::stoll(v);
        pg->Exec(dbname, "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn", &v);
        written_before = std::stoll(v);
      } else {
        written_before = WrittenBytes();
      }
      double seconds = 0;
      const int failed = Run(store.get(), n, &seconds);
      store.reset();  // SQLite: checkpoint on close
      int64_t bytes = 0, written = 0;
      if (d == "postgres") {
        std::string v;
        pg->Exec(dbname, "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn", &v);
        written = std::stoll(v) - written_before;
        pg->Exec(dbname, "CHECKPOINT", nullptr);
        pg->Exec(dbname, "SELECT pg_database_size(current_database())", &v);
        bytes = std::stoll(v) - before;
        // Where it went: each table with its indexes (and its dead row
        // versions: no vacuum has run yet).
        std::string parts;
        pg->Exec(dbname,
                 "SELECT string_agg(t || '=' || round(b::numeric / " + std::to_string(n) +
                     ", 1), ' ') FROM (SELECT 'results' AS t, SUM(pg_total_relation_size("
                     "relid)) AS b FROM pg_partition_tree('results') UNION ALL SELECT"
                     " 'runs', pg_total_relation_size('runs') UNION ALL SELECT 'latest_results',"
                     " pg_total_relation_size('latest_results')) x",
                 &parts);
        std::fprintf(stderr, "postgres compaction %s: bytes/result by table: %s\n",
                     on ? "on" : "off", parts.c_str());
      } else {
        written = WrittenBytes() - written_before;
        std::error_code ec;
        bytes = static_cast<int64_t>(std::filesystem::file_size(path, ec));
        const auto wal = std::filesystem::file_size(path + "-wal", ec);
        if (!ec) bytes += static_cast<int64_t>(wal);
        std::filesystem::remove(path);
        std::filesystem::remove(path + "-wal");
      }
      std::printf("%-8s  %-10s %8lld %9.1f %10.0f %16.1f %21.1f%s\n", d.c_str(), on ? "on" : "off",
                  static_cast<long long>(n), seconds, n / seconds, static_cast<double>(bytes) / n,
                  static_cast<double>(written) / n, failed ? "  (FAILED commits!)" : "");
      std::fflush(stdout);
      if (failed) return 1;
    }
  }
  return 0;
}
