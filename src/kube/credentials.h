// CredentialSource: produces the credentials for the next request and refreshes them
// when the API server says they are stale (HTTP 401).
//
// Implementations:
//   * static bearer token or client certificate (never refreshes);
//   * FileTokenSource: re-reads a token file (service-account rotation); caches it for
//     one minute, drops the cache on Invalidate();
//   * ExecCredentialSource: runs a client.authentication.k8s.io v1/v1beta1 plugin, caches
//     its output until expirationTimestamp, reruns it after Invalidate().
// MakeCredentialSource picks one from a KubeConfig by precedence
// token > token_file > client cert/key > exec.
//
// Thread-safe. Get() may block: reading a file, or running an exec plugin (bounded by
// a 30 s timeout). Cached() and Invalidate() never block on a plugin run (they may wait
// for a token file read). CurlKubeClient calls Cached() and Invalidate() on its I/O
// thread and Get() only on a separate thread.
#ifndef SANDBOXD_KUBE_CREDENTIALS_H_
#define SANDBOXD_KUBE_CREDENTIALS_H_

#include <memory>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/kube/kube_config.h"

namespace sandboxd::kube {

struct Credentials {
  std::string bearer_token;     // empty: none
  std::string client_cert_pem;  // empty: none (then client_key_pem is empty too)
  std::string client_key_pem;
};

class CredentialSource {
 public:
  virtual ~CredentialSource() = default;

  // The credentials to use at `now`. UNAUTHENTICATED when they cannot be produced (token
  // file unreadable, plugin failed or printed garbage); the message says why.
  virtual absl::StatusOr<Credentials> Get(absl::Time now) = 0;

  // What Get(now) would return when that needs no blocking work (static credentials, a
  // cached token that is still valid); nullopt when Get() would read a file or run a
  // plugin. Never blocks on a plugin run. The default (for sources that do not say):
  // nullopt.
  virtual std::optional<absl::StatusOr<Credentials>> Cached(absl::Time now);

  // Called after a 401. Returns true when a later Get() may return fresh credentials (a
  // retry is worthwhile), false for static credentials.
  virtual bool Invalidate() = 0;
};

// The source for `config` (see precedence above); anonymous (empty credentials) when the
// config has no auth.
std::unique_ptr<CredentialSource> MakeCredentialSource(const KubeConfig& config);

// Re-reads `path`, caching the token for `cache_for`. Trailing whitespace is trimmed.
class FileTokenSource : public CredentialSource {
 public:
  explicit FileTokenSource(std::string path, absl::Duration cache_for = absl::Minutes(1));
  absl::StatusOr<Credentials> Get(absl::Time now) override;
  std::optional<absl::StatusOr<Credentials>> Cached(absl::Time now) override;
  bool Invalidate() override;

 private:
  const std::string path_;
  const absl::Duration cache_for_;
  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  absl::Time read_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// The decoded output of an exec plugin.
struct ExecCredential {
  Credentials credentials;
  std::optional<absl::Time> expiry;  // nullopt: valid until a 401
};

// Parses a plugin's stdout. `api_version` is the version the plugin was asked for; the
// output must echo it, be kind ExecCredential, and hold a token or both cert and key.
absl::StatusOr<ExecCredential> ParseExecCredential(absl::string_view json,
                                                   absl::string_view api_version);

class ExecCredentialSource : public CredentialSource {
 public:
  // `cluster` provides server/CA for KUBERNETES_EXEC_INFO when provide_cluster_info is set.
  ExecCredentialSource(ExecConfig exec, KubeConfig cluster);
  // Runs the plugin when nothing valid is cached; one run at a time (concurrent callers
  // wait for it and share its result). The cache lock is not held during the run.
  absl::StatusOr<Credentials> Get(absl::Time now) override;
  std::optional<absl::StatusOr<Credentials>> Cached(absl::Time now) override;
  bool Invalidate() override;

  // The KUBERNETES_EXEC_INFO value passed to the plugin.
  std::string ExecInfo() const;

 private:
  // The cached credentials at `now`, if valid.
  std::optional<Credentials> Valid(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ExecConfig exec_;
  const KubeConfig cluster_;
  absl::Mutex run_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // held for a whole plugin run
  absl::Mutex mu_;
  std::optional<ExecCredential> cached_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_CREDENTIALS_H_
