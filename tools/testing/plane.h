// Test access to the local control plane started by the kube_plane ctest fixture
// (tools/kube-local): its kubeconfigs, and kubectl with the admin identity as an oracle
// that is independent of the code under test.
//
// Thread-compatible; functions that run kubectl are thread-safe.
#ifndef SANDBOXD_TOOLS_TESTING_PLANE_H_
#define SANDBOXD_TOOLS_TESTING_PLANE_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace sandboxd::testing {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs a shell command and returns its exit code and output.
CommandResult RunCommand(const std::string& command);

// Polls `condition` every 200 ms until it holds (true) or `timeout` passes (false).
bool Eventually(const std::function<bool()>& condition, absl::Duration timeout);

class Plane {
 public:
  // Reads $KUBE_LOCAL_STATE_DIR (set by ctest); aborts the test program if it is unset.
  Plane();

  const std::string& sandboxd_kubeconfig() const { return sandboxd_kubeconfig_; }

  // kubectl with the admin identity; `args` is appended verbatim (quote it yourself).
  CommandResult Kubectl(const std::string& args) const;
  // `kubectl -n ns get what -o jsonpath=path`; "" if the object does not exist.
  std::string JsonPath(const std::string& ns, const std::string& what,
                       const std::string& path) const;
  bool Exists(const std::string& ns, const std::string& what) const;

  // The sum of the API server's metric `name` over the series whose labels contain every
  // one of `label_matches` (e.g. `verb="WATCH"`).
  long MetricSum(const std::string& name, const std::vector<std::string>& label_matches) const;
  // Shorthand for gauges such as apiserver_longrunning_requests.
  long GaugeSum(const std::string& name, const std::vector<std::string>& label_matches) const {
    return MetricSum(name, label_matches);
  }

  // The API server's count of requests with `verb` on `resource`/`subresource` ("" for
  // the object itself) answered with `code` (apiserver_request_total). Pick verbs that
  // only the client under test issues (e.g. PATCH on "scale"): controllers write too.
  long RequestCount(const std::string& verb, const std::string& resource, const std::string& code,
                    const std::string& subresource = "") const;

  // Creates a namespace with a unique name starting with `prefix`, labelled
  // sandboxd.dev/enabled=true (served by sandboxd) unless `served` is false.
  std::string CreateNamespace(const std::string& prefix, bool served = true) const;

  // Creates ServiceAccount `ns`/`name` (if missing) and binds ClusterRole `role` to it,
  // in namespace `scope` (RoleBinding) or cluster-wide if `scope` is empty.
  void CreateCaller(const std::string& ns, const std::string& name, const std::string& role,
                    const std::string& scope) const;
  // A token of ServiceAccount `ns`/`name` for `audience` (kubectl create token); "" on
  // failure.
  std::string Token(const std::string& ns, const std::string& name,
                    const std::string& audience = "sandboxd.dev") const;
  // A token of ServiceAccount `ns`/`name` for `audience` that expires at `expiry`, made
  // like the API server's own and signed with the plane's service-account key, so that
  // expired tokens can be tested (kubectl create token issues at least 10 minutes).
  std::string SignedToken(const std::string& ns, const std::string& name, absl::Time expiry,
                          const std::string& audience = "sandboxd.dev") const;
  void DeleteNamespace(const std::string& ns) const;

 private:
  std::string state_dir_;
  std::string kubectl_;
  std::string admin_kubeconfig_;
  std::string sandboxd_kubeconfig_;
};

}  // namespace sandboxd::testing

#endif  // SANDBOXD_TOOLS_TESTING_PLANE_H_
