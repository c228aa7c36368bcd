// RequestCounter: a KubeClient decorator that counts the requests sandboxd sends about
// sandboxes, by verb and resource ("PATCH statefulsets/scale", "GET pods"), so that tests
// can assert the exact requests of one RPC. Token and access reviews (admission, which
// its own caches amortise), watches and timers are not counted.
//
// Thread-safe.
#ifndef SANDBOXD_TESTS_INTEGRATION_REQUEST_COUNTER_H_
#define SANDBOXD_TESTS_INTEGRATION_REQUEST_COUNTER_H_

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "src/kube/forwarding_kube_client.h"
#include "src/kube/kube_request.h"

namespace sandboxd::testing {

class RequestCounter final : public kube::ForwardingKubeClient {
 public:
  using Counts = std::map<std::string, int>;

  explicit RequestCounter(kube::KubeClient* inner) : ForwardingKubeClient(inner) {}

  void Get(const kube::ObjectRef& ref, const std::string& subresource,
           const kube::CallOptions& opts, kube::ResponseCallback done) override {
    Count("GET", ref.kind, subresource);
    ForwardingKubeClient::Get(ref, subresource, opts, std::move(done));
  }
  void List(kube::Kind kind, const std::string& ns, const kube::ListOptions& list,
            const kube::CallOptions& opts, kube::ResponseCallback done) override {
    Count("LIST", kind, "");
    ForwardingKubeClient::List(kind, ns, list, opts, std::move(done));
  }
  void Create(kube::Kind kind, const std::string& ns, std::string body,
              const kube::CallOptions& opts, kube::ResponseCallback done) override {
    Count("POST", kind, "");
    ForwardingKubeClient::Create(kind, ns, std::move(body), opts, std::move(done));
  }
  void Patch(const kube::ObjectRef& ref, const std::string& subresource, kube::PatchType type,
             std::string body, const kube::CallOptions& opts,
             kube::ResponseCallback done) override {
    Count("PATCH", ref.kind, subresource);
    ForwardingKubeClient::Patch(ref, subresource, type, std::move(body), opts, std::move(done));
  }
  void Delete(const kube::ObjectRef& ref, const kube::DeleteOptions& del,
              const kube::CallOptions& opts, kube::ResponseCallback done) override {
    Count("DELETE", ref.kind, "");
    ForwardingKubeClient::Delete(ref, del, opts, std::move(done));
  }
  void Replace(const kube::ObjectRef& ref, const std::string& subresource, std::string body,
               const kube::CallOptions& opts, kube::ResponseCallback done) override {
    Count("PUT", ref.kind, subresource);
    ForwardingKubeClient::Replace(ref, subresource, std::move(body), opts, std::move(done));
  }

  // A SandboxdServer::Hooks::decorate_kube that installs a counter and stores it in
  // `*out` (owned by the server).
  static auto Install(RequestCounter** out) {
    return [out](kube::KubeClient* inner) -> std::unique_ptr<kube::KubeClient> {
      auto counter = std::make_unique<RequestCounter>(inner);
      *out = counter.get();
      return counter;
    };
  }

  // The counts since the last Take(), and starts counting afresh.
  Counts Take() {
    absl::MutexLock lock(&mu_);
    return std::exchange(counts_, {});
  }

 private:
  void Count(const char* verb, kube::Kind kind, const std::string& subresource) {
    if (kind == kube::Kind::kTokenReview || kind == kube::Kind::kSubjectAccessReview) return;
    std::string key = absl::StrCat(verb, " ", kube::ResourceFor(kind).plural);
    if (!subresource.empty()) absl::StrAppend(&key, "/", subresource);
    absl::MutexLock lock(&mu_);
    ++counts_[key];
  }

  absl::Mutex mu_;
  Counts counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sandboxd::testing

#endif  // SANDBOXD_TESTS_INTEGRATION_REQUEST_COUNTER_H_
