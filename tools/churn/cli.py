"""podnet-churn: concurrent pod churn through a CNI chain, with a report and invariant checks.

Exit status: 0 all good; 1 an invariant broke or the target is unusable;
2 bad usage; 3 invariants held but some pod operations failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from podnet.cli import OneLineArgumentParser
from podnet.logs import configure_logging

from tools.churn.errors import ChurnError, InvariantViolationError
from tools.churn.reference import (
    DEFAULT_REFERENCE_CNI_VERSION,
    DEFAULT_REFERENCE_SUBNET,
    REFERENCE_KINDS,
)
from tools.churn.report import build_report, report_table
from tools.churn.runner import Workload, run_churn
from tools.churn.targets import (
    Target,
    TargetOptions,
    lab_target,
    read_running_lab,
    reference_node_of_lab,
    reference_target,
    single_node_target,
)
from tools.churn.verification import take_baseline, verify_run

EXIT_VIOLATION = 1
EXIT_POD_ERRORS = 3

logger = logging.getLogger("tools.churn")


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _positive_int(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def _port(text: str) -> int:
    value = _whole_number(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 1 to 65535, got {text!r}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _positive_float(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    value = _number(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="podnet-churn",
        description="Create and delete pods concurrently through a CNI plugin chain, the way "
        "a container runtime does, then report latency/throughput and check invariants.",
        epilog="exit status: 0 ok, 1 invariant violated or target unusable, 2 usage, "
        "3 some pod operations failed",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--lab", type=Path, metavar="STATE_DIR", help="drive a running podnet-lab")
    where.add_argument("--node-netns", metavar="NS", help="drive a single node namespace")
    parser.add_argument("--nodes", type=_positive_int, help="with --lab: use the first N workers")
    parser.add_argument("--conflist", type=Path, help="with --node-netns: the conflist to run")
    parser.add_argument("--cni-bin", metavar="DIR[:DIR]", help="with --node-netns: plugin dirs")
    parser.add_argument(
        "--reference",
        choices=REFERENCE_KINDS,
        help="run kindnet's chain (ptp + host-local [+ portmap]) instead, on one node "
        "(--node-netns, or the lab's first worker)",
    )
    parser.add_argument("--reference-subnet", default=DEFAULT_REFERENCE_SUBNET)
    parser.add_argument("--reference-cni-version", default=DEFAULT_REFERENCE_CNI_VERSION)
    parser.add_argument("-c", "--concurrency", type=_positive_int, default=8)
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument("--count", type=_positive_int, help="pods to cycle (default: 64)")
    amount.add_argument("--duration", type=_positive_float, metavar="S", help="seconds to run")
    parser.add_argument(
        "--host-port", action="store_true", help="map a unique host port per pod (portMappings)"
    )
    parser.add_argument("--first-host-port", type=_port, default=30000)
    parser.add_argument("--check", action="store_true", help="CHECK each pod after ADD")
    parser.add_argument("--plugin-timeout", type=_positive_float, default=30.0)
    parser.add_argument("--netns-prefix", help="pod namespace prefix (default: unique per run)")
    parser.add_argument("--report", type=Path, metavar="FILE", help="write the JSON report here")
    parser.add_argument(
        "--settle",
        type=_non_negative_float,
        default=10.0,
        metavar="S",
        help="after the run, wait up to S seconds for leaks and leftovers to clear before "
        "reporting them (a DEL spooled while an agent was down is released when it is "
        "back); duplicate IPs fail at once [%(default)s]",
    )
    parser.add_argument(
        "--log-level", default="warning", choices=["debug", "info", "warning", "error"]
    )
    return parser


def _netns_prefix(args: argparse.Namespace) -> str:
    if args.netns_prefix:
        return str(args.netns_prefix)
    lab_prefix = read_running_lab(args.lab).prefix if args.lab else ""
    return f"{lab_prefix}churn-{uuid.uuid4().hex[:4]}-"


@contextlib.contextmanager
def open_target(args: argparse.Namespace) -> Iterator[Target]:
    options = TargetOptions(
        pod_netns_prefix=_netns_prefix(args),
        nodes=args.nodes,
        reference=args.reference,
        reference_subnet=args.reference_subnet,
        reference_cni_version=args.reference_cni_version,
    )
    if args.reference:
        node = args.node_netns or reference_node_of_lab(args.lab)
        with reference_target(node, options) as target:
            yield target
    elif args.lab:
        yield lab_target(args.lab, options)
    else:
        bin_dirs = tuple(part for part in args.cni_bin.split(":") if part)
        yield single_node_target(args.node_netns, args.conflist, bin_dirs, options)


def _workload(args: argparse.Namespace) -> Workload:
    return Workload(
        concurrency=args.concurrency,
        count=args.count if args.count or args.duration else 64,
        duration=args.duration,
        host_port=args.host_port,
        check=args.check,
        first_host_port=args.first_host_port,
        plugin_timeout=args.plugin_timeout,
    )


def run(args: argparse.Namespace) -> int:
    with open_target(args) as target:
        baseline = take_baseline(target)
        outcome = run_churn(target, _workload(args), progress_stream=sys.stderr)
        violations = verify_run(outcome, baseline, args.settle)
    report: dict[str, Any] = build_report(outcome, violations)
    if args.report:
        args.report.write_text(json.dumps(report, indent=2) + "\n")
    print(report_table(report), flush=True)
    if violations:
        listed = "\n".join(f"  {v.invariant}: {v.detail}" for v in violations)
        raise InvariantViolationError(f"{len(violations)} invariant violation(s):\n{listed}")
    if report["errors"]["total"]:
        samples = "\n".join(
            f"  {error['phase']} code {error['code']}: {error['message']}"
            for error in report["errors"]["samples"]
        )
        print(
            f"podnet-churn: {report['pods']['with_errors']} pod(s) had errors:\n{samples}",
            file=sys.stderr,
        )
        return EXIT_POD_ERRORS
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.nodes and not args.lab:
        parser.error("--nodes needs --lab")
    if args.node_netns and not args.reference and (args.conflist is None or not args.cni_bin):
        parser.error("--node-netns needs --conflist and --cni-bin (or --reference)")
    configure_logging(args.log_level)
    try:
        return run(args)
    except InvariantViolationError as error:
        print(f"podnet-churn: INVARIANT VIOLATED: {error}", file=sys.stderr, flush=True)
        return EXIT_VIOLATION
    except (ChurnError, OSError) as error:
        print(f"podnet-churn: {error}", file=sys.stderr, flush=True)
        return EXIT_VIOLATION


if __name__ == "__main__":
    sys.exit(main())
