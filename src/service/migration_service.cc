#include "src/service/migration_service.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "src/domain/builders.h"
#include "src/domain/error_reasons.h"
#include "src/domain/errors.h"
#include "src/domain/naming.h"
#include "src/domain/validation.h"
#include "src/kube/kube_request.h"
#include "src/kube/objects_json.h"
#include "src/kube/patches.h"
#include "src/kube/raw_objects.h"
#include "src/service/barrier.h"
#include "src/service/kube_reads.h"

namespace sandboxd::service {
namespace {

using domain::MigrationOutcome;
using domain::MigrationReport;
using domain::MigrationStep;
using domain::PlannedChange;
using kube::Kind;
using kube::ObjectRef;

absl::Status InProgress(const std::string& ns, const std::string& name,
                        const domain::MigrationLease& lease) {
  return domain::MakeError(
      absl::StatusCode::kAborted, domain::reason::kMigrationInProgress,
      absl::StrCat("another call is migrating or rolling back ", ns, "/", name,
                   "; retry once it has finished"),
      {{"namespace", ns},
       {"name", name},
       {"holder", lease.holder},
       {"leaseExpires", lease.expires == absl::InfinitePast()
                            ? ""
                            : kube::FormatTimestamp(lease.expires)}});
}

// One Kubernetes write of a migration or rollback: what it is (the report's change) and
// which answers count as done.
struct Write {
  PlannedChange change;
  ObjectRef ref;
  kube::DeleteOptions del;        // kDelete only
  bool exists_is_done = false;    // kCreate: ALREADY_EXISTS counts as done
};

Write MakeWrite(PlannedChange::Action action, Kind kind, const std::string& ns,
                const std::string& name, std::string body) {
  Write w;
  w.change.action = action;
  w.change.kind = std::string(kube::ResourceFor(kind).kind);
  w.change.name = name;
  w.change.body = std::move(body);
  w.ref = ObjectRef{kind, ns, name};
  return w;
}

// What a migration or rollback reads first: the sandbox's objects of both eras and the
// record, each either its body or missing.
struct Found {
  MaybeBody deployment, service, app_ingress, ttyd_ingress, statefulset, record;
};

// The sandbox's objects as read, decoded; the originals (what the record stores, as
// JSON by RecordKey*) come from the record once it exists, else from the live objects.
struct Objects {
  std::optional<kube::Deployment> deployment;  // live
  std::optional<kube::Service> service;
  std::optional<kube::Ingress> app_ingress, ttyd_ingress;
  std::optional<kube::StatefulSet> statefulset;
  std::optional<kube::ConfigMap> record;
  kube::StringMap saved;                   // RecordKey* -> JSON
  domain::DeploymentEraObjects originals;  // `saved`, decoded (valid once it has a Deployment)
};

template <typename T>
absl::Status DecodeInto(const MaybeBody& body, std::optional<T>* out) {
  absl::StatusOr<std::optional<T>> decoded = DecodeMaybe<T>(body);
  if (!decoded.ok()) return decoded.status();
  *out = *std::move(decoded);
  return absl::OkStatus();
}

// Saves `body` (if the object exists) under `key`.
absl::Status Save(const MaybeBody& body, const char* key, kube::StringMap* saved) {
  if (!body.ok()) return body.status();
  if (!body->has_value()) return absl::OkStatus();
  absl::StatusOr<std::string> copy = kube::SavedCopy(**body);
  if (!copy.ok()) return copy.status();
  (*saved)[key] = *std::move(copy);
  return absl::OkStatus();
}

// The saved object under `key`, decoded, if there is one.
template <typename T>
absl::Status Restore(const kube::StringMap& saved, const char* key, std::optional<T>* out) {
  auto it = saved.find(key);
  if (it == saved.end()) return absl::OkStatus();
  return DecodeInto(MaybeBody(std::optional<std::string>(it->second)), out);
}

absl::StatusOr<Objects> DecodeFound(const Found& found) {
  Objects o;
  SANDBOXD_RETURN_IF_ERROR(DecodeInto(found.deployment, &o.deployment));
  SANDBOXD_RETURN_IF_ERROR(DecodeInto(found.service, &o.service));
  SANDBOXD_RETURN_IF_ERROR(DecodeInto(found.app_ingress, &o.app_ingress));
  SANDBOXD_RETURN_IF_ERROR(DecodeInto(found.ttyd_ingress, &o.ttyd_ingress));
  SANDBOXD_RETURN_IF_ERROR(DecodeInto(found.statefulset, &o.statefulset));
  SANDBOXD_RETURN_IF_ERROR(DecodeInto(found.record, &o.record));
  if (o.record.has_value()) {
    o.saved = o.record->data;
  } else {
    SANDBOXD_RETURN_IF_ERROR(Save(found.deployment, domain::kRecordKeyDeployment, &o.saved));
    SANDBOXD_RETURN_IF_ERROR(Save(found.service, domain::kRecordKeyService, &o.saved));
    SANDBOXD_RETURN_IF_ERROR(Save(found.app_ingress, domain::kRecordKeyAppIngress, &o.saved));
    SANDBOXD_RETURN_IF_ERROR(Save(found.ttyd_ingress, domain::kRecordKeyTtydIngress, &o.saved));
  }
  std::optional<kube::Deployment> deployment;
  SANDBOXD_RETURN_IF_ERROR(Restore(o.saved, domain::kRecordKeyDeployment, &deployment));
  if (deployment.has_value()) o.originals.deployment = *std::move(deployment);
  SANDBOXD_RETURN_IF_ERROR(Restore(o.saved, domain::kRecordKeyService, &o.originals.service));
  SANDBOXD_RETURN_IF_ERROR(
      Restore(o.saved, domain::kRecordKeyAppIngress, &o.originals.app_ingress));
  SANDBOXD_RETURN_IF_ERROR(
      Restore(o.saved, domain::kRecordKeyTtydIngress, &o.originals.ttyd_ingress));
  return o;
}

}  // namespace

// ---- the common part of a migration and a rollback ----------------------------------

// One call working on one sandbox: reads its objects, holds the in-process claim and the
// record's lease, runs writes in order and collects them in the report. Subclasses
// define the steps. Lives (shared_ptr) until it finishes; Finish() runs exactly once.
class SandboxJob : public std::enable_shared_from_this<SandboxJob> {
 public:
  SandboxJob(MigrationService* service, std::string ns, std::string name, bool dry_run,
             kube::CallOptions opts, Done<MigrationReport> done)
      : svc_(service), ns_(std::move(ns)), name_(std::move(name)), dry_run_(dry_run),
        opts_(std::move(opts)), done_(std::move(done)) {
    opts_.idempotent_writes = true;
    report_.ns = ns_;
    report_.name = name_;
  }
  virtual ~SandboxJob() = default;

  void Start() {
    if (!svc_->Enter(Key())) return done_(InProgress(ns_, name_, {"(this process)", {}}));
    entered_ = true;
    Read();
  }

 protected:
  virtual void OnRead() = 0;

  std::string Key() const { return absl::StrCat(ns_, "/", name_); }
  kube::KubeClient* kube() const { return svc_->kube_; }
  SandboxService* sandboxes() const { return svc_->sandboxes_; }
  const domain::SandboxDefaults& defaults() const { return svc_->defaults_; }
  absl::Time Now() const { return svc_->clock_(); }

  void Finish(absl::Status error) {
    if (entered_) svc_->Leave(Key());
    entered_ = false;
    if (!error.ok()) return done_(error);
    done_(report_);
  }

  // OK unless another live call holds the record's lease.
  absl::Status CheckLease() const {
    if (!objects_.record.has_value()) return absl::OkStatus();
    domain::MigrationLease lease = domain::LeaseOf(*objects_.record);
    if (lease.holder.empty() || lease.expires <= Now() || svc_->IsOurs(lease.holder)) {
      return absl::OkStatus();
    }
    return InProgress(ns_, name_, lease);
  }

  domain::MigrationLease NewLease() const {
    absl::Time expires = opts_.deadline;
    if (expires == absl::InfiniteFuture()) {
      expires = Now() + MigrationService::kBatchItemTimeout;
    }
    return domain::MigrationLease{svc_->NewHolder(), expires};
  }

  // PATCHes the record (step, lease, owners) with its resourceVersion; a conflict means
  // another call took it over.
  void PatchRecord(kube::MetadataPatch patch, std::function<void()> then) {
    auto self = shared_from_this();
    kube()->Patch(ObjectRef{Kind::kConfigMap, ns_, domain::MigrationRecordName(name_)}, "",
                  kube::PatchType::kMerge, kube::ToJson(patch), opts_,
                  [self, then](absl::StatusOr<std::string> r) {
                    if (absl::IsAborted(r.status())) {
                      return self->Finish(InProgress(self->ns_, self->name_, {}));
                    }
                    if (!r.ok()) return self->Finish(domain::WithContext(r.status(), "record"));
                    absl::StatusOr<kube::ConfigMap> record = kube::Decode<kube::ConfigMap>(*r);
                    if (!record.ok()) return self->Finish(record.status());
                    self->objects_.record = *std::move(record);
                    then();
                  });
  }

  // Sends `writes` in order (each added to the report's changes when sent), then `then`.
  void RunWrites(std::vector<Write> writes, std::function<void()> then) {
    auto queue = std::make_shared<std::deque<Write>>(std::make_move_iterator(writes.begin()),
                                                     std::make_move_iterator(writes.end()));
    RunNext(queue, std::move(then));
  }

  // Calls `check` every kPollInterval until it answers true (then `then`) or an error,
  // or the call's deadline passes (DEADLINE_EXCEEDED naming `what`).
  void Poll(std::function<void(std::function<void(absl::StatusOr<bool>)>)> check,
            std::string what, std::function<void()> then) {
    auto self = shared_from_this();
    check([self, check, what, then](absl::StatusOr<bool> ready) {
      if (!ready.ok()) return self->Finish(ready.status());
      if (*ready) return then();
      if (self->Now() + MigrationService::kPollInterval >= self->opts_.deadline) {
        return self->Finish(domain::MakeError(
            absl::StatusCode::kDeadlineExceeded, domain::reason::kDeadlineExceeded,
            absl::StrCat("deadline exceeded waiting until ", what,
                         "; call again to continue")));
      }
      absl::Status scheduled = self->kube()->RunAfter(
          MigrationService::kPollInterval, [self, check, what, then]() {
            self->Poll(check, what, then);
          });
      if (!scheduled.ok()) self->Finish(scheduled);
    });
  }

  // Polls until no pod matching `selector` is left.
  void AwaitNoPods(std::string selector, std::string what, std::function<void()> then) {
    auto self = shared_from_this();
    Poll(
        [self, selector](std::function<void(absl::StatusOr<bool>)> answer) {
          kube::ListOptions list;
          list.label_selector = selector;
          self->kube()->List(Kind::kPod, self->ns_, list, self->opts_,
                             [answer](absl::StatusOr<std::string> body) {
                               if (!body.ok()) return answer(body.status());
                               absl::StatusOr<kube::PodList> pods =
                                   kube::Decode<kube::PodList>(*body);
                               if (!pods.ok()) return answer(pods.status());
                               answer(pods->items.empty());
                             });
        },
        std::move(what), std::move(then));
  }

  MigrationService* const svc_;
  const std::string ns_;
  const std::string name_;
  const bool dry_run_;
  kube::CallOptions opts_;
  Objects objects_;
  domain::MigrationLease lease_;
  MigrationReport report_;

 private:
  void Read() {
    auto self = shared_from_this();
    auto found = std::make_shared<Found>();
    auto barrier = std::make_shared<Barrier>(6, [self, found]() {
      absl::StatusOr<Objects> objects = DecodeFound(*found);
      if (!objects.ok()) return self->Finish(objects.status());
      self->objects_ = *std::move(objects);
      self->OnRead();
    });
    auto get = [&](Kind kind, const std::string& name, MaybeBody Found::*slot) {
      kube()->Get(ObjectRef{kind, ns_, name}, "", opts_,
                  [found, barrier, slot](absl::StatusOr<std::string> body) {
                    (*found).*slot = AllowNotFound(std::move(body));
                    barrier->Arrive();
                  });
    };
    get(Kind::kDeployment, name_, &Found::deployment);
    get(Kind::kService, domain::ServiceName(name_), &Found::service);
    get(Kind::kIngress, domain::AppIngressName(name_), &Found::app_ingress);
    get(Kind::kIngress, domain::TtydIngressName(name_), &Found::ttyd_ingress);
    get(Kind::kStatefulSet, name_, &Found::statefulset);
    get(Kind::kConfigMap, domain::MigrationRecordName(name_), &Found::record);
  }

  void RunNext(std::shared_ptr<std::deque<Write>> queue, std::function<void()> then) {
    if (queue->empty()) return then();
    Write w = std::move(queue->front());
    queue->pop_front();
    report_.changes.push_back(w.change);
    auto self = shared_from_this();
    auto next = [self, queue, then, w](absl::StatusOr<std::string> r) {
      const bool done_already =
          (w.exists_is_done && absl::IsAlreadyExists(r.status())) ||
          (w.change.action == PlannedChange::Action::kDelete && absl::IsNotFound(r.status()));
      if (!r.ok() && !done_already) {
        return self->Finish(domain::WithContext(
            r.status(), absl::StrCat(absl::AsciiStrToLower(w.change.kind), " ", w.change.name)));
      }
      self->RunNext(queue, then);
    };
    switch (w.change.action) {
      case PlannedChange::Action::kCreate:
        return kube()->Create(w.ref.kind, ns_, w.change.body, opts_, next);
      case PlannedChange::Action::kPatch:
        return kube()->Patch(w.ref, "", kube::PatchType::kMerge, w.change.body, opts_, next);
      case PlannedChange::Action::kDelete:
        return kube()->Delete(w.ref, w.del, opts_, next);
    }
  }

  bool entered_ = false;
  const Done<MigrationReport> done_;
};

// ---- migration ----------------------------------------------------------------------

class MigrationRun final : public SandboxJob {
 public:
  MigrationRun(MigrationService* service, std::string ns, std::string name, bool dry_run,
               kube::CallOptions opts, MigrationService::Progress progress,
               Done<MigrationReport> done)
      : SandboxJob(service, std::move(ns), std::move(name), dry_run, std::move(opts),
                   std::move(done)),
        progress_(std::move(progress)) {}

 private:
  std::shared_ptr<MigrationRun> self() {
    return std::static_pointer_cast<MigrationRun>(shared_from_this());
  }

  void OnRead() override {
    const auto& sts = objects_.statefulset;
    const auto& record = objects_.record;
    if (sts.has_value()) {
      if (!IsManaged(sts->metadata)) {
        return Finish(domain::MakeError(
            absl::StatusCode::kAlreadyExists, domain::reason::kSandboxAlreadyExists,
            absl::StrCat("a StatefulSet ", ns_, "/", name_,
                         " exists that sandboxd does not manage"),
            {{"namespace", ns_}, {"name", name_}}));
      }
      if (!record.has_value()) {
        return Finish(domain::MakeError(
            absl::StatusCode::kFailedPrecondition, domain::reason::kNotDeploymentEra,
            absl::StrCat("StatefulSet/", name_,
                         ": a sandbox that sandboxd created, not a Deployment-era one"),
            {{"object", absl::StrCat("StatefulSet/", name_)}, {"field", "metadata.name"}}));
      }
      if (domain::RecordedStep(*record) == MigrationStep::kDeploymentDeleted) {
        report_.outcome = MigrationOutcome::kAlreadyMigrated;
        report_.step = MigrationStep::kDeploymentDeleted;
        return FinishWithSandbox();
      }
    }
    if (objects_.saved.count(domain::kRecordKeyDeployment) == 0) {
      return Finish(domain::MakeError(
          absl::StatusCode::kNotFound, domain::reason::kSandboxNotFound,
          absl::StrCat("no Deployment and no sandbox ", ns_, "/", name_),
          {{"namespace", ns_}, {"name", name_}}));
    }
    claim_template_ = sts.has_value() ? domain::ClaimTemplateName(*sts) : DefaultClaimTemplate();
    if (absl::Status s = domain::CheckMigratable(objects_.originals, claim_template_, defaults());
        !s.ok()) {
      return Finish(s);
    }
    if (absl::Status s = CheckLease(); !s.ok()) return Finish(s);
    lease_ = NewLease();
    if (dry_run_) return Plan();
    Acquire();
  }

  std::string DefaultClaimTemplate() const {
    domain::SandboxSpec probe;
    probe.storage.mount_path = defaults().mount_path;
    return domain::ClaimTemplateNameFor(probe, defaults());
  }

  domain::MigrationStep RecordedStep() const {
    return objects_.record.has_value() ? domain::RecordedStep(*objects_.record)
                                       : MigrationStep::kNone;
  }

  // The writes of each step, given what exists. `owner` is the StatefulSet's reference
  // (its uid is empty in a dry run before the StatefulSet exists).
  absl::StatusOr<Write> RecordWrite() const {
    return MakeWrite(PlannedChange::Action::kCreate, Kind::kConfigMap, ns_,
                     domain::MigrationRecordName(name_),
                     kube::ToJson(domain::BuildMigrationRecord(objects_.originals.deployment,
                                                               objects_.saved, lease_)));
  }
  std::vector<Write> ScaleDownWrites() const {
    const auto& d = objects_.deployment;
    if (!d.has_value() || d->spec.replicas.value_or(1) == 0) return {};
    return {MakeWrite(PlannedChange::Action::kPatch, Kind::kDeployment, ns_, name_,
                      kube::ScalePatch(0))};
  }
  absl::StatusOr<Write> StatefulSetWrite() const {
    absl::StatusOr<std::string> body = domain::MigratedStatefulSetJson(
        objects_.originals, objects_.saved.at(domain::kRecordKeyDeployment), claim_template_,
        defaults());
    if (!body.ok()) return body.status();
    return MakeWrite(PlannedChange::Action::kCreate, Kind::kStatefulSet, ns_, name_,
                     *std::move(body));
  }
  std::vector<Write> AdoptWrites(const kube::OwnerReference& owner) const {
    std::vector<Write> writes;
    const domain::SandboxSpec spec = domain::MigratedSpec(objects_.originals, defaults());
    const auto& service = objects_.service;
    if (service.has_value()) {
      if (!domain::OwnedBy(service->metadata, owner.uid) || owner.uid.empty()) {
        writes.push_back(MakeWrite(PlannedChange::Action::kPatch, Kind::kService, ns_,
                                   service->metadata.name,
                                   kube::ToJson(domain::AdoptPatch(service->metadata, owner,
                                                                   /*narrow_selector=*/true))));
      }
    } else {
      kube::Service created = objects_.statefulset.has_value()
                                  ? domain::BuildService(spec, defaults(), *objects_.statefulset)
                                  : domain::BuildService(spec, defaults());
      domain::SetOwnerReference(owner, &created.metadata);
      Write w = MakeWrite(PlannedChange::Action::kCreate, Kind::kService, ns_,
                          created.metadata.name, kube::ToJson(created));
      w.exists_is_done = true;
      writes.push_back(std::move(w));
    }
    for (const auto* ingress : {&objects_.app_ingress, &objects_.ttyd_ingress}) {
      if (!ingress->has_value()) continue;
      const kube::ObjectMeta& meta = (*ingress)->metadata;
      if (domain::OwnedBy(meta, owner.uid) && !owner.uid.empty()) continue;
      writes.push_back(MakeWrite(PlannedChange::Action::kPatch, Kind::kIngress, ns_, meta.name,
                                 kube::ToJson(domain::AdoptPatch(meta, owner, false))));
    }
    if (RecordedStep() < MigrationStep::kAdopted) {
      if (std::optional<kube::NetworkPolicy> policy = domain::BuildNetworkPolicy(ns_, defaults())) {
        Write w = MakeWrite(PlannedChange::Action::kCreate, Kind::kNetworkPolicy, ns_,
                            policy->metadata.name, kube::ToJson(*policy));
        w.exists_is_done = true;
        writes.push_back(std::move(w));
      }
    }
    return writes;
  }
  std::vector<Write> DeleteDeploymentWrites() const {
    const auto& d = objects_.deployment;
    if (!d.has_value()) return {};
    Write w = MakeWrite(PlannedChange::Action::kDelete, Kind::kDeployment, ns_, name_, "");
    w.del.precondition_uid = d->metadata.uid;
    return {w};
  }
  kube::OwnerReference Owner() const {
    return domain::StatefulSetOwnerReference(
        name_, objects_.statefulset.has_value() ? objects_.statefulset->metadata.uid : "");
  }

  void Plan() {
    std::vector<Write> writes;
    if (!objects_.record.has_value()) {
      absl::StatusOr<Write> record = RecordWrite();
      if (!record.ok()) return Finish(record.status());
      writes.push_back(*std::move(record));
    }
    for (Write& w : ScaleDownWrites()) writes.push_back(std::move(w));
    if (!objects_.statefulset.has_value()) {
      absl::StatusOr<Write> sts = StatefulSetWrite();
      if (!sts.ok()) return Finish(sts.status());
      writes.push_back(*std::move(sts));
    }
    for (Write& w : AdoptWrites(Owner())) writes.push_back(std::move(w));
    for (Write& w : DeleteDeploymentWrites()) writes.push_back(std::move(w));
    for (Write& w : writes) report_.changes.push_back(std::move(w.change));
    report_.outcome = MigrationOutcome::kWouldMigrate;
    report_.step = MigrationStep::kPlanned;
    Finish(absl::OkStatus());
  }

  // Records `step` done (with `owner` on the record when set) and reports it. A step
  // the record already shows (a resumed migration) is only reported.
  void Completed(MigrationStep step, std::optional<kube::OwnerReference> owner,
                 std::function<void()> then) {
    auto self = this->self();
    auto report = [self, step, then]() {
      self->report_.step = step;
      if (self->progress_) self->progress_(self->report_);
      then();
    };
    const kube::ObjectMeta& record = objects_.record->metadata;
    const bool owned = !owner.has_value() || domain::OwnedBy(record, owner->uid);
    if (RecordedStep() >= step && owned && step != MigrationStep::kDeploymentDeleted) {
      return report();
    }
    std::optional<std::vector<kube::OwnerReference>> owners;
    if (owner.has_value()) owners = std::vector<kube::OwnerReference>{*owner};
    domain::MigrationLease lease = lease_;
    if (step == MigrationStep::kDeploymentDeleted) lease = {};  // released
    PatchRecord(domain::RecordPatch(record.resource_version, step, lease, owners), report);
  }

  // RECORDED: create the record, or take over its lease.
  void Acquire() {
    auto self = this->self();
    if (objects_.record.has_value()) {
      kube::MetadataPatch patch = domain::RecordPatch(objects_.record->metadata.resource_version,
                                                      MigrationStep::kNone, lease_, std::nullopt);
      if (objects_.record->metadata.annotations.count(domain::kAnnotationRollbackReplicas) > 0) {
        patch.annotations[domain::kAnnotationRollbackReplicas] = std::nullopt;
      }
      return PatchRecord(std::move(patch), [self]() { self->ScaleDown(); });
    }
    absl::StatusOr<Write> record = RecordWrite();
    if (!record.ok()) return Finish(record.status());
    report_.changes.push_back(record->change);
    kube()->Create(Kind::kConfigMap, ns_, record->change.body, opts_,
                   [self](absl::StatusOr<std::string> r) {
                     if (absl::IsAlreadyExists(r.status())) {
                       return self->Finish(InProgress(self->ns_, self->name_, {}));
                     }
                     if (!r.ok()) return self->Finish(domain::WithContext(r.status(), "record"));
                     absl::StatusOr<kube::ConfigMap> created = kube::Decode<kube::ConfigMap>(*r);
                     if (!created.ok()) return self->Finish(created.status());
                     self->objects_.record = *std::move(created);
                     self->report_.step = MigrationStep::kRecorded;
                     if (self->progress_) self->progress_(self->report_);
                     self->ScaleDown();
                   });
  }

  // DEPLOYMENT_SCALED_DOWN: the Deployment at 0 replicas and its pods gone.
  void ScaleDown() {
    auto self = this->self();
    if (!objects_.deployment.has_value()) return CreateStatefulSet();  // deleted already
    RunWrites(ScaleDownWrites(), [self]() {
      std::vector<std::string> terms;
      for (const auto& [key, value] : self->objects_.deployment->spec.selector.match_labels) {
        terms.push_back(absl::StrCat(key, "=", value));
      }
      terms.push_back(absl::StrCat("!", domain::kLabelSandbox));
      self->AwaitNoPods(absl::StrJoin(terms, ","), "the Deployment's pods are gone", [self]() {
        self->Completed(MigrationStep::kDeploymentScaledDown, std::nullopt,
                        [self]() { self->CreateStatefulSet(); });
      });
    });
  }

  // STATEFULSET_CREATED: the StatefulSet exists; the record is owned by it.
  void CreateStatefulSet() {
    auto self = this->self();
    if (objects_.statefulset.has_value()) {
      return Completed(MigrationStep::kStatefulSetCreated, Owner(), [self]() { self->Adopt(); });
    }
    absl::StatusOr<Write> sts = StatefulSetWrite();
    if (!sts.ok()) return Finish(sts.status());
    report_.changes.push_back(sts->change);
    kube()->Create(Kind::kStatefulSet, ns_, sts->change.body, opts_,
                   [self](absl::StatusOr<std::string> r) {
                     // Created by an earlier attempt of this call (a resent POST) or an
                     // earlier call: read it and go on if it is the migration's.
                     if (absl::IsAlreadyExists(r.status())) return self->ReadStatefulSet();
                     if (!r.ok()) {
                       return self->Finish(domain::WithContext(r.status(), "create StatefulSet"));
                     }
                     absl::StatusOr<kube::StatefulSet> created = kube::Decode<kube::StatefulSet>(*r);
                     if (!created.ok()) return self->Finish(created.status());
                     self->objects_.statefulset = *std::move(created);
                     self->Completed(MigrationStep::kStatefulSetCreated, self->Owner(),
                                     [self]() { self->Adopt(); });
                   });
  }

  void ReadStatefulSet() {
    auto self = this->self();
    kube()->Get(ObjectRef{Kind::kStatefulSet, ns_, name_}, "", opts_,
                [self](absl::StatusOr<std::string> r) {
                  if (!r.ok()) return self->Finish(domain::WithContext(r.status(), "read StatefulSet"));
                  absl::StatusOr<kube::StatefulSet> sts = kube::Decode<kube::StatefulSet>(*r);
                  if (!sts.ok()) return self->Finish(sts.status());
                  if (!IsManaged(sts->metadata) ||
                      sts->metadata.annotations.count(domain::kAnnotationMigratedFrom) == 0) {
                    return self->Finish(domain::MakeError(
                        absl::StatusCode::kAlreadyExists, domain::reason::kSandboxAlreadyExists,
                        absl::StrCat("a StatefulSet ", self->ns_, "/", self->name_,
                                     " was created by someone else during the migration"),
                        {{"namespace", self->ns_}, {"name", self->name_}}));
                  }
                  self->objects_.statefulset = *std::move(sts);
                  self->CreateStatefulSet();
                });
  }

  // ADOPTED: Service and Ingresses owned by the StatefulSet; the namespace's NetworkPolicy
  // exists.
  void Adopt() {
    auto self = this->self();
    RunWrites(AdoptWrites(Owner()), [self]() {
      self->Completed(MigrationStep::kAdopted, std::nullopt, [self]() { self->AwaitReady(); });
    });
  }

  // SANDBOX_READY: RUNNING, or STOPPED for a stopped Deployment.
  void AwaitReady() {
    auto self = this->self();
    const domain::Phase want = objects_.statefulset->spec.replicas.value_or(1) == 0
                                   ? domain::Phase::kStopped
                                   : domain::Phase::kRunning;
    Poll(
        [self, want](std::function<void(absl::StatusOr<bool>)> answer) {
          self->sandboxes()->Get(
              self->ns_, self->name_, /*consistent_read=*/false, /*min_resource_version=*/"",
              self->opts_, [answer, want](absl::StatusOr<domain::Sandbox> sandbox) {
                if (absl::IsNotFound(sandbox.status())) return answer(false);  // cache behind
                if (!sandbox.ok()) return answer(sandbox.status());
                if (sandbox->phase == domain::Phase::kError) {
                  return answer(domain::MakeError(
                      absl::StatusCode::kFailedPrecondition, domain::reason::kFailedPrecondition,
                      absl::StrCat("the migrated sandbox is in ERROR (", sandbox->message,
                                   "); the Deployment is kept at 0 replicas: fix the cause "
                                   "and migrate again, or roll back")));
                }
                answer(sandbox->phase == want);
              });
        },
        want == domain::Phase::kRunning ? "the sandbox is RUNNING" : "the sandbox is STOPPED",
        [self]() {
          self->Completed(MigrationStep::kSandboxReady, std::nullopt,
                          [self]() { self->DeleteDeployment(); });
        });
  }

  // DEPLOYMENT_DELETED: the Deployment is gone; the lease is released.
  void DeleteDeployment() {
    auto self = this->self();
    RunWrites(DeleteDeploymentWrites(), [self]() {
      self->Completed(MigrationStep::kDeploymentDeleted, std::nullopt, [self]() {
        self->report_.outcome = MigrationOutcome::kMigrated;
        self->FinishWithSandbox();
      });
    });
  }

  void FinishWithSandbox() {
    auto self = this->self();
    sandboxes()->Get(ns_, name_, /*consistent_read=*/false, /*min_resource_version=*/"", opts_,
                     [self](absl::StatusOr<domain::Sandbox> sandbox) {
                       if (!sandbox.ok()) return self->Finish(sandbox.status());
                       self->report_.sandbox = *std::move(sandbox);
                       self->Finish(absl::OkStatus());
                     });
  }

  const MigrationService::Progress progress_;
  std::string claim_template_;
};

// ---- rollback -----------------------------------------------------------------------

class RollbackRun final : public SandboxJob {
 public:
  RollbackRun(MigrationService* service, domain::RollbackRequest request,
              kube::CallOptions opts, Done<MigrationReport> done)
      : SandboxJob(service, request.ns, request.name, request.dry_run, std::move(opts),
                   std::move(done)),
        request_(std::move(request)) {}

 private:
  std::shared_ptr<RollbackRun> self() {
    return std::static_pointer_cast<RollbackRun>(shared_from_this());
  }

  void OnRead() override {
    if (!objects_.record.has_value() ||
        objects_.saved.count(domain::kRecordKeyDeployment) == 0) {
      return Finish(domain::MakeError(
          absl::StatusCode::kFailedPrecondition, domain::reason::kNotMigrated,
          absl::StrCat(ns_, "/", name_, " has no migration record: it was not migrated"),
          {{"namespace", ns_}, {"name", name_}}));
    }
    if (absl::Status s = CheckLease(); !s.ok()) return Finish(s);
    lease_ = NewLease();
    // The replicas to give back: recorded by an earlier, interrupted rollback (which
    // may have scaled the StatefulSet to 0 already), else the StatefulSet's.
    const auto& sts = objects_.statefulset;
    const auto& recorded = objects_.record->metadata.annotations;
    auto replicas = recorded.find(domain::kAnnotationRollbackReplicas);
    if (replicas == recorded.end() || !absl::SimpleAtoi(replicas->second, &replicas_)) {
      replicas_ = sts.has_value() ? sts->spec.replicas.value_or(1)
                                  : objects_.originals.deployment.spec.replicas.value_or(1);
    }
    if (dry_run_) {
      std::vector<Write> writes = ScaleDownWrites();
      for (Write& w : RestoreWrites()) writes.push_back(std::move(w));
      absl::StatusOr<std::vector<Write>> deployment = DeploymentWrites();
      if (!deployment.ok()) return Finish(deployment.status());
      for (Write& w : *deployment) writes.push_back(std::move(w));
      for (Write& w : writes) report_.changes.push_back(std::move(w.change));
      for (PlannedChange& c : SandboxDeleteChanges()) report_.changes.push_back(std::move(c));
      report_.changes.push_back(RecordDelete().change);
      report_.outcome = MigrationOutcome::kWouldRollBack;
      return Finish(absl::OkStatus());
    }
    // Take the lease, record the replicas to give back, and free the record from the
    // StatefulSet, which goes below.
    auto self = this->self();
    kube::MetadataPatch patch =
        domain::RecordPatch(objects_.record->metadata.resource_version, MigrationStep::kRecorded,
                            lease_, std::vector<kube::OwnerReference>{});
    patch.annotations[domain::kAnnotationRollbackReplicas] = std::to_string(replicas_);
    PatchRecord(std::move(patch), [self]() { self->ScaleDown(); });
  }

  std::vector<Write> ScaleDownWrites() const {
    const auto& sts = objects_.statefulset;
    if (!sts.has_value() || sts->spec.replicas.value_or(1) == 0) return {};
    return {MakeWrite(PlannedChange::Action::kPatch, Kind::kStatefulSet, ns_, name_,
                      kube::ScalePatch(0))};
  }
  // The Service and Ingresses back as saved: no owner, no managed-by label, the
  // Deployment-era selector.
  std::vector<Write> RestoreWrites() const {
    std::vector<Write> writes;
    const domain::DeploymentEraObjects& saved = objects_.originals;
    if (objects_.service.has_value() && saved.service.has_value()) {
      const kube::MetadataPatch patch =
          domain::ReleasePatch(saved.service->metadata, saved.service->spec.selector,
                               objects_.service->metadata, objects_.service->spec.selector);
      if (!patch.labels.empty() || !patch.selector.empty() ||
          objects_.service->metadata.owner_references != saved.service->metadata.owner_references) {
        writes.push_back(MakeWrite(PlannedChange::Action::kPatch, Kind::kService, ns_,
                                   objects_.service->metadata.name, kube::ToJson(patch)));
      }
    }
    const std::pair<const std::optional<kube::Ingress>*, const std::optional<kube::Ingress>*>
        ingresses[] = {{&objects_.app_ingress, &saved.app_ingress},
                       {&objects_.ttyd_ingress, &saved.ttyd_ingress}};
    for (const auto& [live, original] : ingresses) {
      if (!live->has_value() || !original->has_value()) continue;
      const kube::MetadataPatch patch = domain::ReleasePatch(
          (*original)->metadata, {}, (*live)->metadata, {});
      if (patch.labels.empty() &&
          (*live)->metadata.owner_references == (*original)->metadata.owner_references) {
        continue;
      }
      writes.push_back(MakeWrite(PlannedChange::Action::kPatch, Kind::kIngress, ns_,
                                 (*live)->metadata.name, kube::ToJson(patch)));
    }
    return writes;
  }
  // The Deployment back: created from the saved copy, or (a migration interrupted
  // before it was deleted) scaled back.
  absl::StatusOr<std::vector<Write>> DeploymentWrites() const {
    const auto& live = objects_.deployment;
    if (live.has_value()) {
      if (live->spec.replicas.value_or(1) == replicas_) return std::vector<Write>{};
      return std::vector<Write>{MakeWrite(PlannedChange::Action::kPatch, Kind::kDeployment, ns_,
                                          name_, kube::ScalePatch(replicas_))};
    }
    std::optional<std::string> home;
    if (request_.mount_home && objects_.statefulset.has_value()) {
      home = domain::ClaimTemplateName(*objects_.statefulset);
    }
    absl::StatusOr<std::string> body = domain::RestoredDeploymentJson(
        objects_.saved.at(domain::kRecordKeyDeployment), name_, replicas_, home, defaults());
    if (!body.ok()) return body.status();
    return std::vector<Write>{MakeWrite(PlannedChange::Action::kCreate, Kind::kDeployment, ns_,
                                        name_, *std::move(body))};
  }
  // What SandboxService::Delete sends for the StatefulSet (listed, not sent by us).
  std::vector<PlannedChange> SandboxDeleteChanges() const {
    const auto& sts = objects_.statefulset;
    if (!sts.has_value()) return {};
    std::vector<PlannedChange> changes;
    if (!request_.delete_storage) {
      const auto policy = domain::RetentionPolicy(/*keep_storage_on_delete=*/true);
      changes.push_back(MakeWrite(PlannedChange::Action::kPatch, Kind::kStatefulSet, ns_, name_,
                                  kube::RetentionPolicyPatch(policy.when_deleted,
                                                             policy.when_scaled))
                            .change);
      changes.push_back(MakeWrite(PlannedChange::Action::kPatch, Kind::kPersistentVolumeClaim,
                                  ns_, domain::ClaimNameOf(*sts),
                                  kube::KeepClaimPatch(domain::kAnnotationKeptClaim))
                            .change);
    }
    changes.push_back(
        MakeWrite(PlannedChange::Action::kDelete, Kind::kStatefulSet, ns_, name_, "").change);
    return changes;
  }
  Write RecordDelete() const {
    return MakeWrite(PlannedChange::Action::kDelete, Kind::kConfigMap, ns_,
                     domain::MigrationRecordName(name_), "");
  }

  // The StatefulSet at 0 replicas and its pod gone before the Deployment may start.
  void ScaleDown() {
    auto self = this->self();
    RunWrites(ScaleDownWrites(), [self]() {
      self->AwaitNoPods(absl::StrCat(domain::kLabelSandbox, "=", self->name_),
                        "the sandbox's pod is gone", [self]() { self->Restore(); });
    });
  }

  void Restore() {
    auto self = this->self();
    absl::StatusOr<std::vector<Write>> deployment = DeploymentWrites();
    if (!deployment.ok()) return Finish(deployment.status());
    std::vector<Write> writes = RestoreWrites();
    for (Write& w : *deployment) writes.push_back(std::move(w));
    RunWrites(std::move(writes), [self]() { self->DeleteSandbox(); });
  }

  void DeleteSandbox() {
    auto self = this->self();
    auto delete_record = [self]() {
      self->RunWrites({self->RecordDelete()}, [self]() {
        self->report_.outcome = MigrationOutcome::kRolledBack;
        self->Finish(absl::OkStatus());
      });
    };
    if (!objects_.statefulset.has_value()) return delete_record();
    for (PlannedChange& c : SandboxDeleteChanges()) report_.changes.push_back(std::move(c));
    domain::DeleteRequest del;
    del.ns = ns_;
    del.name = name_;
    del.keep_storage = !request_.delete_storage;
    del.allow_missing = true;
    sandboxes()->Delete(del, opts_, [self, delete_record](absl::Status s) {
      if (!s.ok()) return self->Finish(domain::WithContext(s, "delete StatefulSet"));
      delete_record();
    });
  }

  const domain::RollbackRequest request_;
  int32_t replicas_ = 1;
};

// ---- the service --------------------------------------------------------------------

MigrationService::MigrationService(kube::KubeClient* kube, SandboxService* sandboxes,
                                   domain::SandboxDefaults defaults,
                                   std::function<absl::Time()> clock)
    : kube_(kube), sandboxes_(sandboxes), defaults_(std::move(defaults)),
      clock_(std::move(clock)),
      process_id_(absl::StrFormat("%016x", absl::Uniform<uint64_t>(absl::BitGen()))) {}

bool MigrationService::Enter(const std::string& key) {
  absl::MutexLock lock(&mu_);
  return in_work_.insert(key).second;
}

void MigrationService::Leave(const std::string& key) {
  absl::MutexLock lock(&mu_);
  in_work_.erase(key);
}

std::string MigrationService::NewHolder() {
  return absl::StrCat(process_id_, "/", calls_.fetch_add(1, std::memory_order_relaxed));
}

bool MigrationService::IsOurs(const std::string& holder) const {
  return absl::StartsWith(holder, absl::StrCat(process_id_, "/"));
}

void MigrationService::Migrate(const std::string& ns, const std::string& name, bool dry_run,
                               const kube::CallOptions& opts, Progress progress,
                               Done<MigrationReport> done) {
  if (absl::Status s = domain::ValidateNamespace(ns); !s.ok()) return done(s);
  if (absl::Status s = domain::ValidateName(name); !s.ok()) return done(s);
  std::make_shared<MigrationRun>(this, ns, name, dry_run, opts, std::move(progress),
                                 std::move(done))
      ->Start();
}

void MigrationService::Rollback(domain::RollbackRequest request, const kube::CallOptions& opts,
                                Done<MigrationReport> done) {
  if (absl::Status s = domain::ValidateNamespace(request.ns); !s.ok()) return done(s);
  if (absl::Status s = domain::ValidateName(request.name); !s.ok()) return done(s);
  if (request.mount_home && request.delete_storage) {
    return done(domain::InvalidField(
        "delete_storage", "cannot be combined with mount_home: the mounted home volume would be deleted"));
  }
  std::make_shared<RollbackRun>(this, std::move(request), opts, std::move(done))->Start();
}

// ---- batches ------------------------------------------------------------------------

namespace {

// One MigrateAll call: a queue of names worked by `concurrency` chains of Migrate calls.
class Batch : public std::enable_shared_from_this<Batch> {
 public:
  Batch(MigrationService* service, domain::MigrationBatch request,
        kube::CallOptions opts, MigrationService::Progress report,
        std::function<void(absl::StatusOr<domain::MigrationSummary>)> done,
        std::vector<std::string> names)
      : service_(service), request_(std::move(request)), opts_(std::move(opts)),
        report_(std::move(report)), done_(std::move(done)), queue_(names.begin(), names.end()),
        pending_(static_cast<int>(names.size())) {}

  void Start() ABSL_LOCKS_EXCLUDED(mu_) {
    size_t queued;
    {
      absl::MutexLock lock(&mu_);
      queued = queue_.size();
    }
    if (queued == 0) return done_(domain::MigrationSummary{});
    const int workers = std::min<int>(request_.concurrency, static_cast<int>(queued));
    for (int i = 0; i < workers; ++i) Next();
  }

 private:
  void Next() {
    std::string name;
    {
      absl::MutexLock lock(&mu_);
      if (queue_.empty()) return;
      name = queue_.front();
      queue_.pop_front();
    }
    kube::CallOptions item = opts_;
    item.deadline = std::min(opts_.deadline, absl::Now() + MigrationService::kBatchItemTimeout);
    auto self = shared_from_this();
    auto last_step = std::make_shared<MigrationStep>(MigrationStep::kNone);
    service_->Migrate(
        request_.ns, name, request_.dry_run, item,
        [self, last_step](const MigrationReport& progress) {
          *last_step = progress.step;
          self->report_(progress);
        },
        [self, name, last_step](absl::StatusOr<MigrationReport> result) {
          MigrationReport final;
          if (result.ok()) {
            final = *std::move(result);
          } else {
            final.ns = self->request_.ns;
            final.name = name;
            final.step = *last_step;
            final.outcome = domain::OutcomeOfError(result.status());
            final.error = result.status();
          }
          self->report_(final);
          bool last = false;
          {
            absl::MutexLock lock(&self->mu_);
            self->summary_.Add(final.outcome);
            last = --self->pending_ == 0;
          }
          if (last) {
            domain::MigrationSummary summary;
            {
              absl::MutexLock lock(&self->mu_);
              summary = self->summary_;
            }
            return self->done_(summary);
          }
          self->Next();
        });
  }

  MigrationService* const service_;
  const domain::MigrationBatch request_;
  const kube::CallOptions opts_;
  const MigrationService::Progress report_;
  const std::function<void(absl::StatusOr<domain::MigrationSummary>)> done_;
  absl::Mutex mu_;
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  int pending_ ABSL_GUARDED_BY(mu_);
  domain::MigrationSummary summary_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

void MigrationService::MigrateAll(
    domain::MigrationBatch request, const kube::CallOptions& opts, Progress report,
    std::function<void(absl::StatusOr<domain::MigrationSummary>)> done) {
  if (absl::Status s = domain::ValidateNamespace(request.ns); !s.ok()) return done(s);
  if (absl::Status s = domain::ValidateListFilter("", request.label_selector, defaults_.limits);
      !s.ok()) {
    return done(s);
  }
  if (request.concurrency == 0) request.concurrency = kDefaultConcurrency;
  if (request.concurrency < 1 || request.concurrency > kMaxConcurrency) {
    return done(domain::InvalidField(
        "concurrency", absl::StrCat("must be between 1 and ", kMaxConcurrency, " (0: ",
                                    kDefaultConcurrency, ")")));
  }
  // The Deployments that match, and the records of unfinished migrations that match.
  struct Listed {
    absl::StatusOr<std::string> deployments, records;
  };
  auto listed = std::make_shared<Listed>();
  auto barrier = std::make_shared<Barrier>(2, [this, request, opts, report, done, listed]() {
    if (!listed->deployments.ok()) return done(listed->deployments.status());
    if (!listed->records.ok()) return done(listed->records.status());
    absl::StatusOr<kube::DeploymentList> deployments =
        kube::Decode<kube::DeploymentList>(*listed->deployments);
    if (!deployments.ok()) return done(deployments.status());
    absl::StatusOr<kube::ConfigMapList> records =
        kube::Decode<kube::ConfigMapList>(*listed->records);
    if (!records.ok()) return done(records.status());
    std::set<std::string> names;
    for (const kube::Deployment& d : deployments->items) names.insert(d.metadata.name);
    for (const kube::ConfigMap& r : records->items) {
      auto name = r.metadata.labels.find(domain::kLabelMigration);
      if (IsManaged(r.metadata) && name != r.metadata.labels.end() &&
          domain::RecordedStep(r) != MigrationStep::kDeploymentDeleted) {
        names.insert(name->second);
      }
    }
    std::make_shared<Batch>(this, request, opts, report, done,
                            std::vector<std::string>(names.begin(), names.end()))
        ->Start();
  });
  kube::ListOptions deployments;
  deployments.label_selector = request.label_selector;
  kube_->List(Kind::kDeployment, request.ns, deployments, opts,
              [listed, barrier](absl::StatusOr<std::string> body) {
                listed->deployments = std::move(body);
                barrier->Arrive();
              });
  kube::ListOptions records;
  records.label_selector = request.label_selector.empty()
                               ? std::string(domain::kLabelMigration)
                               : absl::StrCat(domain::kLabelMigration, ",", request.label_selector);
  kube_->List(Kind::kConfigMap, request.ns, records, opts,
              [listed, barrier](absl::StatusOr<std::string> body) {
                listed->records = std::move(body);
                barrier->Arrive();
              });
}

}  // namespace sandboxd::service
