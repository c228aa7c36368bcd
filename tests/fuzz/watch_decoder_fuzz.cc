// Fuzzes the watch stream decoder (kube::WatchDecoder) the way CurlKubeClient drives it:
// the body arrives in chunks of arbitrary sizes (taken from the input) with a small line
// limit; each event's object is then decoded as the kind the reflectors watch. Checks that
// the same body in one piece yields the same events.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "fuzzer/FuzzedDataProvider.h"
#include "src/kube/objects.h"
#include "src/kube/objects_json.h"
#include "src/kube/watch_decoder.h"

namespace {

using sandboxd::kube::WatchDecoder;
using sandboxd::kube::WatchEvent;

struct Outcome {
  std::vector<std::string> events;  // type + object
  std::string status;               // how the stream ended
};

Outcome Decode(const std::vector<std::string>& chunks, size_t max_line) {
  Outcome out;
  WatchDecoder decoder(max_line);
  auto emit = [&](WatchEvent e) {
    out.events.push_back(std::to_string(static_cast<int>(e.type)) + " " + e.object.Json());
    sandboxd::kube::StatefulSet sts;
    sandboxd::kube::Pod pod;
    sandboxd::kube::PersistentVolumeClaim claim;
    sandboxd::kube::ObjectMeta meta;
    (void)sandboxd::kube::FromObject(e.object, &sts);
    (void)sandboxd::kube::FromObject(e.object, &pod);
    (void)sandboxd::kube::FromObject(e.object, &claim);
    (void)sandboxd::kube::FromObject(e.object, &meta);
    (void)e.object.ns();
    (void)e.object.name();
    (void)e.object.resource_version();
    return true;
  };
  absl::Status s;
  for (const std::string& chunk : chunks) {
    s = decoder.Feed(chunk, emit);
    if (!s.ok()) break;
  }
  if (s.ok()) s = decoder.Finish(emit);
  // Status::ToString lists payloads in no fixed order: sort them.
  std::map<std::string, std::string> payloads;
  s.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    payloads[std::string(url)] = std::string(payload);
  });
  out.status = absl::StrCat(absl::StatusCodeToString(s.code()), ": ", s.message());
  for (const auto& [url, payload] : payloads)
    absl::StrAppend(&out.status, " [", url, "=", payload, "]");
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const size_t max_line = in.ConsumeIntegralInRange<size_t>(1, 4096);
  std::vector<std::string> chunks;
  std::string whole;
  while (in.remaining_bytes() > 0) {
    chunks.push_back(in.ConsumeRandomLengthString(512));
    whole += chunks.back();
  }
  Outcome chunked = Decode(chunks, max_line);
  Outcome single = Decode({whole}, max_line);
  // Chunk boundaries must not matter: the same events, ended the same way.
  if (chunked.events != single.events || chunked.status != single.status) {
    fprintf(stderr, "chunked: %zu events, %s\nin one piece: %zu events, %s\n",
            chunked.events.size(), chunked.status.c_str(), single.events.size(),
            single.status.c_str());
    __builtin_trap();
  }
  return 0;
}
