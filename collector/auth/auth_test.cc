// Identity, roles, pinned labels, revocation and the loopback rule, with
// certificates made by openssl for this test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "collector/auth/access.h"
#include "collector/auth/hello_check.h"
#include "collector/auth/listen_policy.h"
#include "collector/auth/peer_identity.h"

namespace parallax::collector {
namespace {

class Certs {
 public:
  Certs() {
    char tmpl[] = "/tmp/parallax-auth-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    ok_ = Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " +
              dir_ + "/ca.key -out " + dir_ + "/ca.pem -days 1 -subj /CN=test-ca");
  }
  ~Certs() { std::filesystem::remove_all(dir_); }
  bool ok() const { return ok_; }

  // A certificate with subject CN `cn` and subjectAltName `san` (may be "").
  // `serial` (hex, optional) is set as is, leading zeros included.
  std::string Make(const std::string& cn, const std::string& san,
                   const std::string& serial = "") {
    std::string base = dir_ + "/c" + std::to_string(++n_);
    std::ofstream(base + ".ext") << (san.empty() ? "basicConstraints=CA:FALSE\n"
                                                 : "subjectAltName=" + san + "\n");
    bool ok =
        Run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + base +
            ".key -out " + base + ".csr -subj /CN=" + cn) &&
        Run("openssl x509 -req -in " + base + ".csr -CA " + dir_ + "/ca.pem -CAkey " + dir_ +
            "/ca.key " + (serial.empty() ? "-CAcreateserial" : "-set_serial 0x" + serial) +
            " -days 1 -extfile " + base + ".ext -out " + base + ".pem");
    if (!ok) return "";
    std::ifstream in(base + ".pem");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  static bool Run(const std::string& cmd) {
    return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
  }
  std::string dir_;
  bool ok_ = false;
  int n_ = 0;
};

TEST(PeerIdentity, FromCertificates) {
  Certs certs;
  if (!certs.ok()) GTEST_SKIP() << "openssl unavailable";
  PeerIdentity p = IdentityFromPem(certs.Make("whatever", "URI:parallax:probe/fra1,DNS:fra1"));
  EXPECT_EQ(p.role, PeerRole::kProbe);
  EXPECT_EQ(p.name, "fra1");
  EXPECT_FALSE(p.serial.empty());
  EXPECT_NE(p.Describe().find("probe \"fra1\""), std::string::npos) << p.Describe();

  // One serial spelling: openssl prints whole bytes ("0F1A..."), the revoked list
  // is compared without leading zeros (a 1-in-16 CI failure before).
  PeerIdentity zero = IdentityFromPem(certs.Make("z", "URI:parallax:probe/z", "0F1A2B"));
  EXPECT_EQ(zero.serial, "F1A2B");
  EXPECT_EQ(CanonicalSerial("0F1A2B"), "F1A2B");
  EXPECT_EQ(CanonicalSerial("00"), "0");
  EXPECT_EQ(CanonicalSerial("0x1"), "");
  EXPECT_EQ(CanonicalSerial(""), "");
  RevokedConfig revoked;
  revoked.serials = {CanonicalSerial("0f1a2b")};
  EXPECT_TRUE(IsRevoked(revoked, zero));

  PeerIdentity legacy = IdentityFromPem(certs.Make("ams1", "DNS:ams1"));
  EXPECT_EQ(legacy.role, PeerRole::kProbe);
  EXPECT_EQ(legacy.name, "ams1");

  PeerIdentity reader = IdentityFromPem(certs.Make("alice", "URI:parallax:role/reader"));
  EXPECT_EQ(reader.role, PeerRole::kReader);
  EXPECT_EQ(reader.name, "alice");
  PeerIdentity admin = IdentityFromPem(certs.Make("bob", "URI:parallax:role/admin"));
  EXPECT_EQ(admin.role, PeerRole::kAdmin);

  PeerIdentity two =
      IdentityFromPem(certs.Make("x", "URI:parallax:probe/fra1,URI:parallax:probe/ams1"));
  EXPECT_EQ(two.role, PeerRole::kNone);
  EXPECT_NE(two.error.find("conflicting"), std::string::npos) << two.error;
  PeerIdentity both =
      IdentityFromPem(certs.Make("x", "URI:parallax:probe/fra1,URI:parallax:role/admin"));
  EXPECT_EQ(both.role, PeerRole::kNone);
  PeerIdentity unknown = IdentityFromPem(certs.Make("x", "URI:parallax:role/root"));
  EXPECT_EQ(unknown.role, PeerRole::kNone);
  EXPECT_EQ(IdentityFromPem("garbage").role, PeerRole::kNone);
}

PeerIdentity Id(PeerRole role, const std::string& name, const std::string& serial = "AB") {
  PeerIdentity id;
  id.authenticated = true;
  id.role = role;
  id.name = name;
  id.serial = serial;
  return id;
}

TEST(Access, RolesPerMethod) {
  const std::string connect = "/parallax.v1.ProbeService/Connect";
  const std::string status = "/parallax.v1.QueryService/Status";
  const std::string check = "/parallax.v1.QueryService/Check";
  PeerIdentity probe = Id(PeerRole::kProbe, "fra1"), reader = Id(PeerRole::kReader, "alice"),
               admin = Id(PeerRole::kAdmin, "bob"), none = Id(PeerRole::kNone, "x");
  EXPECT_TRUE(CheckMethodAccess(probe, connect).ok());
  EXPECT_FALSE(CheckMethodAccess(probe, status).ok());
  EXPECT_FALSE(CheckMethodAccess(reader, connect).ok());
  EXPECT_TRUE(CheckMethodAccess(reader, status).ok());
  EXPECT_FALSE(CheckMethodAccess(reader, check).ok());
  EXPECT_FALSE(CheckMethodAccess(admin, connect).ok());
  EXPECT_TRUE(CheckMethodAccess(admin, status).ok());
  EXPECT_TRUE(CheckMethodAccess(admin, check).ok());
  EXPECT_FALSE(CheckMethodAccess(reader, "/grpc.reflection.v1alpha.ServerReflection/X").ok());
  EXPECT_FALSE(CheckMethodAccess(none, status).ok());
  EXPECT_TRUE(CheckMethodAccess(PeerIdentity(), status).ok());  // no mTLS: no identity
  Status st = CheckMethodAccess(probe, status);
  EXPECT_NE(st.message().find("probe \"fra1\""), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("parallax:role/reader"), std::string::npos) << st.message();
}

TEST(Access, Revoked) {
  RevokedConfig r;
  r.identities = {"ams1"};
  r.serials = {"4F1A"};
  EXPECT_TRUE(IsRevoked(r, Id(PeerRole::kProbe, "ams1")));
  EXPECT_TRUE(IsRevoked(r, Id(PeerRole::kReader, "alice", "4F1A")));
  EXPECT_FALSE(IsRevoked(r, Id(PeerRole::kProbe, "fra1")));
  EXPECT_FALSE(IsRevoked(r, PeerIdentity()));
}

TEST(HelloCheck, NameMustBeTheCertificates) {
  v1::Hello hello;
  hello.set_probe_name("fra1");
  (*hello.mutable_labels())["network"] = "evil-net";
  Status st = CheckHelloIdentity(Id(PeerRole::kProbe, "ams1"), hello, nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("\"fra1\""), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("\"ams1\""), std::string::npos) << st.message();
  EXPECT_TRUE(CheckHelloIdentity(Id(PeerRole::kProbe, "fra1"), hello, nullptr).ok());
  EXPECT_FALSE(CheckHelloIdentity(Id(PeerRole::kReader, "fra1"), hello, nullptr).ok());
  EXPECT_TRUE(CheckHelloIdentity(PeerIdentity(), hello, nullptr).ok());
}

TEST(HelloCheck, PinnedLabels) {
  Config config;
  config.probes["fra1"].pinned_labels = {{"network", "isp-a"}, {"site", "fra"}};
  v1::Hello hello;
  hello.set_probe_name("fra1");
  (*hello.mutable_labels())["network"] = "isp-a";
  (*hello.mutable_labels())["site"] = "fra";
  EXPECT_TRUE(CheckHelloIdentity(Id(PeerRole::kProbe, "fra1"), hello, &config).ok());
  (*hello.mutable_labels())["network"] = "evil-net";
  Status st = CheckHelloIdentity(Id(PeerRole::kProbe, "fra1"), hello, &config);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("network=\"evil-net\""), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("probes.fra1.labels.network"), std::string::npos) << st.message();
  hello.mutable_labels()->erase("site");
  (*hello.mutable_labels())["network"] = "isp-a";
  EXPECT_FALSE(CheckHelloIdentity(Id(PeerRole::kProbe, "fra1"), hello, &config).ok());
  hello.set_probe_name("other");  // not pinned
  EXPECT_TRUE(CheckHelloIdentity(PeerIdentity(), hello, &config).ok());
}

TEST(ListenPolicy, InsecureOnLoopbackOnly) {
  EXPECT_TRUE(IsLoopbackListen("127.0.0.1:7420"));
  EXPECT_TRUE(IsLoopbackListen("127.3.4.5:0"));
  EXPECT_TRUE(IsLoopbackListen("[::1]:7420"));
  EXPECT_TRUE(IsLoopbackListen("localhost:7420"));
  EXPECT_FALSE(IsLoopbackListen("0.0.0.0:7420"));
  EXPECT_FALSE(IsLoopbackListen("[::]:7420"));
  EXPECT_FALSE(IsLoopbackListen("192.0.2.7:7420"));
  EXPECT_FALSE(IsLoopbackListen("collector.example.net:7420"));
  Status st = CheckInsecureListen("0.0.0.0:7420", false);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("--insecure-allow-remote"), std::string::npos);
  EXPECT_TRUE(CheckInsecureListen("0.0.0.0:7420", true).ok());
}

}  // namespace
}  // namespace parallax::collector
