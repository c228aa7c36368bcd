"""Request messages of the SandboxLifecycle calls, built from the clients' arguments;
shared by Client and AsyncClient."""

from __future__ import annotations

from typing import Iterable, Mapping, Optional

from ._proto.sandbox.v1 import sandbox_pb2 as pb


def create(
    namespace: str,
    name: str,
    *,
    project: str,
    image: str,
    env: Optional[Mapping[str, str]],
    labels: Optional[Mapping[str, str]],
    resources: Optional[pb.Resources],
    storage: Optional[pb.StorageSpec],
    ports: Optional[pb.Ports],
    ingress_domain: str,
) -> pb.CreateSandboxRequest:
    spec = pb.SandboxSpec(
        name=name,
        namespace=namespace,
        project=project,
        image=image,
        env=dict(env or {}),
        labels=dict(labels or {}),
        ingress_domain=ingress_domain,
    )
    if resources is not None:
        spec.resources.CopyFrom(resources)
    if storage is not None:
        spec.storage.CopyFrom(storage)
    if ports is not None:
        spec.ports.CopyFrom(ports)
    return pb.CreateSandboxRequest(spec=spec)


def update_env(
    namespace: str,
    name: str,
    env: Optional[Mapping[str, str]],
    remove: Iterable[str],
    expected_version: Optional[str],
) -> pb.UpdateSandboxEnvRequest:
    request = pb.UpdateSandboxEnvRequest(
        namespace=namespace, name=name, env=dict(env or {}), remove_keys=list(remove)
    )
    if expected_version is not None:
        request.expected_version = expected_version
    return request


def list_page(
    namespace: str,
    project: str,
    label_selector: str,
    page_size: int,
    page_token: str,
    consistent_read: bool,
) -> pb.ListSandboxesRequest:
    return pb.ListSandboxesRequest(
        namespace=namespace,
        project=project,
        label_selector=label_selector,
        page_size=page_size,
        page_token=page_token,
        consistent_read=consistent_read,
    )
