"""The SDK's transport security against a local TLS gRPC endpoint: the server certificate
is verified against SANDBOXD_CACERT, the client certificate is presented (mTLS), and the
bearer token travels as call credentials, re-read when the token file changes.

sandboxd under with_sandboxd.sh listens in plaintext only, so this endpoint is a small
gRPC server of the test's own that answers GetSandbox with what it saw of the caller;
what sandboxd does with a token is covered by the live tests."""

from __future__ import annotations

import pathlib
import subprocess
from concurrent import futures
from typing import Iterator, Optional

import grpc
import pytest

import sandboxd
from sandboxd._proto.sandbox.v1 import sandbox_pb2, sandbox_pb2_grpc


def _openssl(*args: str, cwd: pathlib.Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _issue(cwd: pathlib.Path, name: str, subject: str, extensions: str) -> None:
    (cwd / f"{name}.ext").write_text(extensions)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
             "-subj", subject, "-out", f"{name}.csr", cwd=cwd)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "1", "-extfile", f"{name}.ext", "-out", f"{name}.crt",
             cwd=cwd)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A CA, a server certificate for localhost and a client certificate (CN alice)."""
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
             "-subj", "/CN=test-ca", "-days", "1", "-out", "ca.crt", cwd=d)
    _issue(d, "server", "/CN=localhost",
           "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    _issue(d, "client", "/CN=alice", "extendedKeyUsage=clientAuth\n")
    return d


class _Echo(sandbox_pb2_grpc.SandboxLifecycleServicer):
    """Answers GetSandbox with the caller's authorization header (as spec.image) and
    client certificate CN (as message)."""

    def GetSandbox(
        self, request: sandbox_pb2.GetSandboxRequest, context: grpc.ServicerContext
    ) -> sandbox_pb2.GetSandboxResponse:
        headers = dict(context.invocation_metadata())
        common_names = context.auth_context().get("x509_common_name", [b""])
        sandbox = sandbox_pb2.Sandbox(
            spec=sandbox_pb2.SandboxSpec(
                name=request.name,
                namespace=request.namespace,
                image=str(headers.get("authorization", "")),
            ),
            message=common_names[0].decode(),
        )
        return sandbox_pb2.GetSandboxResponse(sandbox=sandbox)


def _serve(pki: pathlib.Path, require_client_auth: bool) -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    sandbox_pb2_grpc.add_SandboxLifecycleServicer_to_server(_Echo(), server)
    credentials = grpc.ssl_server_credentials(
        [((pki / "server.key").read_bytes(), (pki / "server.crt").read_bytes())],
        root_certificates=(pki / "ca.crt").read_bytes() if require_client_auth else None,
        require_client_auth=require_client_auth,
    )
    port = server.add_secure_port("localhost:0", credentials)
    server.start()
    yield f"localhost:{port}"
    server.stop(grace=None)


@pytest.fixture(scope="module")
def tls_address(pki: pathlib.Path) -> Iterator[str]:
    yield from _serve(pki, require_client_auth=False)


@pytest.fixture(scope="module")
def mtls_address(pki: pathlib.Path) -> Iterator[str]:
    yield from _serve(pki, require_client_auth=True)


def _client(address: str, pki: pathlib.Path, token_file: Optional[str] = None,
            mtls: bool = False) -> sandboxd.Client:
    return sandboxd.Client(
        config=sandboxd.ClientConfig.resolve(
            address,
            namespace="dev",
            token_file=token_file,
            ca_cert=str(pki / "ca.crt"),
            client_cert=str(pki / "client.crt") if mtls else None,
            client_key=str(pki / "client.key") if mtls else None,
            timeout=10,
            environ={},
        )
    )


def test_tls_with_a_rotating_token_file(tls_address: str, pki: pathlib.Path) -> None:
    token = pki / "token"
    token.write_text("first-token\n")
    with _client(tls_address, pki, token_file=str(token)) as client:
        seen = client.get("a")
        assert (seen.spec.image, seen.message) == ("Bearer first-token", "")
        token.write_text("rotated-token-2\n")
        assert client.get("a").spec.image == "Bearer rotated-token-2"


def test_mtls_presents_the_client_certificate(mtls_address: str, pki: pathlib.Path) -> None:
    with _client(mtls_address, pki, mtls=True) as client:
        seen = client.get("a")
    assert (seen.spec.image, seen.message) == ("", "alice")
    with _client(mtls_address, pki) as anonymous:
        with pytest.raises(sandboxd.Unavailable):
            anonymous.get("a")


@pytest.mark.asyncio
async def test_async_tls_sends_the_token(tls_address: str, pki: pathlib.Path) -> None:
    config = sandboxd.ClientConfig.resolve(
        tls_address, namespace="dev", token="async-token", ca_cert=str(pki / "ca.crt"),
        environ={},
    )
    async with sandboxd.AsyncClient(config=config) as client:
        seen = await client.get("a")
    assert seen.spec.image == "Bearer async-token"


def test_an_unknown_server_certificate_is_refused(tls_address: str) -> None:
    config = sandboxd.ClientConfig.resolve(tls_address, namespace="dev", timeout=10, environ={})
    with sandboxd.Client(config=config) as client:  # the system roots do not know test-ca
        with pytest.raises(sandboxd.Unavailable):
            client.get("a")
