package sandboxd_test

// These tests call a real sandboxd: run them under tests/sdk/with_sandboxd.sh, which
// sets SANDBOXD_ADDR, SANDBOXD_TOKEN, SANDBOXD_NAMESPACE and SANDBOXD_TEST_RESTART.
// Without those variables they fail (they are never skipped).

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sandboxd/sandboxd/sdk/go/sandboxd"
	"github.com/sandboxd/sandboxd/sdk/go/sandboxv1"
)

const (
	running = sandboxv1.SandboxPhase_SANDBOX_PHASE_RUNNING
	stopped = sandboxv1.SandboxPhase_SANDBOX_PHASE_STOPPED

	added    = sandboxv1.WatchEventType_WATCH_EVENT_TYPE_ADDED
	modified = sandboxv1.WatchEventType_WATCH_EVENT_TYPE_MODIFIED
	complete = sandboxv1.WatchEventType_WATCH_EVENT_TYPE_INITIAL_STATE_COMPLETE
	reset    = sandboxv1.WatchEventType_WATCH_EVENT_TYPE_RESET
)

// env returns a variable that with_sandboxd.sh sets, failing the test without it.
func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run under tests/sdk/with_sandboxd.sh", name)
	}
	return v
}

// newClient connects to the sandboxd of with_sandboxd.sh with the tenant's token.
func newClient(t *testing.T, opts ...sandboxd.Option) (*sandboxd.Client, string) {
	t.Helper()
	opts = append([]sandboxd.Option{
		sandboxd.WithPlaintext(), sandboxd.WithTokenOverPlaintext(),
		sandboxd.WithToken(env(t, "SANDBOXD_TOKEN")),
	}, opts...)
	c, err := sandboxd.New(env(t, "SANDBOXD_ADDR"), opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, env(t, "SANDBOXD_NAMESPACE")
}

// uniqueName is a sandbox name no other test uses.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%06d", prefix, rand.N(1000000))
}

// create makes a sandbox (of a project named as the sandbox) and deletes it (allowing it to be gone) when the test ends.
func create(t *testing.T, ctx context.Context, c *sandboxd.Client, ns, name string, env map[string]string) *sandboxv1.Sandbox {
	t.Helper()
	sb, err := c.Create(ctx, &sandboxv1.SandboxSpec{Name: name, Namespace: ns, Project: name, Env: env})
	if err != nil {
		t.Fatalf("Create %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Delete(ctx, ns, name, sandboxd.AllowMissing()); err != nil {
			t.Errorf("cleanup: Delete %s: %v", name, err)
		}
	})
	return sb
}

func TestLifecycle(t *testing.T) {
	c, ns := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	name := uniqueName("go-life")

	created := create(t, ctx, c, ns, name, map[string]string{"A": "1"})
	if created.GetSpec().GetName() != name || created.GetSpec().GetNamespace() != ns {
		t.Fatalf("Create returned spec %s/%s, want %s/%s", created.GetSpec().GetNamespace(),
			created.GetSpec().GetName(), ns, name)
	}
	again, err := c.Create(ctx, &sandboxv1.SandboxSpec{Name: name, Namespace: ns, Project: name, Env: map[string]string{"A": "1"}})
	if err != nil || again.GetUid() != created.GetUid() {
		t.Fatalf("repeated Create: uid %q, err %v; want uid %q, nil", again.GetUid(), err, created.GetUid())
	}

	sb, err := c.WaitFor(ctx, ns, name, running)
	if err != nil {
		t.Fatalf("WaitFor RUNNING: %v", err)
	}
	if sb.GetReadyReplicas() != 1 || sb.GetDesiredReplicas() != 1 {
		t.Errorf("RUNNING with ready %d desired %d, want 1 and 1", sb.GetReadyReplicas(), sb.GetDesiredReplicas())
	}

	updated, err := c.UpdateEnv(ctx, ns, name, map[string]string{"B": "2"}, sandboxd.RemoveEnv("A"),
		sandboxd.ExpectVersion(sb.GetVersion()))
	if err != nil {
		t.Fatalf("UpdateEnv: %v", err)
	}
	if got := updated.GetSpec().GetEnv(); len(got) != 1 || got["B"] != "2" {
		t.Errorf("env after UpdateEnv = %v, want map[B:2]", got)
	}
	if updated.GetVersion() == sb.GetVersion() {
		t.Errorf("version unchanged (%q) by an env change", sb.GetVersion())
	}
	_, err = c.UpdateEnv(ctx, ns, name, map[string]string{"C": "3"}, sandboxd.ExpectVersion(sb.GetVersion()))
	var e *sandboxd.Error
	if !errors.As(err, &e) || e.Code != codes.FailedPrecondition ||
		e.Reason != sandboxv1.ErrorReason_VERSION_MISMATCH || !errors.Is(err, sandboxd.ErrFailedPrecondition) {
		t.Errorf("UpdateEnv with a stale version: %v, want FAILED_PRECONDITION VERSION_MISMATCH", err)
	}
	got, err := c.Get(ctx, ns, name, sandboxd.ConsistentRead())
	if err != nil || got.GetSpec().GetEnv()["B"] != "2" {
		t.Fatalf("Get after UpdateEnv: env %v, err %v", got.GetSpec().GetEnv(), err)
	}

	if _, err := c.Stop(ctx, ns, name); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if sb, err = c.WaitFor(ctx, ns, name, stopped); err != nil {
		t.Fatalf("WaitFor STOPPED: %v", err)
	}
	if sb.GetDesiredReplicas() != 0 {
		t.Errorf("STOPPED with desired %d, want 0", sb.GetDesiredReplicas())
	}
	if _, err := c.Start(ctx, ns, name); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if sb, err = c.WaitFor(ctx, ns, name, running); err != nil {
		t.Fatalf("WaitFor RUNNING after Start: %v", err)
	}
	if sb.GetStorage().GetUid() != created.GetStorage().GetUid() && created.GetStorage().GetUid() != "" {
		t.Errorf("home volume uid %q after restart, want %q", sb.GetStorage().GetUid(), created.GetStorage().GetUid())
	}

	list, err := c.List(ctx, ns, sandboxd.Filter{})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if !containsSandbox(list, name) {
		t.Errorf("List does not contain %s", name)
	}

	if err := c.Delete(ctx, ns, name); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := c.WaitForDeleted(ctx, ns, name); err != nil {
		t.Fatalf("WaitForDeleted: %v", err)
	}
	if _, err := c.Get(ctx, ns, name, sandboxd.ConsistentRead()); !errors.Is(err, sandboxd.ErrNotFound) {
		t.Errorf("Get after delete: %v, want NOT_FOUND", err)
	}
	if _, err := c.WaitFor(ctx, ns, name, running); !errors.Is(err, sandboxd.ErrNotFound) {
		t.Errorf("WaitFor of a deleted sandbox: %v, want NOT_FOUND", err)
	}
}

// WaitFor gives up as soon as the sandbox is in ERROR, with the reason. The local
// plane's kwok stages report ImagePullBackOff for an image named "sandboxd-fail-pull".
func TestWaitForFailsFastOnError(t *testing.T) {
	c, ns := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := uniqueName("go-fail")
	if _, err := c.Create(ctx, &sandboxv1.SandboxSpec{Name: name, Namespace: ns,
		Image: "registry.local/sandboxd-fail-pull:1"}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { c.Delete(context.Background(), ns, name, sandboxd.AllowMissing()) })

	_, err := c.WaitFor(ctx, ns, name, running)
	var pe *sandboxd.PhaseError
	if !errors.As(err, &pe) || !errors.Is(err, sandboxd.ErrSandboxFailed) {
		t.Fatalf("WaitFor RUNNING of a sandbox whose image cannot be pulled: %v, want a *PhaseError", err)
	}
	if pe.Sandbox.GetPhase() != sandboxv1.SandboxPhase_SANDBOX_PHASE_ERROR ||
		pe.Sandbox.GetErrorReason() != sandboxv1.SandboxErrorReason_SANDBOX_ERROR_REASON_IMAGE_PULL_FAILURE {
		t.Errorf("PhaseError sandbox: phase %v reason %v, want ERROR IMAGE_PULL_FAILURE",
			pe.Sandbox.GetPhase(), pe.Sandbox.GetErrorReason())
	}
	if !strings.Contains(err.Error(), "SANDBOX_ERROR_REASON_IMAGE_PULL_FAILURE") {
		t.Errorf("error %q does not name the reason", err)
	}
}

func containsSandbox(list []*sandboxv1.Sandbox, name string) bool {
	for _, sb := range list {
		if sb.GetSpec().GetName() == name {
			return true
		}
	}
	return false
}

func TestInvalidNameIsTypedError(t *testing.T) {
	c, ns := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err := c.Create(ctx, &sandboxv1.SandboxSpec{Name: "Not_A_DNS_Label", Namespace: ns})
	var e *sandboxd.Error
	if !errors.As(err, &e) {
		t.Fatalf("Create with a bad name: %v (%T), want *sandboxd.Error", err, err)
	}
	if e.Code != codes.InvalidArgument || !errors.Is(err, sandboxd.ErrInvalidArgument) {
		t.Errorf("code %v, want InvalidArgument", e.Code)
	}
	if e.Reason != sandboxv1.ErrorReason_INVALID_FIELD || e.ReasonName != "INVALID_FIELD" || e.Domain != sandboxd.ErrorDomain {
		t.Errorf("reason %v (%q), domain %q; want INVALID_FIELD in %s", e.Reason, e.ReasonName, e.Domain, sandboxd.ErrorDomain)
	}
	if e.Metadata["field"] != "spec.name" {
		t.Errorf("metadata field %q, want spec.name (metadata %v)", e.Metadata["field"], e.Metadata)
	}
	if len(e.FieldViolations) != 1 || e.FieldViolations[0].Field != "spec.name" || e.FieldViolations[0].Description == "" {
		t.Errorf("field violations %+v, want one for spec.name", e.FieldViolations)
	}
	if errors.Is(err, sandboxd.ErrNotFound) {
		t.Errorf("an INVALID_ARGUMENT error matches ErrNotFound")
	}
}

func TestMissingSandboxIsNotFound(t *testing.T) {
	c, ns := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := uniqueName("go-missing")

	for call, f := range map[string]func() error{
		"Get":    func() error { _, err := c.Get(ctx, ns, name); return err },
		"Start":  func() error { _, err := c.Start(ctx, ns, name); return err },
		"Delete": func() error { return c.Delete(ctx, ns, name) },
	} {
		err := f()
		var e *sandboxd.Error
		if !errors.Is(err, sandboxd.ErrNotFound) || !errors.As(err, &e) {
			t.Errorf("%s of a missing sandbox: %v, want ErrNotFound", call, err)
			continue
		}
		if e.Code != codes.NotFound || e.Reason != sandboxv1.ErrorReason_SANDBOX_NOT_FOUND {
			t.Errorf("%s: code %v reason %v, want NotFound SANDBOX_NOT_FOUND", call, e.Code, e.Reason)
		}
	}
	if err := c.Delete(ctx, ns, name, sandboxd.AllowMissing()); err != nil {
		t.Errorf("Delete AllowMissing of a missing sandbox: %v", err)
	}
}

func TestUnauthenticatedWithoutToken(t *testing.T) {
	c, err := sandboxd.New(env(t, "SANDBOXD_ADDR"), sandboxd.WithPlaintext())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Get(context.Background(), env(t, "SANDBOXD_NAMESPACE"), "any")
	var e *sandboxd.Error
	if !errors.As(err, &e) || !errors.Is(err, sandboxd.ErrUnauthenticated) ||
		e.Reason != sandboxv1.ErrorReason_MISSING_CREDENTIALS {
		t.Errorf("Get without a token: %v, want UNAUTHENTICATED MISSING_CREDENTIALS", err)
	}
}

func TestTokenNeedsTLSUnlessAllowed(t *testing.T) {
	_, err := sandboxd.New(env(t, "SANDBOXD_ADDR"), sandboxd.WithPlaintext(), sandboxd.WithToken("x"))
	if !errors.Is(err, sandboxd.ErrTokenOverPlaintext) {
		t.Errorf("New with a token over plaintext: %v, want ErrTokenOverPlaintext", err)
	}
}

// A watch survives a sandboxd restart: tokens are per process, so the resumed stream
// begins with RESET and a fresh initial state that shows the change made meanwhile.
func TestWatchSurvivesRestart(t *testing.T) {
	c, ns := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	restart := env(t, "SANDBOXD_TEST_RESTART")
	name := uniqueName("go-watch")
	create(t, ctx, c, ns, name, map[string]string{"GEN": "1"})
	// A settled sandbox: the old stream has no change of its own left to send.
	if _, err := c.WaitFor(ctx, ns, name, running); err != nil {
		t.Fatalf("WaitFor RUNNING: %v", err)
	}

	var (
		before     []sandboxv1.WatchEventType // on the first stream, up to the restart
		restarted  bool
		reconnects int
		resumed    []sandboxd.Event // on the streams opened after the restart
	)
	onRetry := sandboxd.OnRetry(func(err error, delay time.Duration) {
		reconnects++
		t.Logf("watch reconnects after %v: %v", delay, err)
		if !errors.Is(err, sandboxd.ErrUnavailable) {
			t.Errorf("watch broke with %v, want UNAVAILABLE", err)
		}
	})
	for ev, err := range c.WatchAll(ctx, ns, sandboxd.Filter{Project: name}, onRetry) {
		if err != nil {
			t.Fatalf("watch: %v (events after the reconnect: %v)", err, types(resumed))
		}
		if ev.ResumeToken == "" {
			t.Errorf("%v event without a resume token", ev.Type)
		}
		switch {
		case !restarted:
			before = append(before, ev.Type)
			if ev.Type != complete {
				continue
			}
			// Mid-stream: restart sandboxd and change the sandbox while this stream
			// is not being read; the next read finds the stream closed.
			if out, err := exec.CommandContext(ctx, "sh", "-c", restart).CombinedOutput(); err != nil {
				t.Fatalf("SANDBOXD_TEST_RESTART: %v\n%s", err, out)
			}
			restarted = true
			if _, err := c.UpdateEnv(ctx, ns, name, map[string]string{"GEN": "2"}); err != nil {
				t.Fatalf("UpdateEnv after the restart: %v", err)
			}
			awaitEnvInCache(t, ctx, c, ns, name, "GEN", "2")
		case reconnects == 0:
			// Changes the first stream had received before sandboxd stopped.
			if ev.Type != modified {
				t.Fatalf("the first stream sent %v after the restart, want MODIFIED only", ev.Type)
			}
		default:
			resumed = append(resumed, ev)
		}
		if ev.Type == complete && reconnects > 0 {
			break
		}
	}
	if want := []sandboxv1.WatchEventType{added, complete}; !equalTypes(before, want) {
		t.Errorf("events before the restart %v, want %v", before, want)
	}
	if want := []sandboxv1.WatchEventType{reset, added, complete}; !equalTypes(types(resumed), want) {
		t.Fatalf("events after the reconnect %v, want %v", types(resumed), want)
	}
	sb := resumed[1].Sandbox
	if sb.GetSpec().GetName() != name || sb.GetSpec().GetEnv()["GEN"] != "2" {
		t.Errorf("fresh ADDED after the restart: %s env %v, want %s with GEN=2", sb.GetSpec().GetName(),
			sb.GetSpec().GetEnv(), name)
	}
}

// Resuming a watch with the token of the last processed event continues after it: no
// RESET, no repeated initial state, and the change made meanwhile arrives as MODIFIED.
func TestWatchResumesWithoutReset(t *testing.T) {
	c, ns := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := uniqueName("go-resume")
	create(t, ctx, c, ns, name, map[string]string{"GEN": "1"})

	var token string
	var first []sandboxv1.WatchEventType
	for ev, err := range c.Watch(ctx, ns, name) {
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		first = append(first, ev.Type)
		if ev.Type == complete {
			token = ev.ResumeToken
			break
		}
	}
	if want := []sandboxv1.WatchEventType{added, complete}; !equalTypes(first, want) {
		t.Fatalf("first stream %v, want %v", first, want)
	}
	if _, err := c.UpdateEnv(ctx, ns, name, map[string]string{"GEN": "2"}); err != nil {
		t.Fatalf("UpdateEnv: %v", err)
	}
	for ev, err := range c.Watch(ctx, ns, name, sandboxd.ResumeFrom(token)) {
		if err != nil {
			t.Fatalf("resumed watch: %v", err)
		}
		if ev.Type != modified && ev.Type != complete {
			t.Fatalf("resumed watch sent %v first, want MODIFIED or INITIAL_STATE_COMPLETE", ev.Type)
		}
		if ev.Type == modified && ev.Sandbox.GetSpec().GetEnv()["GEN"] == "2" {
			break
		}
	}
}

// awaitEnvInCache returns once sandboxd's cache (a watch of the sandbox) shows env
// key=value.
func awaitEnvInCache(t *testing.T, ctx context.Context, c *sandboxd.Client, ns, name, key, value string) {
	t.Helper()
	for ev, err := range c.Watch(ctx, ns, name) {
		if err != nil {
			t.Fatalf("watch of %s: %v", name, err)
		}
		if ev.Sandbox.GetSpec().GetEnv()[key] == value {
			return
		}
	}
}

func types(events []sandboxd.Event) []sandboxv1.WatchEventType {
	var out []sandboxv1.WatchEventType
	for _, ev := range events {
		out = append(out, ev.Type)
	}
	return out
}

func equalTypes(a, b []sandboxv1.WatchEventType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
