// parallax-collector: takes probe streams, stores results in SQLite, serves
// /metrics and the CLI's queries. SIGHUP reloads the config (keeping the old
// one if the new is invalid); SIGTERM/SIGINT shut down gracefully.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "collector/config/config.h"
#include "collector/enroll/token_command.h"
#include "collector/server/collector.h"
#include "collector/store/store.h"
#include "common/log.h"
#include "common/version.h"

using parallax::Logf;
using parallax::LogLevel;
using parallax::Status;

int main(int argc, char** argv) {
  CLI::App app{
      "parallax-collector: the Parallax server. Probes stream SSH check results to it; it "
      "stores them in SQLite, exports Prometheus metrics and answers the parallax CLI.\n"
      "Config reference: docs/CONFIG.md. Reload the config with SIGHUP.",
      "parallax-collector"};
  std::string config_path;
  bool check_config = false;
  bool insecure = false;
  bool insecure_allow_remote = false;
  app.add_option("-c,--config", config_path, "YAML config file")->required();
  app.add_flag("--check-config", check_config, "Validate the config file and exit (0 = valid)");
  app.add_flag("--insecure", insecure,
               "Serve plaintext gRPC when the config has no tls section (logs a warning); "
               "loopback listen addresses only");
  app.add_flag("--insecure-allow-remote", insecure_allow_remote,
               "With --insecure, allow a non-loopback listen address (anyone who reaches it "
               "can pose as any probe and read every result)")
      ->needs("--insecure");
  // `token create`: a one-time enrollment token (docs/DEPLOY.md, "A new site
  // in one command"); runs beside the running collector.
  CLI::App* token_cmd = app.add_subcommand("token", "Enrollment tokens for new probes");
  token_cmd->fallthrough();
  token_cmd->require_subcommand(1);
  CLI::App* token_create = token_cmd->add_subcommand(
      "create",
      "Print a one-time token, the CA fingerprint and the `parallax-probe enroll` command that "
      "enrolls probe NAME (needs enroll.ca_key in the config)");
  token_create->fallthrough();
  std::string token_name;
  std::string token_ttl = "1h";
  token_create->add_option("--name", token_name, "Probe name the token is for")->required();
  token_create->add_option("--ttl", token_ttl, "How long the token stays valid (1s..7d)")
      ->capture_default_str();
  app.set_version_flag("--version", std::string("parallax-collector ") + PARALLAX_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help/--version 0; bad flags 2, like bad values
  }

  parallax::collector::Config config;
  Status st = parallax::collector::LoadConfigFile(config_path, &config);
  if (!st.ok()) {
    std::fprintf(stderr, "parallax-collector: %s\n", st.message().c_str());
    return 2;
  }
  if (token_create->parsed()) {
    return parallax::collector::RunTokenCreate(config, config_path, token_name, token_ttl, stdout,
                                               stderr);
  }
  if (check_config) {
    std::printf("%s: OK (%zu targets)\n", config_path.c_str(), config.targets.size());
    return 0;
  }

  // Signals are taken synchronously by this thread; block them before any
  // other thread starts so none of those gets them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<parallax::collector::Collector> collector;
  st = parallax::collector::Collector::Start(config, {insecure, insecure_allow_remote, config_path},
                                             &collector);
  if (!st.ok()) {
    std::fprintf(stderr, "parallax-collector: %s\n", st.message().c_str());
    // A damaged database does not heal by restarting: a distinct exit code
    // that the systemd unit does not restart on (RestartPreventExitStatus).
    if (st.message().find(parallax::collector::kDamagedDatabase) != std::string::npos) return 3;
    return 1;
  }
  while (true) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig != SIGHUP) {
      Logf(LogLevel::kInfo, "signal %d received", sig);
      break;
    }
    parallax::collector::Config next;
    st = parallax::collector::LoadConfigFile(config_path, &next);
    if (!st.ok()) {
      Logf(LogLevel::kError, "reload failed, still running the previous config: %s",
           st.message().c_str());
      collector->CountFailedReload();
      continue;
    }
    collector->Reload(next);
  }
  collector->Shutdown();
  return 0;
}
