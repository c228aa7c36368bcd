// How sandboxctl prints sandboxes and watch events: -o table|wide|json|yaml|name.
// json is proto3 JSON (the field names grpcurl prints); yaml is the same document in
// YAML; name is one sandbox name per line. Not thread-safe (writes to a stream).
#ifndef SANDBOXD_CLIENT_SANDBOXCTL_OUTPUT_H_
#define SANDBOXD_CLIENT_SANDBOXCTL_OUTPUT_H_

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "sandbox/v1/sandbox.pb.h"
#include "sandboxd/watch.h"

namespace sandboxctl {

enum class Format { kTable, kWide, kJson, kYaml, kName };

// The format named `name` ("table", "wide", "json", "yaml", "name").
std::optional<Format> ParseFormat(const std::string& name);

// `message` as proto3 JSON: indented, or on one line.
std::string ToJson(const google::protobuf::Message& message, bool one_line = false);

// A JSON document as block-style YAML (strings that would read as another type quoted).
std::string JsonToYaml(const std::string& json);

// Rows as aligned columns, three spaces apart (the last column is not padded).
void PrintRows(const std::vector<std::vector<std::string>>& rows, std::ostream& out);

// "RUNNING" for SANDBOX_PHASE_RUNNING.
std::string ShortPhase(sandbox::v1::SandboxPhase phase);

// The sandboxes of `list`, in `format` (json/yaml: a {"sandboxes": [...]} document).
void PrintSandboxes(const sandbox::v1::ListSandboxesResponse& list, Format format, absl::Time now,
                    std::ostream& out);

// One sandbox (get, create, start, stop, env): json/yaml print the Sandbox message.
void PrintSandbox(const sandbox::v1::Sandbox& sandbox, Format format, absl::Time now,
                  std::ostream& out);

// Prints a stream of watch events: table/wide rows with an EVENT column (header first),
// json one compact document per line, yaml documents separated by "---", name the
// sandbox's name of ADDED/MODIFIED/DELETED events.
class WatchPrinter {
 public:
  WatchPrinter(Format format, std::ostream& out) : format_(format), out_(out) {}
  void Print(const sandboxd::WatchEvent& event, absl::Time now);

 private:
  const Format format_;
  std::ostream& out_;
  bool header_printed_ = false;
};

}  // namespace sandboxctl

#endif  // SANDBOXD_CLIENT_SANDBOXCTL_OUTPUT_H_
