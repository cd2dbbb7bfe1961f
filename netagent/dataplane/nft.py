"""Running `nft` in the node namespace: one transaction per call, or a JSON listing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from netagent.dataplane.config import DataplaneConfig
from netagent.dataplane.errors import DataplaneError, DataplaneTimeout, NftablesFailed


async def _nft(args: list[str], stdin: bytes | None, config: DataplaneConfig) -> bytes:
    try:
        process = await asyncio.create_subprocess_exec(
            config.nft_binary,
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as error:
        raise DataplaneError(f"cannot run {config.nft_binary}: {error}") from None
    try:
        async with asyncio.timeout(config.nft_timeout):
            stdout, stderr = await process.communicate(stdin)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise DataplaneTimeout(f"nft took longer than {config.nft_timeout}s") from None
    if process.returncode != 0:
        raise NftablesFailed(process.returncode or -1, stderr.decode(errors="replace"))
    return stdout


async def run_nft(script: str, config: DataplaneConfig) -> None:
    """Feeds script to `nft -f -`: all of it applies, or none of it."""
    await _nft(["-f", "-"], script.encode(), config)


async def list_json(what: list[str], config: DataplaneConfig) -> list[dict[str, Any]]:
    """`nft -j list <what>`'s objects (metainfo dropped)."""
    document = json.loads(await _nft(["-j", "list", *what], None, config) or b"{}")
    items: list[dict[str, Any]] = document.get("nftables", [])
    return [item for item in items if "metainfo" not in item]
