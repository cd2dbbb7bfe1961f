"""The cluster commands' command line: `nodes`, `ips`, `ipam check|release`, `status`,
each with the connection options (so they may come before or after the command's own)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from podnetctl.cluster.config import DEFAULT_TIMEOUT, LAB_CONFIG, ConfigFlags, resolve
from podnetctl.cluster.netns import enter_netns

if TYPE_CHECKING:
    from podnetctl.cluster.clients import Cluster

Command = Callable[["Cluster", argparse.Namespace], Awaitable[int]]


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _connection_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("cluster connection")
    group.add_argument(
        "--config",
        type=Path,
        help="JSON file naming ipamd, the agents and the admin certificate (default: "
        "~/.config/podnet/podnetctl.json, else /etc/podnet/podnetctl.conf, if present)",
    )
    group.add_argument("--lab", action="store_true", help=f"the default lab's {LAB_CONFIG}")
    group.add_argument(
        "--ipamd", action="append", default=[], metavar="HOST:PORT", help="an ipamd (repeatable)"
    )
    group.add_argument(
        "--agent",
        action="append",
        default=[],
        metavar="NAME=HOST:PORT",
        help="node NAME's agent admin service (repeatable)",
    )
    group.add_argument("--cacert", type=Path, help="the podnet CA bundle")
    group.add_argument("--cert", type=Path, help="an admin certificate (role admin)")
    group.add_argument("--key", type=Path, help="the key of --cert")
    group.add_argument(
        "--ipamd-insecure-plaintext",
        action="store_true",
        help="talk to ipamd without TLS even with a certificate (an ipamd serving plaintext)",
    )
    group.add_argument("--netns", help="dial from inside this network namespace")
    group.add_argument(
        "--timeout", type=_seconds, help=f"seconds per call (default {DEFAULT_TIMEOUT:g})"
    )
    group.add_argument("--json", action="store_true", help="JSON instead of a table")
    return common


def _flags(args: argparse.Namespace) -> ConfigFlags:
    return ConfigFlags(
        config=args.config,
        lab=args.lab,
        ipamd=args.ipamd,
        agents=args.agent,
        cacert=args.cacert,
        cert=args.cert,
        key=args.key,
        ipamd_insecure_plaintext=args.ipamd_insecure_plaintext,
        netns=args.netns,
        timeout=args.timeout,
    )


async def _with_cluster(args: argparse.Namespace, command: Command) -> int:
    from podnetctl.cluster.clients import Cluster

    cluster = Cluster(resolve(_flags(args)))
    try:
        return await command(cluster, args)
    finally:
        await cluster.close()


def _runner(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        netns = resolve(_flags(args)).netns
        if netns is not None:
            enter_netns(netns)  # before gRPC makes a thread or a socket
        return asyncio.run(_with_cluster(args, command))

    return run


async def _nodes(cluster: Cluster, args: argparse.Namespace) -> int:
    from podnetctl.cluster.listing import show_nodes

    return await show_nodes(cluster, args.json)


async def _ips(cluster: Cluster, args: argparse.Namespace) -> int:
    from podnetctl.cluster.listing import show_ips

    return await show_ips(cluster, args.node, args.json)


async def _check(cluster: Cluster, args: argparse.Namespace) -> int:
    from podnetctl.cluster.checking import check_ipam

    return await check_ipam(cluster, args.settle, args.json)


async def _release(cluster: Cluster, args: argparse.Namespace) -> int:
    from podnetctl.cluster.releasing import release_ip

    return await release_ip(cluster, args.ip, args.force, args.json)


async def _status(cluster: Cluster, args: argparse.Namespace) -> int:
    from podnetctl.cluster.status import show_status

    return await show_status(cluster, args.json)


def _ip(text: str) -> str:
    from podnetctl.cluster.releasing import parse_address
    from podnetctl.errors import CommandError

    try:
        return parse_address(text)
    except CommandError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--ip: ")) from None


def add_parsers(subcommands: argparse._SubParsersAction[Any]) -> None:
    common = _connection_options()
    nodes = subcommands.add_parser(
        "nodes",
        parents=[common],
        help="every node's range, node IP, lease and quarantine (from ipamd)",
    )
    nodes.set_defaults(run=_runner(_nodes))

    ips = subcommands.add_parser(
        "ips", parents=[common], help="allocated pod addresses: pod, container, ifname"
    )
    ips.add_argument("--node", help="only this node's")
    ips.set_defaults(run=_runner(_ips))

    ipam = subcommands.add_parser("ipam", help="check and repair pod address allocations")
    verbs = ipam.add_subparsers(dest="verb", required=True, metavar="{check,release}")
    check = verbs.add_parser(
        "check",
        parents=[common],
        help="compare ipamd's allocations with what every agent reports attached",
        description="Lists leaks (allocated, not attached on its node) and orphans (attached "
        "on a node, not allocated to that attachment). Exit status 0: clean; 1: problems "
        "found; 2: could not check (ipamd or an agent did not answer).",
    )
    check.add_argument(
        "--settle",
        type=_seconds,
        default=1.0,
        help="look again after this many seconds and report only what both looks found "
        "(pods in the middle of ADD or DEL); 0 looks once (default 1)",
    )
    check.set_defaults(run=_runner(_check))
    release = verbs.add_parser(
        "release",
        parents=[common],
        help="give one address back to ipamd",
        description="Releases the allocation holding the address. Refused while the agent "
        "of its node reports it attached, or cannot say, unless --force.",
    )
    release.add_argument("--ip", type=_ip, required=True, help="the address to release")
    release.add_argument("--force", action="store_true", help="release even if a pod still has it")
    release.set_defaults(run=_runner(_release))

    status = subcommands.add_parser(
        "status",
        parents=[common],
        help="health, version and fencing of every ipamd replica and agent",
    )
    status.set_defaults(run=_runner(_status))
