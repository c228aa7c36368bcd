// Deployment-era sandboxes for the migration tests: the objects the platform created
// before sandboxd (testdata/deployment-era-sandbox.yaml: a ConfigMap, a Deployment, a
// Service and the app and ttyd Ingresses), rendered with the placeholders of that
// fixture filled in, plus the variations the tests need (stopped, more replicas, no
// Ingresses, extra variables or labels, no Sealos label, a container that already
// mounts the home path). The result is YAML for `kubectl create -f`.
//
// Pure functions (RandomDeploymentEra is deterministic in its seed). Thread-safe.
#ifndef SANDBOXD_TESTS_INTEGRATION_DEPLOYMENT_ERA_H_
#define SANDBOXD_TESTS_INTEGRATION_DEPLOYMENT_ERA_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sandboxd::testing {

// The values of the fixture's placeholders, and the variations.
struct DeploymentEraSandbox {
  std::string name;                  // <name>: the Deployment, container and sandbox name
  std::string project;               // <project>: label project.fullstackagent.io/name
  std::string project_display_name;  // <project display name>: env PROJECT_NAME
  std::string image;                 // <image>
  std::string database_url;          // <postgresql://...>: env DATABASE_URL
  std::string restart_time;          // <yyyymmddhhmmss>: pod template label restartTime
  // <random-word-1..4>: the names of container (and Service) ports 3000, 5000, 7681, 8080.
  std::vector<std::string> port_names;
  std::string cluster_domain;  // <cluster-domain>
  std::string app_random;      // <app-random>: the app Ingress's host label
  std::string ttyd_random;     // <ttyd-random>: the ttyd Ingress's host label

  // Variations of the fixture.
  int replicas = 1;          // spec.replicas of the Deployment (0: stopped)
  bool ingresses = true;     // false: no Ingresses at all
  bool sealos_label = true;  // false: the Deployment lacks cloud.sealos.io/app-deploy-manager
  bool mounts_home = false;  // true: the container mounts an emptyDir at /home/agent
                             // (volumeMounts[1])
  // Variables appended to the container's env after the platform's five, in order.
  std::vector<std::pair<std::string, std::string>> extra_env;
  // Labels added to the Deployment's metadata (not to its pod template).
  std::vector<std::pair<std::string, std::string>> extra_labels;

  std::string app_host() const { return app_random + "." + cluster_domain; }
  std::string ttyd_host() const { return ttyd_random + "." + cluster_domain; }
};

// The env variables of the fixture's container, in order, for `sandbox` (extra_env
// included).
std::vector<std::pair<std::string, std::string>> DeploymentEraEnv(
    const DeploymentEraSandbox& sandbox);

// A sandbox named as the old platform named them, "<project>-agentruntime-<6 random
// characters>", with random port names and Ingress hosts under `cluster_domain`; the
// randomness comes from `seed` only.
DeploymentEraSandbox RandomDeploymentEra(const std::string& project,
                                         const std::string& cluster_domain, uint32_t seed);

// The fixture's documents for `sandbox`: ConfigMap, Deployment, Service and (with
// `ingresses`) the app and ttyd Ingresses, as a multi-document YAML stream. Errors:
// FAILED_PRECONDITION when `fixture` no longer has the shape the variations edit, or a
// placeholder would be left unfilled; INVALID_ARGUMENT when `sandbox` lacks a value
// (e.g. not four port names).
absl::StatusOr<std::string> RenderDeploymentEra(absl::string_view fixture,
                                                const DeploymentEraSandbox& sandbox);

// The text of testdata/deployment-era-sandbox.yaml under `source_dir` (the repository
// root). NOT_FOUND if it cannot be read.
absl::StatusOr<std::string> ReadDeploymentEraFixture(const std::string& source_dir);

}  // namespace sandboxd::testing

#endif  // SANDBOXD_TESTS_INTEGRATION_DEPLOYMENT_ERA_H_
