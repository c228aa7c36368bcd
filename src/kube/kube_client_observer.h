// KubeClientObserver: what CurlKubeClient reports about its HTTP traffic, for metrics.
// The Kubernetes layer knows no metrics library; server/server_metrics.h implements this
// with Prometheus (client-go's rest_client_* metrics).
//
// Called on the client's I/O thread: implementations must be thread-safe and must not
// block.
#ifndef SANDBOXD_KUBE_KUBE_CLIENT_OBSERVER_H_
#define SANDBOXD_KUBE_KUBE_CLIENT_OBSERVER_H_

#include <string>

#include "absl/time/time.h"

namespace sandboxd::kube {

class KubeClientObserver {
 public:
  virtual ~KubeClientObserver() = default;

  // One attempt of a request ended (a retry is another attempt; a watch ends when its
  // stream does). `method` is the HTTP method ("GET", "POST", ...), `host` the API
  // server's host:port, `code` the HTTP status, 0 when no response arrived (transport
  // error, cancelled, timed out). `latency` from sending to the end of the response.
  virtual void AttemptDone(const std::string& method, const std::string& host, int code,
                           absl::Duration latency, bool watch) = 0;

  // An attempt took its client-side throttle token and must wait `wait` (often zero)
  // before it is sent.
  virtual void Throttled(const std::string& method, const std::string& host,
                         absl::Duration wait) = 0;
};

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_KUBE_CLIENT_OBSERVER_H_
