// The status page end to end: a real collector with web_listen, real probes
// on loopback checking a real sshd, a closed port, a silent port and a fake
// server whose answer carries HTML/script payloads; headless Chromium
// (Debian's `chromium`) loads the matrix and an explanation, the DOM it
// built is checked for the expected text and for the payload rendered as
// text only, and screenshots are saved as artifacts (paths printed).
// The "check now" box: Chromium driven over the DevTools protocol types a
// target and clicks (a real sshd: ok; a closed port: the failing verdict; the
// fake server's row button: its payload as text), the API's errors, the
// cross-origin refusal and the rate limit with curl.
// With TLS and client certificates, curl without a certificate (or with a
// probe's) is refused, with a reader's it is served; only an admin's may
// start a check.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
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

// A loopback server that answers every client with `answer` and closes.
class XssServer {
 public:
  explicit XssServer(const char* answer = kPayload) : answer_(answer) {
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
        (void)!write(c, answer_, std::strlen(answer_));
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
  const char* answer_;
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

// Headless Chromium driven over the DevTools protocol on a pipe
// (--remote-debugging-pipe: JSON messages ended by '\0', Chromium reads fd 3
// and writes fd 4), so the test types and clicks as a user does. In its own
// process group, killed and reaped by the destructor; every wait bounded.
class Browser {
 public:
  static std::unique_ptr<Browser> Start(const TempDir& dir) {
    std::unique_ptr<Browser> b(new Browser());
    int to[2], from[2];
    if (pipe(to) != 0 || pipe(from) != 0) return nullptr;
    std::vector<std::string> argv = {"chromium",
                                     "--headless",
                                     "--no-sandbox",
                                     "--disable-gpu",
                                     "--disable-dev-shm-usage",
                                     "--no-first-run",
                                     "--disable-extensions",
                                     "--disable-background-networking",
                                     "--hide-scrollbars",
                                     "--user-data-dir=" + dir.File("chromium-cdp-profile"),
                                     "--remote-debugging-pipe",
                                     "about:blank"};
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    std::string log = dir.File("chromium-cdp.log");
    b->pid_ = fork();
    if (b->pid_ == 0) {
      setpgid(0, 0);
      int in = fcntl(to[0], F_DUPFD, 10), out = fcntl(from[1], F_DUPFD, 10);
      dup2(in, 3);
      dup2(out, 4);
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      execvp(args[0], args.data());
      _exit(127);
    }
    setpgid(b->pid_, b->pid_);
    close(to[0]);
    close(from[1]);
    b->write_fd_ = to[1];
    b->read_fd_ = from[0];
    signal(SIGPIPE, SIG_IGN);
    return b;
  }
  ~Browser() {
    if (pid_ > 0) {
      Call("Browser.close", nlohmann::json::object(), /*page=*/false, seconds(3));
      close(write_fd_);
      close(read_fd_);
      kill(-pid_, SIGKILL);
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // One command (to the page's session unless `page` is false); its
  // "result", or {"error": ...} (also on timeout).
  nlohmann::json Call(const std::string& method, const nlohmann::json& params, bool page = true,
                      milliseconds timeout = seconds(15)) {
    nlohmann::json msg = {{"id", ++id_}, {"method", method}, {"params", params}};
    if (page && !session_.empty()) msg["sessionId"] = session_;
    std::string text = msg.dump() + '\0';
    if (write(write_fd_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      return {{"error", "write to chromium failed"}};
    }
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      size_t nul = buffer_.find('\0');
      if (nul == std::string::npos) {
        pollfd p{read_fd_, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        char buf[65536];
        ssize_t n = read(read_fd_, buf, sizeof(buf));
        if (n <= 0) return {{"error", "chromium closed the pipe"}};
        buffer_.append(buf, static_cast<size_t>(n));
        continue;
      }
      nlohmann::json answer =
          nlohmann::json::parse(buffer_.substr(0, nul), nullptr, /*allow_exceptions=*/false);
      buffer_.erase(0, nul + 1);
      if (!answer.is_object() || answer.value("id", -1) != id_) continue;  // events
      if (answer.contains("error")) return {{"error", answer["error"].dump()}};
      return answer["result"];
    }
    return {{"error", method + ": no answer in time"}};
  }

  // A new tab of `width` x `height` showing `url`.
  bool Open(const std::string& url, int width, int height) {
    nlohmann::json t = Call("Target.createTarget", {{"url", "about:blank"}}, false);
    if (!t.contains("targetId")) return false;
    nlohmann::json a =
        Call("Target.attachToTarget", {{"targetId", t["targetId"]}, {"flatten", true}}, false);
    if (!a.contains("sessionId")) return false;
    session_ = a["sessionId"];
    Call("Emulation.setDeviceMetricsOverride",
         {{"width", width}, {"height", height}, {"deviceScaleFactor", 1}, {"mobile", false}});
    return Call("Page.navigate", {{"url", url}}).contains("frameId");
  }
  // Runtime.evaluate: the value of `js` (of the promise it gives, with
  // `await`; null if it threw).
  nlohmann::json Eval(const std::string& js, bool await = false) {
    nlohmann::json r = Call("Runtime.evaluate",
                            {{"expression", js}, {"returnByValue", true}, {"awaitPromise", await}});
    if (!r.contains("result") || r.contains("exceptionDetails")) return nullptr;
    return r["result"].value("value", nlohmann::json());
  }
  // Until `js` is truthy, at most `timeout`.
  bool WaitFor(const std::string& js, milliseconds timeout) {
    return parallax::testing::WaitFor(
        [&] {
          nlohmann::json v = Eval("!!(" + js + ")");
          return v.is_boolean() && v.get<bool>();
        },
        timeout);
  }
  // Focus the element and type `text` (Input.insertText: as a keyboard would).
  bool Type(const std::string& id, const std::string& text) {
    Eval("(function(){var e=document.getElementById('" + id + "'); e.value=''; e.focus();})()");
    return !Call("Input.insertText", {{"text", text}}).contains("error");
  }
  // A left click in the middle of the element `selector` picks.
  bool Click(const std::string& selector) {
    nlohmann::json xy = Eval("(function(){var e=document.querySelector('" + selector +
                             "'); e.scrollIntoView({block:'center'});"
                             "var r=e.getBoundingClientRect();"
                             "return [r.x+r.width/2, r.y+r.height/2];})()");
    if (!xy.is_array()) return false;
    for (const char* type : {"mousePressed", "mouseReleased"}) {
      nlohmann::json r =
          Call("Input.dispatchMouseEvent",
               {{"type", type}, {"x", xy[0]}, {"y", xy[1]}, {"button", "left"}, {"clickCount", 1}});
      if (r.contains("error")) return false;
    }
    return true;
  }
  std::string Dom() {
    nlohmann::json v = Eval("document.documentElement.outerHTML");
    return v.is_string() ? v.get<std::string>() : "";
  }
  bool Screenshot(const std::string& file) {
    nlohmann::json r = Call("Page.captureScreenshot", {{"format", "png"}});
    if (!r.contains("data")) return false;
    std::ofstream(file, std::ios::binary) << Base64Decode(r["data"].get<std::string>());
    return std::filesystem::exists(file);
  }

 private:
  static std::string Base64Decode(const std::string& in) {
    std::string out;
    int value = 0, bits = 0;
    for (char c : in) {
      int d = c >= 'A' && c <= 'Z'   ? c - 'A'
              : c >= 'a' && c <= 'z' ? c - 'a' + 26
              : c >= '0' && c <= '9' ? c - '0' + 52
              : c == '+'             ? 62
              : c == '/'             ? 63
                                     : -1;
      if (d < 0) continue;
      value = (value << 6) | d;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out += static_cast<char>((value >> bits) & 0xff);
      }
    }
    return out;
  }

  pid_t pid_ = -1;
  int write_fd_ = -1, read_fd_ = -1;
  int id_ = 0;
  std::string session_;
  std::string buffer_;
};

// curl against the page: the body (with "\nHTTP <code>" appended).
CommandResult Curl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"curl", "-sS", "--max-time", "10", "-w", "\nHTTP %{http_code}"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, seconds(20));
}
// The JSON before "\nHTTP ...".
nlohmann::json CurlJson(const CommandResult& r) {
  return nlohmann::json::parse(r.out.substr(0, r.out.rfind("\nHTTP ")), nullptr, false);
}

// A check in the box, as a user runs it: the verdict's cause once it shows.
std::string RunCheckInBox(Browser* b, const std::function<bool()>& start) {
  b->Eval("document.getElementById('check-verdict').removeAttribute('data-cause')");
  if (!start()) return "(could not type or click)";
  if (!b->WaitFor("document.getElementById('check-verdict').getAttribute('data-cause')",
                  seconds(15))) {
    nlohmann::json status = b->Eval("document.getElementById('check-status').textContent");
    return "(no verdict: " + status.dump() + ")";
  }
  return b->Eval("document.getElementById('check-verdict').getAttribute('data-cause')")
      .get<std::string>();
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
  cluster.Configure({{"sshd", "127.0.0.1", sshd->port()},
                     {"closed", "127.0.0.1", closed},
                     {"silent", "127.0.0.1", silent.port()},
                     {"evil", "127.0.0.1", xss.port()}},
                    "1s", "500ms",
                    "web_listen: 127.0.0.1:" + std::to_string(web_port) +
                        "\ndiagnosis:\n  hysteresis: 1\ncheck:\n  per_caller_per_minute: 6\n  "
                        "max_concurrent: 10\n");
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
  std::printf("chromium: %lld ms for 5 loads\n",
              static_cast<long long>(ms(std::chrono::steady_clock::now() - chrome_start)));

  // The "check now" box, driven as a user drives it: type, click, wait for
  // the verdict in the DOM, screenshot.
  auto box_start = std::chrono::steady_clock::now();
  {
    std::unique_ptr<Browser> b = Browser::Start(dir);
    ASSERT_NE(b, nullptr);
    ASSERT_TRUE(b->Open(base + "/", 1280, 1100));
    ASSERT_TRUE(b->WaitFor(
        "document.getElementById('check-target') && document.body.getAttribute('data-refreshed')",
        seconds(15)))
        << b->Dom();
    auto type_and_click = [&](const std::string& target) {
      return [&b, target] { return b->Type("check-target", target) && b->Click("#check-run"); };
    };
    // A real sshd: ok, a row per probe as they answered.
    std::string ok_target = "127.0.0.1:" + std::to_string(sshd->port());
    EXPECT_EQ(RunCheckInBox(b.get(), type_and_click(ok_target)), "ok") << b->Dom();
    std::string dom = b->Dom();
    for (const std::string& text : std::vector<std::string>{
             "Done in ", "Checking " + ok_target + " from 2 probes (p1, p2)", "SSH-2.0-OpenSSH",
             "lo-a", "lo-b", "SSH answers from", "parallax check</code> prints it"}) {
      EXPECT_NE(dom.find(text), std::string::npos) << "missing \"" << text << "\"\n" << dom;
    }
    EXPECT_EQ(b->Eval("document.querySelectorAll('#check-results tbody tr').length"), 2);
    EXPECT_EQ(Count(dom, ">check now</button>"), 4u) << "a button per target row\n" << dom;
    std::string shot = artifacts + "/web-check-ok.png";
    std::filesystem::remove(shot);
    EXPECT_TRUE(b->Screenshot(shot));
    std::printf("screenshot: %s (check now: %s)\n", shot.c_str(), ok_target.c_str());

    // A closed port: the failing verdict, in the same box.
    std::string closed_target = "127.0.0.1:" + std::to_string(closed);
    EXPECT_EQ(RunCheckInBox(b.get(), type_and_click(closed_target)), "ssh_refused") << b->Dom();
    dom = b->Dom();
    EXPECT_NE(dom.find("Checking " + closed_target), std::string::npos) << dom;
    EXPECT_NE(dom.find(">refused<"), std::string::npos) << dom;
    EXPECT_NE(dom.find("What to do"), std::string::npos) << dom;  // the CLI's text
    shot = artifacts + "/web-check-closed.png";
    std::filesystem::remove(shot);
    EXPECT_TRUE(b->Screenshot(shot));
    std::printf("screenshot: %s (check now: %s)\n", shot.c_str(), closed_target.c_str());

    // The fake server's row button: its payload comes back as text.
    std::string evil_target = "127.0.0.1:" + std::to_string(xss.port());
    EXPECT_EQ(
        RunCheckInBox(
            b.get(),
            [&] { return b->Click("button.check-row[data-target=\"" + evil_target + "\"]"); }),
        "not_ssh")
        << b->Dom();
    EXPECT_EQ(b->Eval("document.getElementById('check-target').value"), evil_target);
    dom = b->Dom();
    EXPECT_NE(dom.find("&lt;img src=x onerror=document.title='XSS'&gt;"), std::string::npos) << dom;
    ExpectNoPayloadRan(dom, "check now");

    // Another site's script (a page of another loopback server, no CSP)
    // cannot start a check: a form-like POST is sent (the browser reports an
    // opaque answer: the request went out) but the server refuses it; the
    // JSON POST needs a CORS preflight, which is refused. The collector
    // never hears of the host either asked for.
    XssServer attacker(
        "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<!doctype html><title>other "
        "site</title><p>another origin</p>");
    ASSERT_TRUE(b->Open("http://localhost:" + std::to_string(attacker.port()) + "/", 800, 600));
    ASSERT_TRUE(b->WaitFor("document.title === 'other site'", seconds(15)));
    const std::string cross = "'" + base + "/api/check'";
    nlohmann::json simple = b->Eval("fetch(" + cross +
                                        ", {method: 'POST', mode: 'no-cors', headers: "
                                        "{'Content-Type': 'text/plain'}, body: '{\"target\": "
                                        "\"198.51.100.77\"}'}).then(r => r.type, e => e.name)",
                                    /*await=*/true);
    EXPECT_EQ(simple, "opaque");  // sent, its answer unreadable
    nlohmann::json preflighted =
        b->Eval("fetch(" + cross +
                    ", {method: 'POST', headers: {'Content-Type': 'application/json'}, body: "
                    "'{\"target\": \"198.51.100.77\"}'}).then(r => 'answered ' + r.status, e => "
                    "'refused: ' + e.name)",
                /*await=*/true);
    EXPECT_EQ(preflighted, "refused: TypeError");
    EXPECT_EQ(cluster.collector()->log().find("198.51.100.77"), std::string::npos)
        << cluster.collector()->log();
  }
  std::printf("check now box: %lld ms for 3 checks in chromium\n",
              static_cast<long long>(ms(std::chrono::steady_clock::now() - box_start)));

  // The routes with curl (no Origin: not a browser), on the real collector.
  const std::string api = base + "/api/check";
  const std::vector<std::string> json_type = {"-H", "Content-Type: application/json"};
  auto post = [&](const std::string& body, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = json_type;
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {"-d", body, api});
    return Curl(args);
  };
  CommandResult r = post("{\"target\":\"127.0.0.1:" + std::to_string(sshd->port()) + "\"}");
  ASSERT_NE(r.out.find("HTTP 202"), std::string::npos) << r.out << r.err;
  std::string id = CurlJson(r)["id"];
  nlohmann::json progress;
  ASSERT_TRUE(WaitFor(
      [&] {
        progress = CurlJson(Curl({api + "/" + id}));
        return progress.is_object() && progress.value("done", false);
      },
      seconds(10)))
      << progress.dump(2);
  EXPECT_EQ(progress["verdict"]["cause"], "ok") << progress.dump(2);
  EXPECT_EQ(progress["results"].size(), 2u) << progress.dump(2);
  EXPECT_EQ(progress["unanswered"].size(), 0u);
  r = post("{\"target\":\"127.0.0.1\"}", {"-H", "Origin: http://evil.example"});
  EXPECT_NE(r.out.find("HTTP 403"), std::string::npos) << r.out;
  EXPECT_NE(CurlJson(r)["error"].get<std::string>().find("cross-origin request refused"),
            std::string::npos)
      << r.out;
  r = Curl({"-d", "target=127.0.0.1", api});  // a form's type
  EXPECT_NE(r.out.find("HTTP 415"), std::string::npos) << r.out;
  r = post("{\"target\":\"a b\"}");
  EXPECT_NE(r.out.find("HTTP 400"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("target \\\"a b\\\""), std::string::npos) << r.out;
  r = post("{\"target\":\"127.0.0.1\",\"timeout_s\":600}");
  EXPECT_NE(r.out.find("HTTP 400"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("check.max_timeout"), std::string::npos) << r.out;
  r = Curl({api + "/no-such-check"});
  EXPECT_NE(r.out.find("HTTP 404"), std::string::npos) << r.out;
  // check.per_caller_per_minute 6: the browser's and curl's checks count
  // for this address alike; soon one is refused with 429.
  std::string refused;
  for (int i = 0; i < 8 && refused.empty(); ++i) {
    r = post("{\"target\":\"127.0.0.1:" + std::to_string(closed) + "\"}");
    if (r.out.find("HTTP 429") != std::string::npos) refused = r.out;
  }
  EXPECT_NE(refused.find("per_caller_per_minute"), std::string::npos) << r.out;
  std::printf("whole test %lld ms\n",
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
         sign("admin", "root", "subjectAltName=URI:parallax:role/admin\n") &&
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
  // The "check now" box: a reader sees it disabled and may not start one;
  // an admin may (and hears that no probe is connected).
  EXPECT_NE(reader.out.find("<button id=\"check-run\" type=\"submit\" disabled>"),
            std::string::npos)
      << reader.out;
  EXPECT_NE(reader.out.find("checks need an admin&#39;s certificate"), std::string::npos);
  auto post = [&](const std::string& who) {
    return RunCommand({"curl", "-sS", "--max-time", "10", "--cacert", dir.File("ca.pem"), "--cert",
                       dir.File(who + ".pem"), "--key", dir.File(who + ".key"), "-w",
                       "\nHTTP %{http_code}\n", "-H", "Content-Type: application/json", "-d",
                       "{\"target\":\"127.0.0.1\"}", url + "api/check"},
                      seconds(20));
  };
  CommandResult check = post("reader");
  EXPECT_NE(check.out.find("HTTP 403"), std::string::npos) << check.out << check.err;
  EXPECT_NE(check.out.find("admin certificates only"), std::string::npos) << check.out;
  check = post("admin");
  EXPECT_NE(check.out.find("HTTP 503"), std::string::npos) << check.out << check.err;
  EXPECT_NE(check.out.find("no connected, healthy probe"), std::string::npos) << check.out;
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
