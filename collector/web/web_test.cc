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
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "collector/web/assets.h"
#include "collector/web/html.h"
#include "collector/web/web_checks.h"
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

// AdHocChecks' front as WebChecks sees it: records the requests, refuses
// when told to, and lets the test deliver the probes' events.
struct FakeAdHoc {
  std::mutex mu;
  std::vector<AdHocRequest> requests;
  std::vector<AdHocCallbacks> callbacks;
  AdHocRefusal refuse = AdHocRefusal::kNone;
  std::string refuse_message;

  WebChecks::Starter Starter() {
    return [this](const AdHocRequest& r, AdHocCallbacks cb, AdHocStarted* started,
                  std::string* message) {
      std::lock_guard<std::mutex> lock(mu);
      if (refuse != AdHocRefusal::kNone) {
        *message = refuse_message;
        return refuse;
      }
      requests.push_back(r);
      callbacks.push_back(std::move(cb));
      started->id = "c-" + std::to_string(requests.size());
      started->host = r.host;
      started->port = r.port == 0 ? 22 : r.port;
      started->timeout = r.timeout.count() == 0 ? std::chrono::milliseconds(5000) : r.timeout;
      started->target = AdHocTargetName(r.host, started->port);
      started->probes = {"p1", "p2"};
      v1::ProbeHealth& h = started->not_asked.emplace_back();
      h.set_probe("p3 <b>");
      h.set_reason("not connected");
      return AdHocRefusal::kNone;
    };
  }
  void Result(size_t i, const std::string& probe, v1::Outcome outcome, const std::string& banner) {
    AdHocProbeResult r;
    r.probe = probe;
    r.labels = {{"network", "net-" + probe}};
    r.result.set_outcome(outcome);
    r.result.set_connect_us(1500);
    r.result.set_identification(banner);
    r.elapsed_ms = 20;
    callbacks.at(i).on_result(r);
  }
  void Done(size_t i, v1::Cause cause, const std::string& summary) {
    AdHocDone d;
    d.verdict.set_target("t");
    d.verdict.set_host(requests.at(i).host);
    d.verdict.set_port(22);
    d.verdict.set_cause(cause);
    d.verdict.set_confidence(0.8);
    d.verdict.set_summary(summary);
    d.verdict.add_remediation("Look <here>");
    d.unanswered = {"p2"};
    d.elapsed_ms = 5700;
    callbacks.at(i).on_done(d);
  }
};

int64_t fake_now = kNow;

TEST(WebChecks, StartsWithTheFieldsAndNamesBadOnes) {
  FakeAdHoc fake;
  WebChecks checks(fake.Starter(), [] { return fake_now; });
  WebCheckReply r = checks.Start("admin:alice", R"({"target":"web1.example:2222","timeout_s":2.5,
                                                    "probes":"network=isp-a"})");
  ASSERT_EQ(r.code, 202) << r.doc.dump();
  EXPECT_EQ(r.doc["id"], "c-1");
  ASSERT_EQ(fake.requests.size(), 1u);
  EXPECT_EQ(fake.requests[0].host, "web1.example");
  EXPECT_EQ(fake.requests[0].port, 2222u);
  EXPECT_EQ(fake.requests[0].timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(fake.requests[0].probes, "network=isp-a");
  EXPECT_EQ(fake.requests[0].caller, "admin:alice");  // the rate limit's identity
  r = checks.Start("x", R"({"target":"[2001:db8::1]:22"})");
  ASSERT_EQ(r.code, 202) << r.doc.dump();
  EXPECT_EQ(fake.requests[1].host, "2001:db8::1");
  r = checks.Start("x", R"({"target":"2001:db8::1","port":2200})");
  ASSERT_EQ(r.code, 202) << r.doc.dump();
  EXPECT_EQ(fake.requests[2].host, "2001:db8::1");
  EXPECT_EQ(fake.requests[2].port, 2200u);

  struct Bad {
    const char* body;
    const char* message;
  } bad[] = {
      {"not json", "must be a JSON object"},
      {"[1]", "must be a JSON object"},
      {"{}", "target: a string HOST[:PORT] is needed"},
      {R"({"target":7})", "target: a string"},
      {R"({"target":"a b"})", "target \"a b\": host \"a b\" is neither a DNS name"},
      {R"({"target":"<script>:22"})", "target \"<script>:22\": host \"<script>\""},
      {R"({"target":"h:99999"})", "port \"99999\" is not in 1..65535"},
      {R"({"target":"h:"})", "no port after ':'"},
      {R"({"target":"[::1"})", "no ']'"},
      {R"({"target":"h","port":0})", "port 0 is not an integer in 1..65535"},
      {R"({"target":"h","port":"22"})", "port \"22\" is not an integer"},
      {R"({"target":"h:22","port":23})", "port 23 differs from the port in target \"h:22\""},
      {R"({"target":"h","timeout_s":-1})", "timeout_s -1 is not a number of seconds"},
      {R"({"target":"h","timeout_s":"5"})", "timeout_s \"5\" is not"},
      {R"({"target":"h","probes":3})", "probes 3 is not a string"},
      {R"({"target":"h","hosts":"x"})", "unknown field \"hosts\""},
  };
  for (const Bad& b : bad) {
    r = checks.Start("x", b.body);
    EXPECT_EQ(r.code, 400) << b.body;
    EXPECT_NE(r.doc["error"].get<std::string>().find(b.message), std::string::npos)
        << b.body << " -> " << r.doc.dump();
  }
  EXPECT_EQ(fake.requests.size(), 3u);  // none of those reached AdHocChecks

  // AdHocChecks' refusals: its words, the HTTP status that fits.
  struct Refusal {
    AdHocRefusal why;
    int code;
  } refusals[] = {{AdHocRefusal::kInvalidArgument, 400},
                  {AdHocRefusal::kRateLimited, 429},
                  {AdHocRefusal::kTooMany, 429},
                  {AdHocRefusal::kNoProbes, 503}};
  for (const Refusal& f : refusals) {
    fake.refuse = f.why;
    fake.refuse_message = "refused " + std::to_string(f.code);
    r = checks.Start("x", R"({"target":"h"})");
    EXPECT_EQ(r.code, f.code);
    EXPECT_EQ(r.doc["error"], fake.refuse_message);
  }
}

TEST(WebChecks, ProgressAsItArrivesThenTheVerdictInTheCliWords) {
  FakeAdHoc fake;
  WebChecks checks(fake.Starter(), [] { return fake_now; });
  ASSERT_EQ(checks.Start("me", R"({"target":"web1"})").code, 202);
  WebCheckReply r = checks.Get("me", "c-1");
  ASSERT_EQ(r.code, 200);
  EXPECT_EQ(r.doc["done"], false);
  EXPECT_EQ(r.doc["host"], "web1");
  EXPECT_EQ(r.doc["probes"], nlohmann::json({"p1", "p2"}));
  EXPECT_EQ(r.doc["results"].size(), 0u);
  EXPECT_EQ(r.doc["verdict"], nullptr);
  EXPECT_EQ(r.doc["text"].get<std::string>().rfind("Checking web1:22 from 2 probes (p1, p2)", 0),
            0u)
      << r.doc["text"];
  fake.Result(0, "p1", v1::OUTCOME_OK, kXss);
  r = checks.Get("me", "c-1");
  ASSERT_EQ(r.doc["results"].size(), 1u);
  EXPECT_EQ(r.doc["results"][0]["probe"], "p1");
  EXPECT_EQ(r.doc["results"][0]["outcome"], "ok");
  EXPECT_EQ(r.doc["results"][0]["class"], "outcome-ok good");
  EXPECT_EQ(r.doc["results"][0]["banner"], kXss);  // text; the page uses textContent
  EXPECT_NE(r.doc["text"].get<std::string>().find("p1"), std::string::npos);
  EXPECT_EQ(r.doc["done"], false);
  fake.Done(0, v1::CAUSE_PARTIAL, "reachable from 1 of 2 \x1b[31m");
  r = checks.Get("me", "c-1");
  EXPECT_EQ(r.doc["done"], true);
  EXPECT_EQ(r.doc["verdict"]["cause"], "partial");
  EXPECT_EQ(r.doc["verdict"]["class"], "cause-partial warn");
  EXPECT_EQ(r.doc["verdict"]["summary"], "reachable from 1 of 2 \\x1b[31m");  // escaped
  EXPECT_EQ(r.doc["unanswered"], nlohmann::json({"p2"}));
  EXPECT_EQ(r.doc["not_asked"][0]["probe"], "p3 <b>");
  std::string text = r.doc["text"].get<std::string>();
  EXPECT_NE(text.find("t (web1:22): PARTIAL"), std::string::npos) << text;
  EXPECT_NE(text.find("No answer in time (5.0 s + slack) from: p2"), std::string::npos) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;

  // Only its caller reads it; unknown ids are 404.
  EXPECT_EQ(checks.Get("someone-else", "c-1").code, 404);
  r = checks.Get("me", "c-99");
  EXPECT_EQ(r.code, 404);
  EXPECT_NE(r.doc["error"].get<std::string>().find("no check \"c-99\""), std::string::npos);
}

TEST(WebChecks, RemembersAFewForAFewMinutes) {
  FakeAdHoc fake;
  fake_now = kNow;
  WebChecks checks(
      fake.Starter(), [] { return fake_now; }, 2, std::chrono::minutes(5));
  ASSERT_EQ(checks.Start("me", R"({"target":"a"})").code, 202);
  ASSERT_EQ(checks.Start("me", R"({"target":"b"})").code, 202);
  // Both still running: no room for a third.
  WebCheckReply r = checks.Start("me", R"({"target":"c"})");
  EXPECT_EQ(r.code, 429);
  EXPECT_NE(r.doc["error"].get<std::string>().find("still running"), std::string::npos);
  // One finished: it makes room.
  fake.Done(0, v1::CAUSE_OK, "fine");
  ASSERT_EQ(checks.Start("me", R"({"target":"c"})").code, 202);
  EXPECT_EQ(checks.remembered(), 2u);
  EXPECT_EQ(checks.Get("me", "c-1").code, 404);  // the oldest finished one
  EXPECT_EQ(checks.Get("me", "c-2").code, 200);
  // Forgotten five minutes after they started.
  fake_now += 5 * 60 * 1000;
  EXPECT_EQ(checks.Get("me", "c-3").code, 404);
  EXPECT_EQ(checks.remembered(), 0u);
  // A result for a forgotten check goes nowhere (its state outlives the map).
  fake.Result(2, "p1", v1::OUTCOME_OK, "SSH-2.0-x");
  fake_now = kNow;
}

// A request as a same-origin page's script sends it.
WebRequest PagePost(const std::string& body) {
  WebRequest r;
  r.method = "POST";
  r.target = "/api/check";
  r.content_type = "application/json";
  r.host = "127.0.0.1:8420";
  r.origin = "http://127.0.0.1:8420";
  r.sec_fetch_site = "same-origin";
  r.body = body;
  r.caller = "ipv4:127.0.0.1";
  return r;
}

TEST(HandleRequest, CheckRoutesRefuseCrossSiteAndUnauthorisedCallers) {
  FakeAdHoc fake;
  WebSource s = FakeSource();
  // Without checks: no box, the routes are 404.
  EXPECT_EQ(HandleRequest(s, PagePost(R"({"target":"h"})")).code, 404);
  EXPECT_EQ(HandleRequest(s, "GET", "/").body.find("check-form"), std::string::npos);
  s.checks = std::make_shared<WebChecks>(fake.Starter(), [] { return kNow; });

  WebResponse r = HandleRequest(s, PagePost(R"({"target":"h:2222"})"));
  ASSERT_EQ(r.code, 202) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(nlohmann::json::parse(r.body)["id"], "c-1");
  EXPECT_EQ(fake.requests.at(0).caller, "ipv4:127.0.0.1");
  WebRequest get;
  get.method = "GET";
  get.target = "/api/check/c-1";
  get.caller = "ipv4:127.0.0.1";
  r = HandleRequest(s, get);
  ASSERT_EQ(r.code, 200) << r.body;
  EXPECT_EQ(nlohmann::json::parse(r.body)["port"], 2222);
  get.target = "/api/check/nope";
  r = HandleRequest(s, get);
  EXPECT_EQ(r.code, 404);
  EXPECT_NE(nlohmann::json::parse(r.body)["error"].get<std::string>().find("nope"),
            std::string::npos);
  get.target = "/api/check/";
  EXPECT_EQ(HandleRequest(s, get).code, 400);
  get.target = "/api/check";
  EXPECT_EQ(HandleRequest(s, get).code, 405);  // GET of the start route
  WebRequest put = PagePost("{}");
  put.method = "PUT";
  put.target = "/api/check/c-1";
  EXPECT_EQ(HandleRequest(s, put).code, 405);
  r = HandleRequest(s, PagePost("{bad"));
  EXPECT_EQ(r.code, 400);
  EXPECT_NE(nlohmann::json::parse(r.body)["error"].get<std::string>().find("JSON object"),
            std::string::npos);

  // Cross-site: refused before AdHocChecks hears of it.
  struct Case {
    const char* what;
    std::function<void(WebRequest*)> change;
    int code;
    const char* message;
  } cases[] = {
      {"a form's type", [](WebRequest* w) { w->content_type = "text/plain"; }, 415,
       "Content-Type \"text/plain\" refused"},
      {"no type", [](WebRequest* w) { w->content_type = ""; }, 415, "application/json"},
      {"another origin", [](WebRequest* w) { w->origin = "http://evil.example"; }, 403,
       "Origin \"http://evil.example\" is not this page's \"http://127.0.0.1:8420\""},
      {"origin null", [](WebRequest* w) { w->origin = "null"; }, 403, "cross-origin"},
      {"https origin on http", [](WebRequest* w) { w->origin = "https://127.0.0.1:8420"; }, 403,
       "cross-origin"},
      {"cross-site fetch", [](WebRequest* w) { w->sec_fetch_site = "cross-site"; }, 403,
       "Sec-Fetch-Site \"cross-site\""},
      {"DNS rebinding",
       [](WebRequest* w) {
         w->host = "rebind.evil.example:8420";
         w->origin = "http://rebind.evil.example:8420";
       },
       403, "Host \"rebind.evil.example:8420\" refused"},
      {"not an admin", [](WebRequest* w) { w->check_refusal = "checks need an admin's"; }, 403,
       "checks need an admin's"},
  };
  for (const Case& c : cases) {
    WebRequest w = PagePost(R"({"target":"h"})");
    c.change(&w);
    r = HandleRequest(s, w);
    EXPECT_EQ(r.code, c.code) << c.what << ": " << r.body;
    EXPECT_EQ(r.content_type, "application/json") << c.what;
    std::string error = nlohmann::json::parse(r.body)["error"].get<std::string>();
    EXPECT_NE(error.find(c.message), std::string::npos) << c.what << ": " << error;
  }
  EXPECT_EQ(fake.requests.size(), 1u);
  // What passes: curl (no Origin, no Sec-Fetch-Site), localhost, [::1], TLS with a name.
  for (auto change : std::vector<std::function<void(WebRequest*)>>{
           [](WebRequest* w) { w->origin = w->sec_fetch_site = ""; },
           [](WebRequest* w) { w->host = "localhost:8420", w->origin = "http://localhost:8420"; },
           [](WebRequest* w) { w->host = "[::1]:8420", w->origin = "http://[::1]:8420"; },
           [](WebRequest* w) {
             w->tls = true;
             w->host = "collector.example";
             w->origin = "https://collector.example";
             w->content_type = "application/json; charset=utf-8";
           }}) {
    WebRequest w = PagePost(R"({"target":"h"})");
    change(&w);
    r = HandleRequest(s, w);
    EXPECT_EQ(r.code, 202) << w.host << ": " << r.body;
  }
  // Another caller may not read them.
  get.target = "/api/check/c-1";
  get.caller = "ipv4:192.0.2.1";
  EXPECT_EQ(HandleRequest(s, get).code, 404);
  // A reader of the page may not read checks either.
  get.caller = "ipv4:127.0.0.1";
  get.check_refusal = "checks need an admin's certificate";
  EXPECT_EQ(HandleRequest(s, get).code, 403);
}

TEST(IndexPage, CheckBoxAndRowButtonsOnlyWhenUsable) {
  std::string html = IndexPage(Status(), Incidents(), Explain(), kNow, {true, ""});
  ExpectInert(html);
  EXPECT_NE(html.find("<form id=\"check-form\""), std::string::npos) << html;
  EXPECT_NE(html.find("<button id=\"check-run\" type=\"submit\">"), std::string::npos) << html;
  EXPECT_NE(html.find("data-target=\"192.0.2.7:22\">check now</button>"), std::string::npos);
  EXPECT_NE(html.find("data-target=\"db.example:2222\""), std::string::npos);
  html = IndexPage(Status(), Incidents(), Explain(), kNow,
                   {true, "checks need an admin's certificate: <reader>"});
  ExpectInert(html);
  EXPECT_NE(html.find("<button id=\"check-run\" type=\"submit\" disabled>"), std::string::npos);
  EXPECT_NE(html.find("checks need an admin&#39;s certificate: &lt;reader&gt;"), std::string::npos);
  EXPECT_EQ(html.find("check-row"), std::string::npos);
  html = IndexPage(Status(), Incidents(), Explain(), kNow);
  EXPECT_EQ(html.find("check-form"), std::string::npos);
  EXPECT_EQ(CheckTargetText("2001:db8::1", 2222), "[2001:db8::1]:2222");
  EXPECT_EQ(CheckTargetText("h", 0), "h:22");
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

// A check started and read over a real socket: the body, the headers and the
// caller (the peer's address) reach the handler; a body over 4 KiB is 413.
TEST(WebServer, CheckPostedAsJsonOverTheSocket) {
  FakeAdHoc fake;
  WebSource source = FakeSource();
  source.checks = std::make_shared<WebChecks>(fake.Starter(), [] { return kNow; });
  WebOptions o;
  o.listen = "127.0.0.1:0";
  std::unique_ptr<WebServer> server;
  ASSERT_TRUE(WebServer::Start(o, source, &server).ok());
  auto exchange = [&](const std::string& req) {
    int fd = Connect(server->port());
    EXPECT_GE(fd, 0);
    (void)!write(fd, req.data(), req.size());
    std::string resp;
    EXPECT_TRUE(ReadToEof(fd, std::chrono::seconds(5), &resp));
    close(fd);
    return resp;
  };
  std::string body = R"({"target":"web1.example","timeout_s":1})";
  std::string host = "127.0.0.1:" + std::to_string(server->port());
  std::string resp = exchange("POST /api/check HTTP/1.1\r\nHost: " + host + "\r\nOrigin: http://" +
                              host + "\r\nContent-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  EXPECT_EQ(resp.rfind("HTTP/1.1 202 Accepted\r\n", 0), 0u) << resp;
  EXPECT_NE(resp.find("{\"href\":\"/api/check/c-1\",\"id\":\"c-1\"}"), std::string::npos) << resp;
  ASSERT_EQ(fake.requests.size(), 1u);
  EXPECT_EQ(fake.requests[0].host, "web1.example");
  EXPECT_EQ(fake.requests[0].caller, "ipv4:127.0.0.1");
  resp = exchange("GET /api/check/c-1 HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(resp.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << resp;
  EXPECT_NE(resp.find("\"done\":false"), std::string::npos) << resp;
  // From another origin: refused, nothing started.
  resp = exchange("POST /api/check HTTP/1.1\r\nHost: " + host +
                  "\r\nOrigin: http://evil.example\r\nContent-Type: application/json\r\n"
                  "Content-Length: " +
                  std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  EXPECT_EQ(resp.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u) << resp;
  EXPECT_EQ(fake.requests.size(), 1u);
  std::string big(5000, ' ');
  resp = exchange("POST /api/check HTTP/1.1\r\nHost: " + host +
                  "\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n" + big);
  EXPECT_EQ(resp.rfind("HTTP/1.1 413 Payload Too Large\r\n", 0), 0u) << resp;
  EXPECT_NE(resp.find("over 4096 bytes"), std::string::npos) << resp;
  EXPECT_EQ(fake.requests.size(), 1u);
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
