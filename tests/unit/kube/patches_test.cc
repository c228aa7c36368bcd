// The patch documents sandboxd sends, byte for byte (the API server reads them as JSON
// merge or strategic merge patches, so a changed key is a changed request).
#include "src/kube/patches.h"

#include "gtest/gtest.h"

namespace sandboxd::kube {
namespace {

TEST(PatchesTest, Scale) { EXPECT_EQ(ScalePatch(0), R"({"spec":{"replicas":0}})"); }

TEST(PatchesTest, EnvSetsRemovesAndCarriesThePrecondition) {
  EXPECT_EQ(EnvPatch("alice", "42", {{"sandboxd.dev/spec-hash", "abc"}}, {{"A", "1"}}, {"B"}),
            R"({"metadata":{"resourceVersion":"42","annotations":{"sandboxd.dev/spec-hash":)"
            R"("abc"}},"spec":{"template":{"spec":{"containers":[{"name":"alice","env":[)"
            R"({"name":"A","value":"1"},{"name":"B","$patch":"delete"}]}]}}}})");
  // No precondition and no annotations: only the env.
  EXPECT_EQ(EnvPatch("alice", "", {}, {}, {"B"}),
            R"({"metadata":{},"spec":{"template":{"spec":{"containers":[{"name":"alice",)"
            R"("env":[{"name":"B","$patch":"delete"}]}]}}}})");
}

TEST(PatchesTest, EnvKeepsTheOrderWhenGiven) {
  EXPECT_EQ(EnvPatch("alice", "", {}, {{"NEW", "1"}}, {}, {"OLD", "NEW"}),
            R"({"metadata":{},"spec":{"template":{"spec":{"containers":[{"name":"alice",)"
            R"("$setElementOrder/env":[{"name":"OLD"},{"name":"NEW"}],"env":[{"name":"NEW",)"
            R"("value":"1"}]}]}}}})");
}

TEST(PatchesTest, RetentionAndKeptClaim) {
  EXPECT_EQ(RetentionPolicyPatch("Retain", "Retain"),
            R"({"spec":{"persistentVolumeClaimRetentionPolicy":{"whenDeleted":"Retain",)"
            R"("whenScaled":"Retain"}}})");
  EXPECT_EQ(KeepClaimPatch("sandboxd.dev/kept"),
            R"({"metadata":{"ownerReferences":null,"annotations":{"sandboxd.dev/kept":"true"}}})");
}

TEST(PatchesTest, MetadataSetsRemovesAndReplacesOwners) {
  MetadataPatch patch;
  patch.resource_version = "7";
  patch.labels = {{"a", "1"}, {"b", std::nullopt}};
  patch.annotations = {{"c", std::nullopt}};
  patch.owner_references = std::vector<OwnerReference>{
      {"apps/v1", "StatefulSet", "alice", "u-1", true, std::nullopt}};
  patch.selector = {{"sandboxd.dev/sandbox", "alice"}};
  EXPECT_EQ(ToJson(patch),
            R"({"metadata":{"resourceVersion":"7","labels":{"a":"1","b":null},)"
            R"("annotations":{"c":null},"ownerReferences":[{"apiVersion":"apps/v1",)"
            R"("kind":"StatefulSet","name":"alice","uid":"u-1","controller":true}]},)"
            R"("spec":{"selector":{"sandboxd.dev/sandbox":"alice"}}})");
  // Nothing set: an empty metadata patch; an empty owner list removes them all.
  EXPECT_EQ(ToJson(MetadataPatch{}), R"({"metadata":{}})");
  MetadataPatch release;
  release.owner_references = std::vector<OwnerReference>{};
  EXPECT_EQ(ToJson(release), R"({"metadata":{"ownerReferences":null}})");
}

}  // namespace
}  // namespace sandboxd::kube
