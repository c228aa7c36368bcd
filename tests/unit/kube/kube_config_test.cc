#include "src/kube/kube_config.h"

#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/unit/kube/test_files.h"

namespace sandboxd::kube {
namespace {

using testing::TempDir;

absl::StatusOr<KubeConfig> Load(const std::string& env, const std::string& context = "") {
  KubeConfigLoadOptions opts;
  opts.kubeconfig_env = env;
  opts.home = "/nonexistent-home";
  opts.context = context;
  return LoadKubeConfig(opts);
}

TEST(KubeConfigTest, SingleFileWithTokenAndCaData) {
  TempDir dir;
  std::string ca_b64 = absl::Base64Escape("CA-PEM");
  std::string f = dir.Write("config", R"(
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c1
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority-data: )" + ca_b64 + R"(
contexts:
- name: dev
  context: {cluster: c1, user: u1, namespace: sandboxes}
users:
- name: u1
  user:
    token: tok-123
    tokenFile: /should/not/matter
)");
  absl::StatusOr<KubeConfig> cfg = Load(f);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->server, "https://10.0.0.1:6443");
  EXPECT_EQ(cfg->ca_pem, "CA-PEM");
  EXPECT_EQ(cfg->ns, "sandboxes");
  EXPECT_EQ(cfg->context, "dev");
  EXPECT_EQ(cfg->token, "tok-123");
  EXPECT_FALSE(cfg->insecure_skip_tls_verify);
}

TEST(KubeConfigTest, MultiFileMergeFirstWinsAndRelativePaths) {
  TempDir dir;
  dir.Write("a/ca.crt", "CA-A");
  dir.Write("a/client.crt", "CERT-A");
  dir.Write("a/client.key", "KEY-A");
  dir.Write("b/token", "tok-b");
  std::string a = dir.Write("a/config", R"(
current-context: ctx-a
clusters:
- name: shared
  cluster: {server: "https://a:443", certificate-authority: ca.crt}
users:
- name: ua
  user: {client-certificate: client.crt, client-key: client.key}
contexts:
- name: ctx-a
  context: {cluster: shared, user: ua}
)");
  std::string b = dir.Write("b/config", R"(
current-context: ctx-b
clusters:
- name: shared
  cluster: {server: "https://b:443", insecure-skip-tls-verify: true}
users:
- name: ub
  user: {tokenFile: token}
contexts:
- name: ctx-b
  context: {cluster: shared, user: ub}
)");
  // a first: a's current-context and a's "shared" cluster win, including its CA.
  absl::StatusOr<KubeConfig> cfg = Load(a + ":" + b + ":" + a + ":/missing/file");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->context, "ctx-a");
  EXPECT_EQ(cfg->server, "https://a:443");
  EXPECT_EQ(cfg->ca_pem, "CA-A");
  EXPECT_EQ(cfg->client_cert_pem, "CERT-A");
  EXPECT_EQ(cfg->client_key_pem, "KEY-A");
  EXPECT_EQ(cfg->ns, "default");

  // Explicit context from the second file; the cluster entry still comes from a, whole.
  cfg = Load(a + ":" + b, "ctx-b");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->server, "https://a:443");
  EXPECT_FALSE(cfg->insecure_skip_tls_verify);
  EXPECT_EQ(cfg->token_file, dir.path() + "/b/token");

  // b first.
  cfg = Load(b + ":" + a);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->context, "ctx-b");
  EXPECT_EQ(cfg->server, "https://b:443");
  EXPECT_TRUE(cfg->insecure_skip_tls_verify);
  EXPECT_EQ(cfg->ca_pem, "");
}

TEST(KubeConfigTest, DataWinsOverFile) {
  TempDir dir;
  dir.Write("client.crt", "CERT-FILE");
  std::string f = dir.Write("config", R"(
current-context: x
clusters: [{name: c, cluster: {server: "https://s"}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
users:
- name: u
  user:
    client-certificate: client.crt
    client-certificate-data: )" + absl::Base64Escape("CERT-DATA") + R"(
    client-key-data: )" + absl::Base64Escape("KEY-DATA") + "\n");
  absl::StatusOr<KubeConfig> cfg = Load(f);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->client_cert_pem, "CERT-DATA");
  EXPECT_EQ(cfg->client_key_pem, "KEY-DATA");
}

TEST(KubeConfigTest, ExecPluginConfig) {
  TempDir dir;
  std::string f = dir.Write("config", R"(
current-context: x
clusters: [{name: c, cluster: {server: "https://s"}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: ./bin/plugin
      args: [get-token, --fast]
      env: [{name: FOO, value: bar}]
      provideClusterInfo: true
      interactiveMode: Never
)");
  absl::StatusOr<KubeConfig> cfg = Load(f);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  ASSERT_TRUE(cfg->exec.has_value());
  EXPECT_EQ(cfg->exec->command, dir.path() + "/./bin/plugin");
  EXPECT_EQ(cfg->exec->args, (std::vector<std::string>{"get-token", "--fast"}));
  ASSERT_EQ(cfg->exec->env.size(), 1u);
  EXPECT_EQ(cfg->exec->env[0].first, "FOO");
  EXPECT_TRUE(cfg->exec->provide_cluster_info);
}

TEST(KubeConfigTest, ErrorsNameFileAndKey) {
  TempDir dir;
  std::string f = dir.Write("config", R"(
current-context: x
clusters: [{name: c, cluster: {certificate-authority: nope.crt, server: "https://s"}}]
contexts: [{name: x, context: {cluster: c, user: u}}, {name: y, context: {cluster: gone}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: x}}}]
)");
  absl::StatusOr<KubeConfig> cfg = Load(f);
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(cfg.status().message().find(f), absl::string_view::npos) << cfg.status();
  EXPECT_NE(cfg.status().message().find("clusters[c].certificate-authority"),
            absl::string_view::npos)
      << cfg.status();

  cfg = Load(f, "y");
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(cfg.status().message().find("contexts[y].cluster"), absl::string_view::npos)
      << cfg.status();

  cfg = Load(f, "nope");
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kFailedPrecondition);

  std::string bad = dir.Write("bad", "clusters: [unclosed");
  EXPECT_EQ(Load(bad).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Load(dir.path() + "/none").status().code(), absl::StatusCode::kNotFound);
  // The reader's own error names the file and the errno's text.
  const absl::Status missing = ReadFileToString(dir.path() + "/none").status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.message(), "cannot read " + dir.path() + "/none: No such file or directory");

  dir.Write("nope.crt", "CA");
  cfg = Load(f);
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(cfg.status().message().find("exec.apiVersion"), absl::string_view::npos)
      << cfg.status();
}

TEST(KubeConfigTest, PlainHttpServerIsRefusedUnlessAllowed) {
  TempDir dir;
  std::string f = dir.Write("config", R"(
current-context: x
clusters: [{name: dev, cluster: {server: "http://127.0.0.1:8080"}}]
contexts: [{name: x, context: {cluster: dev}}]
)");
  absl::StatusOr<KubeConfig> cfg = Load(f);
  EXPECT_EQ(cfg.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(cfg.status().message(),
            absl::StrCat("kubeconfig ", f, ": clusters[dev].server: cluster \"dev\" is served "
                         "over plain http (\"http://127.0.0.1:8080\"): refused, credentials and "
                         "sandbox data would cross the network unencrypted; use https, or allow "
                         "it explicitly (kube.allow_http, --kube_allow_http)"));
  KubeConfigLoadOptions opts;
  opts.kubeconfig_env = f;
  opts.allow_insecure_http = true;
  cfg = LoadKubeConfig(opts);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->server, "http://127.0.0.1:8080");
  EXPECT_EQ(cfg->cluster, "dev");
}

TEST(KubeConfigTest, HomeFallback) {
  TempDir dir;
  dir.Write(".kube/config", R"(
current-context: x
clusters: [{name: c, cluster: {server: "https://home:6443"}}]
contexts: [{name: x, context: {cluster: c}}]
)");
  KubeConfigLoadOptions opts;
  opts.kubeconfig_env = "";
  opts.home = dir.path();
  absl::StatusOr<KubeConfig> cfg = LoadKubeConfig(opts);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->server, "https://home:6443");
  EXPECT_TRUE(cfg->token.empty());
}

// The in-cluster environment is given through the process environment, as the kubelet
// gives it; these tests run on one thread, so setenv / unsetenv race with nothing.
// NOLINTBEGIN(concurrency-mt-unsafe)
class InClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    unsetenv("POD_NAMESPACE");
    dir_.Write("token", "sa-token\n");
    dir_.Write("ca.crt", "CLUSTER-CA");
    opts_.service_account_dir = dir_.path();
  }
  void TearDown() override {
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    unsetenv("POD_NAMESPACE");
  }
  TempDir dir_;
  InClusterOptions opts_;
};

TEST_F(InClusterTest, ReadsEnvAndFiles) {
  absl::StatusOr<KubeConfig> cfg = LoadInClusterConfig(opts_);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->server, "https://10.96.0.1:443");
  EXPECT_EQ(cfg->ca_pem, "CLUSTER-CA");
  EXPECT_EQ(cfg->token_file, dir_.path() + "/token");
  EXPECT_EQ(cfg->ns, "default");
}

TEST_F(InClusterTest, BracketsIpv6) {
  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  absl::StatusOr<KubeConfig> cfg = LoadInClusterConfig(opts_);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->server, "https://[fd00::1]:443");
}

TEST_F(InClusterTest, NamespacePrecedence) {
  dir_.Write("namespace", "from-file\n");
  EXPECT_EQ(LoadInClusterConfig(opts_)->ns, "from-file");
  setenv("POD_NAMESPACE", "from-env", 1);
  EXPECT_EQ(LoadInClusterConfig(opts_)->ns, "from-env");
}

TEST_F(InClusterTest, Errors) {
  std::filesystem::remove(dir_.path() + "/ca.crt");
  EXPECT_EQ(LoadInClusterConfig(opts_).status().code(), absl::StatusCode::kFailedPrecondition);
  unsetenv("KUBERNETES_SERVICE_PORT");
  EXPECT_EQ(LoadInClusterConfig(opts_).status().code(), absl::StatusCode::kFailedPrecondition);
}
// NOLINTEND(concurrency-mt-unsafe)

}  // namespace
}  // namespace sandboxd::kube
