#include "collector/store/pg_writer.h"

#include <algorithm>
#include <thread>

#include "collector/store/codec.h"
#include "collector/store/postgres_schema.h"
#include "common/clock.h"
#include "common/log.h"

namespace parallax::collector {

using pg::Param;

Status PgWriter::Open(const std::string& dsn, int64_t width_ms, std::unique_ptr<PgWriter>* out) {
  std::unique_ptr<PgWriter> w(new PgWriter());
  w->dsn_ = dsn;
  Status s = w->conn_.Connect(dsn, 10);
  if (!s.ok()) return s;
  s = pg::Migrate(&w->conn_, width_ms, &w->width_ms_);
  if (!s.ok()) return s;
  s = w->Prepare();
  if (!s.ok()) return s;
  *out = std::move(w);
  return Status::Ok();
}

Status PgWriter::Connect() {
  Status s = conn_.Connect(dsn_, 10);
  if (s.ok()) s = Prepare();
  if (!s.ok()) {
    conn_.Close();
    backoff_ =
        std::clamp(backoff_ * 2, std::chrono::milliseconds(100), std::chrono::milliseconds(5000));
    next_connect_ = std::chrono::steady_clock::now() + backoff_;
    return s;
  }
  backoff_ = std::chrono::milliseconds(0);
  Logf(LogLevel::kInfo, "store: connected to PostgreSQL (%s)", pg::RedactDsn(dsn_).c_str());
  return Status::Ok();
}

Status PgWriter::Ensure() {
  if (conn_.Healthy() && prepared_) return Status::Ok();
  const auto now = std::chrono::steady_clock::now();
  if (now < next_connect_) {
    return Status::Unavailable(
        "PostgreSQL connection lost; reconnecting in " +
        std::to_string(
            std::chrono::duration_cast<std::chrono::milliseconds>(next_connect_ - now).count()) +
        " ms [SQLSTATE 08006]");
  }
  return Connect();
}

Status PgWriter::Fail(Status cause) {
  if (conn_.Healthy()) conn_.Exec("ROLLBACK");
  if (!conn_.Healthy()) {
    if (prepared_) {
      Logf(LogLevel::kWarning, "store: PostgreSQL connection lost: %s", cause.ToString().c_str());
    }
    conn_.Close();
    prepared_ = false;
  }
  probe_ids_.clear();
  target_ids_.clear();
  pending_boots_.clear();
  partitions_.clear();
  return cause;
}

Status PgWriter::Prepare() {
  prepared_ = false;
  const std::pair<const char*, const char*> stmts[] = {
      {"probe_id",
       "INSERT INTO probes (name, first_seen_ms, last_seen_ms) VALUES ($1, $2, $2)"
       " ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id"},
      {"upsert_probe",
       "INSERT INTO probes (name, labels, version, first_seen_ms, last_seen_ms)"
       " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET"
       " labels = EXCLUDED.labels, version = EXCLUDED.version,"
       " first_seen_ms = LEAST(probes.first_seen_ms, EXCLUDED.first_seen_ms),"
       " last_seen_ms = GREATEST(probes.last_seen_ms, EXCLUDED.last_seen_ms)"},
      {"target_id",
       "INSERT INTO targets (name, updated_ms) VALUES ($1, $2)"
       " ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id"},
      {"upsert_target",
       "INSERT INTO targets (name, host, port, labels, updated_ms) VALUES ($1, $2, $3, $4, $5)"
       " ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, port = EXCLUDED.port,"
       " labels = EXCLUDED.labels, updated_ms = EXCLUDED.updated_ms"},
      {"insert_boot",
       "INSERT INTO probe_boots (probe_id, boot_id) VALUES ($1, $2)"
       " ON CONFLICT (probe_id, boot_id) DO NOTHING"},
      {"lock_boot",
       "SELECT id, max_seq FROM probe_boots WHERE probe_id = $1 AND boot_id = $2 FOR UPDATE"},
      {"update_boot", "UPDATE probe_boots SET max_seq = $2 WHERE id = $1"},
      {"insert_results",
       "INSERT INTO results (probe_id, target_id, boot_ref, seq, ts_ms, outcome, connect_us,"
       " banner_us, address, error_number, identification, pre_banner, detail, liveness,"
       " late_us, probe_ts_ms, received_ms, adhoc_id)"
       " SELECT $1, u.target_id, $2, u.seq, u.ts_ms, u.outcome, u.connect_us, u.banner_us,"
       " u.address, u.error_number, u.identification, u.pre_banner, u.detail,"
       " decode(u.liveness, 'hex'), u.late_us, u.probe_ts_ms, u.received_ms, u.adhoc_id"
       " FROM unnest($3::bigint[], $4::bigint[], $5::bigint[], $6::int[], $7::bigint[],"
       " $8::bigint[], $9::text[], $10::int[], $11::text[], $12::text[], $13::text[],"
       " $14::text[], $15::bigint[], $16::bigint[], $17::bigint[], $18::text[])"
       " AS u(target_id, seq, ts_ms, outcome, connect_us, banner_us, address, error_number,"
       " identification, pre_banner, detail, liveness, late_us, probe_ts_ms, received_ms,"
       " adhoc_id)"
       " ON CONFLICT DO NOTHING"},
      {"upsert_latest",
       // latest_changes rows of at most 200 targets (1.6 kB): below the
       // size PostgreSQL compresses or moves out of line (TOAST).
       "WITH changed AS (INSERT INTO latest_changes (ingest_ms, probe_id, target_ids)"
       " SELECT $3, $1, ($4::bigint[])[i : i + 199]"
       " FROM generate_series(1, cardinality($4::bigint[]), 200) AS i)"
       " INSERT INTO latest_results (probe_id, target_id, boot_ref, seq, ts_ms, ingest_ms, result)"
       " SELECT $1, u.target_id, $2, u.seq, u.ts_ms, $3, decode(u.result, 'hex')"
       " FROM unnest($4::bigint[], $5::bigint[], $6::bigint[], $7::text[])"
       " AS u(target_id, seq, ts_ms, result)"
       " ON CONFLICT (probe_id, target_id) DO UPDATE SET boot_ref = EXCLUDED.boot_ref,"
       " seq = EXCLUDED.seq, ts_ms = EXCLUDED.ts_ms, ingest_ms = EXCLUDED.ingest_ms,"
       " result = EXCLUDED.result WHERE latest_results.ts_ms <= EXCLUDED.ts_ms"},
      {"current_runs",
       "SELECT u.t, r.id, r.boot_ref, r.outcome, r.first_seq, r.last_seq, r.first_ms,"
       " r.last_ms, r.count, r.connect_min_us, r.connect_sum_us, r.connect_max_us"
       " FROM unnest($2::bigint[]) AS u(t) CROSS JOIN LATERAL (SELECT * FROM runs x"
       " WHERE x.probe_id = $1 AND x.target_id = u.t ORDER BY x.id DESC LIMIT 1) r"},
      {"update_runs",
       "UPDATE runs r SET last_seq = u.last_seq, last_ms = u.last_ms, count = u.count,"
       " connect_min_us = u.mn, connect_sum_us = u.sm, connect_max_us = u.mx"
       " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],"
       " $6::bigint[], $7::bigint[]) AS u(id, last_seq, last_ms, count, mn, sm, mx)"
       " WHERE r.id = u.id"},
      {"insert_runs",
       "INSERT INTO runs (probe_id, target_id, boot_ref, outcome, first_seq, last_seq,"
       " first_ms, last_ms, count, connect_min_us, connect_sum_us, connect_max_us)"
       " SELECT $1, u.t, $2, u.o, u.fs, u.ls, u.fm, u.lm, u.c, u.mn, u.sm, u.mx"
       " FROM unnest($3::bigint[], $4::int[], $5::bigint[], $6::bigint[], $7::bigint[],"
       " $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[])"
       " WITH ORDINALITY AS u(t, o, fs, ls, fm, lm, c, mn, sm, mx, n) ORDER BY u.n"},
      {"open_incident",
       "SELECT id FROM incidents WHERE target_id = $1 AND closed_ms = 0"
       " ORDER BY opened_ms DESC, id DESC LIMIT 1"},
      {"insert_incident",
       "INSERT INTO incidents (target_id, cause, opened_ms, summary) VALUES ($1, $2, $3, $4)"
       " RETURNING id"},
      {"update_incident", "UPDATE incidents SET cause = $2, summary = $3 WHERE id = $1"},
      {"close_incident", "UPDATE incidents SET closed_ms = $2 WHERE id = $1"},
      {"insert_change",
       "INSERT INTO incident_changes (incident_id, at_ms, cause, summary)"
       " VALUES ($1, $2, $3, $4)"},
  };
  for (const auto& [name, sql] : stmts) {
    Status s = conn_.Prepare(name, sql);
    if (!s.ok()) return s;
  }
  prepared_ = true;
  return Status::Ok();
}

Status PgWriter::LoadBoots(std::map<BootKey, uint64_t>* out) {
  pg::Result r;
  Status s = conn_.Exec(
      "SELECT p.name, b.boot_id, b.max_seq FROM probe_boots b JOIN probes p ON p.id = b.probe_id",
      &r);
  if (!s.ok()) return s;
  for (int i = 0; i < r.Rows(); ++i) {
    (*out)[{r.Text(i, 0), r.Text(i, 1)}] = static_cast<uint64_t>(r.Int(i, 2));
  }
  return Status::Ok();
}

bool PgWriter::Retryable(const Status& s) const {
  const std::string state = pg::SqlStateOf(s);
  return state == "40001" || state == "40P01";
}

const char* PgWriter::ErrorKind(const Status& s) const {
  const std::string state = pg::SqlStateOf(s);
  if (pg::IsConnectionError(s)) return "connection";
  if (state.rfind("53", 0) == 0) return "full";
  if (state.rfind("58", 0) == 0) return "io";
  if (state.rfind("40", 0) == 0 || state == "55P03") return "busy";
  return "other";
}

static std::string Hex(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  return hex;
}

// ts_ms of a result: the collector's clock (see schema.cc, version 3).
static int64_t TsMs(const v1::CheckResult& r) {
  return r.collector_started_unix_ms() != 0 ? r.collector_started_unix_ms() : r.started_unix_ms();
}

Status PgWriter::EnsurePartitions(const std::vector<WriteOp>& ops) {
  std::vector<int64_t> missing;
  for (const WriteOp& op : ops) {
    for (const v1::CheckResult& r : op.results) {
      const int64_t start = pg::PartitionStart(TsMs(r), width_ms_);
      if (partitions_.count(start) == 0 &&
          std::find(missing.begin(), missing.end(), start) == missing.end()) {
        missing.push_back(start);
      }
    }
  }
  if (missing.empty()) return Status::Ok();
  Status s = pg::CreatePartitions(&conn_, missing, width_ms_);
  if (!s.ok()) return s;
  partitions_.insert(missing.begin(), missing.end());
  return Status::Ok();
}

Status PgWriter::Apply(std::vector<WriteOp>& ops, std::vector<CommitInfo>* infos,
                       std::map<BootKey, uint64_t>* committed) {
  infos->assign(ops.size(), CommitInfo{});
  pending_boots_.clear();
  Status s = Ensure();
  if (!s.ok()) return s;
  s = EnsurePartitions(ops);
  if (!s.ok()) return Fail(s);
  s = conn_.Exec("BEGIN");
  if (!s.ok()) return Fail(s);
  const int64_t now_ms = WallClockMs();
  for (size_t i = 0; i < ops.size(); ++i) {
    s = ApplyOne(ops[i], &(*infos)[i], now_ms);
    if (!s.ok()) return Fail(s);
    if (ops[i].kind == WriteOp::Kind::kResults) {
      (*committed)[{ops[i].probe, ops[i].boot_id}] = (*infos)[i].committed_seq;
    }
  }
  s = conn_.Exec("COMMIT");
  if (!s.ok()) return Fail(s);
  pending_boots_.clear();
  return Status::Ok();
}

Status PgWriter::ApplyOne(WriteOp& op, CommitInfo* info, int64_t now_ms) {
  switch (op.kind) {
    case WriteOp::Kind::kResults:
      return ApplyResults(op, info, now_ms);
    case WriteOp::Kind::kProbe:
      return ApplyProbe(op.probe_record, now_ms);
    case WriteOp::Kind::kTargets:
      return ApplyTargets(op.targets, now_ms);
    case WriteOp::Kind::kIncident:
      return ApplyIncident(op, now_ms);
  }
  return Status::Internal("unknown write operation");
}

Status PgWriter::ApplyResults(WriteOp& op, CommitInfo* info, int64_t now_ms) {
  int64_t probe_id = 0;
  Status s = ProbeId(op.probe, now_ms, &probe_id);
  if (!s.ok()) return s;
  BootState boot;
  s = Boot(probe_id, op.boot_id, &boot);
  if (!s.ok()) return s;
  std::stable_sort(
      op.results.begin(), op.results.end(),
      [](const v1::CheckResult& a, const v1::CheckResult& b) { return a.seq() < b.seq(); });
  const uint64_t before = boot.max_seq;
  std::vector<std::pair<int64_t, const v1::CheckResult*>> fresh;  // (target id, result)
  std::map<int64_t, const v1::CheckResult*> newest;  // target id -> newest scheduled result
  for (const v1::CheckResult& r : op.results) {
    if (r.seq() <= boot.max_seq) {
      ++info->duplicates;
      continue;
    }
    int64_t target_id = 0;
    s = TargetId(r.target(), now_ms, &target_id);
    if (!s.ok()) return s;
    fresh.emplace_back(target_id, &r);
    boot.max_seq = r.seq();
    // The newest scheduled result of each target, for latest_results.
    if (r.adhoc_id().empty()) {
      auto [it, inserted] = newest.try_emplace(target_id, &r);
      if (!inserted && TsMs(r) >= TsMs(*it->second)) it->second = &r;
    }
  }
  // Results stored whole: all (compaction off), else the changes and the
  // ad-hoc ones.
  std::vector<std::pair<int64_t, const v1::CheckResult*>> rows;
  if (!compaction_) {
    rows = fresh;
  } else {
    s = FoldRuns(probe_id, boot.id, fresh, newest, &rows);
    if (!s.ok()) return s;
  }
  int stored = static_cast<int>(fresh.size());
  if (!rows.empty()) {
    pg::ArrayLiteral target_ids, seqs, ts, outcome, connect, banner, address, error, ident, pre,
        detail, liveness, late, probe_ts, received, adhoc;
    for (const auto& [target_id, rp] : rows) {
      const v1::CheckResult& r = *rp;
      target_ids.AddInt(target_id);
      seqs.AddInt(static_cast<int64_t>(r.seq()));
      ts.AddInt(TsMs(r));
      outcome.AddInt(r.outcome());
      connect.AddInt(r.connect_us());
      banner.AddInt(r.banner_us());
      address.Add(r.address());
      error.AddInt(r.error_number());
      ident.Add(r.identification());
      if (r.pre_banner_size() > 0) {
        pre.Add(PreBannerToJson({r.pre_banner().begin(), r.pre_banner().end()}));
      } else {
        pre.AddNull();
      }
      detail.Add(r.detail());
      if (r.has_liveness()) {
        liveness.Add(Hex(r.liveness().SerializeAsString()));
      } else {
        liveness.AddNull();
      }
      late.AddInt(r.late_us());
      probe_ts.AddInt(r.collector_started_unix_ms() != 0 ? r.started_unix_ms() : 0);
      received.AddInt(r.received_unix_ms());
      adhoc.Add(r.adhoc_id());
    }
    pg::Result res;
    s = conn_.Run(
        "insert_results",
        {Param::Int(probe_id), Param::Int(boot.id), Param::Text(target_ids.Take()),
         Param::Text(seqs.Take()), Param::Text(ts.Take()), Param::Text(outcome.Take()),
         Param::Text(connect.Take()), Param::Text(banner.Take()), Param::Text(address.Take()),
         Param::Text(error.Take()), Param::Text(ident.Take()), Param::Text(pre.Take()),
         Param::Text(detail.Take()), Param::Text(liveness.Take()), Param::Text(late.Take()),
         Param::Text(probe_ts.Take()), Param::Text(received.Take()), Param::Text(adhoc.Take())},
        &res);
    if (!s.ok()) return s;
    // Rows the unique index already held (stored past max_seq by hand) count
    // as duplicates; they sort before the stored ones only approximately.
    stored -= static_cast<int>(rows.size()) - static_cast<int>(res.Affected());
  }
  info->stored = stored;
  info->duplicates += static_cast<int>(fresh.size()) - stored;
  if (!newest.empty()) {
    // The shared newest-results table (schema version 2): one row per pair,
    // replaced only by a result at least as new, in this transaction.
    pg::ArrayLiteral l_target, l_seq, l_ts, l_result;
    for (const auto& [target_id, r] : newest) {
      l_target.AddInt(target_id);
      l_seq.AddInt(static_cast<int64_t>(r->seq()));
      l_ts.AddInt(TsMs(*r));
      l_result.Add(Hex(r->SerializeAsString()));
    }
    s = conn_.Run("upsert_latest", {Param::Int(probe_id), Param::Int(boot.id), Param::Int(now_ms),
                                    Param::Text(l_target.Take()), Param::Text(l_seq.Take()),
                                    Param::Text(l_ts.Take()), Param::Text(l_result.Take())});
    if (!s.ok()) return s;
  }
  if (boot.max_seq != before) {
    s = conn_.Run("update_boot",
                  {Param::Int(boot.id), Param::Int(static_cast<int64_t>(boot.max_seq))});
    if (!s.ok()) return s;
  }
  pending_boots_[{probe_id, op.boot_id}] = boot;
  info->committed_seq = boot.max_seq;
  return Status::Ok();
}

Status PgWriter::FoldRuns(int64_t probe_id, int64_t boot_ref,
                          const std::vector<std::pair<int64_t, const v1::CheckResult*>>& fresh,
                          const std::map<int64_t, const v1::CheckResult*>& newest,
                          std::vector<std::pair<int64_t, const v1::CheckResult*>>* rows) {
  // The current run of every pair this submission continues (in this
  // transaction: its own earlier writes included), one query.
  std::map<int64_t, RunState> current;
  if (!newest.empty()) {
    pg::ArrayLiteral targets;
    for (const auto& [target_id, r] : newest) targets.AddInt(target_id);
    pg::Result res;
    Status s = conn_.Run("current_runs", {Param::Int(probe_id), Param::Text(targets.Take())}, &res);
    if (!s.ok()) return s;
    for (int i = 0; i < res.Rows(); ++i) {
      RunState run;
      run.id = res.Int(i, 1);
      run.boot_ref = res.Int(i, 2);
      run.outcome = static_cast<int>(res.Int(i, 3));
      run.first_seq = static_cast<uint64_t>(res.Int(i, 4));
      run.last_seq = static_cast<uint64_t>(res.Int(i, 5));
      run.first_ms = res.Int(i, 6);
      run.last_ms = res.Int(i, 7);
      run.count = res.Int(i, 8);
      run.min_us = res.Int(i, 9);
      run.sum_us = res.Int(i, 10);
      run.max_us = res.Int(i, 11);
      current[res.Int(i, 0)] = run;
    }
  }
  std::vector<std::pair<int64_t, RunState>> done;  // runs a change ended, in order
  for (const auto& [target_id, rp] : fresh) {
    const v1::CheckResult& r = *rp;
    if (!r.adhoc_id().empty()) {
      rows->emplace_back(target_id, rp);
      continue;
    }
    auto it = current.find(target_id);
    if (it != current.end() && ContinuesRun(it->second, r, boot_ref)) {
      ExtendRun(&it->second, r);
      continue;
    }
    if (it != current.end()) done.emplace_back(target_id, it->second);
    rows->emplace_back(target_id, rp);
    current[target_id] = StartRun(r, boot_ref);
  }
  for (auto& [target_id, run] : current) done.emplace_back(target_id, run);
  pg::ArrayLiteral u_id, u_last_seq, u_last_ms, u_count, u_min, u_sum, u_max;
  pg::ArrayLiteral i_target, i_outcome, i_first_seq, i_last_seq, i_first_ms, i_last_ms, i_count,
      i_min, i_sum, i_max;
  int updates = 0, inserts = 0;
  for (const auto& [target_id, run] : done) {
    if (!run.dirty) continue;
    if (run.id != 0) {
      u_id.AddInt(run.id);
      u_last_seq.AddInt(static_cast<int64_t>(run.last_seq));
      u_last_ms.AddInt(run.last_ms);
      u_count.AddInt(run.count);
      u_min.AddInt(run.min_us);
      u_sum.AddInt(run.sum_us);
      u_max.AddInt(run.max_us);
      ++updates;
    } else {
      i_target.AddInt(target_id);
      i_outcome.AddInt(run.outcome);
      i_first_seq.AddInt(static_cast<int64_t>(run.first_seq));
      i_last_seq.AddInt(static_cast<int64_t>(run.last_seq));
      i_first_ms.AddInt(run.first_ms);
      i_last_ms.AddInt(run.last_ms);
      i_count.AddInt(run.count);
      i_min.AddInt(run.min_us);
      i_sum.AddInt(run.sum_us);
      i_max.AddInt(run.max_us);
      ++inserts;
    }
  }
  if (updates > 0) {
    Status s = conn_.Run("update_runs", {Param::Text(u_id.Take()), Param::Text(u_last_seq.Take()),
                                         Param::Text(u_last_ms.Take()), Param::Text(u_count.Take()),
                                         Param::Text(u_min.Take()), Param::Text(u_sum.Take()),
                                         Param::Text(u_max.Take())});
    if (!s.ok()) return s;
  }
  if (inserts > 0) {
    // In order: a pair's later run gets the higher id (its current run).
    Status s =
        conn_.Run("insert_runs", {Param::Int(probe_id), Param::Int(boot_ref),
                                  Param::Text(i_target.Take()), Param::Text(i_outcome.Take()),
                                  Param::Text(i_first_seq.Take()), Param::Text(i_last_seq.Take()),
                                  Param::Text(i_first_ms.Take()), Param::Text(i_last_ms.Take()),
                                  Param::Text(i_count.Take()), Param::Text(i_min.Take()),
                                  Param::Text(i_sum.Take()), Param::Text(i_max.Take())});
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status PgWriter::ApplyProbe(const ProbeRecord& p, int64_t now_ms) {
  const int64_t first = p.first_seen_ms != 0 ? p.first_seen_ms : now_ms;
  const int64_t last = p.last_seen_ms != 0 ? p.last_seen_ms : first;
  return conn_.Run(
      "upsert_probe",
      {Param::Text(pg::ToPgText(p.name)), Param::Text(pg::ToPgText(LabelsToJson(p.labels))),
       Param::Text(pg::ToPgText(p.version)), Param::Int(first), Param::Int(last)});
}

Status PgWriter::ApplyTargets(const std::vector<TargetRecord>& targets, int64_t now_ms) {
  for (const TargetRecord& t : targets) {
    Status s = conn_.Run(
        "upsert_target",
        {Param::Text(pg::ToPgText(t.name)), Param::Text(pg::ToPgText(t.host)), Param::Int(t.port),
         Param::Text(pg::ToPgText(LabelsToJson(t.labels))), Param::Int(now_ms)});
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status PgWriter::ProbeId(const std::string& name, int64_t now_ms, int64_t* id) {
  if (auto it = probe_ids_.find(name); it != probe_ids_.end()) {
    *id = it->second;
    return Status::Ok();
  }
  pg::Result r;
  Status s = conn_.Run("probe_id", {Param::Text(pg::ToPgText(name)), Param::Int(now_ms)}, &r);
  if (!s.ok()) return s;
  *id = probe_ids_[name] = r.Int(0, 0);
  return Status::Ok();
}

Status PgWriter::TargetId(const std::string& name, int64_t now_ms, int64_t* id) {
  if (auto it = target_ids_.find(name); it != target_ids_.end()) {
    *id = it->second;
    return Status::Ok();
  }
  pg::Result r;
  Status s = conn_.Run("target_id", {Param::Text(pg::ToPgText(name)), Param::Int(now_ms)}, &r);
  if (!s.ok()) return s;
  *id = target_ids_[name] = r.Int(0, 0);
  return Status::Ok();
}

Status PgWriter::Boot(int64_t probe_id, const std::string& boot_id, BootState* out) {
  const auto key = std::make_pair(probe_id, boot_id);
  if (auto it = pending_boots_.find(key); it != pending_boots_.end()) {
    *out = it->second;
    return Status::Ok();
  }
  // Never cached across transactions: another collector may have written
  // this boot. The row lock holds until COMMIT.
  const std::vector<Param> params = {Param::Int(probe_id), Param::Text(pg::ToPgText(boot_id))};
  Status s = conn_.Run("insert_boot", params);
  if (!s.ok()) return s;
  pg::Result r;
  s = conn_.Run("lock_boot", params, &r);
  if (!s.ok()) return s;
  if (r.Rows() != 1) return Status::Internal("probe boot row vanished");
  *out = BootState{r.Int(0, 0), static_cast<uint64_t>(r.Int(0, 1))};
  return Status::Ok();
}

Status PgWriter::AddIncidentChange(int64_t incident_id, v1::Cause cause, int64_t at_ms,
                                   const std::string& summary) {
  return conn_.Run("insert_change", {Param::Int(incident_id), Param::Int(at_ms), Param::Int(cause),
                                     Param::Text(pg::ToPgText(summary))});
}

Status PgWriter::ApplyIncident(const WriteOp& op, int64_t now_ms) {
  int64_t target_id = 0;
  Status s = TargetId(op.incident_target, now_ms, &target_id);
  if (!s.ok()) return s;
  int64_t open_id = 0;
  {
    pg::Result r;
    s = conn_.Run("open_incident", {Param::Int(target_id)}, &r);
    if (!s.ok()) return s;
    if (r.Rows() > 0) open_id = r.Int(0, 0);
  }
  using Action = WriteOp::IncidentAction;
  if (open_id != 0 &&
      (op.incident_action == Action::kClose || op.incident_action == Action::kOpen)) {
    s = AddIncidentChange(open_id, v1::CAUSE_OK, op.at_ms, op.summary);
    if (!s.ok()) return s;
    s = conn_.Run("close_incident", {Param::Int(open_id), Param::Int(op.at_ms)});
    if (!s.ok()) return s;
    open_id = 0;
  }
  if (op.incident_action == Action::kClose) return Status::Ok();
  if (open_id == 0) {
    pg::Result r;
    s = conn_.Run("insert_incident",
                  {Param::Int(target_id), Param::Int(op.cause), Param::Int(op.at_ms),
                   Param::Text(pg::ToPgText(op.summary))},
                  &r);
    if (!s.ok()) return s;
    return AddIncidentChange(r.Int(0, 0), op.cause, op.at_ms, op.summary);
  }
  s = conn_.Run("update_incident",
                {Param::Int(open_id), Param::Int(op.cause), Param::Text(pg::ToPgText(op.summary))});
  if (!s.ok()) return s;
  return AddIncidentChange(open_id, op.cause, op.at_ms, op.summary);
}

}  // namespace parallax::collector
