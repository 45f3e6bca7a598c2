#include "collector/adhoc/ad_hoc_checks.h"

#include <arpa/inet.h>

#include <algorithm>
#include <random>
#include <set>

#include "collector/diagnosis/engine.h"
#include "collector/diagnosis/evidence_proto.h"
#include "common/log.h"

namespace parallax::collector {
namespace {

using std::chrono::milliseconds;

constexpr size_t kMaxCallers = 10000;  // rate-limit buckets kept, at most
constexpr size_t kMaxTerms = 64;

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s.substr(0, 100)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out + (s.size() > 100 ? "...\"" : "\"");
}

bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::string RandomPrefix() {
  std::random_device rd;
  std::uniform_int_distribution<int> hex(0, 15);
  std::string id;
  for (int i = 0; i < 8; ++i) id += "0123456789abcdef"[hex(rd)];
  return id;
}

// The engine's verdict as the query API carries it (like the evaluator's,
// with each row's pre-banner lines, ICMP error and path from the result).
void ToProto(const diagnosis::Verdict& v, const std::string& host, uint32_t port, int64_t start_ms,
             int64_t now_ms,
             const std::map<std::string, std::map<std::string, std::string>>& labels,
             const std::map<std::string, v1::CheckResult>& results, v1::Verdict* out) {
  diagnosis::SetVerdictFields(v, host, port, start_ms, now_ms, out);
  for (const diagnosis::Evidence& e : v.evidence) {
    v1::EvidenceItem* item = out->add_evidence();
    diagnosis::SetWordedEvidence(e, item);
    if (auto l = labels.find(e.probe); l != labels.end()) {
      item->mutable_labels()->insert(l->second.begin(), l->second.end());
    }
    if (auto r = results.find(e.probe); r != results.end()) {
      diagnosis::SetResultEvidence(r->second, item);
      item->set_source_address(r->second.source_address());
    }
  }
}

std::string NetworkOf(const std::string& probe, const std::map<std::string, std::string>& labels) {
  auto it = labels.find("network");
  return it != labels.end() && !it->second.empty() ? it->second : "probe:" + probe;
}

}  // namespace

bool ProbeSelector::Matches(const std::string& probe,
                            const std::map<std::string, std::string>& probe_labels) const {
  for (const auto& [k, v] : labels) {
    auto it = probe_labels.find(k);
    if (it == probe_labels.end() || it->second != v) return false;
  }
  return names.empty() || std::find(names.begin(), names.end(), probe) != names.end();
}

Status ParseProbeSelector(const std::string& text, ProbeSelector* out) {
  ProbeSelector sel;
  size_t start = 0, terms = 0;
  while (start <= text.size() && !Trim(text).empty()) {
    size_t comma = text.find(',', start);
    std::string term =
        Trim(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (++terms > kMaxTerms) {
      return Status::InvalidArgument("probes: more than " + std::to_string(kMaxTerms) + " terms");
    }
    size_t eq = term.find('=');
    if (eq != std::string::npos) {
      std::string k = term.substr(0, eq), v = term.substr(eq + 1);
      bool ok = !k.empty() && k.size() <= 64 && v.size() <= 128 &&
                std::all_of(k.begin(), k.end(), NameChar) &&
                std::all_of(v.begin(), v.end(), [](char c) { return c > 0x20 && c < 0x7f; });
      if (!ok) {
        return Status::InvalidArgument("probes: " + Quote(term) +
                                       " is not a label key=value (key: letters, digits, "
                                       "'.', '_', '-')");
      }
      sel.labels[k] = v;
    } else {
      bool ok =
          !term.empty() && term.size() <= 64 && std::all_of(term.begin(), term.end(), NameChar);
      if (!ok) {
        return Status::InvalidArgument("probes: " + Quote(term) +
                                       " is neither a probe name ([A-Za-z0-9._-], 1..64) nor "
                                       "key=value");
      }
      sel.names.push_back(term);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  *out = std::move(sel);
  return Status::Ok();
}

Status ValidateCheckHost(const std::string& host) {
  if (host.empty() || host.size() > 253) {
    return Status::InvalidArgument("host " + Quote(host) + " must be 1..253 characters");
  }
  if (host.find(':') != std::string::npos) {
    in6_addr a6;
    if (inet_pton(AF_INET6, host.c_str(), &a6) != 1) {
      return Status::InvalidArgument("host " + Quote(host) +
                                     " is not an IPv6 address (give the port with --port or "
                                     "HOST:PORT, IPv6 as [ADDRESS]:PORT)");
    }
    return Status::Ok();
  }
  if (host.front() == '-' || host.front() == '.' ||
      !std::all_of(host.begin(), host.end(), NameChar)) {
    return Status::InvalidArgument("host " + Quote(host) +
                                   " is neither a DNS name (letters, digits, '.', '-', '_') "
                                   "nor an IP address");
  }
  return Status::Ok();
}

std::string AdHocTargetName(const std::string& host, uint32_t port) {
  return port == 22 || port == 0 ? host : host + ":" + std::to_string(port);
}

v1::CheckStarted CheckStartedOf(const AdHocStarted& started) {
  v1::CheckStarted s;
  s.set_id(started.id);
  s.set_host(started.host);
  s.set_port(started.port);
  s.set_timeout_ms(static_cast<uint32_t>(started.timeout.count()));
  for (const std::string& p : started.probes) s.add_probes(p);
  for (const v1::ProbeHealth& h : started.not_asked) *s.add_not_asked() = h;
  return s;
}

v1::CheckProbeResult CheckProbeResultOf(const AdHocProbeResult& r) {
  v1::CheckProbeResult out;
  out.set_probe(r.probe);
  out.mutable_labels()->insert(r.labels.begin(), r.labels.end());
  out.set_outcome(r.result.outcome());
  out.set_connect_ms(r.result.connect_us() / 1000.0);
  out.set_banner_ms(r.result.banner_us() / 1000.0);
  out.set_banner(r.result.identification());
  out.set_address(r.result.address());
  out.set_detail(r.result.detail());
  out.set_elapsed_s(r.elapsed_ms / 1000.0);
  if (r.result.has_liveness()) *out.mutable_evidence() = r.result.liveness();
  return out;
}

v1::CheckDone CheckDoneOf(const AdHocDone& d) {
  v1::CheckDone out;
  *out.mutable_verdict() = d.verdict;
  for (const std::string& p : d.unanswered) out.add_unanswered(p);
  for (const v1::ProbeHealth& h : d.probes) *out.add_probes() = h;
  out.set_elapsed_s(d.elapsed_ms / 1000.0);
  return out;
}

struct AdHocChecks::Pending {
  AdHocStarted started;
  int64_t start_ms = 0;
  int64_t deadline_ms = 0;
  int64_t forget_ms = 0;
  std::map<std::string, std::map<std::string, std::string>> asked;  // probe -> labels
  std::map<std::string, v1::CheckResult> got;                       // probe -> result
  AdHocCallbacks callbacks;
  std::mutex callback_mu;  // orders on_result before on_done (OnResult)
};

AdHocChecks::AdHocChecks(AdHocDeps deps, AdHocOptions options)
    : deps_(std::move(deps)), options_(options), id_prefix_(RandomPrefix()) {
  if (options_.timer_thread) timer_ = std::thread([this] { TimerLoop(); });
}

AdHocChecks::~AdHocChecks() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (timer_.joinable()) timer_.join();
}

void AdHocChecks::TimerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, milliseconds(50));
    if (stopping_) break;
    lock.unlock();
    ExpireDue();
    lock.lock();
  }
}

AdHocRefusal AdHocChecks::Start(const AdHocRequest& request, AdHocCallbacks callbacks,
                                AdHocStarted* started, std::string* message) {
  const ConfigSnapshot snap = deps_.config();
  const Config& config = *snap.config;
  const uint32_t port = request.port == 0 ? 22 : request.port;
  if (port > 65535) {
    *message = "port " + std::to_string(request.port) + " is not in 1..65535";
    return AdHocRefusal::kInvalidArgument;
  }
  if (Status st = ValidateCheckHost(request.host); !st.ok()) {
    *message = st.message();
    return AdHocRefusal::kInvalidArgument;
  }
  milliseconds timeout = request.timeout.count() == 0 ? config.timeout : request.timeout;
  if (timeout < milliseconds(100) || timeout > config.check.max_timeout) {
    *message = "timeout " + std::to_string(timeout.count()) + "ms is outside 100ms.." +
               std::to_string(config.check.max_timeout.count()) +
               "ms (check.max_timeout in the collector's config)";
    return AdHocRefusal::kInvalidArgument;
  }
  ProbeSelector selector;
  if (Status st = ParseProbeSelector(request.probes, &selector); !st.ok()) {
    *message = st.message();
    return AdHocRefusal::kInvalidArgument;
  }

  // Which probes: connected, picked by the selector; with none, the healthy ones.
  std::shared_ptr<const diagnosis::FleetContext> ctx = deps_.fleet ? deps_.fleet() : nullptr;
  auto pending = std::make_shared<Pending>();
  std::vector<std::pair<std::string, std::shared_ptr<StreamLink>>> links;
  for (auto& [probe, link] : deps_.hub->All()) {
    std::map<std::string, std::string> labels = link->labels();
    if (!selector.Matches(probe, labels)) continue;
    if (selector.empty() && ctx != nullptr) {
      const diagnosis::ProbeFacts* f = ctx->Find(probe);
      if (f != nullptr && !f->healthy) continue;
    }
    pending->asked[probe] = std::move(labels);
    links.emplace_back(probe, link);
  }
  std::vector<v1::ProbeHealth> not_asked;
  if (ctx != nullptr) {
    for (const diagnosis::ProbeHealth& h : ctx->health) {
      if (pending->asked.count(h.probe) != 0 || !selector.Matches(h.probe, h.labels)) continue;
      v1::ProbeHealth& out = not_asked.emplace_back();
      out.set_probe(h.probe);
      out.mutable_labels()->insert(h.labels.begin(), h.labels.end());
      out.set_reason(h.healthy ? "not connected" : h.reason);
    }
  }
  if (links.empty()) {
    *message = selector.empty() ? "no connected, healthy probe to ask"
                                : "no connected probe matches probes " + Quote(request.probes);
    return AdHocRefusal::kNoProbes;
  }

  const int64_t now = deps_.now_ms();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (static_cast<int64_t>(running_.size()) >= config.check.max_concurrent) {
      *message = std::to_string(running_.size()) +
                 " ad-hoc checks are running, the most at once (check.max_concurrent " +
                 std::to_string(config.check.max_concurrent) + "): try again in a few seconds";
      return AdHocRefusal::kTooMany;
    }
    // Token bucket per caller: per_caller_per_minute tokens, refilled evenly.
    const double per_minute = static_cast<double>(config.check.per_caller_per_minute);
    auto [it, inserted] = buckets_.try_emplace(request.caller, Bucket{per_minute, now});
    Bucket& b = it->second;
    if (now > b.last_ms) {
      b.tokens = std::min(per_minute, b.tokens + (now - b.last_ms) * per_minute / 60000.0);
      b.last_ms = now;
    }
    if (b.tokens < 1.0) {
      const int64_t wait_ms = static_cast<int64_t>((1.0 - b.tokens) * 60000.0 / per_minute) + 1;
      *message = "rate limit: at most " + std::to_string(config.check.per_caller_per_minute) +
                 " checks per minute per caller (check.per_caller_per_minute); try again in " +
                 std::to_string((wait_ms + 999) / 1000) + " s";
      return AdHocRefusal::kRateLimited;
    }
    b.tokens -= 1.0;
    if (buckets_.size() > kMaxCallers) {  // forget full buckets first: they hold no debt
      for (auto b2 = buckets_.begin(); b2 != buckets_.end() && buckets_.size() > kMaxCallers;) {
        b2 = (b2 != it && b2->second.tokens >= per_minute - 1) ? buckets_.erase(b2) : std::next(b2);
      }
    }
    pending->started.id = id_prefix_ + "-" + std::to_string(next_id_++);
    pending->started.host = request.host;
    pending->started.port = port;
    pending->started.timeout = timeout;
    pending->started.target = AdHocTargetName(request.host, port);
    for (const auto& [probe, labels] : pending->asked) pending->started.probes.push_back(probe);
    pending->started.not_asked = std::move(not_asked);
    pending->start_ms = now;
    pending->deadline_ms = now + timeout.count() + options_.slack.count();
    pending->callbacks = std::move(callbacks);
    running_[pending->started.id] = pending;
  }

  v1::CollectorMessage msg;
  v1::AdHocCheck* check = msg.mutable_adhoc_check();
  check->set_id(pending->started.id);
  v1::Target* t = check->mutable_target();
  t->set_name(pending->started.target);
  t->set_host(request.host);
  t->set_port(port);
  // Not scheduled: the interval only has to be valid (and >= the timeout).
  t->set_interval_ms(static_cast<uint32_t>(std::max<int64_t>(timeout.count(), 60000)));
  t->set_timeout_ms(static_cast<uint32_t>(timeout.count()));
  for (uint16_t p : config.liveness_ports) t->add_liveness_ports(p);
  for (uint16_t p : config.alt_ports) t->add_alt_ports(p);
  t->set_closed_port(config.closed_port);
  t->set_path_max_hops(config.path_max_hops);
  // The trace starts at T/2 at the latest: within half the timeout it ends in time.
  t->set_path_budget_ms(static_cast<uint32_t>(
      std::max<int64_t>(1, std::min<int64_t>(config.path_budget.count(), timeout.count() / 2))));
  for (auto& [probe, link] : links) link->Send(msg);
  Logf(LogLevel::kInfo, "ad-hoc check %s of %s:%u asked %zu probes (timeout %lld ms)",
       pending->started.id.c_str(), request.host.c_str(), port, links.size(),
       static_cast<long long>(timeout.count()));
  *started = pending->started;
  return AdHocRefusal::kNone;
}

void AdHocChecks::Cancel(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = running_.find(id);
  if (it == running_.end()) return;
  it->second->forget_ms = deps_.now_ms() + options_.remember.count();
  ended_[id] = it->second;
  running_.erase(it);
}

bool AdHocChecks::Expects(const std::string& probe, const std::string& id,
                          const std::string& target) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto* m : {&running_, &ended_}) {
    auto it = m->find(id);
    if (it == m->end()) continue;
    return it->second->asked.count(probe) != 0 && it->second->started.target == target;
  }
  return false;
}

void AdHocChecks::OnResult(const std::string& probe, const v1::CheckResult& result) {
  std::shared_ptr<Pending> p;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = running_.find(result.adhoc_id());
    if (it == running_.end()) return;  // ended (late: stored for history only) or unknown
    p = it->second;
  }
  // Held from before the result is recorded until its callback returned:
  // a verdict that includes it (Finish, maybe on the timer's thread) is
  // delivered after it, never before.
  std::lock_guard<std::mutex> order(p->callback_mu);
  AdHocProbeResult event;
  bool complete = false;
  const int64_t now = deps_.now_ms();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = running_.find(result.adhoc_id());
    if (it == running_.end() || it->second != p) return;  // ended meanwhile
    auto asked = p->asked.find(probe);
    if (asked == p->asked.end() || p->got.count(probe) != 0) return;
    p->got[probe] = result;
    event.probe = probe;
    event.labels = asked->second;
    event.result = result;
    event.elapsed_ms = now - p->start_ms;
    complete = p->got.size() == p->asked.size();
  }
  if (p->callbacks.on_result) p->callbacks.on_result(event);
  if (complete) Finish(p, now, /*order_held=*/true);
}

void AdHocChecks::ExpireDue() {
  const int64_t now = deps_.now_ms();
  std::vector<std::shared_ptr<Pending>> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, p] : running_) {
      if (now >= p->deadline_ms) due.push_back(p);
    }
    for (auto it = ended_.begin(); it != ended_.end();) {
      it = now >= it->second->forget_ms ? ended_.erase(it) : std::next(it);
    }
  }
  for (auto& p : due) Finish(p, now, /*order_held=*/false);
}

size_t AdHocChecks::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return running_.size();
}

void AdHocChecks::Finish(std::shared_ptr<Pending> p, int64_t now, bool order_held) {
  std::map<std::string, v1::CheckResult> got;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = running_.find(p->started.id);
    if (it == running_.end() || it->second != p) return;  // finished or cancelled already
    running_.erase(it);
    p->forget_ms = now + options_.remember.count();
    ended_[p->started.id] = p;
    got = p->got;  // no more arrive for a running check now
  }

  // The engine's input: this one target, each answer as received.
  diagnosis::TargetInput ti;
  ti.name = p->started.target;
  ti.host = p->started.host;
  ti.port = p->started.port;
  ti.interval_ms = p->started.timeout.count();
  ti.timeout_ms = p->started.timeout.count() + options_.slack.count();
  for (const auto& [probe, r] : got) {  // in probe-name order (a map)
    ti.results.push_back({probe, &r, r.received_unix_ms() != 0 ? r.received_unix_ms() : now});
  }
  std::shared_ptr<const diagnosis::FleetContext> fleet = deps_.fleet ? deps_.fleet() : nullptr;
  diagnosis::FleetContext ctx;
  if (fleet != nullptr) {
    ctx = *fleet;
    ctx.now_ms = now;
    // A probe the last evaluation did not know yet counts as healthy.
    std::map<std::string, int> network_ids;
    int next_network = 0;
    for (const diagnosis::ProbeFacts& f : ctx.probes) {
      network_ids[f.network] = f.network_id;
      next_network = std::max(next_network, f.network_id + 1);
    }
    bool added = false;
    for (const auto& [probe, labels] : p->asked) {
      if (ctx.Find(probe) != nullptr) continue;
      diagnosis::ProbeFacts f;
      f.probe = probe;
      f.network = NetworkOf(probe, labels);
      auto [nid, fresh] = network_ids.try_emplace(f.network, next_network);
      if (fresh) ++next_network;
      f.network_id = nid->second;
      f.healthy = true;
      f.network_blocked =
          std::binary_search(ctx.blocked_networks.begin(), ctx.blocked_networks.end(), f.network);
      ctx.probes.push_back(std::move(f));
      diagnosis::ProbeHealth h;
      h.probe = probe;
      h.labels = labels;
      ctx.health.push_back(std::move(h));
      added = true;
    }
    if (added) {
      std::sort(ctx.probes.begin(), ctx.probes.end(),
                [](const auto& a, const auto& b) { return a.probe < b.probe; });
      std::sort(ctx.health.begin(), ctx.health.end(),
                [](const auto& a, const auto& b) { return a.probe < b.probe; });
    }
  } else {
    // No evaluation yet: the answering probes alone decide their health.
    diagnosis::Input in;
    in.now_ms = now;
    for (const auto& [probe, labels] : p->asked) {
      in.probes[probe] = diagnosis::ProbeInput{labels, true, now};
    }
    in.targets.push_back(ti);
    ctx = diagnosis::ContextOf(in);
  }
  diagnosis::Verdict v = diagnosis::DiagnoseTarget(ti, ctx);

  AdHocDone done;
  // No "since": an ad-hoc verdict is of this moment (evaluated_unix_ms).
  ToProto(v, p->started.host, p->started.port, 0, now, p->asked, got, &done.verdict);
  for (const auto& [probe, labels] : p->asked) {
    if (got.count(probe) == 0) done.unanswered.push_back(probe);
  }
  for (const diagnosis::ProbeHealth& h : ctx.health) {
    if (p->asked.count(h.probe) == 0) continue;
    v1::ProbeHealth* out = &done.probes.emplace_back();
    out->set_probe(h.probe);
    out->mutable_labels()->insert(h.labels.begin(), h.labels.end());
    out->set_healthy(h.healthy);
    out->set_reason(h.reason);
  }
  done.elapsed_ms = now - p->start_ms;
  Logf(LogLevel::kInfo, "ad-hoc check %s of %s: %d of %zu probes answered in %lld ms",
       p->started.id.c_str(), p->started.target.c_str(), static_cast<int>(got.size()),
       p->asked.size(), static_cast<long long>(done.elapsed_ms));
  // After any on_result whose result the verdict includes (OnResult holds
  // callback_mu from recording it until its callback returned). Cancel()
  // removed the check from running_: a cancelled check never gets here.
  if (!p->callbacks.on_done) return;
  if (order_held) {
    p->callbacks.on_done(done);
  } else {
    std::lock_guard<std::mutex> order(p->callback_mu);
    p->callbacks.on_done(done);
  }
}

}  // namespace parallax::collector
