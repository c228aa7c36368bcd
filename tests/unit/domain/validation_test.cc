#include "src/domain/validation.h"

#include <functional>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "src/domain/env.h"
#include "src/domain/errors.h"
#include "src/domain/quantity.h"

namespace sandboxd::domain {
namespace {

using namespace std::string_literals;  // "a\0b"s keeps the NUL

const SandboxLimits kLimits;  // the defaults: 100Gi, cpu 16, memory 64Gi, 256 env vars, ...

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

TEST(ValidateClaimTemplateTest, TemplateAndDerivedClaimMustBeLabels) {
  EXPECT_TRUE(ValidateClaimTemplate("vn-homevn-agent", std::string(45, 'a'), "x").ok());
  absl::Status long_name = ValidateClaimTemplate("vn-homevn-agent", std::string(46, 'a'), "x");
  EXPECT_EQ(GetErrorDetail(long_name).metadata.at("field"), "name");
  absl::Status bad = ValidateClaimTemplate("vn-homevn-my_dir", "alice", "storage.mount_path");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetErrorDetail(bad).metadata.at("field"), "storage.mount_path");
  // The legacy template keeps the old 50-character budget.
  EXPECT_TRUE(ValidateClaimTemplate("home", std::string(50, 'a'), "x").ok());
}

TEST(ValidateSpecTest, ValidSpecIsOk) {
  EXPECT_EQ(ValidateSpec(ValidSpec(), kLimits), absl::OkStatus());
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
      [](SandboxSpec& s) { s.resources.limits = {}; },
      [](SandboxSpec& s) { s.resources = {{"0", "0"}, {"", "1Mi"}}; },  // not BestEffort
      [](SandboxSpec& s) { s.resources = {{"16", "64Gi"}, {"16", "64Gi"}}; },  // == maxima
      [](SandboxSpec& s) { s.resources = {{"16000m", "65536Mi"}, {}}; },  // == maxima
      [](SandboxSpec& s) { s.storage.size = "100Gi"; },                   // == maximum
      [](SandboxSpec& s) { s.env = {{"PEM", "-----BEGIN KEY-----\nAAAA\n-----END KEY-----\n"}}; },
      [](SandboxSpec& s) { s.env = {{"TSV", "a\tb"}}; },
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
    EXPECT_EQ(ValidateSpec(s, kLimits), absl::OkStatus());
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
         for (int64_t i = 0; i <= kLimits.max_env_vars; ++i) {
           s.env["V" + std::to_string(i)] = "x";
         }
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
         for (int64_t i = 0; i <= kLimits.max_labels; ++i) {
           s.labels["l" + std::to_string(i)] = "v";
         }
       },
       "labels"},
      {"label key reserved sandbox",
       [](SandboxSpec& s) { s.labels = {{"sandboxd.dev/sandbox", "x"}}; },
       "labels[sandboxd.dev/sandbox]"},
      // Maxima (SandboxLimits defaults).
      {"cpu limit above max", [](SandboxSpec& s) { s.resources.limits.cpu = "5000"; },
       "resources.limits.cpu"},
      {"cpu limit just above max", [](SandboxSpec& s) { s.resources.limits.cpu = "16001m"; },
       "resources.limits.cpu"},
      {"cpu request above max without limit",
       [](SandboxSpec& s) { s.resources = {{"17", "1Gi"}, {}}; }, "resources.requests.cpu"},
      {"memory limit above max", [](SandboxSpec& s) { s.resources.limits.memory = "65Gi"; },
       "resources.limits.memory"},
      {"memory request above max without limit",
       [](SandboxSpec& s) { s.resources = {{"1", "1Ti"}, {}}; }, "resources.requests.memory"},
      {"storage above max", [](SandboxSpec& s) { s.storage.size = "100Ti"; }, "storage.size"},
      {"storage just above max", [](SandboxSpec& s) { s.storage.size = "102401Mi"; },
       "storage.size"},
      {"no resources at all: BestEffort", [](SandboxSpec& s) { s.resources = {}; }, "resources"},
      {"only zero requests: BestEffort",
       [](SandboxSpec& s) { s.resources = {{"0", "0"}, {}}; }, "resources"},
      // Control characters, per field.
      {"NUL in name", [](SandboxSpec& s) { s.name = "ali\0ce"s; }, "name"},
      {"newline in namespace", [](SandboxSpec& s) { s.ns = "ns\n"; }, "namespace"},
      {"NUL in project", [](SandboxSpec& s) { s.project = "\0\0\0"s; }, "project"},
      {"escape in project", [](SandboxSpec& s) { s.project = "p\x1b[31m"; }, "project"},
      {"DEL in image", [](SandboxSpec& s) { s.image = "ubuntu\x7f"; }, "image"},
      {"NUL in image tag", [](SandboxSpec& s) { s.image = "ubuntu:22\0.04"s; }, "image"},
      {"NUL in env name", [](SandboxSpec& s) { s.env = {{"A\0B"s, "v"}}; }, "env[A\\x00B]"},
      {"NUL in env value", [](SandboxSpec& s) { s.env = {{"FOO", "a\0b"s}}; }, "env[FOO]"},
      {"carriage return in env value", [](SandboxSpec& s) { s.env = {{"FOO", "a\r\n"}}; },
       "env[FOO]"},
      {"escape in env value", [](SandboxSpec& s) { s.env = {{"FOO", "\x1b]0;pwned\x07"}}; },
       "env[FOO]"},
      {"DEL in env value", [](SandboxSpec& s) { s.env = {{"FOO", "\x7f"}}; }, "env[FOO]"},
      {"control in label key", [](SandboxSpec& s) { s.labels = {{"te\x01" "am", "core"}}; },
       "labels[te\\x01am]"},
      {"newline in label value", [](SandboxSpec& s) { s.labels = {{"team", "core\n"}}; },
       "labels[team]"},
      {"tab in storage class", [](SandboxSpec& s) { s.storage.storage_class = "ssd\t"; },
       "storage.storage_class"},
      {"NUL in mount path", [](SandboxSpec& s) { s.storage.mount_path = "/home/\0x"s; },
       "storage.mount_path"},
      {"newline in ingress domain",
       [](SandboxSpec& s) { s.ingress_domain = "example.com\nevil.com"; }, "ingress_domain"},
  };
  for (const InvalidCase& c : cases) {
    SCOPED_TRACE(c.what);
    SandboxSpec s = ValidSpec();
    c.mutate(s);
    absl::Status st = ValidateSpec(s, kLimits);
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
  absl::Status st = ValidateSpec(s, kLimits);
  EXPECT_EQ(st.message(),
            "resources.requests.cpu: \"3\" must be less than or equal to resources.limits.cpu "
            "(2)");

  s = ValidSpec();
  s.resources.limits.cpu = "5000";
  EXPECT_EQ(ValidateSpec(s, kLimits).message(),
            "resources.limits.cpu: \"5000\" must be at most 16");
  s = ValidSpec();
  s.storage.size = "100Ti";
  EXPECT_EQ(ValidateSpec(s, kLimits).message(), "storage.size: \"100Ti\" must be at most 100Gi");
}

TEST(ValidateSpecTest, ControlCharactersAreEscapedInFieldAndMessage) {
  SandboxSpec s = ValidSpec();
  s.env = {{"A\0B"s, "v"}};
  absl::Status st = ValidateSpec(s, kLimits);
  EXPECT_EQ(st.message(),
            "env[A\\x00B]: name must not contain control characters (byte 0x00 at offset 1)");
  s = ValidSpec();
  s.project = "p\x1b";
  st = ValidateSpec(s, kLimits);
  EXPECT_EQ(st.message(),
            "project: \"p\\x1b\" value must not contain control characters (byte 0x1b at "
            "offset 1)");
  EXPECT_EQ(st.message().find('\x1b'), std::string_view::npos);
}

TEST(ParseDomainListTest, SplitsTrimsAndDropsEmptyEntries) {
  EXPECT_EQ(ParseDomainList(" a.example.com, b.example.com ,,"),
            (std::vector<std::string>{"a.example.com", "b.example.com"}));
  EXPECT_TRUE(ParseDomainList("").empty());
  EXPECT_TRUE(ParseDomainList(" , ").empty());
}

TEST(ValidateNamespaceIngressDomainTest, TheNamespacesListNarrowsTheDomains) {
  SandboxSpec s = ValidSpec();
  s.ns = "team-a";
  s.ingress_domain = "b.example.com";
  EXPECT_TRUE(ValidateNamespaceIngressDomain(s, std::nullopt).ok());
  EXPECT_TRUE(ValidateNamespaceIngressDomain(
                  s, std::vector<std::string>{"a.example.com", "b.example.com"})
                  .ok());
  absl::Status st =
      ValidateNamespaceIngressDomain(s, std::vector<std::string>{"a.example.com"});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetErrorDetail(st).metadata["field"], "ingress_domain");
  EXPECT_EQ(st.message(),
            "ingress_domain: \"b.example.com\" is not allowed in namespace \"team-a\"; "
            "allowed: a.example.com");
  st = ValidateNamespaceIngressDomain(s, std::vector<std::string>{});
  EXPECT_EQ(st.message(),
            "ingress_domain: \"b.example.com\" is not allowed in namespace \"team-a\"; it "
            "allows no ingress domain");
  s.ingress_domain.clear();  // no Ingresses: nothing to allow
  EXPECT_TRUE(ValidateNamespaceIngressDomain(s, std::vector<std::string>{}).ok());
}

TEST(ValidateSpecTest, ConfiguredLimits) {
  SandboxLimits limits;
  limits.max_storage_size = "10Gi";
  limits.allowed_storage_classes = {"fast-ssd", "standard"};
  limits.allowed_ingress_domains = {"sandbox.example.com", "dev.example.test"};
  limits.max_cpu = "4";
  limits.max_memory = "8Gi";
  limits.max_env_vars = 2;
  limits.max_env_bytes = 10;
  limits.max_labels = 1;
  struct Case {
    const char* what;
    std::function<void(SandboxSpec&)> mutate;
    const char* field;  // nullptr: valid
  };
  const Case cases[] = {
      {"within every limit", [](SandboxSpec&) {}, nullptr},
      {"storage at max", [](SandboxSpec& s) { s.storage.size = "10Gi"; }, nullptr},
      {"storage above max", [](SandboxSpec& s) { s.storage.size = "11Gi"; }, "storage.size"},
      {"allowed class", [](SandboxSpec& s) { s.storage.storage_class = "standard"; }, nullptr},
      {"class not allowed", [](SandboxSpec& s) { s.storage.storage_class = "slow"; },
       "storage.storage_class"},
      {"cluster default class not allowed", [](SandboxSpec& s) { s.storage.storage_class = ""; },
       "storage.storage_class"},
      {"allowed ingress domain", [](SandboxSpec& s) { s.ingress_domain = "dev.example.test"; },
       nullptr},
      {"ingress domain not allowed",
       [](SandboxSpec& s) { s.ingress_domain = "prod.example.test"; }, "ingress_domain"},
      {"cpu limit above max", [](SandboxSpec& s) { s.resources.limits.cpu = "5"; },
       "resources.limits.cpu"},
      {"memory limit above max", [](SandboxSpec& s) { s.resources.limits.memory = "9Gi"; },
       "resources.limits.memory"},
      {"env at max", [](SandboxSpec& s) { s.env = {{"A", "1234"}, {"B", "1234"}}; }, nullptr},
      {"too many env vars", [](SandboxSpec& s) { s.env = {{"A", ""}, {"B", ""}, {"C", ""}}; },
       "env"},
      {"env bytes above max", [](SandboxSpec& s) { s.env = {{"A", "12345"}, {"B", "1234"}}; },
       "env"},
      {"too many labels", [](SandboxSpec& s) { s.labels = {{"a", ""}, {"b", ""}}; }, "labels"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    SandboxSpec s = ValidSpec();
    s.storage.storage_class = "fast-ssd";
    s.env = {{"A", "1"}};
    c.mutate(s);
    absl::Status st = ValidateSpec(s, limits);
    if (c.field == nullptr) {
      EXPECT_EQ(st, absl::OkStatus());
    } else {
      ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
      EXPECT_EQ(GetErrorDetail(st).metadata["field"], c.field) << st;
    }
  }
}

TEST(ValidateSpecTest, EmptyMaximumIsNoMaximumAndBadMaximumIsInternal) {
  SandboxLimits limits;
  limits.max_cpu = "";
  limits.max_storage_size = "";
  SandboxSpec s = ValidSpec();
  s.resources.limits.cpu = "5000";
  s.storage.size = "100Ti";
  EXPECT_EQ(ValidateSpec(s, limits), absl::OkStatus());
  limits.max_cpu = "lots";
  EXPECT_EQ(ValidateSpec(s, limits).code(), absl::StatusCode::kInternal);
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
      {"multi-line value", {{{"A", "line 1\nline 2\n"}}, {}, ""}, nullptr},
      {"NUL in value", {{{"A", "x\0y"s}}, {}, ""}, "env[A]"},
      {"escape in value", {{{"A", "\x1b[2J"}}, {}, ""}, "env[A]"},
      {"NUL in set name", {{{"A\0"s, "1"}}, {}, ""}, "env[A\\x00]"},
      {"NUL in remove name", {{}, {"A\0"s}, ""}, "remove_keys[A\\x00]"},
      {"at max entries", {{{"A", "1"}, {"B", "2"}, {"C", "3"}}, {"D", "E", "F"}, ""}, nullptr},
      {"too many set", {{{"A", "1"}, {"B", "2"}, {"C", "3"}, {"D", "4"}}, {}, ""}, "env"},
      {"too many removed", {{}, {"A", "B", "C", "D"}, ""}, "remove_keys"},
      {"set bytes above max", {{{"A", "123456789"}, {"B", "12345678901"}}, {}, ""}, "env"},
  };
  SandboxLimits limits;
  limits.max_env_vars = 3;
  limits.max_env_bytes = 20;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    absl::Status st = ValidateEnvUpdate(c.update, limits);
    if (c.field == nullptr) {
      EXPECT_EQ(st, absl::OkStatus());
    } else {
      ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(GetErrorDetail(st).metadata["field"], c.field);
    }
  }
}

TEST(ValidateUpdatedEnvTest, RepeatedUpdatesCannotGrowTheEnvPastTheLimits) {
  SandboxLimits limits;
  limits.max_env_vars = 3;
  limits.max_env_bytes = 100;
  // Each update is small and valid on its own; the merged result is what is bounded.
  std::map<std::string, std::string> env = {{"A", "1"}};
  for (const char* key : {"B", "C"}) {
    EnvUpdate update{{{key, "1"}}, {}, ""};
    ASSERT_EQ(ValidateEnvUpdate(update, limits), absl::OkStatus());
    env = ApplyEnvUpdate(env, update).env;
    ASSERT_EQ(ValidateUpdatedEnv(env, limits), absl::OkStatus());
  }
  EnvUpdate fourth{{{"D", "1"}}, {}, ""};
  ASSERT_EQ(ValidateEnvUpdate(fourth, limits), absl::OkStatus());
  absl::Status st = ValidateUpdatedEnv(ApplyEnvUpdate(env, fourth).env, limits);
  ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetErrorDetail(st).metadata["field"], "env");
  EXPECT_EQ(st.message(),
            "env: the updated environment would have 4 entries; at most 3 are allowed");

  // Replacing a key does not add one; removing makes room.
  EXPECT_EQ(ValidateUpdatedEnv(ApplyEnvUpdate(env, {{{"A", "2"}}, {}, ""}).env, limits),
            absl::OkStatus());
  EXPECT_EQ(ValidateUpdatedEnv(ApplyEnvUpdate(env, {{{"D", "1"}}, {"A"}, ""}).env, limits),
            absl::OkStatus());

  // Bytes: each value fits, the sum does not.
  EnvUpdate big{{{"A", std::string(60, 'x')}}, {}, ""};
  ASSERT_EQ(ValidateEnvUpdate(big, limits), absl::OkStatus());
  env = ApplyEnvUpdate(env, big).env;
  ASSERT_EQ(ValidateUpdatedEnv(env, limits), absl::OkStatus());
  st = ValidateUpdatedEnv(ApplyEnvUpdate(env, {{{"B", std::string(60, 'y')}}, {}, ""}).env,
                          limits);
  ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetErrorDetail(st).metadata["field"], "env");
  EXPECT_EQ(st.message(),
            "env: the updated environment's names and values would total 124 bytes; at most "
            "100 are allowed");

  // The default limits bound the default-sized growth too.
  std::map<std::string, std::string> full;
  for (int64_t i = 0; i < kLimits.max_env_vars; ++i) full["V" + std::to_string(i)] = "x";
  EXPECT_EQ(ValidateUpdatedEnv(full, kLimits), absl::OkStatus());
  full["ONE_MORE"] = "x";
  EXPECT_EQ(GetErrorDetail(ValidateUpdatedEnv(full, kLimits)).metadata["field"], "env");
}

TEST(ValidateListFilterTest, Table) {
  const std::string long_selector(kLimits.max_selector_length, 'a');
  std::string terms;
  for (int64_t i = 0; i < kLimits.max_selector_terms; ++i) {
    terms += (i == 0 ? "" : ",") + std::string("k") + std::to_string(i);
  }
  struct Case {
    const char* what;
    std::string project;
    std::string selector;
    const char* field;  // nullptr: valid
  };
  const Case cases[] = {
      {"empty", "", "", nullptr},
      {"project and selector", "proj-1", "team=core,tier in (a,b),!gpu", nullptr},
      {"project with NULs", "\0\0\0"s, "", "project"},
      {"project with newline", "p\n", "", "project"},
      {"project with slash", "a/b", "", "project"},
      {"project too long", std::string(64, 'p'), "", "project"},
      {"selector with NUL", "", "team=co\0re"s, "label_selector"},
      {"selector with newline", "", "team=core\n", "label_selector"},
      {"selector syntax", "", "team==", nullptr},  // empty value is allowed
      {"selector bad syntax", "", "a b c", "label_selector"},
      {"selector above max length", "", long_selector + "a", "label_selector"},
      {"selector at max terms", "", terms, nullptr},
      {"selector above max terms", "", terms + ",more", "label_selector"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    absl::Status st = ValidateListFilter(c.project, c.selector, kLimits);
    if (c.field == nullptr) {
      EXPECT_EQ(st, absl::OkStatus());
    } else {
      ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
      EXPECT_EQ(GetErrorDetail(st).metadata["field"], c.field) << st;
    }
  }
  EXPECT_EQ(ValidateListFilter("", long_selector + "a", kLimits).message(),
            "label_selector: must be at most 1024 bytes, got 1025");
  EXPECT_EQ(ValidateListFilter("", terms + ",more", kLimits).message(),
            "label_selector: must have at most 20 requirements, got 21");

  SandboxLimits small;
  small.max_selector_length = 9;
  small.max_selector_terms = 1;
  EXPECT_EQ(ValidateListFilter("", "team=core", small), absl::OkStatus());
  EXPECT_EQ(GetErrorDetail(ValidateListFilter("", "team=core1", small)).metadata["field"],
            "label_selector");
  EXPECT_EQ(GetErrorDetail(ValidateListFilter("", "a,b", small)).metadata["field"],
            "label_selector");
}

TEST(ApplyDefaultsTest, BuiltInDefaultsRequestResources) {
  const SandboxDefaults built_in;
  EXPECT_FALSE(built_in.resources.requests.cpu.empty());
  EXPECT_FALSE(built_in.resources.requests.memory.empty());
  SandboxSpec s;
  s.name = "alice";
  s.ns = "ns-alice";
  s.image = "ubuntu";
  SandboxSpec got = ApplyDefaults(s, built_in);
  EXPECT_EQ(got.resources.requests.cpu, built_in.resources.requests.cpu);
  EXPECT_EQ(got.resources.requests.memory, built_in.resources.requests.memory);
  EXPECT_EQ(ValidateSpec(got, built_in.limits), absl::OkStatus());
}

TEST(ApplyDefaultsTest, DefaultsDoNotContradictTheCaller) {
  const SandboxDefaults d = Defaults();  // requests 500m / 1Gi, limits 2 / 4Gi
  struct Case {
    const char* what;
    Resources caller;
    Resources want;
  };
  const Case cases[] = {
      {"nothing set", {}, {{"500m", "1Gi"}, {"2", "4Gi"}}},
      {"limit above default request", {{}, {"4", "8Gi"}}, {{"500m", "1Gi"}, {"4", "8Gi"}}},
      {"limit below default request", {{}, {"250m", "512Mi"}},
       {{"250m", "512Mi"}, {"250m", "512Mi"}}},
      {"request below default limit", {{"1", "2Gi"}, {}}, {{"1", "2Gi"}, {"2", "4Gi"}}},
      {"request above default limit", {{"3", "8Gi"}, {}}, {{"3", "8Gi"}, {"3", "8Gi"}}},
      {"both set: kept as they are", {{"3", "8Gi"}, {"1", "1Gi"}},
       {{"3", "8Gi"}, {"1", "1Gi"}}},
      {"not a quantity: left for ValidateSpec", {{"lots", ""}, {}},
       {{"lots", "1Gi"}, {"2", "4Gi"}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    SandboxSpec s;
    s.resources = c.caller;
    SandboxSpec got = ApplyDefaults(s, d);
    EXPECT_EQ(got.resources.requests.cpu, c.want.requests.cpu);
    EXPECT_EQ(got.resources.requests.memory, c.want.requests.memory);
    EXPECT_EQ(got.resources.limits.cpu, c.want.limits.cpu);
    EXPECT_EQ(got.resources.limits.memory, c.want.limits.memory);
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
