// Objects carried over as JSON: every field not named is kept as it was.
#include "src/kube/raw_objects.h"

#include "gtest/gtest.h"

namespace sandboxd::kube {
namespace {

constexpr char kDeployment[] =
    R"({"metadata":{"name":"d","uid":"u","resourceVersion":"5","generation":2,)"
    R"("creationTimestamp":"2025-01-01T00:00:00Z","managedFields":[{}],)"
    R"("annotations":{"deployment.kubernetes.io/revision":"2","keep":"me"}},)"
    R"("spec":{"replicas":1,"template":{"metadata":{"creationTimestamp":null,)"
    R"("labels":{"app":"d"}},"spec":{"containers":[{"name":"side"},{"name":"d",)"
    R"("readinessProbe":{"exec":{"command":["true"]}},"volumeMounts":[{"name":"home",)"
    R"("mountPath":"/old"}]}],"volumes":[{"name":"home","emptyDir":{}},{"name":"cfg",)"
    R"("configMap":{"name":"c"}}]}}},"status":{"replicas":1}})";

TEST(RawObjectsTest, ASavedCopyDropsStatusManagedFieldsAndResourceVersion) {
  absl::StatusOr<std::string> saved = SavedCopy(kDeployment);
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->find("status"), std::string::npos);
  EXPECT_EQ(saved->find("managedFields"), std::string::npos);
  EXPECT_EQ(saved->find("resourceVersion"), std::string::npos);
  EXPECT_NE(saved->find(R"("uid":"u")"), std::string::npos);
  EXPECT_NE(saved->find("readinessProbe"), std::string::npos);
}

TEST(RawObjectsTest, TheMigratedTemplateReplacesAVolumeOfTheHomeVolumesName) {
  VolumeMount home;
  home.name = "home";
  home.mount_path = "/home/agent";
  absl::StatusOr<std::string> tmpl =
      MigratedPodTemplate(kDeployment, {{"sandboxd.dev/sandbox", "d"}}, "d", home);
  ASSERT_TRUE(tmpl.ok()) << tmpl.status();
  EXPECT_EQ(*tmpl,
            R"({"metadata":{"labels":{"app":"d","sandboxd.dev/sandbox":"d"}},"spec":)"
            R"({"containers":[{"name":"side"},{"name":"d","readinessProbe":{"exec":)"
            R"({"command":["true"]}},"volumeMounts":[{"name":"home","mountPath":)"
            R"("/home/agent"}]}],"volumes":[{"name":"cfg","configMap":{"name":"c"}}]}})");
  EXPECT_EQ(MigratedPodTemplate(kDeployment, {}, "nobody", home).status().code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(MigratedPodTemplate("[1]", {}, "d", home).status().code(),
            absl::StatusCode::kInternal);
}

TEST(RawObjectsTest, WithPodTemplateReplacesOnlyTheTemplate) {
  absl::StatusOr<std::string> sts =
      WithPodTemplate(R"({"kind":"StatefulSet","spec":{"replicas":1,"template":{"a":1}}})",
                      R"({"b":2})");
  ASSERT_TRUE(sts.ok()) << sts.status();
  EXPECT_EQ(*sts, R"({"kind":"StatefulSet","spec":{"replicas":1,"template":{"b":2}}})");
}

TEST(RawObjectsTest, ARestoredDeploymentHasNoServerFields) {
  absl::StatusOr<std::string> d = RestoredDeployment(kDeployment, 0, std::nullopt);
  ASSERT_TRUE(d.ok()) << d.status();
  for (const char* gone : {"uid", "resourceVersion", "generation", "creationTimestamp\":\"",
                           "managedFields", "deployment.kubernetes.io/revision", "status"}) {
    EXPECT_EQ(d->find(gone), std::string::npos) << gone;
  }
  EXPECT_NE(d->find(R"("keep":"me")"), std::string::npos);
  EXPECT_NE(d->find(R"("replicas":0)"), std::string::npos);
}

}  // namespace
}  // namespace sandboxd::kube
