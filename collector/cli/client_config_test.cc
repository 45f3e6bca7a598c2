#include "collector/cli/client_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace parallax::cli {
namespace {

std::string Error(const std::string& yaml) {
  ClientConfig c;
  Status st = ParseClientConfig(yaml, "cli.yaml", &c);
  EXPECT_FALSE(st.ok()) << yaml;
  return st.message();
}

TEST(ClientConfigTest, ReadsEveryKey) {
  ClientConfig c;
  ASSERT_TRUE(ParseClientConfig("collector: collector.example.net:7420\n"
                                "output: json\n"
                                "ca: /etc/parallax/tls/ca.pem\n"
                                "cert: /home/me/.config/parallax/me.pem\n"
                                "key: /home/me/.config/parallax/me.key\n"
                                "tls_server_name: collector.example.net\n"
                                "insecure: false\n",
                                "cli.yaml", &c)
                  .ok());
  EXPECT_EQ(*c.collector, "collector.example.net:7420");
  EXPECT_EQ(*c.output, "json");
  EXPECT_EQ(*c.ca, "/etc/parallax/tls/ca.pem");
  EXPECT_EQ(*c.cert, "/home/me/.config/parallax/me.pem");
  EXPECT_EQ(*c.key, "/home/me/.config/parallax/me.key");
  EXPECT_EQ(*c.tls_server_name, "collector.example.net");
  EXPECT_EQ(*c.insecure, false);
}

TEST(ClientConfigTest, EmptyFileSetsNothing) {
  ClientConfig c;
  ASSERT_TRUE(ParseClientConfig("", "cli.yaml", &c).ok());
  EXPECT_FALSE(c.collector.has_value());
  EXPECT_FALSE(c.insecure.has_value());
  ASSERT_TRUE(ParseClientConfig("# only a comment\n", "cli.yaml", &c).ok());
  EXPECT_FALSE(c.output.has_value());
}

TEST(ClientConfigTest, ErrorsNameKeyValueAndLine) {
  EXPECT_EQ(Error("collector: a:1\ncolector: b:2\n"),
            "cli.yaml: colector: unknown key at line 2 (known: collector, output, ca, cert, key, "
            "tls_server_name, insecure)");
  EXPECT_EQ(Error("output: yaml\n"), "cli.yaml: output: \"yaml\" is not table or json at line 1");
  EXPECT_EQ(Error("insecure: maybe\n"),
            "cli.yaml: insecure: \"maybe\" is not true or false at line 1");
  EXPECT_EQ(Error("ca: [a, b]\n"), "cli.yaml: ca: expected a single value at line 1");
  EXPECT_EQ(Error("collector: \"\"\n"), "cli.yaml: collector: is empty at line 1");
  EXPECT_EQ(Error("- a\n"), "cli.yaml: expected a map of options at line 1");
  EXPECT_NE(Error("collector: [\n").find("cli.yaml: "), std::string::npos);
}

TEST(ClientConfigTest, MissingFileIsNotFoundAndOversizedIsRefused) {
  ClientConfig c;
  EXPECT_EQ(LoadClientConfig("/nonexistent/parallax/cli.yaml", &c).code(), Status::Code::kNotFound);
  std::string path = ::testing::TempDir() + "/big_cli.yaml";
  {
    std::ofstream out(path);
    out << "# " << std::string(70000, 'x') << "\n";
  }
  Status st = LoadClientConfig(path, &c);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("larger than 64 KiB"), std::string::npos);
  unlink(path.c_str());
}

TEST(ClientConfigTest, DefaultPathFollowsXdgThenHome) {
  setenv("XDG_CONFIG_HOME", "/x/cfg", 1);
  setenv("HOME", "/home/me", 1);
  EXPECT_EQ(DefaultClientConfigPath(), "/x/cfg/parallax/cli.yaml");
  unsetenv("XDG_CONFIG_HOME");
  EXPECT_EQ(DefaultClientConfigPath(), "/home/me/.config/parallax/cli.yaml");
  unsetenv("HOME");
  EXPECT_EQ(DefaultClientConfigPath(), "");
}

}  // namespace
}  // namespace parallax::cli
