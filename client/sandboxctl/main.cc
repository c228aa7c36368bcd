// sandboxctl: the command-line client of sandboxd. The command tree and its flags live
// here; each command is a few calls of sandboxd::Client and an output format.
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "grpc/support/log.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "sandboxctl/completion.h"
#include "sandboxctl/migration_report.h"
#include "sandboxctl/output.h"
#include "sandboxd/client.h"

namespace sandboxctl {
namespace {

namespace pb = ::sandbox::v1;

// Exit codes (documented in the --help footer and client/README.md).
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNotFound = 3;
constexpr int kExitTimeout = 4;
constexpr int kExitDenied = 5;
constexpr int kExitNotAllDone = 6;

constexpr char kFooter[] = R"txt(Environment:
  SANDBOXD_ADDR        default of --server
  SANDBOXD_PLAINTEXT   1: --plaintext
  SANDBOXD_NAMESPACE   default of --namespace
  SANDBOXD_TOKEN_FILE  default of --token-file (read on every call)
  SANDBOXD_TOKEN       the bearer token itself (used when no token file is given)

Exit codes:
  0  success
  1  any other failure (the server's error is printed as
     "error: <CODE> <REASON>: <message> (field: <field>)")
  2  usage error: the command line is wrong; nothing was sent
  3  not found: the sandbox does not exist (NOT_FOUND), or was deleted during a wait
  4  timeout: a call's deadline or wait --timeout passed (DEADLINE_EXCEEDED)
  5  not allowed: UNAUTHENTICATED or PERMISSION_DENIED
  6  migrate, rollback: some sandboxes were skipped or failed (OUTCOME SKIPPED or
     FAILED in the summary); the others were done)txt";

// A usage error found after parsing (bad K=V, missing namespace, bad duration).
struct UsageError {
  std::string message;
};

int Usage(const std::string& message) {
  std::cerr << "error: " << message << "\nRun with --help for more information.\n";
  return kExitUsage;
}

struct Globals {
  std::string server;
  std::string token_file;
  std::string cacert, cert, key, tls_server_name;
  bool plaintext = false;
  std::string ns;
  std::string timeout = "30s";
  std::string output = "table";
};

// "60s", "1m30s", "500ms"; a bare number is seconds.
std::optional<absl::Duration> ParseTimeout(const std::string& text) {
  absl::Duration d;
  int64_t seconds;
  if (absl::SimpleAtoi(text, &seconds) && seconds >= 0) return absl::Seconds(seconds);
  if (absl::ParseDuration(text, &d) && d >= absl::ZeroDuration()) return d;
  return std::nullopt;
}

// "K=V" pairs into a map; a word without '=' is a usage error.
std::map<std::string, std::string> ParsePairs(const std::vector<std::string>& pairs,
                                              const std::string& what) {
  std::map<std::string, std::string> out;
  for (const std::string& pair : pairs) {
    const size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw UsageError{absl::StrCat(what, " must be KEY=VALUE, got \"", pair, "\"")};
    }
    out[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  return out;
}

// Prints `status` as one line and returns its exit code.
int Fail(const absl::Status& status) {
  const sandboxd::ErrorDetails details = sandboxd::ErrorDetailsOf(status);
  std::string line = "error: " + sandboxd::StatusCodeName(details.code);
  if (!details.reason.empty()) line += " " + details.reason;
  line += ": " + details.message;
  const std::string field = details.Field();
  if (!field.empty()) line += " (field: " + field + ")";
  std::cerr << line << "\n";
  switch (status.code()) {
    case absl::StatusCode::kNotFound: return kExitNotFound;
    case absl::StatusCode::kDeadlineExceeded: return kExitTimeout;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied: return kExitDenied;
    default: return kExitFailure;
  }
}

// Errors of a migrate or rollback call that concern the command line or the connection,
// not the sandbox: the remaining NAMEs would fail alike, so the command stops.
bool EndsCommand(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kUnavailable: return true;
    default: return false;
  }
}

// The state shared by every command once the command line is parsed. Not thread-safe.
class Session {
 public:
  explicit Session(const Globals& g) : globals_(g) {}

  // Validates the global flags and connects; throws UsageError.
  void Connect() {
    if (globals_.server.empty()) throw UsageError{"no server: pass --server or set SANDBOXD_ADDR"};
    std::optional<absl::Duration> timeout = ParseTimeout(globals_.timeout);
    if (!timeout) throw UsageError{"--timeout: not a duration: " + globals_.timeout};
    std::optional<Format> format = ParseFormat(globals_.output);
    if (!format) throw UsageError{"-o: unknown format " + globals_.output};
    format_ = *format;
    sandboxd::ClientOptions options;
    options.address = globals_.server;
    options.plaintext = globals_.plaintext;
    options.ca_file = globals_.cacert;
    options.cert_file = globals_.cert;
    options.key_file = globals_.key;
    options.tls_server_name = globals_.tls_server_name;
    options.token_file = globals_.token_file;
    if (const char* token = std::getenv("SANDBOXD_TOKEN"); token != nullptr) options.token = token;
    options.default_timeout = *timeout;
    if (globals_.plaintext && (!globals_.cacert.empty() || !globals_.cert.empty())) {
      throw UsageError{"--plaintext cannot be combined with --cacert, --cert or --key"};
    }
    absl::StatusOr<std::unique_ptr<sandboxd::Client>> client = sandboxd::Client::Connect(options);
    if (!client.ok()) throw UsageError{std::string(client.status().message())};
    client_ = std::move(*client);
  }

  // The namespace; throws UsageError when none is given.
  const std::string& Namespace() const {
    if (globals_.ns.empty()) throw UsageError{"no namespace: pass -n or set SANDBOXD_NAMESPACE"};
    return globals_.ns;
  }

  sandboxd::Client& client() { return *client_; }
  Format format() const { return format_; }

  int PrintOrFail(const absl::StatusOr<pb::Sandbox>& sandbox) {
    if (!sandbox.ok()) return Fail(sandbox.status());
    PrintSandbox(*sandbox, format_, absl::Now(), std::cout);
    return kExitOk;
  }

 private:
  const Globals& globals_;
  Format format_ = Format::kTable;
  std::unique_ptr<sandboxd::Client> client_;
};

struct CreateFlags {
  std::string name, project, image, ingress_domain;
  std::vector<std::string> env, labels;
  std::string storage_size, storage_class, mount_path;
  std::string cpu, memory, cpu_request, cpu_limit, memory_request, memory_limit;
  int app_port = 0, terminal_port = 0;  // 0: unset
};

pb::SandboxSpec SpecOf(const CreateFlags& f, const std::string& ns) {
  pb::SandboxSpec spec;
  spec.set_name(f.name);
  spec.set_namespace_(ns);
  spec.set_project(f.project);
  spec.set_image(f.image);
  spec.set_ingress_domain(f.ingress_domain);
  for (const auto& [k, v] : ParsePairs(f.env, "--env")) (*spec.mutable_env())[k] = v;
  for (const auto& [k, v] : ParsePairs(f.labels, "--label")) (*spec.mutable_labels())[k] = v;
  auto set = [](const std::string& specific, const std::string& both) {
    return specific.empty() ? both : specific;
  };
  const std::string rc = set(f.cpu_request, f.cpu), lc = set(f.cpu_limit, f.cpu);
  const std::string rm = set(f.memory_request, f.memory), lm = set(f.memory_limit, f.memory);
  if (!rc.empty()) spec.mutable_resources()->mutable_requests()->set_cpu(rc);
  if (!lc.empty()) spec.mutable_resources()->mutable_limits()->set_cpu(lc);
  if (!rm.empty()) spec.mutable_resources()->mutable_requests()->set_memory(rm);
  if (!lm.empty()) spec.mutable_resources()->mutable_limits()->set_memory(lm);
  if (!f.storage_size.empty()) spec.mutable_storage()->set_size(f.storage_size);
  if (!f.storage_class.empty()) spec.mutable_storage()->set_storage_class(f.storage_class);
  if (!f.mount_path.empty()) spec.mutable_storage()->set_mount_path(f.mount_path);
  if (f.app_port != 0) spec.mutable_ports()->set_app(f.app_port);
  if (f.terminal_port != 0) spec.mutable_ports()->set_terminal(f.terminal_port);
  return spec;
}

// "phase=RUNNING" (or SANDBOX_PHASE_RUNNING, any case) -> the phase; "delete" -> UNSPECIFIED.
pb::SandboxPhase ParseWaitCondition(const std::string& condition) {
  if (condition == "delete") return pb::SANDBOX_PHASE_UNSPECIFIED;
  if (!absl::StartsWith(condition, "phase=")) {
    throw UsageError{"--for must be phase=PHASE or delete, got \"" + condition + "\""};
  }
  std::string name = absl::AsciiStrToUpper(condition.substr(6));
  if (!absl::StartsWith(name, "SANDBOX_PHASE_")) name = "SANDBOX_PHASE_" + name;
  pb::SandboxPhase phase;
  if (!pb::SandboxPhase_Parse(name, &phase) || phase == pb::SANDBOX_PHASE_UNSPECIFIED) {
    throw UsageError{"--for: unknown phase \"" + condition.substr(6) + "\""};
  }
  return phase;
}

int Run(int argc, char** argv) {
  CLI::App app{"sandboxctl: create, inspect, start, stop and delete sandboxd sandboxes, and "
               "migrate Deployment-era ones."};
  app.name("sandboxctl");
  app.footer(kFooter);
  app.require_subcommand(1);
  app.fallthrough();
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // last wins
  Globals g;
  app.add_option("--server", g.server, "sandboxd address, host:port")->envname("SANDBOXD_ADDR");
  app.add_option("--token-file", g.token_file, "file holding the bearer token")
      ->envname("SANDBOXD_TOKEN_FILE");
  app.add_option("--cacert", g.cacert, "PEM file of the CAs that sign the server certificate");
  app.add_option("--cert", g.cert, "PEM client certificate (mTLS)");
  app.add_option("--key", g.key, "PEM key of the client certificate (mTLS)");
  app.add_option("--tls-server-name", g.tls_server_name,
                 "name to verify the server certificate against");
  app.add_flag("--plaintext", g.plaintext, "connect without TLS (must be explicit)")
      ->envname("SANDBOXD_PLAINTEXT");
  app.add_option("-n,--namespace", g.ns, "the namespace")->envname("SANDBOXD_NAMESPACE");
  app.add_option("--timeout", g.timeout, "deadline of each call, retries included")
      ->capture_default_str();
  app.add_option("-o,--output", g.output, "output format: table|wide|json|yaml|name")
      ->capture_default_str();

  Session session(g);
  std::function<int()> run;
  auto on = [&run](CLI::App* command, std::function<int()> body) {
    command->callback([&run, body] { run = body; });
  };

  // create
  CreateFlags cf;
  CLI::App* create = app.add_subcommand("create", "create a sandbox (idempotent)");
  create->add_option("NAME", cf.name, "sandbox name (a DNS-1123 label)")->required();
  create->add_option("--project", cf.project, "project label");
  create->add_option("--image", cf.image, "container image (default: the server's)");
  create->add_option("--env", cf.env, "environment variable KEY=VALUE (repeatable)")
      ->expected(1)->take_all();
  create->add_option("--label", cf.labels, "Kubernetes label KEY=VALUE (repeatable)")
      ->expected(1)->take_all();
  create->add_option("--storage-size", cf.storage_size, "home volume size, e.g. 10Gi");
  create->add_option("--storage-class", cf.storage_class, "StorageClass of the home volume");
  create->add_option("--mount-path", cf.mount_path, "mount path of the home volume");
  create->add_option("--cpu", cf.cpu, "CPU request and limit, e.g. 500m");
  create->add_option("--memory", cf.memory, "memory request and limit, e.g. 1Gi");
  create->add_option("--cpu-request", cf.cpu_request, "CPU request (overrides --cpu)");
  create->add_option("--cpu-limit", cf.cpu_limit, "CPU limit (overrides --cpu)");
  create->add_option("--memory-request", cf.memory_request, "memory request (overrides --memory)");
  create->add_option("--memory-limit", cf.memory_limit, "memory limit (overrides --memory)");
  create->add_option("--app-port", cf.app_port, "application port");
  create->add_option("--terminal-port", cf.terminal_port, "web terminal port");
  create->add_option("--ingress-domain", cf.ingress_domain, "expose app and terminal under this domain");
  on(create, [&] {
    return session.PrintOrFail(session.client().Create(SpecOf(cf, session.Namespace())));
  });

  // get
  std::string name;
  bool consistent = false;
  CLI::App* get = app.add_subcommand("get", "show one sandbox");
  get->add_option("NAME", name, "sandbox name")->required();
  get->add_flag("--consistent", consistent, "read from the API server, not sandboxd's cache");
  on(get, [&] {
    pb::GetSandboxRequest request;
    request.set_namespace_(session.Namespace());
    request.set_name(name);
    request.set_consistent_read(consistent);
    return session.PrintOrFail(session.client().Get(request));
  });

  // list
  std::string selector, project;
  CLI::App* list = app.add_subcommand("list", "list the sandboxes of the namespace");
  list->add_option("-l,--selector", selector, "label selector, e.g. team=a,tier!=gpu");
  list->add_option("--project", project, "only sandboxes of this project");
  list->add_flag("--consistent", consistent, "read from the API server, not sandboxd's cache");
  on(list, [&] {
    pb::ListSandboxesRequest request;
    request.set_namespace_(session.Namespace());
    request.set_label_selector(selector);
    request.set_project(project);
    request.set_consistent_read(consistent);
    absl::StatusOr<std::vector<pb::Sandbox>> sandboxes = session.client().List(request);
    if (!sandboxes.ok()) return Fail(sandboxes.status());
    pb::ListSandboxesResponse all;
    for (pb::Sandbox& s : *sandboxes) *all.add_sandboxes() = std::move(s);
    PrintSandboxes(all, session.format(), absl::Now(), std::cout);
    return kExitOk;
  });

  // start, stop
  CLI::App* start = app.add_subcommand("start", "start a sandbox (scale to one replica)");
  start->add_option("NAME", name, "sandbox name")->required();
  on(start, [&] { return session.PrintOrFail(session.client().Start(session.Namespace(), name)); });
  CLI::App* stop = app.add_subcommand("stop", "stop a sandbox (scale to zero; storage kept)");
  stop->add_option("NAME", name, "sandbox name")->required();
  on(stop, [&] { return session.PrintOrFail(session.client().Stop(session.Namespace(), name)); });

  // delete
  bool keep_storage = false, allow_missing = false;
  CLI::App* del = app.add_subcommand("delete", "delete a sandbox");
  del->add_option("NAME", name, "sandbox name")->required();
  del->add_flag("--keep-storage", keep_storage, "keep the home volume");
  del->add_flag("--allow-missing", allow_missing, "succeed when there is no such sandbox");
  on(del, [&] {
    pb::DeleteSandboxRequest request;
    request.set_namespace_(session.Namespace());
    request.set_name(name);
    request.set_keep_storage(keep_storage);
    request.set_allow_missing(allow_missing);
    absl::Status deleted = session.client().Delete(request);
    if (!deleted.ok()) return Fail(deleted);
    switch (session.format()) {
      case Format::kJson:
      case Format::kYaml: std::cout << "{}\n"; break;  // an empty object in either
      case Format::kName: std::cout << name << "\n"; break;
      default: std::cout << "sandbox/" << name << " deleted\n";
    }
    return kExitOk;
  });

  // env set / unset
  std::vector<std::string> env_args;
  std::string expected_version;
  CLI::App* env = app.add_subcommand("env", "change a sandbox's environment variables");
  env->require_subcommand(1);
  CLI::App* env_set = env->add_subcommand("set", "add or overwrite variables (restarts the pod)");
  env_set->add_option("NAME", name, "sandbox name")->required();
  env_set->add_option("PAIRS", env_args, "variables as KEY=VALUE ...")->required();
  env_set->add_option("--expected-version", expected_version, "update only at this version");
  CLI::App* env_unset = env->add_subcommand("unset", "remove variables (restarts the pod)");
  env_unset->add_option("NAME", name, "sandbox name")->required();
  env_unset->add_option("KEYS", env_args, "variable names")->required();
  env_unset->add_option("--expected-version", expected_version, "update only at this version");
  auto update_env = [&](bool set) {
    pb::UpdateSandboxEnvRequest request;
    request.set_namespace_(session.Namespace());
    request.set_name(name);
    if (set) {
      for (const auto& [k, v] : ParsePairs(env_args, "KEY=VALUE")) (*request.mutable_env())[k] = v;
    } else {
      for (const std::string& key : env_args) request.add_remove_keys(key);
    }
    if (!expected_version.empty()) request.set_expected_version(expected_version);
    return session.PrintOrFail(session.client().UpdateEnv(request));
  };
  on(env_set, [&] { return update_env(true); });
  on(env_unset, [&] { return update_env(false); });

  // watch
  int max_events = 0;
  CLI::App* watch = app.add_subcommand(
      "watch", "stream changes of one sandbox (NAME) or of the namespace, until interrupted");
  watch->add_option("NAME", name, "sandbox name (default: every sandbox)");
  watch->add_option("-l,--selector", selector, "label selector (without NAME)");
  watch->add_option("--project", project, "only sandboxes of this project (without NAME)");
  watch->add_option("--max-events", max_events, "exit after this many events (0: never)");
  on(watch, [&] {
    std::unique_ptr<sandboxd::SandboxWatch> stream;
    if (!name.empty()) {
      if (!selector.empty() || !project.empty()) throw UsageError{"NAME excludes -l and --project"};
      pb::WatchSandboxRequest request;
      request.set_namespace_(session.Namespace());
      request.set_name(name);
      stream = session.client().Watch(request);
    } else {
      pb::WatchSandboxesRequest request;
      request.set_namespace_(session.Namespace());
      request.set_label_selector(selector);
      request.set_project(project);
      stream = session.client().Watch(request);
    }
    WatchPrinter printer(session.format(), std::cout);
    for (int n = 0; max_events == 0 || n < max_events; ++n) {
      absl::StatusOr<sandboxd::WatchEvent> event = stream->Next();
      if (!event.ok()) return Fail(event.status());
      printer.Print(*event, absl::Now());
    }
    return kExitOk;
  });

  // wait
  std::string condition, wait_timeout = "5m";
  CLI::App* wait = app.add_subcommand("wait", "wait until a sandbox is in a phase or deleted");
  wait->add_option("NAME", name, "sandbox name")->required();
  wait->add_option("--for", condition, "phase=RUNNING|STOPPED|... or delete")->required();
  wait->add_option("--timeout", wait_timeout, "how long to wait")->capture_default_str();
  on(wait, [&] {
    const pb::SandboxPhase phase = ParseWaitCondition(condition);
    std::optional<absl::Duration> timeout = ParseTimeout(wait_timeout);
    if (!timeout) throw UsageError{"--timeout: not a duration: " + wait_timeout};
    const std::string& ns = session.Namespace();
    // Phase changes go to stderr when a person watches it.
    pb::SandboxPhase last = pb::SANDBOX_PHASE_UNSPECIFIED;
    sandboxd::SandboxObserver progress = [&](const pb::Sandbox& s) {
      if (!isatty(STDERR_FILENO) || s.phase() == last) return;
      last = s.phase();
      std::cerr << "sandbox/" << name << ": " << ShortPhase(s.phase())
                << (s.message().empty() ? "" : " (" + s.message() + ")") << "\n";
    };
    if (phase == pb::SANDBOX_PHASE_UNSPECIFIED) {
      absl::Status deleted = session.client().WaitForDeleted(ns, name, *timeout, progress);
      if (!deleted.ok()) return Fail(deleted);
      if (session.format() == Format::kName) std::cout << name << "\n";
      else std::cout << "sandbox/" << name << " deleted\n";
      return kExitOk;
    }
    absl::StatusOr<pb::Sandbox> reached = session.client().WaitFor(ns, name, phase, *timeout, progress);
    if (!reached.ok()) return Fail(reached.status());
    if (session.format() == Format::kJson || session.format() == Format::kYaml ||
        session.format() == Format::kName) {
      PrintSandbox(*reached, session.format(), absl::Now(), std::cout);
    } else {
      std::cout << "sandbox/" << name << " " << ShortPhase(reached->phase()) << "\n";
    }
    return kExitOk;
  });

  // migrate, rollback
  std::vector<std::string> names;
  bool dry_run = false, mount_home = false, delete_storage = false;
  int concurrency = 0;
  std::string migration_timeout = "5m";
  CLI::App* migrate = app.add_subcommand(
      "migrate", "migrate Deployment-era sandboxes to sandboxd's StatefulSets (docs/MIGRATION.md)");
  migrate->add_option("NAME", names, "Deployments to migrate, one call each, in order")->take_all();
  CLI::Option* migrate_selector = migrate->add_option(
      "-l,--selector", selector,
      "every Deployment matching this label selector, in one stream (-l '': all of the namespace)");
  CLI::Option* concurrency_flag = migrate->add_option(
      "--concurrency", concurrency, "with -l: how many migrate at once, 1 to 20 (default: 4)");
  migrate->add_flag("--dry-run", dry_run, "check and list the changes; write nothing");
  CLI::Option* migrate_timeout_flag = migrate->add_option(
      "--timeout", migration_timeout,
      "deadline of each NAME's call, retries included; with -l, of the whole stream (none unless given)");
  migrate_timeout_flag->capture_default_str();
  on(migrate, [&] {
    const bool by_selector = migrate_selector->count() > 0;
    if (by_selector && !names.empty()) throw UsageError{"NAME and -l exclude each other"};
    if (!by_selector && names.empty()) {
      throw UsageError{"name the Deployments to migrate, or pass -l SELECTOR (-l '': every one)"};
    }
    if (!by_selector && concurrency_flag->count() > 0) throw UsageError{"--concurrency needs -l"};
    std::optional<absl::Duration> timeout = ParseTimeout(migration_timeout);
    if (!timeout) throw UsageError{"--timeout: not a duration: " + migration_timeout};
    sandboxd::CallOptions call;
    if (!by_selector || migrate_timeout_flag->count() > 0) call.timeout = *timeout;
    const std::string& ns = session.Namespace();
    MigrationReport report(MigrationCommand::kMigrate, session.format(), dry_run, std::cout,
                           std::cerr);
    if (by_selector) {
      pb::MigrateSandboxesRequest request;
      request.set_namespace_(ns);
      request.set_label_selector(selector);
      request.set_dry_run(dry_run);
      request.set_concurrency(concurrency);
      absl::StatusOr<pb::MigrationSummary> summary = session.client().MigrateAll(
          request, [&report](const pb::Migration& m) { report.Add(m); }, call);
      if (!summary.ok()) {
        if (!report.empty()) report.PrintSummary();
        return Fail(summary.status());
      }
      report.PrintSummary(*summary);
    } else {
      for (const std::string& deployment : names) {
        pb::MigrateSandboxRequest request;
        request.set_namespace_(ns);
        request.set_name(deployment);
        request.set_dry_run(dry_run);
        absl::StatusOr<pb::Migration> migration = session.client().Migrate(request, call);
        if (migration.ok()) {
          report.Add(*migration);
        } else if (EndsCommand(migration.status())) {
          if (!report.empty()) report.PrintSummary();
          return Fail(migration.status());
        } else {
          report.Add(MigrationReport::FromError(ns, deployment, migration.status()));
        }
      }
      report.PrintSummary();
    }
    return report.AnyLeftUndone() ? kExitNotAllDone : kExitOk;
  });

  CLI::App* rollback = app.add_subcommand(
      "rollback", "undo the migration of sandboxes: back to their Deployments (docs/MIGRATION.md)");
  rollback->add_option("NAME", names, "migrated sandboxes, one call each, in order")
      ->required()
      ->take_all();
  rollback->add_flag("--dry-run", dry_run, "check and list the changes; write nothing");
  rollback->add_flag("--mount-home", mount_home,
                     "mount the home volume into the Deployment: the work done since stays");
  rollback->add_flag("--delete-storage", delete_storage,
                     "delete the home volume (default: kept, released from the sandbox)");
  rollback->add_option("--timeout", migration_timeout, "deadline of each call, retries included")
      ->capture_default_str();
  on(rollback, [&] {
    std::optional<absl::Duration> timeout = ParseTimeout(migration_timeout);
    if (!timeout) throw UsageError{"--timeout: not a duration: " + migration_timeout};
    sandboxd::CallOptions call;
    call.timeout = *timeout;
    const std::string& ns = session.Namespace();
    MigrationReport report(MigrationCommand::kRollback, session.format(), dry_run, std::cout,
                           std::cerr);
    for (const std::string& sandbox : names) {
      pb::RollbackMigrationRequest request;
      request.set_namespace_(ns);
      request.set_name(sandbox);
      request.set_dry_run(dry_run);
      request.set_mount_home(mount_home);
      request.set_delete_storage(delete_storage);
      absl::StatusOr<pb::Migration> rolled_back = session.client().Rollback(request, call);
      if (rolled_back.ok()) {
        report.Add(*rolled_back);
      } else if (EndsCommand(rolled_back.status())) {
        if (!report.empty()) report.PrintSummary();
        return Fail(rolled_back.status());
      } else {
        report.Add(MigrationReport::FromError(ns, sandbox, rolled_back.status()));
      }
    }
    report.PrintSummary();
    return report.AnyLeftUndone() ? kExitNotAllDone : kExitOk;
  });

  // version, completion
  CLI::App* version = app.add_subcommand("version", "print sandboxctl's version");
  version->callback([&run] {
    run = [] {
      std::cout << "sandboxctl " << SANDBOXCTL_VERSION << " (API sandbox.v1)\n";
      return kExitOk;
    };
  });
  std::string shell;
  CLI::App* completion = app.add_subcommand("completion", "print a shell completion script");
  completion->add_option("SHELL", shell, "the shell (bash)")->required()->check(CLI::IsMember({"bash"}));
  completion->callback([&run, &app] {
    run = [&app] {
      std::cout << BashCompletion(app);
      return kExitOk;
    };
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  try {
    const bool offline = version->parsed() || completion->parsed();
    if (!offline) session.Connect();
    return run();
  } catch (const UsageError& e) {
    return Usage(e.message);
  }
}

}  // namespace
}  // namespace sandboxctl

int main(int argc, char** argv) {
  // Errors are one line of sandboxctl's own; gRPC's log lines (e.g. a failed TLS
  // handshake) appear only when GRPC_VERBOSITY asks for them.
  if (std::getenv("GRPC_VERBOSITY") == nullptr) gpr_set_log_function([](gpr_log_func_args*) {});
  return sandboxctl::Run(argc, argv);
}
