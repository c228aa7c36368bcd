#include "server/server_config.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "src/domain/errors.h"

ABSL_DECLARE_FLAG(std::optional<std::string>, listen_address);
ABSL_DECLARE_FLAG(std::optional<double>, kube_qps);
ABSL_DECLARE_FLAG(std::optional<absl::Duration>, keepalive_time);
ABSL_DECLARE_FLAG(bool, kube_allow_http);
ABSL_DECLARE_FLAG(std::optional<int32_t>, default_app_port);
ABSL_DECLARE_FLAG(std::optional<int32_t>, max_message_bytes);
ABSL_DECLARE_FLAG(std::optional<bool>, reflection);
ABSL_DECLARE_FLAG(std::optional<std::string>, max_cpu);
ABSL_DECLARE_FLAG(std::optional<std::vector<std::string>>, allowed_storage_classes);
ABSL_DECLARE_FLAG(std::optional<int64_t>, max_env_vars);
ABSL_DECLARE_FLAG(std::optional<std::string>, log_format);
ABSL_DECLARE_FLAG(std::optional<std::string>, metrics_listen_address);

namespace sandboxd::server {
namespace {

constexpr char kFullConfig[] = R"yaml(
listen_address: "127.0.0.1:6000"
metrics_listen_address: ""
log_level: debug
log_format: json
shutdown_grace: 45s
orphan_claim_grace: 0s
max_message_bytes: 1048576
reflection: false
kube:
  kubeconfig: /etc/kube/config
  context: dev
  service_account_dir: /run/sa
  qps: 12.5
  burst: 30
  allow_http: true
keepalive:
  time: 40s
  timeout: 10s
  min_ping_interval: 20s
sandbox_defaults:
  image: registry.local/agent:2
  resources:
    requests: {cpu: 250m, memory: 512Mi}
    limits: {cpu: "2", memory: 4Gi}
  storage:
    size: 20Gi
    class: fast-ssd
    mount_path: /home/dev
    claim_template_name: home
  ports: {app: 8080, terminal: 8081}
  ingress:
    class: traefik
    tls_secret: wildcard-tls
    controller_namespace: traefik-system
  security_context:
    run_as_user: 2000
    fs_group: 3000
  claim_bind_timeout: 5m
limits:
  max_storage_size: 50Gi
  allowed_storage_classes: [fast-ssd, standard]
  max_cpu: "4"
  max_memory: 8Gi
  max_env_vars: 64
  max_env_bytes: 65536
  max_labels: 8
  max_selector_length: 512
  max_selector_terms: 10
)yaml";

TEST(ServerConfigTest, BuiltInDefaults) {
  absl::StatusOr<ServerConfig> config =
      ResolveServerConfig(std::nullopt, "none", ServerConfigOverrides());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen_address, "0.0.0.0:50051");
  EXPECT_EQ(config->metrics_listen_address, "0.0.0.0:9090");
  EXPECT_EQ(config->log_level, "info");
  EXPECT_EQ(config->log_format, "text");
  EXPECT_EQ(config->shutdown_grace, absl::Seconds(15));
  EXPECT_EQ(config->orphan_claim_grace, absl::Seconds(60));
  EXPECT_EQ(config->kube.kubeconfig, "");
  EXPECT_EQ(config->kube.qps, 0);
  EXPECT_EQ(config->kube.burst, 100);
  EXPECT_FALSE(config->kube.allow_http);
  EXPECT_TRUE(config->reflection);
  EXPECT_EQ(config->keepalive.time, absl::Seconds(60));
  EXPECT_EQ(config->keepalive.timeout, absl::Seconds(20));
  EXPECT_EQ(config->keepalive.min_ping_interval, absl::Seconds(30));
  const domain::SandboxDefaults& d = config->sandbox_defaults;
  EXPECT_EQ(d.storage_size, "5Gi");
  EXPECT_EQ(d.storage_class, "");
  EXPECT_EQ(d.mount_path, "/home/agent");
  EXPECT_EQ(d.claim_template_name, "");  // the Sealos name of the mount path
  EXPECT_EQ(d.app_port, 3000);
  EXPECT_EQ(d.terminal_port, 7681);
  EXPECT_EQ(d.ingress_class, "nginx");
  EXPECT_EQ(d.ingress_controller_namespace, "ingress-nginx");
  EXPECT_EQ(config->kube.service_account_dir, "/var/run/secrets/kubernetes.io/serviceaccount");
  EXPECT_EQ(d.run_as_user, 1000);
  EXPECT_EQ(d.fs_group, 1000);
  EXPECT_EQ(d.claim_bind_timeout, absl::Minutes(2));
  // Requests by default, so that pods are never BestEffort; no limits.
  EXPECT_EQ(d.resources.requests.cpu, "500m");
  EXPECT_EQ(d.resources.requests.memory, "1Gi");
  EXPECT_EQ(d.resources.limits.cpu, "");
  EXPECT_EQ(d.resources.limits.memory, "");
  EXPECT_EQ(config->max_message_bytes, 4 * 1024 * 1024);
  const domain::SandboxLimits& l = d.limits;
  EXPECT_EQ(l.max_storage_size, "100Gi");
  EXPECT_TRUE(l.allowed_storage_classes.empty());
  EXPECT_EQ(l.max_cpu, "16");
  EXPECT_EQ(l.max_memory, "64Gi");
  EXPECT_EQ(l.max_env_vars, 256);
  EXPECT_EQ(l.max_env_bytes, 256 * 1024);
  EXPECT_EQ(l.max_labels, 32);
  EXPECT_EQ(l.max_selector_length, 1024);
  EXPECT_EQ(l.max_selector_terms, 20);
}

TEST(ServerConfigTest, ParsesEveryKey) {
  absl::StatusOr<ServerConfig> config =
      ResolveServerConfig(std::string(kFullConfig), "full.yaml", ServerConfigOverrides());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen_address, "127.0.0.1:6000");
  EXPECT_EQ(config->metrics_listen_address, "");  // off
  EXPECT_EQ(config->log_level, "debug");
  EXPECT_EQ(config->log_format, "json");
  EXPECT_EQ(config->shutdown_grace, absl::Seconds(45));
  EXPECT_EQ(config->orphan_claim_grace, absl::ZeroDuration());  // no janitor
  EXPECT_EQ(config->kube.kubeconfig, "/etc/kube/config");
  EXPECT_EQ(config->kube.context, "dev");
  EXPECT_EQ(config->kube.service_account_dir, "/run/sa");
  EXPECT_EQ(config->kube.qps, 12.5);
  EXPECT_EQ(config->kube.burst, 30);
  EXPECT_TRUE(config->kube.allow_http);
  EXPECT_FALSE(config->reflection);
  EXPECT_EQ(config->keepalive.time, absl::Seconds(40));
  EXPECT_EQ(config->keepalive.timeout, absl::Seconds(10));
  EXPECT_EQ(config->keepalive.min_ping_interval, absl::Seconds(20));
  const domain::SandboxDefaults& d = config->sandbox_defaults;
  EXPECT_EQ(d.image, "registry.local/agent:2");
  EXPECT_EQ(d.resources.requests.cpu, "250m");
  EXPECT_EQ(d.resources.requests.memory, "512Mi");
  EXPECT_EQ(d.resources.limits.cpu, "2");
  EXPECT_EQ(d.resources.limits.memory, "4Gi");
  EXPECT_EQ(d.storage_size, "20Gi");
  EXPECT_EQ(d.storage_class, "fast-ssd");
  EXPECT_EQ(d.mount_path, "/home/dev");
  EXPECT_EQ(d.claim_template_name, "home");
  EXPECT_EQ(d.app_port, 8080);
  EXPECT_EQ(d.terminal_port, 8081);
  EXPECT_EQ(d.ingress_class, "traefik");
  EXPECT_EQ(d.ingress_controller_namespace, "traefik-system");
  EXPECT_EQ(d.tls_secret, "wildcard-tls");
  EXPECT_EQ(d.run_as_user, 2000);
  EXPECT_EQ(d.fs_group, 3000);
  EXPECT_EQ(d.claim_bind_timeout, absl::Minutes(5));
  EXPECT_EQ(config->max_message_bytes, 1048576);
  const domain::SandboxLimits& l = d.limits;
  EXPECT_EQ(l.max_storage_size, "50Gi");
  EXPECT_EQ(l.allowed_storage_classes, (std::vector<std::string>{"fast-ssd", "standard"}));
  EXPECT_EQ(l.max_cpu, "4");
  EXPECT_EQ(l.max_memory, "8Gi");
  EXPECT_EQ(l.max_env_vars, 64);
  EXPECT_EQ(l.max_env_bytes, 65536);
  EXPECT_EQ(l.max_labels, 8);
  EXPECT_EQ(l.max_selector_length, 512);
  EXPECT_EQ(l.max_selector_terms, 10);
}

TEST(ServerConfigTest, LimitOverrides) {
  ServerConfigOverrides o;
  o.max_message_bytes = 65536;
  o.max_storage_size = "20Gi";
  o.allowed_storage_classes = std::vector<std::string>{"fast-ssd"};
  o.default_storage_class = "fast-ssd";
  o.max_cpu = "2";
  o.max_memory = "4Gi";
  o.max_env_vars = 10;
  o.max_env_bytes = 1000;
  o.max_labels = 0;
  o.max_selector_length = 100;
  o.max_selector_terms = 3;
  absl::StatusOr<ServerConfig> config = ResolveServerConfig(
      std::string("limits: {max_cpu: \"8\", max_labels: 4, max_env_vars: 12}\n"), "c.yaml", o);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->max_message_bytes, 65536);
  const domain::SandboxLimits& l = config->sandbox_defaults.limits;
  EXPECT_EQ(l.max_storage_size, "20Gi");
  EXPECT_EQ(l.allowed_storage_classes, (std::vector<std::string>{"fast-ssd"}));
  EXPECT_EQ(l.max_cpu, "2");  // flag over file
  EXPECT_EQ(l.max_memory, "4Gi");
  EXPECT_EQ(l.max_env_vars, 10);
  EXPECT_EQ(l.max_env_bytes, 1000);
  EXPECT_EQ(l.max_labels, 0);  // no caller labels at all
  EXPECT_EQ(l.max_selector_length, 100);
  EXPECT_EQ(l.max_selector_terms, 3);
}

TEST(ServerConfigTest, EmptyMaximumMeansNoMaximum) {
  absl::StatusOr<ServerConfig> config = ResolveServerConfig(
      std::string("limits: {max_cpu: \"\", max_memory: \"\", max_storage_size: \"\"}\n"
                  "sandbox_defaults: {resources: {limits: {cpu: \"500\"}}}\n"),
      "c.yaml", ServerConfigOverrides());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->sandbox_defaults.limits.max_cpu, "");
  EXPECT_EQ(config->sandbox_defaults.resources.limits.cpu, "500");
}

TEST(ServerConfigTest, FlagBeatsFileBeatsDefault) {
  ServerConfigOverrides overrides;
  overrides.kube_qps = 99;
  overrides.default_storage_class = "";  // an explicit empty value overrides the file too
  overrides.run_as_user = 0;
  absl::StatusOr<ServerConfig> config = ResolveServerConfig(
      std::string("kube: {qps: 5, burst: 7}\nsandbox_defaults: {storage: {class: slow}}\n"),
      "c.yaml", overrides);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->kube.qps, 99);                      // flag
  EXPECT_EQ(config->kube.burst, 7);                     // file
  EXPECT_EQ(config->listen_address, "0.0.0.0:50051");  // default
  EXPECT_EQ(config->sandbox_defaults.storage_class, "");
  EXPECT_EQ(config->sandbox_defaults.run_as_user, 0);
}

TEST(ServerConfigTest, EmptyDocumentAndNullSectionsChangeNothing) {
  absl::StatusOr<ServerConfig> config =
      ResolveServerConfig(std::string("# nothing\nkube:\n"), "c.yaml", ServerConfigOverrides());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->kube.qps, 0);
}

struct BadYamlCase {
  std::string yaml;
  std::string message;
};

// ctest prints the parameter: show the YAML, not its bytes.
void PrintTo(const BadYamlCase& c, std::ostream* os) { *os << "yaml: " << c.yaml; }

class BadYamlTest : public ::testing::TestWithParam<BadYamlCase> {};

TEST_P(BadYamlTest, IsInvalidArgumentWithExactMessage) {
  absl::StatusOr<ServerConfig> config =
      ResolveServerConfig(GetParam().yaml, "c.yaml", ServerConfigOverrides());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(config.status().message(), GetParam().message);
  EXPECT_EQ(domain::GetErrorDetail(config.status()).reason, "INVALID_CONFIG");
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadYamlTest,
    ::testing::Values(
        BadYamlCase{"listen_adress: x\n", "c.yaml: unknown key \"listen_adress\""},
        BadYamlCase{"kube: {qsp: 5}\n", "c.yaml: unknown key \"kube.qsp\""},
        BadYamlCase{"sandbox_defaults:\n  storage:\n    klass: x\n",
                    "c.yaml: unknown key \"sandbox_defaults.storage.klass\""},
        BadYamlCase{"kube: {qps: fast}\n", "c.yaml: kube.qps: expected a number, got \"fast\""},
        BadYamlCase{"sandbox_defaults:\n  storage:\n    claim_template_name: Home_Dir\n",
                    "setting sandbox_defaults.storage.claim_template_name: the claim template "
                    "name \"Home_Dir\" must be a DNS-1123 label of at most 50 characters"},
        BadYamlCase{"sandbox_defaults:\n  storage:\n    mount_path: /home/my_dir\n",
                    "setting sandbox_defaults.storage.mount_path: the claim template "
                    "name \"vn-homevn-my_dir\" must be a DNS-1123 label of at most 50 characters"},
        BadYamlCase{"kube: {allow_http: maybe}\n",
                    "c.yaml: kube.allow_http: expected true or false, got \"maybe\""},
        BadYamlCase{"kube: {burst: 1.5}\n", "c.yaml: kube.burst: expected an integer, got \"1.5\""},
        BadYamlCase{"kube: {burst: 99999999999}\n",
                    "c.yaml: kube.burst: expected an integer, got \"99999999999\""},
        BadYamlCase{"kube: 5\n", "c.yaml: kube: expected a mapping"},
        BadYamlCase{"- a\n- b\n", "c.yaml: <document>: expected a mapping"},
        BadYamlCase{"listen_address: [a, b]\n", "c.yaml: listen_address: expected a string"},
        BadYamlCase{"shutdown_grace: 10\n",
                    "c.yaml: shutdown_grace: expected a duration such as \"30s\" or \"2m\", "
                    "got \"10\""},
        BadYamlCase{"keepalive: {time: {a: 1}}\n",
                    "c.yaml: keepalive.time: expected a duration such as \"30s\" or \"2m\", "
                    "got a mapping"},
        BadYamlCase{"kube: {qps: [1]}\n", "c.yaml: kube.qps: expected a number, got a sequence"},
        BadYamlCase{"kube: {qps: 1\n", "c.yaml:2:1: syntax error: end of map flow not found"},
        BadYamlCase{"log_level: loud\n",
                    "setting log_level: must be one of trace, debug, info, warn, error, "
                    "critical, off; got \"loud\""},
        BadYamlCase{"log_format: logfmt\n",
                    "setting log_format: must be text or json; got \"logfmt\""},
        BadYamlCase{"log_format: JSON\n", "setting log_format: must be text or json; got \"JSON\""},
        BadYamlCase{"log_format: [json]\n", "c.yaml: log_format: expected a string"},
        BadYamlCase{"kube: {qps: -1}\n",
                    "setting kube.qps: must not be negative (0: no client-side throttle)"},
        BadYamlCase{"kube: {burst: 0}\n", "setting kube.burst: must be at least 1"},
        BadYamlCase{"keepalive: {time: 0s}\n", "setting keepalive.time: must be positive"},
        BadYamlCase{"shutdown_grace: -1s\n", "setting shutdown_grace: must not be negative"},
        BadYamlCase{"orphan_claim_grace: -1s\n",
                    "setting orphan_claim_grace: must not be negative"},
        BadYamlCase{"sandbox_defaults: {ports: {app: 70000}}\n",
                    "setting sandbox_defaults.ports.app: must be between 1 and 65535, got "
                    "70000"},
        BadYamlCase{"sandbox_defaults: {ports: {terminal: 3000}}\n",
                    "setting sandbox_defaults.ports.terminal: must differ from the app port "
                    "3000"},
        BadYamlCase{"sandbox_defaults: {ingress: {controller_namespace: Ingress_NS}}\n",
                    "setting sandbox_defaults.ingress.controller_namespace: must be a "
                    "namespace name (DNS-1123 label), got \"Ingress_NS\""},
        BadYamlCase{"sandbox_defaults: {storage: {mount_path: home}}\n",
                    "setting sandbox_defaults.storage.mount_path: must be an absolute path, "
                    "got \"home\""},
        BadYamlCase{"sandbox_defaults: {storage: {size: \"\"}}\n",
                    "setting sandbox_defaults.storage.size: must not be empty"},
        BadYamlCase{"sandbox_defaults: {security_context: {fs_group: -1}}\n",
                    "setting sandbox_defaults.security_context.fs_group: must not be negative"},
        BadYamlCase{"sandbox_defaults: {claim_bind_timeout: 0s}\n",
                    "setting sandbox_defaults.claim_bind_timeout: must be positive"},
        BadYamlCase{"listen_address: \"\"\n", "setting listen_address: must not be empty"},
        BadYamlCase{"max_message_bytes: 0\n", "setting max_message_bytes: must be positive"},
        BadYamlCase{"max_message_bytes: 4Mi\n",
                    "c.yaml: max_message_bytes: expected an integer, got \"4Mi\""},
        BadYamlCase{"limits: {max_cpux: 1}\n", "c.yaml: unknown key \"limits.max_cpux\""},
        BadYamlCase{"limits: {max_env_bytes: 1.5}\n",
                    "c.yaml: limits.max_env_bytes: expected an integer, got \"1.5\""},
        BadYamlCase{"limits: {allowed_storage_classes: fast}\n",
                    "c.yaml: limits.allowed_storage_classes: expected a list of strings"},
        BadYamlCase{"limits: {allowed_storage_classes: [[a]]}\n",
                    "c.yaml: limits.allowed_storage_classes: expected a list of strings"},
        BadYamlCase{"limits: {max_cpu: lots}\n",
                    "setting limits.max_cpu: \"lots\" is not a quantity (expected a number, "
                    "e.g. \"500m\" or \"5Gi\")"},
        BadYamlCase{"limits: {max_memory: \"0\"}\n",
                    "setting limits.max_memory: must be positive, got \"0\""},
        BadYamlCase{"limits: {max_storage_size: -1Gi}\n",
                    "setting limits.max_storage_size: must be positive, got \"-1Gi\""},
        BadYamlCase{"limits: {max_env_vars: -1}\n",
                    "setting limits.max_env_vars: must not be negative, got -1"},
        BadYamlCase{"limits: {max_selector_terms: -2}\n",
                    "setting limits.max_selector_terms: must not be negative, got -2"},
        BadYamlCase{"limits: {allowed_storage_classes: [\"\"]}\n",
                    "setting limits.allowed_storage_classes: must not contain an empty name"},
        BadYamlCase{"limits: {allowed_storage_classes: [fast-ssd]}\n",
                    "setting sandbox_defaults.storage.class: \"\" must be one of "
                    "limits.allowed_storage_classes"},
        BadYamlCase{"limits: {max_storage_size: 1Gi}\n",
                    "setting sandbox_defaults.storage.size: \"5Gi\" is above "
                    "limits.max_storage_size (1Gi)"},
        BadYamlCase{"limits: {max_cpu: 250m}\n",
                    "setting sandbox_defaults.resources.requests.cpu: \"500m\" is above "
                    "limits.max_cpu (250m)"},
        BadYamlCase{"sandbox_defaults: {resources: {limits: {memory: 128Gi}}}\n",
                    "setting sandbox_defaults.resources.limits.memory: \"128Gi\" is above "
                    "limits.max_memory (64Gi)"},
        BadYamlCase{"sandbox_defaults: {resources: {requests: {cpu: \"\"}}}\n",
                    "setting sandbox_defaults.resources.requests.cpu: must not be empty: "
                    "sandboxes that name no resources would be BestEffort"},
        BadYamlCase{"sandbox_defaults: {resources: {requests: {memory: \"\"}}}\n",
                    "setting sandbox_defaults.resources.requests.memory: must not be empty: "
                    "sandboxes that name no resources would be BestEffort"},
        BadYamlCase{"sandbox_defaults: {resources: {requests: {cpu: \"2\"}, limits: {cpu: "
                    "\"1\"}}}\n",
                    "setting sandbox_defaults.resources.requests.cpu: \"2\" is above "
                    "sandbox_defaults.resources.limits.cpu (1)"},
        BadYamlCase{"sandbox_defaults: {resources: {limits: {cpu: \"0\"}}}\n",
                    "setting sandbox_defaults.resources.limits.cpu: must be positive, got "
                    "\"0\""},
        BadYamlCase{"sandbox_defaults: {storage: {size: big}}\n",
                    "setting sandbox_defaults.storage.size: \"big\" is not a quantity "
                    "(expected a number, e.g. \"500m\" or \"5Gi\")"}),
    // Readable test names in ctest output: the case's index.
    [](const ::testing::TestParamInfo<BadYamlCase>& info) {
      return "case" + std::to_string(info.index);
    });

TEST(ServerConfigTest, UnknownKeyMetadataNamesKey) {
  absl::StatusOr<ServerConfig> config =
      ResolveServerConfig(std::string("kube: {qsp: 5}\n"), "c.yaml", ServerConfigOverrides());
  domain::ErrorDetail detail = domain::GetErrorDetail(config.status());
  EXPECT_EQ(detail.metadata["key"], "kube.qsp");
  EXPECT_EQ(detail.metadata["source"], "c.yaml");
}

// Flags are process-global: this test restores what it sets.
TEST(ServerConfigTest, LoadsFileAndExplicitFlags) {
  const std::string path = ::testing::TempDir() + "/server_config_test.yaml";
  {
    std::ofstream out(path);
    out << "listen_address: \"127.0.0.1:7000\"\nkube: {qps: 5}\nreflection: false\n";
  }
  absl::SetFlag(&FLAGS_config, path);
  absl::SetFlag(&FLAGS_kube_qps, 80.0);
  absl::SetFlag(&FLAGS_keepalive_time, absl::Seconds(45));
  absl::SetFlag(&FLAGS_kube_allow_http, true);
  absl::SetFlag(&FLAGS_metrics_listen_address, std::string("127.0.0.1:0"));
  absl::SetFlag(&FLAGS_reflection, true);
  absl::StatusOr<ServerConfig> config = LoadServerConfig();
  absl::SetFlag(&FLAGS_reflection, std::nullopt);
  absl::SetFlag(&FLAGS_metrics_listen_address, std::nullopt);
  absl::SetFlag(&FLAGS_config, std::nullopt);
  absl::SetFlag(&FLAGS_kube_qps, std::nullopt);
  absl::SetFlag(&FLAGS_keepalive_time, std::nullopt);
  absl::SetFlag(&FLAGS_kube_allow_http, false);
  std::remove(path.c_str());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen_address, "127.0.0.1:7000");  // file
  EXPECT_EQ(config->kube.qps, 80);                      // flag over file
  EXPECT_EQ(config->keepalive.time, absl::Seconds(45));  // flag over default
  EXPECT_TRUE(config->kube.allow_http);                  // flag over default
  EXPECT_EQ(config->metrics_listen_address, "127.0.0.1:0");  // flag over default
  EXPECT_TRUE(config->reflection);                           // flag over file
  EXPECT_EQ(config->sandbox_defaults.app_port, 3000);    // default
}

// Flags are process-global: this test restores what it sets.
TEST(ServerConfigTest, LimitFlagsOverrideTheFile) {
  absl::SetFlag(&FLAGS_max_message_bytes, 1 << 20);
  absl::SetFlag(&FLAGS_max_cpu, std::string("4"));
  absl::SetFlag(&FLAGS_allowed_storage_classes, std::vector<std::string>{"a", "b"});
  absl::SetFlag(&FLAGS_max_env_vars, int64_t{7});
  ServerConfigOverrides overrides = OverridesFromFlags();
  absl::SetFlag(&FLAGS_max_message_bytes, std::nullopt);
  absl::SetFlag(&FLAGS_max_cpu, std::nullopt);
  absl::SetFlag(&FLAGS_allowed_storage_classes, std::nullopt);
  absl::SetFlag(&FLAGS_max_env_vars, std::nullopt);
  EXPECT_FALSE(overrides.max_memory.has_value());
  absl::StatusOr<ServerConfig> config = ResolveServerConfig(
      std::string("limits: {max_cpu: \"8\", max_env_vars: 9, max_labels: 3}\n"
                  "sandbox_defaults: {storage: {class: a}}\n"),
      "c.yaml", overrides);
  ASSERT_TRUE(config.ok()) << config.status();
  const domain::SandboxLimits& l = config->sandbox_defaults.limits;
  EXPECT_EQ(config->max_message_bytes, 1 << 20);
  EXPECT_EQ(l.max_cpu, "4");  // flag over file
  EXPECT_EQ(l.allowed_storage_classes, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(l.max_env_vars, 7);
  EXPECT_EQ(l.max_labels, 3);           // file
  EXPECT_EQ(l.max_memory, "64Gi");      // default
}

// Flags are process-global: this test restores what it sets.
TEST(ServerConfigTest, LogFormatFlagOverridesTheFile) {
  absl::SetFlag(&FLAGS_log_format, std::string("json"));
  ServerConfigOverrides overrides = OverridesFromFlags();
  absl::SetFlag(&FLAGS_log_format, std::nullopt);
  EXPECT_EQ(overrides.log_format, "json");
  absl::StatusOr<ServerConfig> config =
      ResolveServerConfig(std::string("log_format: text\n"), "c.yaml", overrides);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->log_format, "json");
  EXPECT_FALSE(OverridesFromFlags().log_format.has_value());
}

TEST(ServerConfigTest, MissingFileIsNotFound) {
  absl::SetFlag(&FLAGS_config, std::string("/nonexistent/sandboxd.yaml"));
  absl::StatusOr<ServerConfig> config = LoadServerConfig();
  absl::SetFlag(&FLAGS_config, std::nullopt);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(config.status().message(),
            "cannot read config file \"/nonexistent/sandboxd.yaml\"");
}

TEST(ServerConfigTest, NoFlagsNoFileGivesDefaults) {
  ServerConfigOverrides overrides = OverridesFromFlags();
  EXPECT_FALSE(overrides.listen_address.has_value());
  EXPECT_FALSE(overrides.default_app_port.has_value());
  absl::StatusOr<ServerConfig> config = LoadServerConfig();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen_address, "0.0.0.0:50051");
}

}  // namespace
}  // namespace sandboxd::server
