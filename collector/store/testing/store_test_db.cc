#include "collector/store/testing/store_test_db.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>

namespace parallax::collector::testing {

PgServer* SharedPgServer() {
  std::string why;
  PgServer* server = PgServer::Shared(&why);
  if (server == nullptr) ADD_FAILURE() << "PostgreSQL test server: " << why;
  return server;
}

void UsePostgres(StoreOptions* options, std::string* dbname) {
  PgServer* server = SharedPgServer();
  ASSERT_NE(server, nullptr);
  static std::atomic<int> counter{0};
  std::string name = "t" + std::to_string(++counter) + "_";
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  for (char c : std::string(info ? info->name() : "db")) {
    if (name.size() >= 60) break;
    name += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
  }
  Status s = server->CreateDatabase(name);
  ASSERT_TRUE(s.ok()) << s.ToString();
  options->driver = "postgres";
  // Hour-wide partitions: results a test back-dates by hours land in
  // partitions retention can drop whole (fast), as days would in production.
  options->partition_width = std::chrono::hours(1);
  options->dsn = server->Dsn(name);
  if (dbname) *dbname = name;
}

}  // namespace parallax::collector::testing
