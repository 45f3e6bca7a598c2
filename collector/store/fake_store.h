// FakeStore: an in-memory Store for fast unit tests, with the same contract as
// the SQLite one (store.h): results deduplicated by (probe, boot_id, seq),
// CommittedSeq from memory, `done` only after the "commit", incidents with at
// most one open per target, newest-first listings, results ordered and
// filtered by their time on the collector's clock.
//
// Commits are under the test's control: submitted writes wait until
// CommitPending() (or Flush()) applies them, in submission order, on the
// calling thread, which plays the writer thread. FailNextCommits() makes
// the next result submissions fail (nothing of them is stored; `done` sees
// the error).
//
// Thread-safe: every method may be called from any thread; callbacks run
// without the internal lock held.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "collector/store/store.h"

namespace parallax::collector {

class FakeStore : public Store {
 public:
  FakeStore() = default;

  void SubmitResults(const std::string& probe, const std::string& boot_id,
                     std::vector<v1::CheckResult> results, CommitCallback done) override;
  void RecordProbe(const ProbeRecord& probe) override;
  void SyncTargets(const std::vector<TargetRecord>& targets) override;
  void Flush() override { CommitPending(); }
  uint64_t CommittedSeq(const std::string& probe, const std::string& boot_id) const override;
  Status LatestResults(std::vector<ResultRow>* out) override;
  Status History(const std::string& target, const std::string& probe, int64_t since_ms,
                 size_t limit, std::vector<ResultRow>* out) override;
  Status ListProbes(std::vector<ProbeRecord>* out) override;
  void OpenIncident(const std::string& target, v1::Cause cause, int64_t at_ms,
                    const std::string& summary) override;
  void ChangeIncident(const std::string& target, v1::Cause cause, int64_t at_ms,
                      const std::string& summary) override;
  void CloseIncident(const std::string& target, int64_t at_ms, const std::string& summary) override;
  Status ListIncidents(const std::string& target, bool open_only, size_t limit,
                       std::vector<IncidentRecord>* out) override;

  // Applies every queued write; returns how many submissions it applied.
  // Applies queued operations in order until the queue is empty, or after
  // `max` of them (operations queued by the callbacks meanwhile count too,
  // unless `max` stops first). Returns how many it applied.
  size_t CommitPending(size_t max = SIZE_MAX);
  size_t pending() const;
  // The next `n` result submissions fail with `status`.
  void FailNextCommits(int n, Status status);
  // Every stored result, in commit order.
  std::vector<ResultRow> AllResults() const;

 private:
  enum class IncidentAction { kOpen, kChange, kClose };
  void ApplyIncidentLocked(IncidentAction action, const std::string& target, v1::Cause cause,
                           int64_t at_ms, const std::string& summary);

  mutable std::mutex mu_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_; run without it
  int fail_next_ = 0;
  Status fail_status_;
  std::map<std::pair<std::string, std::string>, uint64_t> committed_;  // (probe, boot) -> seq
  std::vector<ResultRow> results_;
  std::map<std::string, ProbeRecord> probes_;
  std::map<std::string, TargetRecord> targets_;
  std::vector<IncidentRecord> incidents_;  // id = index + 1
};

}  // namespace parallax::collector
