// parallax-bench-listener: runs a BannerListener on 127.0.0.1 for bench/run.sh.
// Writes its ports to --ports-file ("banner 1 2 ..." / "silent ..." /
// "refused ...") and its counters to --stats-file every 100 ms
// ("<unix_ms> <accepted> <banners> <open>"), until SIGTERM/SIGINT or
// --max-seconds (a bound, so a forgotten listener always ends).
#include <signal.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "bench/banner_listener.h"

namespace {

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

bool WriteAtomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) return false;
    f << text;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

std::string Join(const char* word, const std::vector<int>& ports) {
  std::string s = word;
  for (int p : ports) s += " " + std::to_string(p);
  return s + "\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Fast loopback SSH-banner listener for the Parallax benchmarks",
               "parallax-bench-listener"};
  parallax::bench::ListenerOptions o;
  std::string ports_file, stats_file;
  int max_seconds = 3600;
  app.add_option("--banner", o.banner_ports, "Ports that answer with an SSH banner")
      ->check(CLI::Range(0, 64));
  app.add_option("--silent", o.silent_ports, "Ports that accept and never answer")
      ->check(CLI::Range(0, 64));
  app.add_option("--refused", o.refused_ports, "Ports that refuse connections")
      ->check(CLI::Range(0, 64));
  app.add_option("--ports-file", ports_file, "Where to write the ports")->required();
  app.add_option("--stats-file", stats_file, "Where to write the counters")->required();
  app.add_option("--max-seconds", max_seconds, "Exit after this long at the latest")
      ->check(CLI::Range(1, 86400));
  CLI11_PARSE(app, argc, argv);

  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  parallax::bench::BannerListener listener(o);
  parallax::Status st = listener.Start();
  if (!st.ok()) {
    std::fprintf(stderr, "parallax-bench-listener: %s\n", st.message().c_str());
    return 1;
  }
  std::string ports = Join("banner", listener.banner_ports()) +
                      Join("silent", listener.silent_ports()) +
                      Join("refused", listener.refused_ports());
  if (!WriteAtomically(ports_file, ports)) {
    std::fprintf(stderr, "parallax-bench-listener: cannot write --ports-file %s\n",
                 ports_file.c_str());
    return 1;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(max_seconds);
  while (!g_stop && std::chrono::steady_clock::now() < deadline) {
    parallax::bench::ListenerCounts c = listener.counts();
    long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
    WriteAtomically(stats_file, std::to_string(ms) + " " + std::to_string(c.accepted) + " " +
                                    std::to_string(c.banners) + " " + std::to_string(c.open_now) +
                                    "\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  listener.Stop();
  return 0;
}
