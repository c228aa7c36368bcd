#include "server/server_config.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/domain/builders.h"
#include "src/domain/error_reasons.h"
#include "src/domain/errors.h"
#include "src/domain/naming.h"
#include "src/domain/quantity.h"
#include "src/domain/validation.h"
#include "yaml-cpp/yaml.h"

// Every flag is optional: it overrides the config file only when given.
ABSL_FLAG(std::optional<std::string>, config, std::nullopt,
          "Path of a YAML config file; flags given explicitly override its values");
ABSL_FLAG(std::optional<std::string>, listen_address, std::nullopt,
          "gRPC listen address, host:port (default 0.0.0.0:50051)");
ABSL_FLAG(std::optional<std::string>, health_listen_address, std::nullopt,
          "Plaintext listener serving only grpc.health.v1, for Kubernetes gRPC probes "
          "(default: none)");
ABSL_FLAG(std::optional<std::string>, metrics_listen_address, std::nullopt,
          "Plaintext HTTP listener serving Prometheus metrics at /metrics; empty: none "
          "(default 0.0.0.0:9090)");
ABSL_FLAG(std::optional<std::string>, tls_cert_file, std::nullopt,
          "PEM certificate chain of the gRPC listener (re-read when the file changes)");
ABSL_FLAG(std::optional<std::string>, tls_key_file, std::nullopt,
          "PEM private key of the gRPC listener (re-read when the file changes)");
ABSL_FLAG(std::optional<std::string>, tls_client_ca_file, std::nullopt,
          "PEM CA bundle: verify client certificates against it (mutual TLS; the "
          "certificate's CN is the caller, its O entries the groups)");
ABSL_FLAG(bool, plaintext, false,
          "Serve gRPC without TLS (local tests only); given, it turns tls.plaintext on");
ABSL_FLAG(std::optional<std::string>, auth_audiences, std::nullopt,
          "Comma-separated audiences bearer tokens must be issued for (TokenReview; "
          "default sandboxd.dev; empty: the API server's own)");
ABSL_FLAG(std::optional<std::string>, served_namespace_selector, std::nullopt,
          "Label selector of the namespaces sandboxd serves (default "
          "sandboxd.dev/enabled=true)");
ABSL_FLAG(std::optional<std::string>, own_namespace, std::nullopt,
          "sandboxd's own namespace, never served (default sandboxd-system)");
ABSL_FLAG(std::optional<double>, caller_qps, std::nullopt,
          "Calls per second each caller identity may make (default 100; <= 0: unlimited)");
ABSL_FLAG(std::optional<int32_t>, caller_burst, std::nullopt,
          "Calls a caller may make at once above caller_qps (default 200)");
ABSL_FLAG(std::optional<int32_t>, max_watch_streams_per_caller, std::nullopt,
          "Watch streams each caller identity may hold open (default 100; <= 0: unlimited)");
ABSL_FLAG(std::optional<std::string>, log_level, std::nullopt,
          "trace|debug|info|warn|error|critical|off (default info)");
ABSL_FLAG(std::optional<std::string>, log_format, std::nullopt,
          "text|json: json writes one JSON object per line (default text)");
ABSL_FLAG(std::optional<absl::Duration>, shutdown_grace, std::nullopt,
          "How long shutdown waits for calls and streams before cancelling them (default 15s)");
ABSL_FLAG(std::optional<absl::Duration>, orphan_claim_grace, std::nullopt,
          "How long a claim of a deleted sandbox may be orphaned (sandboxd's, not kept, no "
          "owner, no StatefulSet) before sandboxd deletes it (default 60s; 0: never)");
ABSL_FLAG(std::optional<std::string>, kubeconfig, std::nullopt,
          "Kubeconfig path (default: in-cluster config, else $KUBECONFIG or ~/.kube/config)");
ABSL_FLAG(std::optional<std::string>, kube_context, std::nullopt,
          "Kubeconfig context (default: the current context)");
ABSL_FLAG(std::optional<std::string>, kube_service_account_dir, std::nullopt,
          "In-cluster config: directory of the ServiceAccount token, ca.crt and namespace "
          "(default /var/run/secrets/kubernetes.io/serviceaccount)");
ABSL_FLAG(std::optional<double>, kube_qps, std::nullopt,
          "Client-side throttle: sustained Kubernetes API requests per second (default 0: "
          "none; the API server's Priority and Fairness limits sandboxd)");
ABSL_FLAG(std::optional<int32_t>, kube_burst, std::nullopt,
          "Kubernetes API request burst above kube_qps, when kube_qps > 0 (default 100)");
ABSL_FLAG(bool, kube_allow_http, false,
          "Accept a plain http:// Kubernetes API server (no TLS; local tests only); given, it "
          "turns kube.allow_http on");
ABSL_FLAG(bool, kube_namespaced, false,
          "Watch sandboxes in each served namespace on its own instead of cluster-wide, so "
          "that RoleBindings in the served namespaces suffice; given, it turns "
          "kube.namespaced on");
ABSL_FLAG(std::optional<absl::Duration>, keepalive_time, std::nullopt,
          "Interval of server keepalive pings (default 60s)");
ABSL_FLAG(std::optional<absl::Duration>, keepalive_timeout, std::nullopt,
          "How long a keepalive ping may go unanswered (default 20s)");
ABSL_FLAG(std::optional<absl::Duration>, keepalive_min_ping_interval, std::nullopt,
          "Smallest interval at which clients may send pings (default 30s)");
ABSL_FLAG(std::optional<std::string>, default_image, std::nullopt,
          "Image of sandboxes that name none");
ABSL_FLAG(std::optional<std::string>, default_cpu_request, std::nullopt,
          "CPU request of sandboxes that name none");
ABSL_FLAG(std::optional<std::string>, default_memory_request, std::nullopt,
          "Memory request of sandboxes that name none");
ABSL_FLAG(std::optional<std::string>, default_cpu_limit, std::nullopt,
          "CPU limit of sandboxes that name none");
ABSL_FLAG(std::optional<std::string>, default_memory_limit, std::nullopt,
          "Memory limit of sandboxes that name none");
ABSL_FLAG(std::optional<std::string>, default_storage_size, std::nullopt,
          "Home volume size of sandboxes that name none (default 5Gi)");
ABSL_FLAG(std::optional<std::string>, default_storage_class, std::nullopt,
          "StorageClass of sandboxes that name none (default: the cluster's)");
ABSL_FLAG(std::optional<std::string>, default_mount_path, std::nullopt,
          "Home volume mount path (default /home/agent)");
ABSL_FLAG(std::optional<std::string>, default_claim_template_name, std::nullopt,
          "Name of a new sandbox's volumeClaimTemplate (default: the Sealos name of the "
          "mount path, vn-homevn-agent for /home/agent; \"home\": the pre-Sealos name)");
ABSL_FLAG(std::optional<int32_t>, default_app_port, std::nullopt,
          "Application port (default 3000)");
ABSL_FLAG(std::optional<int32_t>, default_terminal_port, std::nullopt,
          "Terminal (ttyd) port (default 7681)");
ABSL_FLAG(std::optional<std::string>, ingress_class, std::nullopt,
          "ingressClassName of sandbox Ingresses (default nginx)");
ABSL_FLAG(std::optional<std::string>, ingress_auth_url, std::nullopt,
          "ingress-nginx auth-url of the sandboxes' terminal Ingresses (e.g. an oauth2-proxy "
          "endpoint; default: none)");
ABSL_FLAG(std::optional<std::string>, ingress_auth_signin, std::nullopt,
          "ingress-nginx auth-signin of the authenticated Ingresses (default: none)");
ABSL_FLAG(bool, ingress_auth_app, false,
          "Authenticate the app Ingresses too (given, it turns ingress.auth_app on)");
ABSL_FLAG(std::optional<std::string>, ingress_controller_namespace, std::nullopt,
          "Namespace of the ingress controller: one NetworkPolicy per namespace "
          "(sandboxd-sandboxes) admits only pods of this namespace to the sandboxes' ports "
          "(default ingress-nginx; empty: no NetworkPolicy)");
ABSL_FLAG(std::optional<std::string>, tls_secret, std::nullopt,
          "TLS secret of sandbox Ingresses (default: none, no TLS)");
ABSL_FLAG(std::optional<int64_t>, run_as_user, std::nullopt,
          "runAsUser of sandbox pods (default 1000)");
ABSL_FLAG(std::optional<int64_t>, fs_group, std::nullopt,
          "fsGroup of sandbox pods (default 1000)");
ABSL_FLAG(std::optional<absl::Duration>, claim_bind_timeout, std::nullopt,
          "How long a home volume claim may stay unbound before the sandbox is in "
          "ERROR (default 2m)");
ABSL_FLAG(std::optional<int32_t>, max_message_bytes, std::nullopt,
          "Largest gRPC request message accepted, in bytes (default 4194304, 4 MiB)");
ABSL_FLAG(std::optional<bool>, reflection, std::nullopt,
          "Serve gRPC server reflection on the listener, without credentials (default "
          "true); false: clients need the .proto files");
ABSL_FLAG(std::optional<std::string>, max_storage_size, std::nullopt,
          "Largest home volume a sandbox may ask for (default 100Gi)");
ABSL_FLAG(std::optional<std::vector<std::string>>, allowed_storage_classes, std::nullopt,
          "Comma-separated StorageClasses sandboxes may use (default: any)");
ABSL_FLAG(std::optional<std::vector<std::string>>, allowed_ingress_domains, std::nullopt,
          "Comma-separated ingress domains sandboxes may use (default: any)");
ABSL_FLAG(std::optional<std::string>, max_cpu, std::nullopt,
          "Largest CPU request or limit a sandbox may ask for (default 16)");
ABSL_FLAG(std::optional<std::string>, max_memory, std::nullopt,
          "Largest memory request or limit a sandbox may ask for (default 64Gi)");
ABSL_FLAG(std::optional<int64_t>, max_env_vars, std::nullopt,
          "Most environment variables a sandbox may have (default 256)");
ABSL_FLAG(std::optional<int64_t>, max_env_bytes, std::nullopt,
          "Most bytes of environment variable names and values a sandbox may have "
          "(default 262144)");
ABSL_FLAG(std::optional<int64_t>, max_labels, std::nullopt,
          "Most caller labels a sandbox may have (default 32)");
ABSL_FLAG(std::optional<int64_t>, max_selector_length, std::nullopt,
          "Longest label_selector of ListSandboxes / WatchSandboxes, in bytes (default 1024)");
ABSL_FLAG(std::optional<int64_t>, max_selector_terms, std::nullopt,
          "Most requirements in a label_selector of ListSandboxes / WatchSandboxes "
          "(default 20)");

namespace sandboxd::server {
namespace {

constexpr std::string_view kConfigReason = domain::reason::kInvalidConfig;

absl::Status ConfigError(absl::string_view source, absl::string_view key, absl::string_view why) {
  return domain::MakeError(absl::StatusCode::kInvalidArgument, kConfigReason,
                           absl::StrCat(source, ": ", key, ": ", why),
                           {{"source", std::string(source)}, {"key", std::string(key)}});
}

// A setting whose final value (from any source) is out of range.
absl::Status SettingError(absl::string_view key, absl::string_view why) {
  return domain::MakeError(absl::StatusCode::kInvalidArgument, kConfigReason,
                           absl::StrCat("setting ", key, ": ", why),
                           {{"key", std::string(key)}});
}

std::string Join(absl::string_view path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

// Walks one YAML document. Not thread-safe; lives for one ApplyConfigYaml() call.
class YamlReader {
 public:
  using Handler = std::function<absl::Status(const YAML::Node&, const std::string& path)>;

  explicit YamlReader(absl::string_view source) : source_(source) {}

  // Calls the handler of every key of the mapping `node`; an unknown key is an error.
  // A null node (a key with no value) is an empty mapping.
  absl::Status Map(const YAML::Node& node, const std::string& path,
                   const std::map<std::string, Handler, std::less<>>& handlers) const {
    if (node.IsNull()) return absl::OkStatus();
    if (!node.IsMap()) {
      return ConfigError(source_, path.empty() ? "<document>" : path, "expected a mapping");
    }
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) {
        return ConfigError(source_, path.empty() ? "<document>" : path,
                           "keys must be strings");
      }
      const std::string key_path = Join(path, entry.first.Scalar());
      auto it = handlers.find(entry.first.Scalar());
      if (it == handlers.end()) {
        return domain::MakeError(
            absl::StatusCode::kInvalidArgument, kConfigReason,
            absl::StrCat(source_, ": unknown key \"", key_path, "\""),
            {{"source", std::string(source_)}, {"key", key_path}});
      }
      SANDBOXD_RETURN_IF_ERROR(it->second(entry.second, key_path));
    }
    return absl::OkStatus();
  }

  Handler String(std::string* out) const {
    return [this, out](const YAML::Node& node, const std::string& path) -> absl::Status {
      if (node.IsNull()) {
        out->clear();
        return absl::OkStatus();
      }
      if (!node.IsScalar()) return ConfigError(source_, path, "expected a string");
      *out = node.Scalar();
      return absl::OkStatus();
    };
  }

  template <typename Int>
  Handler Integer(Int* out) const {
    return [this, out](const YAML::Node& node, const std::string& path) -> absl::Status {
      int64_t value = 0;
      if (!node.IsScalar() || !YAML::convert<int64_t>::decode(node, value) ||
          value < std::numeric_limits<Int>::min() || value > std::numeric_limits<Int>::max()) {
        return ConfigError(source_, path, Describe("expected an integer", node));
      }
      *out = static_cast<Int>(value);
      return absl::OkStatus();
    };
  }

  Handler Bool(bool* out) const {
    return [this, out](const YAML::Node& node, const std::string& path) -> absl::Status {
      if (!node.IsScalar() || !YAML::convert<bool>::decode(node, *out)) {
        return ConfigError(source_, path, Describe("expected true or false", node));
      }
      return absl::OkStatus();
    };
  }

  Handler StringList(std::vector<std::string>* out) const {
    return [this, out](const YAML::Node& node, const std::string& path) -> absl::Status {
      out->clear();
      if (node.IsNull()) return absl::OkStatus();
      if (!node.IsSequence()) return ConfigError(source_, path, "expected a list of strings");
      for (const auto& item : node) {
        if (!item.IsScalar()) return ConfigError(source_, path, "expected a list of strings");
        out->push_back(item.Scalar());
      }
      return absl::OkStatus();
    };
  }

  Handler Double(double* out) const {
    return [this, out](const YAML::Node& node, const std::string& path) -> absl::Status {
      if (!node.IsScalar() || !YAML::convert<double>::decode(node, *out)) {
        return ConfigError(source_, path, Describe("expected a number", node));
      }
      return absl::OkStatus();
    };
  }

  Handler Duration(absl::Duration* out) const {
    return [this, out](const YAML::Node& node, const std::string& path) -> absl::Status {
      if (!node.IsScalar() || !absl::ParseDuration(node.Scalar(), out)) {
        return ConfigError(source_, path,
                           Describe("expected a duration such as \"30s\" or \"2m\"", node));
      }
      return absl::OkStatus();
    };
  }

  Handler Nested(std::map<std::string, Handler, std::less<>> handlers) const {
    return [this, handlers = std::move(handlers)](const YAML::Node& node,
                                                  const std::string& path) {
      return Map(node, path, handlers);
    };
  }

 private:
  static std::string Describe(absl::string_view expected, const YAML::Node& node) {
    if (node.IsScalar()) return absl::StrCat(expected, ", got \"", node.Scalar(), "\"");
    return absl::StrCat(expected, ", got a ", node.IsMap() ? "mapping" : "sequence");
  }

  absl::string_view source_;
};

absl::Status CheckPort(absl::string_view key, int32_t port) {
  if (port < 1 || port > 65535) {
    return SettingError(key, absl::StrCat("must be between 1 and 65535, got ", port));
  }
  return absl::OkStatus();
}

template <typename T>
void Override(const std::optional<T>& value, T* out) {
  if (value.has_value()) *out = *value;
}

// The quantity `text` of setting `key`, which must be one.
absl::StatusOr<absl::int128> QuantitySetting(absl::string_view key, const std::string& text) {
  absl::StatusOr<absl::int128> value = domain::ParseQuantityNano(text);
  if (!value.ok()) {
    return SettingError(key, absl::StrCat("\"", text, "\" ", value.status().message()));
  }
  return *value;
}

// A limits.max_* quantity: empty (no maximum) or positive.
absl::Status CheckMaximum(absl::string_view key, const std::string& max) {
  if (max.empty()) return absl::OkStatus();
  SANDBOXD_ASSIGN_OR_RETURN(absl::int128 value, QuantitySetting(key, max));
  if (value <= 0) return SettingError(key, absl::StrCat("must be positive, got \"", max, "\""));
  return absl::OkStatus();
}

// A default quantity `text` of setting `key` (non-empty) is at most the maximum `max`
// of setting `max_key` (empty: no maximum; already checked by CheckMaximum).
absl::Status CheckAtMost(absl::string_view key, const std::string& text,
                         absl::string_view max_key, const std::string& max) {
  SANDBOXD_ASSIGN_OR_RETURN(absl::int128 value, QuantitySetting(key, text));
  if (max.empty()) return absl::OkStatus();
  SANDBOXD_ASSIGN_OR_RETURN(absl::int128 max_value, QuantitySetting(max_key, max));
  if (value > max_value) {
    return SettingError(key, absl::StrCat("\"", text, "\" is above ", max_key, " (", max, ")"));
  }
  return absl::OkStatus();
}

// The default request and limit of one resource: a request is required (a pod with no
// request and no limit is BestEffort), a limit optional; both at most `max` and the
// request at most the limit.
absl::Status CheckDefaultResource(absl::string_view resource, const std::string& request,
                                  const std::string& limit, const std::string& max) {
  const std::string request_key = absl::StrCat("sandbox_defaults.resources.requests.", resource);
  const std::string limit_key = absl::StrCat("sandbox_defaults.resources.limits.", resource);
  const std::string max_key = absl::StrCat("limits.max_", resource);
  if (request.empty()) {
    return SettingError(request_key,
                        "must not be empty: sandboxes that name no resources would be BestEffort");
  }
  SANDBOXD_RETURN_IF_ERROR(CheckAtMost(request_key, request, max_key, max));
  if (limit.empty()) return absl::OkStatus();
  SANDBOXD_RETURN_IF_ERROR(CheckAtMost(limit_key, limit, max_key, max));
  SANDBOXD_ASSIGN_OR_RETURN(absl::int128 limit_value, QuantitySetting(limit_key, limit));
  if (limit_value <= 0) {
    return SettingError(limit_key, absl::StrCat("must be positive, got \"", limit, "\""));
  }
  return CheckAtMost(request_key, request, limit_key, limit);
}

}  // namespace

absl::Status ApplyConfigYaml(std::string_view yaml, std::string_view source_std,
                             ServerConfig* config) {
  const absl::string_view source(source_std.data(), source_std.size());
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return domain::MakeError(
        absl::StatusCode::kInvalidArgument, kConfigReason,
        absl::StrCat(source, ":", e.mark.line + 1, ":", e.mark.column + 1,
                     ": syntax error: ", e.msg),
        {{"source", std::string(source)}});
  }

  YamlReader r(source);
  domain::SandboxDefaults& d = config->sandbox_defaults;
  const std::map<std::string, YamlReader::Handler, std::less<>> top = {
      {"listen_address", r.String(&config->listen_address)},
      {"health_listen_address", r.String(&config->health_listen_address)},
      {"metrics_listen_address", r.String(&config->metrics_listen_address)},
      {"tls", r.Nested({
                  {"cert_file", r.String(&config->tls.cert_file)},
                  {"key_file", r.String(&config->tls.key_file)},
                  {"client_ca_file", r.String(&config->tls.client_ca_file)},
                  {"plaintext", r.Bool(&config->tls.plaintext)},
              })},
      {"auth", r.Nested({
                   {"audiences", r.StringList(&config->auth.audiences)},
                   {"served_namespace_selector", r.String(&config->auth.served_namespace_selector)},
                   {"own_namespace", r.String(&config->auth.own_namespace)},
               })},
      {"fair_use", r.Nested({
                       {"calls_per_second", r.Double(&config->fair_use.calls_per_second)},
                       {"burst", r.Integer(&config->fair_use.burst)},
                       {"max_watch_streams", r.Integer(&config->fair_use.max_watch_streams)},
                   })},
      {"log_level", r.String(&config->log_level)},
      {"log_format", r.String(&config->log_format)},
      {"shutdown_grace", r.Duration(&config->shutdown_grace)},
      {"orphan_claim_grace", r.Duration(&config->orphan_claim_grace)},
      {"max_message_bytes", r.Integer(&config->max_message_bytes)},
      {"reflection", r.Bool(&config->reflection)},
      {"kube", r.Nested({
                   {"kubeconfig", r.String(&config->kube.kubeconfig)},
                   {"context", r.String(&config->kube.context)},
                   {"service_account_dir", r.String(&config->kube.service_account_dir)},
                   {"qps", r.Double(&config->kube.qps)},
                   {"burst", r.Integer(&config->kube.burst)},
                   {"allow_http", r.Bool(&config->kube.allow_http)},
                   {"namespaced", r.Bool(&config->kube.namespaced)},
               })},
      {"keepalive", r.Nested({
                        {"time", r.Duration(&config->keepalive.time)},
                        {"timeout", r.Duration(&config->keepalive.timeout)},
                        {"min_ping_interval", r.Duration(&config->keepalive.min_ping_interval)},
                    })},
      {"sandbox_defaults",
       r.Nested({
           {"image", r.String(&d.image)},
           {"resources", r.Nested({
                             {"requests", r.Nested({
                                              {"cpu", r.String(&d.resources.requests.cpu)},
                                              {"memory", r.String(&d.resources.requests.memory)},
                                          })},
                             {"limits", r.Nested({
                                            {"cpu", r.String(&d.resources.limits.cpu)},
                                            {"memory", r.String(&d.resources.limits.memory)},
                                        })},
                         })},
           {"storage", r.Nested({
                           {"size", r.String(&d.storage_size)},
                           {"class", r.String(&d.storage_class)},
                           {"mount_path", r.String(&d.mount_path)},
                           {"claim_template_name", r.String(&d.claim_template_name)},
                       })},
           {"ports", r.Nested({
                         {"app", r.Integer(&d.app_port)},
                         {"terminal", r.Integer(&d.terminal_port)},
                     })},
           {"ingress", r.Nested({
                           {"class", r.String(&d.ingress_class)},
                           {"tls_secret", r.String(&d.tls_secret)},
                           {"auth_url", r.String(&d.ingress_auth_url)},
                           {"auth_signin", r.String(&d.ingress_auth_signin)},
                           {"auth_app", r.Bool(&d.ingress_auth_app)},
                           {"controller_namespace", r.String(&d.ingress_controller_namespace)},
                       })},
           {"security_context", r.Nested({
                                    {"run_as_user", r.Integer(&d.run_as_user)},
                                    {"fs_group", r.Integer(&d.fs_group)},
                                })},
           {"claim_bind_timeout", r.Duration(&d.claim_bind_timeout)},
       })},
      {"limits", r.Nested({
                     {"max_storage_size", r.String(&d.limits.max_storage_size)},
                     {"allowed_storage_classes", r.StringList(&d.limits.allowed_storage_classes)},
                     {"allowed_ingress_domains", r.StringList(&d.limits.allowed_ingress_domains)},
                     {"max_cpu", r.String(&d.limits.max_cpu)},
                     {"max_memory", r.String(&d.limits.max_memory)},
                     {"max_env_vars", r.Integer(&d.limits.max_env_vars)},
                     {"max_env_bytes", r.Integer(&d.limits.max_env_bytes)},
                     {"max_labels", r.Integer(&d.limits.max_labels)},
                     {"max_selector_length", r.Integer(&d.limits.max_selector_length)},
                     {"max_selector_terms", r.Integer(&d.limits.max_selector_terms)},
                 })},
  };
  try {
    return r.Map(root, "", top);
  } catch (const YAML::Exception& e) {
    // yaml-cpp reports some malformed documents only when they are traversed.
    return domain::MakeError(absl::StatusCode::kInvalidArgument, kConfigReason,
                             absl::StrCat(source, ": ", e.what()),
                             {{"source", std::string(source)}});
  }
}

void ApplyOverrides(const ServerConfigOverrides& o, ServerConfig* config) {
  Override(o.listen_address, &config->listen_address);
  Override(o.health_listen_address, &config->health_listen_address);
  Override(o.metrics_listen_address, &config->metrics_listen_address);
  Override(o.tls_cert_file, &config->tls.cert_file);
  Override(o.tls_key_file, &config->tls.key_file);
  Override(o.tls_client_ca_file, &config->tls.client_ca_file);
  Override(o.plaintext, &config->tls.plaintext);
  Override(o.auth_audiences, &config->auth.audiences);
  Override(o.served_namespace_selector, &config->auth.served_namespace_selector);
  Override(o.own_namespace, &config->auth.own_namespace);
  Override(o.caller_qps, &config->fair_use.calls_per_second);
  Override(o.caller_burst, &config->fair_use.burst);
  Override(o.max_watch_streams_per_caller, &config->fair_use.max_watch_streams);
  Override(o.log_level, &config->log_level);
  Override(o.log_format, &config->log_format);
  Override(o.shutdown_grace, &config->shutdown_grace);
  Override(o.orphan_claim_grace, &config->orphan_claim_grace);
  Override(o.kubeconfig, &config->kube.kubeconfig);
  Override(o.kube_context, &config->kube.context);
  Override(o.kube_service_account_dir, &config->kube.service_account_dir);
  Override(o.kube_qps, &config->kube.qps);
  Override(o.kube_burst, &config->kube.burst);
  Override(o.kube_allow_http, &config->kube.allow_http);
  Override(o.kube_namespaced, &config->kube.namespaced);
  Override(o.keepalive_time, &config->keepalive.time);
  Override(o.keepalive_timeout, &config->keepalive.timeout);
  Override(o.keepalive_min_ping_interval, &config->keepalive.min_ping_interval);
  domain::SandboxDefaults& d = config->sandbox_defaults;
  Override(o.default_image, &d.image);
  Override(o.default_cpu_request, &d.resources.requests.cpu);
  Override(o.default_memory_request, &d.resources.requests.memory);
  Override(o.default_cpu_limit, &d.resources.limits.cpu);
  Override(o.default_memory_limit, &d.resources.limits.memory);
  Override(o.default_storage_size, &d.storage_size);
  Override(o.default_storage_class, &d.storage_class);
  Override(o.default_mount_path, &d.mount_path);
  Override(o.default_claim_template_name, &d.claim_template_name);
  Override(o.default_app_port, &d.app_port);
  Override(o.default_terminal_port, &d.terminal_port);
  Override(o.ingress_class, &d.ingress_class);
  Override(o.tls_secret, &d.tls_secret);
  Override(o.ingress_auth_url, &d.ingress_auth_url);
  Override(o.ingress_auth_signin, &d.ingress_auth_signin);
  Override(o.ingress_auth_app, &d.ingress_auth_app);
  Override(o.ingress_controller_namespace, &d.ingress_controller_namespace);
  Override(o.run_as_user, &d.run_as_user);
  Override(o.fs_group, &d.fs_group);
  Override(o.claim_bind_timeout, &d.claim_bind_timeout);
  Override(o.max_message_bytes, &config->max_message_bytes);
  Override(o.reflection, &config->reflection);
  domain::SandboxLimits& l = d.limits;
  Override(o.max_storage_size, &l.max_storage_size);
  Override(o.allowed_storage_classes, &l.allowed_storage_classes);
  Override(o.allowed_ingress_domains, &l.allowed_ingress_domains);
  Override(o.max_cpu, &l.max_cpu);
  Override(o.max_memory, &l.max_memory);
  Override(o.max_env_vars, &l.max_env_vars);
  Override(o.max_env_bytes, &l.max_env_bytes);
  Override(o.max_labels, &l.max_labels);
  Override(o.max_selector_length, &l.max_selector_length);
  Override(o.max_selector_terms, &l.max_selector_terms);
}

absl::Status ValidateServerConfig(const ServerConfig& c) {
  if (c.listen_address.empty()) {
    return SettingError("listen_address", "must not be empty");
  }
  if (c.tls.plaintext && !c.tls.cert_file.empty()) {
    return SettingError("tls.plaintext", "must be false when tls.cert_file is set");
  }
  if (c.tls.cert_file.empty() != c.tls.key_file.empty()) {
    return SettingError(c.tls.key_file.empty() ? "tls.key_file" : "tls.cert_file",
                       "tls.cert_file and tls.key_file go together");
  }
  if (c.tls.plaintext && !c.tls.client_ca_file.empty()) {
    return SettingError("tls.client_ca_file", "needs TLS (tls.plaintext is true)");
  }
  if (c.fair_use.burst < 1) return SettingError("fair_use.burst", "must be at least 1");
  if (c.auth.served_namespace_selector.empty()) {
    return SettingError("auth.served_namespace_selector", "must not be empty");
  }
  static const char* const kLevels[] = {"trace", "debug",    "info", "warn",
                                        "error", "critical", "off"};
  bool level_ok = false;
  for (const char* level : kLevels) level_ok = level_ok || c.log_level == level;
  if (!level_ok) {
    return SettingError("log_level",
                       absl::StrCat("must be one of trace, debug, info, warn, error, "
                                    "critical, off; got \"",
                                    c.log_level, "\""));
  }
  if (c.log_format != "text" && c.log_format != "json") {
    return SettingError("log_format",
                        absl::StrCat("must be text or json; got \"", c.log_format, "\""));
  }
  if (c.shutdown_grace < absl::ZeroDuration()) {
    return SettingError("shutdown_grace", "must not be negative");
  }
  if (c.orphan_claim_grace < absl::ZeroDuration()) {
    return SettingError("orphan_claim_grace", "must not be negative");
  }
  if (!(c.kube.qps >= 0)) {
    return SettingError("kube.qps", "must not be negative (0: no client-side throttle)");
  }
  if (c.kube.burst < 1) return SettingError("kube.burst", "must be at least 1");
  if (c.keepalive.time <= absl::ZeroDuration()) {
    return SettingError("keepalive.time", "must be positive");
  }
  if (c.keepalive.timeout <= absl::ZeroDuration()) {
    return SettingError("keepalive.timeout", "must be positive");
  }
  if (c.keepalive.min_ping_interval < absl::ZeroDuration()) {
    return SettingError("keepalive.min_ping_interval", "must not be negative");
  }
  const domain::SandboxDefaults& d = c.sandbox_defaults;
  if (d.storage_size.empty()) {
    return SettingError("sandbox_defaults.storage.size", "must not be empty");
  }
  if (d.mount_path.empty() || d.mount_path.front() != '/') {
    return SettingError("sandbox_defaults.storage.mount_path",
                       absl::StrCat("must be an absolute path, got \"", d.mount_path, "\""));
  }
  {
    domain::SandboxSpec probe;
    probe.storage.mount_path = d.mount_path;
    const std::string claim_template = domain::ClaimTemplateNameFor(probe, d);
    if (!domain::ValidateName(claim_template).ok()) {
      return SettingError(d.claim_template_name.empty() ? "sandbox_defaults.storage.mount_path"
                                                        : "sandbox_defaults.storage.claim_template_name",
                          absl::StrCat("the claim template name \"", claim_template,
                                       "\" must be a DNS-1123 label of at most ",
                                       domain::kMaxSandboxNameLength, " characters"));
    }
  }
  SANDBOXD_RETURN_IF_ERROR(CheckPort("sandbox_defaults.ports.app", d.app_port));
  SANDBOXD_RETURN_IF_ERROR(CheckPort("sandbox_defaults.ports.terminal", d.terminal_port));
  if (d.app_port == d.terminal_port) {
    return SettingError("sandbox_defaults.ports.terminal",
                       absl::StrCat("must differ from the app port ", d.app_port));
  }
  if (d.ingress_class.empty()) {
    return SettingError("sandbox_defaults.ingress.class", "must not be empty");
  }
  if (!d.ingress_controller_namespace.empty() &&
      !domain::ValidateNamespace(d.ingress_controller_namespace).ok()) {
    return SettingError("sandbox_defaults.ingress.controller_namespace",
                        absl::StrCat("must be a namespace name (DNS-1123 label), got \"",
                                     d.ingress_controller_namespace, "\""));
  }
  if (d.run_as_user < 0) {
    return SettingError("sandbox_defaults.security_context.run_as_user",
                       "must not be negative");
  }
  if (d.fs_group < 0) {
    return SettingError("sandbox_defaults.security_context.fs_group",
                       "must not be negative");
  }
  if (d.claim_bind_timeout <= absl::ZeroDuration()) {
    return SettingError("sandbox_defaults.claim_bind_timeout", "must be positive");
  }
  if (c.max_message_bytes <= 0) return SettingError("max_message_bytes", "must be positive");

  const domain::SandboxLimits& l = d.limits;
  SANDBOXD_RETURN_IF_ERROR(CheckMaximum("limits.max_storage_size", l.max_storage_size));
  for (const std::string& storage_class : l.allowed_storage_classes) {
    if (storage_class.empty()) {
      return SettingError("limits.allowed_storage_classes", "must not contain an empty name");
    }
  }
  SANDBOXD_RETURN_IF_ERROR(CheckMaximum("limits.max_cpu", l.max_cpu));
  SANDBOXD_RETURN_IF_ERROR(CheckMaximum("limits.max_memory", l.max_memory));
  const std::pair<const char*, int64_t> counts[] = {
      {"limits.max_env_vars", l.max_env_vars},
      {"limits.max_env_bytes", l.max_env_bytes},
      {"limits.max_labels", l.max_labels},
      {"limits.max_selector_length", l.max_selector_length},
      {"limits.max_selector_terms", l.max_selector_terms},
  };
  for (const auto& [key, value] : counts) {
    if (value < 0) return SettingError(key, absl::StrCat("must not be negative, got ", value));
  }

  // The defaults must pass the limits, or every sandbox that relies on them is refused.
  SANDBOXD_RETURN_IF_ERROR(CheckDefaultResource("cpu", d.resources.requests.cpu,
                                                d.resources.limits.cpu, l.max_cpu));
  SANDBOXD_RETURN_IF_ERROR(CheckDefaultResource("memory", d.resources.requests.memory,
                                                d.resources.limits.memory, l.max_memory));
  SANDBOXD_RETURN_IF_ERROR(CheckAtMost("sandbox_defaults.storage.size", d.storage_size,
                                       "limits.max_storage_size", l.max_storage_size));
  if (!d.ingress_domain.empty() && !l.allowed_ingress_domains.empty() &&
      std::find(l.allowed_ingress_domains.begin(), l.allowed_ingress_domains.end(),
                d.ingress_domain) == l.allowed_ingress_domains.end()) {
    return SettingError("sandbox_defaults.ingress_domain",
                        "must be one of limits.allowed_ingress_domains");
  }
  if (!l.allowed_storage_classes.empty() &&
      std::find(l.allowed_storage_classes.begin(), l.allowed_storage_classes.end(),
                d.storage_class) == l.allowed_storage_classes.end()) {
    return SettingError("sandbox_defaults.storage.class",
                        absl::StrCat("\"", d.storage_class,
                                     "\" must be one of limits.allowed_storage_classes"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ServerConfig> ResolveServerConfig(const std::optional<std::string>& yaml,
                                                 std::string_view source,
                                                 const ServerConfigOverrides& overrides) {
  ServerConfig config;
  if (yaml.has_value()) SANDBOXD_RETURN_IF_ERROR(ApplyConfigYaml(*yaml, source, &config));
  ApplyOverrides(overrides, &config);
  SANDBOXD_RETURN_IF_ERROR(ValidateServerConfig(config));
  return config;
}

ServerConfigOverrides OverridesFromFlags() {
  ServerConfigOverrides o;
  o.listen_address = absl::GetFlag(FLAGS_listen_address);
  o.health_listen_address = absl::GetFlag(FLAGS_health_listen_address);
  o.metrics_listen_address = absl::GetFlag(FLAGS_metrics_listen_address);
  o.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  o.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  o.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  if (absl::GetFlag(FLAGS_plaintext)) o.plaintext = true;
  if (std::optional<std::string> audiences = absl::GetFlag(FLAGS_auth_audiences)) {
    o.auth_audiences = absl::StrSplit(*audiences, ',', absl::SkipEmpty());
  }
  o.served_namespace_selector = absl::GetFlag(FLAGS_served_namespace_selector);
  o.own_namespace = absl::GetFlag(FLAGS_own_namespace);
  o.caller_qps = absl::GetFlag(FLAGS_caller_qps);
  o.caller_burst = absl::GetFlag(FLAGS_caller_burst);
  o.max_watch_streams_per_caller = absl::GetFlag(FLAGS_max_watch_streams_per_caller);
  o.log_level = absl::GetFlag(FLAGS_log_level);
  o.log_format = absl::GetFlag(FLAGS_log_format);
  o.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  o.orphan_claim_grace = absl::GetFlag(FLAGS_orphan_claim_grace);
  o.kubeconfig = absl::GetFlag(FLAGS_kubeconfig);
  o.kube_context = absl::GetFlag(FLAGS_kube_context);
  o.kube_service_account_dir = absl::GetFlag(FLAGS_kube_service_account_dir);
  o.kube_qps = absl::GetFlag(FLAGS_kube_qps);
  o.kube_burst = absl::GetFlag(FLAGS_kube_burst);
  if (absl::GetFlag(FLAGS_kube_allow_http)) o.kube_allow_http = true;
  if (absl::GetFlag(FLAGS_kube_namespaced)) o.kube_namespaced = true;
  o.keepalive_time = absl::GetFlag(FLAGS_keepalive_time);
  o.keepalive_timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  o.keepalive_min_ping_interval = absl::GetFlag(FLAGS_keepalive_min_ping_interval);
  o.default_image = absl::GetFlag(FLAGS_default_image);
  o.default_cpu_request = absl::GetFlag(FLAGS_default_cpu_request);
  o.default_memory_request = absl::GetFlag(FLAGS_default_memory_request);
  o.default_cpu_limit = absl::GetFlag(FLAGS_default_cpu_limit);
  o.default_memory_limit = absl::GetFlag(FLAGS_default_memory_limit);
  o.default_storage_size = absl::GetFlag(FLAGS_default_storage_size);
  o.default_storage_class = absl::GetFlag(FLAGS_default_storage_class);
  o.default_mount_path = absl::GetFlag(FLAGS_default_mount_path);
  o.default_claim_template_name = absl::GetFlag(FLAGS_default_claim_template_name);
  o.default_app_port = absl::GetFlag(FLAGS_default_app_port);
  o.default_terminal_port = absl::GetFlag(FLAGS_default_terminal_port);
  o.ingress_class = absl::GetFlag(FLAGS_ingress_class);
  o.tls_secret = absl::GetFlag(FLAGS_tls_secret);
  o.ingress_auth_url = absl::GetFlag(FLAGS_ingress_auth_url);
  o.ingress_auth_signin = absl::GetFlag(FLAGS_ingress_auth_signin);
  if (absl::GetFlag(FLAGS_ingress_auth_app)) o.ingress_auth_app = true;
  o.ingress_controller_namespace = absl::GetFlag(FLAGS_ingress_controller_namespace);
  o.run_as_user = absl::GetFlag(FLAGS_run_as_user);
  o.fs_group = absl::GetFlag(FLAGS_fs_group);
  o.claim_bind_timeout = absl::GetFlag(FLAGS_claim_bind_timeout);
  o.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  o.reflection = absl::GetFlag(FLAGS_reflection);
  o.max_storage_size = absl::GetFlag(FLAGS_max_storage_size);
  o.allowed_storage_classes = absl::GetFlag(FLAGS_allowed_storage_classes);
  o.allowed_ingress_domains = absl::GetFlag(FLAGS_allowed_ingress_domains);
  o.max_cpu = absl::GetFlag(FLAGS_max_cpu);
  o.max_memory = absl::GetFlag(FLAGS_max_memory);
  o.max_env_vars = absl::GetFlag(FLAGS_max_env_vars);
  o.max_env_bytes = absl::GetFlag(FLAGS_max_env_bytes);
  o.max_labels = absl::GetFlag(FLAGS_max_labels);
  o.max_selector_length = absl::GetFlag(FLAGS_max_selector_length);
  o.max_selector_terms = absl::GetFlag(FLAGS_max_selector_terms);
  return o;
}

absl::StatusOr<ServerConfig> LoadServerConfig() {
  const std::optional<std::string> path = absl::GetFlag(FLAGS_config);
  std::optional<std::string> yaml;
  if (path.has_value()) {
    std::ifstream in(*path, std::ios::binary);
    if (!in) {
      return domain::MakeError(absl::StatusCode::kNotFound, domain::reason::kConfigFileUnreadable,
                               absl::StrCat("cannot read config file \"", *path, "\""),
                               {{"path", *path}});
    }
    std::ostringstream contents;
    contents << in.rdbuf();
    yaml = contents.str();
  }
  return ResolveServerConfig(yaml, path.value_or("<no config file>"), OverridesFromFlags());
}

}  // namespace sandboxd::server
