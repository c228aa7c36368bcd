#include "server/log_format.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"

namespace sandboxd::server {
namespace {

// `line` parsed as one JSON document, UTF-8 validated; fails the test if it is not one.
rapidjson::Document ParseJson(const std::string& line) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(line.c_str(), line.size());
  EXPECT_FALSE(doc.HasParseError())
      << rapidjson::GetParseError_En(doc.GetParseError()) << " at " << doc.GetErrorOffset()
      << " in " << line;
  return doc;
}

std::string StringMember(const rapidjson::Document& doc, const char* key) {
  if (!doc.IsObject() || !doc.HasMember(key) || !doc[key].IsString()) {
    ADD_FAILURE() << "no string member " << key;
    return "";
  }
  return std::string(doc[key].GetString(), doc[key].GetStringLength());
}

const absl::Time kTime = absl::FromUnixMillis(1795991116123);  // 2026-11-29T22:25:16.123Z

TEST(LogSafeTest, EscapesControlsBackslashAndBytesThatAreNotUtf8) {
  EXPECT_EQ(LogSafe("team-a/alice"), "team-a/alice");
  EXPECT_EQ(LogSafe(std::string("a\nb\r\0c\x1b[31m", 11)), "a\\x0ab\\x0d\\x00c\\x1b[31m");
  EXPECT_EQ(LogSafe("tab\there\x7f"), "tab\\x09here\\x7f");
  EXPECT_EQ(LogSafe("back\\slash"), "back\\x5cslash");
  EXPECT_EQ(LogSafe("\"quoted\" = ok"), "\"quoted\" = ok");
  EXPECT_EQ(LogSafe("h\xc3\xa9llo \xe2\x9c\x93"), "h\xc3\xa9llo \xe2\x9c\x93");  // é, ✓
  EXPECT_EQ(LogSafe("\xc2\x85"), "\\xc2\\x85");                 // NEL (C1)
  EXPECT_EQ(LogSafe("a\xe2\x80\xa8z"), "a\\xe2\\x80\\xa8z");     // U+2028
  EXPECT_EQ(LogSafe("\xe2\x80\xae"), "\\xe2\\x80\\xae");         // right-to-left override
  EXPECT_EQ(LogSafe("\xff\xc3("), "\\xff\\xc3(");                // stray and truncated
  EXPECT_EQ(LogSafe("\xc0\xaf"), "\\xc0\\xaf");                  // overlong "/"
  EXPECT_EQ(LogSafe("\xed\xa0\x80"), "\\xed\\xa0\\x80");         // a surrogate
  EXPECT_EQ(LogSafe("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(LogSafe("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");    // 😀
}

TEST(LogSafeTest, NoByteValueSurvivesAsAControlCharacter) {
  for (int b = 0; b < 256; ++b) {
    const std::string safe = LogSafe(std::string(1, static_cast<char>(b)));
    for (char c : safe) {
      const auto u = static_cast<unsigned char>(c);
      EXPECT_TRUE(u >= 0x20 && u < 0x7f) << "byte " << b << " gave " << safe;
    }
  }
}

TEST(JsonStringTest, EscapesForJson) {
  EXPECT_EQ(JsonString("plain"), "\"plain\"");
  EXPECT_EQ(JsonString(std::string("q\"b\\n\n\0\x1f", 8)), "\"q\\\"b\\\\n\\u000a\\u0000\\u001f\"");
  EXPECT_EQ(JsonString("\xc3\xa9\xc2\x85\xe2\x80\xa9"), "\"\xc3\xa9\\u0085\\u2029\"");
  EXPECT_EQ(JsonString("bad\xff"), "\"bad\\\\xff\"");
}

TEST(JsonStringTest, EveryByteAndHostileStringRoundTrips) {
  std::vector<std::string> inputs = {
      "", "\"}\n{\"level\":\"info\",\"message\":\"forged", std::string("nul\0byte", 8),
      "\xe2\x80\xa8\xe2\x80\xa9", "\xf0\x9f\x98\x80 ok", "\\u0000", "</script>"};
  for (int b = 0; b < 256; ++b) inputs.emplace_back(1, static_cast<char>(b));
  for (const std::string& input : inputs) {
    const std::string json = "{\"v\":" + JsonString(input) + "}";
    EXPECT_EQ(json.find('\n'), std::string::npos);
    rapidjson::Document doc = ParseJson(json);
    const std::string value = StringMember(doc, "v");
    // Well-formed UTF-8 comes back as it was; other bytes as the text \xNN.
    if (static_cast<unsigned char>(input.empty() ? 0 : input[0]) >= 0x80 && input.size() == 1) {
      EXPECT_EQ(value, LogSafe(input));
    } else {
      EXPECT_EQ(value, input);
    }
  }
}

TEST(FormatLogLineTest, JsonLineHasTimeLevelMessage) {
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, kTime, "warning", "cannot start: x", {}),
            "{\"time\":\"2026-11-29T22:25:16.123Z\",\"level\":\"warning\","
            "\"message\":\"cannot start: x\"}");
}

TEST(FormatLogLineTest, PerCallJsonLineWithHostileInputIsOneObjectWithSeparateKeys) {
  const std::string ns_name = std::string("team\"a/al\nice\0x", 15);
  const std::vector<LogField> fields = CallLogFields(
      "GetSandbox", ns_name, "system:serviceaccount:t:\"bob\"", "id\r\n{\"forged\":1}",
      absl::InvalidArgumentError(std::string("name \"al\nice\0\" is bad", 21)),
      absl::Microseconds(12345));
  const std::string line = FormatLogLine(LogFormat::kJson, kTime, "info", "rpc finished", fields);
  EXPECT_EQ(line,
            "{\"time\":\"2026-11-29T22:25:16.123Z\",\"level\":\"info\","
            "\"message\":\"rpc finished\",\"method\":\"GetSandbox\","
            "\"sandbox\":\"team\\\"a/al\\u000aice\\u0000x\","
            "\"caller\":\"system:serviceaccount:t:\\\"bob\\\"\","
            "\"request_id\":\"id\\u000d\\u000a{\\\"forged\\\":1}\","
            "\"code\":\"INVALID_ARGUMENT\",\"latency_ms\":12.3,"
            "\"error\":\"name \\\"al\\u000aice\\u0000\\\" is bad\"}");
  rapidjson::Document doc = ParseJson(line);
  EXPECT_EQ(StringMember(doc, "sandbox"), ns_name);
  EXPECT_EQ(StringMember(doc, "request_id"), "id\r\n{\"forged\":1}");
  EXPECT_EQ(StringMember(doc, "code"), "INVALID_ARGUMENT");
  ASSERT_TRUE(doc.HasMember("latency_ms") && doc["latency_ms"].IsNumber());
  EXPECT_DOUBLE_EQ(doc["latency_ms"].GetDouble(), 12.3);
  EXPECT_FALSE(doc.HasMember("forged"));
}

TEST(FormatLogLineTest, OkCallHasNoErrorKey) {
  const std::string line =
      FormatLogLine(LogFormat::kJson, kTime, "info", "rpc finished",
                    CallLogFields("ListSandboxes", "team-a/*", "alice", "r-1", absl::OkStatus(),
                                  absl::Milliseconds(2)));
  EXPECT_TRUE(absl::EndsWith(line, ",\"code\":\"OK\",\"latency_ms\":2.0}")) << line;
  EXPECT_FALSE(ParseJson(line).HasMember("error"));
}

TEST(FormatLogLineTest, TextLineEscapesAndQuotesValues) {
  const std::string line = FormatLogLine(
      LogFormat::kText, kTime, "info", "rpc finished",
      CallLogFields("GetSandbox", std::string("a/b\n2026 info forged\0", 21), "",
                    "x code=OK", absl::NotFoundError("sandbox \"b\" not found"),
                    absl::Milliseconds(1)));
  // The time is local: check the rest.
  EXPECT_TRUE(absl::EndsWith(
      line,
      " info rpc finished method=GetSandbox sandbox=\"a/b\\x0a2026 info forged\\x00\" "
      "caller=\"\" request_id=\"x code=OK\" code=NOT_FOUND latency_ms=1.0 "
      "error=\"sandbox \\x22b\\x22 not found\""))
      << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace sandboxd::server
