// KubeConfig: where the API server is and how to authenticate to it, loaded either from
// kubeconfig files (KUBECONFIG path list or ~/.kube/config) or from the in-cluster
// service account.
//
// Loading resolves everything that can be resolved once: the context, relative paths
// (against the directory of the kubeconfig file that defined the entry), CA and client
// certificate contents (kept in memory, never written to temp files). Things that rotate
// are kept as recipes: `token_file` is a path re-read by the credential source, `exec`
// is a plugin run on demand.
//
// Auth precedence (the first one set wins; CredentialSource applies it):
//   token > token_file > client_cert_pem + client_key_pem > exec.
//
// Errors: NOT_FOUND when no kubeconfig file exists, FAILED_PRECONDITION for a file that
// cannot be parsed or lacks what the selected context needs (unknown context, cluster
// without server, unreadable CA, ...), and for a cluster whose server is a plain
// `http://` URL unless allow_insecure_http is set. Messages name the file, the key and
// the cluster.
//
// Pure data plus loader functions. The loaders read files and the environment; they are
// thread-safe as long as nobody calls setenv concurrently.
#ifndef SANDBOXD_KUBE_KUBE_CONFIG_H_
#define SANDBOXD_KUBE_KUBE_CONFIG_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace sandboxd::kube {

// A client.authentication.k8s.io exec credential plugin.
struct ExecConfig {
  std::string api_version;  // client.authentication.k8s.io/v1 or /v1beta1
  std::string command;      // absolute when it contained a '/', else looked up in PATH
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // added to the inherited env
  bool provide_cluster_info = false;
};

struct KubeConfig {
  std::string server;  // "https://host:port" (no trailing '/')
  std::string ca_pem;  // CA bundle contents; empty: system trust store
  bool insecure_skip_tls_verify = false;
  std::string ns = "default";  // the context's namespace
  std::string context;         // the context used ("" for in-cluster)
  std::string cluster;         // the cluster entry used ("" for in-cluster), for messages
  std::string source;          // what was loaded, for logs: file list or "in-cluster"

  std::string token;
  std::string token_file;  // absolute path; re-read on rotation
  std::string client_cert_pem;
  std::string client_key_pem;
  std::optional<ExecConfig> exec;
};

struct KubeConfigLoadOptions {
  // The KUBECONFIG value (':'-separated paths). nullopt: read the environment.
  std::optional<std::string> kubeconfig_env;
  // The home directory for the ~/.kube/config fallback. nullopt: $HOME.
  std::optional<std::string> home;
  // The context to use; "" uses current-context.
  std::string context;
  // Accept a cluster whose server is "http://..." (no TLS: tokens and data in the clear).
  // Off: such a cluster is refused with FAILED_PRECONDITION naming it.
  bool allow_insecure_http = false;
};

// Loads and merges kubeconfig files. The first file to set a map key (a cluster, user or
// context name, or current-context) wins; a later entry with the same name is ignored
// as a whole. Missing files in a KUBECONFIG list are skipped; NOT_FOUND if none exists.
absl::StatusOr<KubeConfig> LoadKubeConfig(const KubeConfigLoadOptions& options = {});

inline constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";

struct InClusterOptions {
  // Holds `token`, `ca.crt` and `namespace`.
  std::string service_account_dir = kServiceAccountDir;
};

// The in-cluster config: server from KUBERNETES_SERVICE_HOST/PORT (IPv6 bracketed),
// token_file = <dir>/token, CA from <dir>/ca.crt, namespace from POD_NAMESPACE, then
// <dir>/namespace, then "default". FAILED_PRECONDITION when not in a cluster (env unset)
// or the token/CA cannot be read.
absl::StatusOr<KubeConfig> LoadInClusterConfig(const InClusterOptions& options = {});

// Reads a whole file. NOT_FOUND if it does not exist, FAILED_PRECONDITION otherwise.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_KUBE_CONFIG_H_
