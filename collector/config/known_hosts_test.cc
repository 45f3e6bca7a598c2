// known_hosts parsing: fingerprints equal ssh-keygen -lf, host patterns
// (plain, [host]:port, lists, negation, wildcards, hashed), junk skipped.
#include "collector/config/known_hosts.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace parallax::collector {
namespace {

std::string Shell(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (p != nullptr && fgets(buf, sizeof buf, p) != nullptr) out += buf;
  if (p != nullptr) pclose(p);
  return out;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(KnownHostsTest, PatternsHashesAndJunk) {
  if (Shell("command -v ssh-keygen").empty()) GTEST_SKIP() << "apt-get install openssh-client";
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("known_hosts_test_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string k1 = (dir / "k1").string(), k2 = (dir / "k2").string();
  Shell("ssh-keygen -q -N '' -t ed25519 -f " + k1);
  Shell("ssh-keygen -q -N '' -t ecdsa -f " + k2);
  auto pub = [&](const std::string& k) {
    std::string line = Slurp(k + ".pub");
    return line.substr(0, line.rfind(' '));  // without the comment
  };
  auto fp = [&](const std::string& k) {
    std::string out = Shell("ssh-keygen -l -E sha256 -f " + k + ".pub");
    size_t a = out.find("SHA256:");
    return out.substr(a, out.find(' ', a) - a);
  };
  std::string text =
      "# comment\n\n"
      "web1,192.0.2.10 " +
      pub(k1) + "\n" + "[web2]:2222 " + pub(k2) + "\n" + "*.example.org,!bad.example.org " +
      pub(k2) + "\n" + "@cert-authority *.example.org " + pub(k1) + "\n" + "@revoked web1 " +
      pub(k2) + "\n" + "broken ssh-ed25519 !!!notbase64\n" + "short\n";
  // (ssh-keygen -H hashes only a file without junk lines.)
  std::ofstream(dir / "known_hosts")
      << "web1,192.0.2.10 " << pub(k1) << "\nhashed " << pub(k2) << "\n";
  Shell("ssh-keygen -q -H -f " + (dir / "known_hosts").string() + " 2>&1");
  KnownHosts kh = ParseKnownHosts(text);
  EXPECT_EQ(kh.skipped, 2);
  EXPECT_EQ(KnownHostKeys(kh, "web1", 22), std::vector<std::string>{fp(k1)});
  EXPECT_EQ(KnownHostKeys(kh, "192.0.2.10", 22), std::vector<std::string>{fp(k1)});
  EXPECT_TRUE(KnownHostKeys(kh, "web1", 2222).empty());
  EXPECT_EQ(KnownHostKeys(kh, "web2", 2222), std::vector<std::string>{fp(k2)});
  EXPECT_EQ(KnownHostKeys(kh, "a.example.org", 22), std::vector<std::string>{fp(k2)});
  EXPECT_TRUE(KnownHostKeys(kh, "bad.example.org", 22).empty());
  EXPECT_TRUE(IsSshFingerprint(fp(k1)));
  // ssh-keygen -H hashed every host name: still found.
  KnownHosts hashed;
  ASSERT_TRUE(LoadKnownHosts((dir / "known_hosts").string(), &hashed).ok());
  EXPECT_NE(Slurp((dir / "known_hosts").string()).find("|1|"), std::string::npos);
  EXPECT_EQ(KnownHostKeys(hashed, "hashed", 22), std::vector<std::string>{fp(k2)});
  EXPECT_EQ(KnownHostKeys(hashed, "web1", 22), std::vector<std::string>{fp(k1)});
  EXPECT_TRUE(KnownHostKeys(hashed, "web3", 22).empty());
  std::filesystem::remove_all(dir);
}

TEST(KnownHostsTest, FingerprintSyntax) {
  EXPECT_TRUE(IsSshFingerprint("SHA256:PzASa0wY5XP4mStjxyE6wh3bjt3zizQgqpfMQVybYGE"));
  EXPECT_FALSE(IsSshFingerprint("SHA256:PzASa0wY5XP4mStjxyE6wh3bjt3zizQgqpfMQVybYGE="));
  EXPECT_FALSE(IsSshFingerprint("MD5:aa:bb"));
  EXPECT_FALSE(IsSshFingerprint("SHA256:PzASa0wY5XP4mStjxyE6wh3bjt3zizQgqpfMQVybYG\n"));
}

}  // namespace
}  // namespace parallax::collector
