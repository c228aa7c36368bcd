// Client::WaitFor and Client::WaitForDeleted: the state of one sandbox, followed through
// a reconnecting WatchSandbox stream until it reaches what the caller waits for.
#include <optional>

#include "absl/strings/str_cat.h"
#include "sandboxd/client.h"

namespace sandboxd {
namespace {

namespace pb = ::sandbox::v1;

absl::Status NotFound(const std::string& ns, const std::string& name, absl::string_view what) {
  return MakeError(absl::StatusCode::kNotFound, "SANDBOX_NOT_FOUND",
                   absl::StrCat("sandbox ", ns, "/", name, " ", what));
}

// What the watch says about the sandbox, RESET handled: `present` is its current state.
struct Tracked {
  std::optional<pb::Sandbox> present;
  bool initial_state_complete = false;
};

// Applies `event` to `tracked`.
void Apply(const WatchEvent& event, Tracked* tracked) {
  switch (event.type) {
    case pb::WATCH_EVENT_TYPE_RESET:
      *tracked = Tracked();
      break;
    case pb::WATCH_EVENT_TYPE_ADDED:
    case pb::WATCH_EVENT_TYPE_MODIFIED:
      tracked->present = event.sandbox;
      break;
    case pb::WATCH_EVENT_TYPE_DELETED:
      tracked->present.reset();
      break;
    case pb::WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE:
      tracked->initial_state_complete = true;
      break;
    default:
      break;
  }
}

// The next event before `deadline`; DEADLINE_EXCEEDED names what was awaited.
absl::StatusOr<WatchEvent> NextBefore(SandboxWatch& watch, absl::Time deadline,
                                      const Tracked& tracked, absl::string_view awaited) {
  absl::StatusOr<WatchEvent> event = watch.Next(deadline - absl::Now());
  if (event.status().code() == absl::StatusCode::kDeadlineExceeded) {
    std::string last = tracked.present.has_value()
                           ? pb::SandboxPhase_Name(tracked.present->phase())
                           : std::string("no sandbox");
    return MakeError(absl::StatusCode::kDeadlineExceeded, "DEADLINE_EXCEEDED",
                     absl::StrCat("timed out waiting for ", awaited, " (last seen: ", last, ")"));
  }
  return event;
}

}  // namespace

absl::StatusOr<pb::Sandbox> Client::WaitFor(const std::string& ns, const std::string& name,
                                            pb::SandboxPhase phase, absl::Duration timeout,
                                            const SandboxObserver& observer) {
  const absl::Time deadline = absl::Now() + timeout;
  const std::string awaited = absl::StrCat(ns, "/", name, " to be ", pb::SandboxPhase_Name(phase));
  pb::WatchSandboxRequest request;
  request.set_namespace_(ns);
  request.set_name(name);
  std::unique_ptr<SandboxWatch> watch = Watch(request);
  Tracked tracked;
  while (true) {
    absl::StatusOr<WatchEvent> event = NextBefore(*watch, deadline, tracked, awaited);
    if (!event.ok()) return event.status();
    Apply(*event, &tracked);
    if (event->type == pb::WATCH_EVENT_TYPE_DELETED) return NotFound(ns, name, "was deleted");
    if (event->type == pb::WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE && !tracked.present) {
      return NotFound(ns, name, "does not exist");
    }
    if (event->type != pb::WATCH_EVENT_TYPE_ADDED && event->type != pb::WATCH_EVENT_TYPE_MODIFIED) {
      continue;
    }
    const pb::Sandbox& sandbox = *tracked.present;
    if (observer) observer(sandbox);
    if (sandbox.phase() == phase) return sandbox;
    if (sandbox.phase() == pb::SANDBOX_PHASE_ERROR) {
      return MakeError(absl::StatusCode::kFailedPrecondition,
                       pb::SandboxErrorReason_Name(sandbox.error_reason()),
                       absl::StrCat("sandbox ", ns, "/", name, " failed: ", sandbox.message()));
    }
  }
}

absl::Status Client::WaitForDeleted(const std::string& ns, const std::string& name,
                                    absl::Duration timeout, const SandboxObserver& observer) {
  const absl::Time deadline = absl::Now() + timeout;
  const std::string awaited = absl::StrCat(ns, "/", name, " to be deleted");
  pb::WatchSandboxRequest request;
  request.set_namespace_(ns);
  request.set_name(name);
  std::unique_ptr<SandboxWatch> watch = Watch(request);
  Tracked tracked;
  while (true) {
    absl::StatusOr<WatchEvent> event = NextBefore(*watch, deadline, tracked, awaited);
    if (!event.ok()) return event.status();
    Apply(*event, &tracked);
    if (event->type == pb::WATCH_EVENT_TYPE_DELETED) return absl::OkStatus();
    if (event->type == pb::WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE && !tracked.present) {
      return absl::OkStatus();
    }
    if (tracked.present && observer &&
        (event->type == pb::WATCH_EVENT_TYPE_ADDED || event->type == pb::WATCH_EVENT_TYPE_MODIFIED)) {
      observer(*tracked.present);
    }
  }
}

}  // namespace sandboxd
