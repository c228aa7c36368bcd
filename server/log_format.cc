#include "server/log_format.h"

#include <grpc/support/log.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/stubs/logging.h"
#include "spdlog/formatter.h"
#include "spdlog/spdlog.h"

namespace sandboxd::server {
namespace {

// The length of the well-formed UTF-8 sequence at the start of `s` (1 to 4) and its code
// point; 0 if `s` does not start with one.
size_t Utf8Sequence(absl::string_view s, char32_t* code_point) {
  const auto byte = [&s](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t lead = byte(0);
  if (lead < 0x80) {
    *code_point = lead;
    return 1;
  }
  size_t length = 0;
  uint8_t low = 0x80, high = 0xbf;  // the range of the second byte
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) low = 0xa0;   // no overlong forms
    if (lead == 0xed) high = 0x9f;  // no surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) low = 0x90;   // no overlong forms
    if (lead == 0xf4) high = 0x8f;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < length || byte(1) < low || byte(1) > high) return 0;
  char32_t cp = lead & (0x7f >> length);
  for (size_t i = 1; i < length; ++i) {
    if (i > 1 && (byte(i) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i) & 0x3f);
  }
  *code_point = cp;
  return length;
}

// Characters that must not reach a log line as they are.
bool MustEscape(char32_t cp) {
  return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 ||
         cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

void AppendHexBytes(absl::string_view bytes, std::string* out) {
  for (char c : bytes) absl::StrAppendFormat(out, "\\x%02x", static_cast<uint8_t>(c));
}

// Calls `safe(sequence)` for runs of characters to copy and `unsafe(bytes, code_point,
// well_formed)` for each character to escape or byte that is not well-formed UTF-8.
template <typename CopyRun, typename EscapeOne>
void Scan(absl::string_view text, CopyRun safe, EscapeOne unsafe) {
  size_t run = 0;  // start of the run of safe characters
  size_t i = 0;
  while (i < text.size()) {
    char32_t cp = 0;
    const size_t length = Utf8Sequence(text.substr(i), &cp);
    if (length != 0 && !MustEscape(cp) && cp != '\\' && cp != '"') {
      i += length;
      continue;
    }
    safe(text.substr(run, i - run));
    const size_t taken = length == 0 ? 1 : length;
    unsafe(text.substr(i, taken), cp, length != 0);
    i += taken;
    run = i;
  }
  safe(text.substr(run));
}

// A field value of the text format.
std::string TextValue(absl::string_view value) {
  std::string safe = LogSafe(value);
  if (!safe.empty() && safe.find_first_of(" \"=") == std::string::npos) return safe;
  std::string quoted = "\"";
  for (char c : safe) {
    if (c == '"') {
      quoted += "\\x22";
    } else {
      quoted += c;
    }
  }
  quoted += '"';
  return quoted;
}

// "<message>[ <key>=<value>]...": the text format after the level.
std::string TextPayload(absl::string_view message, const std::vector<LogField>& fields) {
  std::string out = LogSafe(message);
  for (const LogField& field : fields) {
    absl::StrAppend(&out, out.empty() ? "" : " ", field.key, "=", TextValue(field.value));
  }
  return out;
}

spdlog::level::level_enum ToSpdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarning: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

// The fields of the record being logged on this thread (LogWithFields), read by the
// formatter: spdlog's synchronous loggers format on the logging thread.
thread_local const std::vector<LogField>* current_fields = nullptr;
std::atomic<bool> format_installed{false};

class LineFormatter final : public spdlog::formatter {
 public:
  explicit LineFormatter(LogFormat format) : format_(format) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    static const std::vector<LogField> kNoFields;
    const spdlog::string_view_t level = spdlog::level::to_string_view(msg.level);
    const std::string line = FormatLogLine(
        format_, absl::FromChrono(msg.time), absl::string_view(level.data(), level.size()),
        absl::string_view(msg.payload.data(), msg.payload.size()),
        current_fields != nullptr ? *current_fields : kNoFields);
    if (format_ == LogFormat::kText) {  // colour the level on a terminal
      msg.color_range_start = line.find(' ') + 1;
      msg.color_range_end = msg.color_range_start + level.size();
    }
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(format_);
  }

 private:
  const LogFormat format_;
};

void LogGrpcMessage(gpr_log_func_args* args) {
  const spdlog::level::level_enum level = args->severity == GPR_LOG_SEVERITY_ERROR ? spdlog::level::err
                                          : args->severity == GPR_LOG_SEVERITY_INFO
                                              ? spdlog::level::info
                                              : spdlog::level::debug;
  spdlog::log(level, "grpc {}:{}: {}", args->file, args->line, args->message);
}

void LogProtobufMessage(google::protobuf::LogLevel level, const char* file, int line,
                        const std::string& message) {
  const spdlog::level::level_enum to = level >= google::protobuf::LOGLEVEL_ERROR ? spdlog::level::err
                                       : level == google::protobuf::LOGLEVEL_WARNING
                                           ? spdlog::level::warn
                                           : spdlog::level::info;
  spdlog::log(to, "protobuf {}:{}: {}", file, line, message);
}

}  // namespace

std::optional<LogFormat> ParseLogFormat(absl::string_view name) {
  if (name == "text") return LogFormat::kText;
  if (name == "json") return LogFormat::kJson;
  return std::nullopt;
}

std::string LogSafe(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  Scan(
      text, [&out](absl::string_view run) { out.append(run.data(), run.size()); },
      [&out](absl::string_view bytes, char32_t cp, bool well_formed) {
        if (well_formed && cp == '"') {
          out += '"';
        } else {
          AppendHexBytes(bytes, &out);
        }
      });
  return out;
}

std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  out.reserve(text.size() + 2);
  Scan(
      text, [&out](absl::string_view run) { out.append(run.data(), run.size()); },
      [&out](absl::string_view bytes, char32_t cp, bool well_formed) {
        if (!well_formed) {
          for (char c : bytes) absl::StrAppendFormat(&out, "\\\\x%02x", static_cast<uint8_t>(c));
        } else if (cp == '"' || cp == '\\') {
          out += '\\';
          out += static_cast<char>(cp);
        } else {
          absl::StrAppendFormat(&out, "\\u%04x", static_cast<uint32_t>(cp));
        }
      });
  out += '"';
  return out;
}

std::string FormatLogLine(LogFormat format, absl::Time time, absl::string_view level,
                          absl::string_view message, const std::vector<LogField>& fields) {
  if (format == LogFormat::kText) {
    return absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3S%Ez", time, absl::LocalTimeZone()),
                        " ", level, " ", TextPayload(message, fields));
  }
  std::string out = absl::StrCat(
      "{\"time\":\"", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone()),
      "\",\"level\":", JsonString(level), ",\"message\":", JsonString(message));
  for (const LogField& field : fields) {
    absl::StrAppend(&out, ",", JsonString(field.key), ":",
                    field.number ? field.value : JsonString(field.value));
  }
  out += '}';
  return out;
}

std::vector<LogField> CallLogFields(absl::string_view method, absl::string_view sandbox,
                                    absl::string_view caller, absl::string_view request_id,
                                    const absl::Status& status, absl::Duration latency) {
  std::vector<LogField> fields = {
      {"method", std::string(method)},
      {"sandbox", std::string(sandbox)},
      {"caller", std::string(caller)},
      {"request_id", std::string(request_id)},
      {"code", absl::StatusCodeToString(status.code())},
      {"latency_ms", absl::StrFormat("%.1f", absl::ToDoubleMilliseconds(latency)), true},
  };
  if (!status.ok()) fields.push_back({"error", std::string(status.message())});
  return fields;
}

void LogWithFields(LogLevel level, absl::string_view message, std::vector<LogField> fields) {
  if (!format_installed.load(std::memory_order_acquire)) {
    spdlog::log(ToSpdlog(level), "{}", TextPayload(message, fields));
    return;
  }
  current_fields = &fields;
  spdlog::log(ToSpdlog(level), "{}", std::string(message));
  current_fields = nullptr;
}

void InstallLogFormat(LogFormat format) {
  spdlog::set_formatter(std::make_unique<LineFormatter>(format));
  format_installed.store(true, std::memory_order_release);
  if (format == LogFormat::kJson) {
    gpr_set_log_function(LogGrpcMessage);
    google::protobuf::SetLogHandler(LogProtobufMessage);
  }
}

}  // namespace sandboxd::server
