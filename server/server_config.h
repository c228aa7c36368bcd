// Settings of the sandboxd server: where it listens, the defaults of new sandboxes and the
// limits of caller input, how it reaches Kubernetes, connection keepalive, shutdown and
// logging.
//
// Sources, highest precedence first: a command-line flag that was given explicitly,
// the YAML config file (--config), the built-in default (the member initializers of
// ServerConfig). The config file has the layout below; every key is optional, and an
// unknown key is INVALID_ARGUMENT naming its path. Durations are strings in Abseil
// syntax ("30s", "1m30s").
//
//   listen_address: "0.0.0.0:50051"   # --listen_address
//   health_listen_address: "0.0.0.0:8081"  # --health_listen_address: plaintext, the
//                                      #   health service (Kubernetes gRPC probes speak
//                                      #   no TLS); empty: none
//   metrics_listen_address: "0.0.0.0:9090"  # --metrics_listen_address: plaintext HTTP,
//                                      #   Prometheus text at /metrics; empty: none
//   log_level: info                    # --log_level: trace|debug|info|warn|error|critical|off
//   log_format: text                   # --log_format: text|json (one JSON object per
//                                      #   line; server/log_format.h)
//   shutdown_grace: 15s                # --shutdown_grace
//   orphan_claim_grace: 60s            # --orphan_claim_grace: how long a claim of a deleted
//                                      #   sandbox may be orphaned (sandboxd's, not kept,
//                                      #   no owner) before sandboxd deletes it
//                                      #   (src/service/claim_janitor.h); 0: never
//   max_message_bytes: 4194304         # --max_message_bytes: largest gRPC request accepted
//   reflection: true                   # --reflection: serve gRPC server reflection on the
//                                      #   listener (no credentials needed: it describes
//                                      #   the API, no data); false: clients need the protos
//   kube:
//     kubeconfig: /path/to/kubeconfig  # --kubeconfig (empty: in-cluster / $KUBECONFIG)
//     context: my-context              # --kube_context (empty: the current context)
//     service_account_dir: /var/run/secrets/kubernetes.io/serviceaccount
//                                      # --kube_service_account_dir: the in-cluster
//                                      #   config's token, ca.crt and namespace
//     qps: 0                           # --kube_qps (0: no client-side throttle)
//     burst: 100                       # --kube_burst (with qps > 0)
//     allow_http: false                # --kube_allow_http: accept an http:// API server
//                                      #   (no TLS; local tests only)
//     namespaced: false                # --kube_namespaced: watch each served namespace on
//                                      #   its own (RoleBindings suffice; docs/SECURITY.md)
//   tls:                               # the gRPC listener
//     cert_file: /etc/sandboxd/tls/tls.crt   # --tls_cert_file (re-read when it changes)
//     key_file: /etc/sandboxd/tls/tls.key    # --tls_key_file
//     client_ca_file: /etc/sandboxd/tls/ca.crt  # --tls_client_ca_file: verify client
//                                      #   certificates (mTLS identity) against this CA
//     plaintext: false                 # --plaintext: no TLS (local tests only; warns)
//   auth:
//     audiences: [sandboxd.dev]        # --auth_audiences (comma-separated): TokenReview
//     served_namespace_selector: sandboxd.dev/enabled=true  # --served_namespace_selector
//     own_namespace: sandboxd-system   # --own_namespace: never served
//   fair_use:                          # per caller identity
//     calls_per_second: 100            # --caller_qps (<= 0: unlimited)
//     burst: 200                       # --caller_burst
//     max_watch_streams: 100           # --max_watch_streams_per_caller (<= 0: unlimited)
//   keepalive:
//     time: 60s                        # --keepalive_time
//     timeout: 20s                     # --keepalive_timeout
//     min_ping_interval: 30s           # --keepalive_min_ping_interval
//   sandbox_defaults:
//     image: registry/sandbox:tag      # --default_image
//     resources:
//       requests: {cpu: 500m, memory: 1Gi}  # --default_cpu_request, --default_memory_request
//       limits: {cpu: "2", memory: 4Gi}     # --default_cpu_limit, --default_memory_limit
//     storage:
//       size: 5Gi                      # --default_storage_size
//       class: fast-ssd                # --default_storage_class
//       mount_path: /home/agent        # --default_mount_path
//       claim_template_name: ""        # --default_claim_template_name; "": Sealos
//                                      #   name of mount_path (vn-homevn-agent)
//     ports: {app: 3000, terminal: 7681}    # --default_app_port, --default_terminal_port
//     ingress:
//       class: nginx                   # --ingress_class
//       tls_secret: wildcard-tls       # --tls_secret (also turns ssl-redirect on)
//       auth_url: https://auth.example.com/oauth2/auth    # --ingress_auth_url: terminal
//       auth_signin: https://auth.example.com/oauth2/start  # --ingress_auth_signin
//       auth_app: false                # --ingress_auth_app: the app Ingress too
//       controller_namespace: ingress-nginx  # --ingress_controller_namespace: one
//                                      # NetworkPolicy per namespace admits only this
//                                      # namespace to sandbox ports; "" = none
//     security_context:
//       run_as_user: 1000              # --run_as_user
//       fs_group: 1000                 # --fs_group
//     claim_bind_timeout: 2m           # --claim_bind_timeout
//   limits:                            # caller input maxima (domain::SandboxLimits)
//     max_storage_size: 100Gi          # --max_storage_size ("": no maximum)
//     allowed_storage_classes: [fast-ssd, standard]  # --allowed_storage_classes=a,b
//     allowed_ingress_domains: [dev.example.com]      # --allowed_ingress_domains=a,b
//                                      #   (empty: any; else the default class is one)
//     max_cpu: "16"                    # --max_cpu: requests and limits ("": no maximum)
//     max_memory: 64Gi                 # --max_memory: requests and limits ("": no maximum)
//     max_env_vars: 256                # --max_env_vars
//     max_env_bytes: 262144            # --max_env_bytes: env names and values
//     max_labels: 32                   # --max_labels: caller labels
//     max_selector_length: 1024        # --max_selector_length: List/Watch label_selector
//     max_selector_terms: 20           # --max_selector_terms
//
// Flags are std::optional: "given explicitly" means the flag holds a value. Passing an
// empty value (--flag=) leaves an optional flag unset, so a flag cannot override a
// config file string with an empty string.
//
// ServerConfig and ServerConfigOverrides are plain values: thread-compatible.
// LoadServerConfig() reads global flags: call it after absl::ParseCommandLine() and not
// concurrently with flag writes.
#ifndef SANDBOXD_SERVER_SERVER_CONFIG_H_
#define SANDBOXD_SERVER_SERVER_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/domain/sandbox.h"
#include "src/kube/kube_config.h"

ABSL_DECLARE_FLAG(std::optional<std::string>, config);

namespace sandboxd::server {

struct KubeSettings {
  std::string kubeconfig;  // empty: in-cluster config, else $KUBECONFIG / ~/.kube/config
  std::string context;     // empty: the kubeconfig's current context
  // In-cluster config (no kubeconfig, KUBERNETES_SERVICE_HOST set): the directory of the
  // projected ServiceAccount token (token, ca.crt, namespace), re-read as it rotates.
  std::string service_account_dir = kube::kServiceAccountDir;
  // Client-side throttle: sustained requests per second to the API server, >= 0. 0 (the
  // default): none; the API server's Priority and Fairness limits sandboxd (429s are
  // retried), as SIG API Machinery advises for clients of Kubernetes >= 1.22.
  double qps = 0;
  int32_t burst = 100;  // requests above qps allowed in a burst (qps > 0), >= 1
  // Accept a plain http:// API server (kube::KubeConfigLoadOptions::allow_insecure_http,
  // kube::CurlKubeClientOptions::allow_insecure_http); off: such a cluster is refused.
  bool allow_http = false;
  // Watch sandboxes per served namespace instead of cluster-wide
  // (service::CacheFeed::Scope::kPerNamespace), so that sandboxd needs permissions on
  // StatefulSets, pods and claims only in the namespaces it serves.
  bool namespaced = false;
};

struct KeepaliveSettings {
  absl::Duration time = absl::Seconds(60);     // GRPC_ARG_KEEPALIVE_TIME_MS
  absl::Duration timeout = absl::Seconds(20);  // GRPC_ARG_KEEPALIVE_TIMEOUT_MS
  // GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS: the smallest interval at
  // which clients may ping; must not exceed what clients send.
  absl::Duration min_ping_interval = absl::Seconds(30);
};

// The gRPC listener's transport security: plaintext, or cert_file and key_file
// (optionally client_ca_file for mutual TLS). With neither, sandboxd refuses to start
// (SandboxdServer::Start).
struct TlsSettings {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
  bool plaintext = false;
};

// Who may call (see src/auth/access_control.h).
struct AuthSettings {
  std::vector<std::string> audiences = {"sandboxd.dev"};  // empty: the API server's own
  std::string served_namespace_selector = "sandboxd.dev/enabled=true";
  std::string own_namespace = "sandboxd-system";
};

// Per caller identity (src/auth/caller_limits.h).
struct FairUseSettings {
  double calls_per_second = 100;
  int32_t burst = 200;
  int32_t max_watch_streams = 100;
};

struct ServerConfig {
  std::string listen_address = "0.0.0.0:50051";
  std::string health_listen_address;  // empty: no separate health listener
  // Prometheus /metrics (server/server_metrics.h); empty: not served. On by default: the
  // metrics carry no caller data or secrets, and deploy/ scrapes this port.
  std::string metrics_listen_address = "0.0.0.0:9090";
  TlsSettings tls;
  AuthSettings auth;
  FairUseSettings fair_use;
  // Defaults of new sandboxes; its `limits` member holds the `limits:` section.
  domain::SandboxDefaults sandbox_defaults;
  // The largest request message the gRPC server accepts (larger: RESOURCE_EXHAUSTED).
  int32_t max_message_bytes = 4 * 1024 * 1024;
  // gRPC server reflection on the listener, callable without credentials (grpcurl reads
  // the API from it).
  bool reflection = true;
  KubeSettings kube;
  KeepaliveSettings keepalive;
  // How long Shutdown waits for calls and streams to finish before cancelling them.
  absl::Duration shutdown_grace = absl::Seconds(15);
  // A claim orphaned this long is deleted (service::ClaimJanitor); zero: no janitor.
  absl::Duration orphan_claim_grace = absl::Seconds(60);
  std::string log_level = "info";  // spdlog level name
  std::string log_format = "text";  // "text" or "json" (server/log_format.h)
};

// The explicitly given flags; unset members do not override anything.
struct ServerConfigOverrides {
  std::optional<std::string> listen_address;
  std::optional<std::string> health_listen_address;
  std::optional<std::string> metrics_listen_address;
  std::optional<std::string> tls_cert_file;
  std::optional<std::string> tls_key_file;
  std::optional<std::string> tls_client_ca_file;
  std::optional<bool> plaintext;
  std::optional<std::vector<std::string>> auth_audiences;
  std::optional<std::string> served_namespace_selector;
  std::optional<std::string> own_namespace;
  std::optional<double> caller_qps;
  std::optional<int32_t> caller_burst;
  std::optional<int32_t> max_watch_streams_per_caller;
  std::optional<std::string> log_level;
  std::optional<std::string> log_format;
  std::optional<absl::Duration> shutdown_grace;
  std::optional<absl::Duration> orphan_claim_grace;
  std::optional<std::string> kubeconfig;
  std::optional<std::string> kube_context;
  std::optional<std::string> kube_service_account_dir;
  std::optional<double> kube_qps;
  std::optional<int32_t> kube_burst;
  std::optional<bool> kube_allow_http;
  std::optional<bool> kube_namespaced;
  std::optional<absl::Duration> keepalive_time;
  std::optional<absl::Duration> keepalive_timeout;
  std::optional<absl::Duration> keepalive_min_ping_interval;
  std::optional<std::string> default_image;
  std::optional<std::string> default_cpu_request;
  std::optional<std::string> default_memory_request;
  std::optional<std::string> default_cpu_limit;
  std::optional<std::string> default_memory_limit;
  std::optional<std::string> default_storage_size;
  std::optional<std::string> default_storage_class;
  std::optional<std::string> default_mount_path;
  std::optional<std::string> default_claim_template_name;
  std::optional<int32_t> default_app_port;
  std::optional<int32_t> default_terminal_port;
  std::optional<std::string> ingress_class;
  std::optional<std::string> tls_secret;
  std::optional<std::string> ingress_auth_url;
  std::optional<std::string> ingress_auth_signin;
  std::optional<bool> ingress_auth_app;
  std::optional<std::string> ingress_controller_namespace;
  std::optional<int64_t> run_as_user;
  std::optional<int64_t> fs_group;
  std::optional<absl::Duration> claim_bind_timeout;
  std::optional<int32_t> max_message_bytes;
  std::optional<bool> reflection;
  std::optional<std::string> max_storage_size;
  std::optional<std::vector<std::string>> allowed_storage_classes;
  std::optional<std::vector<std::string>> allowed_ingress_domains;
  std::optional<std::string> max_cpu;
  std::optional<std::string> max_memory;
  std::optional<int64_t> max_env_vars;
  std::optional<int64_t> max_env_bytes;
  std::optional<int64_t> max_labels;
  std::optional<int64_t> max_selector_length;
  std::optional<int64_t> max_selector_terms;
};

// Applies the YAML document `yaml` on top of `*config`. `source` names the document in
// error messages (e.g. the file path). INVALID_ARGUMENT: syntax error (with line and
// column), the document is not a mapping, an unknown key (message names its dotted
// path, e.g. "kube.qsp"), a value of the wrong type. On error `*config` may be
// partly updated.
absl::Status ApplyConfigYaml(std::string_view yaml, std::string_view source,
                             ServerConfig* config);

// Applies the set members of `overrides` on top of `*config`.
void ApplyOverrides(const ServerConfigOverrides& overrides, ServerConfig* config);

// Checks the value ranges of a complete config. INVALID_ARGUMENT naming the setting
// (its config file path) when a value is out of range: empty listen_address, unknown
// log_level or log_format, negative shutdown_grace / orphan_claim_grace /
// keepalive.min_ping_interval, non-positive
// keepalive.time / keepalive.timeout / claim_bind_timeout / qps / max_message_bytes,
// burst < 1, both tls.plaintext and tls.cert_file, tls.cert_file without
// tls.key_file (or the reverse), tls.client_ca_file with plaintext, an empty
// served_namespace_selector, fair_use.burst < 1, ports outside 1..65535 or equal, an empty storage
// size or ingress class, a relative mount path, negative run_as_user / fs_group, an empty default
// cpu or memory request (pods would be BestEffort), a default request or limit that is
// not a quantity or a request above its limit; a non-empty limits.max_* that is not a
// positive quantity, a negative limits count, an empty allowed storage class; a default
// above its maximum, a default storage class not among limits.allowed_storage_classes, or
// a default ingress domain not among limits.allowed_ingress_domains. kube.allow_http is
// any value (the Kubernetes config loader enforces it).
absl::Status ValidateServerConfig(const ServerConfig& config);

// Built-in defaults, then the YAML document `yaml` if given, then `overrides`;
// validated. Errors as ApplyConfigYaml() and ValidateServerConfig().
absl::StatusOr<ServerConfig> ResolveServerConfig(const std::optional<std::string>& yaml,
                                                 std::string_view source,
                                                 const ServerConfigOverrides& overrides);

// The explicitly given values of the process's sandboxd flags.
ServerConfigOverrides OverridesFromFlags();

// ResolveServerConfig() from the process's flags and the file named by --config (if
// set). NOT_FOUND if the file cannot be read; other errors as ResolveServerConfig().
absl::StatusOr<ServerConfig> LoadServerConfig();

}  // namespace sandboxd::server

#endif  // SANDBOXD_SERVER_SERVER_CONFIG_H_
