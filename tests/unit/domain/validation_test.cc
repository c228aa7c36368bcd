#include "src/domain/validation.h"

#include <functional>
#include <string>

#include "gtest/gtest.h"
#include "src/domain/errors.h"
#include "src/domain/quantity.h"

namespace sandboxd::domain {
namespace {

SandboxDefaults Defaults() {
  SandboxDefaults d;
  d.image = "ghcr.io/acme/sandbox:1.2";
  d.resources.requests = {"500m", "1Gi"};
  d.resources.limits = {"2", "4Gi"};
  return d;
}

SandboxSpec ValidSpec() {
  SandboxSpec s;
  s.name = "alice";
  s.ns = "ns-alice";
  s.project = "proj-1";
  s.env = {{"FOO", "bar"}};
  s.labels = {{"team", "core"}};
  s.ingress_domain = "sandbox.example.com";
  return ApplyDefaults(s, Defaults());
}

TEST(ValidateSpecTest, ValidSpecIsOk) {
  EXPECT_EQ(ValidateSpec(ValidSpec()), absl::OkStatus());
}

TEST(ValidateSpecTest, ValidEdgeCases) {
  const std::function<void(SandboxSpec&)> cases[] = {
      [](SandboxSpec& s) { s.name = std::string(50, 'a'); },
      [](SandboxSpec& s) { s.name = "a"; },
      [](SandboxSpec& s) { s.name = "0-9"; },
      [](SandboxSpec& s) { s.ns = std::string(63, 'n'); },
      [](SandboxSpec& s) { s.project = ""; },
      [](SandboxSpec& s) { s.image = "ubuntu"; },
      [](SandboxSpec& s) { s.image = "localhost:5000/a/b_c__d-e.f:v1.0-rc_1"; },
      [](SandboxSpec& s) {
        s.image = "registry.k8s.io/pause@sha256:" + std::string(64, 'a');
      },
      [](SandboxSpec& s) {
        s.image = "docker.io/library/node:20@sha256:" + std::string(64, '0');
      },
      [](SandboxSpec& s) { s.env = {{"_X", ""}, {"a.b-c", "v"}}; },
      [](SandboxSpec& s) { s.env = {{"V", std::string(kMaxEnvValueLength, 'x')}}; },
      [](SandboxSpec& s) { s.resources.requests = {"2", "4Gi"}; },  // == limits
      [](SandboxSpec& s) { s.resources.requests = {"2000m", "4096Mi"}; },  // == limits
      [](SandboxSpec& s) { s.resources.requests = {"0", "0"}; },
      [](SandboxSpec& s) { s.resources = {}; },
      [](SandboxSpec& s) { s.resources.limits = {}; },
      [](SandboxSpec& s) { s.storage.size = "1.5e9"; },
      [](SandboxSpec& s) { s.storage.storage_class = "fast.ssd-1"; },
      [](SandboxSpec& s) { s.storage.mount_path = "/home/agent/work"; },
      [](SandboxSpec& s) { s.ports = {1, 65535}; },
      [](SandboxSpec& s) { s.ingress_domain = ""; },
      [](SandboxSpec& s) { s.labels = {{"example.com/tier", ""}, {"a_b.c-d", "X.y-z_1"}}; },
  };
  int i = 0;
  for (const auto& mutate : cases) {
    SCOPED_TRACE(i++);
    SandboxSpec s = ValidSpec();
    mutate(s);
    EXPECT_EQ(ValidateSpec(s), absl::OkStatus());
  }
}

struct InvalidCase {
  const char* what;
  std::function<void(SandboxSpec&)> mutate;
  const char* field;
};

TEST(ValidateSpecTest, InvalidCasesNameTheField) {
  const InvalidCase cases[] = {
      {"empty name", [](SandboxSpec& s) { s.name = ""; }, "name"},
      {"uppercase name", [](SandboxSpec& s) { s.name = "Alice"; }, "name"},
      {"name with dot", [](SandboxSpec& s) { s.name = "a.b"; }, "name"},
      {"name ends with dash", [](SandboxSpec& s) { s.name = "abc-"; }, "name"},
      {"name starts with dash", [](SandboxSpec& s) { s.name = "-abc"; }, "name"},
      {"name too long for derived names", [](SandboxSpec& s) { s.name = std::string(51, 'a'); },
       "name"},
      {"empty namespace", [](SandboxSpec& s) { s.ns = ""; }, "namespace"},
      {"namespace too long", [](SandboxSpec& s) { s.ns = std::string(64, 'n'); }, "namespace"},
      {"namespace with underscore", [](SandboxSpec& s) { s.ns = "a_b"; }, "namespace"},
      {"project with slash", [](SandboxSpec& s) { s.project = "a/b"; }, "project"},
      {"project too long", [](SandboxSpec& s) { s.project = std::string(64, 'p'); }, "project"},
      {"empty image", [](SandboxSpec& s) { s.image = ""; }, "image"},
      {"image with space", [](SandboxSpec& s) { s.image = "ubuntu latest"; }, "image"},
      {"image uppercase repo", [](SandboxSpec& s) { s.image = "Ubuntu:22.04"; }, "image"},
      {"image empty tag", [](SandboxSpec& s) { s.image = "ubuntu:"; }, "image"},
      {"image bad tag", [](SandboxSpec& s) { s.image = "ubuntu:-x"; }, "image"},
      {"image bad digest", [](SandboxSpec& s) { s.image = "ubuntu@sha256:abc"; }, "image"},
      {"image double slash", [](SandboxSpec& s) { s.image = "a//b"; }, "image"},
      {"image bad registry port", [](SandboxSpec& s) { s.image = "host:port/x"; }, "image"},
      {"image too long", [](SandboxSpec& s) { s.image = std::string(513, 'a'); }, "image"},
      {"env name starts with digit", [](SandboxSpec& s) { s.env = {{"1X", "v"}}; }, "env[1X]"},
      {"env name with equals", [](SandboxSpec& s) { s.env = {{"A=B", "v"}}; }, "env[A=B]"},
      {"env empty name", [](SandboxSpec& s) { s.env = {{"", "v"}}; }, "env[]"},
      {"env name too long",
       [](SandboxSpec& s) { s.env = {{std::string(129, 'A'), "v"}}; },
       nullptr},  // field checked below (truncated key)
      {"env value too long",
       [](SandboxSpec& s) { s.env = {{"BIG", std::string(kMaxEnvValueLength + 1, 'x')}}; },
       "env[BIG]"},
      {"too many env vars",
       [](SandboxSpec& s) {
         for (size_t i = 0; i <= kMaxEnvVars; ++i) s.env["V" + std::to_string(i)] = "x";
       },
       "env"},
      {"env total too big",
       [](SandboxSpec& s) {
         for (int i = 0; i < 9; ++i) s.env["V" + std::to_string(i)] = std::string(30000, 'x');
       },
       "env"},
      {"cpu request syntax", [](SandboxSpec& s) { s.resources.requests.cpu = "1 core"; },
       "resources.requests.cpu"},
      {"cpu request negative", [](SandboxSpec& s) { s.resources.requests.cpu = "-1"; },
       "resources.requests.cpu"},
      {"memory request bad suffix", [](SandboxSpec& s) { s.resources.requests.memory = "1GB"; },
       "resources.requests.memory"},
      {"cpu limit zero", [](SandboxSpec& s) { s.resources.limits.cpu = "0"; },
       "resources.limits.cpu"},
      {"memory limit syntax", [](SandboxSpec& s) { s.resources.limits.memory = "lots"; },
       "resources.limits.memory"},
      {"cpu request above limit", [](SandboxSpec& s) { s.resources.requests.cpu = "2001m"; },
       "resources.requests.cpu"},
      {"memory request above limit",
       [](SandboxSpec& s) { s.resources.requests.memory = "5Gi"; },
       "resources.requests.memory"},
      {"storage empty", [](SandboxSpec& s) { s.storage.size = ""; }, "storage.size"},
      {"storage zero", [](SandboxSpec& s) { s.storage.size = "0Gi"; }, "storage.size"},
      {"storage syntax", [](SandboxSpec& s) { s.storage.size = "5 Gi"; }, "storage.size"},
      {"storage negative", [](SandboxSpec& s) { s.storage.size = "-5Gi"; }, "storage.size"},
      {"storage class uppercase", [](SandboxSpec& s) { s.storage.storage_class = "SSD"; },
       "storage.storage_class"},
      {"mount path relative", [](SandboxSpec& s) { s.storage.mount_path = "home/agent"; },
       "storage.mount_path"},
      {"mount path empty", [](SandboxSpec& s) { s.storage.mount_path = ""; },
       "storage.mount_path"},
      {"mount path root", [](SandboxSpec& s) { s.storage.mount_path = "/"; },
       "storage.mount_path"},
      {"mount path trailing slash", [](SandboxSpec& s) { s.storage.mount_path = "/home/"; },
       "storage.mount_path"},
      {"mount path double slash", [](SandboxSpec& s) { s.storage.mount_path = "/home//a"; },
       "storage.mount_path"},
      {"mount path dotdot", [](SandboxSpec& s) { s.storage.mount_path = "/home/../etc"; },
       "storage.mount_path"},
      {"mount path dot", [](SandboxSpec& s) { s.storage.mount_path = "/home/./a"; },
       "storage.mount_path"},
      {"app port zero", [](SandboxSpec& s) { s.ports.app = 0; }, "ports.app"},
      {"app port too big", [](SandboxSpec& s) { s.ports.app = 65536; }, "ports.app"},
      {"terminal port negative", [](SandboxSpec& s) { s.ports.terminal = -1; },
       "ports.terminal"},
      {"ports equal", [](SandboxSpec& s) { s.ports = {8080, 8080}; }, "ports.terminal"},
      {"ingress domain uppercase", [](SandboxSpec& s) { s.ingress_domain = "Example.com"; },
       "ingress_domain"},
      {"ingress domain empty label", [](SandboxSpec& s) { s.ingress_domain = "a..com"; },
       "ingress_domain"},
      {"ingress domain leading dot", [](SandboxSpec& s) { s.ingress_domain = ".a.com"; },
       "ingress_domain"},
      {"ingress host too long",
       [](SandboxSpec& s) {
         s.ingress_domain = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                            std::string(63, 'c') + "." + std::string(55, 'd');
       },
       "ingress_domain"},
      {"label key reserved app", [](SandboxSpec& s) { s.labels = {{"app", "x"}}; },
       "labels[app]"},
      {"label key reserved sealos",
       [](SandboxSpec& s) { s.labels = {{"cloud.sealos.io/app-deploy-manager", "x"}}; },
       "labels[cloud.sealos.io/app-deploy-manager]"},
      {"label key reserved managed-by",
       [](SandboxSpec& s) { s.labels = {{"app.kubernetes.io/managed-by", "me"}}; },
       "labels[app.kubernetes.io/managed-by]"},
      {"label key reserved project",
       [](SandboxSpec& s) { s.labels = {{"sandboxd.dev/project", "p"}}; },
       "labels[sandboxd.dev/project]"},
      {"label key reserved k8s.io subdomain",
       [](SandboxSpec& s) { s.labels = {{"node.k8s.io/x", "p"}}; }, "labels[node.k8s.io/x]"},
      {"label key bad name", [](SandboxSpec& s) { s.labels = {{"-bad", "x"}}; },
       "labels[-bad]"},
      {"label key bad prefix", [](SandboxSpec& s) { s.labels = {{"Ex.com/a", "x"}}; },
       "labels[Ex.com/a]"},
      {"label key empty name", [](SandboxSpec& s) { s.labels = {{"example.com/", "x"}}; },
       "labels[example.com/]"},
      {"label value too long", [](SandboxSpec& s) { s.labels = {{"k", std::string(64, 'v')}}; },
       "labels[k]"},
      {"label value bad chars", [](SandboxSpec& s) { s.labels = {{"k", "a b"}}; }, "labels[k]"},
      {"too many labels",
       [](SandboxSpec& s) {
         for (size_t i = 0; i <= kMaxLabels; ++i) s.labels["l" + std::to_string(i)] = "v";
       },
       "labels"},
  };
  for (const InvalidCase& c : cases) {
    SCOPED_TRACE(c.what);
    SandboxSpec s = ValidSpec();
    c.mutate(s);
    absl::Status st = ValidateSpec(s);
    ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    ErrorDetail detail = GetErrorDetail(st);
    EXPECT_EQ(detail.reason, "INVALID_FIELD");
    if (c.field != nullptr) {
      EXPECT_EQ(detail.metadata["field"], c.field) << st;
    } else {
      EXPECT_EQ(detail.metadata["field"].rfind("env[AAAA", 0), 0u) << st;
    }
    EXPECT_FALSE(detail.metadata["why"].empty());
  }
}

TEST(ValidateSpecTest, MessageSaysWhy) {
  SandboxSpec s = ValidSpec();
  s.resources.requests.cpu = "3";
  absl::Status st = ValidateSpec(s);
  EXPECT_EQ(st.message(),
            "resources.requests.cpu: \"3\" must be less than or equal to resources.limits.cpu "
            "(2)");
}

TEST(ValidateNameTest, GetAndDeleteHelpers) {
  EXPECT_EQ(ValidateName("alice"), absl::OkStatus());
  EXPECT_EQ(GetErrorDetail(ValidateName("Alice")).metadata["field"], "name");
  EXPECT_EQ(ValidateName("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateNamespace("default"), absl::OkStatus());
  EXPECT_EQ(GetErrorDetail(ValidateNamespace("x.y")).metadata["field"], "namespace");
}

TEST(ValidateEnvUpdateTest, Table) {
  struct Case {
    const char* what;
    EnvUpdate update;
    const char* field;  // nullptr: valid
  };
  const Case cases[] = {
      {"empty", {}, nullptr},
      {"set and remove", {{{"A", "1"}}, {"B"}, ""}, nullptr},
      {"bad set name", {{{"1A", "1"}}, {}, ""}, "env[1A]"},
      {"bad remove name", {{}, {"A B"}, ""}, "remove_keys[A B]"},
      {"both set and removed", {{{"A", "1"}}, {"A"}, ""}, "remove_keys[A]"},
      {"value too long", {{{"A", std::string(kMaxEnvValueLength + 1, 'x')}}, {}, ""}, "env[A]"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    absl::Status st = ValidateEnvUpdate(c.update);
    if (c.field == nullptr) {
      EXPECT_EQ(st, absl::OkStatus());
    } else {
      ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(GetErrorDetail(st).metadata["field"], c.field);
    }
  }
}

TEST(ApplyDefaultsTest, FillsOnlyEmptyFields) {
  SandboxDefaults d = Defaults();
  d.ingress_domain = "default.example.com";
  SandboxSpec empty;
  SandboxSpec got = ApplyDefaults(empty, d);
  EXPECT_EQ(got.image, "ghcr.io/acme/sandbox:1.2");
  EXPECT_EQ(got.resources.requests.cpu, "500m");
  EXPECT_EQ(got.resources.requests.memory, "1Gi");
  EXPECT_EQ(got.resources.limits.cpu, "2");
  EXPECT_EQ(got.resources.limits.memory, "4Gi");
  EXPECT_EQ(got.storage.size, "5Gi");
  EXPECT_EQ(got.storage.storage_class, "");
  EXPECT_EQ(got.storage.mount_path, "/home/agent");
  EXPECT_EQ(got.ports.app, 3000);
  EXPECT_EQ(got.ports.terminal, 7681);
  EXPECT_EQ(got.ingress_domain, "default.example.com");

  SandboxSpec set;
  set.image = "busybox";
  set.resources.limits.cpu = "4";
  set.storage = {"10Gi", "ssd", "/data"};
  set.ports = {8080, 8081};
  set.ingress_domain = "mine.example.com";
  got = ApplyDefaults(set, d);
  EXPECT_EQ(got.image, "busybox");
  EXPECT_EQ(got.resources.limits.cpu, "4");
  EXPECT_EQ(got.resources.limits.memory, "4Gi");
  EXPECT_EQ(got.storage.size, "10Gi");
  EXPECT_EQ(got.storage.storage_class, "ssd");
  EXPECT_EQ(got.storage.mount_path, "/data");
  EXPECT_EQ(got.ports.app, 8080);
  EXPECT_EQ(got.ports.terminal, 8081);
  EXPECT_EQ(got.ingress_domain, "mine.example.com");
}

TEST(QuantityTest, ParsesExactly) {
  struct Case {
    const char* text;
    int64_t nano;
  };
  const Case cases[] = {
      {"1", 1000000000},         {"500m", 500000000},   {"0.5", 500000000},
      {"1Ki", 1024000000000},    {"2k", 2000000000000}, {"1e3", 1000000000000},
      {"1E-3", 1000000},         {"1n", 1},             {"0.1n", 1},  // rounds up
      {"+3", 3000000000},        {"-1m", -1000000},     {".5", 500000000},
      {"1Gi", int64_t{1} << 30 /* * 1e9 below */},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<absl::int128> got = ParseQuantityNano(c.text);
    ASSERT_TRUE(got.ok()) << got.status();
    absl::int128 want = c.nano;
    if (std::string(c.text) == "1Gi") want *= 1000000000;
    EXPECT_EQ(*got, want);
  }
  for (const char* bad : {"", "m", "1.2.3", "1GB", "1 Gi", "1e", "1e+", "Gi", "1ki", "1e99",
                          "1234567890123456789", "--1"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(ParseQuantityNano(bad).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace sandboxd::domain
