// The status page end to end: a real collector with web_listen, real probes
// on loopback checking a real sshd, a closed port, a silent port and a fake
// server whose answer carries HTML/script payloads; headless Chromium
// (Debian's `chromium`) loads the matrix and an explanation, the DOM it
// built is checked for the expected text and for the payload rendered as
// text only, and screenshots are saved as artifacts (paths printed).
// With TLS and client certificates, curl without a certificate (or with a
// probe's) is refused, with a reader's it is served.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <thread>

#include "tests/integration/cluster.h"

namespace parallax::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Executed, it would change the page's title or add an element.
constexpr char kPayload[] =
    "HTTP/1.0 200 <img src=x onerror=document.title='XSS'>"
    "<script>document.body.append('XSS'+'-RAN')</script>\r\n\r\n";

// A loopback server that answers every client with kPayload and closes.
class XssServer {
 public:
  XssServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 16);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        int c = accept(fd_, nullptr, nullptr);
        if (c < 0) continue;
        (void)!write(c, kPayload, std::strlen(kPayload));
        shutdown(c, SHUT_WR);
        close(c);
      }
    });
  }
  ~XssServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string ArtifactDir() {
  std::string dir = PARALLAX_ARTIFACT_DIR;
  std::filesystem::create_directories(dir);
  return dir;
}

// Headless Chromium with its own profile; `extra` picks --dump-dom or
// --screenshot=... Bounded by 40 s.
CommandResult Chromium(const TempDir& dir, const std::vector<std::string>& extra,
                       const std::string& url) {
  std::vector<std::string> argv = {"chromium", "--headless", "--no-sandbox", "--disable-gpu",
                                   "--disable-dev-shm-usage", "--no-first-run",
                                   "--disable-extensions", "--disable-background-networking",
                                   "--user-data-dir=" + dir.File("chromium-profile"),
                                   // Lets the page's timers run (its first poll after 300 ms).
                                   "--virtual-time-budget=3000"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(url);
  return RunCommand(argv, seconds(40));
}

// The element names of a serialized DOM, in order. Chromium writes '<' in
// text as "&lt;" and '"' in attribute values as "&quot;", so a raw '<' in
// text starts a tag and a '>' inside a quoted value does not end one: an
// element found here is one the page really has.
std::vector<std::string> Tags(const std::string& dom) {
  std::vector<std::string> tags;
  for (size_t i = 0; i < dom.size(); ++i) {
    if (dom[i] != '<') continue;
    size_t j = i + 1;
    std::string name;
    while (j < dom.size() && (std::isalnum(static_cast<unsigned char>(dom[j])) || dom[j] == '!')) {
      name += static_cast<char>(std::tolower(static_cast<unsigned char>(dom[j++])));
    }
    if (!name.empty()) tags.push_back(name);
    bool quoted = false;
    for (; j < dom.size(); ++j) {
      if (dom[j] == '"') quoted = !quoted;
      if (dom[j] == '>' && !quoted) break;
    }
    i = j;
  }
  return tags;
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

void ExpectNoPayloadRan(const std::string& dom, const std::string& page) {
  std::vector<std::string> tags = Tags(dom);
  EXPECT_GT(tags.size(), 20u) << dom;
  EXPECT_EQ(std::count(tags.begin(), tags.end(), "img"), 0) << page << ": an <img> from the data\n"
                                                            << dom;
  EXPECT_EQ(std::count(tags.begin(), tags.end(), "script"), 1)
      << page << ": only the page's own script\n"
      << dom;
  EXPECT_EQ(dom.find("<title>XSS"), std::string::npos) << page << ": the payload ran\n" << dom;
  EXPECT_EQ(dom.find("XSS-RAN"), std::string::npos) << page << ": the payload ran\n" << dom;
}

TEST(WebPage, ChromiumShowsMatrixAndExplanationWithPayloadsAsText) {
  auto test_start = std::chrono::steady_clock::now();
  if (RunCommand({"chromium", "--version"}).exit_code != 0) {
    GTEST_SKIP() << "chromium is not installed (deploy/install-deps.sh --test)";
  }
  TempDir dir;
  std::string why;
  std::unique_ptr<Sshd> sshd = Sshd::Start(dir, &why);
  if (!sshd) GTEST_SKIP() << "cannot run a real sshd here: " << why;
  XssServer xss;
  Listener silent(Listener::Kind::kSilent);
  int closed = ClosedPort();
  int web_port = FreePort();

  Cluster cluster(dir);
  cluster.Configure(
      {{"sshd", "127.0.0.1", sshd->port()},
       {"closed", "127.0.0.1", closed},
       {"silent", "127.0.0.1", silent.port()},
       {"evil", "127.0.0.1", xss.port()}},
      "1s", "500ms",
      "web_listen: 127.0.0.1:" + std::to_string(web_port) + "\ndiagnosis:\n  hysteresis: 1\n");
  cluster.StartCollector();
  cluster.StartProbe("p1", {{"network", "lo-a"}});
  cluster.StartProbe("p2", {{"network", "lo-b"}});
  nlohmann::json status;
  ASSERT_TRUE(cluster.WaitForOutcomes({{{"sshd", "p1"}, "ok"},
                                       {{"sshd", "p2"}, "ok"},
                                       {{"closed", "p1"}, "refused"},
                                       {{"closed", "p2"}, "refused"},
                                       {{"evil", "p1"}, "not_ssh"},
                                       {{"evil", "p2"}, "not_ssh"},
                                       {{"silent", "p1"}, "banner_timeout"},
                                       {{"silent", "p2"}, "banner_timeout"}},
                                      seconds(30), &status))
      << status.dump(2) << cluster.collector()->log();
  // Verdicts in force for every target (the evaluator runs each interval).
  auto cause = [&](const std::string& target) {
    for (const auto& t : status["targets"]) {
      if (t["name"] == target) return t["cause"].get<std::string>();
    }
    return std::string();
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        status = cluster.CliJson({"status"});
        return cause("sshd") == "ok" && cause("closed") == "ssh_refused" &&
               cause("evil") == "not_ssh" && cause("silent") != "unknown";
      },
      seconds(20)))
      << status.dump(2);
  EXPECT_NE(cluster.collector()->log().find("status page on http://127.0.0.1:"), std::string::npos)
      << cluster.collector()->log();
  std::string base = "http://127.0.0.1:" + std::to_string(web_port);

  // The matrix, as the browser built it (after its script's first poll).
  auto chrome_start = std::chrono::steady_clock::now();
  CommandResult index = Chromium(dir, {"--dump-dom"}, base + "/");
  ASSERT_EQ(index.exit_code, 0) << index.err;
  const std::string& dom = index.out;
  for (const char* text :
       {"sshd", "closed", "silent", "evil", "p1", "p2", "ssh_refused", "not_ssh", "banner_timeout",
        "refused", "Incidents", "Probes", "lo-a", "healthy", "href=\"/target/evil\""}) {
    EXPECT_NE(dom.find(text), std::string::npos) << "missing \"" << text << "\"\n" << dom;
  }
  EXPECT_NE(dom.find("<title>Parallax status</title>"), std::string::npos) << dom;
  // The script ran and refreshed the tables from /api/status.
  EXPECT_NE(dom.find("data-refreshed=\""), std::string::npos) << "no auto-refresh\n" << dom;
  EXPECT_EQ(dom.find("not updated"), std::string::npos) << dom;
  // The payload is in the cell's title (an attribute), as text.
  EXPECT_NE(dom.find("onerror=document.title='XSS'"), std::string::npos) << dom;
  ExpectNoPayloadRan(dom, "/");

  // One explanation: the payload is the detail's text.
  CommandResult evil = Chromium(dir, {"--dump-dom"}, base + "/target/evil");
  ASSERT_EQ(evil.exit_code, 0) << evil.err;
  for (const char* text :
       {"not_ssh", "Evidence (one line per vantage point)", "What to do", "p1", "p2", "lo-a",
        "lo-b", "&lt;img src=x onerror=document.title='XSS'&gt;"}) {
    EXPECT_NE(evil.out.find(text), std::string::npos) << "missing \"" << text << "\"\n" << evil.out;
  }
  EXPECT_NE(evil.out.find("data-refreshed=\""), std::string::npos) << evil.out;
  ExpectNoPayloadRan(evil.out, "/target/evil");

  // Screenshots: the matrix (desktop and phone width) and an explanation.
  std::string artifacts = ArtifactDir();
  struct Shot {
    std::string file, path, size;
  } shots[] = {{"web-matrix.png", "/", "1280,900"},
               {"web-matrix-phone.png", "/", "390,844"},
               {"web-explain-closed.png", "/target/closed", "1280,1000"}};
  for (const Shot& s : shots) {
    std::string file = artifacts + "/" + s.file;
    std::filesystem::remove(file);
    CommandResult r =
        Chromium(dir, {"--screenshot=" + file, "--window-size=" + s.size, "--hide-scrollbars"},
                 base + s.path);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    ASSERT_TRUE(std::filesystem::exists(file)) << r.err;
    EXPECT_GT(std::filesystem::file_size(file), 5000u);
    std::printf("screenshot: %s (%s at %s)\n", file.c_str(), s.path.c_str(), s.size.c_str());
  }
  auto ms = [](auto d) { return std::chrono::duration_cast<milliseconds>(d).count(); };
  std::printf("chromium: %lld ms for 5 loads; whole test %lld ms\n",
              static_cast<long long>(ms(std::chrono::steady_clock::now() - chrome_start)),
              static_cast<long long>(ms(std::chrono::steady_clock::now() - test_start)));
}

// A CA, a server certificate for 127.0.0.1, a reader's and a probe's client
// certificates.
bool MakeCertificates(const TempDir& dir, std::string* why) {
  auto run = [&](const std::vector<std::string>& argv) {
    CommandResult r = RunCommand(argv);
    if (r.exit_code != 0) *why = argv[0] + " " + argv[1] + ": " + r.err;
    return r.exit_code == 0;
  };
  auto sign = [&](const std::string& name, const std::string& cn, const std::string& ext) {
    if (!ext.empty()) WriteFile(dir.File(name + ".ext"), ext);
    std::vector<std::string> x509 = {"openssl",
                                     "x509",
                                     "-req",
                                     "-in",
                                     dir.File(name + ".csr"),
                                     "-CA",
                                     dir.File("ca.pem"),
                                     "-CAkey",
                                     dir.File("ca.key"),
                                     "-CAcreateserial",
                                     "-out",
                                     dir.File(name + ".pem"),
                                     "-days",
                                     "2"};
    if (!ext.empty()) x509.insert(x509.end(), {"-extfile", dir.File(name + ".ext")});
    return run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", dir.File(name + ".key"), "-out", dir.File(name + ".csr"), "-subj",
                "/CN=" + cn}) &&
           run(x509);
  };
  return run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-keyout", dir.File("ca.key"), "-out", dir.File("ca.pem"), "-days", "2",
              "-subj", "/CN=parallax-test-ca"}) &&
         sign("server", "localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\n") &&
         sign("reader", "alice", "subjectAltName=URI:parallax:role/reader\n") &&
         sign("revoked", "mallory", "subjectAltName=URI:parallax:role/reader\n") &&
         sign("probe", "p1", "");
}

TEST(WebPage, TlsClientCertificateRulesOfTheQueryService) {
  TempDir dir;
  std::string why;
  if (!MakeCertificates(dir, &why)) GTEST_SKIP() << "openssl unavailable: " << why;
  int web_port = FreePort();
  Cluster cluster(dir);
  cluster.Configure({{"closed", "127.0.0.1", ClosedPort()}}, "1s", "500ms",
                    "web_listen: 127.0.0.1:" + std::to_string(web_port) + "\ntls:\n  cert: " +
                        dir.File("server.pem") + "\n  key: " + dir.File("server.key") +
                        "\n  client_ca: " + dir.File("ca.pem") + "\nrevoked: [mallory]\n");
  cluster.StartCollector({});
  std::string url = "https://127.0.0.1:" + std::to_string(web_port) + "/";
  auto curl = [&](const std::string& who) {
    std::vector<std::string> argv = {"curl",       "-sS",
                                     "--max-time", "10",
                                     "--cacert",   dir.File("ca.pem"),
                                     "-w",         "\nHTTP %{http_code}\n"};
    if (!who.empty()) {
      argv.insert(argv.end(), {"--cert", dir.File(who + ".pem"), "--key", dir.File(who + ".key")});
    }
    argv.push_back(url);
    return RunCommand(argv, seconds(20));
  };
  CommandResult reader;
  ASSERT_TRUE(WaitFor(
      [&] {
        reader = curl("reader");
        return reader.exit_code == 0;
      },
      seconds(10)))
      << reader.err << cluster.collector()->log();
  EXPECT_NE(reader.out.find("HTTP 200"), std::string::npos) << reader.out;
  EXPECT_NE(reader.out.find("id=\"matrix\""), std::string::npos) << reader.out;
  EXPECT_NE(cluster.collector()->log().find("status page on https://"), std::string::npos);

  // No client certificate: the handshake refuses it (as the query service
  // refuses every call without one); no page is served.
  CommandResult none = curl("");
  EXPECT_NE(none.exit_code, 0) << none.out;
  EXPECT_EQ(none.out.find("matrix"), std::string::npos) << none.out;
  // A probe's certificate may not read; a revoked reader neither.
  CommandResult probe = curl("probe");
  EXPECT_NE(probe.out.find("HTTP 403"), std::string::npos) << probe.out << probe.err;
  EXPECT_NE(probe.out.find("may not call /parallax.v1.QueryService/Status"), std::string::npos)
      << probe.out;
  EXPECT_EQ(probe.out.find("id=\"matrix\""), std::string::npos);
  CommandResult revoked = curl("revoked");
  EXPECT_NE(revoked.out.find("HTTP 403"), std::string::npos) << revoked.out << revoked.err;
  EXPECT_NE(revoked.out.find("certificate revoked"), std::string::npos) << revoked.out;
  // Plain HTTP on the TLS port gets no page.
  CommandResult plain = RunCommand(
      {"curl", "-sS", "--max-time", "5", "http://127.0.0.1:" + std::to_string(web_port) + "/"},
      seconds(10));
  EXPECT_EQ(plain.out.find("matrix"), std::string::npos) << plain.out;
}

TEST(WebPage, PlaintextPageOnlyOnLoopback) {
  TempDir dir;
  Cluster cluster(dir);
  cluster.Configure({{"closed", "127.0.0.1", ClosedPort()}}, "1s", "500ms",
                    "web_listen: 0.0.0.0:" + std::to_string(FreePort()) + "\n");
  Process collector({CollectorBinary(), "--config", cluster.config_path(), "--insecure"},
                    dir.File("collector.log"));
  int code = collector.Wait(seconds(15));
  EXPECT_NE(code, 0) << collector.log();
  EXPECT_NE(code, -1000) << "still running:\n" << collector.log();
  EXPECT_NE(collector.log().find("web_listen \"0.0.0.0:"), std::string::npos) << collector.log();
}

}  // namespace
}  // namespace parallax::testing
