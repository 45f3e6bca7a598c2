#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "common/escape.h"

namespace parallax {
namespace {

LogLevel InitialLevel() {
  const char* env = std::getenv("PARALLAX_LOG_LEVEL");
  if (env != nullptr && std::strcmp(env, "debug") == 0) return LogLevel::kDebug;
  if (env != nullptr && std::strcmp(env, "warning") == 0) return LogLevel::kWarning;
  if (env != nullptr && std::strcmp(env, "error") == 0) return LogLevel::kError;
  return LogLevel::kInfo;
}

std::atomic<int> g_level{static_cast<int>(InitialLevel())};

}  // namespace

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }
bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

void Logf(LogLevel level, const char* format, ...) {
  if (!LogEnabled(level)) return;
  static constexpr const char* kNames[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  char line[2048];
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc{};
  gmtime_r(&ts.tv_sec, &utc);
  int n = std::snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                        utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                        utc.tm_sec, ts.tv_nsec / 1000000, kNames[static_cast<int>(level)]);
  char message[2048];
  va_list args;
  va_start(args, format);
  int m = std::vsnprintf(message, sizeof(message), format, args);
  va_end(args);
  // Messages carry probe names, labels and server text: escape them so a
  // log line is one line and a terminal showing it does nothing.
  std::string safe = EscapeForTerminal(
      std::string_view(message, m < 0 ? 0 : std::min<size_t>(m, sizeof(message) - 1)));
  size_t room = sizeof(line) - n - 2;
  size_t len = n + std::min(safe.size(), room);
  std::memcpy(line + n, safe.data(), len - n);
  line[len++] = '\n';
  ssize_t ignored = ::write(STDERR_FILENO, line, len);
  (void)ignored;
}

}  // namespace parallax
