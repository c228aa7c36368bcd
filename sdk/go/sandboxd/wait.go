package sandboxd

import (
	"context"
	"errors"
	"fmt"

	"github.com/sandboxd/sandboxd/sdk/go/sandboxv1"
)

// ErrSandboxFailed matches (errors.Is) the *PhaseError of a sandbox that WaitFor saw in
// SANDBOX_PHASE_ERROR.
var ErrSandboxFailed = errors.New("sandboxd: sandbox is in SANDBOX_PHASE_ERROR")

// ErrSandboxDeleted: the sandbox WaitFor waited for was deleted (or began deleting).
var ErrSandboxDeleted = errors.New("sandboxd: sandbox was deleted")

// PhaseError is WaitFor's error for a sandbox in SANDBOX_PHASE_ERROR; Sandbox.ErrorReason
// and Sandbox.Message say why.
type PhaseError struct {
	Sandbox *sandboxv1.Sandbox
}

func (e *PhaseError) Error() string {
	spec := e.Sandbox.GetSpec()
	return fmt.Sprintf("sandboxd: sandbox %s/%s failed: %s: %s", spec.GetNamespace(), spec.GetName(),
		e.Sandbox.GetErrorReason(), e.Sandbox.GetMessage())
}

// Is makes errors.Is(err, ErrSandboxFailed) true.
func (e *PhaseError) Is(target error) bool { return target == ErrSandboxFailed }

// WaitFor watches a sandbox until it is in phase and returns it. It fails fast: with a
// *PhaseError (errors.Is ErrSandboxFailed) when the sandbox enters SANDBOX_PHASE_ERROR,
// with ErrSandboxDeleted when it is deleted or begins deleting, with ErrNotFound when it
// does not exist when the wait begins, and with ctx's error at ctx's end (set a
// deadline). Errors of the watch itself are as for Watch.
func (c *Client) WaitFor(ctx context.Context, namespace, name string, phase sandboxv1.SandboxPhase) (*sandboxv1.Sandbox, error) {
	seen := false // the sandbox has been seen (since the last RESET)
	for ev, err := range c.Watch(ctx, namespace, name) {
		if err != nil {
			return nil, err
		}
		switch ev.Type {
		case sandboxv1.WatchEventType_WATCH_EVENT_TYPE_RESET:
			seen = false
		case sandboxv1.WatchEventType_WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE:
			if !seen {
				return nil, fmt.Errorf("sandboxd: wait for %s/%s: %w", namespace, name, ErrNotFound)
			}
		case sandboxv1.WatchEventType_WATCH_EVENT_TYPE_DELETED:
			return nil, fmt.Errorf("sandboxd: wait for %s/%s to be %s: %w", namespace, name, phase, ErrSandboxDeleted)
		case sandboxv1.WatchEventType_WATCH_EVENT_TYPE_ADDED, sandboxv1.WatchEventType_WATCH_EVENT_TYPE_MODIFIED:
			seen = true
			switch got := ev.Sandbox.GetPhase(); {
			case got == phase:
				return ev.Sandbox, nil
			case got == sandboxv1.SandboxPhase_SANDBOX_PHASE_ERROR:
				return nil, &PhaseError{Sandbox: ev.Sandbox}
			case got == sandboxv1.SandboxPhase_SANDBOX_PHASE_DELETING:
				return nil, fmt.Errorf("sandboxd: wait for %s/%s to be %s: %w", namespace, name, phase, ErrSandboxDeleted)
			}
		}
	}
	return nil, errWatchEnded
}

// errWatchEnded: a watch ended without an error, which Watch never does.
var errWatchEnded = errors.New("sandboxd: watch ended without an error")

// WaitForDeleted watches a sandbox until it no longer exists (returning nil at once if it
// does not exist). It returns ctx's error at ctx's end; errors of the watch itself are
// as for Watch.
func (c *Client) WaitForDeleted(ctx context.Context, namespace, name string) error {
	present := false // the sandbox exists as far as the events since the last RESET say
	for ev, err := range c.Watch(ctx, namespace, name) {
		if err != nil {
			return err
		}
		switch ev.Type {
		case sandboxv1.WatchEventType_WATCH_EVENT_TYPE_RESET:
			present = false
		case sandboxv1.WatchEventType_WATCH_EVENT_TYPE_ADDED, sandboxv1.WatchEventType_WATCH_EVENT_TYPE_MODIFIED:
			present = true
		case sandboxv1.WatchEventType_WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE:
			if !present {
				return nil
			}
		case sandboxv1.WatchEventType_WATCH_EVENT_TYPE_DELETED:
			return nil
		}
	}
	return errWatchEnded
}
