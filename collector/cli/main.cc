// parallax: the command-line client of the collector. `parallax status`
// shows the last outcome of every target from every probe; `explain` the
// diagnosis; `history`, `incidents` and `probes` the rest. Global options
// (--collector, TLS flags, -o) go before or after the subcommand; each comes
// from the flag, else the environment, else ~/.config/parallax/cli.yaml,
// else its default. Exit codes (docs/CLI.md): 0 ok, 1 a failure cause is
// shown, 2 usage or connection error.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <vector>

#include "collector/cli/client_config.h"
#include "collector/cli/probes_view.h"
#include "collector/cli/render.h"
#include "common/clock.h"
#include "common/duration.h"
#include "common/escape.h"
#include "common/tls.h"
#include "common/tls_flags.h"
#include "common/version.h"
#include "parallax/v1/query.grpc.pb.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitCause = 1;  // what was asked about is diagnosed as failing
constexpr int kExitUsage = 2;  // bad flags, unknown target, collector unreachable

int Fail(const std::string& collector, const grpc::Status& st) {
  std::string hint;
  if (st.error_code() == grpc::StatusCode::UNAVAILABLE ||
      st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    hint =
        " (is parallax-collector running there? --collector, $PARALLAX_COLLECTOR or "
        "~/.config/parallax/cli.yaml right? TLS flags right? see --help)";
  }
  std::fprintf(stderr, "parallax: collector %s: %s%s\n", collector.c_str(),
               parallax::EscapeForTerminal(st.error_message()).c_str(), hint.c_str());
  return kExitUsage;
}

// Several collectors on one PostgreSQL (docs/POSTGRES.md, "Two collectors"):
// a follower refuses status and explain with FAILED_PRECONDITION and names
// the leader in the trailing metadata "parallax-leader"
// (QueryServiceImpl::kLeaderMetadata). Asks `*collector`, and on such a
// refusal the leader, once, saying so on stderr; `*collector` ends as the
// collector that answered (or refused) last.
using QueryStub = parallax::v1::QueryService::Stub;
template <typename Req, typename Resp>
grpc::Status AskFollowingTheLeader(std::string* collector,
                                   const std::shared_ptr<grpc::ChannelCredentials>& creds,
                                   const grpc::ChannelArguments& args,
                                   grpc::Status (QueryStub::*method)(grpc::ClientContext*,
                                                                     const Req&, Resp*),
                                   const Req& req, Resp* resp) {
  for (int hop = 0;; ++hop) {
    auto stub =
        parallax::v1::QueryService::NewStub(grpc::CreateCustomChannel(*collector, creds, args));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status gs = ((*stub).*method)(&ctx, req, resp);
    if (gs.ok() || gs.error_code() != grpc::StatusCode::FAILED_PRECONDITION || hop > 0) {
      return gs;
    }
    const auto& trailers = ctx.GetServerTrailingMetadata();
    auto it = trailers.find("parallax-leader");
    if (it == trailers.end()) return gs;
    std::string leader(it->second.data(), it->second.size());
    if (leader.empty() || leader == *collector) return gs;
    std::fprintf(stderr, "parallax: collector %s is a follower; asking the leader, %s\n",
                 collector->c_str(), parallax::EscapeForTerminal(leader).c_str());
    *collector = leader;
    resp->Clear();
  }
}

bool Failing(parallax::v1::Cause c) {
  return c != parallax::v1::CAUSE_OK && c != parallax::v1::CAUSE_UNSPECIFIED;
}

// Fills `*value` from the config file when neither flag nor environment set it.
template <typename T>
void FromFile(const CLI::Option* opt, const std::optional<T>& file_value, T* value) {
  if (opt->count() == 0 && file_value.has_value()) *value = *file_value;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "parallax: ask the Parallax collector which SSH targets are reachable, from where, "
      "and why not.\n"
      "Global options may come before or after the command. Each is taken from its "
      "flag, else its environment variable, else ~/.config/parallax/cli.yaml, else "
      "its default.\n"
      "Exit status: 0 ok; 1 a target (or probe, or open incident) shown is failing; "
      "2 usage error, unknown target or collector unreachable.",
      "parallax"};
  app.require_subcommand(1);
  std::string collector = "127.0.0.1:7420";
  std::string config_path;
  parallax::ClientTlsFlags tls;
  std::string output = "table";
  CLI::Option* collector_opt =
      app.add_option("--collector", collector, "Collector address HOST:PORT")
          ->envname("PARALLAX_COLLECTOR")
          ->capture_default_str();
  parallax::AddClientTlsFlags(app, &tls);
  CLI::Option* ca_opt = app.get_option("--ca")->envname("PARALLAX_CA");
  CLI::Option* cert_opt = app.get_option("--cert")->envname("PARALLAX_CERT");
  CLI::Option* key_opt = app.get_option("--key")->envname("PARALLAX_KEY");
  CLI::Option* sni_opt = app.get_option("--tls-server-name")->envname("PARALLAX_TLS_SERVER_NAME");
  CLI::Option* insecure_opt = app.get_option("--insecure")->envname("PARALLAX_INSECURE");
  CLI::Option* output_opt = app.add_option("-o,--output", output, "Output format: table or json")
                                ->envname("PARALLAX_OUTPUT")
                                ->check(CLI::IsMember({"table", "json"}))
                                ->capture_default_str();
  app.add_option("--config", config_path,
                 "Client config file (default ~/.config/parallax/cli.yaml; keys collector, "
                 "output, ca, cert, key, tls_server_name, insecure)")
      ->envname("PARALLAX_CLI_CONFIG");
  app.set_version_flag("--version", std::string("parallax ") + PARALLAX_VERSION);

  std::string status_target;
  CLI::App* status = app.add_subcommand("status", "Last outcome of every target from every probe");
  status->add_option("target", status_target, "Only this target");

  std::string hist_target, hist_probe, hist_since;
  uint32_t hist_limit = 50;
  CLI::App* history = app.add_subcommand("history", "Stored checks of one target, newest first");
  history->add_option("target", hist_target, "Target name")->required();
  history->add_option("--probe", hist_probe, "Only results of this probe");
  history->add_option("--limit", hist_limit, "At most this many entries (max 10000)")
      ->capture_default_str();
  history->add_option("--since", hist_since, "Only the last DURATION, e.g. 10m, 2h");

  std::string explain_target;
  CLI::App* explain = app.add_subcommand(
      "explain",
      "Why a target is (un)reachable: the cause, the evidence per vantage point, and "
      "what to do");
  explain->add_option("target", explain_target, "Target name (all targets if omitted)");

  std::string inc_target;
  uint32_t inc_limit = 50;
  bool inc_open = false;
  CLI::App* incidents =
      app.add_subcommand("incidents", "Incidents (a target away from ok), newest first");
  incidents->add_option("target", inc_target, "Only this target");
  incidents->add_option("--limit", inc_limit, "At most this many")->capture_default_str();
  incidents->add_flag("--open", inc_open, "Only incidents still open");

  CLI::App* probes = app.add_subcommand(
      "probes",
      "The probes the collector knows: labels, connected, version, last seen, addresses, health");
  bool ignoreip = false;
  probes->add_flag("--ignoreip", ignoreip,
                   "Print the fail2ban ignoreip line and the sshd PerSourcePenaltyExemptList "
                   "line that exempt the probes' source addresses");

  std::string check_host, check_timeout, check_probes;
  uint32_t check_port = 0;
  CLI::App* check = app.add_subcommand(
      "check",
      "Check HOST now from every connected, healthy probe (configured target or not): each "
      "vantage point's result as it arrives, then the verdict as `explain` gives it. Exit "
      "status: 0 ok, 1 any failure cause (or no answer), 2 usage or connection error");
  check->add_option("host", check_host, "HOST or HOST:PORT ([IPV6]:PORT); port 22 by default")
      ->required();
  check->add_option("--port", check_port, "The SSH port (instead of HOST:PORT)")
      ->check(CLI::Range(1, 65535));
  check->add_option("--timeout", check_timeout,
                    "How long each probe's check may take, e.g. 3s (default: the collector's "
                    "`timeout`; at most its check.max_timeout)");
  check->add_option("--probes", check_probes,
                    "Only these probes: comma-separated probe names and label key=value terms, "
                    "e.g. network=isp-a or p1,p2 (a probe matches every label term and one of "
                    "the names, if any)");

  std::string accept_target;
  CLI::App* hostkey = app.add_subcommand("hostkey", "SSH host key pins");
  hostkey->require_subcommand(1);
  CLI::App* hostkey_accept = hostkey->add_subcommand(
      "accept",
      "Re-pin TARGET's SSH host key to the key its vantage points see now (after a planned "
      "change; admin certificates only)");
  hostkey_accept->add_option("target", accept_target, "Target name")->required();

  // Global options after the subcommand are handed back to the app.
  for (CLI::App* sub :
       {status, history, explain, incidents, probes, check, hostkey, hostkey_accept}) {
    sub->fallthrough();
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help, version or the error
    return rc == 0 ? kExitOk : kExitUsage;
  }

  // Flag > environment (CLI11 counts both) > config file > default.
  bool explicit_config = !config_path.empty();
  if (!explicit_config) config_path = parallax::cli::DefaultClientConfigPath();
  if (!config_path.empty()) {
    parallax::cli::ClientConfig file;
    parallax::Status st = parallax::cli::LoadClientConfig(config_path, &file);
    if (!st.ok() && (explicit_config || st.code() != parallax::Status::Code::kNotFound)) {
      std::fprintf(stderr, "parallax: %s\n", st.message().c_str());
      return kExitUsage;
    }
    FromFile(collector_opt, file.collector, &collector);
    FromFile(output_opt, file.output, &output);
    FromFile(ca_opt, file.ca, &tls.ca);
    FromFile(cert_opt, file.cert, &tls.cert);
    FromFile(key_opt, file.key, &tls.key);
    FromFile(sni_opt, file.tls_server_name, &tls.server_name);
    FromFile(insecure_opt, file.insecure, &tls.insecure);
  }

  std::shared_ptr<grpc::ChannelCredentials> creds;
  parallax::Status st = parallax::MakeChannelCredentials(tls, &creds);
  if (!st.ok()) {
    std::fprintf(stderr, "parallax: %s\n", st.message().c_str());
    return kExitUsage;
  }
  std::chrono::milliseconds since{0};
  if (*history && !hist_since.empty()) {
    st = parallax::ParseDuration(hist_since, &since);
    if (!st.ok()) {
      std::fprintf(stderr, "parallax: --since: %s\n", st.message().c_str());
      return kExitUsage;
    }
  }
  // check: HOST[:PORT] and --timeout, before any connection.
  std::chrono::milliseconds check_timeout_ms{0};
  if (*check) {
    std::string host = check_host;
    uint32_t port = 0;
    std::string port_text;
    if (!host.empty() && host.front() == '[') {  // [IPv6] or [IPv6]:PORT
      size_t close = host.find(']');
      if (close == std::string::npos || (close + 1 < host.size() && host[close + 1] != ':')) {
        std::fprintf(stderr, "parallax: check: host \"%s\": expected [IPV6]:PORT\n",
                     parallax::EscapeForTerminal(check_host).c_str());
        return kExitUsage;
      }
      if (close + 1 < host.size()) port_text = host.substr(close + 2);
      host = host.substr(1, close - 1);
    } else if (std::count(host.begin(), host.end(), ':') == 1) {  // HOST:PORT (IPv6 has more)
      port_text = host.substr(host.find(':') + 1);
      host = host.substr(0, host.find(':'));
    }
    if (!port_text.empty() || (!check_host.empty() && check_host.back() == ':')) {
      char* end = nullptr;
      unsigned long v = std::strtoul(port_text.c_str(), &end, 10);
      if (port_text.empty() || *end != '\0' || v == 0 || v > 65535) {
        std::fprintf(stderr, "parallax: check: port \"%s\" (in \"%s\") is not in 1..65535\n",
                     parallax::EscapeForTerminal(port_text).c_str(),
                     parallax::EscapeForTerminal(check_host).c_str());
        return kExitUsage;
      }
      port = static_cast<uint32_t>(v);
    }
    if (port != 0 && check_port != 0 && port != check_port) {
      std::fprintf(stderr, "parallax: check: port %u in \"%s\" and --port %u disagree\n", port,
                   parallax::EscapeForTerminal(check_host).c_str(), check_port);
      return kExitUsage;
    }
    if (host.empty()) {
      std::fprintf(stderr, "parallax: check: host is empty\n");
      return kExitUsage;
    }
    check_host = host;
    if (check_port == 0) check_port = port == 0 ? 22 : port;
    if (!check_timeout.empty()) {
      st = parallax::ParseDuration(check_timeout, &check_timeout_ms);
      if (!st.ok() || check_timeout_ms.count() <= 0) {
        std::fprintf(stderr, "parallax: check: --timeout \"%s\": %s\n",
                     parallax::EscapeForTerminal(check_timeout).c_str(),
                     st.ok() ? "must be positive" : st.message().c_str());
        return kExitUsage;
      }
    }
  }
  const grpc::ChannelArguments channel_args = parallax::MakeChannelArguments(tls);
  auto channel = grpc::CreateCustomChannel(collector, creds, channel_args);
  auto stub = parallax::v1::QueryService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  bool json = output == "json";
  bool color = !json && isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr;

  if (*status || *probes) {
    parallax::v1::StatusRequest req;
    req.set_target(status_target);
    parallax::v1::StatusResponse resp;
    grpc::Status gs =
        AskFollowingTheLeader(&collector, creds, channel_args, &QueryStub::Status, req, &resp);
    if (!gs.ok()) return Fail(collector, gs);
    if (*probes && ignoreip) {
      std::cout << parallax::cli::IgnoreIpLines(resp);
      return kExitOk;
    }
    if (*probes) {
      std::cout << (json ? parallax::cli::DumpJson(parallax::cli::ProbesJson(resp)) + "\n"
                         : parallax::cli::ProbesTable(resp));
      for (const auto& p : resp.probes()) {
        if (!p.connected()) return kExitCause;
      }
      return kExitOk;
    }
    std::cout << (json ? parallax::cli::DumpJson(parallax::cli::StatusJson(resp)) + "\n"
                       : parallax::cli::StatusTable(resp, color));
    for (const auto& t : resp.targets()) {
      if (Failing(t.cause())) return kExitCause;
    }
    return kExitOk;
  }
  int64_t now_ms = parallax::WallClockMs();
  if (*check) {
    parallax::v1::CheckRequest req;
    req.set_host(check_host);
    req.set_port(check_port);
    req.set_timeout_ms(static_cast<uint32_t>(check_timeout_ms.count()));
    req.set_probes(check_probes);
    grpc::ClientContext cctx;  // its own deadline: the check's timeout (at most 5 min) + margin
    cctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5) +
                      std::chrono::seconds(10));
    auto reader = stub->Check(&cctx, req);
    parallax::v1::CheckEvent event;
    parallax::v1::CheckStarted started;
    std::vector<parallax::v1::CheckProbeResult> results;
    parallax::v1::CheckDone done;
    bool have_done = false;
    while (reader->Read(&event)) {
      if (event.has_started()) {
        started = event.started();
        if (!json) std::cout << parallax::cli::CheckStartedText(started) << std::flush;
      } else if (event.has_result()) {
        results.push_back(event.result());
        if (!json) std::cout << parallax::cli::CheckResultLine(event.result(), color) << std::flush;
      } else if (event.has_done()) {
        done = event.done();
        have_done = true;
      }
    }
    grpc::Status gs = reader->Finish();
    if (!gs.ok()) return Fail(collector, gs);
    if (!have_done) {
      std::fprintf(stderr, "parallax: collector %s: the check ended without a verdict\n",
                   collector.c_str());
      return kExitUsage;
    }
    int64_t end_ms = parallax::WallClockMs();
    if (json) {
      std::cout << parallax::cli::DumpJson(parallax::cli::CheckJson(started, results, &done))
                << "\n";
    } else {
      std::cout << "\n" << parallax::cli::ExplainText(done.verdict(), end_ms, color);
      parallax::v1::ExplainResponse health;
      for (const auto& p : done.probes()) *health.add_probes() = p;
      std::cout << parallax::cli::ProbeHealthText(health)
                << parallax::cli::CheckUnansweredText(done, started.timeout_ms() / 1000.0);
    }
    return Failing(done.verdict().cause()) ? kExitCause : kExitOk;
  }
  if (*explain) {
    parallax::v1::ExplainRequest req;
    req.set_target(explain_target);
    parallax::v1::ExplainResponse resp;
    grpc::Status gs =
        AskFollowingTheLeader(&collector, creds, channel_args, &QueryStub::Explain, req, &resp);
    if (!gs.ok()) return Fail(collector, gs);
    if (json) {
      nlohmann::json out;
      if (!explain_target.empty() && resp.verdicts_size() == 1) {
        out = parallax::cli::VerdictJson(resp.verdicts(0));
      } else {
        out = {{"verdicts", nlohmann::json::array()}};
        for (const auto& v : resp.verdicts())
          out["verdicts"].push_back(parallax::cli::VerdictJson(v));
      }
      std::cout << parallax::cli::DumpJson(out) << "\n";
    } else {
      if (resp.verdicts_size() == 0) {
        std::cout << "(not diagnosed yet: the collector evaluates every interval)\n";
      }
      for (int i = 0; i < resp.verdicts_size(); ++i) {
        std::cout << (i > 0 ? "\n" : "")
                  << parallax::cli::ExplainText(resp.verdicts(i), now_ms, color);
      }
      std::cout << parallax::cli::ProbeHealthText(resp);
    }
    for (const auto& v : resp.verdicts()) {
      if (Failing(v.cause())) return kExitCause;
    }
    return kExitOk;
  }
  if (*hostkey_accept) {
    parallax::v1::AcceptHostKeyRequest req;
    req.set_target(accept_target);
    parallax::v1::AcceptHostKeyResponse resp;
    grpc::Status gs = stub->AcceptHostKey(&ctx, req, &resp);
    if (!gs.ok()) return Fail(collector, gs);
    std::cout << (json ? parallax::cli::DumpJson(
                             parallax::cli::AcceptHostKeyJson(accept_target, resp)) +
                             "\n"
                       : parallax::cli::AcceptHostKeyText(resp));
    return kExitOk;
  }
  if (*incidents) {
    parallax::v1::IncidentsRequest req;
    req.set_target(inc_target);
    req.set_limit(inc_limit);
    req.set_open_only(inc_open);
    parallax::v1::IncidentsResponse resp;
    grpc::Status gs = stub->Incidents(&ctx, req, &resp);
    if (!gs.ok()) return Fail(collector, gs);
    std::cout << (json ? parallax::cli::DumpJson(parallax::cli::IncidentsJson(resp, now_ms)) + "\n"
                       : parallax::cli::IncidentsTable(resp, now_ms));
    for (const auto& i : resp.incidents()) {
      if (i.closed_unix_ms() == 0) return kExitCause;
    }
    return kExitOk;
  }
  parallax::v1::HistoryRequest req;
  req.set_target(hist_target);
  req.set_probe(hist_probe);
  req.set_limit(hist_limit);
  if (since.count() > 0) req.set_since_unix_ms(parallax::WallClockMs() - since.count());
  parallax::v1::HistoryResponse resp;
  grpc::Status gs = stub->History(&ctx, req, &resp);
  if (!gs.ok()) return Fail(collector, gs);
  std::cout << (json ? parallax::cli::DumpJson(parallax::cli::HistoryJson(resp)) + "\n"
                     : parallax::cli::HistoryTable(resp, color));
  return kExitOk;
}
