// parallax-probe: checks SSH reachability of the targets the collector
// assigns, from this network, and streams the results to the collector.
// One io_context thread runs every check; the stream client has its own
// threads; results are spooled until the collector acknowledges them.
#include <unistd.h>

#include <utility>  // Boost 1.74 Asio under C++20 needs this first

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <CLI/CLI.hpp>
#include <atomic>
#include <functional>
#include <cstdio>
#include <map>
#include <random>

#include "common/log.h"
#include "common/clock.h"
#include "common/tls.h"
#include "common/tls_flags.h"
#include "common/version.h"
#include "probe/scheduler/scheduler.h"
#include "probe/transport/spool.h"
#include "probe/transport/stream_client.h"

namespace {

std::string RandomBootId() {
  std::random_device rd;
  std::uniform_int_distribution<int> hex(0, 15);
  std::string id;
  for (int i = 0; i < 16; ++i) id += "0123456789abcdef"[hex(rd)];
  return id;
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "probe";
  std::string name(buf);
  return name.substr(0, name.find('.'));
}

}  // namespace

int main(int argc, char** argv) {
  using parallax::LogLevel;
  using parallax::Logf;
  CLI::App app{
      "parallax-probe: checks SSH reachability (TCP connect, SSH identification) of the targets "
      "the collector assigns, from the network it runs in, and streams the results to the "
      "collector. Give each probe a unique --name and a network label (--label network=ISP).",
      "parallax-probe"};
  std::string collector;
  std::string name = HostName();
  std::vector<std::string> label_args;
  parallax::ClientTlsFlags tls;
  size_t max_in_flight = 4096;
  size_t spool_size = 100000;
  app.add_option("--collector", collector, "Collector address HOST:PORT")->required();
  app.add_option("--name", name, "Probe name, unique among probes ([A-Za-z0-9._-])")
      ->capture_default_str();
  app.add_option("--label", label_args,
                 "Label key=value, repeatable: site=fra1, network=isp-a, region=eu");
  parallax::AddClientTlsFlags(app, &tls);
  app.add_option("--max-in-flight", max_in_flight, "Checks running at once, at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--spool-size", spool_size,
                 "Results kept while the collector is unreachable (oldest dropped beyond)")
      ->capture_default_str()
      ->check(CLI::Range(100, 10000000));
  app.set_version_flag("--version", std::string("parallax-probe ") + PARALLAX_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help/--version 0; bad flags 2, like bad values
  }

  std::map<std::string, std::string> labels;
  for (const std::string& l : label_args) {
    size_t eq = l.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "parallax-probe: --label \"%s\": expected key=value\n", l.c_str());
      return 2;
    }
    labels[l.substr(0, eq)] = l.substr(eq + 1);
  }
  std::shared_ptr<grpc::ChannelCredentials> creds;
  parallax::Status st = parallax::MakeChannelCredentials(tls, &creds);
  if (!st.ok()) {
    std::fprintf(stderr, "parallax-probe: %s\n", st.message().c_str());
    return 2;
  }

  boost::asio::io_context io(1);
  parallax::probe::Spool spool(spool_size);
  parallax::probe::SchedulerOptions so;
  so.probe_name = name;
  so.identification = std::string("SSH-2.0-parallax_probe_") + PARALLAX_VERSION;
  so.max_in_flight = max_in_flight;
  parallax::probe::Scheduler scheduler(io, so, [&spool](parallax::v1::CheckResult&& r) {
    spool.Append(std::move(r));
  });

  parallax::probe::StreamClientOptions co;
  co.collector = collector;
  co.credentials = creds;
  co.channel_args = parallax::MakeChannelArguments(tls);
  co.hello.set_probe_name(name);
  co.hello.mutable_labels()->insert(labels.begin(), labels.end());
  co.hello.set_version(PARALLAX_VERSION);
  co.hello.set_boot_id(RandomBootId());
  co.on_assignment = [&io, &scheduler](const parallax::v1::Assignment& a) {
    boost::asio::post(io, [&scheduler, a] { scheduler.SetAssignment(a); });
  };
  // Scheduler stats live on the io thread; a 1 s timer publishes them.
  std::atomic<uint32_t> in_flight{0};
  boost::asio::steady_timer stats_timer(io);
  std::function<void()> publish_stats = [&] {
    in_flight = scheduler.stats().in_flight;
    stats_timer.expires_after(std::chrono::seconds(1));
    stats_timer.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) publish_stats();
    });
  };
  publish_stats();
  co.make_heartbeat = [&spool, &in_flight] {
    parallax::v1::Heartbeat hb;
    hb.set_unix_ms(parallax::WallClockMs());
    parallax::probe::SpoolStats s = spool.stats();
    hb.set_in_flight(in_flight.load());
    hb.set_spooled(s.size);
    hb.set_dropped(s.dropped);
    return hb;
  };
  parallax::probe::StreamClient client(std::move(co), &spool);

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    Logf(LogLevel::kInfo, "signal %d: stopping checks, sending what is spooled", sig);
    scheduler.Stop();
    stats_timer.cancel();
    io.stop();
  });
  Logf(LogLevel::kInfo, "parallax-probe %s \"%s\" starting; collector %s", PARALLAX_VERSION,
       name.c_str(), collector.c_str());
  client.Start();
  io.run();
  client.Stop(std::chrono::milliseconds(3000));
  parallax::probe::SpoolStats s = spool.stats();
  Logf(LogLevel::kInfo, "stopped: %llu results produced, %llu unacknowledged, %llu dropped",
       static_cast<unsigned long long>(s.appended), static_cast<unsigned long long>(s.size),
       static_cast<unsigned long long>(s.dropped));
  return 0;
}
