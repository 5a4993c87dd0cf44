"""`ecwid-connect sandbox`: the sandbox in the foreground, with what to point `check` at."""

from __future__ import annotations

import asyncio
import contextlib

from bot.sandbox.ecwid.server import EcwidSandbox, serve_forever


def describe(sandbox: EcwidSandbox) -> str:
    """The settings that point ecwid-connect at `sandbox`, and every sample's collection URL."""
    lines = [
        f"Ecwid sandbox listening on {sandbox.base_url}",
        "",
        "Point ecwid-connect at it (environment or .env):",
        f"  ECWID_API_URL={sandbox.api_url}",
        f"  COLLECTION_HOSTS={sandbox.collection_host}",
        "",
        "Sample stores (sandbox-only tokens; a real collection URL is a password):",
    ]
    samples = [store for store in sandbox.stores if not store.key.startswith("working-")]
    for store in samples:
        lines.append(f"  {store.key:<19} → {store.expected.value:<22} {store.description}")
        lines.append(f"      {sandbox.collection_url(store.key)}")
    if len(samples) < len(sandbox.stores):
        lines.append(f"  and {len(sandbox.stores) - len(samples)} stores like connected")
    lines += [
        "",
        f"Try: ecwid-connect check {sandbox.collection_url('connected')}",
        "Ctrl-C stops.",
    ]
    return "\n".join(lines)


def run_sandbox(port: int, latency_ms: float, working: int = 0) -> None:
    """Serve until interrupted."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve_forever(
                port,
                latency_ms,
                ready=lambda sandbox: print(describe(sandbox), flush=True),
                working=working,
            )
        )
