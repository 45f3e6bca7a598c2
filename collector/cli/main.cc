// parallax: the command-line client of the collector. `parallax status`
// shows the last outcome of every target from every probe; `parallax history
// TARGET` the stored checks of one target. `-o json` for scripts.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "collector/cli/render.h"
#include "common/duration.h"
#include "common/escape.h"
#include "common/clock.h"
#include "common/tls.h"
#include "common/tls_flags.h"
#include "common/version.h"
#include "parallax/v1/query.grpc.pb.h"

namespace {

int Fail(const std::string& collector, const grpc::Status& st) {
  std::string hint;
  if (st.error_code() == grpc::StatusCode::UNAVAILABLE || st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    hint = " (is parallax-collector running there? TLS flags right? see --help)";
  }
  std::fprintf(stderr, "parallax: collector %s: %s%s\n", collector.c_str(),
               parallax::EscapeForTerminal(st.error_message()).c_str(), hint.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"parallax: ask the Parallax collector which SSH targets are reachable, from where, "
               "and why not.",
               "parallax"};
  app.require_subcommand(1);
  const char* env_collector = std::getenv("PARALLAX_COLLECTOR");
  std::string collector = env_collector != nullptr ? env_collector : "127.0.0.1:7420";
  parallax::ClientTlsFlags tls;
  std::string output = "table";
  app.add_option("--collector", collector, "Collector address HOST:PORT (env PARALLAX_COLLECTOR)")
      ->capture_default_str();
  parallax::AddClientTlsFlags(app, &tls);
  app.add_option("-o,--output", output, "Output format: table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
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
      "explain", "Why a target is (un)reachable: the cause, the evidence per vantage point, and "
                 "what to do");
  explain->add_option("target", explain_target, "Target name (all targets if omitted)");

  std::string inc_target;
  uint32_t inc_limit = 50;
  bool inc_open = false;
  CLI::App* incidents = app.add_subcommand("incidents", "Incidents (a target away from ok), newest first");
  incidents->add_option("target", inc_target, "Only this target");
  incidents->add_option("--limit", inc_limit, "At most this many")->capture_default_str();
  incidents->add_flag("--open", inc_open, "Only incidents still open");
  CLI11_PARSE(app, argc, argv);

  std::shared_ptr<grpc::ChannelCredentials> creds;
  parallax::Status st = parallax::MakeChannelCredentials(tls, &creds);
  if (!st.ok()) {
    std::fprintf(stderr, "parallax: %s\n", st.message().c_str());
    return 2;
  }
  auto channel = grpc::CreateCustomChannel(collector, creds, parallax::MakeChannelArguments(tls));
  auto stub = parallax::v1::QueryService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  bool json = output == "json";
  bool color = !json && isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr;

  if (*status) {
    parallax::v1::StatusRequest req;
    req.set_target(status_target);
    parallax::v1::StatusResponse resp;
    grpc::Status gs = stub->Status(&ctx, req, &resp);
    if (!gs.ok()) return Fail(collector, gs);
    std::cout << (json ? parallax::cli::DumpJson(parallax::cli::StatusJson(resp)) + "\n"
                       : parallax::cli::StatusTable(resp, color));
    return 0;
  }
  int64_t now_ms = parallax::WallClockMs();
  if (*explain) {
    parallax::v1::ExplainRequest req;
    req.set_target(explain_target);
    parallax::v1::ExplainResponse resp;
    grpc::Status gs = stub->Explain(&ctx, req, &resp);
    if (!gs.ok()) return Fail(collector, gs);
    if (json) {
      nlohmann::json out;
      if (!explain_target.empty() && resp.verdicts_size() == 1) {
        out = parallax::cli::VerdictJson(resp.verdicts(0));
      } else {
        out = {{"verdicts", nlohmann::json::array()}};
        for (const auto& v : resp.verdicts()) out["verdicts"].push_back(parallax::cli::VerdictJson(v));
      }
      std::cout << parallax::cli::DumpJson(out) << "\n";
      return 0;
    }
    if (resp.verdicts_size() == 0) std::cout << "(not diagnosed yet: the collector evaluates every interval)\n";
    for (int i = 0; i < resp.verdicts_size(); ++i) {
      std::cout << (i > 0 ? "\n" : "") << parallax::cli::ExplainText(resp.verdicts(i), now_ms, color);
    }
    std::cout << parallax::cli::ProbeHealthText(resp);
    return 0;
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
    return 0;
  }
  parallax::v1::HistoryRequest req;
  req.set_target(hist_target);
  req.set_probe(hist_probe);
  req.set_limit(hist_limit);
  if (!hist_since.empty()) {
    std::chrono::milliseconds since{0};
    st = parallax::ParseDuration(hist_since, &since);
    if (!st.ok()) {
      std::fprintf(stderr, "parallax: --since: %s\n", st.message().c_str());
      return 2;
    }
    req.set_since_unix_ms(parallax::WallClockMs() - since.count());
  }
  parallax::v1::HistoryResponse resp;
  grpc::Status gs = stub->History(&ctx, req, &resp);
  if (!gs.ok()) return Fail(collector, gs);
  std::cout << (json ? parallax::cli::DumpJson(parallax::cli::HistoryJson(resp)) + "\n"
                     : parallax::cli::HistoryTable(resp, color));
  return 0;
}
