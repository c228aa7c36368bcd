#include "sandboxctl/output.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "rapidjson/document.h"
#include "rapidjson/prettywriter.h"
#include "rapidjson/stringbuffer.h"
#include "yaml-cpp/yaml.h"

namespace sandboxctl {
namespace {

namespace pb = ::sandbox::v1;
using Row = std::vector<std::string>;

// "5s", "3m", "2h", "4d": how long ago `created` was.
std::string Age(const google::protobuf::Timestamp& created, absl::Time now) {
  if (created.seconds() == 0 && created.nanos() == 0) return "<unknown>";
  const int64_t seconds =
      std::max<int64_t>(0, absl::ToUnixSeconds(now) - static_cast<int64_t>(created.seconds()));
  if (seconds < 120) return absl::StrCat(seconds, "s");
  if (seconds < 7200) return absl::StrCat(seconds / 60, "m");
  if (seconds < int64_t{2} * 86400) return absl::StrCat(seconds / 3600, "h");
  return absl::StrCat(seconds / 86400, "d");
}

Row Header(bool wide) {
  Row row = {"NAME", "PHASE", "READY", "AGE"};
  if (wide) row.insert(row.end(), {"PROJECT", "IMAGE", "STORAGE", "POD-DNS", "MESSAGE"});
  return row;
}

Row RowOf(const pb::Sandbox& s, bool wide, absl::Time now) {
  Row row = {s.spec().name(), ShortPhase(s.phase()),
             absl::StrCat(s.ready_replicas(), "/", s.desired_replicas()),
             Age(s.create_time(), now)};
  if (wide) {
    auto or_none = [](const std::string& v) { return v.empty() ? std::string("<none>") : v; };
    row.insert(row.end(), {or_none(s.spec().project()), or_none(s.spec().image()),
                           or_none(s.storage().capacity()), or_none(s.endpoints().pod_dns()),
                           s.message()});
  }
  return row;
}

// Whether a YAML reader would take the plain scalar `s` for something but a string.
bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  static const char* const kSpecial[] = {"true", "false", "yes", "no", "on", "off",
                                         "y",    "n",     "null", "~"};
  const std::string lower = absl::AsciiStrToLower(s);
  for (const char* word : kSpecial) {
    if (lower == word) return true;
  }
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  if (end != s.c_str() && *end == '\0') return true;
  return absl::StartsWith(s, "0x") || absl::StartsWith(s, "0o") || lower == ".inf" ||
         lower == "-.inf" || lower == ".nan";
}

void EmitYaml(const rapidjson::Value& value, YAML::Emitter& out) {
  // Empty containers print inline ("limits: {}").
  if ((value.IsObject() && value.MemberCount() == 0) || (value.IsArray() && value.Empty())) {
    out << YAML::Flow;
  }
  if (value.IsObject()) {
    out << YAML::BeginMap;
    for (auto it = value.MemberBegin(); it != value.MemberEnd(); ++it) {
      out << YAML::Key << it->name.GetString() << YAML::Value;
      EmitYaml(it->value, out);
    }
    out << YAML::EndMap;
  } else if (value.IsArray()) {
    out << YAML::BeginSeq;
    for (const auto& item : value.GetArray()) EmitYaml(item, out);
    out << YAML::EndSeq;
  } else if (value.IsString()) {
    const std::string s = value.GetString();
    if (NeedsQuotes(s)) out << YAML::DoubleQuoted;
    out << s;
  } else if (value.IsBool()) {
    out << value.GetBool();
  } else if (value.IsInt64()) {
    out << value.GetInt64();
  } else if (value.IsUint64()) {
    out << value.GetUint64();
  } else if (value.IsNumber()) {
    out << value.GetDouble();
  } else {
    out << YAML::Null;
  }
}

void PrintStructured(const google::protobuf::Message& message, Format format, std::ostream& out) {
  if (format == Format::kJson) {
    out << ToJson(message) << "\n";
  } else {
    out << JsonToYaml(ToJson(message));
  }
}

}  // namespace

void PrintRows(const std::vector<Row>& rows, std::ostream& out) {
  std::vector<size_t> widths;
  for (const Row& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const Row& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
}

std::optional<Format> ParseFormat(const std::string& name) {
  if (name == "table") return Format::kTable;
  if (name == "wide") return Format::kWide;
  if (name == "json") return Format::kJson;
  if (name == "yaml") return Format::kYaml;
  if (name == "name") return Format::kName;
  return std::nullopt;
}

std::string ToJson(const google::protobuf::Message& message, bool one_line) {
  std::string json;
  // Cannot fail for the API's messages (they hold no Any).
  (void)google::protobuf::util::MessageToJsonString(message, &json);
  if (one_line) return json;
  // Indented by two spaces, as grpcurl and jq print (protobuf indents by one).
  rapidjson::Document document;
  document.Parse(json.c_str());
  if (document.HasParseError()) return json;
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
  writer.SetIndent(' ', 2);
  document.Accept(writer);
  return buffer.GetString();
}

std::string JsonToYaml(const std::string& json) {
  rapidjson::Document document;
  document.Parse(json.c_str());
  if (document.HasParseError()) return json + "\n";
  YAML::Emitter out;
  EmitYaml(document, out);
  return std::string(out.c_str()) + "\n";
}

std::string ShortPhase(pb::SandboxPhase phase) {
  std::string name = pb::SandboxPhase_Name(phase);
  constexpr absl::string_view kPrefix = "SANDBOX_PHASE_";
  if (absl::StartsWith(name, kPrefix)) name.erase(0, kPrefix.size());
  return name.empty() ? absl::StrCat(static_cast<int>(phase)) : name;
}

void PrintSandboxes(const pb::ListSandboxesResponse& list, Format format, absl::Time now,
                    std::ostream& out) {
  switch (format) {
    case Format::kJson:
    case Format::kYaml:
      PrintStructured(list, format, out);
      return;
    case Format::kName:
      for (const pb::Sandbox& s : list.sandboxes()) out << s.spec().name() << "\n";
      return;
    case Format::kTable:
    case Format::kWide: {
      const bool wide = format == Format::kWide;
      std::vector<Row> rows = {Header(wide)};
      for (const pb::Sandbox& s : list.sandboxes()) rows.push_back(RowOf(s, wide, now));
      PrintRows(rows, out);
      return;
    }
  }
}

void PrintSandbox(const pb::Sandbox& sandbox, Format format, absl::Time now, std::ostream& out) {
  if (format == Format::kJson || format == Format::kYaml) {
    PrintStructured(sandbox, format, out);
    return;
  }
  pb::ListSandboxesResponse one;
  *one.add_sandboxes() = sandbox;
  PrintSandboxes(one, format, now, out);
}

void WatchPrinter::Print(const sandboxd::WatchEvent& event, absl::Time now) {
  pb::WatchSandboxesResponse message;
  message.set_type(event.type);
  message.set_resume_token(event.resume_token);
  if (event.sandbox.has_value()) *message.mutable_sandbox() = *event.sandbox;
  std::string type = pb::WatchEventType_Name(event.type);
  constexpr absl::string_view kPrefix = "WATCH_EVENT_TYPE_";
  if (absl::StartsWith(type, kPrefix)) type.erase(0, kPrefix.size());
  switch (format_) {
    case Format::kJson:
      out_ << ToJson(message, /*one_line=*/true) << "\n";
      break;
    case Format::kYaml:
      out_ << "---\n" << JsonToYaml(ToJson(message));
      break;
    case Format::kName:
      if (event.sandbox.has_value()) out_ << event.sandbox->spec().name() << "\n";
      break;
    case Format::kTable:
    case Format::kWide: {
      // Streamed rows cannot be aligned to later ones: fixed-width columns.
      const bool wide = format_ == Format::kWide;
      auto print = [&](const Row& row) {
        std::string line;
        const size_t widths[] = {24, 30, 10, 7, 6};
        for (size_t i = 0; i < row.size(); ++i) {
          line += row[i];
          if (i + 1 < row.size()) {
            const size_t w = i < 5 ? widths[i] : 20;
            line += std::string(row[i].size() < w ? w - row[i].size() : 1, ' ');
          }
        }
        out_ << line << "\n";
      };
      if (!header_printed_) {
        Row header = Header(wide);
        header.insert(header.begin(), "EVENT");
        print(header);
        header_printed_ = true;
      }
      Row row = event.sandbox.has_value() ? RowOf(*event.sandbox, wide, now) : Row{"-"};
      row.insert(row.begin(), type);
      print(row);
      break;
    }
  }
  out_.flush();
}

}  // namespace sandboxctl
