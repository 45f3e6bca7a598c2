// CPU cost of the probe's SSH host-key check (issue 11): N sequential
// SshChecks with the key exchange against an sshd on 127.0.0.1:PORT, and N
// without it (banner only), measured with getrusage (this process's user +
// system CPU). Prints CPU per check of each, the exchange's extra cost, and
// what a fleet of --targets targets at --interval costs one probe.
// Usage: parallax-bench-hostkey --port P [-n 200] [--targets 10000] [--interval-s 600]
// (bench/hostkey.sh starts an sshd and runs it.)
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <utility>

#include "probe/checks/ssh_check.h"

namespace {

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec +
         u.ru_stime.tv_usec / 1e6;
}

// Runs n checks; returns the CPU seconds they took; counts verified keys.
double Run(int port, int n, bool hostkey, int* verified) {
  boost::asio::io_context io;
  double start = CpuSeconds();
  for (int i = 0; i < n; ++i) {
    parallax::probe::SshCheckOptions o;
    o.host = "127.0.0.1";
    o.port = static_cast<uint16_t>(port);
    o.identification = "SSH-2.0-parallax_bench";
    o.hostkey = hostkey;
    auto check = parallax::probe::SshCheck::Create(io, o);
    bool done = false;
    parallax::probe::StartWithDeadline(io, check, std::chrono::seconds(5), [&] { done = true; });
    io.restart();
    while (!done && io.run_one() > 0) {
    }
    if (check->result().has_host_key() && check->result().host_key().error().empty()) ++*verified;
  }
  return CpuSeconds() - start;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("CPU cost of the SSH host-key check");
  int port = 0, n = 200, targets = 10000, interval_s = 600;
  app.add_option("--port", port, "sshd on 127.0.0.1")->required();
  app.add_option("-n", n, "checks of each kind")->capture_default_str();
  app.add_option("--targets", targets, "fleet size for the estimate")->capture_default_str();
  app.add_option("--interval-s", interval_s, "hostkey_interval for the estimate")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  int verified = 0, none = 0;
  double banner = Run(port, n, false, &none);
  double kex = Run(port, n, true, &verified);
  double per_banner = banner / n, per_kex = kex / n, extra = per_kex - per_banner;
  double per_second = static_cast<double>(targets) / interval_s;
  std::printf("checks=%d verified_keys=%d\n", n, verified);
  std::printf("cpu_per_banner_check_ms=%.3f\n", per_banner * 1e3);
  std::printf("cpu_per_hostkey_check_ms=%.3f\n", per_kex * 1e3);
  std::printf("cpu_per_key_exchange_extra_ms=%.3f\n", extra * 1e3);
  std::printf("fleet: %d targets / %d s = %.1f exchanges/s -> %.2f%% of one core per probe\n",
              targets, interval_s, per_second, per_second * extra * 100);
  return verified == n ? 0 : 1;
}
