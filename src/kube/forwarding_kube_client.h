// ForwardingKubeClient: a KubeClient that passes every call to another one unchanged. A
// base for decorators (request counters in tests, timestamping in benchmarks) that
// override only the calls they look at.
//
// Thread-safe as `inner` is. `inner` must outlive this client.
#ifndef SANDBOXD_KUBE_FORWARDING_KUBE_CLIENT_H_
#define SANDBOXD_KUBE_FORWARDING_KUBE_CLIENT_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "src/kube/kube_client.h"

namespace sandboxd::kube {

class ForwardingKubeClient : public KubeClient {
 public:
  explicit ForwardingKubeClient(KubeClient* inner) : inner_(inner) {}

  void Get(const ObjectRef& ref, const std::string& subresource, const CallOptions& opts,
           ResponseCallback done) override {
    inner_->Get(ref, subresource, opts, std::move(done));
  }
  void List(Kind kind, const std::string& ns, const ListOptions& list, const CallOptions& opts,
            ResponseCallback done) override {
    inner_->List(kind, ns, list, opts, std::move(done));
  }
  void Create(Kind kind, const std::string& ns, std::string body, const CallOptions& opts,
              ResponseCallback done) override {
    inner_->Create(kind, ns, std::move(body), opts, std::move(done));
  }
  void Patch(const ObjectRef& ref, const std::string& subresource, PatchType type,
             std::string body, const CallOptions& opts, ResponseCallback done) override {
    inner_->Patch(ref, subresource, type, std::move(body), opts, std::move(done));
  }
  void Delete(const ObjectRef& ref, const DeleteOptions& del, const CallOptions& opts,
              ResponseCallback done) override {
    inner_->Delete(ref, del, opts, std::move(done));
  }
  void Replace(const ObjectRef& ref, const std::string& subresource, std::string body,
               const CallOptions& opts, ResponseCallback done) override {
    inner_->Replace(ref, subresource, std::move(body), opts, std::move(done));
  }
  std::unique_ptr<WatchHandle> Watch(Kind kind, const std::string& ns, const WatchOptions& opts,
                                     const CallOptions& call,
                                     std::function<void(WatchEvent)> on_event,
                                     std::function<void(absl::Status)> on_done) override {
    return inner_->Watch(kind, ns, opts, call, std::move(on_event), std::move(on_done));
  }
  absl::Status RunAfter(absl::Duration delay, std::function<void()> fn) override {
    return inner_->RunAfter(delay, std::move(fn));
  }

 protected:
  KubeClient* inner() const { return inner_; }

 private:
  KubeClient* const inner_;  // not owned
};

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_FORWARDING_KUBE_CLIENT_H_
