// parallax-probe: checks SSH reachability of the targets the collector
// assigns, from this network, and streams the results to the collector.
// One io_context thread runs every check; the stream client has its own
// threads; results are spooled until the collector acknowledges them.
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <utility>  // Boost 1.74 Asio under C++20 needs this first

#include "common/clock.h"
#include "common/duration.h"
#include "common/escape.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/tls_flags.h"
#include "common/version.h"
#include "probe/checks/dns_resolver.h"
#include "probe/enroll/enroll_command.h"
#include "probe/enroll/enrolled_credentials.h"
#include "probe/policy/policy_gate.h"
#include "probe/scheduler/scheduler.h"
#include "probe/scheduler/source_addresses.h"
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
  using parallax::Logf;
  using parallax::LogLevel;
  // One malloc arena for every thread: the probe allocates almost only on
  // its io thread, yet glibc gives each of its ~10 threads (gRPC's, the
  // spool writer, the stream) an arena whose freed memory stays resident.
  // Measured with 20,000 targets every 10 s: peak RSS 46.6 MB -> 37.5 MB,
  // CPU per check unchanged (docs/PERFORMANCE.md).
  mallopt(M_ARENA_MAX, 1);
  // `parallax-probe enroll ...`: its own command line (probe/enroll/).
  if (argc > 1 && std::strcmp(argv[1], "enroll") == 0) {
    return parallax::probe::RunEnroll(argc - 1, argv + 1);
  }
  CLI::App app{
      "parallax-probe: checks SSH reachability (TCP connect, SSH identification) of the targets "
      "the collector assigns, from the network it runs in, and streams the results to the "
      "collector. Give each probe a unique --name and a network label (--label network=ISP).\n"
      "Enroll a new probe with a token: parallax-probe enroll --help. Started without "
      "--ca/--cert/--key/--insecure, the probe uses the credentials enrollment stored under "
      "--state-dir (STATE_DIR/enroll) when there are some.",
      "parallax-probe"};
  std::string collector;
  std::string name = HostName();
  std::vector<std::string> label_args;
  parallax::ClientTlsFlags tls;
  size_t max_in_flight = 4096;
  size_t spool_size = 0;
  std::string state_dir = "/var/lib/parallax-probe";
  uint64_t spool_max_bytes = 256ull << 20;
  uint64_t max_batch_bytes = 1ull << 20;
  std::string linger_text = "200ms";
  std::string dns_server;
  app.add_option("--collector", collector,
                 "Collector address HOST:PORT, or several comma-separated (a:7420,b:7420: "
                 "collectors sharing one PostgreSQL database); on a broken stream the probe "
                 "fails over to the next one, with backoff")
      ->required();
  app.add_option("--name", name, "Probe name, unique among probes ([A-Za-z0-9._-])")
      ->capture_default_str();
  app.add_option("--label", label_args,
                 "Label key=value, repeatable: site=fra1, network=isp-a, region=eu");
  parallax::AddClientTlsFlags(app, &tls);
  parallax::probe::TargetPolicyFlags policy_flags;
  parallax::probe::AddTargetPolicyFlags(app, &policy_flags);
  app.add_option("--max-in-flight", max_in_flight, "Checks running at once, at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--state-dir", state_dir,
                 "Directory of the spool file (spool.db): results not yet acknowledged by the "
                 "collector survive a probe restart. One directory per probe. \"\" keeps them "
                 "in memory only")
      ->capture_default_str();
  app.add_option("--spool-max-bytes", spool_max_bytes,
                 "Bytes of unacknowledged results kept (on disk and in memory) while the "
                 "collector is unreachable; the oldest are dropped beyond and counted. "
                 "Suffixes: KiB, MiB, GiB")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{1} << 20, uint64_t{1} << 40))
      ->default_str("256MiB");
  app.add_option("--spool-size", spool_size,
                 "Also bound the spool by a count of results (0: bytes only)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000000));
  app.add_option("--max-batch-bytes", max_batch_bytes,
                 "Encoded bytes of one batch of results, at most; keep it well below the "
                 "collector's max_receive_message_bytes (4MiB by default)")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{16} << 10, uint64_t{64} << 20))
      ->default_str("1MiB");
  app.add_option("--batch-linger", linger_text,
                 "How long a batch waits to fill up after its first result (0ms: send at once)")
      ->capture_default_str();
  app.add_option("--dns-server", dns_server,
                 "DNS servers for the targets' names, IP[:PORT] comma-separated ([v6]:PORT with "
                 "IPv6); default: the environment variable PARALLAX_DNS_SERVER, else the system's "
                 "(/etc/resolv.conf)");
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
  parallax::probe::CollectorList collectors;
  if (parallax::Status cs = parallax::probe::CollectorList::Parse(collector, &collectors);
      !cs.ok()) {
    std::fprintf(stderr, "parallax-probe: %s\n", cs.message().c_str());
    return 2;
  }
  std::chrono::milliseconds linger{};
  if (parallax::Status ds = parallax::ParseDuration(linger_text, &linger);
      !ds.ok() || linger > std::chrono::seconds(10)) {
    std::fprintf(stderr, "parallax-probe: --batch-linger \"%s\": %s\n", linger_text.c_str(),
                 ds.ok() ? "at most 10s" : ds.message().c_str());
    return 2;
  }
  // Credentials: the TLS flags when given, else what `enroll` stored.
  parallax::probe::EnrolledCredentials enrolled;
  bool have_enrolled = false;
  if (parallax::Status es = parallax::probe::FindEnrolled(state_dir, &enrolled, &have_enrolled);
      !es.ok()) {
    std::fprintf(stderr, "parallax-probe: %s\n", es.message().c_str());
    return 2;
  }
  bool tls_flags = !tls.ca.empty() || !tls.cert.empty() || !tls.key.empty() || tls.insecure;
  if (have_enrolled && !tls_flags) {
    tls.ca = enrolled.ca;
    tls.cert = enrolled.cert;
    tls.key = enrolled.key;
    if (app.count("--name") == 0) name = enrolled.name;
    Logf(LogLevel::kInfo, "using the enrolled credentials in %s (probe \"%s\")",
         enrolled.dir.c_str(), enrolled.name.c_str());
  } else if (have_enrolled) {
    Logf(LogLevel::kInfo, "TLS flags given: not using the enrolled credentials in %s",
         enrolled.dir.c_str());
  } else if (!tls.cert.empty()) {
    Logf(LogLevel::kInfo, "using the client certificate %s (--cert)", tls.cert.c_str());
  }
  std::shared_ptr<grpc::ChannelCredentials> creds;
  parallax::Status st = parallax::MakeChannelCredentials(tls, &creds);
  if (!st.ok()) {
    std::fprintf(stderr, "parallax-probe: %s\n", st.message().c_str());
    return 2;
  }
  parallax::probe::TargetPolicyOptions policy_options;
  st = parallax::probe::MakeTargetPolicyOptions(policy_flags, &policy_options);
  if (!st.ok()) {
    std::fprintf(stderr, "parallax-probe: %s\n", st.message().c_str());
    return 2;
  }
  parallax::probe::PolicyGate policy(parallax::probe::TargetPolicy(std::move(policy_options)));

  parallax::probe::SpoolOptions spo;
  if (!state_dir.empty()) {
    if (mkdir(state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
      std::fprintf(stderr, "parallax-probe: --state-dir \"%s\": cannot create: %s\n",
                   state_dir.c_str(), std::strerror(errno));
      return 2;
    }
    spo.path = state_dir + "/spool.db";
  }
  spo.probe_name = name;
  spo.boot_id = RandomBootId();
  spo.max_bytes = spool_max_bytes;
  spo.max_count = spool_size;
  spo.max_result_bytes = std::min<uint64_t>(64 << 10, max_batch_bytes / 4);
  parallax::probe::Spool spool(spo);
  if (parallax::Status ss = spool.Open(); !ss.ok()) {
    std::fprintf(stderr, "parallax-probe: --state-dir \"%s\": %s\n", state_dir.c_str(),
                 ss.message().c_str());
    return 2;
  }

  boost::asio::io_context io(1);
  parallax::probe::SchedulerOptions so;
  so.dns_servers = parallax::probe::DefaultDnsServers(dns_server);
  {
    std::shared_ptr<parallax::probe::DnsResolver> check;
    parallax::probe::DnsResolverOptions dns;
    dns.servers = so.dns_servers;
    if (parallax::Status ds = parallax::probe::DnsResolver::Create(io, dns, &check); !ds.ok()) {
      std::fprintf(stderr, "parallax-probe: --dns-server: %s\n", ds.message().c_str());
      return 2;
    }
  }
  parallax::probe::SourceAddresses sources;
  so.probe_name = name;
  so.identification = std::string("SSH-2.0-parallax_probe_") + PARALLAX_VERSION;
  so.max_in_flight = max_in_flight;
  so.address_policy = [&policy](const std::string& address) {
    return policy.ResolvedAddressRefusal(address);
  };
  parallax::probe::Scheduler scheduler(io, so, [&spool, &sources](parallax::v1::CheckResult&& r) {
    if (!r.source_address().empty()) sources.Note(r.source_address());
    spool.Append(std::move(r));
  });

  parallax::probe::StreamClientOptions co;
  co.collectors = collectors;
  co.credentials = creds;
  co.channel_args = parallax::MakeChannelArguments(tls);
  co.hello.set_probe_name(name);
  co.hello.mutable_labels()->insert(labels.begin(), labels.end());
  co.hello.set_version(PARALLAX_VERSION);
  co.hello.set_boot_id(spool.boot_id());
  co.batch.max_bytes = max_batch_bytes;
  co.batch.linger = linger;
  co.on_assignment = [&io, &scheduler, &policy](const parallax::v1::Assignment& assigned) {
    parallax::v1::Assignment a = policy.Apply(assigned);  // the probe's own target policy
    // Moved, not copied: with 20,000 targets each copy is ~7 MB of peak RSS.
    boost::asio::post(io, [&scheduler, a = std::move(a)] { scheduler.SetAssignment(a); });
  };
  // `parallax check`: the probe's own target policy first (a refusal is a
  // probe_error result naming the reason, no packet sent), then one run on
  // the io thread; either way the result goes through the spool like any.
  co.on_adhoc_check = [&io, &scheduler, &policy, &spool](const parallax::v1::AdHocCheck& req) {
    const parallax::v1::Target& target = req.target();
    std::string refusal = policy.AdHocRefusal(target);
    Logf(LogLevel::kInfo, "ad-hoc check %s of %s:%u%s%s",
         parallax::EscapeForTerminal(req.id()).c_str(),
         parallax::EscapeForTerminal(target.host()).c_str(), target.port(),
         refusal.empty() ? "" : ": refused by this probe's target policy: ",
         parallax::EscapeForTerminal(refusal).c_str());
    if (!refusal.empty()) {
      parallax::v1::CheckResult r;
      r.set_target(target.name());
      r.set_outcome(parallax::v1::OUTCOME_PROBE_ERROR);
      r.set_started_unix_ms(parallax::WallClockMs());
      r.set_detail("refused by this probe's target policy: " + refusal);
      r.set_adhoc_id(req.id());
      // Append runs on the io thread (spool.h), like the scheduler's sink.
      boost::asio::post(io, [&spool, r]() mutable { spool.Append(std::move(r)); });
      return;
    }
    boost::asio::post(io, [&scheduler, req] { scheduler.RunAdHoc(req.target(), req.id()); });
  };
  // Heartbeats go every 5 s; a refused assignment and a new source address
  // (what fail2ban sees: `parallax probes --ignoreip`) reach the collector
  // at once.
  co.heartbeat_due = [&policy, &sources] {
    bool refused = policy.TakeReportDue();
    bool new_source = sources.TakeChanged();
    return refused || new_source;
  };
  // Scheduler stats live on the io thread; a 1 s timer publishes them.
  std::atomic<uint32_t> in_flight{0};
  std::atomic<uint64_t> probe_errors{0};
  std::atomic<uint64_t> pauses{0};
  std::atomic<bool> paused{false};
  std::atomic<uint64_t> late_us{0};
  boost::asio::steady_timer stats_timer(io);
  std::function<void()> publish_stats = [&] {
    parallax::probe::SchedulerStats ss = scheduler.stats();
    in_flight = ss.in_flight;
    probe_errors = ss.probe_errors;
    pauses = ss.pauses;
    paused = ss.paused;
    late_us = ss.recent_late_us;
    stats_timer.expires_after(std::chrono::seconds(1));
    stats_timer.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) publish_stats();
    });
  };
  publish_stats();
  co.make_heartbeat = [&] {
    parallax::v1::Heartbeat hb;
    hb.set_unix_ms(parallax::WallClockMs());
    parallax::probe::SpoolStats s = spool.stats();
    hb.set_in_flight(in_flight.load());
    hb.set_spooled(s.size);
    hb.set_dropped(s.dropped);
    policy.FillHeartbeat(&hb);
    for (const std::string& a : sources.Get()) hb.add_source_addresses(a);
    hb.set_spooled_bytes(s.bytes);
    hb.set_truncated_results(s.truncated);
    hb.set_probe_errors(probe_errors.load());
    hb.set_check_pauses(pauses.load());
    hb.set_checks_paused(paused.load());
    hb.set_late_ms(static_cast<uint32_t>(std::min<uint64_t>(late_us.load() / 1000, UINT32_MAX)));
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
  Logf(LogLevel::kInfo,
       "parallax-probe %s \"%s\" starting; collector %s; boot %s; spool %s (at most %llu bytes)",
       PARALLAX_VERSION, name.c_str(), collectors.Joined().c_str(), spool.boot_id().c_str(),
       spo.path.empty() ? "in memory only" : spo.path.c_str(),
       static_cast<unsigned long long>(spool_max_bytes));
  client.Start();
  io.run();
  // The checks scheduler.Stop() cancelled complete asynchronously: each one's
  // completion is queued on io, and until it runs a check run and its parts
  // (ICMP, liveness ports, alt ports) hold each other. Run what is queued so
  // they are released, instead of leaving the cycles to the process exit
  // (LeakSanitizer reported them). Returns as soon as nothing is left.
  io.restart();
  io.run_for(std::chrono::seconds(1));
  client.Stop(std::chrono::milliseconds(3000));
  spool.Close();
  parallax::probe::SpoolStats s = spool.stats();
  parallax::probe::StreamClientStats cs = client.stats();
  Logf(LogLevel::kInfo, "stopped: %llu results produced, %llu unacknowledged, %llu dropped",
       static_cast<unsigned long long>(s.appended), static_cast<unsigned long long>(s.size),
       static_cast<unsigned long long>(s.dropped));
  Logf(LogLevel::kInfo,
       "sent %llu results in %llu batches (%llu bytes), %llu resent, %llu truncated, %llu "
       "batches rejected by the collector; spool file: %llu commits, %llu errors",
       static_cast<unsigned long long>(cs.results_sent),
       static_cast<unsigned long long>(cs.batches_sent),
       static_cast<unsigned long long>(cs.bytes_sent), static_cast<unsigned long long>(s.resent),
       static_cast<unsigned long long>(s.truncated),
       static_cast<unsigned long long>(cs.batches_rejected),
       static_cast<unsigned long long>(s.disk_commits),
       static_cast<unsigned long long>(s.disk_errors));
  return 0;
}
