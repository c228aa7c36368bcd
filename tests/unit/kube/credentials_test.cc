#include "src/kube/credentials.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/unit/kube/test_files.h"

namespace sandboxd::kube {
namespace {

using testing::TempDir;
const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

TEST(CredentialsTest, PrecedenceTokenThenFileThenCertThenExec) {
  TempDir dir;
  std::string tf = dir.Write("token", "file-token");
  KubeConfig cfg;
  cfg.token = "inline";
  cfg.token_file = tf;
  cfg.client_cert_pem = "C";
  cfg.client_key_pem = "K";
  cfg.exec = ExecConfig{"client.authentication.k8s.io/v1", "/bin/false", {}, {}, false};
  EXPECT_EQ(MakeCredentialSource(cfg)->Get(kT0)->bearer_token, "inline");
  cfg.token.clear();
  EXPECT_EQ(MakeCredentialSource(cfg)->Get(kT0)->bearer_token, "file-token");
  cfg.token_file.clear();
  auto creds = MakeCredentialSource(cfg)->Get(kT0);
  EXPECT_EQ(creds->bearer_token, "");
  EXPECT_EQ(creds->client_cert_pem, "C");
  cfg.client_cert_pem.clear();
  EXPECT_EQ(MakeCredentialSource(cfg)->Get(kT0).status().code(),
            absl::StatusCode::kUnauthenticated);  // /bin/false fails
  EXPECT_FALSE(MakeCredentialSource(KubeConfig{})->Invalidate());
}

TEST(CredentialsTest, FileTokenCachedForAMinuteAndDroppedOnInvalidate) {
  TempDir dir;
  std::string tf = dir.Write("token", "v1\n");
  FileTokenSource src(tf);
  EXPECT_EQ(src.Get(kT0)->bearer_token, "v1");
  dir.Write("token", "v2");
  EXPECT_EQ(src.Get(kT0 + absl::Seconds(59))->bearer_token, "v1");
  EXPECT_EQ(src.Get(kT0 + absl::Seconds(60))->bearer_token, "v2");
  dir.Write("token", "v3");
  EXPECT_TRUE(src.Invalidate());
  EXPECT_EQ(src.Get(kT0 + absl::Seconds(61))->bearer_token, "v3");
  std::filesystem::remove(tf);
  EXPECT_TRUE(src.Invalidate());
  EXPECT_EQ(src.Get(kT0 + absl::Seconds(62)).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(CredentialsTest, ParseExecCredential) {
  auto ok = ParseExecCredential(
      R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
          "status":{"token":"t","expirationTimestamp":"2030-01-02T03:04:05Z"}})",
      "client.authentication.k8s.io/v1");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->credentials.bearer_token, "t");
  ASSERT_TRUE(ok->expiry.has_value());
  EXPECT_EQ(*ok->expiry, absl::FromUnixSeconds(1893553445));

  auto certs = ParseExecCredential(
      R"({"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential",
          "status":{"clientCertificateData":"C","clientKeyData":"K"}})",
      "client.authentication.k8s.io/v1beta1");
  ASSERT_TRUE(certs.ok()) << certs.status();
  EXPECT_EQ(certs->credentials.client_key_pem, "K");
  EXPECT_FALSE(certs->expiry.has_value());

  const char* bad[] = {
      "nope",
      R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"Other","status":{"token":"t"}})",
      R"({"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"t"}})",
      R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{}})",
      R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":"C"}})",
      R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t","expirationTimestamp":"soon"}})",
  };
  for (const char* b : bad) {
    EXPECT_EQ(ParseExecCredential(b, "client.authentication.k8s.io/v1").status().code(),
              absl::StatusCode::kUnauthenticated)
        << b;
  }
}

// The plugin counts its runs in a file and echoes KUBERNETES_EXEC_INFO and an env var.
TEST(CredentialsTest, ExecPluginCachesUntilExpiryAndRerunsOnInvalidate) {
  TempDir dir;
  std::string counter = dir.path() + "/runs";
  std::string plugin = dir.Write("plugin.sh", absl::StrCat(R"(#!/bin/sh
echo run >> )", counter, R"(
printf '%s' "$KUBERNETES_EXEC_INFO" > )", dir.path(), R"(/info
n=$(wc -l < )", counter, R"( | tr -d ' ')
cat <<JSON
{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
 "status":{"token":"tok-$n-$FOO","expirationTimestamp":"2023-11-14T22:15:00Z"}}
JSON
)"),
                                 /*executable=*/true);
  KubeConfig cluster;
  cluster.server = "https://api:6443";
  cluster.ca_pem = "CA";
  ExecCredentialSource src(
      ExecConfig{"client.authentication.k8s.io/v1", plugin, {"arg1"}, {{"FOO", "bar"}}, true},
      cluster);
  // Expiry is kT0 + 100 s.
  auto c1 = src.Get(kT0);
  ASSERT_TRUE(c1.ok()) << c1.status();
  EXPECT_EQ(c1->bearer_token, "tok-1-bar");
  EXPECT_EQ(src.Get(kT0 + absl::Seconds(99))->bearer_token, "tok-1-bar");
  EXPECT_EQ(src.Get(kT0 + absl::Seconds(100))->bearer_token, "tok-2-bar");  // expired
  EXPECT_TRUE(src.Invalidate());
  EXPECT_EQ(src.Get(kT0)->bearer_token, "tok-3-bar");

  std::ifstream info(dir.path() + "/info");
  std::string got((std::istreambuf_iterator<char>(info)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got,
            R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",)"
            R"("spec":{"interactive":false,"cluster":{"server":"https://api:6443",)"
            R"("certificate-authority-data":"Q0E="}}})");
}

TEST(CredentialsTest, ExecPluginFailureIsUnauthenticatedWithStderr) {
  TempDir dir;
  std::string plugin =
      dir.Write("fail.sh", "#!/bin/sh\necho 'login required' >&2\nexit 3\n", true);
  ExecCredentialSource src(ExecConfig{"client.authentication.k8s.io/v1", plugin, {}, {}, false},
                           KubeConfig{});
  absl::Status s = src.Get(kT0).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(s.message().find("exit status 3"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("login required"), absl::string_view::npos) << s;
}

// Cached(): what Get() would return when no blocking work is needed; nullopt otherwise.
TEST(CredentialsTest, CachedNeverReadsOrRuns) {
  TempDir dir;
  KubeConfig inline_token;
  inline_token.token = "inline";
  std::optional<absl::StatusOr<Credentials>> c = MakeCredentialSource(inline_token)->Cached(kT0);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ((*c)->bearer_token, "inline");

  FileTokenSource file(dir.Write("token", "file-token"), absl::Minutes(1));
  EXPECT_FALSE(file.Cached(kT0).has_value());  // not read yet
  ASSERT_TRUE(file.Get(kT0).ok());
  ASSERT_TRUE(file.Cached(kT0 + absl::Seconds(59)).has_value());
  EXPECT_EQ((*file.Cached(kT0 + absl::Seconds(59)))->bearer_token, "file-token");
  EXPECT_FALSE(file.Cached(kT0 + absl::Seconds(60)).has_value());  // due for a re-read
  file.Invalidate();
  EXPECT_FALSE(file.Cached(kT0).has_value());

  std::string counter = dir.path() + "/runs";
  std::string plugin = dir.Write("plugin.sh", absl::StrCat(R"(#!/bin/sh
echo run >> )", counter, R"(
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t","expirationTimestamp":"2023-11-14T22:15:00Z"}}'
)"),
                                 /*executable=*/true);
  ExecCredentialSource exec(ExecConfig{"client.authentication.k8s.io/v1", plugin, {}, {}, false},
                            KubeConfig{});
  EXPECT_FALSE(exec.Cached(kT0).has_value());
  ASSERT_TRUE(exec.Get(kT0).ok());
  ASSERT_TRUE(exec.Cached(kT0 + absl::Seconds(99)).has_value());
  EXPECT_EQ((*exec.Cached(kT0 + absl::Seconds(99)))->bearer_token, "t");
  EXPECT_FALSE(exec.Cached(kT0 + absl::Seconds(100)).has_value());  // expired
  exec.Invalidate();
  EXPECT_FALSE(exec.Cached(kT0).has_value());
  EXPECT_EQ(*ReadFileToString(counter), "run\n");  // Cached() never ran it
}

// While a plugin runs (it waits here for a file), Cached() and Invalidate() return.
TEST(CredentialsTest, CachedAndInvalidateDoNotWaitForAPluginRun) {
  TempDir dir;
  const std::string gate = dir.path() + "/gate";
  const std::string started = dir.path() + "/started";
  std::string plugin = dir.Write("plugin.sh", absl::StrCat(R"(#!/bin/sh
touch )", started, R"(
while [ ! -f )", gate, R"( ]; do sleep 0.02; done
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t"}}'
)"),
                                 /*executable=*/true);
  ExecCredentialSource exec(ExecConfig{"client.authentication.k8s.io/v1", plugin, {}, {}, false},
                            KubeConfig{});
  absl::StatusOr<Credentials> got = absl::UnknownError("unset");
  std::thread run([&] { got = exec.Get(kT0); });
  while (!ReadFileToString(started).ok()) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_FALSE(exec.Cached(kT0).has_value());
  EXPECT_TRUE(exec.Invalidate());
  dir.Write("gate", "open");  // only now may the plugin finish
  run.join();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->bearer_token, "t");
}

}  // namespace
}  // namespace sandboxd::kube
