// How sandboxd writes log lines. Every line is made in one place, the spdlog formatter
// that InstallLogFormat() installs, and caller input (names, error messages, request ids,
// identities) is escaped there, so no value can put a control character or a forged line
// into the log:
//
//   text: <time> <level> <message>[ <key>=<value>]...
//         time: local, "2026-11-29T22:25:16.123+00:00". message and values: LogSafe(); a
//         value that is empty or holds a space, '"' or '=' is quoted ("..."; '"' inside
//         as \x22).
//   json: {"time":"2026-11-29T22:25:16.123Z","level":"info","message":"...","<key>":...}
//         one object per line; time UTC, RFC 3339 with milliseconds; strings JsonString();
//         a number field unquoted.
//
// Level names are spdlog's (trace, debug, info, warning, error, critical).
//
// Structured fields ride with a record through LogWithFields(); other lines (spdlog::info
// etc.) have only a message. Thread-safe, except InstallLogFormat() (start-up only).
#ifndef SANDBOXD_SERVER_LOG_FORMAT_H_
#define SANDBOXD_SERVER_LOG_FORMAT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace sandboxd::server {

enum class LogFormat { kText, kJson };

// "text" or "json"; nullopt for anything else.
std::optional<LogFormat> ParseLogFormat(absl::string_view name);

// `text` fit for one line of a text log: every control character (C0, DEL, C1), line or
// paragraph separator (U+2028, U+2029), bidirectional override or isolate (U+202A..E,
// U+2066..9), backslash, and byte that is not part of well-formed UTF-8 is written as
// \xNN (two lowercase hex digits per byte); everything else is copied.
std::string LogSafe(absl::string_view text);

// `text` as a JSON string literal, quotes included: '"' and '\' backslash-escaped, the
// characters LogSafe() escapes (but backslash) as \u00XX or \uXXXX, and a byte that is
// not part of well-formed UTF-8 as the six characters \\xNN (so the result is valid JSON
// and valid UTF-8 whatever the input).
std::string JsonString(absl::string_view text);

// A structured field of a log line: `key` is a constant of sandboxd's code; `value` may
// be any bytes. `number`: `value` is a number sandboxd formatted (JSON: unquoted).
struct LogField {
  absl::string_view key;
  std::string value;
  bool number = false;
};

// One log line as described above, without the newline. `level` is a level name.
std::string FormatLogLine(LogFormat format, absl::Time time, absl::string_view level,
                          absl::string_view message, const std::vector<LogField>& fields);

// The fields of the one line logged per call (unary or stream), in this order: method,
// sandbox ("<namespace>/<name>", "" if not known yet), caller ("" until authenticated),
// request_id, code (absl code name of `status`), latency_ms (number, one decimal) and,
// unless `status` is OK, error (its message).
std::vector<LogField> CallLogFields(absl::string_view method, absl::string_view sandbox,
                                    absl::string_view caller, absl::string_view request_id,
                                    const absl::Status& status, absl::Duration latency);

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Logs `message` with `fields` through spdlog's default logger. Without an installed
// format (tests), the fields are appended to the message as in the text format.
void LogWithFields(LogLevel level, absl::string_view message, std::vector<LogField> fields);

// Makes every line spdlog writes FormatLogLine(format, ...). With kJson, gRPC's and
// Protobuf's own log messages are routed through spdlog as well, so that every line of
// the process is JSON. Call at start-up before other threads log; a later call replaces
// the format.
void InstallLogFormat(LogFormat format);

}  // namespace sandboxd::server

#endif  // SANDBOXD_SERVER_LOG_FORMAT_H_
