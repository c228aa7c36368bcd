#include "tools/testing/plane.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace sandboxd::testing {

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool Eventually(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(200));
  }
  return condition();
}

Plane::Plane() {
  const char* state = std::getenv("KUBE_LOCAL_STATE_DIR");
  if (state == nullptr) {
    std::cerr << "KUBE_LOCAL_STATE_DIR is not set: run through ctest (kube_plane fixture)\n";
    std::abort();
  }
  // env.sh holds `export KEY=VALUE` lines written by `kube-local up`.
  std::ifstream env(absl::StrCat(state, "/env.sh"));
  std::map<std::string, std::string> vars;
  for (std::string line; std::getline(env, line);) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "export ")) continue;
    std::pair<std::string, std::string> kv = absl::StrSplit(rest, absl::MaxSplits('=', 1));
    vars.insert(std::move(kv));
  }
  if (vars.count("KUBE_LOCAL_BIN") == 0) {
    std::cerr << "no control plane in " << state << " (env.sh missing)\n";
    std::abort();
  }
  state_dir_ = state;
  kubectl_ = vars["KUBE_LOCAL_BIN"] + "/kubectl";
  admin_kubeconfig_ = vars["KUBE_LOCAL_ADMIN_KUBECONFIG"];
  sandboxd_kubeconfig_ = vars["KUBE_LOCAL_SANDBOXD_KUBECONFIG"];
}

CommandResult Plane::Kubectl(const std::string& args) const {
  return RunCommand(absl::StrCat(kubectl_, " --kubeconfig ", admin_kubeconfig_, " ", args));
}

std::string Plane::JsonPath(const std::string& ns, const std::string& what,
                            const std::string& path) const {
  CommandResult r = Kubectl(absl::StrCat("-n ", ns, " get ", what, " -o 'jsonpath=", path, "'"));
  return r.exit_code == 0 ? r.output : "";
}

bool Plane::Exists(const std::string& ns, const std::string& what) const {
  return Kubectl(absl::StrCat("-n ", ns, " get ", what)).exit_code == 0;
}

long Plane::MetricSum(const std::string& name,
                      const std::vector<std::string>& label_matches) const {
  CommandResult r = Kubectl("get --raw /metrics");
  long total = 0;
  for (absl::string_view line : absl::StrSplit(r.output, '\n')) {
    if (!absl::StartsWith(line, absl::StrCat(name, "{"))) continue;
    bool matches = true;
    for (const std::string& m : label_matches) matches = matches && absl::StrContains(line, m);
    if (!matches) continue;
    double value = 0;
    if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value))
      total += static_cast<long>(value);
  }
  return total;
}

long Plane::RequestCount(const std::string& verb, const std::string& resource,
                         const std::string& code, const std::string& subresource) const {
  return MetricSum(
      "apiserver_request_total",
      {absl::StrCat("verb=\"", verb, "\""), absl::StrCat("resource=\"", resource, "\""),
       absl::StrCat("code=\"", code, "\""), absl::StrCat("subresource=\"", subresource, "\"")});
}

std::string Plane::CreateNamespace(const std::string& prefix, bool served) const {
  std::random_device rd;
  std::string ns = absl::StrCat(prefix, "-", rd() % 1000000);
  Kubectl(absl::StrCat("create namespace ", ns));
  if (served) Kubectl(absl::StrCat("label namespace ", ns, " sandboxd.dev/enabled=true"));
  return ns;
}

void Plane::CreateCaller(const std::string& ns, const std::string& name, const std::string& role,
                         const std::string& scope) const {
  Kubectl(absl::StrCat("-n ", ns, " create serviceaccount ", name));
  const std::string binding = absl::StrCat(name, "-", ns, "-", role);
  if (scope.empty()) {
    Kubectl(absl::StrCat("create clusterrolebinding ", binding, " --clusterrole=", role,
                         " --serviceaccount=", ns, ":", name));
  } else {
    Kubectl(absl::StrCat("-n ", scope, " create rolebinding ", binding, " --clusterrole=", role,
                         " --serviceaccount=", ns, ":", name));
  }
}

std::string Plane::Token(const std::string& ns, const std::string& name,
                         const std::string& audience) const {
  CommandResult r = Kubectl(
      absl::StrCat("-n ", ns, " create token ", name, " --audience=", audience, " --duration=2h"));
  return r.exit_code == 0 ? std::string(absl::StripAsciiWhitespace(r.output)) : "";
}

std::string Plane::SignedToken(const std::string& ns, const std::string& name, absl::Time expiry,
                               const std::string& audience) const {
  const std::string uid = JsonPath(ns, absl::StrCat("serviceaccount/", name), "{.metadata.uid}");
  if (uid.empty()) return "";
  const int64_t issued = absl::ToUnixSeconds(expiry - absl::Hours(1));
  const std::string claims = absl::StrCat(
      R"({"iss":"https://kubernetes.default.svc.cluster.local","aud":[")", audience,
      R"("],"sub":"system:serviceaccount:)", ns, ":", name, R"(","iat":)", issued, R"(,"nbf":)",
      issued, R"(,"exp":)", absl::ToUnixSeconds(expiry), R"(,"kubernetes.io":{"namespace":")", ns,
      R"(","serviceaccount":{"name":")", name, R"(","uid":")", uid, R"("}}})");
  // base64url without padding, of stdin.
  const std::string b64url = "openssl base64 -A | tr '+/' '-_' | tr -d '='";
  CommandResult r = RunCommand(
      absl::StrCat("set -e; h=$(printf '%s' '{\"alg\":\"RS256\",\"typ\":\"JWT\"}' | ", b64url,
                   "); ", "c=$(printf '%s' '", claims, "' | ", b64url, "); ",
                   "s=$(printf '%s.%s' \"$h\" \"$c\" | openssl dgst -sha256 -sign '", state_dir_,
                   "/pki/sa.key' | ", b64url, "); printf '%s.%s.%s' \"$h\" \"$c\" \"$s\""));
  return r.exit_code == 0 ? r.output : "";
}

void Plane::DeleteNamespace(const std::string& ns) const {
  Kubectl(absl::StrCat("delete namespace ", ns, " --wait=false"));
}

}  // namespace sandboxd::testing
