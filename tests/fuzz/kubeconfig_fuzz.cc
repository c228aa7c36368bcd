// Fuzzes the kubeconfig loader (kube::LoadKubeConfig): the input is the only file of
// KUBECONFIG, in a directory of its own, so files it names by relative path resolve there.
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "src/kube/kube_config.h"

namespace {

// A private directory holding the config file, made once per process and removed when
// it exits.
std::string* dir_path = nullptr;
std::string* config_path = nullptr;

void RemoveConfigDir() {
  unlink(config_path->c_str());
  rmdir(dir_path->c_str());
}

const std::string& ConfigPath() {
  if (config_path == nullptr) {
    const char* tmp = getenv("TMPDIR");
    dir_path = new std::string(std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                               "/sandboxd-kubeconfig-fuzz-XXXXXX");
    if (mkdtemp(dir_path->data()) == nullptr) abort();
    config_path = new std::string(*dir_path + "/config");
    atexit(RemoveConfigDir);
  }
  return *config_path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FILE* f = fopen(ConfigPath().c_str(), "wb");
  if (f == nullptr) abort();
  if (size > 0 && fwrite(data, 1, size, f) != size) abort();
  fclose(f);
  sandboxd::kube::KubeConfigLoadOptions options;
  options.kubeconfig_env = ConfigPath();
  options.home = "/nonexistent";
  options.allow_insecure_http = size % 2 == 0;
  (void)sandboxd::kube::LoadKubeConfig(options);
  return 0;
}
