// A SandboxCache for the token fuzzers: synced, eight sandboxes in two
// namespaces with projects and labels, and a history of changes, so that resume tokens
// and page tokens from the seed corpora point at real positions. Built through the
// cache's public inputs only: changes 1..17 (two per sandbox, then sb-5 deleted), a
// history of 16 and a queue of 4 sandboxes. The committed seeds predate the portable
// token format (v1.<sts>.<pod>.<pvc>): they reach its parser's refusals, and the fuzzer
// finds the accepted forms from there.
//
// Not thread-safe: one per fuzzing process, used from the fuzzer's thread.
#ifndef SANDBOXD_TESTS_FUZZ_FUZZ_CACHE_H_
#define SANDBOXD_TESTS_FUZZ_FUZZ_CACHE_H_

#include <string>

#include "absl/time/time.h"
#include "src/domain/builders.h"
#include "src/domain/sandbox.h"
#include "src/domain/validation.h"
#include "src/service/sandbox_cache.h"

namespace sandboxd::fuzz {

inline constexpr char kNs[] = "ns-a";

// The process's cache (made on first use, never destroyed).
inline service::SandboxCache& FuzzCache() {
  static service::SandboxCache* cache = [] {
    const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
    service::SandboxCache::Options options;
    options.history_capacity = 16;
    options.queue_capacity = 4;
    options.clock = [now] { return now; };
    domain::SandboxDefaults defaults;
    defaults.image = "registry.local/agent:1";
    options.defaults = defaults;
    auto* c = new service::SandboxCache(options);
    for (int i = 0; i < 8; ++i) {
      domain::SandboxSpec spec;
      spec.name = "sb-" + std::to_string(i);
      spec.ns = i < 6 ? kNs : "ns-b";
      spec.project = i % 2 == 0 ? "even" : "odd";
      spec.labels = {{"tier", i < 3 ? "gold" : "basic"}};
      kube::StatefulSet sts =
          domain::BuildStatefulSet(domain::ApplyDefaults(spec, defaults), defaults);
      sts.metadata.uid = "uid-" + spec.name;
      sts.metadata.resource_version = "1";
      sts.metadata.generation = 1;
      sts.metadata.creation_timestamp = now - absl::Minutes(10);
      c->ApplyStatefulSet(sts);
      sts.status.observed_generation = 1;  // a change: STARTING with another message
      c->ApplyStatefulSet(sts);
    }
    c->DeleteStatefulSet(kNs, "sb-5");  // a DELETED in the history
    c->MarkSynced(service::SandboxCache::Source::kStatefulSets);
    c->MarkSynced(service::SandboxCache::Source::kPods);
    c->MarkSynced(service::SandboxCache::Source::kClaims);
    return c;
  }();
  return *cache;
}

}  // namespace sandboxd::fuzz

#endif  // SANDBOXD_TESTS_FUZZ_FUZZ_CACHE_H_
