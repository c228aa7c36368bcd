#include "tools/bench/latency_stats.h"

#include <algorithm>
#include <cmath>

namespace sandboxd::bench {

void LatencySample::Merge(const LatencySample& other) {
  latencies_ms.insert(latencies_ms.end(), other.latencies_ms.begin(), other.latencies_ms.end());
  errors += other.errors;
  wall_seconds += other.wall_seconds;
  cpu_seconds += other.cpu_seconds;
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
  const size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return values[std::min(index, values.size() - 1)];
}

double Throughput(const LatencySample& sample) {
  if (sample.wall_seconds <= 0) return 0;
  return static_cast<double>(sample.latencies_ms.size()) / sample.wall_seconds;
}

double CpuMsPerCall(const LatencySample& sample) {
  if (sample.latencies_ms.empty()) return 0;
  return sample.cpu_seconds * 1000.0 / static_cast<double>(sample.latencies_ms.size());
}

}  // namespace sandboxd::bench
