"""Latency from a directory change to the extension being visible in the PBX.

200 users are created one at a time in the Graph emulator; each create makes Graph POST a
notification to the daemon, which runs a delta round and creates the extension. The PBX
emulator answers every request after 20 ms, like a real PBX. Prints p50/p99.
Aim: p50 <= 0.5 s, p99 <= 2 s. Run: python -m bench.latency
"""

from __future__ import annotations

import asyncio
import time

from bench.stack import percentile, running_stack, user

USERS = 200
PBX_LATENCY_S = 0.020


async def main() -> None:
    async with running_stack(pbx_latency_s=PBX_LATENCY_S) as stack:
        state = stack.emus.pbx.state
        latencies: list[float] = []
        for n in range(USERS):
            email = f"bench{n:05d}@contoso.example"
            before = len(state.extensions())
            started = time.perf_counter()
            stack.emus.graph.directory.create_user(**user(n))
            while True:
                exts = state.extensions()
                if len(exts) > before and any(
                    a.settings.get("email_address") == email for a in exts[-3:]
                ):
                    break
                await asyncio.sleep(0.001)
            latencies.append(time.perf_counter() - started)
    print(f"latency benchmark: {USERS} users created one at a time, PBX latency 20 ms")
    print(
        f"  change -> extension visible: p50 {percentile(latencies, 50) * 1000:.0f} ms, "
        f"p99 {percentile(latencies, 99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
