// TokenStore against a real file: tokens are stored hashed, single use,
// expire on an injected clock, are bound to a name, survive a new TokenStore
// (a restart) and are shared by two stores on one file (two processes).
#include "collector/enroll/token_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace parallax::collector {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

class TokenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/token_store_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/enroll-tokens";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string FileText() {
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::string dir_, path_;
  int64_t now_ = 1'700'000'000'000;
  std::function<int64_t()> clock_ = [this] { return now_; };
};

TEST_F(TokenStoreTest, StoresOnlyTheHashWithMode0600) {
  TokenStore store(path_, clock_);
  std::string token;
  ASSERT_TRUE(store.Create("fra1", hours(1), &token).ok());
  EXPECT_EQ(token.size(), 64u);
  std::string text = FileText();
  EXPECT_EQ(text.find(token), std::string::npos) << "the token itself is stored";
  EXPECT_NE(text.find(TokenStore::Hash(token) + " fra1 "), std::string::npos) << text;
  EXPECT_EQ(TokenStore::Hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");  // FIPS 180-2
  struct stat sb;
  ASSERT_EQ(stat(path_.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  std::string other;
  ASSERT_TRUE(store.Create("fra1", hours(1), &other).ok());
  EXPECT_NE(token, other);
}

TEST_F(TokenStoreTest, SingleUse) {
  TokenStore store(path_, clock_);
  std::string token;
  ASSERT_TRUE(store.Create("fra1", hours(1), &token).ok());
  TokenRefusal why;
  EXPECT_TRUE(store.Consume(token, "fra1", &why).ok());
  Status again = store.Consume(token, "fra1", &why);
  EXPECT_FALSE(again.ok());
  EXPECT_EQ(why, TokenRefusal::kUsed);
  EXPECT_NE(again.message().find("token already used"), std::string::npos) << again.message();
}

TEST_F(TokenStoreTest, ExpiresOnTheInjectedClock) {
  TokenStore store(path_, clock_);
  std::string token;
  ASSERT_TRUE(store.Create("fra1", seconds(60), &token).ok());
  now_ += 60'000;  // exactly at expiry: still valid
  std::string second;
  ASSERT_TRUE(store.Create("ams1", seconds(60), &second).ok());
  now_ += 60'001;
  TokenRefusal why;
  Status st = store.Consume(second, "ams1", &why);
  EXPECT_EQ(why, TokenRefusal::kExpired);
  EXPECT_NE(st.message().find("token expired"), std::string::npos) << st.message();
  // An expired token that was refused is not consumed: still "expired".
  EXPECT_FALSE(store.Consume(second, "ams1", &why).ok());
  EXPECT_EQ(why, TokenRefusal::kExpired);
  now_ -= 60'001;
  EXPECT_TRUE(store.Consume(token, "fra1", &why).ok()) << "valid at its expiry instant";
}

TEST_F(TokenStoreTest, BoundToItsNameAndNotConsumedByTheWrongOne) {
  TokenStore store(path_, clock_);
  std::string token;
  ASSERT_TRUE(store.Create("fra1", hours(1), &token).ok());
  TokenRefusal why;
  Status st = store.Consume(token, "ams1", &why);
  EXPECT_EQ(why, TokenRefusal::kWrongName);
  EXPECT_NE(st.message().find("issued for probe \"fra1\", not \"ams1\""), std::string::npos);
  EXPECT_TRUE(store.Consume(token, "fra1", &why).ok());
}

TEST_F(TokenStoreTest, UnknownAndMalformedTokens) {
  TokenStore store(path_, clock_);
  TokenRefusal why;
  EXPECT_FALSE(store.Consume(std::string(64, 'a'), "fra1", &why).ok());
  EXPECT_EQ(why, TokenRefusal::kUnknown);
  EXPECT_FALSE(store.Consume("short", "fra1", &why).ok());
  EXPECT_EQ(why, TokenRefusal::kMalformed);
  EXPECT_FALSE(store.Consume(std::string(64, 'G'), "fra1", &why).ok());
  EXPECT_EQ(why, TokenRefusal::kMalformed);
}

TEST_F(TokenStoreTest, SurvivesARestartAndIsSharedBetweenStores) {
  std::string token;
  {
    TokenStore creator(path_, clock_);  // `token create`, another process
    ASSERT_TRUE(creator.Create("fra1", hours(1), &token).ok());
  }
  TokenStore collector(path_, clock_);  // the collector, started later
  TokenStore other(path_, clock_);
  std::string t2;
  ASSERT_TRUE(other.Create("ams1", hours(1), &t2).ok());  // while the collector runs
  TokenRefusal why;
  EXPECT_TRUE(collector.Consume(token, "fra1", &why).ok());
  EXPECT_TRUE(collector.Consume(t2, "ams1", &why).ok());
  EXPECT_FALSE(other.Consume(token, "fra1", &why).ok());
  EXPECT_EQ(why, TokenRefusal::kUsed);
  std::vector<TokenRecord> records;
  ASSERT_TRUE(other.List(&records).ok());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].used_ms, now_);
}

TEST_F(TokenStoreTest, ConcurrentCreatesLoseNothing) {
  constexpr int kThreads = 4, kEach = 25;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> tokens(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      TokenStore store(path_, clock_);  // one store per thread: flock serializes them
      for (int i = 0; i < kEach; ++i) {
        std::string token;
        if (store.Create("p" + std::to_string(t), hours(1), &token).ok()) {
          tokens[t].push_back(token);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  TokenStore store(path_, clock_);
  std::vector<TokenRecord> records;
  ASSERT_TRUE(store.List(&records).ok());
  EXPECT_EQ(records.size(), static_cast<size_t>(kThreads * kEach));
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(tokens[t].size(), static_cast<size_t>(kEach));
    EXPECT_TRUE(store.Consume(tokens[t].back(), "p" + std::to_string(t)).ok());
  }
}

TEST_F(TokenStoreTest, BadNamesTtlsAndADamagedFileAreRefused) {
  TokenStore store(path_, clock_);
  std::string token;
  EXPECT_FALSE(store.Create("fra 1", hours(1), &token).ok());
  EXPECT_FALSE(store.Create(std::string(65, 'a'), hours(1), &token).ok());
  EXPECT_FALSE(store.Create("fra1", std::chrono::milliseconds(500), &token).ok());
  EXPECT_FALSE(store.Create("fra1", hours(24 * 7 + 1), &token).ok());
  std::ofstream(path_) << "garbage line\n";
  Status st = store.Create("fra1", hours(1), &token);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("line 1 is damaged"), std::string::npos) << st.message();
}

TEST_F(TokenStoreTest, OldRecordsArePrunedAWeekAfterExpiry) {
  TokenStore store(path_, clock_);
  std::string old_token, token;
  ASSERT_TRUE(store.Create("old", seconds(1), &old_token).ok());
  now_ += 8LL * 24 * 3600 * 1000;
  ASSERT_TRUE(store.Create("new", hours(1), &token).ok());
  std::vector<TokenRecord> records;
  ASSERT_TRUE(store.List(&records).ok());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].name, "new");
}

}  // namespace
}  // namespace parallax::collector
