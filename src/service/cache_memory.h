// Memory accounting of the watch cache: rough heap + inline sizes of the values it keeps
// (strings beyond the small-string buffer, map and vector nodes; libstdc++ figures), for
// SandboxCache::Stats::approx_bytes.
//
// Pure functions. Thread-safe.
#ifndef SANDBOXD_SERVICE_CACHE_MEMORY_H_
#define SANDBOXD_SERVICE_CACHE_MEMORY_H_

#include <cstddef>
#include <string>

#include "src/domain/sandbox.h"
#include "src/kube/objects.h"

namespace sandboxd::service {

// sizeof the value plus what it owns on the heap.
size_t ApproxBytes(const kube::StatefulSet& sts);
size_t ApproxBytes(const kube::Pod& pod);
size_t ApproxBytes(const kube::PersistentVolumeClaim& claim);
size_t ApproxBytes(const domain::Sandbox& sandbox);

// What the value owns on the heap (not its sizeof).
size_t HeapBytes(const std::string& s);
size_t HeapBytes(const kube::StringMap& m);

// The bookkeeping of one node of a std::map (or std::list) beside its value.
inline constexpr size_t kMapNodeBytes = 32;
// The control block of a std::make_shared allocation.
inline constexpr size_t kControlBlockBytes = 16;

}  // namespace sandboxd::service

#endif  // SANDBOXD_SERVICE_CACHE_MEMORY_H_
