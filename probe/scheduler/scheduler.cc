#include "probe/scheduler/scheduler.h"

#include <algorithm>
#include <array>
#include <deque>
#include <unordered_map>
#include <unordered_set>

#include "common/log.h"
#include "common/version.h"
#include "probe/checks/outcome_mapping.h"
#include "probe/scheduler/check_run.h"
#include "probe/scheduler/schedule_queue.h"

namespace parallax::probe {
namespace {

using Clock = ScheduleQueue::Clock;
using std::chrono::milliseconds;

constexpr char kDefaultIdentification[] = "SSH-2.0-parallax_probe_" PARALLAX_VERSION;

// RFC 4253: "SSH-2.0-softwareversion", printable US-ASCII, no CR/LF, <= 253
// bytes before the CR LF we append.
bool ValidIdentification(const std::string& id) {
  if (id.rfind("SSH-2.0-", 0) != 0 || id.size() > 253 || id.size() == 8) return false;
  for (char c : id) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

uint64_t Micros(Clock::duration d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return us < 0 ? 0 : static_cast<uint64_t>(us);
}

}  // namespace

class Scheduler::Impl {
 public:
  Impl(boost::asio::io_context& io, SchedulerOptions options, Sink sink, SchedulerSeams seams)
      : io_(io), options_(std::move(options)), sink_(std::move(sink)) {
    run_memory_.address_policy = options_.address_policy;
    if (options_.async_dns) {
      DnsResolverOptions dns;
      dns.servers = options_.dns_servers;
      Status st = DnsResolver::Create(io_, dns, &run_memory_.resolver);
      if (!st.ok()) {
        Logf(LogLevel::kError, "DNS resolver: %s; resolving with getaddrinfo instead",
             st.message().c_str());
      }
    }
    if (seams.clock != nullptr) {
      clock_ = seams.clock;
    } else {
      own_clock_ = std::make_unique<SteadyClock>(io_);
      clock_ = own_clock_.get();
    }
    run_check_ = std::move(seams.run_check);
    if (!run_check_) {
      default_run_ = true;
      run_check_ = [this](const v1::Target& target, SchedulerSeams::Done done) {
        return RunDefault(std::make_shared<const v1::Target>(target), std::move(done));
      };
    }
    if (options_.max_in_flight == 0) options_.max_in_flight = 1;
    icmp_budget_.max = options_.max_icmp_in_flight;
    if (!ValidIdentification(options_.identification)) {
      if (!options_.identification.empty()) {
        Logf(LogLevel::kWarning,
             "scheduler: identification \"%s\" is not \"SSH-2.0-<software>\" "
             "in printable ASCII (at most 253 bytes); using \"%s\"",
             options_.identification.c_str(), kDefaultIdentification);
      }
      options_.identification = kDefaultIdentification;
    }
  }

  ~Impl() {
    Stop();
    if (icmp_budget_.receiver) icmp_budget_.receiver->Close();
  }

  void SetAssignment(const v1::Assignment& assignment);
  void RunAdHoc(const v1::Target& target, const std::string& id);
  void Stop();
  SchedulerStats stats() const;

 private:
  struct TargetState {
    // Shared with the runs in flight (a check no longer copies its target);
    // replaced, never modified, when the assignment changes it.
    std::shared_ptr<const v1::Target> target;
    Clock::time_point origin;  // the target's phase: runs are due at origin + k*interval
  };

  void Add(const v1::Target& target, Clock::time_point now);
  void OnTimer();
  void StartWaiting();
  void StartRun(uint64_t key, TargetState& state, Clock::time_point due);
  void OnRunDone(uint64_t run_id, uint64_t key, Clock::time_point due, v1::CheckResult&& r);
  void Arm();
  void Pause(const v1::CheckResult& r);
  // The real check (a CheckRun) of `target`; returns what cancels it.
  std::function<void()> RunDefault(std::shared_ptr<const v1::Target> target,
                                   SchedulerSeams::Done done) {
    if (!icmp_budget_.receiver && options_.shared_icmp) {
      icmp_budget_.receiver = IcmpReceiver::Open(io_);
    }
    auto run = CheckRun::Create(io_, std::move(target), options_.identification, &icmp_budget_,
                                &run_memory_);
    run->Start(std::move(done));
    return [run] { run->Cancel(); };
  }

  boost::asio::io_context& io_;
  SchedulerOptions options_;
  Sink sink_;
  std::unique_ptr<SchedulerClock> own_clock_;
  SchedulerClock* clock_ = nullptr;
  std::function<std::function<void()>(const v1::Target&, SchedulerSeams::Done)> run_check_;
  bool default_run_ = false;  // no seam: StartRun shares the target with RunDefault
  // New checks pause while the probe is out of descriptors/buffers (the one
  // timer wakes the scheduler when the pause ends).
  Clock::time_point paused_until_{};
  bool armed_ = false;
  Clock::time_point armed_due_;
  ScheduleQueue queue_;
  IcmpBudget icmp_budget_;
  RunMemory run_memory_;                      // second opinions per target (check_run.h)
  std::deque<ScheduleQueue::Entry> waiting_;  // due, held back by max_in_flight
  std::unordered_map<uint64_t, TargetState> targets_;
  std::unordered_map<std::string, uint64_t> keys_;               // target name -> key
  std::unordered_map<uint64_t, std::function<void()>> running_;  // run id -> cancel
  uint64_t next_key_ = 1;
  uint64_t next_run_id_ = 1;
  uint64_t generation_ = 0;
  bool stopped_ = false;
  SchedulerStats stats_;
  // Lateness history: the most a check started late in the current bucket
  // (started at late_bucket_start_) and in the one before it.
  static constexpr Clock::duration kLateBucket = std::chrono::seconds(5);
  static constexpr Clock::duration kLateWarning = std::chrono::seconds(1);
  std::array<uint64_t, 2> late_bucket_us_ = {0, 0};
  Clock::time_point late_bucket_start_{};
  Clock::time_point next_late_log_{};
  // The buckets as of `now`: shifted by one (or both emptied) once the
  // current one is kLateBucket (2 x kLateBucket) old.
  std::array<uint64_t, 2> LateBucketsAt(Clock::time_point now) const;
  void NoteLate(Clock::time_point now, uint64_t late_us);
  // Handlers hold a weak reference: after ~Impl they do nothing.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

void Scheduler::Impl::SetAssignment(const v1::Assignment& assignment) {
  if (stopped_) return;
  generation_ = assignment.generation();
  stats_.generation = generation_;
  Clock::time_point now = clock_->Now();
  std::unordered_set<std::string> names;
  for (const v1::Target& t : assignment.targets()) {
    Status st = ValidateTarget(t);
    if (st.ok() && !names.insert(t.name()).second) {
      st = Status::InvalidArgument("target name \"" + t.name() + "\" appears more than once");
    }
    if (!st.ok()) {
      ++stats_.targets_rejected;
      Logf(LogLevel::kWarning, "assignment %llu: skipping a target: %s",
           static_cast<unsigned long long>(generation_), st.message().c_str());
      continue;
    }
    auto it = keys_.find(t.name());
    if (it != keys_.end()) {
      TargetState& old = targets_.at(it->second);
      if (old.target->host() == t.host() && old.target->port() == t.port() &&
          old.target->interval_ms() == t.interval_ms()) {
        old.target = std::make_shared<const v1::Target>(
            t);  // unchanged schedule: keep the phase, take new timeout/ports/labels
        continue;
      }
      targets_.erase(it->second);  // its queued entry is skipped; a run in flight finishes
      keys_.erase(it);
    }
    Add(t, now);
  }
  for (auto it = keys_.begin(); it != keys_.end();) {
    if (names.count(it->first) == 0) {
      targets_.erase(it->second);
      it = keys_.erase(it);
    } else {
      ++it;
    }
  }
  Arm();
}

void Scheduler::Impl::RunAdHoc(const v1::Target& target, const std::string& id) {
  if (stopped_) return;
  if (Status st = ValidateTarget(target); !st.ok()) {
    v1::CheckResult r;
    r.set_target(target.name());
    r.set_outcome(v1::OUTCOME_PROBE_ERROR);
    r.set_started_unix_ms(std::chrono::duration_cast<milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count());
    r.set_detail("ad-hoc check not run: " + st.message());
    r.set_adhoc_id(id);
    sink_(std::move(r));
    return;
  }
  uint64_t run_id = next_run_id_++;
  running_.emplace(run_id, nullptr);
  ++stats_.checks_started;
  stats_.in_flight = static_cast<uint32_t>(running_.size());
  std::string name = target.name();
  std::function<void()> cancel = run_check_(
      target, [this, alive = std::weak_ptr<int>(alive_), run_id, name, id](v1::CheckResult&& r) {
        if (alive.expired()) return;
        r.set_target(name);
        r.set_generation(0);
        r.set_late_us(0);
        r.set_adhoc_id(id);
        // Key 0 is no target's: the result is reported, nothing is rescheduled.
        OnRunDone(run_id, 0, clock_->Now(), std::move(r));
      });
  auto it = running_.find(run_id);
  if (it != running_.end()) it->second = std::move(cancel);
}

void Scheduler::Impl::Add(const v1::Target& target, Clock::time_point now) {
  uint64_t key = next_key_++;
  milliseconds interval(target.interval_ms());
  Clock::time_point origin = now + JitterOffset(options_.probe_name, target.name(), interval);
  targets_.emplace(key, TargetState{std::make_shared<const v1::Target>(target), origin});
  keys_[target.name()] = key;
  queue_.Push(origin, key);
}

void Scheduler::Impl::Stop() {
  if (stopped_) return;
  stopped_ = true;
  clock_->Cancel();
  armed_ = false;
  queue_.Clear();
  waiting_.clear();
  targets_.clear();
  keys_.clear();
  // Their results are dropped (a deadline caused by shutdown is no observation).
  auto running = running_;
  for (auto& [id, cancel] : running) {
    if (cancel) cancel();
  }
}

SchedulerStats Scheduler::Impl::stats() const {
  SchedulerStats s = stats_;
  Clock::time_point now = clock_->Now();
  s.waiting = static_cast<uint32_t>(waiting_.size());
  s.targets = targets_.size();
  s.paused = now < paused_until_;
  std::array<uint64_t, 2> buckets = LateBucketsAt(now);
  s.recent_late_us = std::max(buckets[0], buckets[1]);
  if (!waiting_.empty() && now > waiting_.front().due) {
    s.recent_late_us = std::max(s.recent_late_us, Micros(now - waiting_.front().due));
  }
  return s;
}

std::array<uint64_t, 2> Scheduler::Impl::LateBucketsAt(Clock::time_point now) const {
  Clock::duration age = now - late_bucket_start_;
  if (age < kLateBucket) return late_bucket_us_;
  if (age < 2 * kLateBucket) return {0, late_bucket_us_[0]};
  return {0, 0};
}

void Scheduler::Impl::NoteLate(Clock::time_point now, uint64_t late_us) {
  if (now - late_bucket_start_ >= kLateBucket) {
    late_bucket_us_ = LateBucketsAt(now);
    late_bucket_start_ = now;
  }
  late_bucket_us_[0] = std::max(late_bucket_us_[0], late_us);
  if (late_us < static_cast<uint64_t>(Micros(kLateWarning))) return;
  ++stats_.late_starts;
  if (now < next_late_log_) return;
  next_late_log_ = now + std::chrono::minutes(1);
  Logf(LogLevel::kWarning,
       "probe overloaded: a check started %llu ms after its time (in flight %u of --max-in-flight "
       "%zu, %zu due and waiting, %zu targets): more checks are due than this probe runs; its "
       "results stay true but arrive late and fewer. Give it more CPU, raise --max-in-flight "
       "(and LimitNOFILE), or assign it fewer targets or longer intervals",
       static_cast<unsigned long long>(late_us / 1000), stats_.in_flight, options_.max_in_flight,
       waiting_.size(), targets_.size());
}

void Scheduler::Impl::Arm() {
  bool pause_wait = !waiting_.empty() && clock_->Now() < paused_until_;
  if (stopped_ || (queue_.empty() && !pause_wait)) {
    if (armed_) clock_->Cancel();
    armed_ = false;
    return;
  }
  Clock::time_point due = queue_.empty() ? paused_until_ : queue_.top().due;
  if (pause_wait) due = std::min(due, paused_until_);
  if (armed_ && armed_due_ == due) return;
  armed_ = true;
  armed_due_ = due;
  clock_->WaitUntil(due, [this, alive = std::weak_ptr<int>(alive_)] {  // replaces a previous wait
    if (alive.expired()) return;
    armed_ = false;
    OnTimer();
  });
}

void Scheduler::Impl::OnTimer() {
  if (stopped_) return;
  Clock::time_point now = clock_->Now();
  while (!queue_.empty() && queue_.top().due <= now) {
    ScheduleQueue::Entry e = queue_.Pop();
    if (targets_.count(e.key) != 0) waiting_.push_back(e);
  }
  StartWaiting();
  Arm();
}

void Scheduler::Impl::StartWaiting() {
  if (clock_->Now() < paused_until_) return;  // Arm() wakes us when the pause ends
  while (!stopped_ && running_.size() < options_.max_in_flight && !waiting_.empty()) {
    ScheduleQueue::Entry e = waiting_.front();
    waiting_.pop_front();
    auto it = targets_.find(e.key);
    if (it == targets_.end()) continue;  // removed while waiting
    StartRun(e.key, it->second, e.due);
  }
}

void Scheduler::Impl::StartRun(uint64_t key, TargetState& state, Clock::time_point due) {
  Clock::time_point now = clock_->Now();
  uint64_t late_us = now > due ? Micros(now - due) : 0;
  if (late_us > stats_.max_late_us) stats_.max_late_us = late_us;
  uint64_t run_id = next_run_id_++;
  running_.emplace(run_id, nullptr);
  ++stats_.checks_started;
  stats_.in_flight = static_cast<uint32_t>(running_.size());
  NoteLate(now, late_us);
  uint64_t generation = generation_;
  std::string name = state.target->name();
  SchedulerSeams::Done done = [this, alive = std::weak_ptr<int>(alive_), run_id, key, due, late_us,
                               generation, name](v1::CheckResult&& r) {
    if (alive.expired()) return;
    r.set_target(name);
    r.set_generation(generation);
    r.set_late_us(static_cast<uint32_t>(std::min<uint64_t>(late_us, UINT32_MAX)));
    OnRunDone(run_id, key, due, std::move(r));
  };
  std::function<void()> cancel = default_run_ ? RunDefault(state.target, std::move(done))
                                              : run_check_(*state.target, std::move(done));
  auto it = running_.find(run_id);  // gone if `done` already ran
  if (it != running_.end()) it->second = std::move(cancel);
}

void Scheduler::Impl::OnRunDone(uint64_t run_id, uint64_t key, Clock::time_point due,
                                v1::CheckResult&& r) {
  running_.erase(run_id);
  ++stats_.checks_done;
  stats_.in_flight = static_cast<uint32_t>(running_.size());
  if (stopped_) return;
  if (r.outcome() == v1::OUTCOME_PROBE_ERROR) {
    ++stats_.probe_errors;
    if (IsResourceExhaustion(r.error_number())) Pause(r);
  }
  sink_(std::move(r));
  if (stopped_) return;  // the sink may Stop()
  auto it = targets_.find(key);
  if (it != targets_.end()) {
    // Next slot of the target's phase after now: one run at a time per target;
    // slots missed while it ran (or waited) are skipped, not run in a burst.
    milliseconds interval(it->second.target->interval_ms());
    Clock::time_point next = NextSlot(it->second.origin, interval, clock_->Now());
    auto missed = (next - due) / std::chrono::duration_cast<Clock::duration>(interval) - 1;
    if (missed > 0) stats_.runs_skipped += static_cast<uint64_t>(missed);
    queue_.Push(next, key);
  }
  StartWaiting();
  Arm();
}

void Scheduler::Impl::Pause(const v1::CheckResult& r) {
  Clock::time_point now = clock_->Now();
  if (now < paused_until_) return;  // already paused
  paused_until_ = now + options_.resource_pause;
  ++stats_.pauses;
  Logf(LogLevel::kWarning,
       "probe out of a local resource (%s, errno %d, %u checks in flight): pausing new checks "
       "for %lld ms; lower --max-in-flight or raise the descriptor limit (LimitNOFILE)",
       r.detail().c_str(), r.error_number(), stats_.in_flight,
       static_cast<long long>(
           std::chrono::duration_cast<milliseconds>(options_.resource_pause).count()));
}

Scheduler::Scheduler(boost::asio::io_context& io, SchedulerOptions options, Sink sink,
                     SchedulerSeams seams)
    : impl_(std::make_unique<Impl>(io, std::move(options), std::move(sink), std::move(seams))) {}

Scheduler::~Scheduler() = default;

void Scheduler::SetAssignment(const v1::Assignment& assignment) {
  impl_->SetAssignment(assignment);
}

void Scheduler::RunAdHoc(const v1::Target& target, const std::string& id) {
  impl_->RunAdHoc(target, id);
}

void Scheduler::Stop() { impl_->Stop(); }

SchedulerStats Scheduler::stats() const { return impl_->stats(); }

}  // namespace parallax::probe
