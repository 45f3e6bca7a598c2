// The status page in-process: HTML rendering and escaping of every string a
// server or a probe sent, the routes, and the HTTP server's bounds on real
// loopback sockets (header limit, connection cap, idle timeout).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "collector/web/assets.h"
#include "collector/web/html.h"
#include "collector/web/web_server.h"

namespace parallax::collector::web {
namespace {

constexpr char kXss[] = "SSH-2.0-<img src=x onerror=document.title='XSS'>";
constexpr int64_t kNow = 1764590000000;

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

v1::StatusResponse Status() {
  v1::StatusResponse s;
  s.set_now_unix_ms(kNow);
  v1::TargetStatus* t = s.add_targets();
  t->set_name("web-1");
  t->set_host("192.0.2.7");
  t->set_port(22);
  t->set_cause(v1::CAUSE_FIREWALL_BLOCK);
  t->set_summary("summary <b>bold</b> & \"quoted\"");
  v1::ProbeStatus* p = t->add_probes();
  p->set_probe("fra1");
  p->set_connected(true);
  p->set_outcome(v1::OUTCOME_OK);
  p->set_connect_ms(1.25);
  p->set_banner(kXss);
  p = t->add_probes();
  p->set_probe("<script>alert(1)</script>");
  p->set_outcome(v1::OUTCOME_TIMEOUT);
  p->set_detail("detail \x1b[2J esc and \u202e bidi");
  v1::TargetStatus* u = s.add_targets();
  u->set_name("db:2");
  u->set_host("db.example");
  u->set_port(2222);
  u->set_cause(v1::CAUSE_OK);
  v1::ProbeInfo* i = s.add_probes();
  i->set_name("fra1");
  i->set_connected(true);
  i->set_version("1.0 <i>");
  i->set_clock_measured(true);
  i->set_clock_offset_s(-600);
  (*i->mutable_labels())["network"] = "<b>as1</b>";
  i = s.add_probes();
  i->set_name("<script>alert(1)</script>");
  i->set_connected(false);
  i->set_last_seen_age_s(30);
  return s;
}

v1::IncidentsResponse Incidents() {
  v1::IncidentsResponse r;
  v1::Incident* i = r.add_incidents();
  i->set_id(1);
  i->set_target("web-1");
  i->set_cause(v1::CAUSE_FIREWALL_BLOCK);
  i->set_opened_unix_ms(kNow - 192000);
  i->set_summary("<img src=x onerror=alert(2)>");
  return r;
}

v1::ExplainResponse Explain() {
  v1::ExplainResponse r;
  v1::Verdict* v = r.add_verdicts();
  v->set_target("web-1");
  v->set_host("192.0.2.7");
  v->set_port(22);
  v->set_cause(v1::CAUSE_FIREWALL_BLOCK);
  v->set_confidence(0.9);
  v->set_summary("SSH is blocked <b>here</b>");
  v->set_since_unix_ms(kNow - 60000);
  v1::EvidenceItem* e = v->add_evidence();
  e->set_probe("fra1");
  e->set_network("as1");
  e->set_outcome(v1::OUTCOME_TIMEOUT);
  e->set_role("agrees");
  e->set_detail(kXss);
  e->add_pre_banner("<svg onload=alert(3)>");
  v1::TcpPath* path = e->mutable_path();
  path->set_ended("silent after hop 2");
  path->set_last_answering_ttl(2);
  v1::TcpPathHop* h = path->add_hops();
  h->set_ttl(1);
  h->set_sender("10.0.0.1");
  h->set_rtt_us(1500);
  h->set_answer("time exceeded");
  h = path->add_hops();
  h->set_ttl(2);
  h->set_sender("<b>10.0.0.2</b>");
  h->set_answer("time exceeded");
  h = path->add_hops();
  h->set_ttl(3);
  v->add_remediation("Open port 22 <now>");
  v1::ProbeHealth* ph = r.add_probes();
  ph->set_probe("fra1");
  ph->set_healthy(true);
  ph = r.add_probes();
  ph->set_probe("<script>alert(1)</script>");
  ph->set_healthy(false);
  ph->set_reason("disconnected <since>");
  return r;
}

// No markup from the data: the only tags are ours.
void ExpectInert(const std::string& html) {
  EXPECT_EQ(Count(html, "<script"), 1u) << html;  // ours: /static/app.js
  EXPECT_EQ(Count(html, "<img"), 0u) << html;
  EXPECT_EQ(Count(html, "<svg"), 0u) << html;
  EXPECT_EQ(Count(html, "<b>"), 0u) << html;
  EXPECT_EQ(Count(html, "<i>"), 0u) << html;
  EXPECT_EQ(html.find('\x1b'), std::string::npos);
  EXPECT_EQ(html.find("\u202e"), std::string::npos);
}

TEST(HtmlEscape, EscapesTheFiveCharacters) {
  EXPECT_EQ(HtmlEscape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(HtmlEscape("plain text"), "plain text");
  EXPECT_EQ(HtmlEscape(kXss), "SSH-2.0-&lt;img src=x onerror=document.title=&#39;XSS&#39;&gt;");
}

TEST(PathCoding, RoundTripsAndRejectsBadEscapes) {
  EXPECT_EQ(PathEncode("db:2"), "db%3A2");
  EXPECT_EQ(PathEncode("a/../b\"<"), "a%2F..%2Fb%22%3C");
  std::string out;
  ASSERT_TRUE(PathDecode("db%3A2", &out));
  EXPECT_EQ(out, "db:2");
  ASSERT_TRUE(PathDecode(PathEncode("x y<z>"), &out));
  EXPECT_EQ(out, "x y<z>");
  EXPECT_FALSE(PathDecode("bad%", &out));
  EXPECT_FALSE(PathDecode("bad%4", &out));
  EXPECT_FALSE(PathDecode("bad%zz", &out));
}

TEST(IndexPage, MatrixIncidentsAndProbesWithEveryStringEscaped) {
  std::string html = IndexPage(Status(), Incidents(), Explain(), kNow);
  ExpectInert(html);
  EXPECT_NE(html.find("<meta name=\"viewport\""), std::string::npos);
  // The matrix: a row per target linking to its explanation, a column per probe.
  EXPECT_NE(html.find("<a href=\"/target/web-1\">web-1</a>"), std::string::npos) << html;
  EXPECT_NE(html.find("<a href=\"/target/db%3A2\">db:2</a>"), std::string::npos) << html;
  EXPECT_NE(html.find("<th>&lt;script&gt;alert(1)&lt;/script&gt;</th>"), std::string::npos);
  EXPECT_NE(html.find("class=\"cause cause-firewall_block bad\""), std::string::npos) << html;
  EXPECT_NE(html.find("class=\"cause cause-ok good\""), std::string::npos) << html;
  EXPECT_NE(html.find(">ok 1.2ms</td>"), std::string::npos) << html;
  EXPECT_NE(html.find("outcome outcome-timeout bad"), std::string::npos);
  // The banner as text in the cell's title.
  EXPECT_NE(html.find("SSH-2.0-&lt;img src=x onerror=document.title=&#39;XSS&#39;&gt;"),
            std::string::npos);
  EXPECT_NE(html.find("summary &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;"),
            std::string::npos);
  // Controls and bidi as visible escapes.
  EXPECT_NE(html.find("detail \\x1b[2J esc and \\u202e bidi"), std::string::npos) << html;
  // Incidents with durations.
  EXPECT_NE(html.find("<td>3m12s</td>"), std::string::npos) << html;
  EXPECT_NE(html.find("&lt;img src=x onerror=alert(2)&gt;"), std::string::npos);
  // Probes with health and clock offset (and the CLI's wording for it).
  EXPECT_NE(html.find("-600.000 s"), std::string::npos) << html;
  EXPECT_NE(html.find("600.0 s behind the collector"), std::string::npos) << html;
  EXPECT_NE(html.find("unhealthy: disconnected &lt;since&gt;"), std::string::npos) << html;
  EXPECT_NE(html.find("network=&lt;b&gt;as1&lt;/b&gt;"), std::string::npos) << html;
}

TEST(TargetPage, EvidencePathsAndRemediationEscaped) {
  std::string html = TargetPage(Explain(), kNow);
  ExpectInert(html);
  EXPECT_NE(html.find("firewall_block"), std::string::npos);
  EXPECT_NE(html.find("confidence 90%"), std::string::npos) << html;
  EXPECT_NE(html.find("(1m0s)"), std::string::npos) << html;
  EXPECT_NE(html.find("SSH is blocked &lt;b&gt;here&lt;/b&gt;"), std::string::npos);
  EXPECT_NE(html.find("<td>fra1</td><td>as1</td>"), std::string::npos) << html;
  EXPECT_NE(html.find("&lt;svg onload=alert(3)&gt;"), std::string::npos) << html;
  EXPECT_NE(html.find("<h3>Path from fra1</h3>"), std::string::npos) << html;
  EXPECT_NE(html.find("<td>10.0.0.1</td><td>1.5 ms</td><td>time exceeded</td>"), std::string::npos)
      << html;
  EXPECT_NE(html.find("<td>*</td><td>-</td>"), std::string::npos) << html;
  EXPECT_NE(html.find("<li>Open port 22 &lt;now&gt;</li>"), std::string::npos) << html;
  EXPECT_NE(html.find("Probe problems (excluded from verdicts)"), std::string::npos);
  // The very text of `parallax explain`, escaped.
  EXPECT_NE(html.find("Evidence (one line per vantage point):"), std::string::npos) << html;
  EXPECT_NE(html.find("What to do:"), std::string::npos) << html;
}

TEST(ErrorPage, EscapesTheMessage) {
  std::string html = ErrorPage(404, "Not Found", "no target named \"<script>x</script>\"");
  EXPECT_EQ(Count(html, "<script"), 0u);
  EXPECT_NE(html.find("&lt;script&gt;"), std::string::npos);
}

TEST(StatusDocument, CarriesTheCliJsonPlusLinksAndClasses) {
  nlohmann::json doc = StatusDocument(Status(), Incidents(), Explain(), kNow);
  EXPECT_EQ(doc["now_unix_ms"], kNow);
  const nlohmann::json& t = doc["status"]["targets"][1];
  EXPECT_EQ(t["name"], "db:2");
  EXPECT_EQ(t["href"], "/target/db%3A2");
  EXPECT_EQ(t["class"], "cause-ok good");
  // The banner stays the text it was: the script inserts it with textContent.
  EXPECT_EQ(doc["status"]["targets"][0]["probes"][0]["banner"], kXss);
  EXPECT_EQ(doc["status"]["targets"][0]["probes"][1]["detail"],
            "detail \\x1b[2J esc and \\u202e bidi");
  EXPECT_EQ(doc["incidents"][0]["duration"], "3m12s");
  EXPECT_EQ(doc["health"]["<script>alert(1)</script>"]["healthy"], false);
  nlohmann::json target = TargetDocument(Explain(), kNow);
  EXPECT_EQ(target["verdicts"][0]["cause"], "firewall_block");
  EXPECT_EQ(target["verdicts"][0]["evidence"][0]["detail"], kXss);
}

TEST(Assets, ScriptInsertsTextOnly) {
  std::string js(kAppJs);
  EXPECT_EQ(js.find("innerHTML"), std::string::npos);
  EXPECT_EQ(js.find("outerHTML"), std::string::npos);
  EXPECT_EQ(js.find("insertAdjacentHTML"), std::string::npos);
  EXPECT_EQ(js.find("document.write"), std::string::npos);
  EXPECT_NE(js.find("textContent"), std::string::npos);
  EXPECT_EQ(std::string(kStyleCss).find("@import"), std::string::npos);  // nothing remote
}

WebSource FakeSource() {
  WebSource s;
  s.status = [](v1::StatusResponse* r) {
    *r = Status();
    return parallax::Status::Ok();
  };
  s.incidents = [](v1::IncidentsResponse* r) {
    *r = Incidents();
    return parallax::Status::Ok();
  };
  s.explain = [](const std::string& target, v1::ExplainResponse* r) {
    if (!target.empty() && target != "web-1") {
      return parallax::Status::NotFound("no target named \"" + target + "\"");
    }
    *r = Explain();
    return parallax::Status::Ok();
  };
  s.now_ms = [] { return kNow; };
  return s;
}

TEST(HandleRequest, Routes) {
  WebSource s = FakeSource();
  WebResponse r = HandleRequest(s, "GET", "/");
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("id=\"matrix\""), std::string::npos);
  r = HandleRequest(s, "GET", "/?x=1");
  EXPECT_EQ(r.code, 200);
  r = HandleRequest(s, "GET", "/target/web-1");
  EXPECT_EQ(r.code, 200);
  EXPECT_NE(r.body.find("id=\"evidence\""), std::string::npos);
  r = HandleRequest(s, "GET", "/target/%3Cscript%3E");
  EXPECT_EQ(r.code, 404);
  EXPECT_EQ(Count(r.body, "<script"), 0u) << r.body;
  EXPECT_NE(r.body.find("no target named &quot;&lt;script&gt;&quot;"), std::string::npos);
  EXPECT_EQ(HandleRequest(s, "GET", "/target/").code, 400);
  EXPECT_EQ(HandleRequest(s, "GET", "/target/%zz").code, 400);
  r = HandleRequest(s, "GET", "/api/status");
  EXPECT_EQ(r.content_type, "application/json");
  nlohmann::json doc = nlohmann::json::parse(r.body);
  EXPECT_EQ(doc["status"]["targets"][0]["name"], "web-1");
  r = HandleRequest(s, "GET", "/api/target/web-1");
  EXPECT_EQ(nlohmann::json::parse(r.body)["verdicts"][0]["target"], "web-1");
  EXPECT_EQ(HandleRequest(s, "GET", "/api/target/nope").code, 404);
  EXPECT_EQ(HandleRequest(s, "GET", "/static/app.js").body, std::string(kAppJs));
  EXPECT_EQ(HandleRequest(s, "GET", "/static/style.css").content_type, "text/css; charset=utf-8");
  EXPECT_EQ(HandleRequest(s, "GET", "/nope").code, 404);
  EXPECT_EQ(HandleRequest(s, "POST", "/").code, 405);
  EXPECT_EQ(HandleRequest(s, "HEAD", "/").code, 200);
  // The store failing: 503 with the reason.
  s.incidents = [](v1::IncidentsResponse*) { return parallax::Status::IoError("disk gone"); };
  r = HandleRequest(s, "GET", "/");
  EXPECT_EQ(r.code, 503);
  EXPECT_NE(r.body.find("disk gone"), std::string::npos);
}

// A loopback client: connect, send, read until EOF or `timeout`.
int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Reads until EOF; false if `timeout` passes first.
bool ReadToEof(int fd, std::chrono::milliseconds timeout, std::string* out) {
  auto end = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return true;
    out->append(buf, static_cast<size_t>(n));
  }
  return false;
}

std::unique_ptr<WebServer> StartServer(int max_connections, std::chrono::milliseconds timeout) {
  WebOptions o;
  o.listen = "127.0.0.1:0";
  o.max_connections = max_connections;
  o.timeout = timeout;
  std::unique_ptr<WebServer> server;
  parallax::Status st = WebServer::Start(o, FakeSource(), &server);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return server;
}

TEST(WebServer, ServesPagesWithSecurityHeaders) {
  auto server = StartServer(8, std::chrono::seconds(5));
  ASSERT_NE(server, nullptr);
  int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  std::string req = "GET /target/web-1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string resp;
  EXPECT_TRUE(ReadToEof(fd, std::chrono::seconds(5), &resp));
  close(fd);
  EXPECT_EQ(resp.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << resp;
  EXPECT_NE(resp.find("Content-Security-Policy: default-src 'none'; script-src 'self'"),
            std::string::npos)
      << resp;
  EXPECT_NE(resp.find("X-Content-Type-Options: nosniff"), std::string::npos);
  EXPECT_NE(resp.find("Path from fra1"), std::string::npos);
}

TEST(WebServer, RefusesHugeHeadersAndBodies) {
  auto server = StartServer(8, std::chrono::seconds(5));
  ASSERT_NE(server, nullptr);
  int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  std::string req = "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  std::string resp;
  EXPECT_TRUE(ReadToEof(fd, std::chrono::seconds(5), &resp));
  close(fd);
  EXPECT_EQ(resp.find("200 OK"), std::string::npos) << resp.substr(0, 200);
  fd = Connect(server->port());
  req = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'b');
  (void)!write(fd, req.data(), req.size());
  resp.clear();
  EXPECT_TRUE(ReadToEof(fd, std::chrono::seconds(5), &resp));
  close(fd);
  EXPECT_EQ(resp.find("200 OK"), std::string::npos) << resp.substr(0, 200);
}

TEST(WebServer, IdleConnectionsTimeOutAndTheCapHolds) {
  auto server = StartServer(2, std::chrono::milliseconds(800));
  ASSERT_NE(server, nullptr);
  // Two idle connections take the cap; a third is closed at once.
  int a = Connect(server->port()), b = Connect(server->port());
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  int c = Connect(server->port());
  ASSERT_GE(c, 0);
  std::string resp;
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(ReadToEof(c, std::chrono::milliseconds(500), &resp)) << "not closed at the cap";
  EXPECT_EQ(resp, "");
  close(c);
  // The idle ones are closed after the timeout (bounded wait, not a timing assertion).
  EXPECT_TRUE(ReadToEof(a, std::chrono::seconds(5), &resp));
  EXPECT_TRUE(ReadToEof(b, std::chrono::seconds(5), &resp));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
  close(a);
  close(b);
  // Then a new one is served.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  int d = Connect(server->port());
  std::string req = "GET /static/style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  (void)!write(d, req.data(), req.size());
  resp.clear();
  EXPECT_TRUE(ReadToEof(d, std::chrono::seconds(5), &resp));
  close(d);
  EXPECT_NE(resp.find("200 OK"), std::string::npos) << resp;
}

TEST(WebServer, StartFailsWithTheFieldNamed) {
  WebOptions o;
  o.listen = "127.0.0.1:0";
  o.tls_cert = "/nonexistent/server.pem";
  o.tls_key = "/nonexistent/server.key";
  std::unique_ptr<WebServer> server;
  parallax::Status st = WebServer::Start(o, FakeSource(), &server);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("tls.cert \"/nonexistent/server.pem\""), std::string::npos)
      << st.message();
  auto first = StartServer(2, std::chrono::seconds(1));
  ASSERT_NE(first, nullptr);
  o = {};
  o.listen = "127.0.0.1:" + std::to_string(first->port());
  st = WebServer::Start(o, FakeSource(), &server);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("web_listen \"127.0.0.1:"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace parallax::collector::web
