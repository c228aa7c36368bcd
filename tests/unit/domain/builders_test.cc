#include "src/domain/builders.h"

#include <string>

#include "gtest/gtest.h"
#include "src/domain/naming.h"
#include "src/domain/validation.h"
#include "src/kube/objects_json.h"
#include "tests/unit/domain/golden.h"

namespace sandboxd::domain {
namespace {

using testing::ExpectMatchesGolden;

SandboxDefaults Defaults() {
  SandboxDefaults d;
  d.image = "ghcr.io/acme/sandbox:1.2";
  d.resources.requests = {"500m", "1Gi"};
  d.resources.limits = {"2", "4Gi"};
  d.tls_secret = "sandbox-wildcard-tls";
  return d;
}

SandboxSpec Spec() {
  SandboxSpec s;
  s.name = "alice";
  s.ns = "ns-alice";
  s.project = "proj-1";
  s.env = {{"ZED", "last"}, {"API_URL", "https://api.example.com"}, {"EMPTY", ""}};
  s.labels = {{"team", "core"}};
  s.storage.storage_class = "fast-ssd";
  s.ingress_domain = "sandbox.example.com";
  return ApplyDefaults(s, Defaults());
}

TEST(BuildersGoldenTest, StatefulSet) {
  ASSERT_EQ(ValidateSpec(Spec(), SandboxLimits()), absl::OkStatus());
  ExpectMatchesGolden(kube::ToJson(BuildStatefulSet(Spec(), Defaults())), "statefulset.json");
}

TEST(BuildersGoldenTest, Service) {
  kube::Service svc = BuildService(Spec(), Defaults());
  SetOwnerReference(StatefulSetOwnerReference("alice", "0b5e7a52-1111-4c4e-9a51-2f0c1c3d4e5f"),
                    &svc.metadata);
  ExpectMatchesGolden(kube::ToJson(svc), "service.json");
}

TEST(BuildersGoldenTest, NetworkPolicy) {
  std::optional<kube::NetworkPolicy> policy = BuildNetworkPolicy("ns-alice", Defaults());
  ASSERT_TRUE(policy.has_value());
  ExpectMatchesGolden(kube::ToJson(*policy), "networkpolicy.json");
}

// The policy admits the ports by the names the pod template gives them.
TEST(BuildersTest, TheNetworkPolicyNamesThePortsOfThePodTemplate) {
  kube::StatefulSet sts = BuildStatefulSet(Spec(), Defaults());
  std::vector<std::string> names;
  for (const kube::ContainerPort& p : sts.spec.template_.spec.containers.at(0).ports) {
    names.push_back(p.name);
  }
  const kube::NetworkPolicy policy = *BuildNetworkPolicy("ns-alice", Defaults());
  std::vector<std::string> admitted;
  for (const kube::NetworkPolicyPort& p : policy.spec.ingress.at(0).ports) {
    EXPECT_TRUE(p.port.is_string);
    admitted.push_back(p.port.string_value);
  }
  EXPECT_EQ(admitted, names);
  // Every sandbox pod is selected.
  for (const auto& [key, value] : policy.spec.pod_selector) {
    EXPECT_EQ(sts.spec.template_.metadata.labels.at(key), value) << key;
  }
}

TEST(BuildersTest, NoNetworkPolicyWithoutAnIngressControllerNamespace) {
  SandboxDefaults d = Defaults();
  d.ingress_controller_namespace.clear();
  EXPECT_FALSE(BuildNetworkPolicy("ns-alice", d).has_value());
}

TEST(BuildersGoldenTest, AppIngress) {
  kube::Ingress ing = BuildAppIngress(Spec(), Defaults());
  SetOwnerReference(StatefulSetOwnerReference("alice", "0b5e7a52-1111-4c4e-9a51-2f0c1c3d4e5f"),
                    &ing.metadata);
  ExpectMatchesGolden(kube::ToJson(ing), "ingress-app.json");
}

TEST(BuildersGoldenTest, TtydIngress) {
  kube::Ingress ing = BuildTtydIngress(Spec(), Defaults());
  SetOwnerReference(StatefulSetOwnerReference("alice", "0b5e7a52-1111-4c4e-9a51-2f0c1c3d4e5f"),
                    &ing.metadata);
  ExpectMatchesGolden(kube::ToJson(ing), "ingress-ttyd.json");
}

TEST(BuildersTest, StatefulSetEssentials) {
  kube::StatefulSet sts = BuildStatefulSet(Spec(), Defaults());
  EXPECT_EQ(sts.metadata.name, "alice");
  EXPECT_EQ(sts.spec.replicas, 1);
  EXPECT_EQ(sts.spec.service_name, "alice-service");
  EXPECT_EQ(sts.spec.selector.match_labels,
            (kube::StringMap{{"app", "alice"}, {"sandboxd.dev/sandbox", "alice"}}));
  // Every selector label is on the pod template (the API server requires it).
  for (const auto& [key, value] : sts.spec.selector.match_labels) {
    EXPECT_EQ(sts.spec.template_.metadata.labels.at(key), value) << key;
  }
  ASSERT_EQ(sts.spec.volume_claim_templates.size(), 1u);
  EXPECT_EQ(sts.spec.volume_claim_templates[0].metadata.name, "vn-homevn-agent");
  EXPECT_EQ(sts.spec.volume_claim_templates[0].spec.storage_class_name,
            std::optional<std::string>("fast-ssd"));
  EXPECT_EQ(ClaimNameOf(sts), "vn-homevn-agent-alice-0");
  const kube::Container& c = sts.spec.template_.spec.containers.at(0);
  ASSERT_EQ(c.env.size(), 3u);  // sorted by name
  EXPECT_EQ(c.env[0].name, "API_URL");
  EXPECT_EQ(c.env[1].name, "EMPTY");
  EXPECT_EQ(c.env[2].name, "ZED");
}

TEST(ClaimTemplateTest, SealosLaunchpadNamingByDefault) {
  EXPECT_EQ(SealosVolumeName("/home/agent"), "vn-homevn-agent");
  EXPECT_EQ(SealosVolumeName("/workspace"), "vn-workspace");
  kube::StatefulSet sts = BuildStatefulSet(Spec(), Defaults());
  const kube::PersistentVolumeClaim& t = sts.spec.volume_claim_templates.at(0);
  EXPECT_EQ(t.metadata.name, "vn-homevn-agent");
  EXPECT_EQ(t.metadata.annotations,
            (kube::StringMap{{"path", "/home/agent"}, {"value", "5"}}));
  EXPECT_EQ(t.metadata.labels.at("app"), "alice");  // the cache joins claims by it
  const kube::Container& c = sts.spec.template_.spec.containers.at(0);
  ASSERT_EQ(c.volume_mounts.size(), 1u);
  EXPECT_EQ(c.volume_mounts[0].name, "vn-homevn-agent");
  EXPECT_EQ(c.volume_mounts[0].mount_path, "/home/agent");
  EXPECT_EQ(ClaimTemplateName(sts), "vn-homevn-agent");
  EXPECT_EQ(ClaimName("vn-homevn-agent", "alice"), "vn-homevn-agent-alice-0");
}

TEST(ClaimTemplateTest, SizeInWholeGiRoundedUp) {
  EXPECT_EQ(SizeInGi("5Gi"), "5");
  EXPECT_EQ(SizeInGi("500Mi"), "1");
  EXPECT_EQ(SizeInGi("1Ti"), "1024");
  EXPECT_EQ(SizeInGi("1073741825"), "2");
  EXPECT_EQ(SizeInGi("junk"), "");
}

TEST(ClaimTemplateTest, ConfiguredNameAndTheLegacyHome) {
  SandboxDefaults d = Defaults();
  d.claim_template_name = "data";
  EXPECT_EQ(ClaimTemplateNameFor(Spec(), d), "data");
  EXPECT_EQ(ClaimNameOf(BuildStatefulSet(Spec(), d)), "data-alice-0");
  d.claim_template_name = "home";
  kube::StatefulSet legacy = BuildStatefulSet(Spec(), d);
  EXPECT_EQ(ClaimTemplateName(legacy), "home");
  EXPECT_EQ(ClaimNameOf(legacy), "home-alice-0");
  // A StatefulSet with the legacy template reads back the same spec.
  EXPECT_EQ(SpecFromStatefulSet(legacy).storage.mount_path, "/home/agent");
  EXPECT_EQ(SpecFromStatefulSet(legacy).storage.size, Spec().storage.size);
  // No template at all: the legacy name.
  legacy.spec.volume_claim_templates.clear();
  EXPECT_EQ(ClaimTemplateName(legacy), "home");
}

TEST(BuildersTest, OnlySandboxPodsAreSelected) {
  EXPECT_STREQ(kLabelSandbox, "sandboxd.dev/sandbox");
  EXPECT_TRUE(IsReservedLabelKey(kLabelSandbox));  // callers cannot put it on other pods
  const kube::StringMap want = {{"app", "alice"}, {"sandboxd.dev/sandbox", "alice"}};
  EXPECT_EQ(PodSelector("alice"), want);
  EXPECT_EQ(BuildService(Spec(), Defaults()).spec.selector, want);
  // A caller label never reaches the pod template, so it cannot fake the sandbox label.
  kube::StatefulSet sts = BuildStatefulSet(Spec(), Defaults());
  EXPECT_EQ(sts.spec.template_.metadata.labels.count("team"), 0u);
  EXPECT_EQ(BuildService(Spec(), Defaults(), sts).spec.selector, want);
}

// A StatefulSet created before the sandbox label existed: selector and pod template
// without it. Its selector is immutable, so readers and the Service must make do.
kube::StatefulSet StatefulSetBeforeSandboxLabel(const SandboxSpec& spec) {
  kube::StatefulSet sts = BuildStatefulSet(spec, Defaults());
  sts.spec.selector.match_labels = {{"app", spec.name}};
  sts.spec.template_.metadata.labels.erase(kLabelSandbox);
  return sts;
}

TEST(BuildersTest, ServiceOfAStatefulSetFromBeforeTheSandboxLabelSelectsItsPods) {
  kube::StatefulSet old = StatefulSetBeforeSandboxLabel(Spec());
  kube::Service svc = BuildService(Spec(), Defaults(), old);
  EXPECT_EQ(svc.spec.selector,
            (kube::StringMap{{"app", "alice"}, {"app.kubernetes.io/managed-by", "sandboxd"}}));
  for (const auto& [key, value] : svc.spec.selector) {
    EXPECT_EQ(old.spec.template_.metadata.labels.at(key), value) << key;
  }
  // Older still: no managed-by label on the pod template either.
  old.spec.template_.metadata.labels.erase(kLabelManagedBy);
  EXPECT_EQ(BuildService(Spec(), Defaults(), old).spec.selector,
            (kube::StringMap{{"app", "alice"}}));
  // Everything but the selector is the same Service.
  kube::Service fresh = BuildService(Spec(), Defaults());
  svc.spec.selector = fresh.spec.selector;
  EXPECT_EQ(kube::ToJson(svc), kube::ToJson(fresh));
}

TEST(SpecFromStatefulSetTest, ReadsStatefulSetsFromBeforeTheSandboxLabel) {
  const SandboxSpec spec = Spec();
  kube::StatefulSet old = StatefulSetBeforeSandboxLabel(spec);
  absl::StatusOr<kube::StatefulSet> decoded = kube::Decode<kube::StatefulSet>(kube::ToJson(old));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  SandboxSpec got = SpecFromStatefulSet(*decoded);
  EXPECT_EQ(got.name, spec.name);
  EXPECT_EQ(got.labels, spec.labels);
  EXPECT_EQ(SpecHash(got), SpecHash(spec));
}

TEST(BuildersTest, NoStorageClassMeansClusterDefault) {
  SandboxSpec s = Spec();
  s.storage.storage_class = "";
  kube::StatefulSet sts = BuildStatefulSet(s, Defaults());
  EXPECT_FALSE(sts.spec.volume_claim_templates[0].spec.storage_class_name.has_value());
  EXPECT_EQ(kube::ToJson(sts).find("storageClassName"), std::string::npos);
}

TEST(BuildersTest, NoIngressesWithoutDomain) {
  SandboxSpec s = Spec();
  s.ingress_domain = "";
  EXPECT_TRUE(BuildIngresses(s, Defaults()).empty());
  EXPECT_EQ(BuildIngresses(Spec(), Defaults()).size(), 2u);
}

TEST(BuildersTest, NoTlsWithoutSecret) {
  SandboxDefaults d = Defaults();
  d.tls_secret = "";
  kube::Ingress app = BuildAppIngress(Spec(), d);
  EXPECT_TRUE(app.spec.tls.empty());
  EXPECT_EQ(app.metadata.annotations.count("nginx.ingress.kubernetes.io/ssl-redirect"), 0u);
  EXPECT_EQ(BuildAppIngress(Spec(), Defaults())
                .metadata.annotations.at("nginx.ingress.kubernetes.io/ssl-redirect"),
            "true");
}

TEST(BuildersTest, ExternalAuthOnTheTerminalAndOptionallyTheApp) {
  const std::string kUrl = "nginx.ingress.kubernetes.io/auth-url";
  const std::string kSignin = "nginx.ingress.kubernetes.io/auth-signin";
  EXPECT_EQ(BuildTtydIngress(Spec(), Defaults()).metadata.annotations.count(kUrl), 0u)
      << "none without configuration";
  SandboxDefaults d = Defaults();
  d.ingress_auth_url = "https://auth.example.test/oauth2/auth";
  d.ingress_auth_signin = "https://auth.example.test/oauth2/start";
  kube::Ingress ttyd = BuildTtydIngress(Spec(), d);
  EXPECT_EQ(ttyd.metadata.annotations.at(kUrl), "https://auth.example.test/oauth2/auth");
  EXPECT_EQ(ttyd.metadata.annotations.at(kSignin), "https://auth.example.test/oauth2/start");
  EXPECT_EQ(BuildAppIngress(Spec(), d).metadata.annotations.count(kUrl), 0u);
  d.ingress_auth_app = true;
  EXPECT_EQ(BuildAppIngress(Spec(), d).metadata.annotations.at(kUrl),
            "https://auth.example.test/oauth2/auth");
}

TEST(BuildersTest, OwnerReference) {
  kube::OwnerReference ref = StatefulSetOwnerReference("alice", "uid-1");
  EXPECT_EQ(ref.api_version, "apps/v1");
  EXPECT_EQ(ref.kind, "StatefulSet");
  EXPECT_EQ(ref.name, "alice");
  EXPECT_EQ(ref.uid, "uid-1");
  EXPECT_EQ(ref.controller, true);
  EXPECT_EQ(ref.block_owner_deletion, true);
  kube::ObjectMeta meta;
  SetOwnerReference(ref, &meta);
  SetOwnerReference(StatefulSetOwnerReference("alice", "uid-2"), &meta);  // replaces
  ASSERT_EQ(meta.owner_references.size(), 1u);
  EXPECT_EQ(meta.owner_references[0].uid, "uid-2");
}

TEST(BuildersTest, RetentionPolicy) {
  EXPECT_EQ(RetentionPolicy(false).when_deleted, "Delete");
  EXPECT_EQ(RetentionPolicy(false).when_scaled, "Retain");
  EXPECT_EQ(RetentionPolicy(true).when_deleted, "Retain");
  EXPECT_EQ(RetentionPolicy(true).when_scaled, "Retain");
}

TEST(SpecHashTest, StableAndSensitive) {
  const std::string h = SpecHash(Spec());
  EXPECT_EQ(h.size(), 16u);
  EXPECT_EQ(h, SpecHash(Spec()));
  EXPECT_EQ(h, "3a99f2e71e92cf45");
  // Pinned: the hash must not change between builds, or Create of an existing sandbox
  // would report ALREADY_EXISTS after an upgrade.
  EXPECT_EQ(h, BuildStatefulSet(Spec(), Defaults()).metadata.annotations.at(kAnnotationSpecHash));
  SandboxSpec other = Spec();
  other.env["ZED"] = "changed";
  EXPECT_NE(SpecHash(other), h);
  other = Spec();
  other.labels["team"] = "cor";
  other.labels["e"] = "";
  EXPECT_NE(SpecHash(other), h);
  other = Spec();
  other.ports.app = 3001;
  EXPECT_NE(SpecHash(other), h);
}

void ExpectSpecEq(const SandboxSpec& got, const SandboxSpec& want) {
  EXPECT_EQ(got.name, want.name);
  EXPECT_EQ(got.ns, want.ns);
  EXPECT_EQ(got.project, want.project);
  EXPECT_EQ(got.image, want.image);
  EXPECT_EQ(got.env, want.env);
  EXPECT_EQ(got.resources.requests.cpu, want.resources.requests.cpu);
  EXPECT_EQ(got.resources.requests.memory, want.resources.requests.memory);
  EXPECT_EQ(got.resources.limits.cpu, want.resources.limits.cpu);
  EXPECT_EQ(got.resources.limits.memory, want.resources.limits.memory);
  EXPECT_EQ(got.storage.size, want.storage.size);
  EXPECT_EQ(got.storage.storage_class, want.storage.storage_class);
  EXPECT_EQ(got.storage.mount_path, want.storage.mount_path);
  EXPECT_EQ(got.ports.app, want.ports.app);
  EXPECT_EQ(got.ports.terminal, want.ports.terminal);
  EXPECT_EQ(got.ingress_domain, want.ingress_domain);
  EXPECT_EQ(got.labels, want.labels);
}

TEST(SpecFromStatefulSetTest, RoundTripsThroughBuilderAndJson) {
  SandboxSpec variants[3] = {Spec(), Spec(), Spec()};
  variants[1].project = "";
  variants[1].ingress_domain = "";
  variants[1].storage.storage_class = "";
  variants[1].labels = {};
  variants[1].env = {};
  variants[2].resources = {};
  variants[2].ports = {8080, 9090};
  variants[2].storage.mount_path = "/workspace";
  for (const SandboxSpec& spec : variants) {
    kube::StatefulSet sts = BuildStatefulSet(spec, Defaults());
    ExpectSpecEq(SpecFromStatefulSet(sts), spec);
    // ... and after a trip through the API server's JSON.
    absl::StatusOr<kube::StatefulSet> decoded = kube::Decode<kube::StatefulSet>(kube::ToJson(sts));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    ExpectSpecEq(SpecFromStatefulSet(*decoded), spec);
    EXPECT_EQ(SpecHash(SpecFromStatefulSet(*decoded)), SpecHash(spec));
  }
}

}  // namespace
}  // namespace sandboxd::domain
