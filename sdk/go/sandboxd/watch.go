package sandboxd

import (
	"context"
	"errors"
	"io"
	"iter"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sandboxd/sandboxd/sdk/go/sandboxv1"
)

// Event is one message of a watch stream.
type Event struct {
	// Type is what happened. RESET means: discard the state built from earlier events;
	// the whole initial state follows as ADDED events, then INITIAL_STATE_COMPLETE.
	Type sandboxv1.WatchEventType
	// Sandbox is set for ADDED, MODIFIED (its whole new state) and DELETED (its last
	// known state); nil otherwise.
	Sandbox *sandboxv1.Sandbox
	// ResumeToken continues the watch after this event (see ResumeFrom).
	ResumeToken string
}

// WatchOption modifies Watch and WatchAll.
type WatchOption func(*watchOptions)

type watchOptions struct {
	resumeToken    string
	initialBackoff time.Duration
	maxBackoff     time.Duration
	onRetry        func(err error, delay time.Duration)
}

// ResumeFrom continues an earlier watch with the same arguments after the event that
// carried token (the last one the caller processed), instead of starting with the
// initial state. Nothing is skipped; an event may be repeated; a token the server can
// no longer resume from is answered with RESET.
func ResumeFrom(token string) WatchOption {
	return func(o *watchOptions) { o.resumeToken = token }
}

// ReconnectBackoff sets the delay before the first reconnect of a broken stream (default
// 100ms), doubled (with jitter) on every failed attempt up to max (default 5s).
func ReconnectBackoff(initial, max time.Duration) WatchOption {
	return func(o *watchOptions) { o.initialBackoff, o.maxBackoff = initial, max }
}

// OnRetry calls f (from the watching goroutine) each time a broken stream is about to
// be reopened after delay, with the error that broke it. For logging.
func OnRetry(f func(err error, delay time.Duration)) WatchOption {
	return func(o *watchOptions) { o.onRetry = f }
}

// Watch streams the state of one sandbox: ADDED (if it exists), INITIAL_STATE_COMPLETE,
// then MODIFIED / DELETED / ADDED as it changes, is deleted or created again. The
// sandbox need not exist.
//
// The sequence never ends by itself. When the stream breaks (UNAVAILABLE: sandboxd
// restarting; RESOURCE_EXHAUSTED with a retry delay; an end without status) Watch opens
// a new one with the resume token of the last event the loop body finished with, after
// a backoff, so no change is skipped; the new stream may begin with RESET. Any other
// error, or the end of ctx, is yielded once as the error and ends the sequence; so does
// breaking out of the loop, which also closes the stream.
//
//	for ev, err := range client.Watch(ctx, ns, name) {
//		if err != nil { return err }
//		...
//	}
func (c *Client) Watch(ctx context.Context, namespace, name string, opts ...WatchOption) iter.Seq2[Event, error] {
	return c.watch(ctx, opts, func(ctx context.Context, token string) (func() (watchMessage, error), error) {
		stream, err := c.rpc.WatchSandbox(ctx, &sandboxv1.WatchSandboxRequest{
			Namespace: namespace, Name: name, ResumeToken: token,
		})
		if err != nil {
			return nil, err
		}
		return func() (watchMessage, error) { return stream.Recv() }, nil
	})
}

// WatchAll streams the state of every sandbox of namespace that matches filter: one
// ADDED per sandbox, INITIAL_STATE_COMPLETE, then ADDED / MODIFIED / DELETED as
// sandboxes change. Events of one sandbox arrive in order; a slow consumer may see only
// the latest state of a sandbox. Reconnection and errors are as for Watch.
func (c *Client) WatchAll(ctx context.Context, namespace string, filter Filter, opts ...WatchOption) iter.Seq2[Event, error] {
	return c.watch(ctx, opts, func(ctx context.Context, token string) (func() (watchMessage, error), error) {
		stream, err := c.rpc.WatchSandboxes(ctx, &sandboxv1.WatchSandboxesRequest{
			Namespace: namespace, Project: filter.Project, LabelSelector: filter.LabelSelector,
			ResumeToken: token,
		})
		if err != nil {
			return nil, err
		}
		return func() (watchMessage, error) { return stream.Recv() }, nil
	})
}

// watchMessage is what WatchSandboxResponse and WatchSandboxesResponse have in common.
type watchMessage interface {
	GetType() sandboxv1.WatchEventType
	GetSandbox() *sandboxv1.Sandbox
	GetResumeToken() string
}

// openStream opens a stream that resumes after token ("" for the initial state) and
// returns its receive function.
type openStream func(ctx context.Context, token string) (func() (watchMessage, error), error)

func (c *Client) watch(ctx context.Context, opts []WatchOption, open openStream) iter.Seq2[Event, error] {
	o := watchOptions{initialBackoff: 100 * time.Millisecond, maxBackoff: 5 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	return func(yield func(Event, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel() // closes the stream when the loop ends
		token := o.resumeToken
		backoff := o.initialBackoff
		for {
			err := func() error {
				// Each stream gets its own context so that an abandoned one is closed.
				streamCtx, closeStream := context.WithCancel(ctx)
				defer closeStream()
				recv, err := open(streamCtx, token)
				if err != nil {
					return err
				}
				for {
					msg, err := recv()
					if err != nil {
						return err
					}
					backoff = o.initialBackoff
					ev := Event{Type: msg.GetType(), Sandbox: msg.GetSandbox(), ResumeToken: msg.GetResumeToken()}
					if !yield(ev, nil) {
						return errStopped
					}
					token = ev.ResumeToken // processed: the loop body returned
				}
			}()
			if errors.Is(err, errStopped) {
				return
			}
			if ctx.Err() != nil {
				yield(Event{}, ctx.Err())
				return
			}
			delay, retry := retryDelay(err, backoff)
			if !retry {
				yield(Event{}, asError(err))
				return
			}
			if o.onRetry != nil {
				o.onRetry(asError(err), delay)
			}
			timer := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				timer.Stop()
				yield(Event{}, ctx.Err())
				return
			case <-timer.C:
			}
			backoff = min(2*backoff, o.maxBackoff)
		}
	}
}

// errStopped: the caller broke out of the loop.
var errStopped = errors.New("watch stopped by the caller")

// retryDelay says whether a broken stream is reopened, and after how long: a random
// delay between 1/2 and 3/2 of backoff, and at least the server's RetryInfo delay.
func retryDelay(err error, backoff time.Duration) (time.Duration, bool) {
	delay := backoff/2 + rand.N(backoff+1)
	if errors.Is(err, io.EOF) {
		return delay, true
	}
	var e *Error
	if !errors.As(asError(err), &e) {
		return 0, false
	}
	switch {
	case e.Code == codes.Unavailable:
		return delay, true
	case e.Code == codes.ResourceExhausted && e.RetryDelay > 0:
		return max(delay, e.RetryDelay), true
	}
	return 0, false
}
