"""The agent's read-only admin service (podnet.v1.AgentAdmin): what podnetctl asks a node.

A gRPC server of its own on TCP (`--admin-listen`, default <node-ip>:9611), mutual TLS
with the node's certificate as server certificate, health and reflection like every
podnet gRPC server. Only admin identities may call AgentAdmin; any other caller is
refused with PERMISSION_DENIED (UNAUTHENTICATED without a podnet identity), logged and
counted. Nothing it answers changes anything.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import grpc
import grpc.aio
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from podnet.logs import log_event
from podnet.tls.certificates import subject_alt_names
from podnet.tls.errors import InvalidIdentity, TlsError
from podnet.tls.files import WatchedTlsFiles
from podnet.tls.grpc_credentials import server_credentials
from podnet.tls.identity import Role, SpiffeId
from podnet.tls.peer import peer_identity
from podnet.v1 import agent_admin_pb2, agent_admin_pb2_grpc
from podnet.version import podnet_version
from prometheus_client import CollectorRegistry, Counter

from netagent.errors import ConfigError
from netagent.server.attachment_journal import AttachmentJournal

if TYPE_CHECKING:
    from netagent.config import AgentConfig
    from netagent.controllers.node_range import NodeRangeHolder
    from netagent.controllers.peer_route_follower import PeerRouteFollower
    from netagent.seams import Dataplane
    from netagent.verbs.service import CniService

logger = logging.getLogger("podnet.agent.admin")

ADMIN_SERVICE = agent_admin_pb2.DESCRIPTOR.services_by_name["AgentAdmin"].full_name
STOP_GRACE_SECONDS = 1.0

Context = grpc.aio.ServicerContext[Any, Any]


class AgentView(Protocol):
    """What the admin service reads of the running agent (netagent.agent.Agent)."""

    config: AgentConfig
    holder: NodeRangeHolder
    service: CniService
    peers: PeerRouteFollower
    dataplane: Dataplane

    def readiness(self) -> tuple[bool, str]: ...


def _timestamp(moment: datetime.datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def serving_problem(certificate: x509.Certificate) -> str | None:
    """Why a certificate cannot serve TLS clients can verify, or None."""
    try:
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = None
    if usages is not None and ExtendedKeyUsageOID.SERVER_AUTH not in usages:
        return "it lacks the serverAuth usage"
    names = subject_alt_names(certificate)
    if not (names.get_values_for_type(x509.DNSName) or names.get_values_for_type(x509.IPAddress)):
        return "it names no DNS or IP address"
    return None


class AdminServicer(agent_admin_pb2_grpc.AgentAdminServicer):
    def __init__(
        self,
        agent: AgentView,
        journal: AttachmentJournal,
        trust_domain: str,
        refused: Counter,
        started: datetime.datetime,
    ) -> None:
        self._agent = agent
        self._journal = journal
        self._trust_domain = trust_domain
        self._refused = refused
        self._started = started

    async def _require_admin(self, context: Context, method: str) -> None:
        try:
            caller = peer_identity(context, self._trust_domain)
        except InvalidIdentity as error:
            await self._refuse(
                context, method, grpc.StatusCode.UNAUTHENTICATED, str(error), "no_identity"
            )
            return
        if caller.role is not Role.ADMIN:
            await self._refuse(
                context,
                method,
                grpc.StatusCode.PERMISSION_DENIED,
                f"AgentAdmin is for admin identities; the caller is {caller}",
                "not_admin",
                caller,
            )

    async def _refuse(
        self,
        context: Context,
        method: str,
        code: grpc.StatusCode,
        message: str,
        reason: str,
        caller: SpiffeId | None = None,
    ) -> None:
        self._refused.labels(method, reason).inc()
        log_event(
            logger,
            "admin_call_refused",
            logging.WARNING,
            method=method,
            caller=str(caller) if caller else "",
            peer=context.peer(),
            reason=message,
        )
        await context.abort(code, message)

    async def ListAttachments(
        self, request: agent_admin_pb2.ListAttachmentsRequest, context: Context
    ) -> agent_admin_pb2.ListAttachmentsReply:
        await self._require_admin(context, "ListAttachments")
        veths = await self._agent.dataplane.list_host_veths()
        present = {(v.container_id, v.ifname) for v in veths if v.container_id and v.ifname}
        self._journal.keep_only(present)
        attachments = []
        for veth in veths:
            attachment = agent_admin_pb2.Attachment(
                container_id=veth.container_id or "",
                ifname=veth.ifname or "",
                addresses=[str(address) for address in veth.pod_ips],
                host_veth=veth.name,
            )
            entry = self._journal.get(attachment.container_id, attachment.ifname)
            if entry is not None:
                attachment.pod_netns = entry.netns
                attachment.since.CopyFrom(_timestamp(entry.since))
            attachments.append(attachment)
        return agent_admin_pb2.ListAttachmentsReply(
            node=self._agent.config.node_name, attachments=attachments
        )

    async def GetStatus(
        self, request: agent_admin_pb2.GetAgentStatusRequest, context: Context
    ) -> agent_admin_pb2.AgentStatus:
        await self._require_admin(context, "GetStatus")
        agent = self._agent
        node_range = agent.holder.current
        ready, readiness = agent.readiness()
        return agent_admin_pb2.AgentStatus(
            node=agent.config.node_name,
            node_ip=str(agent.config.node_ip),
            cidr=str(node_range.cidr) if node_range else "",
            fenced=node_range is None,
            serving_adds=agent.service.serving_adds,
            ipamd_connected=agent.peers.connected,
            ready=ready,
            readiness=readiness,
            version=podnet_version(),
            started=_timestamp(self._started),
        )


@dataclass
class AdminService:
    """The admin server, built (and its certificate checked) with the agent, started and
    stopped with it."""

    listen: str
    files: WatchedTlsFiles
    servicer: AdminServicer
    server: grpc.aio.Server | None = None
    address: str = ""

    @classmethod
    def for_agent(
        cls, agent: AgentView, journal: AttachmentJournal, registry: CollectorRegistry
    ) -> AdminService | None:
        """The service the agent's flags ask for; None when off. Raises ConfigError when
        it cannot serve: TLS files that do not load, a certificate of another identity,
        or (when --admin-listen was given) one that cannot serve TLS."""
        config = agent.config
        if config.admin_listen is None:
            return None
        if config.tls is None:
            log_event(logger, "admin_service_off", logging.WARNING, reason="no --tls-* files")
            return None
        try:
            files = WatchedTlsFiles(config.tls)
        except TlsError as error:
            raise ConfigError(f"--tls-cert/--tls-key/--tls-ca: {error}") from None
        material = files.current()
        wanted = SpiffeId(material.trust_domain, Role.NODE, config.node_name)
        if material.identity != wanted:
            raise ConfigError(
                f"--tls-cert: {config.tls.cert} is {material.identity}, not this node ({wanted})"
            )
        problem = serving_problem(material.pair.certificate)
        if problem is not None:
            message = (
                f"{config.tls.cert} cannot serve the admin service: {problem} "
                "(issue it with `podnetctl certs issue --role node --ip <node-ip>`)"
            )
            if config.admin_listen_given:
                raise ConfigError(f"--admin-listen: {message}")
            log_event(logger, "admin_service_off", logging.WARNING, reason=message)
            return None
        refused = Counter(
            "podnet_admin_calls_refused",
            "Calls to the agent's admin service refused: the caller is not an admin identity",
            ["method", "reason"],
            registry=registry,
        )
        started = datetime.datetime.now(datetime.UTC)
        servicer = AdminServicer(agent, journal, material.trust_domain, refused, started)
        return cls(config.admin_listen, files, servicer)

    async def start(self) -> None:
        server = grpc.aio.server()
        agent_admin_pb2_grpc.add_AgentAdminServicer_to_server(self.servicer, server)
        health_servicer = health_aio.HealthServicer()
        for service in ("", ADMIN_SERVICE):
            await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(
            (ADMIN_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        try:
            port = server.add_secure_port(self.listen, server_credentials(self.files))
        except RuntimeError as error:
            raise ConfigError(f"--admin-listen: cannot listen on {self.listen}: {error}") from None
        if port == 0:
            raise ConfigError(f"--admin-listen: cannot listen on {self.listen}")
        await server.start()
        self.server = server
        self.address = f"{self.listen.rpartition(':')[0]}:{port}"
        log_event(logger, "admin_serving", address=self.address)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(STOP_GRACE_SECONDS)
            self.server = None
