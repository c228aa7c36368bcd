"""Where and how a client connects: the address, credentials, default namespace and
timeout, from arguments or SANDBOXD_* environment variables, and the gRPC channel
arguments that follow from them.

Environment (an argument wins over its variable):
  SANDBOXD_ADDR        host:port of sandboxd
  SANDBOXD_NAMESPACE   the namespace calls use unless they name one
  SANDBOXD_TOKEN       a bearer token (audience sandboxd.dev)
  SANDBOXD_TOKEN_FILE  a file holding the bearer token; read again whenever it changes
                       (projected ServiceAccount tokens rotate)
  SANDBOXD_CACERT      PEM file of the CA that signed the server's certificate
                       (default: the system's roots)
  SANDBOXD_CERT, SANDBOXD_KEY  PEM client certificate and key (mTLS)
  SANDBOXD_PLAINTEXT   "1"/"true"/"yes": no TLS (for a local sandboxd started with
                       --plaintext only; the token then travels in clear)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import threading
from typing import List, Mapping, Optional, Sequence, Tuple

import grpc

SERVICE_NAME = "sandbox.v1.SandboxLifecycle"
DEFAULT_TIMEOUT = 30.0

# Every SandboxLifecycle method is idempotent, so gRPC may retry any call that failed
# with UNAVAILABLE (a restart, a rolling update, a cache that is not synced yet): up to 5
# attempts within at most 3 s (gRPC draws each delay at random up to the backoff:
# 0.2, 0.4, 0.8, 1.6 s). A stream is retried only until its first message; watch()
# resumes after that.
_SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{"service": SERVICE_NAME}],
                "retryPolicy": {
                    "maxAttempts": 5,
                    "initialBackoff": "0.2s",
                    "maxBackoff": "2s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)

ChannelOptions = List[Tuple[str, object]]
Metadata = Tuple[Tuple[str, str], ...]


def _env_flag(value: Optional[str]) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _read_file(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


@dataclasses.dataclass(frozen=True)
class ClientConfig:
    """How a client connects. Build it with `resolve` to fill unset fields from the
    environment. `timeout` is the default deadline of unary calls in seconds (None: no
    deadline); watches have none unless a call gives one."""

    address: str
    namespace: Optional[str] = None
    token: Optional[str] = None
    token_file: Optional[str] = None
    ca_cert: Optional[str] = None
    client_cert: Optional[str] = None
    client_key: Optional[str] = None
    insecure: bool = False
    timeout: Optional[float] = DEFAULT_TIMEOUT
    channel_options: Sequence[Tuple[str, object]] = ()

    @classmethod
    def resolve(
        cls,
        address: Optional[str] = None,
        *,
        namespace: Optional[str] = None,
        token: Optional[str] = None,
        token_file: Optional[str] = None,
        ca_cert: Optional[str] = None,
        client_cert: Optional[str] = None,
        client_key: Optional[str] = None,
        insecure: Optional[bool] = None,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        channel_options: Sequence[Tuple[str, object]] = (),
        environ: Optional[Mapping[str, str]] = None,
    ) -> ClientConfig:
        """The configuration from the arguments, each unset one taken from its
        SANDBOXD_* variable. Raises ValueError without an address, or with only one of
        client_cert and client_key."""
        env = os.environ if environ is None else environ
        address = address or env.get("SANDBOXD_ADDR")
        if not address:
            raise ValueError("no sandboxd address: pass address= or set SANDBOXD_ADDR")
        token = token or env.get("SANDBOXD_TOKEN") or None
        token_file = token_file or (None if token else env.get("SANDBOXD_TOKEN_FILE")) or None
        config = cls(
            address=address,
            namespace=namespace or env.get("SANDBOXD_NAMESPACE") or None,
            token=token,
            token_file=token_file,
            ca_cert=ca_cert or env.get("SANDBOXD_CACERT") or None,
            client_cert=client_cert or env.get("SANDBOXD_CERT") or None,
            client_key=client_key or env.get("SANDBOXD_KEY") or None,
            insecure=_env_flag(env.get("SANDBOXD_PLAINTEXT")) if insecure is None else insecure,
            timeout=timeout,
            channel_options=tuple(channel_options),
        )
        if (config.client_cert is None) != (config.client_key is None):
            raise ValueError("mTLS needs both a client certificate and its key")
        return config

    def channel_args(self) -> ChannelOptions:
        """gRPC channel arguments: the retry service config and a reconnect backoff that
        suits a server that restarts, then the caller's own options."""
        options: ChannelOptions = [
            ("grpc.service_config", _SERVICE_CONFIG),
            ("grpc.enable_retries", 1),
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 5000),
        ]
        options.extend(self.channel_options)
        return options

    def channel_credentials(self) -> Optional[grpc.ChannelCredentials]:
        """TLS credentials (with the bearer token as call credentials, which gRPC sends
        only over a secure channel), or None for a plaintext channel."""
        if self.insecure:
            return None
        tls = grpc.ssl_channel_credentials(
            root_certificates=_read_file(self.ca_cert) if self.ca_cert else None,
            private_key=_read_file(self.client_key) if self.client_key else None,
            certificate_chain=_read_file(self.client_cert) if self.client_cert else None,
        )
        tokens = self._tokens
        if tokens is None:
            return tls
        return grpc.composite_channel_credentials(
            tls, grpc.metadata_call_credentials(_BearerTokenPlugin(tokens), name="sandboxd")
        )

    def call_metadata(self) -> Optional[Metadata]:
        """Metadata for each call: on a plaintext channel, where gRPC refuses call
        credentials, the bearer token travels as metadata of every call."""
        if not self.insecure:
            return None
        tokens = self._tokens
        if tokens is None:
            return None
        return (("authorization", "Bearer " + tokens.token()),)

    @functools.cached_property
    def _tokens(self) -> Optional[TokenSource]:
        if self.token:
            return TokenSource(token=self.token)
        if self.token_file:
            return TokenSource(path=self.token_file)
        return None


class TokenSource:
    """A bearer token, fixed or read from a file (again whenever the file's modification
    time or size changes). Thread-safe."""

    def __init__(self, token: Optional[str] = None, path: Optional[str] = None) -> None:
        self._fixed = token
        self._path = path
        self._lock = threading.Lock()
        self._stamp: Optional[Tuple[int, int]] = None
        self._cached = ""

    def token(self) -> str:
        """The current token. Raises OSError if the file cannot be read."""
        if self._fixed is not None or self._path is None:
            return self._fixed or ""
        st = os.stat(self._path)
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._cached = _read_file(self._path).decode().strip()
                self._stamp = stamp
            return self._cached


class _BearerTokenPlugin(grpc.AuthMetadataPlugin):
    def __init__(self, tokens: TokenSource) -> None:
        self._tokens = tokens

    def __call__(
        self, context: grpc.AuthMetadataContext, callback: grpc.AuthMetadataPluginCallback
    ) -> None:
        try:
            token = self._tokens.token()
        except OSError as e:
            callback((), e)
            return
        callback((("authorization", "Bearer " + token),), None)
