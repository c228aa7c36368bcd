// sandboxd::Client: a typed client of the sandbox.v1.SandboxLifecycle API.
//
//   sandboxd::ClientOptions options;
//   options.address = "sandboxd.example:8443";
//   options.token_file = "/var/run/secrets/sandboxd/token";
//   auto client = sandboxd::Client::Connect(options);  // StatusOr<unique_ptr<Client>>
//   absl::StatusOr<sandbox::v1::Sandbox> sb = (*client)->Get("team-a", "demo");
//   if (!sb.ok()) std::cerr << sandboxd::ErrorDetailsOf(sb.status()).reason;
//
// Every method returns the server's error as an absl::Status with the same code; decode
// ErrorInfo and BadRequest with ErrorDetailsOf() (errors.h). Every RPC is idempotent, so
// each call is retried on UNAVAILABLE under ClientOptions::retry, within one deadline
// (CallOptions::timeout, else ClientOptions::default_timeout) that covers all attempts.
// A Delete retried after an attempt that may have succeeded is sent with allow_missing,
// so it does not fail with SANDBOX_NOT_FOUND because of its own earlier attempt (the
// price: a retried Delete of a sandbox that never existed succeeds too). The migration
// calls are resumable on the server, so a retry continues where the failed attempt
// stopped (a retried Migrate whose first attempt finished answers ALREADY_MIGRATED); a
// MigrateSandboxes stream that fails with UNAVAILABLE is run again from the start
// (there is no resume token), which finishes the migrations it interrupted.
//
// Credentials: a bearer token (ClientOptions::token, or token_file read again on every
// call, so a rotated token is picked up), mTLS (cert_file + key_file), or both. TLS is
// the default; plaintext must be asked for.
//
// Thread-safe: one Client serves concurrent calls from any number of threads.
#ifndef SANDBOXD_CLIENT_CLIENT_H_
#define SANDBOXD_CLIENT_CLIENT_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "sandbox/v1/sandbox.grpc.pb.h"
#include "sandboxd/errors.h"
#include "sandboxd/retry_policy.h"
#include "sandboxd/watch.h"

namespace sandboxd {

struct ClientOptions {
  // host:port (or any gRPC target) of sandboxd. Required.
  std::string address;
  // Connect without TLS. Only for a server on a trusted network or loopback.
  bool plaintext = false;
  // PEM file of the CAs that sign the server's certificate. Empty: the system's roots.
  std::string ca_file;
  // PEM files of the client certificate and key for mTLS. Both or neither.
  std::string cert_file;
  std::string key_file;
  // Overrides the host name checked against the server certificate. Empty: the host
  // of `address`.
  std::string tls_server_name;
  // Bearer token sent as "authorization: Bearer <token>". Ignored when token_file is set.
  std::string token;
  // A file holding the bearer token, read on every call (surrounding whitespace dropped).
  std::string token_file;
  // The deadline of a call (all its attempts) unless CallOptions::timeout is set.
  absl::Duration default_timeout = absl::Seconds(30);
  // Retries of UNAVAILABLE and the backoff of watch reconnects.
  RetryPolicy retry;
  // Consecutive failed reconnects after which a watch gives up (0: it never does).
  int watch_max_reconnect_failures = 0;
  // Called (on the calling thread) before each retry of a unary call with the error of
  // the failed attempt and the number of the attempt that follows; for logs and metrics.
  std::function<void(const absl::Status& error, int next_attempt)> on_retry;
};

// Per-call settings.
struct CallOptions {
  // The deadline of this call, all attempts included. Unset: default_timeout.
  std::optional<absl::Duration> timeout;
};

// Called by WaitFor/WaitForDeleted with every state of the sandbox the watch reports.
using SandboxObserver = std::function<void(const sandbox::v1::Sandbox&)>;

// Called by MigrateAll with every progress message of the stream, in order.
using MigrationObserver = std::function<void(const sandbox::v1::Migration&)>;

class Client {
 public:
  // Builds the channel. Connects lazily: an unreachable server surfaces on the first
  // call. Errors: INVALID_ARGUMENT (no address; a certificate without its key or the
  // reverse), NOT_FOUND (a CA, certificate or key file cannot be read).
  static absl::StatusOr<std::unique_ptr<Client>> Connect(ClientOptions options);

  // Uses an existing channel (e.g. in-process); only token, token_file, timeouts and
  // retry of `options` apply.
  Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options);

  // CreateSandbox. Returns the sandbox (the existing one if an identical spec exists).
  // Errors: INVALID_ARGUMENT (INVALID_FIELD), ALREADY_EXISTS (SANDBOX_ALREADY_EXISTS).
  absl::StatusOr<sandbox::v1::Sandbox> Create(const sandbox::v1::SandboxSpec& spec,
                                              const CallOptions& call = {});

  // GetSandbox. Errors: NOT_FOUND (SANDBOX_NOT_FOUND).
  absl::StatusOr<sandbox::v1::Sandbox> Get(const std::string& ns, const std::string& name,
                                           const CallOptions& call = {});
  absl::StatusOr<sandbox::v1::Sandbox> Get(const sandbox::v1::GetSandboxRequest& request,
                                           const CallOptions& call = {});

  // ListSandboxes, one page. Errors: INVALID_ARGUMENT (selector, page token).
  absl::StatusOr<sandbox::v1::ListSandboxesResponse> ListPage(
      const sandbox::v1::ListSandboxesRequest& request, const CallOptions& call = {});
  // ListSandboxes, every page from request.page_token on (each page has its own deadline).
  absl::StatusOr<std::vector<sandbox::v1::Sandbox>> List(
      const sandbox::v1::ListSandboxesRequest& request, const CallOptions& call = {});

  // StartSandbox / StopSandbox. Return the sandbox after the change. Errors: NOT_FOUND.
  absl::StatusOr<sandbox::v1::Sandbox> Start(const std::string& ns, const std::string& name,
                                             const CallOptions& call = {});
  absl::StatusOr<sandbox::v1::Sandbox> Stop(const std::string& ns, const std::string& name,
                                            const CallOptions& call = {});

  // UpdateSandboxEnv. Returns the sandbox after the update. Errors: NOT_FOUND,
  // INVALID_ARGUMENT, FAILED_PRECONDITION (VERSION_MISMATCH with expected_version; a
  // retried call whose first attempt applied the change reports it too).
  absl::StatusOr<sandbox::v1::Sandbox> UpdateEnv(
      const sandbox::v1::UpdateSandboxEnvRequest& request, const CallOptions& call = {});

  // DeleteSandbox. Errors: NOT_FOUND (SANDBOX_NOT_FOUND, unless allow_missing).
  absl::Status Delete(const sandbox::v1::DeleteSandboxRequest& request,
                      const CallOptions& call = {});
  absl::Status Delete(const std::string& ns, const std::string& name,
                      const CallOptions& call = {});

  // MigrateSandbox: migrates the Deployment-era sandbox request.name (see the proto).
  // Returns the Migration: outcome MIGRATED, ALREADY_MIGRATED or (dry_run)
  // WOULD_MIGRATE, with the writes made or planned. Errors: NOT_FOUND
  // (SANDBOX_NOT_FOUND), FAILED_PRECONDITION (NOT_DEPLOYMENT_ERA, UNSUPPORTED_FIELD; the
  // metadata "field" names it), ABORTED (MIGRATION_IN_PROGRESS), DEADLINE_EXCEEDED (call
  // again to continue). The call waits for pods: give it a timeout of minutes.
  absl::StatusOr<sandbox::v1::Migration> Migrate(
      const sandbox::v1::MigrateSandboxRequest& request, const CallOptions& call = {});

  // MigrateSandboxes: migrates every Deployment-era sandbox matching
  // request.label_selector (and finishes the namespace's interrupted migrations).
  // `on_progress` (on the calling thread) gets every progress message: one per sandbox
  // and step completed, then each sandbox's final one (outcome set). Returns the
  // summary. A stream that fails with UNAVAILABLE is run again from the start (retry
  // policy and deadline as for unary calls): the new run continues what the first left
  // unfinished and does not list the sandboxes it finished (their Deployments are
  // gone), so `on_progress` sees the messages of both runs and the summary is the last
  // run's plus, once each, the sandboxes only earlier runs finished. No deadline unless
  // call.timeout is set. Errors: INVALID_ARGUMENT (label_selector, concurrency);
  // INTERNAL (the stream ended without a summary); the stream's own errors (messages
  // received before are delivered to `on_progress`).
  absl::StatusOr<sandbox::v1::MigrationSummary> MigrateAll(
      const sandbox::v1::MigrateSandboxesRequest& request, const MigrationObserver& on_progress,
      const CallOptions& call = {});

  // RollbackMigration: undoes the migration of request.name. Returns the Migration
  // (outcome ROLLED_BACK or, dry_run, WOULD_ROLL_BACK). Errors: INVALID_ARGUMENT
  // (mount_home with delete_storage), FAILED_PRECONDITION (NOT_MIGRATED), ABORTED
  // (MIGRATION_IN_PROGRESS). Like Migrate, it waits for pods.
  absl::StatusOr<sandbox::v1::Migration> Rollback(
      const sandbox::v1::RollbackMigrationRequest& request, const CallOptions& call = {});

  // WatchSandbox / WatchSandboxes as a reconnecting SandboxWatch (see watch.h). The
  // request's resume_token is where the watch starts. No deadline applies.
  std::unique_ptr<SandboxWatch> Watch(const sandbox::v1::WatchSandboxRequest& request);
  std::unique_ptr<SandboxWatch> Watch(const sandbox::v1::WatchSandboxesRequest& request);

  // Waits, through a watch, until sandbox ns/name is in `phase` and returns it.
  // Errors: DEADLINE_EXCEEDED (not within `timeout`); NOT_FOUND (SANDBOX_NOT_FOUND: the
  // sandbox does not exist or is deleted meanwhile); FAILED_PRECONDITION with reason the
  // sandbox's SandboxErrorReason name and its message (it entered SANDBOX_PHASE_ERROR
  // and `phase` is another phase); the watch's own errors. `observer`, if set, sees
  // every state the watch reports, on the calling thread.
  absl::StatusOr<sandbox::v1::Sandbox> WaitFor(const std::string& ns, const std::string& name,
                                               sandbox::v1::SandboxPhase phase,
                                               absl::Duration timeout,
                                               const SandboxObserver& observer = nullptr);

  // Waits until sandbox ns/name does not exist (OK at once if it does not).
  // Errors: DEADLINE_EXCEEDED; the watch's own errors.
  absl::Status WaitForDeleted(const std::string& ns, const std::string& name,
                              absl::Duration timeout, const SandboxObserver& observer = nullptr);

  // Sets the deadline `deadline` and the bearer token on `context`.
  // Errors: UNAUTHENTICATED (the token file cannot be read).
  absl::Status PrepareContext(grpc::ClientContext* context, absl::Time deadline) const;

  const ClientOptions& options() const { return options_; }
  // The generated stub, for calls this class does not wrap: no retries, and no token
  // unless the context went through PrepareContext.
  sandbox::v1::SandboxLifecycle::StubInterface& stub() { return *stub_; }

 private:
  // Runs `attempt` (one RPC on a prepared context) until it does not fail with
  // UNAVAILABLE, attempts run out, or the deadline would pass. `attempt` gets the
  // attempt number, 1 for the first.
  absl::Status CallWithRetries(
      const CallOptions& call,
      const std::function<grpc::Status(grpc::ClientContext*, int attempt)>& attempt);

  const ClientOptions options_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<sandbox::v1::SandboxLifecycle::StubInterface> stub_;
};

}  // namespace sandboxd

#endif  // SANDBOXD_CLIENT_CLIENT_H_
