// Minimal leveled logging to stderr: one line per call, written with a single
// write so lines from different threads never interleave. The formatted
// message is escaped (common/escape.h): control, C1 and bidi characters and
// invalid UTF-8 appear as \xNN / \uNNNN, so untrusted text cannot forge log
// lines or drive a terminal. Thread-safe.
//   Logf(LogLevel::kWarning, "stream to %s failed: %s", addr.c_str(), msg.c_str());
#pragma once

namespace parallax {

enum class LogLevel { kDebug = 0, kInfo, kWarning, kError };

// Messages below `level` are dropped. Default kInfo; PARALLAX_LOG_LEVEL=debug
// in the environment lowers it at start-up.
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

void Logf(LogLevel level, const char* format, ...) __attribute__((format(printf, 2, 3)));

}  // namespace parallax
