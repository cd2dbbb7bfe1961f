"""Looking at daemons from outside: TCP/HTTP inside a namespace, JSON log events."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any

from tools.cniexec.namespace import call_in_netns


def _connect(netns: str | None, host: str, port: int, timeout: float) -> socket.socket:
    return call_in_netns(netns, lambda: socket.create_connection((host, port), timeout=timeout))


def tcp_reachable(netns: str | None, host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        _connect(netns, host, port, timeout).close()
    except OSError:
        return False
    return True


def http_get(
    netns: str | None, host: str, port: int, path: str, timeout: float = 1.0
) -> tuple[int, bytes]:
    """GET path from a server reachable inside netns. Raises OSError when unreachable."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    connection.sock = _connect(netns, host, port, timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    except http.client.HTTPException as error:
        raise OSError(f"http://{host}:{port}{path}: {error}") from error
    finally:
        connection.close()


def json_events(log_path: Path, event: str) -> list[dict[str, Any]]:
    """Every JSON log line of log_path whose "event" equals event, oldest first."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        if f'"{event}"' not in line:
            continue
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and document.get("event") == event:
            found.append(document)
    return found


def log_tail(log_path: Path, characters: int = 2000) -> str:
    try:
        return log_path.read_text(errors="replace")[-characters:]
    except OSError:
        return "(no log)"
