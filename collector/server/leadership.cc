#include "collector/server/leadership.h"

#include <algorithm>
#include <limits>

#include "common/escape.h"
#include "common/log.h"

namespace parallax::collector {

Leadership::Leadership(std::unique_ptr<PgCoordinator> coordinator, LiveState* state,
                       Metrics* metrics, std::function<int64_t()> now_ms)
    : coordinator_(std::move(coordinator)),
      state_(state),
      metrics_(metrics),
      now_ms_(std::move(now_ms)),
      leader_(coordinator_ == nullptr) {
  if (metrics_ != nullptr) {
    metrics_->SetLeader(leader_.load());
    metrics_->SetExportsState(leader_.load());
  }
}

std::string Leadership::FollowerMessage() const {
  if (coordinator_ == nullptr || leader_.load()) return "";
  std::lock_guard<std::mutex> lock(mu_);
  std::string who = leader_name_.empty() ? "none yet" : leader_name_;
  return "this collector (" + coordinator_->self() +
         ") is a follower: it stores results and answers history, incidents and probes, but "
         "the diagnosis runs on the leader, collector " +
         who + "; ask it (parallax --collector " +
         (leader_name_.empty() ? std::string("LEADER") : leader_name_) + " status)";
}

std::string Leadership::LeaderAddress() const {
  if (coordinator_ == nullptr || leader_.load()) return "";
  std::lock_guard<std::mutex> lock(mu_);
  return leader_name_;
}

bool Leadership::Step(std::chrono::milliseconds period) {
  if (coordinator_ == nullptr) return true;
  const int64_t now = now_ms_();
  const bool lead = coordinator_->TryLead(now);
  if (lead != was_leader_ || !ever_stepped_) {
    Logf(lead ? LogLevel::kWarning : LogLevel::kInfo,
         lead ? "leadership: this collector (%s) is now the leader: it runs the diagnosis"
              : "leadership: this collector (%s) is a follower: it ingests and serves queries",
         coordinator_->self().c_str());
  }
  ever_stepped_ = true;

  // 2. The probes connected here, for the leader (and for the next one).
  std::vector<ProbeSessionRecord> mine;
  state_->VisitProbes([&](const std::string& name, const ProbeState& p) {
    if (!p.connected || !p.via_collector.empty()) return;
    mine.push_back(
        {name, coordinator_->self(), p.labels, p.version, p.boot_id, p.connected_since_ms, now});
  });
  if (Status s = coordinator_->PublishSessions(mine, now); !s.ok()) {
    Logf(LogLevel::kWarning, "leadership: publishing probe sessions: %s", s.ToString().c_str());
  }

  if (lead) {
    PollResults(period, !was_leader_);
    PollSessions(period, now);
  } else {
    if (was_leader_) {
      // Not leading any more: the remote probes are the next leader's business.
      for (const std::string& p : remote_) state_->ProbeGoneElsewhere(p, now);
      remote_.clear();
    }
    std::string who;
    int64_t since = 0, heartbeat = 0;
    if (coordinator_->ReadLeader(&who, &since, &heartbeat).ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      leader_name_ = who;
      leader_heartbeat_ms_ = heartbeat;
    }
  }
  was_leader_ = lead;
  leader_ = lead;
  if (metrics_ != nullptr) {
    metrics_->SetLeader(lead);
    metrics_->SetExportsState(lead);
  }
  return lead;
}

void Leadership::PollResults(std::chrono::milliseconds period, bool first) {
  // Rows become visible in commit order, not ingest_ms order: re-read an
  // overlap (applying what is held already is a no-op).
  const int64_t overlap = std::max<int64_t>(5000, 2 * period.count());
  const int64_t since = first ? std::numeric_limits<int64_t>::min() : watermark_ms_ - overlap;
  std::vector<LatestResultRecord> rows;
  int64_t newest = first ? 0 : watermark_ms_;
  Status s = coordinator_->LatestSince(since, &rows, &newest);
  if (!s.ok()) {
    Logf(LogLevel::kWarning, "leadership: polling latest results: %s", s.ToString().c_str());
    return;
  }
  size_t kept = 0;
  for (const LatestResultRecord& r : rows) {
    if (state_->ApplyPolledResult(r.probe, r.result)) ++kept;
  }
  watermark_ms_ = std::max(watermark_ms_, newest);
  if (first) {
    Logf(LogLevel::kInfo, "leadership: read %zu newest results from the database (%zu newer)",
         rows.size(), kept);
  }
}

void Leadership::PollSessions(std::chrono::milliseconds period, int64_t now) {
  const int64_t stale = std::max<int64_t>(3000, 3 * period.count());
  std::vector<ProbeSessionRecord> sessions;
  Status s = coordinator_->ReadSessions(now - stale, &sessions);
  if (!s.ok()) {
    Logf(LogLevel::kWarning, "leadership: reading probe sessions: %s", s.ToString().c_str());
    return;
  }
  std::set<std::string> now_remote;
  for (const ProbeSessionRecord& p : sessions) {
    if (p.collector == coordinator_->self()) continue;  // ours: the streams know better
    state_->ProbeConnectedElsewhere(p.probe, p.collector, p.labels, p.version, p.boot_id,
                                    p.connected_since_ms, p.updated_ms);
    now_remote.insert(p.probe);
  }
  for (const std::string& p : remote_) {
    if (now_remote.count(p) == 0) {
      state_->ProbeGoneElsewhere(p, now);
      Logf(LogLevel::kInfo, "probe %s is no longer connected to another collector",
           EscapeForTerminal(p).c_str());
    }
  }
  remote_ = std::move(now_remote);
}

}  // namespace parallax::collector
