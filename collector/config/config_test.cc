#include "collector/config/config.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>

#include "collector/config/address.h"

namespace parallax::collector {
namespace {

using std::chrono::milliseconds;
namespace fs = std::filesystem;

const std::string kFixtures = std::string(PARALLAX_FIXTURES_DIR) + "/config";

std::vector<fs::path> YamlFiles(const std::string& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

Config MustParse(const std::string& yaml) {
  Config c;
  Status s = ParseConfig(yaml, "test.yaml", &c);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return c;
}

std::string ParseError(const std::string& yaml) {
  Config c;
  Status s = ParseConfig(yaml, "test.yaml", &c);
  EXPECT_FALSE(s.ok()) << yaml;
  return s.message();
}

TEST(ConfigFixturesTest, GoodFilesLoad) {
  std::vector<fs::path> files = YamlFiles(kFixtures + "/good");
  ASSERT_GE(files.size(), 5u);
  for (const auto& f : files) {
    Config c;
    Status s = LoadConfigFile(f.string(), &c);
    EXPECT_TRUE(s.ok()) << f << ": " << s.ToString();
  }
}

TEST(ConfigFixturesTest, BadFilesFailWithTheExpectedError) {
  std::vector<fs::path> files = YamlFiles(kFixtures + "/bad");
  ASSERT_GE(files.size(), 20u);
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string first;
    std::getline(in, first);
    const std::string marker = "# expect: ";
    ASSERT_EQ(first.rfind(marker, 0), 0u) << f << " lacks a first line \"# expect: ...\"";
    const std::string expected = first.substr(marker.size());
    ASSERT_NE(expected.find(" at line "), std::string::npos)
        << f << ": the expectation must include the line number";
    Config c;
    c.listen = "sentinel:1";
    Status s = LoadConfigFile(f.string(), &c);
    ASSERT_FALSE(s.ok()) << f << " loaded but should fail with: " << expected;
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << f;
    EXPECT_NE(s.message().find(expected), std::string::npos)
        << f << "\n  expected: " << expected << "\n  got:      " << s.message();
    EXPECT_EQ(s.message().rfind(f.string() + ": ", 0), 0u)
        << "error names the file: " << s.message();
    EXPECT_EQ(c.listen, "sentinel:1") << "output changed on error: " << f;
  }
}

TEST(ConfigFixturesTest, FullFileHasEveryValue) {
  Config c;
  Status s = LoadConfigFile(kFixtures + "/good/full.yaml", &c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(c.listen, "0.0.0.0:7420");
  EXPECT_EQ(c.metrics_listen, "127.0.0.1:9420");
  EXPECT_EQ(c.tls.cert, "/etc/parallax/server.pem");
  EXPECT_EQ(c.tls.key, "/etc/parallax/server.key");
  EXPECT_EQ(c.tls.client_ca, "/etc/parallax/probes-ca.pem");
  EXPECT_TRUE(c.tls.enabled());
  EXPECT_EQ(c.storage.path, "/var/lib/parallax/parallax.db");
  EXPECT_EQ(c.storage.retention, std::chrono::hours(24 * 30));
  EXPECT_EQ(c.interval, std::chrono::seconds(15));
  EXPECT_EQ(c.timeout, std::chrono::seconds(4));
  EXPECT_EQ(c.liveness_ports, (std::vector<uint16_t>{80, 443}));
  EXPECT_EQ(c.alt_ports, (std::vector<uint16_t>{2022, 2222}));
  EXPECT_EQ(c.closed_port, 61999);
  EXPECT_EQ(c.path_max_hops, 20u);
  EXPECT_EQ(c.path_budget, std::chrono::seconds(2));
  EXPECT_EQ(c.diagnosis.hysteresis, 3);
  EXPECT_EQ(c.diagnosis.evaluate_every, std::chrono::seconds(5));
  ASSERT_EQ(c.targets.size(), 2u);
  const TargetConfig& b = c.targets[0];
  EXPECT_EQ(b.name, "bastion.example.com");
  EXPECT_EQ(b.port, 22);
  EXPECT_EQ(b.interval, std::chrono::seconds(5));
  EXPECT_EQ(b.timeout, milliseconds(2500));
  EXPECT_EQ(b.labels, (Labels{{"env", "prod"}, {"team", "infra"}}));
  EXPECT_EQ(b.probes, (Labels{{"site", "fra"}}));
  EXPECT_EQ(b.liveness_ports, (std::vector<uint16_t>{443}));
  EXPECT_TRUE(b.alt_ports.empty());  // [] disables
  EXPECT_EQ(b.closed_port, 0);       // 0 disables
  EXPECT_EQ(b.path_max_hops, 0u);    // 0 disables
  EXPECT_EQ(b.path_budget, std::chrono::seconds(2));
  const TargetConfig& g = c.targets[1];
  EXPECT_EQ(g.name, "git:2222");
  EXPECT_EQ(g.port, 2222);
  EXPECT_EQ(g.interval, std::chrono::seconds(15));  // inherited
  EXPECT_EQ(g.timeout, std::chrono::seconds(4));
  EXPECT_TRUE(g.liveness_ports.empty());  // explicitly empty overrides the default
  EXPECT_EQ(g.alt_ports, (std::vector<uint16_t>{2022, 2222}));  // inherited
  EXPECT_EQ(g.closed_port, 61999);                              // inherited
}

TEST(ConfigTest, EvidenceDefaults) {
  Config c;
  Status s = ParseConfig("targets:\n  - name: a\n    host: 192.0.2.1\n", "t.yaml", &c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(c.targets.size(), 1u);
  EXPECT_EQ(c.targets[0].liveness_ports, (std::vector<uint16_t>{443, 80}));
  EXPECT_EQ(c.targets[0].alt_ports, (std::vector<uint16_t>{2222}));
  EXPECT_EQ(c.targets[0].closed_port, 65535);
  EXPECT_EQ(c.targets[0].path_max_hops, 30u);
  EXPECT_EQ(c.targets[0].path_budget, std::chrono::seconds(3));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(ConfigFixturesTest, DocsExampleIsTheTestedFixture) {
  const std::string example = ReadFile(kFixtures + "/good/example.yaml");
  const std::string docs = ReadFile(std::string(PARALLAX_FIXTURES_DIR) + "/../../docs/CONFIG.md");
  ASSERT_GT(example.size(), 100u);
  EXPECT_NE(docs.find("```yaml\n" + example + "```"), std::string::npos)
      << "docs/CONFIG.md's complete example differs from tests/fixtures/config/good/example.yaml";
  Config c;
  Status s = ParseConfig(example, "example.yaml", &c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(c.targets.size(), 4u);
  EXPECT_EQ(c.FindTarget("db-internal")->liveness_ports, (std::vector<uint16_t>{5432}));
  EXPECT_EQ(c.FindTarget("bastion")->liveness_ports, (std::vector<uint16_t>{443}));
}

TEST(ConfigTest, MaxReceiveMessageBytes) {
  EXPECT_EQ(MustParse("max_receive_message_bytes: 8388608\n").max_receive_message_bytes, 8 << 20);
  Config c;
  Status s = ParseConfig("max_receive_message_bytes: 1000\n", "c.yaml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("max_receive_message_bytes"), std::string::npos) << s.message();
}

TEST(ConfigTest, MaxProbesIsBounded) {
  EXPECT_EQ(MustParse("max_probes: 5\n").max_probes, 5);
  Config c;
  Status s = ParseConfig("max_probes: 0\n", "c.yaml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("max_probes"), std::string::npos) << s.message();
  Config r = MustParse("stream_results_per_second: 0\nstream_results_burst: 5\n");
  EXPECT_EQ(r.stream_results_per_second, 0);
  EXPECT_EQ(r.stream_results_burst, 5);
  s = ParseConfig("stream_results_burst: 0\n", "c.yaml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("stream_results_burst"), std::string::npos) << s.message();
}

TEST(ConfigTest, CheckGuardRails) {
  Config d = MustParse("");
  EXPECT_EQ(d.check.max_concurrent, 4);
  EXPECT_EQ(d.check.per_caller_per_minute, 20);
  EXPECT_EQ(d.check.max_timeout.count(), 30000);
  Config c =
      MustParse("check:\n  max_concurrent: 2\n  per_caller_per_minute: 5\n  max_timeout: 10s\n");
  EXPECT_EQ(c.check.max_concurrent, 2);
  EXPECT_EQ(c.check.per_caller_per_minute, 5);
  EXPECT_EQ(c.check.max_timeout.count(), 10000);
  EXPECT_NE(ParseError("check:\n  max_concurrent: 0\n").find("check.max_concurrent"),
            std::string::npos);
  EXPECT_NE(ParseError("check:\n  max_timeout: 10m\n").find("check.max_timeout"),
            std::string::npos);
  EXPECT_NE(ParseError("check:\n  max_concurent: 3\n").find("max_concurent"), std::string::npos);
}

TEST(ConfigTest, ProbeTtlDefaultsToSevenDays) {
  EXPECT_EQ(MustParse("").probe_ttl, std::chrono::hours(24 * 7));
  EXPECT_EQ(MustParse("probe_ttl: 2s\n").probe_ttl, std::chrono::seconds(2));
  EXPECT_EQ(MustParse("probe_ttl: 30d\n").probe_ttl, std::chrono::hours(24 * 30));
  Config c;
  Status s = ParseConfig("probe_ttl: soon\n", "c.yaml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("probe_ttl"), std::string::npos) << s.message();
}

TEST(ConfigTest, WebListenIsOffByDefaultAndChecked) {
  EXPECT_EQ(MustParse("").web_listen, "");
  EXPECT_EQ(MustParse("web_listen: \"\"\n").web_listen, "");
  EXPECT_EQ(MustParse("web_listen: 127.0.0.1:8420\n").web_listen, "127.0.0.1:8420");
  EXPECT_EQ(MustParse("web_listen: \"[::1]:0\"\n").web_listen, "[::1]:0");
  Config c;
  Status s = ParseConfig("web_listen: 127.0.0.1:99999\n", "c.yaml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("web_listen"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("127.0.0.1:99999"), std::string::npos) << s.message();
  s = ParseConfig("web_listen: [1, 2]\n", "c.yaml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("web_listen"), std::string::npos) << s.message();
}

TEST(ConfigTest, EmptyDocumentGivesDefaults) {
  Config c = MustParse("");
  Config d;
  EXPECT_EQ(c.listen, "127.0.0.1:7420");
  EXPECT_EQ(c.metrics_listen, "127.0.0.1:9420");
  EXPECT_EQ(c.max_receive_message_bytes, 4 << 20);
  EXPECT_EQ(c.max_probes, 1000);
  EXPECT_EQ(c.stream_results_per_second, 10000);
  EXPECT_EQ(c.stream_results_burst, 20000);
  EXPECT_EQ(c.storage.path, d.storage.path);
  EXPECT_EQ(c.storage.retention, std::chrono::hours(24 * 14));
  EXPECT_EQ(c.interval, std::chrono::seconds(10));
  EXPECT_EQ(c.timeout, std::chrono::seconds(5));
  EXPECT_EQ(c.diagnosis.hysteresis, 2);
  EXPECT_EQ(c.diagnosis.evaluate_every, milliseconds(0));
  EXPECT_FALSE(c.tls.enabled());
  EXPECT_TRUE(c.targets.empty());
}

TEST(ConfigTest, TargetDefaultsComeFromTopLevel) {
  Config c = MustParse(
      "interval: 20s\n"
      "timeout: 3s\n"
      "liveness_ports: [443, 80]\n"
      "targets:\n"
      "  - {name: a, host: 192.0.2.1}\n"
      "  - {name: b, host: 192.0.2.2, port: 2200, interval: 1s, timeout: 500ms}\n");
  ASSERT_EQ(c.targets.size(), 2u);
  EXPECT_EQ(c.targets[0].port, 22);
  EXPECT_EQ(c.targets[0].interval, std::chrono::seconds(20));
  EXPECT_EQ(c.targets[0].timeout, std::chrono::seconds(3));
  EXPECT_EQ(c.targets[0].liveness_ports, (std::vector<uint16_t>{443, 80}));
  EXPECT_TRUE(c.targets[0].probes.empty());
  EXPECT_EQ(c.targets[1].port, 2200);
  EXPECT_EQ(c.targets[1].interval, std::chrono::seconds(1));
  EXPECT_EQ(c.targets[1].timeout, milliseconds(500));
  EXPECT_EQ(c.targets[1].liveness_ports, (std::vector<uint16_t>{443, 80}));
}

TEST(ConfigTest, TimeoutMayEqualTheIntervalButNotExceedIt) {
  // Like Prometheus' scrape_timeout: equal is accepted, above is refused.
  Config c = MustParse(
      "interval: 1s\n"
      "timeout: 1s\n"
      "targets:\n"
      "  - {name: a, host: 192.0.2.1}\n"
      "  - {name: b, host: 192.0.2.2, interval: 3s, timeout: 3s}\n");
  ASSERT_EQ(c.targets.size(), 2u);
  EXPECT_EQ(c.targets[0].timeout, c.targets[0].interval);
  EXPECT_EQ(c.targets[1].timeout, std::chrono::seconds(3));
  EXPECT_EQ(ParseError("interval: 1s\ntimeout: 1001ms\n"),
            "test.yaml: timeout: 1001ms must not exceed the interval 1s at line 2");
}

TEST(ConfigTest, FindTarget) {
  Config c = MustParse("targets:\n  - {name: a, host: h1}\n  - {name: b, host: h2}\n");
  ASSERT_NE(c.FindTarget("b"), nullptr);
  EXPECT_EQ(c.FindTarget("b")->host, "h2");
  EXPECT_EQ(c.FindTarget("a")->host, "h1");
  EXPECT_EQ(c.FindTarget("c"), nullptr);
  EXPECT_EQ(c.FindTarget(""), nullptr);
}

TEST(ConfigTest, SelectsProbe) {
  TargetConfig everyone;
  EXPECT_TRUE(everyone.SelectsProbe({}));
  EXPECT_TRUE(everyone.SelectsProbe({{"site", "fra"}}));

  TargetConfig t;
  t.probes = {{"region", "eu"}, {"network", "isp-a"}};
  EXPECT_TRUE(t.SelectsProbe({{"region", "eu"}, {"network", "isp-a"}}));
  EXPECT_TRUE(t.SelectsProbe({{"region", "eu"}, {"network", "isp-a"}, {"site", "x"}}));
  EXPECT_FALSE(t.SelectsProbe({{"region", "eu"}}));                        // one missing
  EXPECT_FALSE(t.SelectsProbe({{"region", "eu"}, {"network", "isp-b"}}));  // value differs
  EXPECT_FALSE(t.SelectsProbe({}));
  EXPECT_FALSE(t.SelectsProbe({{"Region", "eu"}, {"network", "isp-a"}}));  // case matters
}

TEST(ConfigTest, SelectorsFixture) {
  Config c;
  ASSERT_TRUE(LoadConfigFile(kFixtures + "/good/selectors.yaml", &c).ok());
  const Labels corp = {{"network", "corp"}, {"region", "eu"}};
  const Labels isp = {{"network", "isp-a"}, {"region", "eu"}};
  EXPECT_TRUE(c.FindTarget("internal-db")->SelectsProbe(corp));
  EXPECT_FALSE(c.FindTarget("internal-db")->SelectsProbe(isp));
  EXPECT_FALSE(c.FindTarget("eu-edge")->SelectsProbe(corp));
  EXPECT_TRUE(c.FindTarget("eu-edge")->SelectsProbe(isp));
  EXPECT_TRUE(c.FindTarget("everyone")->SelectsProbe(corp));
  EXPECT_TRUE(c.FindTarget("everyone")->SelectsProbe(isp));
}

TEST(ConfigTest, ErrorsNameFieldValueAndLine) {
  EXPECT_EQ(ParseError("targets:\n  - name: a\n    host: h\n    port: 0\n"),
            "test.yaml: targets[0].port: 0 is not a port (1..65535) at line 4");
  EXPECT_EQ(ParseError("storage:\n  retention: 2 weeks\n"),
            "test.yaml: storage.retention: invalid duration \"2 weeks\": unknown unit "
            "(use e.g. 500ms, 10s, 5m, 1h, 14d) at line 2");
  EXPECT_EQ(ParseError("interval: 1s\n"),
            "test.yaml: timeout: 5s must not exceed the interval 1s (timeout inherited) at "
            "line 1");
  EXPECT_EQ(ParseError("- a\n- b\n"), "test.yaml: config: expected a map, got a list at line 1");
  EXPECT_EQ(ParseError("tls:\n  cert: a.pem\n"),
            "test.yaml: tls.cert: is set without tls.key at line 2");
}

TEST(ConfigTest, StorageCompactionAndChangeRetention) {
  Config c;
  ASSERT_TRUE(ParseConfig("storage:\n  retention: 7d\n", "x", &c).ok());
  EXPECT_TRUE(c.storage.compaction);  // on by default
  EXPECT_EQ(c.storage.change_retention, std::chrono::hours(24 * 90));
  Config d;
  ASSERT_TRUE(ParseConfig("storage:\n  compaction: off\n  retention: 200d\n", "x", &d).ok());
  EXPECT_FALSE(d.storage.compaction);
  EXPECT_EQ(d.storage.change_retention, std::chrono::hours(24 * 200));  // follows retention
  Config e;
  ASSERT_TRUE(ParseConfig("storage:\n  retention: 2d\n  change_retention: 30d\n", "x", &e).ok());
  EXPECT_EQ(e.storage.change_retention, std::chrono::hours(24 * 30));
  EXPECT_EQ(ParseError("storage:\n  compaction: maybe\n"),
            "test.yaml: storage.compaction: \"maybe\" is not on or off at line 2");
  EXPECT_EQ(ParseError("storage:\n  retention: 30d\n  change_retention: 1d\n"),
            "test.yaml: storage.change_retention: 1d is shorter than storage.retention (the "
            "changes are what is kept longer than the runs) at line 3");
}

TEST(ConfigTest, ErrorLeavesOutputUnchanged) {
  Config c;
  c.interval = milliseconds(1234);
  Status s = ParseConfig("interval: 30s\ntargets: 5\n", "x", &c);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(c.interval, milliseconds(1234));
}

TEST(ConfigTest, MissingFileIsAnIoError) {
  Config c;
  Status s = LoadConfigFile("/nonexistent/parallax/collector.yaml", &c);
  EXPECT_EQ(s.code(), Status::Code::kIoError);
  EXPECT_NE(s.message().find("/nonexistent/parallax/collector.yaml"), std::string::npos);
}

// Issue 14: a 10 MB deeply nested file used 1.5 GB before "bad file".
TEST(ConfigTest, HugeDeeplyNestedFileFailsFastWithLittleMemory) {
  const std::string path = ::testing::TempDir() + "/parallax_huge_config.yaml";
  {
    std::ofstream out(path, std::ios::binary);
    std::string chunk(1 << 20, '[');
    for (int i = 0; i < 10; ++i) out << chunk;
  }
  struct rusage before {};
  getrusage(RUSAGE_SELF, &before);
  const auto start = std::chrono::steady_clock::now();
  Config c;
  Status s = LoadConfigFile(path, &c);
  const auto took = std::chrono::steady_clock::now() - start;
  struct rusage after {};
  getrusage(RUSAGE_SELF, &after);
  std::filesystem::remove(path);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.message(), path + ": config file is larger than the limit of 2097152 bytes");
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 64 * 1024) << "KiB of peak memory added";
  EXPECT_LT(took, std::chrono::seconds(5));  // generous: it reads 2 MiB
}

TEST(ConfigTest, NestingLimitHasAPlainMessage) {
  const std::string want =
      "test.yaml: config nests deeper than 64 levels (a Parallax config needs fewer than 10)";
  EXPECT_EQ(ParseError(std::string(100000, '[') + std::string(100000, ']')), want);
  EXPECT_EQ(ParseError("a: " + std::string(65, '{')), want);
  std::string block;
  for (int i = 0; i < 70; ++i) block += std::string(i * 2, ' ') + "k" + std::to_string(i) + ":\n";
  EXPECT_EQ(ParseError(block), want);
  std::string seq;
  for (int i = 0; i < 70; ++i) seq += "- ";
  EXPECT_EQ(ParseError(seq + "x\n"), want);
  // Brackets in quotes and comments do not count.
  Config c;
  Status s = ParseConfig("interval: 30s # " + std::string(100, '[') + "\n", "x", &c);
  EXPECT_TRUE(s.ok()) << s.ToString();
  s = ParseConfig(
      "targets:\n  - name: a\n    host: h\n    labels: {note: \"" + std::string(100, '{') + "\"}\n",
      "x", &c);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(ConfigTest, StorageBusyKeys) {
  Config c;
  Status s = ParseConfig("storage:\n  busy_timeout: 2s\n  busy_retry: 30s\n", "x", &c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(c.storage.busy_timeout, std::chrono::seconds(2));
  EXPECT_EQ(c.storage.busy_retry, std::chrono::seconds(30));
  EXPECT_EQ(ParseError("storage:\n  busy_retry: 1h\n"),
            "test.yaml: storage.busy_retry: 1h is above the maximum 10m at line 2");
}

TEST(ConfigTest, StorageDriverPostgres) {
  Config c;
  Status s = ParseConfig(
      "storage:\n  driver: postgres\n  dsn: \"host=db.example dbname=parallax "
      "sslmode=verify-full\"\n"
      "  partition_width: 6h\n",
      "x", &c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(c.storage.driver, "postgres");
  EXPECT_EQ(c.storage.dsn, "host=db.example dbname=parallax sslmode=verify-full");
  EXPECT_EQ(c.storage.partition_width, std::chrono::hours(6));
  Config d;
  ASSERT_TRUE(ParseConfig("interval: 10s\n", "x", &d).ok());
  EXPECT_EQ(d.storage.driver, "sqlite");  // the default, unchanged

  EXPECT_EQ(ParseError("storage:\n  driver: mysql\n"),
            "test.yaml: storage.driver: \"mysql\" is not a driver (use sqlite or postgres) at "
            "line 2");
  EXPECT_EQ(ParseError("storage:\n  driver: postgres\n"),
            "test.yaml: storage.dsn: is required with driver postgres at line 2");
  EXPECT_EQ(ParseError("storage:\n  dsn: \"host=x\"\n"),
            "test.yaml: storage.dsn: is for driver postgres (set storage.driver) at line 2");
  // A DSN libpq cannot parse: named, its password never shown.
  const std::string bad =
      ParseError("storage:\n  driver: postgres\n  dsn: \"host=x password=hunter2 bogus\"\n");
  EXPECT_NE(bad.find("storage.dsn"), std::string::npos) << bad;
  EXPECT_NE(bad.find("password=***"), std::string::npos) << bad;
  EXPECT_EQ(bad.find("hunter2"), std::string::npos) << bad;
  EXPECT_EQ(ParseError("storage:\n  driver: postgres\n  dsn: \"host=x\"\n  partition_width: 1s\n"),
            "test.yaml: storage.partition_width: 1s is below the minimum 1m at line 4");
}

TEST(AddressTest, ListenAddresses) {
  for (const char* ok : {"127.0.0.1:7420", "[::1]:7420", "[::]:0", "0.0.0.0:9420",
                         "collector.example.com:443", "localhost:1"}) {
    EXPECT_EQ(CheckListenAddress(ok), "") << ok;
  }
  for (const char* bad : {"", "127.0.0.1", "::1:7420", "[::1]", "[::1]7420", "[zz]:1", ":7420",
                          "host:", "host:65536", "host:-1", "host:http", "a b:1"}) {
    EXPECT_NE(CheckListenAddress(bad), "") << bad;
  }
}

TEST(AddressTest, HostsAndNames) {
  for (const char* ok : {"192.0.2.1", "::1", "2001:db8::1", "fe80::1%eth0", "a.example.com",
                         "host_1", "localhost"}) {
    EXPECT_EQ(CheckHost(ok), "") << ok;
  }
  for (const char* bad : {"", "[::1]", "a b", "a/b", "-a", "1:2:3", "http://x"}) {
    EXPECT_NE(CheckHost(bad), "") << bad;
  }
  EXPECT_EQ(CheckName("web-1.example:22_x"), "");
  EXPECT_NE(CheckName(""), "");
  EXPECT_NE(CheckName(std::string(129, 'a')), "");
  EXPECT_EQ(CheckName(std::string(128, 'a')), "");
  EXPECT_NE(CheckName("a/b"), "");
  EXPECT_NE(CheckName("é"), "");
}

}  // namespace
}  // namespace parallax::collector

namespace parallax::collector {
namespace {

TEST(SecurityConfigTest, ProbesRevokedAndMetrics) {
  Config c = MustParse(
      "probes:\n  fra1:\n    labels: {network: isp-a, site: fra}\n  ams1: {}\n"
      "revoked:\n  - old-probe\n  - serial:00ab12\n"
      "metrics:\n  threads: 4\n  request_timeout: 2s\n"
      "  basic_auth: {user: prom, password: long-enough}\n");
  ASSERT_EQ(c.probes.size(), 2u);
  EXPECT_EQ(c.probes.at("fra1").pinned_labels.at("network"), "isp-a");
  EXPECT_TRUE(c.probes.at("ams1").pinned_labels.empty());
  EXPECT_EQ(c.revoked.identities, std::vector<std::string>{"old-probe"});
  EXPECT_EQ(c.revoked.serials, std::vector<std::string>{"AB12"});
  EXPECT_EQ(c.metrics.threads, 4);
  EXPECT_EQ(c.metrics.request_timeout_ms, 2000);
  EXPECT_EQ(c.metrics.basic_auth_user, "prom");
  Config d = MustParse("");
  EXPECT_EQ(d.metrics.threads, 16);
  EXPECT_TRUE(d.revoked.empty());
}

TEST(SecurityConfigTest, ErrorsNameTheField) {
  EXPECT_EQ(ParseError("probes:\n  \"bad name\": {}\n"),
            "test.yaml: probes.bad name: \"bad name\" is not a probe name (1..64 of "
            "[A-Za-z0-9._-]) at line 2");
  EXPECT_EQ(ParseError("revoked:\n  - serial:xyz\n"),
            "test.yaml: revoked[0]: \"serial:xyz\" is not a serial (serial:HEX, as `openssl "
            "x509 -serial` prints) at line 2");
  EXPECT_EQ(ParseError("metrics:\n  threads: 1\n").find("metrics.threads"), 11u);
  EXPECT_EQ(ParseError("metrics:\n  basic_auth: {user: p, password: short}\n"),
            "test.yaml: metrics.basic_auth.password: is shorter than 8 characters at line 2");
}

}  // namespace
}  // namespace parallax::collector

namespace parallax::collector {
namespace {

TEST(ConfigTest, AddressesSelectsWhichAddressesOfANameAreChecked) {
  Config c;
  ASSERT_TRUE(ParseConfig("targets:\n  - name: a\n    host: web1.example\n"
                          "  - name: b\n    host: web2.example\n    addresses: all\n",
                          "t.yaml", &c)
                  .ok());
  EXPECT_EQ(c.targets[0].addresses, "first");
  EXPECT_EQ(c.targets[1].addresses, "all");
  Status s = ParseConfig("targets:\n  - name: a\n    host: web1.example\n    addresses: both\n",
                         "t.yaml", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("targets[0].addresses"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("\"both\" is not one of first, all, ipv4, ipv6"), std::string::npos)
      << s.message();
}

}  // namespace
}  // namespace parallax::collector
