"""The agent's CNI verbs: ADD, DEL, CHECK, GC and STATUS on top of ipamd and the dataplane.

ADD undoes its own partial work; DEL succeeds when things are already gone
and never blocks pod deletion (a release ipamd cannot take now is spooled);
all operations on one (container id, ifname) are serialised.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from podnet.logs import log_event
from podnet.shim.spool import discard_spooled_del, spool_del, spooled_del_path
from podnet.shim.wire import Invocation
from podnet.v1 import ipam_pb2

from netagent.cni.port_mappings import parse_port_mappings
from netagent.cni.request import CniRequest
from netagent.cni.result import AddResult, parse_prev_result, pod_attachment_result
from netagent.controllers.host_port_keeper import HostPortKeeper
from netagent.controllers.node_range import NodeRangeHolder
from netagent.dataplane.caller_view import CallerRoot, NetnsPath
from netagent.dataplane.model import PodNetworkSpec
from netagent.dataplane.naming import host_veth_name
from netagent.errors import CheckMismatch, IpamFailed, IpamUnavailable, NodeFenced
from netagent.ipam_client import NodeRange, PodAddress
from netagent.metrics import AgentMetrics
from netagent.seams import Dataplane, PodAddresses
from netagent.verbs.attachment_locks import AttachmentLocks

logger = logging.getLogger("podnet.agent.cni")


@dataclass(frozen=True)
class ServiceSettings:
    node_name: str
    spool_dir: Path
    mtu: int


class CniService:
    def __init__(
        self,
        settings: ServiceSettings,
        ipam: PodAddresses,
        dataplane: Dataplane,
        holder: NodeRangeHolder,
        metrics: AgentMetrics,
        ipamd_reachable: Callable[[], bool],
    ) -> None:
        self._ipamd_reachable = ipamd_reachable
        self._settings = settings
        self._ipam = ipam
        self._dataplane = dataplane
        self._holder = holder
        self._metrics = metrics
        self._locks = AttachmentLocks()
        self._host_ports = HostPortKeeper(dataplane)
        self._serving_adds = False

    def start_serving_adds(self) -> None:
        """Called once the kernel is reconciled with ipamd: until then ADD is fenced."""
        self._serving_adds = True

    def stop_serving_adds(self) -> None:
        """Fences ADD until the next start_serving_adds (a reconcile must run first)."""
        self._serving_adds = False

    @property
    def serving_adds(self) -> bool:
        return self._serving_adds

    async def add(self, request: CniRequest, caller_root: CallerRoot | None = None) -> AddResult:
        if not self._serving_adds:
            raise NodeFenced("the agent is reconciling its pods with ipamd; try again later")
        node_range = self._holder.require()
        port_mappings = parse_port_mappings(request.config.runtime_config)
        key = (request.container_id, request.ifname)
        netns = NetnsPath(request.netns, caller_root)
        pod = ipam_pb2.PodRef(
            k8s_namespace=request.pod.namespace,
            k8s_name=request.pod.name,
            k8s_uid=request.pod.uid,
        )
        async with self._locks.hold(*key):
            await self._settle_spooled_del(*key)
            # Refuses a bad netns or an existing ifname before an address is spent.
            async with self._dataplane.prepared_attach(netns, request.ifname) as attacher:
                allocation = await self._ipam.allocate(
                    node_range, request.container_id, request.ifname, pod
                )
                spec = self._spec(request, allocation, node_range, netns)
                try:
                    attachment = await attacher.attach(spec)
                    try:
                        await self._host_ports.add(key, allocation.address.ip, port_mappings)
                    except BaseException:
                        await self._dataplane.detach(spec.host_ifname, spec.netns, spec.ifname)
                        raise
                except BaseException:
                    await self._release_quietly(request.container_id, request.ifname)
                    raise
        self._metrics.allocations_in_use.inc()
        log_event(
            logger, "pod_added", address=str(allocation.address), host_veth=attachment.host_ifname
        )
        return pod_attachment_result(
            host_ifname=attachment.host_ifname,
            host_mac=attachment.host_mac,
            pod_ifname=attachment.pod_ifname,
            pod_mac=attachment.pod_mac,
            sandbox=request.netns,
            addresses=[allocation.address],
            gateways=[allocation.gateway],
            mtu=attachment.mtu,
        )

    async def _settle_spooled_del(self, container_id: str, ifname: str) -> None:
        """A DEL spooled for this attachment belongs to an earlier pod that reused the
        container id (podman restarts keep it): it runs now, before the new attachment
        exists, so its replay can never tear the new one down. Called holding the lock."""
        spooled = spooled_del_path(self._settings.spool_dir, container_id, ifname)
        if not spooled.exists():
            return
        await self._host_ports.remove((container_id, ifname))
        await self._dataplane.detach(host_veth_name(container_id, ifname), None, ifname)
        try:
            released = await self._ipam.release(self._settings.node_name, container_id, ifname)
        except IpamUnavailable as error:
            raise IpamUnavailable(
                f"a DEL spooled earlier for this attachment cannot be settled yet: {error}"
            ) from error
        discard_spooled_del(spooled)
        if released is not None:
            self._metrics.allocations_in_use.dec()
        log_event(logger, "spooled_del_settled", released=released, spool_file=str(spooled))

    async def delete(self, request: CniRequest, caller_root: CallerRoot | None = None) -> None:
        host_veth = host_veth_name(request.container_id, request.ifname)
        async with self._locks.hold(request.container_id, request.ifname):
            if (
                request.replayed
                and not spooled_del_path(
                    self._settings.spool_dir, request.container_id, request.ifname
                ).exists()
            ):
                # An ADD of the same attachment settled it while this replay waited for
                # the lock; the attachment there now is newer and not this DEL's.
                log_event(logger, "spooled_del_already_settled")
                return
            netns = NetnsPath(request.netns, caller_root) if request.netns else None
            await self._host_ports.remove((request.container_id, request.ifname))
            await self._dataplane.detach(host_veth, netns, request.ifname)
            try:
                released = await self._ipam.release(
                    self._settings.node_name, request.container_id, request.ifname
                )
            except (IpamUnavailable, IpamFailed) as error:
                if request.replayed:
                    raise  # the replay keeps its spool file and tries again later
                path = spool_del(self._settings.spool_dir, _invocation_for_spool(request))
                log_event(
                    logger,
                    "release_spooled",
                    logging.ERROR if isinstance(error, IpamFailed) else logging.WARNING,
                    error=error,
                    spool_file=str(path),
                )
                return
        if released is not None:
            self._metrics.allocations_in_use.dec()
        log_event(logger, "pod_deleted", released=released)

    async def check(self, request: CniRequest, caller_root: CallerRoot | None = None) -> None:
        node_range = self._holder.require()
        expected = parse_prev_result(request.config.prev_result or {}, request.config.cni_version)
        allocations = {
            (a.container_id, a.ifname): a
            for a in await self._ipam.list_allocations(self._settings.node_name)
        }
        record = allocations.get((request.container_id, request.ifname))
        if record is None:
            raise CheckMismatch(
                f"ipamd holds no address for {request.container_id}/{request.ifname}"
            )
        expected_addresses = {a.ip for a in expected.addresses_on(request.ifname)}
        if expected_addresses != {record.address.ip}:
            raise CheckMismatch(
                f"prevResult has {sorted(map(str, expected_addresses))} on {request.ifname} "
                f"but ipamd records {record.address}"
            )
        pod_interface = expected.interface_named(request.ifname)
        spec = self._spec(request, record, node_range, NetnsPath(request.netns, caller_root))
        await self._dataplane.verify(spec, pod_interface.mac if pod_interface else "")
        await self._host_ports.verify(
            (request.container_id, request.ifname),
            record.address.ip,
            parse_port_mappings(request.config.runtime_config),
        )

    async def gc(self, request: CniRequest) -> None:
        """Releases this node's allocations and veths not among the valid attachments."""
        valid = {(a.container_id, a.ifname) for a in request.config.valid_attachments}
        valid_veths = {host_veth_name(cid, ifn) for cid, ifn in valid}
        failures: list[str] = []
        for allocation in await self._ipam.list_allocations(self._settings.node_name):
            key = (allocation.container_id, allocation.ifname)
            if key in valid:
                continue
            try:
                async with self._locks.hold(*key):
                    await self._host_ports.remove(key)
                    await self._dataplane.detach(host_veth_name(*key), None, allocation.ifname)
                    await self._ipam.release(self._settings.node_name, *key)
                self._metrics.allocations_in_use.dec()
                log_event(
                    logger,
                    "gc_released",
                    container_id=key[0],
                    ifname=key[1],
                    address=str(allocation.address),
                )
            except Exception as error:
                failures.append(f"{key[0]}/{key[1]}: {error}")
        for veth in await self._dataplane.list_host_veths():
            if veth.name in valid_veths:
                continue
            try:
                await self._dataplane.detach(veth.name, None, "")
            except Exception as error:
                failures.append(f"{veth.name}: {error}")
                continue
            log_event(logger, "gc_removed_veth", host_veth=veth.name)
        if failures:
            raise IpamUnavailable("GC could not clean up: " + "; ".join(failures))

    def status(self) -> None:
        self._holder.require()
        if not self._ipamd_reachable():
            raise IpamUnavailable("ipamd is not reachable from this node")

    async def reconcile(self) -> None:
        """On start: remove veths with no allocation, release allocations with no veth."""
        allocations = await self._ipam.list_allocations(self._settings.node_name)
        await self._host_ports.load({a.address.ip: (a.container_id, a.ifname) for a in allocations})
        expected = {host_veth_name(a.container_id, a.ifname): a for a in allocations}
        present = {veth.name for veth in await self._dataplane.list_host_veths()}
        for name in present - expected.keys():
            await self._dataplane.detach(name, None, "")
            log_event(logger, "reconcile_removed_orphan_veth", host_veth=name)
        for name, allocation in expected.items():
            if name not in present:
                await self._ipam.release(
                    self._settings.node_name, allocation.container_id, allocation.ifname
                )
                log_event(
                    logger,
                    "reconcile_released_orphan_allocation",
                    container_id=allocation.container_id,
                    ifname=allocation.ifname,
                    address=str(allocation.address),
                )
        self._metrics.allocations_in_use.set(len(present & expected.keys()))

    def _spec(
        self,
        request: CniRequest,
        allocation: PodAddress,
        node_range: NodeRange,
        netns: NetnsPath,
    ) -> PodNetworkSpec:
        return PodNetworkSpec(
            netns=netns,
            ifname=request.ifname,
            host_ifname=host_veth_name(request.container_id, request.ifname),
            address=allocation.address,
            gateway=allocation.gateway,
            pod_range=ipaddress.IPv4Network(node_range.cidr),
            mtu=request.config.mtu or self._settings.mtu,
            container_id=request.container_id,
        )

    async def _release_quietly(self, container_id: str, ifname: str) -> None:
        try:
            await self._ipam.release(self._settings.node_name, container_id, ifname)
        except Exception as error:
            log_event(logger, "undo_release_failed", logging.ERROR, error=error)


def _invocation_for_spool(request: CniRequest) -> Invocation:
    return Invocation(
        command="DEL",
        container_id=request.container_id,
        netns=request.netns,
        ifname=request.ifname,
        args=request.raw_args,
        config=request.raw_config,
    )
