package sandboxd_test

// The connection options (CA, mTLS, bearer token over TLS) against an in-process TLS
// gRPC server with certificates made here: the suite's sandboxd serves plaintext only.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/sandboxd/sandboxd/sdk/go/sandboxd"
	"github.com/sandboxd/sandboxd/sdk/go/sandboxv1"
)

// certificate issues a certificate for cn signed by parent (self-signed when nil).
func certificate(t *testing.T, cn string, parent *tls.Certificate, isCA bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	signer, signerKey := tmpl, any(key)
	if parent != nil {
		signer, signerKey = parent.Leaf, parent.PrivateKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// writePEM writes a certificate (and its key, when keyPath is set) as PEM files.
func writePEM(t *testing.T, cert tls.Certificate, certPath, keyPath string) {
	t.Helper()
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if keyPath == "" {
		return
	}
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// recordingServer answers GetSandbox with NOT_FOUND and records who asked.
type recordingServer struct {
	sandboxv1.UnimplementedSandboxLifecycleServer
	authorization chan string
	clientCN      chan string
}

func (s *recordingServer) GetSandbox(ctx context.Context, _ *sandboxv1.GetSandboxRequest) (*sandboxv1.GetSandboxResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.authorization <- firstOrEmpty(md.Get("authorization"))
	cn := ""
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 {
			cn = info.State.PeerCertificates[0].Subject.CommonName
		}
	}
	s.clientCN <- cn
	return nil, status.Error(codes.NotFound, "no such sandbox")
}

func firstOrEmpty(values []string) string {
	if len(values) == 0 {
		return ""
	}
	return values[0]
}

func TestTLSOptions(t *testing.T) {
	ca := certificate(t, "test CA", nil, true)
	serverCert := certificate(t, "localhost", &ca, false)
	clientCert := certificate(t, "alice", &ca, false)
	dir := t.TempDir()
	caFile, certFile, keyFile, tokenFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "client.crt"),
		filepath.Join(dir, "client.key"), filepath.Join(dir, "token")
	writePEM(t, ca, caFile, "")
	writePEM(t, clientCert, certFile, keyFile)
	if err := os.WriteFile(tokenFile, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	pool := x509.NewCertPool()
	pool.AddCert(ca.Leaf)
	srv := &recordingServer{authorization: make(chan string, 10), clientCN: make(chan string, 10)}
	server := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven,
	})))
	sandboxv1.RegisterSandboxLifecycleServer(server, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go server.Serve(lis)
	defer server.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	get := func(opts ...sandboxd.Option) error {
		c, err := sandboxd.New(lis.Addr().String(), opts...)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		defer c.Close()
		_, err = c.Get(ctx, "ns", "name")
		return err
	}

	// mTLS from files, token from a file: the server sees both.
	err = get(sandboxd.WithCAFile(caFile), sandboxd.WithClientCertificate(certFile, keyFile),
		sandboxd.WithTokenFile(tokenFile))
	if !errors.Is(err, sandboxd.ErrNotFound) {
		t.Fatalf("Get over mTLS: %v, want the server's NOT_FOUND", err)
	}
	if got := <-srv.authorization; got != "Bearer file-token" {
		t.Errorf("authorization %q, want \"Bearer file-token\"", got)
	}
	if got := <-srv.clientCN; got != "alice" {
		t.Errorf("client certificate CN %q, want alice", got)
	}

	// TLS with a CA pool and a token, no client certificate.
	if err := get(sandboxd.WithCAPool(pool), sandboxd.WithToken("t0k")); !errors.Is(err, sandboxd.ErrNotFound) {
		t.Fatalf("Get over TLS: %v, want the server's NOT_FOUND", err)
	}
	if got, cn := <-srv.authorization, <-srv.clientCN; got != "Bearer t0k" || cn != "" {
		t.Errorf("authorization %q, client CN %q; want \"Bearer t0k\" and none", got, cn)
	}

	// The system roots do not trust the test CA: the handshake fails, nothing is sent.
	if err := get(sandboxd.WithToken("t0k")); !errors.Is(err, sandboxd.ErrUnavailable) &&
		!errors.Is(err, sandboxd.ErrDeadlineExceeded) {
		t.Errorf("Get without the CA: %v, want UNAVAILABLE or DEADLINE_EXCEEDED", err)
	}
	if len(srv.authorization) != 0 {
		t.Errorf("the server received a call without a trusted handshake")
	}
}
