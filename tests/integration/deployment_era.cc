#include "tests/integration/deployment_era.h"

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace sandboxd::testing {
namespace {

constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
constexpr const char* kWords[] = {"amber", "basil", "cedar", "delta",  "ember",  "fjord",
                                  "grove", "haven", "iris",  "kelp",   "lumen",  "maple",
                                  "nova",  "onyx",  "pine",  "quartz", "raven",  "sage",
                                  "tide",  "umber", "vale",  "willow", "yarrow", "zephyr"};

std::string RandomChars(std::mt19937* rng, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += kAlphabet[(*rng)() % (sizeof(kAlphabet) - 1)];
  return out;
}

// Replaces the single occurrence of `from` in `doc` by `to`; FAILED_PRECONDITION naming
// `what` unless there is exactly one.
absl::Status ReplaceOnce(std::string* doc, absl::string_view from, absl::string_view to,
                         absl::string_view what) {
  const std::string needle(from);
  const size_t at = doc->find(needle);
  if (at == std::string::npos || doc->find(needle, at + 1) != std::string::npos) {
    return absl::FailedPreconditionError(absl::StrCat(
        "deployment-era fixture: cannot ", what, ": \"", from, "\" does not occur exactly once"));
  }
  doc->replace(at, needle.size(), std::string(to));
  return absl::OkStatus();
}

// The document without its whole-line comments.
std::string WithoutCommentLines(absl::string_view doc) {
  std::vector<absl::string_view> kept;
  for (absl::string_view line : absl::StrSplit(doc, '\n')) {
    if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(line), "#")) continue;
    kept.push_back(line);
  }
  return absl::StrJoin(kept, "\n");
}

bool IsKind(absl::string_view doc, absl::string_view kind) {
  return absl::StartsWith(doc, absl::StrCat("kind: ", kind, "\n")) ||
         absl::StrContains(doc, absl::StrCat("\nkind: ", kind, "\n"));
}

absl::Status VaryDeployment(const DeploymentEraSandbox& s, std::string* doc) {
  if (s.replicas != 1) {
    absl::Status st = ReplaceOnce(doc, "\n  replicas: 1",
                                  absl::StrCat("\n  replicas: ", s.replicas), "set spec.replicas");
    if (!st.ok()) return st;
  }
  if (!s.sealos_label) {
    absl::Status st = ReplaceOnce(doc, "\n    cloud.sealos.io/app-deploy-manager: <name>", "",
                                  "remove the Sealos label");
    if (!st.ok()) return st;
  }
  if (!s.extra_labels.empty()) {
    std::string labels;
    for (const auto& [key, value] : s.extra_labels) {
      absl::StrAppend(&labels, "    ", key, ": \"", value, "\"\n");
    }
    absl::Status st = ReplaceOnce(doc, "\n  annotations:\n",
                                  absl::StrCat("\n", labels, "  annotations:\n"), "add labels");
    if (!st.ok()) return st;
  }
  if (!s.extra_env.empty()) {
    std::string env;
    for (const auto& [key, value] : s.extra_env) {
      absl::StrAppend(&env, "        - {name: ", key, ", value: \"", value, "\"}\n");
    }
    const std::string anchor = "value: <project display name>}\n";
    absl::Status st = ReplaceOnce(doc, anchor, absl::StrCat(anchor, env), "add env");
    if (!st.ok()) return st;
  }
  if (s.mounts_home) {
    const std::string mount = "mountPath: /tmp/kubeconfig}\n";
    absl::Status st = ReplaceOnce(
        doc, mount, absl::StrCat(mount, "        - {name: workspace, mountPath: /home/agent}\n"),
        "mount /home/agent");
    if (!st.ok()) return st;
    const std::string volume = "configMap: {name: <name>-kubeconfig}";
    st = ReplaceOnce(doc, volume,
                     absl::StrCat(volume, "\n      - name: workspace\n        emptyDir: {}"),
                     "add the /home/agent volume");
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

// The ttyd Ingress, made from the app Ingress as the fixture describes it.
absl::StatusOr<std::string> TtydIngress(std::string app) {
  absl::Status st =
      ReplaceOnce(&app, "<name>-app-ingress", "<name>-ttyd-ingress", "name the ttyd Ingress");
  if (!st.ok()) return st;
  st = ReplaceOnce(&app, "port: {number: 3000}", "port: {number: 7681}",
                   "point the ttyd Ingress at 7681");
  if (!st.ok()) return st;
  if (absl::StrReplaceAll({{"<app-random>", "<ttyd-random>"}}, &app) != 3) {
    return absl::FailedPreconditionError(
        "deployment-era fixture: the app Ingress does not name <app-random> three times");
  }
  return app;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> DeploymentEraEnv(
    const DeploymentEraSandbox& sandbox) {
  std::vector<std::pair<std::string, std::string>> env = {
      {"DATABASE_URL", sandbox.database_url},
      {"NODE_ENV", "development"},
      {"TTYD_PORT", "7681"},
      {"TTYD_INTERFACE", "0.0.0.0"},
      {"PROJECT_NAME", sandbox.project_display_name},
  };
  env.insert(env.end(), sandbox.extra_env.begin(), sandbox.extra_env.end());
  return env;
}

DeploymentEraSandbox RandomDeploymentEra(const std::string& project,
                                         const std::string& cluster_domain, uint32_t seed) {
  std::mt19937 rng(seed);
  DeploymentEraSandbox s;
  s.name = absl::StrCat(project, "-agentruntime-", RandomChars(&rng, 6));
  s.project = project;
  s.project_display_name = absl::StrCat("Project ", project);
  s.image = "registry.local/fullstack-agent:2024.11";
  s.database_url = absl::StrCat("postgresql://app:secret@", s.name, "-db:5432/app");
  s.restart_time = absl::StrFormat("2025%02d%02d%02d%02d%02d", 1 + rng() % 12, 1 + rng() % 28,
                                   rng() % 24, rng() % 60, rng() % 60);
  std::vector<std::string> words(std::begin(kWords), std::end(kWords));
  std::shuffle(words.begin(), words.end(), rng);
  s.port_names.assign(words.begin(), words.begin() + 4);
  s.cluster_domain = cluster_domain;
  s.app_random = absl::StrCat("a", RandomChars(&rng, 9));
  s.ttyd_random = absl::StrCat("t", RandomChars(&rng, 9));
  return s;
}

absl::StatusOr<std::string> RenderDeploymentEra(absl::string_view fixture,
                                                const DeploymentEraSandbox& sandbox) {
  if (sandbox.name.empty() || sandbox.project.empty() || sandbox.image.empty() ||
      sandbox.cluster_domain.empty() || sandbox.app_random.empty() || sandbox.ttyd_random.empty() ||
      sandbox.port_names.size() != 4) {
    return absl::InvalidArgumentError(
        "deployment-era sandbox: name, project, image, cluster domain, host labels and four "
        "port names are required");
  }
  std::vector<std::string> docs;
  for (absl::string_view raw : absl::StrSplit(fixture, "\n---\n")) {
    std::string doc = WithoutCommentLines(raw);
    if (absl::StripAsciiWhitespace(doc).empty()) continue;
    if (IsKind(doc, "Deployment")) {
      absl::Status st = VaryDeployment(sandbox, &doc);
      if (!st.ok()) return st;
    }
    if (IsKind(doc, "Ingress")) {
      if (!sandbox.ingresses) continue;
      absl::StatusOr<std::string> ttyd = TtydIngress(doc);
      if (!ttyd.ok()) return ttyd.status();
      docs.push_back(std::move(doc));
      docs.push_back(*std::move(ttyd));
      continue;
    }
    docs.push_back(std::move(doc));
  }
  std::string out = absl::StrJoin(docs, "\n---\n");
  absl::StrReplaceAll(
      {
          {"<name>", sandbox.name},
          {"<project>", sandbox.project},
          {"<project display name>", absl::StrCat("\"", sandbox.project_display_name, "\"")},
          {"<image>", sandbox.image},
          {"<postgresql://...>", sandbox.database_url},
          {"<yyyymmddhhmmss>", sandbox.restart_time},
          {"<random-word-1>", sandbox.port_names[0]},
          {"<random-word-2>", sandbox.port_names[1]},
          {"<random-word-3>", sandbox.port_names[2]},
          {"<random-word-4>", sandbox.port_names[3]},
          {"<app-random>", sandbox.app_random},
          {"<ttyd-random>", sandbox.ttyd_random},
          {"<cluster-domain>", sandbox.cluster_domain},
          {"<the user's kubeconfig>", "apiVersion: v1"},
      },
      &out);
  if (const size_t at = out.find('<'); at != std::string::npos) {
    return absl::FailedPreconditionError(absl::StrCat(
        "deployment-era fixture: unfilled placeholder at \"", out.substr(at, 40), "\""));
  }
  return absl::StrCat(out, "\n");
}

absl::StatusOr<std::string> ReadDeploymentEraFixture(const std::string& source_dir) {
  const std::string path =
      absl::StrCat(source_dir, "/tests/integration/testdata/deployment-era-sandbox.yaml");
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace sandboxd::testing
