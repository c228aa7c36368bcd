// Golden files of the domain tests: tests/unit/domain/golden/<name>. Compared as parsed
// JSON (key order and whitespace do not matter). SANDBOXD_UPDATE_GOLDEN=1 rewrites them
// instead.
#ifndef SANDBOXD_TESTS_UNIT_DOMAIN_GOLDEN_H_
#define SANDBOXD_TESTS_UNIT_DOMAIN_GOLDEN_H_

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "rapidjson/prettywriter.h"
#include "rapidjson/stringbuffer.h"

namespace sandboxd::testing {

inline std::string GoldenPath(const std::string& name) {
  return std::string(SANDBOXD_SOURCE_DIR) + "/tests/unit/domain/golden/" + name;
}

inline std::string Pretty(const rapidjson::Document& doc) {
  rapidjson::StringBuffer buf;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
  w.SetIndent(' ', 2);
  doc.Accept(w);
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

inline void ExpectMatchesGolden(const std::string& json, const std::string& name) {
  rapidjson::Document actual;
  actual.Parse(json.c_str());
  ASSERT_FALSE(actual.HasParseError()) << json;
  const std::string path = GoldenPath(name);
  const char* update = std::getenv("SANDBOXD_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(path) << Pretty(actual);  // then compared below: passes
  }
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << "missing golden file " << path
                         << " (run with SANDBOXD_UPDATE_GOLDEN=1 to create it)";
  std::stringstream text;
  text << in.rdbuf();
  rapidjson::Document expected;
  expected.Parse(text.str().c_str());
  ASSERT_FALSE(expected.HasParseError()) << path;
  EXPECT_TRUE(actual == expected) << "golden mismatch for " << path << "\nactual:\n"
                                  << Pretty(actual) << "expected:\n"
                                  << Pretty(expected)
                                  << "(run with SANDBOXD_UPDATE_GOLDEN=1 to accept)";
}

}  // namespace sandboxd::testing

#endif  // SANDBOXD_TESTS_UNIT_DOMAIN_GOLDEN_H_
