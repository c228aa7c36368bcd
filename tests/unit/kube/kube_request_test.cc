#include "src/kube/kube_request.h"

#include "gtest/gtest.h"

namespace sandboxd::kube {
namespace {

TEST(KubeRequestTest, PathsPerKind) {
  struct Row {
    Kind kind;
    const char* want;
  };
  const Row rows[] = {
      {Kind::kStatefulSet, "/apis/apps/v1/namespaces/u1/statefulsets/sb"},
      {Kind::kService, "/api/v1/namespaces/u1/services/sb"},
      {Kind::kIngress, "/apis/networking.k8s.io/v1/namespaces/u1/ingresses/sb"},
      {Kind::kNetworkPolicy, "/apis/networking.k8s.io/v1/namespaces/u1/networkpolicies/sb"},
      {Kind::kPod, "/api/v1/namespaces/u1/pods/sb"},
      {Kind::kPersistentVolumeClaim, "/api/v1/namespaces/u1/persistentvolumeclaims/sb"},
      {Kind::kDeployment, "/apis/apps/v1/namespaces/u1/deployments/sb"},
      {Kind::kLease, "/apis/coordination.k8s.io/v1/namespaces/u1/leases/sb"},
  };
  for (const Row& r : rows) {
    absl::StatusOr<HttpRequest> req = BuildGet({r.kind, "u1", "sb"}, "");
    ASSERT_TRUE(req.ok()) << req.status();
    EXPECT_EQ(req->method, "GET");
    EXPECT_EQ(req->path, r.want);
    EXPECT_TRUE(req->body.empty());
  }
}

TEST(KubeRequestTest, Subresource) {
  auto req = BuildGet({Kind::kStatefulSet, "u1", "sb"}, "scale");
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->path, "/apis/apps/v1/namespaces/u1/statefulsets/sb/scale");
}

TEST(KubeRequestTest, RejectsBadNames) {
  EXPECT_EQ(BuildGet({Kind::kPod, "", "x"}, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildGet({Kind::kPod, "ns", ""}, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildGet({Kind::kPod, "ns", "a/../b"}, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildGet({Kind::kPod, "ns", ".."}, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildGet({Kind::kPod, "ns", "x"}, "status/x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildCreate(Kind::kPod, "", "{}", "sandboxd", false).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KubeRequestTest, ListEncodesQuery) {
  ListOptions opts;
  opts.label_selector = "app=sandbox,tier in (a b),!legacy";
  opts.limit = 500;
  opts.continue_token = "eyJ2Ijoi+/=";
  opts.resource_version = "0";
  auto req = BuildList(Kind::kPod, "u1", opts);
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->path,
            "/api/v1/namespaces/u1/pods?labelSelector=app%3Dsandbox%2Ctier%20in%20%28a%20b%29%2C"
            "%21legacy&limit=500&continue=eyJ2Ijoi%2B%2F%3D&resourceVersion=0");
}

TEST(KubeRequestTest, ListAllNamespacesWithoutQuery) {
  auto req = BuildList(Kind::kStatefulSet, "", {});
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->path, "/apis/apps/v1/statefulsets");
  EXPECT_EQ(BuildList(Kind::kPod, "a/b", {}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(KubeRequestTest, CreateAddsFieldManagerAndDryRun) {
  auto req = BuildCreate(Kind::kService, "u1", "{\"a\":1}", "sandboxd", true);
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->method, "POST");
  EXPECT_EQ(req->path, "/api/v1/namespaces/u1/services?dryRun=All&fieldManager=sandboxd");
  EXPECT_EQ(req->content_type, "application/json");
  EXPECT_EQ(req->body, "{\"a\":1}");
}

TEST(KubeRequestTest, ReplaceIsPut) {
  auto req = BuildReplace({Kind::kStatefulSet, "u1", "sb"}, "", "{}", "sandboxd", false);
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->method, "PUT");
  EXPECT_EQ(req->path, "/apis/apps/v1/namespaces/u1/statefulsets/sb?fieldManager=sandboxd");
}

TEST(KubeRequestTest, PatchContentTypes) {
  struct Row {
    PatchType type;
    const char* content_type;
    const char* query;
  };
  const Row rows[] = {
      {PatchType::kMerge, "application/merge-patch+json", "?fieldManager=sandboxd"},
      {PatchType::kStrategicMerge, "application/strategic-merge-patch+json",
       "?fieldManager=sandboxd"},
      {PatchType::kJson, "application/json-patch+json", "?fieldManager=sandboxd"},
      {PatchType::kApply, "application/apply-patch+yaml", "?fieldManager=sandboxd&force=true"},
  };
  for (const Row& r : rows) {
    auto req = BuildPatch({Kind::kStatefulSet, "u1", "sb"}, "status", r.type, "{}", "sandboxd",
                          false);
    ASSERT_TRUE(req.ok());
    EXPECT_EQ(req->method, "PATCH");
    EXPECT_EQ(req->content_type, r.content_type);
    EXPECT_EQ(req->path,
              std::string("/apis/apps/v1/namespaces/u1/statefulsets/sb/status") + r.query);
  }
  EXPECT_EQ(BuildPatch({Kind::kPod, "a", "b"}, "", PatchType::kApply, "{}", "", false)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KubeRequestTest, DeleteOptionsBody) {
  DeleteOptions del;
  del.propagation = Propagation::kForeground;
  del.precondition_uid = "uid-1";
  del.precondition_resource_version = "42";
  auto req = BuildDelete({Kind::kStatefulSet, "u1", "sb"}, del, false);
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->method, "DELETE");
  EXPECT_EQ(req->path, "/apis/apps/v1/namespaces/u1/statefulsets/sb");
  EXPECT_EQ(req->content_type, "application/json");
  EXPECT_EQ(req->body,
            R"({"apiVersion":"v1","kind":"DeleteOptions","propagationPolicy":"Foreground",)"
            R"("preconditions":{"uid":"uid-1","resourceVersion":"42"}})");

  auto plain = BuildDelete({Kind::kPod, "u1", "p"}, {}, true);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->body,
            R"({"apiVersion":"v1","kind":"DeleteOptions","propagationPolicy":"Background",)"
            R"("dryRun":["All"]})");
  auto orphan = BuildDelete({Kind::kPod, "u1", "p"}, {Propagation::kOrphan, "", ""}, false);
  ASSERT_TRUE(orphan.ok());
  EXPECT_NE(orphan->body.find("\"Orphan\""), std::string::npos);
}

TEST(KubeRequestTest, UrlEncode) {
  EXPECT_EQ(UrlEncode("aZ09-_.~"), "aZ09-_.~");
  EXPECT_EQ(UrlEncode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
}

}  // namespace
}  // namespace sandboxd::kube
