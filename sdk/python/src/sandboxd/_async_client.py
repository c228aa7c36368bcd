"""AsyncClient: the asyncio sandboxd client (grpc.aio), with the methods of Client."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Iterable,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    Type,
    TypeVar,
    Union,
)

import grpc

from . import _errors, _requests
from ._config import DEFAULT_TIMEOUT, ClientConfig
from ._proto.sandbox.v1 import sandbox_pb2 as pb
from ._proto.sandbox.v1 import sandbox_pb2_grpc
from ._types import Phase, Ports, Resources, Sandbox, StorageSpec, WatchEvent
from ._watch import Backoff, Deadline, WaitCondition, reconnects, timed_out

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")
_R_co = TypeVar("_R_co", covariant=True)
_R = TypeVar("_R", pb.WatchSandboxResponse, pb.WatchSandboxesResponse)


class _StreamCall(Protocol[_R_co]):
    """What the watch loop needs of a server-streaming call."""

    def __aiter__(self) -> AsyncIterator[_R_co]: ...
    def cancel(self) -> bool: ...


from ._client import DEFAULT_WAIT_TIMEOUT


class AsyncClient:
    """An asyncio client of sandboxd's SandboxLifecycle service, for one event loop.

    Arguments left unset are taken from SANDBOXD_* environment variables (see
    ClientConfig); `config` replaces all of them. Methods raise SandboxdError subclasses
    (see sandboxd._errors) and take `namespace` (default: the client's) and `timeout`
    (seconds; default: the client's). Unary calls that fail with UNAVAILABLE before the
    server answered are retried by gRPC (service config). `await close()` or an
    `async with` block releases the connection. Make it inside the event loop that uses it.
    """

    def __init__(
        self,
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
        config: Optional[ClientConfig] = None,
    ) -> None:
        self.config = config or ClientConfig.resolve(
            address,
            namespace=namespace,
            token=token,
            token_file=token_file,
            ca_cert=ca_cert,
            client_cert=client_cert,
            client_key=client_key,
            insecure=insecure,
            timeout=timeout,
            channel_options=channel_options,
        )
        credentials = self.config.channel_credentials()
        options = self.config.channel_args()
        if credentials is None:
            self._channel = grpc.aio.insecure_channel(self.config.address, options=options)
        else:
            self._channel = grpc.aio.secure_channel(
                self.config.address, credentials, options=options
            )
        self._stub = sandbox_pb2_grpc.SandboxLifecycleStub(self._channel)

    async def close(self) -> None:
        """Closes the channel; calls and watches in progress fail with Cancelled."""
        await self._channel.close(grace=None)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.close()

    async def create(
        self,
        name: str,
        *,
        namespace: Optional[str] = None,
        project: str = "",
        image: str = "",
        env: Optional[Mapping[str, str]] = None,
        labels: Optional[Mapping[str, str]] = None,
        resources: Optional[Resources] = None,
        storage: Optional[StorageSpec] = None,
        ports: Optional[Ports] = None,
        ingress_domain: str = "",
        timeout: Optional[float] = None,
    ) -> Sandbox:
        """Creates a sandbox (idempotent for the same spec) and returns it. Raises
        InvalidArgument, SandboxAlreadyExists (another spec under the name), ..."""
        request = _requests.create(
            self._namespace(namespace),
            name,
            project=project,
            image=image,
            env=env,
            labels=labels,
            resources=resources,
            storage=storage,
            ports=ports,
            ingress_domain=ingress_domain,
        )
        return (await self._call(self._stub.CreateSandbox, request, timeout)).sandbox

    async def get(
        self,
        name: str,
        *,
        namespace: Optional[str] = None,
        consistent_read: bool = False,
        timeout: Optional[float] = None,
    ) -> Sandbox:
        """Returns a sandbox. Raises SandboxNotFound."""
        request = pb.GetSandboxRequest(
            namespace=self._namespace(namespace), name=name, consistent_read=consistent_read
        )
        return (await self._call(self._stub.GetSandbox, request, timeout)).sandbox

    async def list(
        self,
        *,
        namespace: Optional[str] = None,
        project: str = "",
        label_selector: str = "",
        page_size: int = 0,
        consistent_read: bool = False,
        timeout: Optional[float] = None,
    ) -> List[Sandbox]:
        """Returns every matching sandbox of the namespace, ordered by name, reading all
        pages (page_size per call; 0: the server's default). `timeout` applies per page."""
        ns = self._namespace(namespace)
        sandboxes: List[Sandbox] = []
        token = ""
        while True:
            request = _requests.list_page(
                ns, project, label_selector, page_size, token, consistent_read
            )
            response = await self._call(self._stub.ListSandboxes, request, timeout)
            sandboxes.extend(response.sandboxes)
            token = response.next_page_token
            if not token:
                return sandboxes

    async def start(
        self, name: str, *, namespace: Optional[str] = None, timeout: Optional[float] = None
    ) -> Sandbox:
        """Starts a sandbox (idempotent) and returns it. Raises SandboxNotFound."""
        request = pb.StartSandboxRequest(namespace=self._namespace(namespace), name=name)
        return (await self._call(self._stub.StartSandbox, request, timeout)).sandbox

    async def stop(
        self, name: str, *, namespace: Optional[str] = None, timeout: Optional[float] = None
    ) -> Sandbox:
        """Stops a sandbox, keeping its home volume (idempotent), and returns it. Raises
        SandboxNotFound."""
        request = pb.StopSandboxRequest(namespace=self._namespace(namespace), name=name)
        return (await self._call(self._stub.StopSandbox, request, timeout)).sandbox

    async def update_env(
        self,
        name: str,
        env: Optional[Mapping[str, str]] = None,
        *,
        remove: Iterable[str] = (),
        expected_version: Optional[str] = None,
        namespace: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Sandbox:
        """Sets the variables of `env` and removes those named in `remove`, keeping the
        others; returns the sandbox. With expected_version, only if the sandbox's version
        is that one. Raises SandboxNotFound, InvalidArgument, VersionMismatch."""
        request = _requests.update_env(
            self._namespace(namespace), name, env, remove, expected_version
        )
        return (await self._call(self._stub.UpdateSandboxEnv, request, timeout)).sandbox

    async def delete(
        self,
        name: str,
        *,
        keep_storage: bool = False,
        allow_missing: bool = False,
        namespace: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> None:
        """Starts deleting a sandbox (see wait_until_deleted). Raises SandboxNotFound
        unless allow_missing."""
        request = pb.DeleteSandboxRequest(
            namespace=self._namespace(namespace),
            name=name,
            keep_storage=keep_storage,
            allow_missing=allow_missing,
        )
        await self._call(self._stub.DeleteSandbox, request, timeout)

    def watch(
        self,
        name: str,
        *,
        namespace: Optional[str] = None,
        resume_token: str = "",
        timeout: Optional[float] = None,
    ) -> AsyncGenerator[WatchEvent, None]:
        """Iterates asynchronously over the events of one sandbox (which need not exist
        yet): ADDED (if it exists), INITIAL_STATE_COMPLETE, then every change.

        When the stream fails with UNAVAILABLE (sandboxd restarting, a lost
        connection), a new stream resumes after the last event the caller took, with
        backoff; no event is skipped, one may repeat. When sandboxd cannot resume (the
        token is too old or from another sandboxd process), a RESET event comes: discard
        the state built from earlier events; the whole state follows as ADDED events and
        INITIAL_STATE_COMPLETE. Other errors are raised. `timeout` bounds the whole watch
        (default: none). `await aclose()` the generator to stop watching.
        """
        ns = self._namespace(namespace)

        def open_stream(
            token: str, timeout: Optional[float]
        ) -> "_StreamCall[pb.WatchSandboxResponse]":
            request = pb.WatchSandboxRequest(namespace=ns, name=name, resume_token=token)
            return self._stub.WatchSandbox(
                request, timeout=timeout, metadata=self.config.call_metadata()
            )

        return self._follow(open_stream, resume_token, Deadline(timeout))

    def watch_sandboxes(
        self,
        *,
        namespace: Optional[str] = None,
        project: str = "",
        label_selector: str = "",
        resume_token: str = "",
        timeout: Optional[float] = None,
    ) -> AsyncGenerator[WatchEvent, None]:
        """Iterates asynchronously over the events of every matching sandbox of the
        namespace: one ADDED per sandbox, INITIAL_STATE_COMPLETE, then every change.
        Reconnects, resumes and resets as watch() does."""
        ns = self._namespace(namespace)

        def open_stream(
            token: str, timeout: Optional[float]
        ) -> "_StreamCall[pb.WatchSandboxesResponse]":
            request = pb.WatchSandboxesRequest(
                namespace=ns, project=project, label_selector=label_selector, resume_token=token
            )
            return self._stub.WatchSandboxes(
                request, timeout=timeout, metadata=self.config.call_metadata()
            )

        return self._follow(open_stream, resume_token, Deadline(timeout))

    async def wait_until(
        self,
        name: str,
        phase: Union[Phase, int],
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        *,
        namespace: Optional[str] = None,
    ) -> Sandbox:
        """Waits until the sandbox is in `phase` and returns it. Raises SandboxFailed
        (reason: the sandbox's error reason) when it enters SANDBOX_PHASE_ERROR instead,
        SandboxDeleted when it is deleted or does not exist, DeadlineExceeded after
        `timeout` seconds."""
        condition = WaitCondition(name, Phase(phase))
        what = f"sandbox {name!r} to be {Phase(phase).name}"
        await self._wait(name, namespace, condition, timeout, what)
        assert condition.sandbox is not None
        return condition.sandbox

    async def wait_until_deleted(
        self,
        name: str,
        timeout: Optional[float] = DEFAULT_WAIT_TIMEOUT,
        *,
        namespace: Optional[str] = None,
    ) -> None:
        """Waits until the sandbox no longer exists (returns at once if it does not).
        Raises DeadlineExceeded after `timeout` seconds."""
        condition = WaitCondition(name, None)
        await self._wait(name, namespace, condition, timeout, f"sandbox {name!r} to be deleted")

    async def _wait(
        self,
        name: str,
        namespace: Optional[str],
        condition: WaitCondition,
        timeout: Optional[float],
        what: str,
    ) -> None:
        events = self.watch(name, namespace=namespace, timeout=timeout)
        try:
            async for event in events:
                if condition.feed(event):
                    return
        except _errors.DeadlineExceeded:
            raise timed_out(what) from None
        finally:
            await events.aclose()

    async def _follow(
        self,
        open_stream: Callable[[str, Optional[float]], "_StreamCall[_R]"],
        token: str,
        deadline: Deadline,
    ) -> AsyncGenerator[WatchEvent, None]:
        backoff = Backoff()
        while True:
            # Checked before each stream opens: a deadline already passed (a tiny timeout)
            # times out here, never racing the server's first answer.
            if deadline.expired():
                raise timed_out("the watch")
            stream = open_stream(token, deadline.remaining())
            try:
                async for response in stream:
                    backoff.reset()
                    event = WatchEvent.from_response(response)
                    yield event
                    token = event.resume_token  # the caller has processed it
            except grpc.aio.AioRpcError as e:
                error = _errors.from_rpc_error(e)
                if not reconnects(error):
                    raise error from None
            finally:
                stream.cancel()
            remaining = deadline.remaining()
            delay = backoff.delay()
            await asyncio.sleep(delay if remaining is None else min(delay, remaining))

    def _namespace(self, namespace: Optional[str]) -> str:
        ns = namespace or self.config.namespace
        if not ns:
            raise ValueError("no namespace: pass namespace= or set SANDBOXD_NAMESPACE")
        return ns

    async def _call(
        self,
        method: "grpc.aio.UnaryUnaryMultiCallable[_Request, _Response]",
        request: _Request,
        timeout: Optional[float],
    ) -> _Response:
        try:
            return await method(
                request,
                timeout=self.config.timeout if timeout is None else timeout,
                metadata=self.config.call_metadata(),
            )
        except grpc.aio.AioRpcError as e:
            raise _errors.from_rpc_error(e) from None
