#include "sandboxd/client.h"

#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace sandboxd {
namespace {

namespace pb = ::sandbox::v1;

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", what, " ", path));
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

// Counts a sandbox that ended with `outcome` in `summary`.
void AddToSummary(pb::MigrationOutcome outcome, pb::MigrationSummary* summary) {
  summary->set_total(summary->total() + 1);
  switch (outcome) {
    case pb::MIGRATION_OUTCOME_MIGRATED: summary->set_migrated(summary->migrated() + 1); break;
    case pb::MIGRATION_OUTCOME_ALREADY_MIGRATED:
      summary->set_already_migrated(summary->already_migrated() + 1);
      break;
    case pb::MIGRATION_OUTCOME_WOULD_MIGRATE:
      summary->set_would_migrate(summary->would_migrate() + 1);
      break;
    case pb::MIGRATION_OUTCOME_SKIPPED: summary->set_skipped(summary->skipped() + 1); break;
    default: summary->set_failed(summary->failed() + 1); break;
  }
}

// One attempt's deadline: the call's, as gRPC wants it.
std::chrono::system_clock::time_point ToChrono(absl::Time t) { return absl::ToChronoTime(t); }

// Reads one WatchSandbox or WatchSandboxes stream (the two differ only in types).
template <typename Request, typename Response>
class RpcWatchSource final : public WatchSource {
 public:
  using Starter = std::unique_ptr<grpc::ClientReaderInterface<Response>> (
      pb::SandboxLifecycle::StubInterface::*)(grpc::ClientContext*, const Request&);
  RpcWatchSource(Client* client, Request request, Starter starter)
      : client_(client), request_(std::move(request)), starter_(starter) {}

  absl::Status Open(grpc::ClientContext* context, const std::string& resume_token) override {
    absl::Status prepared = client_->PrepareContext(context, absl::InfiniteFuture());
    if (!prepared.ok()) return prepared;
    request_.set_resume_token(resume_token);
    reader_ = (client_->stub().*starter_)(context, request_);
    return absl::OkStatus();
  }

  bool Read(WatchEvent* event) override {
    Response response;
    if (!reader_->Read(&response)) return false;
    event->type = response.type();
    event->resume_token = response.resume_token();
    if (response.has_sandbox()) {
      event->sandbox = std::move(*response.mutable_sandbox());
    } else {
      event->sandbox.reset();
    }
    return true;
  }

  grpc::Status Finish() override {
    grpc::Status status = reader_->Finish();
    reader_.reset();
    return status;
  }

 private:
  Client* const client_;  // outlives the watch
  Request request_;
  const Starter starter_;
  std::unique_ptr<grpc::ClientReaderInterface<Response>> reader_;
};

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFrom(const ClientOptions& options,
                                                                 absl::Status* error) {
  if (options.plaintext) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  if (!options.ca_file.empty()) {
    auto ca = ReadFile(options.ca_file, "CA file");
    if (!ca.ok()) return *error = ca.status(), nullptr;
    ssl.pem_root_certs = *ca;
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    *error = absl::InvalidArgumentError("a client certificate needs its key and vice versa");
    return nullptr;
  }
  if (!options.cert_file.empty()) {
    auto cert = ReadFile(options.cert_file, "certificate file");
    if (!cert.ok()) return *error = cert.status(), nullptr;
    auto key = ReadFile(options.key_file, "key file");
    if (!key.ok()) return *error = key.status(), nullptr;
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(ClientOptions options) {
  if (options.address.empty()) return absl::InvalidArgumentError("no server address");
  absl::Status error;
  std::shared_ptr<grpc::ChannelCredentials> credentials = ChannelCredentialsFrom(options, &error);
  if (credentials == nullptr) return error;
  grpc::ChannelArguments args;
  // Reconnect quickly after a server restart: a call retried by the client must not
  // wait for gRPC's own (1 s, growing) reconnect backoff.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.retry.max_backoff)));
  // Notice a dead connection under a long watch (the server allows pings every 30 s).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  if (!options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(options.address, credentials, args);
  return std::make_unique<Client>(std::move(channel), std::move(options));
}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      stub_(pb::SandboxLifecycle::NewStub(channel_)) {}

absl::Status Client::PrepareContext(grpc::ClientContext* context, absl::Time deadline) const {
  if (deadline != absl::InfiniteFuture()) context->set_deadline(ToChrono(deadline));
  std::string token = options_.token;
  if (!options_.token_file.empty()) {
    auto content = ReadFile(options_.token_file, "token file");
    if (!content.ok()) {
      return MakeError(absl::StatusCode::kUnauthenticated, "MISSING_CREDENTIALS",
                       content.status().message());
    }
    token = std::string(absl::StripAsciiWhitespace(*content));
  }
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  return absl::OkStatus();
}

absl::Status Client::CallWithRetries(
    const CallOptions& call,
    const std::function<grpc::Status(grpc::ClientContext*, int attempt)>& attempt) {
  const absl::Time deadline = absl::Now() + call.timeout.value_or(options_.default_timeout);
  absl::BitGen random;
  for (int n = 1;; ++n) {
    grpc::ClientContext context;
    absl::Status prepared = PrepareContext(&context, deadline);
    if (!prepared.ok()) return prepared;
    grpc::Status status = attempt(&context, n);
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE || n >= options_.retry.max_attempts) {
      return StatusFromGrpc(status);
    }
    const absl::Duration delay = BackoffDelay(options_.retry, n, absl::Uniform(random, 0.0, 1.0));
    if (absl::Now() + delay >= deadline) return StatusFromGrpc(status);
    if (options_.on_retry) options_.on_retry(StatusFromGrpc(status), n + 1);
    absl::SleepFor(delay);
  }
}

absl::StatusOr<pb::Sandbox> Client::Create(const pb::SandboxSpec& spec, const CallOptions& call) {
  pb::CreateSandboxRequest request;
  *request.mutable_spec() = spec;
  pb::CreateSandboxResponse response;
  absl::Status status = CallWithRetries(call, [&](grpc::ClientContext* context, int) {
    return stub_->CreateSandbox(context, request, &response);
  });
  if (!status.ok()) return status;
  return std::move(*response.mutable_sandbox());
}

absl::StatusOr<pb::Sandbox> Client::Get(const std::string& ns, const std::string& name,
                                        const CallOptions& call) {
  pb::GetSandboxRequest request;
  request.set_namespace_(ns);
  request.set_name(name);
  return Get(request, call);
}

absl::StatusOr<pb::Sandbox> Client::Get(const pb::GetSandboxRequest& request,
                                        const CallOptions& call) {
  pb::GetSandboxResponse response;
  absl::Status status = CallWithRetries(call, [&](grpc::ClientContext* context, int) {
    return stub_->GetSandbox(context, request, &response);
  });
  if (!status.ok()) return status;
  return std::move(*response.mutable_sandbox());
}

absl::StatusOr<pb::ListSandboxesResponse> Client::ListPage(const pb::ListSandboxesRequest& request,
                                                           const CallOptions& call) {
  pb::ListSandboxesResponse response;
  absl::Status status = CallWithRetries(call, [&](grpc::ClientContext* context, int) {
    return stub_->ListSandboxes(context, request, &response);
  });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<std::vector<pb::Sandbox>> Client::List(const pb::ListSandboxesRequest& request,
                                                      const CallOptions& call) {
  std::vector<pb::Sandbox> sandboxes;
  pb::ListSandboxesRequest page_request = request;
  do {
    absl::StatusOr<pb::ListSandboxesResponse> page = ListPage(page_request, call);
    if (!page.ok()) return page.status();
    for (pb::Sandbox& sandbox : *page->mutable_sandboxes()) sandboxes.push_back(std::move(sandbox));
    page_request.set_page_token(page->next_page_token());
  } while (!page_request.page_token().empty());
  return sandboxes;
}

absl::StatusOr<pb::Sandbox> Client::Start(const std::string& ns, const std::string& name,
                                          const CallOptions& call) {
  pb::StartSandboxRequest request;
  request.set_namespace_(ns);
  request.set_name(name);
  pb::StartSandboxResponse response;
  absl::Status status = CallWithRetries(call, [&](grpc::ClientContext* context, int) {
    return stub_->StartSandbox(context, request, &response);
  });
  if (!status.ok()) return status;
  return std::move(*response.mutable_sandbox());
}

absl::StatusOr<pb::Sandbox> Client::Stop(const std::string& ns, const std::string& name,
                                         const CallOptions& call) {
  pb::StopSandboxRequest request;
  request.set_namespace_(ns);
  request.set_name(name);
  pb::StopSandboxResponse response;
  absl::Status status = CallWithRetries(call, [&](grpc::ClientContext* context, int) {
    return stub_->StopSandbox(context, request, &response);
  });
  if (!status.ok()) return status;
  return std::move(*response.mutable_sandbox());
}

absl::StatusOr<pb::Sandbox> Client::UpdateEnv(const pb::UpdateSandboxEnvRequest& request,
                                              const CallOptions& call) {
  pb::UpdateSandboxEnvResponse response;
  absl::Status status = CallWithRetries(call, [&](grpc::ClientContext* context, int) {
    return stub_->UpdateSandboxEnv(context, request, &response);
  });
  if (!status.ok()) return status;
  return std::move(*response.mutable_sandbox());
}

absl::Status Client::Delete(const pb::DeleteSandboxRequest& request, const CallOptions& call) {
  pb::DeleteSandboxRequest retried = request;
  retried.set_allow_missing(true);  // an earlier attempt may have deleted it
  pb::DeleteSandboxResponse response;
  return CallWithRetries(call, [&](grpc::ClientContext* context, int attempt) {
    return stub_->DeleteSandbox(context, attempt == 1 ? request : retried, &response);
  });
}

absl::Status Client::Delete(const std::string& ns, const std::string& name,
                            const CallOptions& call) {
  pb::DeleteSandboxRequest request;
  request.set_namespace_(ns);
  request.set_name(name);
  return Delete(request, call);
}

absl::StatusOr<pb::Migration> Client::Migrate(const pb::MigrateSandboxRequest& request,
                                              const CallOptions& call) {
  pb::MigrateSandboxResponse response;
  absl::Status status = CallWithRetries(call, [&](grpc::ClientContext* context, int) {
    return stub_->MigrateSandbox(context, request, &response);
  });
  if (!status.ok()) return status;
  return std::move(*response.mutable_migration());
}

absl::StatusOr<pb::MigrationSummary> Client::MigrateAll(const pb::MigrateSandboxesRequest& request,
                                                        const MigrationObserver& on_progress,
                                                        const CallOptions& call) {
  CallOptions stream_call = call;
  if (!stream_call.timeout.has_value()) stream_call.timeout = absl::InfiniteDuration();
  std::optional<pb::MigrationSummary> summary;
  // Final outcomes of the runs before the current one, and the names the current one
  // has reported: a run after a retry lists only what is left to do.
  std::map<std::string, pb::MigrationOutcome> finished_before, finished_now;
  absl::Status status = CallWithRetries(stream_call, [&](grpc::ClientContext* context, int) {
    summary.reset();
    for (auto& [name, outcome] : finished_now) finished_before[name] = outcome;
    finished_now.clear();
    std::unique_ptr<grpc::ClientReaderInterface<pb::MigrateSandboxesResponse>> reader =
        stub_->MigrateSandboxes(context, request);
    pb::MigrateSandboxesResponse message;
    while (reader->Read(&message)) {
      if (message.has_progress()) {
        const pb::Migration& m = message.progress();
        if (m.outcome() != pb::MIGRATION_OUTCOME_UNSPECIFIED) finished_now[m.name()] = m.outcome();
        if (on_progress) on_progress(m);
      } else if (message.has_summary()) {
        summary = std::move(*message.mutable_summary());
      }
    }
    grpc::Status finished = reader->Finish();
    if (finished.ok() && !summary.has_value()) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "MigrateSandboxes ended without a summary");
    }
    return finished;
  });
  if (!status.ok()) return status;
  for (const auto& [name, outcome] : finished_before) {
    if (finished_now.count(name) == 0) AddToSummary(outcome, &*summary);
  }
  return *std::move(summary);
}

absl::StatusOr<pb::Migration> Client::Rollback(const pb::RollbackMigrationRequest& request,
                                               const CallOptions& call) {
  pb::RollbackMigrationResponse response;
  absl::Status status = CallWithRetries(call, [&](grpc::ClientContext* context, int) {
    return stub_->RollbackMigration(context, request, &response);
  });
  if (!status.ok()) return status;
  return std::move(*response.mutable_rollback());
}

std::unique_ptr<SandboxWatch> Client::Watch(const pb::WatchSandboxRequest& request) {
  auto source = std::make_unique<RpcWatchSource<pb::WatchSandboxRequest, pb::WatchSandboxResponse>>(
      this, request, &pb::SandboxLifecycle::StubInterface::WatchSandbox);
  return std::make_unique<SandboxWatch>(std::move(source), request.resume_token(), options_.retry,
                                        options_.watch_max_reconnect_failures);
}

std::unique_ptr<SandboxWatch> Client::Watch(const pb::WatchSandboxesRequest& request) {
  auto source =
      std::make_unique<RpcWatchSource<pb::WatchSandboxesRequest, pb::WatchSandboxesResponse>>(
          this, request, &pb::SandboxLifecycle::StubInterface::WatchSandboxes);
  return std::make_unique<SandboxWatch>(std::move(source), request.resume_token(), options_.retry,
                                        options_.watch_max_reconnect_failures);
}

}  // namespace sandboxd
