#include "collector/store/fake_store.h"

#include <algorithm>

namespace parallax::collector {
namespace {

int64_t TimeOnCollectorClock(const v1::CheckResult& r) {
  return r.collector_started_unix_ms() != 0 ? r.collector_started_unix_ms() : r.started_unix_ms();
}

}  // namespace

void FakeStore::SubmitResults(const std::string& probe, const std::string& boot_id,
                              std::vector<v1::CheckResult> results, CommitCallback done) {
  auto op = [this, probe, boot_id, results = std::move(results), done = std::move(done)]() mutable {
    std::stable_sort(
        results.begin(), results.end(),
        [](const v1::CheckResult& a, const v1::CheckResult& b) { return a.seq() < b.seq(); });
    CommitInfo info;
    {
      std::lock_guard<std::mutex> lock(mu_);
      uint64_t& max_seq = committed_[{probe, boot_id}];
      if (fail_next_ > 0) {
        --fail_next_;
        info.status = fail_status_;
        info.committed_seq = max_seq;
      } else {
        for (const v1::CheckResult& r : results) {
          if (r.seq() <= max_seq) {
            ++info.duplicates;
            continue;
          }
          results_.push_back({probe, r.target(), boot_id, r});
          max_seq = r.seq();
          ++info.stored;
        }
        info.committed_seq = max_seq;
        ProbeRecord& p = probes_[probe];
        if (p.name.empty()) p.name = probe;
        info.results = &results;
      }
    }
    if (done) done(info);
  };
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(std::move(op));
}

void FakeStore::RecordProbe(const ProbeRecord& probe) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back([this, probe] {
    std::lock_guard<std::mutex> l(mu_);
    ProbeRecord& p = probes_[probe.name];
    const bool known = !p.name.empty() && p.first_seen_ms != 0;
    int64_t first = known ? std::min(p.first_seen_ms, probe.first_seen_ms) : probe.first_seen_ms;
    int64_t last = std::max(p.last_seen_ms, probe.last_seen_ms);
    p = probe;
    p.first_seen_ms = first;
    p.last_seen_ms = last;
  });
}

void FakeStore::SyncTargets(const std::vector<TargetRecord>& targets) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back([this, targets] {
    std::lock_guard<std::mutex> l(mu_);
    for (const TargetRecord& t : targets) targets_[t.name] = t;
  });
}

uint64_t FakeStore::CommittedSeq(const std::string& probe, const std::string& boot_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = committed_.find({probe, boot_id});
  return it == committed_.end() ? 0 : it->second;
}

Status FakeStore::LatestResults(std::vector<ResultRow>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::pair<std::string, std::string>, const ResultRow*> latest;  // (target, probe)
  for (const ResultRow& row : results_) {
    if (!row.result.adhoc_id().empty()) continue;  // ad-hoc checks are history only
    const ResultRow*& held = latest[{row.target, row.probe}];
    if (held == nullptr || TimeOnCollectorClock(row.result) >= TimeOnCollectorClock(held->result)) {
      held = &row;
    }
  }
  out->clear();
  for (const auto& [key, row] : latest) out->push_back(*row);
  return Status::Ok();
}

Status FakeStore::History(const std::string& target, const std::string& probe, int64_t since_ms,
                          size_t limit, std::vector<ResultRow>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  out->clear();
  for (auto it = results_.rbegin(); it != results_.rend(); ++it) {
    if (it->target != target || (!probe.empty() && it->probe != probe)) continue;
    if (TimeOnCollectorClock(it->result) < since_ms) continue;
    out->push_back(*it);
  }
  std::stable_sort(out->begin(), out->end(), [](const ResultRow& a, const ResultRow& b) {
    return TimeOnCollectorClock(a.result) > TimeOnCollectorClock(b.result);
  });
  if (limit != 0 && out->size() > limit) out->resize(limit);
  return Status::Ok();
}

Status FakeStore::ListProbes(std::vector<ProbeRecord>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  out->clear();
  for (const auto& [name, p] : probes_) out->push_back(p);
  return Status::Ok();
}

void FakeStore::OpenIncident(const std::string& target, v1::Cause cause, int64_t at_ms,
                             const std::string& summary) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back([=, this] {
    std::lock_guard<std::mutex> l(mu_);
    ApplyIncidentLocked(IncidentAction::kOpen, target, cause, at_ms, summary);
  });
}

void FakeStore::ChangeIncident(const std::string& target, v1::Cause cause, int64_t at_ms,
                               const std::string& summary) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back([=, this] {
    std::lock_guard<std::mutex> l(mu_);
    ApplyIncidentLocked(IncidentAction::kChange, target, cause, at_ms, summary);
  });
}

void FakeStore::CloseIncident(const std::string& target, int64_t at_ms,
                              const std::string& summary) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back([=, this] {
    std::lock_guard<std::mutex> l(mu_);
    ApplyIncidentLocked(IncidentAction::kClose, target, v1::CAUSE_OK, at_ms, summary);
  });
}

// Mirrors Writer::ApplyIncident: open and close end a still-open incident
// first; change opens one when none is open; close of nothing is a no-op.
void FakeStore::ApplyIncidentLocked(IncidentAction action, const std::string& target,
                                    v1::Cause cause, int64_t at_ms, const std::string& summary) {
  IncidentRecord* open = nullptr;
  for (IncidentRecord& i : incidents_) {
    if (i.target == target && i.closed_ms == 0) open = &i;
  }
  if (open != nullptr && (action == IncidentAction::kClose || action == IncidentAction::kOpen)) {
    open->changes.push_back({at_ms, v1::CAUSE_OK, summary});
    open->closed_ms = at_ms;
    open = nullptr;
  }
  if (action == IncidentAction::kClose) return;
  if (open == nullptr) {
    IncidentRecord rec;
    rec.id = static_cast<int64_t>(incidents_.size()) + 1;
    rec.target = target;
    rec.cause = cause;
    rec.opened_ms = at_ms;
    rec.summary = summary;
    rec.changes.push_back({at_ms, cause, summary});
    incidents_.push_back(std::move(rec));
    return;
  }
  open->cause = cause;
  open->summary = summary;
  open->changes.push_back({at_ms, cause, summary});
}

Status FakeStore::ListIncidents(const std::string& target, bool open_only, size_t limit,
                                std::vector<IncidentRecord>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  out->clear();
  for (const IncidentRecord& i : incidents_) {
    if (!target.empty() && i.target != target) continue;
    if (open_only && i.closed_ms != 0) continue;
    out->push_back(i);
  }
  std::stable_sort(out->begin(), out->end(), [](const IncidentRecord& a, const IncidentRecord& b) {
    return a.opened_ms != b.opened_ms ? a.opened_ms > b.opened_ms : a.id > b.id;
  });
  if (limit != 0 && out->size() > limit) out->resize(limit);
  return Status::Ok();
}

size_t FakeStore::CommitPending(size_t max) {
  size_t n = 0;
  while (n < max) {
    std::function<void()> op;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty()) return n;
      op = std::move(queue_.front());
      queue_.pop_front();
    }
    op();
    ++n;
  }
  return n;
}

size_t FakeStore::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void FakeStore::FailNextCommits(int n, Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_next_ = n;
  fail_status_ = std::move(status);
}

std::vector<ResultRow> FakeStore::AllResults() const {
  std::lock_guard<std::mutex> lock(mu_);
  return results_;
}

}  // namespace parallax::collector
