// Package sandboxd is a Go client of sandboxd's gRPC API (sandbox.v1.SandboxLifecycle):
// typed errors, UNAVAILABLE retries, resumable watches and waits for a phase.
//
// A Client is safe for concurrent use; make one per server and Close it when done.
// Every method takes a context.Context; unary calls without a deadline get the default
// timeout (WithTimeout). Every RPC of the API is idempotent, so calls that fail with
// UNAVAILABLE are retried by gRPC (service config retryPolicy) before an error is
// returned. Errors are *Error values (see errors.go).
package sandboxd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sandboxd/sandboxd/sdk/go/sandboxv1"
)

// DefaultTimeout bounds a unary call whose context has no deadline.
const DefaultTimeout = 30 * time.Second

// retryServiceConfig retries every method of the service on UNAVAILABLE: all of them
// are idempotent (a repeated create with the same spec returns the existing sandbox).
// gRPC retries a stream only until its first message; Watch resumes streams itself.
const retryServiceConfig = `{
  "methodConfig": [{
    "name": [{"service": "sandbox.v1.SandboxLifecycle"}],
    "retryPolicy": {
      "maxAttempts": 5,
      "initialBackoff": "0.2s",
      "maxBackoff": "3s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
}`

// ErrTokenOverPlaintext is New's error for a token on a plaintext connection without
// WithTokenOverPlaintext.
var ErrTokenOverPlaintext = errors.New("sandboxd: a bearer token over a plaintext connection needs WithTokenOverPlaintext")

// Option configures a Client (see New).
type Option func(*config) error

type config struct {
	plaintext          bool
	tokenOverPlaintext bool
	rootCAs            *x509.CertPool
	clientCerts        []tls.Certificate
	serverName         string
	token              func() (string, error)
	timeout            time.Duration
	extraDialOptions   []grpc.DialOption
}

// WithPlaintext connects without TLS (a local or test sandboxd started with
// --plaintext). A bearer token is then not sent unless WithTokenOverPlaintext is given.
func WithPlaintext() Option {
	return func(c *config) error { c.plaintext = true; return nil }
}

// WithTokenOverPlaintext allows the bearer token on a plaintext connection. Use it only
// where nobody can read the traffic (loopback, a test).
func WithTokenOverPlaintext() Option {
	return func(c *config) error { c.tokenOverPlaintext = true; return nil }
}

// WithCAFile verifies the server's certificate against the PEM CA certificates in path
// instead of the system's roots.
func WithCAFile(path string) Option {
	return func(c *config) error {
		pem, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("sandboxd: read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("sandboxd: no PEM certificate in %s", path)
		}
		c.rootCAs = pool
		return nil
	}
}

// WithCAPool verifies the server's certificate against pool instead of the system's
// roots.
func WithCAPool(pool *x509.CertPool) Option {
	return func(c *config) error { c.rootCAs = pool; return nil }
}

// WithServerName overrides the name the server's certificate is checked against
// (default: the host of the address).
func WithServerName(name string) Option {
	return func(c *config) error { c.serverName = name; return nil }
}

// WithClientCertificate authenticates with a client certificate (mTLS) read from PEM
// files.
func WithClientCertificate(certFile, keyFile string) Option {
	return func(c *config) error {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("sandboxd: load client certificate: %w", err)
		}
		c.clientCerts = []tls.Certificate{cert}
		return nil
	}
}

// WithClientCertificatePair authenticates with a loaded client certificate (mTLS).
func WithClientCertificatePair(cert tls.Certificate) Option {
	return func(c *config) error { c.clientCerts = []tls.Certificate{cert}; return nil }
}

// WithToken sends `authorization: Bearer <token>` on every call.
func WithToken(token string) Option {
	return func(c *config) error {
		c.token = func() (string, error) { return token, nil }
		return nil
	}
}

// WithTokenFile sends the token held in path, read again on every call, so a rotated
// token (a projected ServiceAccount token) is picked up.
func WithTokenFile(path string) Option {
	return func(c *config) error {
		c.token = func() (string, error) {
			b, err := os.ReadFile(path)
			if err != nil {
				return "", fmt.Errorf("sandboxd: read token file: %w", err)
			}
			return strings.TrimSpace(string(b)), nil
		}
		return nil
	}
}

// WithTimeout sets the timeout of unary calls whose context has no deadline (default
// DefaultTimeout; 0: none). Streams (Watch) are not bounded by it.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error { c.timeout = d; return nil }
}

// WithDialOptions appends gRPC dial options (interceptors, keepalive, ...).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *config) error { c.extraDialOptions = append(c.extraDialOptions, opts...); return nil }
}

// Client calls one sandboxd. Safe for concurrent use.
type Client struct {
	conn    *grpc.ClientConn
	rpc     sandboxv1.SandboxLifecycleClient
	timeout time.Duration
}

// New makes a Client of the sandboxd at address ("host:port", or any gRPC target). By
// default it uses TLS with the system's root CAs and no credentials. The connection is
// made lazily, on the first call.
func New(address string, opts ...Option) (*Client, error) {
	cfg := config{timeout: DefaultTimeout}
	for _, opt := range opts {
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.plaintext && (cfg.rootCAs != nil || cfg.clientCerts != nil || cfg.serverName != "") {
		return nil, errors.New("sandboxd: WithPlaintext excludes the TLS options")
	}
	if cfg.plaintext && cfg.token != nil && !cfg.tokenOverPlaintext {
		return nil, ErrTokenOverPlaintext
	}
	dialOpts := []grpc.DialOption{grpc.WithDefaultServiceConfig(retryServiceConfig)}
	if cfg.plaintext {
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		tlsConfig := &tls.Config{
			MinVersion:   tls.VersionTLS12,
			RootCAs:      cfg.rootCAs,
			Certificates: cfg.clientCerts,
			ServerName:   cfg.serverName,
		}
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)))
	}
	if cfg.token != nil {
		dialOpts = append(dialOpts, grpc.WithPerRPCCredentials(&bearerToken{
			token:           cfg.token,
			requireSecurity: !cfg.plaintext,
		}))
	}
	dialOpts = append(dialOpts, cfg.extraDialOptions...)
	conn, err := grpc.NewClient(address, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("sandboxd: %w", err)
	}
	return &Client{conn: conn, rpc: sandboxv1.NewSandboxLifecycleClient(conn), timeout: cfg.timeout}, nil
}

// Close closes the connection; calls in flight fail with Canceled.
func (c *Client) Close() error { return c.conn.Close() }

// Raw is the generated stub on the same connection, for what this package does not wrap.
// Its errors are plain gRPC status errors (AsError converts them).
func (c *Client) Raw() sandboxv1.SandboxLifecycleClient { return c.rpc }

// AsError converts an error of a Raw call into an *Error (nil stays nil).
func AsError(err error) error { return asError(err) }

// unaryContext applies the default timeout to a context without a deadline.
func (c *Client) unaryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, has := ctx.Deadline(); has || c.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.timeout)
}

// bearerToken is the PerRPCCredentials of WithToken and WithTokenFile.
type bearerToken struct {
	token           func() (string, error)
	requireSecurity bool
}

func (b *bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	token, err := b.token()
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + token}, nil
}

func (b *bearerToken) RequireTransportSecurity() bool { return b.requireSecurity }
