package sandboxd

import (
	"context"

	"github.com/sandboxd/sandboxd/sdk/go/sandboxv1"
)

// Filter selects sandboxes of a namespace for List and WatchAll; its fields are ANDed
// and an empty field matches everything.
type Filter struct {
	// Project: only sandboxes of this project.
	Project string
	// LabelSelector: a Kubernetes label selector, e.g. "team=a,tier!=gpu".
	LabelSelector string
}

// ReadOption modifies Get and List.
type ReadOption func(*readOptions)

type readOptions struct{ consistent bool }

// ConsistentRead reads from the Kubernetes API server instead of sandboxd's watch
// cache (which is at most a watch event behind). Use it only to observe another
// client's write at once.
func ConsistentRead() ReadOption { return func(o *readOptions) { o.consistent = true } }

// Create creates a sandbox and returns it with the server's defaults applied. spec.Name
// and spec.Namespace are required. Repeating it with the same spec returns the existing
// sandbox. Errors: ErrInvalidArgument (reason INVALID_FIELD, FieldViolations name the
// field), ErrAlreadyExists (a sandbox of that name with another spec).
func (c *Client) Create(ctx context.Context, spec *sandboxv1.SandboxSpec) (*sandboxv1.Sandbox, error) {
	ctx, cancel := c.unaryContext(ctx)
	defer cancel()
	resp, err := c.rpc.CreateSandbox(ctx, &sandboxv1.CreateSandboxRequest{Spec: spec})
	return resp.GetSandbox(), asError(err)
}

// Get returns one sandbox. Errors: ErrNotFound (reason SANDBOX_NOT_FOUND).
func (c *Client) Get(ctx context.Context, namespace, name string, opts ...ReadOption) (*sandboxv1.Sandbox, error) {
	var o readOptions
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := c.unaryContext(ctx)
	defer cancel()
	resp, err := c.rpc.GetSandbox(ctx, &sandboxv1.GetSandboxRequest{
		Namespace: namespace, Name: name, ConsistentRead: o.consistent,
	})
	return resp.GetSandbox(), asError(err)
}

// List returns every sandbox of namespace that matches filter, ordered by name, reading
// page after page. Each page is a call of its own (with the default timeout).
// Errors: ErrInvalidArgument (bad label selector).
func (c *Client) List(ctx context.Context, namespace string, filter Filter, opts ...ReadOption) ([]*sandboxv1.Sandbox, error) {
	var o readOptions
	for _, opt := range opts {
		opt(&o)
	}
	req := &sandboxv1.ListSandboxesRequest{
		Namespace: namespace, Project: filter.Project, LabelSelector: filter.LabelSelector,
		ConsistentRead: o.consistent,
	}
	var all []*sandboxv1.Sandbox
	for {
		resp, err := c.listPage(ctx, req)
		if err != nil {
			return nil, err
		}
		all = append(all, resp.GetSandboxes()...)
		if resp.GetNextPageToken() == "" {
			return all, nil
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

func (c *Client) listPage(ctx context.Context, req *sandboxv1.ListSandboxesRequest) (*sandboxv1.ListSandboxesResponse, error) {
	ctx, cancel := c.unaryContext(ctx)
	defer cancel()
	resp, err := c.rpc.ListSandboxes(ctx, req)
	return resp, asError(err)
}

// Start scales a sandbox to one replica (idempotent) and returns it. Errors: ErrNotFound.
func (c *Client) Start(ctx context.Context, namespace, name string) (*sandboxv1.Sandbox, error) {
	ctx, cancel := c.unaryContext(ctx)
	defer cancel()
	resp, err := c.rpc.StartSandbox(ctx, &sandboxv1.StartSandboxRequest{Namespace: namespace, Name: name})
	return resp.GetSandbox(), asError(err)
}

// Stop scales a sandbox to zero replicas, keeping its home volume (idempotent), and
// returns it. Errors: ErrNotFound.
func (c *Client) Stop(ctx context.Context, namespace, name string) (*sandboxv1.Sandbox, error) {
	ctx, cancel := c.unaryContext(ctx)
	defer cancel()
	resp, err := c.rpc.StopSandbox(ctx, &sandboxv1.StopSandboxRequest{Namespace: namespace, Name: name})
	return resp.GetSandbox(), asError(err)
}

// EnvOption modifies UpdateEnv.
type EnvOption func(*sandboxv1.UpdateSandboxEnvRequest)

// RemoveEnv removes variables (an absent one is not an error).
func RemoveEnv(keys ...string) EnvOption {
	return func(r *sandboxv1.UpdateSandboxEnvRequest) { r.RemoveKeys = append(r.RemoveKeys, keys...) }
}

// ExpectVersion makes the update happen only if the sandbox's Version is still version;
// otherwise the call fails with ErrFailedPrecondition (reason VERSION_MISMATCH).
func ExpectVersion(version string) EnvOption {
	return func(r *sandboxv1.UpdateSandboxEnvRequest) { r.ExpectedVersion = &version }
}

// UpdateEnv sets the variables in set (adding or overwriting), applies opts and keeps
// every other variable; it returns the sandbox after the update. A change restarts the
// pod; an update that changes nothing does not. Errors: ErrNotFound,
// ErrInvalidArgument, ErrFailedPrecondition (VERSION_MISMATCH).
func (c *Client) UpdateEnv(ctx context.Context, namespace, name string, set map[string]string, opts ...EnvOption) (*sandboxv1.Sandbox, error) {
	req := &sandboxv1.UpdateSandboxEnvRequest{Namespace: namespace, Name: name, Env: set}
	for _, opt := range opts {
		opt(req)
	}
	ctx, cancel := c.unaryContext(ctx)
	defer cancel()
	resp, err := c.rpc.UpdateSandboxEnv(ctx, req)
	return resp.GetSandbox(), asError(err)
}

// DeleteOption modifies Delete.
type DeleteOption func(*sandboxv1.DeleteSandboxRequest)

// KeepStorage keeps the home volume; a sandbox created again under the name binds it.
func KeepStorage() DeleteOption {
	return func(r *sandboxv1.DeleteSandboxRequest) { r.KeepStorage = true }
}

// AllowMissing makes Delete succeed when there is no such sandbox.
func AllowMissing() DeleteOption {
	return func(r *sandboxv1.DeleteSandboxRequest) { r.AllowMissing = true }
}

// Delete starts deleting a sandbox (it may stay visible in SANDBOX_PHASE_DELETING for a
// while; see WaitForDeleted). Errors: ErrNotFound unless AllowMissing.
func (c *Client) Delete(ctx context.Context, namespace, name string, opts ...DeleteOption) error {
	req := &sandboxv1.DeleteSandboxRequest{Namespace: namespace, Name: name}
	for _, opt := range opts {
		opt(req)
	}
	ctx, cancel := c.unaryContext(ctx)
	defer cancel()
	_, err := c.rpc.DeleteSandbox(ctx, req)
	return asError(err)
}
