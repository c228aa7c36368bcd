#include "server/sandbox_lifecycle_service.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/call_context.h"
#include "server/call_credentials.h"
#include "server/log_format.h"
#include "server/migration_stream.h"
#include "server/proto_convert.h"
#include "server/status_mapping.h"
#include "server/watch_reactor.h"
#include "src/domain/error_reasons.h"
#include "src/domain/errors.h"

namespace sandboxd::server {
namespace {

namespace pb = sandbox::v1;

// One unary RPC in flight. Owns the cancellation token shared with the Kubernetes
// requests of the call; deletes itself when gRPC is done with it.
// Thread-safe: FinishWith() is called once, from any thread; OnCancel() may run
// concurrently with it.
class UnaryCall : public grpc::ServerUnaryReactor {
 public:
  UnaryCall(grpc::CallbackServerContext* ctx, absl::string_view method, ServerMetrics* metrics)
      : method_(method), metrics_(metrics), start_(absl::Now()),
        cancel_(std::make_shared<kube::CancellationToken>()), credentials_(CredentialsOf(*ctx)) {
    metrics_->RpcStarted(ServerMetrics::RpcType::kUnary, method_);
    request_id_ = RequestIdOf(*ctx);
    deadline_ = DeadlineOf(*ctx, SandboxLifecycleService::kDefaultDeadline,
                           SandboxLifecycleService::kMaxDeadline);
  }

  // Names the sandbox in the call's log line.
  void set_sandbox(std::string ns, std::string name) { sandbox_ = absl::StrCat(ns, "/", name); }

  // Runs `then` once the caller may `verb` the sandboxes of `ns` (named `name`, or "");
  // finishes the call with the refusal otherwise.
  void Admit(auth::AccessControl* access, const char* verb, const std::string& ns,
             const std::string& name, std::function<void()> then) {
    access->Admit(credentials_, auth::AccessRequest{verb, ns, name}, options(),
                  [this, then = std::move(then)](auth::Admission admission) {
                    if (admission.caller.has_value()) caller_ = admission.caller->username;
                    if (!admission.status.ok()) return FinishWith(admission.status);
                    then();
                  });
  }

  kube::CallOptions options() const {
    kube::CallOptions opts;
    opts.deadline = deadline_;
    opts.cancel = cancel_;
    opts.request_id = request_id_;
    return opts;
  }

  // Finishes the call with `status`; when it is OK, with the response (EncodeResponse()).
  void FinishWith(absl::Status status) {
    if (status.ok()) status = EncodeResponse();
    grpc::Status mapped = ToGrpcStatus(status, method_);
    const absl::Duration latency = absl::Now() - start_;
    LogWithFields(LogLevel::kInfo, "rpc finished",
                  CallLogFields(method_, sandbox_, caller_, request_id_, status, latency));
    if (mapped.ok()) metrics_->MessageSent(ServerMetrics::RpcType::kUnary, method_);
    metrics_->RpcHandled(ServerMetrics::RpcType::kUnary, method_, mapped.error_code(), latency);
    Finish(mapped);
  }

  void OnCancel() override { cancel_->Cancel(); }
  void OnDone() override { delete this; }

 protected:
  // Hands the response of a successful call to gRPC; an error replaces OK.
  virtual absl::Status EncodeResponse() { return absl::OkStatus(); }

 private:
  const std::string method_;
  ServerMetrics* const metrics_;
  const absl::Time start_;
  const std::shared_ptr<kube::CancellationToken> cancel_;
  const auth::Credentials credentials_;
  std::string request_id_;
  std::string sandbox_;
  std::string caller_;  // set once authenticated
  absl::Time deadline_;
};

// A callback that stores the sandbox in `response->mutable_sandbox()` and finishes `call`.
template <typename Response>
service::Done<domain::Sandbox> ReplySandbox(UnaryCall* call, Response* response) {
  return [call, response](absl::StatusOr<domain::Sandbox> sandbox) {
    if (sandbox.ok()) *response->mutable_sandbox() = SandboxToProto(*sandbox);
    call->FinishWith(sandbox.status());
  };
}

// Domain validation names fields relative to the spec; CreateSandboxRequest nests the
// spec under "spec", so its field paths get that prefix.
absl::Status UnderSpec(const absl::Status& status) {
  domain::ErrorDetail detail = domain::GetErrorDetail(status);
  auto field = detail.metadata.find("field");
  if (detail.reason != domain::reason::kInvalidField || field == detail.metadata.end() ||
      absl::StartsWith(field->second, "spec")) {
    return status;
  }
  return domain::InvalidField(absl::StrCat("spec.", field->second), detail.metadata["why"]);
}

// The request of a raw method, parsed; INVALID_ARGUMENT (MALFORMED_REQUEST) if it is not
// a valid `Request`.
template <typename Request>
absl::StatusOr<Request> ParseRawRequest(const grpc::ByteBuffer& raw) {
  if (raw.Length() == 0) return Request();  // a message with every field unset
  grpc::ByteBuffer bytes(raw);  // Deserialize consumes its input; this copy shares slices
  Request request;
  if (!grpc::SerializationTraits<Request>::Deserialize(&bytes, &request).ok()) {
    return domain::MakeError(absl::StatusCode::kInvalidArgument, domain::reason::kMalformedRequest,
                             absl::StrCat("the request is not a valid ",
                                          Request::descriptor()->full_name()));
  }
  return request;
}

// A unary call of a raw method: owns the parsed request and the response, which it
// serializes into gRPC's response buffer when the call finishes with OK.
template <typename Request, typename Response>
class RawUnaryCall final : public UnaryCall {
 public:
  RawUnaryCall(grpc::CallbackServerContext* ctx, absl::string_view method,
               grpc::ByteBuffer* raw_response, ServerMetrics* metrics)
      : UnaryCall(ctx, method, metrics), raw_response_(raw_response) {}

  Request request;
  Response response;

 private:
  absl::Status EncodeResponse() override {
    bool own_buffer = false;
    grpc::Status encoded =
        grpc::SerializationTraits<Response>::Serialize(response, raw_response_, &own_buffer);
    if (encoded.ok()) return absl::OkStatus();
    return absl::InternalError(absl::StrCat("cannot serialize the ",
                                            Response::descriptor()->full_name(), ": ",
                                            encoded.error_message()));
  }

  grpc::ByteBuffer* const raw_response_;  // gRPC's; valid until the call finishes
};

// Start and Stop: the same call shape.
template <typename Request, typename Response>
void ScaleCall(UnaryCall* call, const Request* request, Response* response,
               void (service::SandboxService::*op)(const std::string&, const std::string&,
                                                   const kube::CallOptions&,
                                                   service::Done<domain::Sandbox>),
               service::SandboxService* service, auth::AccessControl* access) {
  absl::StatusOr<SandboxRef> ref = RefFromRequest(*request);
  if (!ref.ok()) return call->FinishWith(ref.status());
  call->set_sandbox(ref->ns, ref->name);
  call->Admit(access, "update", ref->ns, ref->name, [=, ref = *ref]() {
    (service->*op)(ref.ns, ref.name, call->options(), ReplySandbox(call, response));
  });
}

}  // namespace

// Parses `raw_request` as a `Request` (bytes that are not one finish the call with
// INVALID_ARGUMENT, MALFORMED_REQUEST) and then calls `handle(call, &request, &response)`.
// The request and response live as long as the call.
template <typename Request, typename Response, typename Handle>
grpc::ServerUnaryReactor* SandboxLifecycleService::RunUnary(grpc::CallbackServerContext* ctx,
                                                            absl::string_view method,
                                                            const grpc::ByteBuffer* raw_request,
                                                            grpc::ByteBuffer* raw_response,
                                                            Handle handle) {
  auto* call = new RawUnaryCall<Request, Response>(ctx, method, raw_response, metrics_);
  absl::StatusOr<Request> request = ParseRawRequest<Request>(*raw_request);
  if (!request.ok()) {
    call->FinishWith(request.status());
    return call;
  }
  call->request = *std::move(request);
  handle(static_cast<UnaryCall*>(call), &std::as_const(call->request), &call->response);
  return call;
}

WatchReactor::Admission SandboxLifecycleService::AdmitWatch(
    grpc::CallbackServerContext* ctx, const std::string& ns, const std::string& name,
    const std::string& resume_token, const std::string& min_resource_version) {
  kube::CallOptions opts;
  opts.deadline = absl::Now() + kDefaultDeadline;  // bounds the reviews, not the stream
  kube::CallOptions wait = opts;
  wait.deadline = DeadlineOf(*ctx, kDefaultDeadline, kDefaultDeadline);  // bounds the wait
  return [this, credentials = CredentialsOf(*ctx), opts, wait, ns, name, resume_token,
          min_resource_version](WatchReactor::Admitted admitted) {
    access_->Admit(credentials, auth::AccessRequest{"watch", ns, name}, opts,
                   [this, wait, ns, resume_token, min_resource_version,
                    admitted = std::move(admitted)](auth::Admission admission) {
                     if (!admission.caller.has_value()) return admitted("", admission.status);
                     std::string caller = admission.caller->username;
                     if (!admission.status.ok()) return admitted(caller, admission.status);
                     absl::StatusOr<auth::CallerLimits::WatchLease> slot =
                         access_->OpenWatch(*admission.caller);
                     if (!slot.ok()) return admitted(caller, slot.status());
                     auto lease = std::make_shared<WatchReactor::Lease>(*std::move(slot));
                     service_->AwaitWatchStart(ns, resume_token, min_resource_version, wait,
                                               [admitted, caller, lease](absl::Status caught_up) {
                                                 if (!caught_up.ok())
                                                   return admitted(caller, caught_up);
                                                 admitted(caller, std::move(*lease));
                                               });
                   });
  };
}

grpc::ServerUnaryReactor* SandboxLifecycleService::CreateSandbox(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<pb::CreateSandboxRequest, pb::CreateSandboxResponse>(
      ctx, "CreateSandbox", raw_request, raw_response,
      [this](UnaryCall* call, const pb::CreateSandboxRequest* request,
             pb::CreateSandboxResponse* response) {
        absl::StatusOr<domain::SandboxSpec> spec = SpecFromCreateRequest(*request);
        if (!spec.ok()) return call->FinishWith(spec.status());
        call->set_sandbox(spec->ns, spec->name);
        call->Admit(access_, "create", spec->ns, "", [this, call, response, spec = *spec]() {
          service_->Create(spec, call->options(),
                           [call, response](absl::StatusOr<domain::Sandbox> sandbox) {
                             if (sandbox.ok()) {
                               *response->mutable_sandbox() = SandboxToProto(*sandbox);
                             }
                             call->FinishWith(UnderSpec(sandbox.status()));
                           });
        });
      });
}

grpc::ServerUnaryReactor* SandboxLifecycleService::GetSandbox(grpc::CallbackServerContext* ctx,
                                                              const grpc::ByteBuffer* raw_request,
                                                              grpc::ByteBuffer* raw_response) {
  return RunUnary<pb::GetSandboxRequest, pb::GetSandboxResponse>(
      ctx, "GetSandbox", raw_request, raw_response,
      [this](UnaryCall* call, const pb::GetSandboxRequest* request,
             pb::GetSandboxResponse* response) {
        absl::StatusOr<SandboxRef> ref = RefFromRequest(*request);
        if (!ref.ok()) return call->FinishWith(ref.status());
        call->set_sandbox(ref->ns, ref->name);
        call->Admit(access_, "get", ref->ns, ref->name,
                    [this, call, request, response, ref = *ref]() {
                      service_->Get(ref.ns, ref.name, request->consistent_read(),
                                    request->min_resource_version(), call->options(),
                                    ReplySandbox(call, response));
                    });
      });
}

grpc::ServerUnaryReactor* SandboxLifecycleService::ListSandboxes(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<pb::ListSandboxesRequest, pb::ListSandboxesResponse>(
      ctx, "ListSandboxes", raw_request, raw_response,
      [this](UnaryCall* call, const pb::ListSandboxesRequest* request,
             pb::ListSandboxesResponse* response) {
        absl::StatusOr<domain::ListQuery> query = ListQueryFromRequest(*request, limits_);
        if (!query.ok()) return call->FinishWith(query.status());
        call->set_sandbox(query->ns, "*");
        auto reply = [call, response](absl::StatusOr<domain::ListResult> result) {
          if (result.ok()) *response = ListResultToProto(*result);
          call->FinishWith(result.status());
        };
        call->Admit(access_, "list", query->ns, "", [this, call, request, reply, query = *query]() {
          service_->List(query, request->consistent_read(), request->min_resource_version(),
                         call->options(), reply);
        });
      });
}

grpc::ServerUnaryReactor* SandboxLifecycleService::StartSandbox(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<pb::StartSandboxRequest, pb::StartSandboxResponse>(
      ctx, "StartSandbox", raw_request, raw_response,
      [this](UnaryCall* call, const pb::StartSandboxRequest* request,
             pb::StartSandboxResponse* response) {
        ScaleCall(call, request, response, &service::SandboxService::Start, service_, access_);
      });
}

grpc::ServerUnaryReactor* SandboxLifecycleService::StopSandbox(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<pb::StopSandboxRequest, pb::StopSandboxResponse>(
      ctx, "StopSandbox", raw_request, raw_response,
      [this](UnaryCall* call, const pb::StopSandboxRequest* request,
             pb::StopSandboxResponse* response) {
        ScaleCall(call, request, response, &service::SandboxService::Stop, service_, access_);
      });
}

grpc::ServerUnaryReactor* SandboxLifecycleService::UpdateSandboxEnv(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<pb::UpdateSandboxEnvRequest, pb::UpdateSandboxEnvResponse>(
      ctx, "UpdateSandboxEnv", raw_request, raw_response,
      [this](UnaryCall* call, const pb::UpdateSandboxEnvRequest* request,
             pb::UpdateSandboxEnvResponse* response) {
        absl::StatusOr<EnvUpdateCall> update = EnvUpdateFromRequest(*request);
        if (!update.ok()) return call->FinishWith(update.status());
        call->set_sandbox(update->ref.ns, update->ref.name);
        call->Admit(access_, "update", update->ref.ns, update->ref.name,
                    [this, call, response, update = *update]() {
                      service_->UpdateEnv(update.ref.ns, update.ref.name, update.update,
                                          call->options(), ReplySandbox(call, response));
                    });
      });
}

grpc::ServerUnaryReactor* SandboxLifecycleService::DeleteSandbox(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<pb::DeleteSandboxRequest, pb::DeleteSandboxResponse>(
      ctx, "DeleteSandbox", raw_request, raw_response,
      [this](UnaryCall* call, const pb::DeleteSandboxRequest* request,
             pb::DeleteSandboxResponse* /*response*/) {
        absl::StatusOr<domain::DeleteRequest> del = DeleteRequestFromRequest(*request);
        if (!del.ok()) return call->FinishWith(del.status());
        call->set_sandbox(del->ns, del->name);
        call->Admit(access_, "delete", del->ns, del->name, [this, call, del = *del]() {
          service_->Delete(del, call->options(),
                           [call](absl::Status status) { call->FinishWith(status); });
        });
      });
}

// The answer of MigrateSandbox and RollbackMigration: the report in `out`.
service::Done<domain::MigrationReport> ReplyMigration(UnaryCall* call, pb::Migration* out) {
  return [call, out](absl::StatusOr<domain::MigrationReport> report) {
    if (report.ok()) *out = MigrationToProto(*report);
    call->FinishWith(report.status());
  };
}

grpc::ServerUnaryReactor* SandboxLifecycleService::MigrateSandbox(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<pb::MigrateSandboxRequest, pb::MigrateSandboxResponse>(
      ctx, "MigrateSandbox", raw_request, raw_response,
      [this](UnaryCall* call, const pb::MigrateSandboxRequest* request,
             pb::MigrateSandboxResponse* response) {
        absl::StatusOr<SandboxRef> ref = RefFromRequest(*request);
        if (!ref.ok()) return call->FinishWith(ref.status());
        call->set_sandbox(ref->ns, ref->name);
        call->Admit(
            access_, "update", ref->ns, ref->name, [this, call, request, response, ref = *ref]() {
              migrations_->Migrate(ref.ns, ref.name, request->dry_run(), call->options(), nullptr,
                                   ReplyMigration(call, response->mutable_migration()));
            });
      });
}

grpc::ServerUnaryReactor* SandboxLifecycleService::RollbackMigration(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<pb::RollbackMigrationRequest, pb::RollbackMigrationResponse>(
      ctx, "RollbackMigration", raw_request, raw_response,
      [this](UnaryCall* call, const pb::RollbackMigrationRequest* request,
             pb::RollbackMigrationResponse* response) {
        absl::StatusOr<domain::RollbackRequest> rollback = RollbackFromRequest(*request);
        if (!rollback.ok()) return call->FinishWith(rollback.status());
        call->set_sandbox(rollback->ns, rollback->name);
        call->Admit(access_, "update", rollback->ns, rollback->name,
                    [this, call, response, rollback = *rollback]() {
                      migrations_->Rollback(rollback, call->options(),
                                            ReplyMigration(call, response->mutable_rollback()));
                    });
      });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* SandboxLifecycleService::MigrateSandboxes(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw_request) {
  return MigrationStream::Start(ctx, ParseRawRequest<pb::MigrateSandboxesRequest>(*raw_request),
                                migrations_, access_, metrics_);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* SandboxLifecycleService::WatchSandbox(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw_request) {
  absl::StatusOr<pb::WatchSandboxRequest> request =
      ParseRawRequest<pb::WatchSandboxRequest>(*raw_request);
  WatchReactor::CallNames names{"WatchSandbox", "", RequestIdOf(*ctx)};
  if (!request.ok()) return WatchReactor::Reject(request.status(), std::move(names), metrics_);
  absl::StatusOr<SandboxRef> ref = RefFromRequest(*request);
  if (!ref.ok()) return WatchReactor::Reject(ref.status(), std::move(names), metrics_);
  names.sandbox = absl::StrCat(ref->ns, "/", ref->name);
  service::WatchFilter filter;
  filter.ns = ref->ns;
  filter.name = ref->name;
  return WatchReactor::Start(
      cache_, fanout_, std::move(filter), request->resume_token(), std::move(names),
      AdmitWatch(ctx, ref->ns, ref->name, request->resume_token(), request->min_resource_version()),
      metrics_);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* SandboxLifecycleService::WatchSandboxes(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw_request) {
  absl::StatusOr<pb::WatchSandboxesRequest> request =
      ParseRawRequest<pb::WatchSandboxesRequest>(*raw_request);
  WatchReactor::CallNames names{"WatchSandboxes", "", RequestIdOf(*ctx)};
  if (!request.ok()) return WatchReactor::Reject(request.status(), std::move(names), metrics_);
  absl::Status valid = ValidateWatchSandboxesRequest(*request, limits_);
  if (!valid.ok()) return WatchReactor::Reject(valid, std::move(names), metrics_);
  names.sandbox = absl::StrCat(request->namespace_(), "/*");
  service::WatchFilter filter;
  filter.ns = request->namespace_();
  filter.project = request->project();
  filter.label_selector = request->label_selector();
  const std::string ns = filter.ns;
  return WatchReactor::Start(
      cache_, fanout_, std::move(filter), request->resume_token(), std::move(names),
      AdmitWatch(ctx, ns, "", request->resume_token(), request->min_resource_version()), metrics_);
}

}  // namespace sandboxd::server
