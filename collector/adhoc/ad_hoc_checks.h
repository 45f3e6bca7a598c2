// AdHocChecks: `parallax check HOST[:PORT]` on the collector's side. One
// check of any host (configured or not) fanned out to the connected probes,
// their results collected as they arrive, then one verdict from the same
// diagnosis engine the configured targets get (collector/diagnosis), worded
// as `parallax explain` words it. Used by the query service's Check RPC and
// meant for any other front end (a web page's "check now" box) alike:
//
//   AdHocChecks::Started started;
//   AdHocRefusal why = checks.Start({"web1.example.com", 22, 5s, "network=isp-a",
//                                    caller}, {on_result, on_done}, &started, &message);
//   // on_result(probe result) runs once per answering probe, as it arrives;
//   // on_done(verdict, unanswered probes) runs exactly once, when every
//   // probe asked answered or at timeout + slack, unless Cancel(id) came first.
//
// Fan-out: every probe connected now (StreamHub) that the selector picks; with
// no selector, every connected probe the last evaluation did not find
// unhealthy. Each gets a v1::AdHocCheck over its existing stream (older probes
// ignore it and are named as not answering): the target is the host and port
// asked, with the collector's target defaults (liveness_ports, alt_ports,
// closed_port, path tracing; the path budget is cut to half the timeout so
// the result still arrives in time), named HOST (HOST:PORT when the port is
// not 22): the name its stored results have in `parallax history`.
//
// Results come back in the probes' normal result streams (their own seq,
// stored and acknowledged like any, CheckResult.adhoc_id = the check's id);
// ingest asks Expects() before it accepts one (only a probe that was asked,
// for that target, within `remember` of the check: a probe cannot plant
// results of checks nobody asked for) and hands the stored ones to OnResult.
// They never enter LiveState, so they count in no metric, verdict or incident
// of configured targets.
//
// Diagnosis: the engine's DiagnoseTarget over the answers, against the fleet
// context of the last evaluation (probe health, blocked networks, which
// probes reach other targets: what tells source_block or isp_block), its time
// moved to now; a probe the evaluation did not know yet is added healthy.
// Before the first evaluation, a context of the answering probes alone.
//
// Guard rails: host and port validated (the message names the field and the
// value), timeout within 100ms..check.max_timeout, at most
// check.max_concurrent checks at once (all callers), and a token bucket of
// check.per_caller_per_minute per caller (the caller's identity string).
//
// Time: now_ms() (the collector's wall clock) decides; deadlines are checked
// by ExpireDue(), which a thread of this class calls every 50 ms (or a test,
// with options.timer_thread false and a simulated clock).
//
// Thread-safety: every method may be called from any thread. Callbacks run
// on the thread that completed the step (the store's writer thread for a
// result, the timer thread at a deadline), outside the internal lock; they
// must be quick and must not call Start() synchronously.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "collector/diagnosis/fleet.h"
#include "collector/ingest/assignment.h"
#include "collector/ingest/stream_hub.h"
#include "common/status.h"
#include "parallax/v1/probe.pb.h"
#include "parallax/v1/query.pb.h"

namespace parallax::collector {

// Which probes a check goes to: comma-separated terms, each a probe name or a
// label `key=value`. A probe matches when it has every label term and, if any
// names are given, is one of them. "" matches every probe.
struct ProbeSelector {
  std::vector<std::string> names;
  std::map<std::string, std::string> labels;
  bool empty() const { return names.empty() && labels.empty(); }
  bool Matches(const std::string& probe, const std::map<std::string, std::string>& labels) const;
};
// The error names the term: `--probes: "a b" is neither a probe name nor key=value`.
Status ParseProbeSelector(const std::string& text, ProbeSelector* out);

// A host an ad-hoc check may be sent to: a DNS name (letters, digits, '.',
// '-', '_'; 1..253 characters, not starting with '-') or an IP address
// literal (v4 or v6, no brackets). The error names the field and the value.
Status ValidateCheckHost(const std::string& host);
// The target name an ad-hoc check of host:port is stored under.
std::string AdHocTargetName(const std::string& host, uint32_t port);

struct AdHocRequest {
  std::string host;
  uint32_t port = 22;                    // 0: 22
  std::chrono::milliseconds timeout{0};  // 0: the config's `timeout`
  std::string probes;                    // the selector text
  std::string caller;                    // identity for the rate limit
};

// Why Start() refused (kNone: it started).
enum class AdHocRefusal { kNone, kInvalidArgument, kRateLimited, kTooMany, kNoProbes };

struct AdHocStarted {
  std::string id;
  std::string target;  // the stored target name (AdHocTargetName)
  std::string host;
  uint32_t port = 22;
  std::chrono::milliseconds timeout{0};
  std::vector<std::string> probes;  // asked, sorted
  // Known probes (the last evaluation's) the selector picks that were not
  // asked: disconnected, or unhealthy without a selector; healthy = false
  // and the reason in words.
  std::vector<v1::ProbeHealth> not_asked;
};

struct AdHocProbeResult {
  std::string probe;
  std::map<std::string, std::string> labels;
  v1::CheckResult result;  // as stored (collector times stamped)
  int64_t elapsed_ms = 0;  // since the check started, collector's clock
};

struct AdHocDone {
  v1::Verdict verdict;
  std::vector<std::string> unanswered;  // asked, no result in time; sorted
  std::vector<v1::ProbeHealth> probes;  // the probe health the verdict used
  int64_t elapsed_ms = 0;
};

struct AdHocCallbacks {
  std::function<void(const AdHocProbeResult&)> on_result;
  std::function<void(const AdHocDone&)> on_done;
};

// The events as the query API carries them (v1::CheckEvent's parts), for
// every front end alike (the Check RPC, the status page's "check now" box).
v1::CheckStarted CheckStartedOf(const AdHocStarted& s);
v1::CheckProbeResult CheckProbeResultOf(const AdHocProbeResult& r);
v1::CheckDone CheckDoneOf(const AdHocDone& d);

struct AdHocDeps {
  StreamHub* hub = nullptr;
  std::function<ConfigSnapshot()> config;
  std::function<int64_t()> now_ms;  // the collector's wall clock
  // The last evaluation's fleet context; empty or null: none yet.
  std::function<std::shared_ptr<const diagnosis::FleetContext>()> fleet;
};

struct AdHocOptions {
  // Waited for after the timeout before the verdict (a probe's result needs
  // its post-deadline work, batch linger and commit to arrive: ~0.3 s on
  // loopback). 0.7 s keeps the verdict within timeout + 1 s of the command's
  // start, the CLI's own start and connection included.
  std::chrono::milliseconds slack{700};
  // How long after a check ended its late results are still accepted (stored
  // for history, not delivered).
  std::chrono::milliseconds remember = std::chrono::minutes(10);
  bool timer_thread = true;  // false: the owner calls ExpireDue()
};

class AdHocChecks {
 public:
  explicit AdHocChecks(AdHocDeps deps, AdHocOptions options = {});
  ~AdHocChecks();  // stops the timer; checks still running end without on_done
  AdHocChecks(const AdHocChecks&) = delete;
  AdHocChecks& operator=(const AdHocChecks&) = delete;

  // Validates and starts a check; kNone and *started filled, or the refusal
  // and *message (naming the field and value, or the limit).
  AdHocRefusal Start(const AdHocRequest& request, AdHocCallbacks callbacks, AdHocStarted* started,
                     std::string* message);
  // The caller went away: no more callbacks for `id` (results are still
  // stored when they come).
  void Cancel(const std::string& id);

  // Ingest: whether `probe` was asked check `id` of `target` (running, or
  // ended less than `remember` ago).
  bool Expects(const std::string& probe, const std::string& id, const std::string& target) const;
  // Ingest, after commit: a stored ad-hoc result of `probe`.
  void OnResult(const std::string& probe, const v1::CheckResult& result);

  // Ends the checks whose deadline (start + timeout + slack) passed.
  void ExpireDue();
  size_t running() const;

 private:
  struct Pending;
  // Ends `p` (once; later calls do nothing): the verdict, then on_done.
  // `order_held`: the caller holds p->callback_mu.
  void Finish(std::shared_ptr<Pending> p, int64_t now, bool order_held);
  void TimerLoop();

  AdHocDeps deps_;
  AdHocOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  uint64_t next_id_ = 1;
  std::string id_prefix_;
  std::map<std::string, std::shared_ptr<Pending>> running_;  // by id
  std::map<std::string, std::shared_ptr<Pending>> ended_;    // by id, until forget_ms
  struct Bucket {
    double tokens = 0;
    int64_t last_ms = 0;
  };
  std::map<std::string, Bucket> buckets_;  // by caller
  std::thread timer_;
};

}  // namespace parallax::collector
