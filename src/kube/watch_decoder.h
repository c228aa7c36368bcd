// WatchDecoder: turns the body of a watch response (newline-delimited JSON, one
// {"type": ..., "object": {...}} document per line) into WatchEvents.
//
// Bytes arrive in arbitrary chunks (an event may be split across many chunks, a chunk may
// hold many events); the decoder keeps the unterminated tail until its newline arrives.
// An ERROR event carries a Kubernetes Status inside an HTTP 200 response; it ends the
// stream with the status mapped by kube_errors (410 Expired/Gone -> OUT_OF_RANGE). Blank
// lines are skipped; a trailing '\r' is ignored.
//
// Thread-compatible. Used by CurlKubeClient from its I/O thread; pure, so it is unit
// tested without sockets.
#ifndef SANDBOXD_KUBE_WATCH_DECODER_H_
#define SANDBOXD_KUBE_WATCH_DECODER_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/kube/kube_client.h"

namespace sandboxd::kube {

// Decodes one line (without its newline). Returns the event; nullopt for a blank line;
// the mapped status of an ERROR event as an error; INTERNAL for a line that is not a
// JSON object with a known string "type" and an object "object".
absl::StatusOr<std::optional<WatchEvent>> DecodeWatchLine(absl::string_view line);

// The status carried by the object of an ERROR event: the Status `code` mapped as an HTTP
// error (a missing code counts as 410 for reason Expired/Gone and as 500 otherwise).
absl::Status StatusFromWatchError(absl::string_view status_json);

class WatchDecoder {
 public:
  // Receives each event in order; returns false to stop decoding (Feed then returns
  // CANCELLED without decoding the rest).
  using Emit = std::function<bool(WatchEvent)>;

  // A line longer than `max_line_bytes` ends the stream with RESOURCE_EXHAUSTED.
  explicit WatchDecoder(size_t max_line_bytes = kDefaultMaxLineBytes)
      : max_line_bytes_(max_line_bytes) {}

  // Appends `bytes` and emits every event completed by them. Returns OK to go on, or the
  // status that ends the stream (ERROR event, malformed line, oversized line, CANCELLED
  // when `emit` returned false). After a non-OK result the decoder is spent: do not
  // feed it again.
  absl::Status Feed(absl::string_view bytes, const Emit& emit);

  // At the end of the body: decodes an unterminated last line, if any. Same results as
  // Feed.
  absl::Status Finish(const Emit& emit);

  // Bytes of an incomplete line held back.
  size_t buffered() const { return pending_.size(); }

  static constexpr size_t kDefaultMaxLineBytes = 64u << 20;

 private:
  absl::Status Line(absl::string_view line, const Emit& emit);

  const size_t max_line_bytes_;
  std::string pending_;
};

}  // namespace sandboxd::kube

#endif  // SANDBOXD_KUBE_WATCH_DECODER_H_
