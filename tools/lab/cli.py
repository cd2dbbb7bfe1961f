"""podnet-lab: a kind-like multi-node podnet cluster inside network namespaces."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from podnet.cli import EXIT_USAGE, OneLineArgumentParser
from podnet.logs import configure_logging

from tools.lab.bringup import UpOptions, lab_up
from tools.lab.daemons import DaemonOptions
from tools.lab.errors import (
    LabError,
    LabExistsError,
    LabNotUpError,
    LabStartError,
    LabUsageError,
    UnknownNodeError,
)
from tools.lab.etcd_controls import (
    etcd_cut,
    etcd_freeze,
    etcd_start,
    etcd_status,
    etcd_stop,
    status_text,
)
from tools.lab.ipamd_controls import ipamd_restart, ipamd_start, ipamd_stop
from tools.lab.layout import LabPaths, LabSettings
from tools.lab.node_controls import (
    node_add,
    node_cut,
    node_heal,
    node_remove,
    node_start,
    node_stop,
)
from tools.lab.pods import add_pods, delete_pods
from tools.lab.report import matrix_text, node_reports, ping_matrix, show_json, show_text
from tools.lab.state import read_lab, read_pods
from tools.lab.teardown import lab_down

DEFAULT_STATE_ROOT = Path("/run/podnet-lab")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def say(line: str) -> None:
    print(line, flush=True)


def _prefix(text: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,15}", text):
        raise argparse.ArgumentTypeError("1-16 of [a-z0-9-], starting with a letter or digit")
    return text


def _pod_name(text: str) -> str:
    if not _NAME.match(text) or len(text) > 40:
        raise argparse.ArgumentTypeError("a DNS label of at most 40 characters")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="podnet-lab",
        description="A local kind-like podnet cluster: nodes, pods and a bridge, "
        "all in network namespaces (nothing in the root namespace).",
    )
    parser.add_argument(
        "--prefix",
        type=_prefix,
        default="pl-",
        help="prefix of every namespace the lab makes, so labs can coexist (default: pl-)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="where lab.json, logs, sockets and configs live (default: /run/podnet-lab/PREFIX)",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="level of the JSON-lines log on stderr (default: warning)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser("up", help="create the lab and wait until the cluster is formed")
    up.add_argument("--nodes", type=int, default=3, help="number of nodes (default: 3)")
    up.add_argument(
        "--timeout", type=float, default=90.0, help="seconds to wait for the cluster (default: 90)"
    )
    up.add_argument(
        "--node-lease-ttl", type=int, default=30, help="ipamd node lease TTL (default: 30)"
    )
    up.add_argument(
        "--quarantine",
        type=int,
        default=5,
        help="seconds ipamd keeps a silent node's range and pods before reclaim (default: 5)",
    )
    up.add_argument("--mtu", type=int, help="pod interface MTU passed to the agents")
    up.add_argument(
        "--agent-image",
        metavar="IMAGE",
        help="run every node's agent from this container image with podman, as the "
        "DaemonSet runs it (build it with scripts/build-image.sh; it is never pulled)",
    )
    up.add_argument(
        "--etcd-members",
        type=int,
        default=1,
        help="etcd members: 1 runs on the control-plane; 3 or 5 run in namespaces of "
        "their own on the bridge, <prefix>etcd-1.. (default: 1)",
    )
    up.add_argument(
        "--insecure-plaintext",
        action="store_true",
        help="ipamd and agents talk plaintext gRPC (for comparisons; default: mutual TLS)",
    )
    up.set_defaults(func=_up)

    pods = commands.add_parser("pods", help="add or delete pods")
    pod_commands = pods.add_subparsers(dest="pods_command", required=True, metavar="ACTION")
    add = pod_commands.add_parser("add", help="add pods, spread over the workers")
    add.add_argument("--count", type=int, default=4, help="how many pods (default: 4)")
    add.add_argument(
        "--name", type=_pod_name, default="webserver", help="pod name stem (default: webserver)"
    )
    add.set_defaults(func=_pods_add)
    delete = pod_commands.add_parser("del", help="delete pods through the CNI chain")
    which = delete.add_mutually_exclusive_group(required=True)
    which.add_argument("--name", type=_pod_name, help="delete the pods with this name stem")
    which.add_argument("--all", action="store_true", help="delete every pod")
    delete.set_defaults(func=_pods_del)

    show = commands.add_parser("show", help="nodes (conflist, range, ip route) and pods")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(func=_show)

    ping = commands.add_parser("ping", help="pod-to-pod reachability matrix")
    ping.add_argument(
        "--timeout", type=float, default=1.0, help="seconds to wait per echo (default: 1)"
    )
    ping.set_defaults(func=_ping)

    logs = commands.add_parser("logs", help="print a daemon's log")
    logs.add_argument(
        "node", metavar="NODE", help="node name (worker2, pl-worker2) or etcd member (etcd-2)"
    )
    logs.add_argument(
        "--daemon",
        choices=["agent", "ipamd", "etcd"],
        default="agent",
        help="which daemon (default: agent; ipamd and etcd run on the control-plane)",
    )
    logs.set_defaults(func=_logs)

    _add_node_commands(commands)
    _add_ipamd_commands(commands)
    _add_etcd_commands(commands)
    down = commands.add_parser("down", help="remove everything the lab made (idempotent)")
    down.set_defaults(func=_down)
    return parser


def _timeout_flag(parser: argparse.ArgumentParser, default: float, what: str) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=default,
        help=f"seconds to wait {what} (default: {default:g})",
    )


def _add_node_commands(commands: argparse._SubParsersAction[OneLineArgumentParser]) -> None:
    node = commands.add_parser("node", help="stop, start, add or remove a node of a running lab")
    actions = node.add_subparsers(dest="node_command", required=True, metavar="ACTION")
    stop = actions.add_parser(
        "stop", help="stop the node's agent with SIGTERM, like a node being shut down"
    )
    stop.add_argument("name", metavar="NAME", help="node name, e.g. worker2 or pl-worker2")
    stop.add_argument("--kill", action="store_true", help="SIGKILL instead, like a crash")
    stop.set_defaults(func=_node_stop)
    start = actions.add_parser(
        "start", help="start the node's agent again with the same flags and paths"
    )
    start.add_argument("name", metavar="NAME", help="node name, e.g. worker2 or pl-worker2")
    _timeout_flag(start, 30.0, "for the agent's /readyz")
    start.set_defaults(func=_node_start)
    add = actions.add_parser(
        "add",
        help="a new worker joins: namespace on the bridge with the next IP, agent started; "
        "waits until it holds a range and every running node routes to every other",
    )
    _timeout_flag(add, 60.0, "for the cluster to converge")
    add.set_defaults(func=_node_add)
    remove = actions.add_parser(
        "remove",
        help="the node leaves: its pods are deleted, its agent stopped, "
        "its namespace and state removed (ipamd reclaims its range after quarantine)",
    )
    remove.add_argument("name", metavar="NAME", help="node name, e.g. worker2 or pl-worker2")
    remove.set_defaults(func=_node_remove)
    cut = actions.add_parser(
        "cut",
        help="partition a worker: drop its traffic with ipamd and etcd (inside its "
        "namespace), not pod traffic; its agent keeps running",
    )
    cut.add_argument("name", metavar="NAME", help="node name, e.g. worker2 or pl-worker2")
    cut.set_defaults(func=_node_cut)
    heal = actions.add_parser("heal", help="end a node's partition")
    heal.add_argument("name", metavar="NAME", help="node name, e.g. worker2 or pl-worker2")
    heal.set_defaults(func=_node_heal)


def _add_ipamd_commands(commands: argparse._SubParsersAction[OneLineArgumentParser]) -> None:
    ipamd = commands.add_parser("ipamd", help="stop, start or restart the lab's ipamd")
    actions = ipamd.add_subparsers(dest="ipamd_command", required=True, metavar="ACTION")
    stop = actions.add_parser("stop", help="stop ipamd (SIGTERM); agents keep running")
    stop.add_argument("--kill", action="store_true", help="SIGKILL instead, like a crash")
    stop.set_defaults(func=_ipamd_stop)
    start = actions.add_parser("start", help="start ipamd again with its original flags")
    _timeout_flag(start, 30.0, "until it serves")
    start.set_defaults(func=_ipamd_start)
    restart = actions.add_parser("restart", help="stop, then start; waits until it serves")
    restart.add_argument(
        "--kill",
        action="store_true",
        help="SIGKILL instead of SIGTERM (no 2 s drain of open streams: a quick crash-restart)",
    )
    _timeout_flag(restart, 30.0, "until it serves")
    restart.set_defaults(func=_ipamd_restart)


def _add_etcd_commands(commands: argparse._SubParsersAction[OneLineArgumentParser]) -> None:
    etcd = commands.add_parser(
        "etcd", help="stop, kill, start, freeze or cut off an etcd member; who leads"
    )
    actions = etcd.add_subparsers(dest="etcd_command", required=True, metavar="ACTION")
    member_help = "etcd member (etcd-2, pl-etcd-2; etcd when alone) or 'leader'"
    handlers: list[tuple[str, str, Command]] = [
        ("stop", "SIGTERM the member; its data dir stays", _etcd_stop),
        ("kill", "SIGKILL the member, like a crash", _etcd_kill),
        ("start", "start the member again on its data dir; it rejoins", _etcd_start),
        ("freeze", "SIGSTOP the member: it hangs, connections stay open", _etcd_freeze),
        ("thaw", "SIGCONT a frozen member", _etcd_thaw),
        ("cut", "drop all traffic of the member's namespace (--etcd-members 3, 5)", _etcd_cut),
        ("heal", "end the member's partition", _etcd_heal),
    ]
    for name, help_text, handler in handlers:
        action = actions.add_parser(name, help=help_text)
        action.add_argument("member", metavar="MEMBER", help=member_help)
        if name == "start":
            _timeout_flag(action, 30.0, "until it takes connections")
        action.set_defaults(func=handler)
    status = actions.add_parser("status", help="each member: state, raft role, db size")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_etcd_status)


def _up(settings: LabSettings, args: argparse.Namespace) -> None:
    options = UpOptions(
        nodes=args.nodes,
        timeout=args.timeout,
        daemons=DaemonOptions(
            node_lease_ttl=args.node_lease_ttl,
            quarantine=args.quarantine,
            mtu=args.mtu,
            agent_image=args.agent_image,
            insecure_plaintext=args.insecure_plaintext,
        ),
        etcd_members=args.etcd_members,
    )
    try:
        lab_up(settings, options, say)
    except (LabExistsError, LabUsageError):
        raise
    except (LabError, OSError, RuntimeError, subprocess.SubprocessError) as error:
        raise LabStartError(
            f"{error}\nthe lab is left in place for `logs` and `show`; "
            f"`podnet-lab --prefix {settings.prefix} down` removes it"
        ) from error


def _pods_add(settings: LabSettings, args: argparse.Namespace) -> None:
    add_pods(settings, args.count, args.name, say)


def _pods_del(settings: LabSettings, args: argparse.Namespace) -> None:
    delete_pods(settings, None if args.all else args.name, say)


def _show(settings: LabSettings, args: argparse.Namespace) -> None:
    paths = LabPaths(settings.state_dir)
    lab = read_lab(paths.lab_json)
    if lab is None:
        raise LabNotUpError(f"no lab with prefix {settings.prefix!r} in {settings.state_dir}")
    reports = node_reports(lab)
    pods = read_pods(paths.pods_dir)
    say(show_json(lab, reports, pods) if args.json else show_text(lab, reports, pods))


def _ping(settings: LabSettings, args: argparse.Namespace) -> int:
    pods = read_pods(LabPaths(settings.state_dir).pods_dir)
    if len(pods) < 2:
        say(f"{len(pods)} pod(s): nothing to ping")
        return 0
    matrix = ping_matrix(pods, args.timeout)
    say(matrix_text(pods, matrix))
    failed = sum(1 for answered in matrix.values() if not answered)
    say(f"{len(matrix) - failed}/{len(matrix)} pairs reachable")
    return 1 if failed else 0


def _logs(settings: LabSettings, args: argparse.Namespace) -> None:
    lab = read_lab(LabPaths(settings.state_dir).lab_json)
    if lab is None:
        raise LabNotUpError(f"no lab with prefix {settings.prefix!r} in {settings.state_dir}")
    member = lab.etcd_member(args.node)
    if member is not None and member.daemon is not None:
        sys.stdout.write(Path(member.daemon.log).read_text(errors="replace"))
        return
    node = lab.node(args.node)
    if node is None:
        known = ", ".join([n.role for n in lab.nodes] + [m.name for m in lab.etcd_members])
        raise UnknownNodeError(f"no node or etcd member {args.node!r} (known: {known})")
    here = [m.daemon for m in lab.etcd_members if m.netns == node.netns]
    etcd = here[0] if here else None
    record = {"agent": node.agent, "ipamd": lab.ipamd, "etcd": etcd}[args.daemon]
    if record is None or record.netns != node.netns:
        raise UnknownNodeError(f"{args.daemon} does not run on {node.role}")
    sys.stdout.write(Path(record.log).read_text(errors="replace"))


def _down(settings: LabSettings, args: argparse.Namespace) -> None:
    lab_down(settings, say)


def _node_stop(settings: LabSettings, args: argparse.Namespace) -> None:
    node_stop(settings, args.name, args.kill, say)


def _node_start(settings: LabSettings, args: argparse.Namespace) -> None:
    node_start(settings, args.name, args.timeout, say)


def _node_add(settings: LabSettings, args: argparse.Namespace) -> None:
    node_add(settings, args.timeout, say)


def _node_remove(settings: LabSettings, args: argparse.Namespace) -> None:
    node_remove(settings, args.name, say)


def _node_cut(settings: LabSettings, args: argparse.Namespace) -> None:
    node_cut(settings, args.name, say)


def _node_heal(settings: LabSettings, args: argparse.Namespace) -> None:
    node_heal(settings, args.name, say)


def _ipamd_stop(settings: LabSettings, args: argparse.Namespace) -> None:
    ipamd_stop(settings, args.kill, say)


def _ipamd_start(settings: LabSettings, args: argparse.Namespace) -> None:
    ipamd_start(settings, args.timeout, say)


def _ipamd_restart(settings: LabSettings, args: argparse.Namespace) -> None:
    ipamd_restart(settings, args.kill, args.timeout, say)


def _etcd_stop(settings: LabSettings, args: argparse.Namespace) -> None:
    etcd_stop(settings, args.member, False, say)


def _etcd_kill(settings: LabSettings, args: argparse.Namespace) -> None:
    etcd_stop(settings, args.member, True, say)


def _etcd_start(settings: LabSettings, args: argparse.Namespace) -> None:
    etcd_start(settings, args.member, args.timeout, say)


def _etcd_freeze(settings: LabSettings, args: argparse.Namespace) -> None:
    etcd_freeze(settings, args.member, True, say)


def _etcd_thaw(settings: LabSettings, args: argparse.Namespace) -> None:
    etcd_freeze(settings, args.member, False, say)


def _etcd_cut(settings: LabSettings, args: argparse.Namespace) -> None:
    etcd_cut(settings, args.member, True, say)


def _etcd_heal(settings: LabSettings, args: argparse.Namespace) -> None:
    etcd_cut(settings, args.member, False, say)


def _etcd_status(settings: LabSettings, args: argparse.Namespace) -> None:
    lab, statuses = etcd_status(settings)
    if args.json:
        say(json.dumps([dataclasses.asdict(s) | {"leader": s.is_leader} for s in statuses]))
    else:
        say(status_text(lab, statuses))


# Each command's func takes (settings, args) and returns its exit status (None: 0).
Command = Callable[[LabSettings, argparse.Namespace], "int | None"]


def run(args: argparse.Namespace) -> int:
    state_dir = args.state_dir or DEFAULT_STATE_ROOT / args.prefix
    settings = LabSettings(prefix=args.prefix, state_dir=state_dir.absolute())
    command: Command = args.func
    status = command(settings, args)
    return 0 if status is None else status


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        return run(args)
    except LabUsageError as error:
        print(f"podnet-lab: error: {error}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except (LabError, OSError, RuntimeError, subprocess.SubprocessError) as error:
        print(f"podnet-lab: {error}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
