// Latency statistics of one benchmark side: nearest-rank percentiles over per-call
// latencies, and throughput over the wall time the calls ran in.
//
// Pure values and functions. LatencySample is thread-compatible.
#ifndef SANDBOXD_TOOLS_BENCH_LATENCY_STATS_H_
#define SANDBOXD_TOOLS_BENCH_LATENCY_STATS_H_

#include <cstdint>
#include <vector>

namespace sandboxd::bench {

struct LatencySample {
  std::vector<double> latencies_ms;  // successful calls only
  int64_t errors = 0;
  double wall_seconds = 0;  // summed over the rounds this side ran
  double cpu_seconds = 0;   // CPU time of the whole process over those rounds

  void Merge(const LatencySample& other);
};

// The nearest-rank `p`-th percentile (0 < p <= 100) of `values`; 0 for an empty input.
double Percentile(std::vector<double> values, double p);

// Successful calls per second of wall time; 0 when no time was measured.
double Throughput(const LatencySample& sample);

// Process CPU milliseconds per successful call; 0 when there was none.
double CpuMsPerCall(const LatencySample& sample);

}  // namespace sandboxd::bench

#endif  // SANDBOXD_TOOLS_BENCH_LATENCY_STATS_H_
