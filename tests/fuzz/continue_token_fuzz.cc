// Fuzzes the consistent-read ListSandboxes path, where a caller's page token goes to the
// API server as its `continue` parameter and the API server's answer comes back as the
// next page token. The input is
//   "<page token>\n<page size>\n<label selector>\n<project>\n<StatefulSet list body>".
// SandboxService::List runs against a KubeClient that answers at once: the StatefulSet
// list with the body, the pod and claim lists of its sandboxes with empty lists.
// Checked for every List request, as BuildList turns it into a path: the query is a
// sequence of known, distinct parameters whose values are percent-encoded and decode
// back to exactly what the service asked for, so no token, selector or name from either
// side can add a parameter or break the request line. And the service answers exactly once.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "src/domain/sandbox.h"
#include "src/kube/kube_client.h"
#include "src/kube/kube_request.h"
#include "src/service/sandbox_service.h"

namespace {

namespace kube = sandboxd::kube;

constexpr char kNs[] = "ns-a";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;  // UrlEncode writes upper-case hex only
}

bool Unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

// Decodes a query value that UrlEncode wrote; traps on anything it would not write.
std::string DecodeValue(absl::string_view encoded) {
  std::string out;
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (Unreserved(encoded[i])) {
      out.push_back(encoded[i]);
      continue;
    }
    if (encoded[i] != '%' || i + 2 >= encoded.size()) __builtin_trap();
    int hi = HexValue(encoded[i + 1]);
    int lo = HexValue(encoded[i + 2]);
    if (hi < 0 || lo < 0) __builtin_trap();
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

// The query of `path` as BuildList wrote it; traps on a malformed or repeated parameter.
std::map<std::string, std::string> QueryOf(const std::string& path) {
  std::map<std::string, std::string> query;
  size_t mark = path.find('?');
  if (mark == std::string::npos) return query;
  for (absl::string_view pair : absl::StrSplit(absl::string_view(path).substr(mark + 1), '&')) {
    std::vector<absl::string_view> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
    if (kv.size() != 2) __builtin_trap();
    if (!query.emplace(std::string(kv[0]), DecodeValue(kv[1])).second) __builtin_trap();
  }
  return query;
}

void CheckListRequest(kube::Kind kind, const std::string& ns, const kube::ListOptions& list) {
  absl::StatusOr<kube::HttpRequest> req = kube::BuildList(kind, ns, list);
  if (!req.ok()) __builtin_trap();  // the service sends a valid namespace and limit only
  const std::string collection = kube::CollectionPath(kind, ns);
  if (req->path.compare(0, collection.size(), collection) != 0) __builtin_trap();
  if (req->path.size() > collection.size() && req->path[collection.size()] != '?') {
    __builtin_trap();
  }
  std::map<std::string, std::string> expected;
  if (!list.label_selector.empty()) expected["labelSelector"] = list.label_selector;
  if (list.limit > 0) expected["limit"] = absl::StrCat(list.limit);
  if (!list.continue_token.empty()) expected["continue"] = list.continue_token;
  if (!list.resource_version.empty()) expected["resourceVersion"] = list.resource_version;
  if (QueryOf(req->path) != expected) __builtin_trap();
}

// Answers List at once (the StatefulSet list with `sts_body`); nothing else is expected.
class ListOnlyKube final : public kube::KubeClient {
 public:
  explicit ListOnlyKube(std::string sts_body) : sts_body_(std::move(sts_body)) {}

  void List(kube::Kind kind, const std::string& ns, const kube::ListOptions& list,
            const kube::CallOptions& opts, kube::ResponseCallback done) override {
    CheckListRequest(kind, ns, list);
    done(kind == kube::Kind::kStatefulSet ? sts_body_ : std::string(R"({"items":[]})"));
  }
  void Get(const kube::ObjectRef&, const std::string&, const kube::CallOptions&,
           kube::ResponseCallback) override {
    __builtin_trap();
  }
  void Create(kube::Kind, const std::string&, std::string, const kube::CallOptions&,
              kube::ResponseCallback) override {
    __builtin_trap();
  }
  void Patch(const kube::ObjectRef&, const std::string&, kube::PatchType, std::string,
             const kube::CallOptions&, kube::ResponseCallback) override {
    __builtin_trap();
  }
  void Delete(const kube::ObjectRef&, const kube::DeleteOptions&, const kube::CallOptions&,
              kube::ResponseCallback) override {
    __builtin_trap();
  }

 private:
  std::string sts_body_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> parts = absl::StrSplit(
      absl::string_view(reinterpret_cast<const char*>(data), size), absl::MaxSplits('\n', 4));
  parts.resize(5);
  sandboxd::domain::ListQuery query;
  query.ns = kNs;
  query.page_token = parts[0];
  int32_t page_size = 0;
  if (absl::SimpleAtoi(parts[1], &page_size)) query.page_size = page_size;
  query.label_selector = parts[2];
  query.project = parts[3];

  ListOnlyKube kube(parts[4]);
  sandboxd::domain::SandboxDefaults defaults;
  defaults.image = "registry.local/agent:1";
  sandboxd::service::SandboxService service(&kube, /*cache=*/nullptr, defaults);
  int answers = 0;
  service.List(query, /*consistent_read=*/true, /*min_resource_version=*/"", kube::CallOptions{},
               [&answers](const absl::StatusOr<sandboxd::domain::ListResult>&) { ++answers; });
  if (answers != 1) __builtin_trap();
  return 0;
}
