// sandboxd: the SandboxLifecycle gRPC server.
//
//   sandboxd --listen_address=127.0.0.1:50051 --kubeconfig=path [--config=sandboxd.yaml]
//
// Runs until SIGTERM or SIGINT, then drains: health NOT_SERVING, calls in flight get
// --shutdown_grace to finish, the rest are cancelled. Exit code 0 after a clean drain,
// 1 if the server could not start.
#include <curl/curl.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "server/log_format.h"
#include "server/sandboxd_server.h"
#include "server/server_config.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, port_file, "",
          "If set, write the port the server listens on to this file once it serves "
          "(useful with port 0 in tests and scripts).");

namespace {

// --help, --helpshort and --version of sandboxd. Abseil's default --help lists only the
// flags of the file that defines main(); sandboxd's settings live in server_config.cc.
// SANDBOXD_VERSION, SANDBOXD_KUBE_VERSION and SANDBOXD_SOURCE_DIR come from CMake
// (project version, tools/kube-local/versions.env, source tree).
void ConfigureUsage() {
  // --help prints "<program name>: " and then this.
  absl::SetProgramUsageMessage(
      "persistent development sandboxes on Kubernetes\n\n"
      "  sandboxd [--config=FILE] [--listen_address=HOST:PORT] [--kubeconfig=PATH] ...\n\n"
      "Flags given explicitly override the config file (format: server/server_config.h).\n"
      "\"default: ;\" means not set: the config file applies, else the built-in default\n"
      "named in the flag's help text.");
  absl::FlagsUsageConfig config;
  // Flag definitions are recorded under __FILE__: an absolute path, or one relative to
  // the build directory when a compiler cache rewrites paths ("../server/main.cc",
  // "../../src-dir/server/main.cc"). Report them relative to the source tree
  // ("server/server_config.cc").
  config.normalize_filename = [](absl::string_view file) {
    while (absl::ConsumePrefix(&file, "/") || absl::ConsumePrefix(&file, "../") ||
           absl::ConsumePrefix(&file, "./")) {
    }
    absl::string_view source_dir = SANDBOXD_SOURCE_DIR;
    absl::ConsumePrefix(&source_dir, "/");
    if (absl::ConsumePrefix(&file, source_dir)) absl::ConsumePrefix(&file, "/");
    return std::string(file);
  };
  auto is_sandboxd_flag_file = [](absl::string_view file) {
    return absl::EndsWith(file, "server/main.cc") ||
           absl::EndsWith(file, "server/server_config.cc");
  };
  config.contains_help_flags = is_sandboxd_flag_file;
  config.contains_helpshort_flags = is_sandboxd_flag_file;
  config.version_string = [] {
    return std::string("sandboxd " SANDBOXD_VERSION
                       ", tested against Kubernetes API " SANDBOXD_KUBE_VERSION "\n");
  };
  absl::SetFlagsUsageConfig(config);
}

// Blocks SIGTERM and SIGINT in this thread and, by inheritance, in every thread started
// after it; WaitForSignal() then receives them synchronously.
sigset_t BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

}  // namespace

int main(int argc, char** argv) {
  ConfigureUsage();
  absl::ParseCommandLine(argc, argv);
  // Debian's Abseil is built with Mutex deadlock detection on, a debug aid that records
  // every lock acquisition in a global graph (a few % of the CPU of a busy server). The
  // server runs without it; the tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const sigset_t signals = BlockShutdownSignals();

  absl::StatusOr<sandboxd::server::ServerConfig> config = sandboxd::server::LoadServerConfig();
  // Every line in the configured format (server/log_format.h); an invalid configuration is
  // reported in the --log_format given, if any.
  const std::string log_format =
      config.ok() ? config->log_format
                  : sandboxd::server::OverridesFromFlags().log_format.value_or("text");
  sandboxd::server::InstallLogFormat(
      sandboxd::server::ParseLogFormat(log_format).value_or(sandboxd::server::LogFormat::kText));
  if (!config.ok()) {
    spdlog::critical("invalid configuration: {}", config.status().ToString());
    return 1;
  }
  spdlog::set_level(spdlog::level::from_str(config->log_level));
  curl_global_init(CURL_GLOBAL_DEFAULT);

  auto server = sandboxd::server::SandboxdServer::Start(*config);
  if (!server.ok()) {
    spdlog::critical("cannot start: {}", server.status().ToString());
    return 1;
  }
  if (const std::string port_file = absl::GetFlag(FLAGS_port_file); !port_file.empty()) {
    std::ofstream(port_file) << (*server)->port() << "\n";
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  // One of the two signals BlockShutdownSignals holds (strsignal is not thread-safe).
  const char* signal_name = signal_number == SIGINT ? "SIGINT" : "SIGTERM";
  spdlog::info("received {}; shutting down (grace {})", signal_name,
               absl::FormatDuration(config->shutdown_grace));
  (*server)->Shutdown(config->shutdown_grace);
  server->reset();
  curl_global_cleanup();
  return 0;
}
