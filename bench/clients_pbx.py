"""Time to list 10,000 extensions from the PBX emulator with VodiaClient.

    .venv/bin/python -m bench.clients_pbx [--extensions N] [--skip-cell]

Lists carry names, email and the disabled flag (2 requests); no documented list
carries `cell_dis`, so `with_cell=True` adds one user_settings read per extension,
bounded by `max_in_flight`. Both are measured, without and with 20 ms of PBX latency.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from emulators.pbx import PbxEmulator, PbxEmulatorConfig
from worker.vodia import VodiaClient


async def _time_listing(
    pbx: PbxEmulator, *, with_cell: bool, max_in_flight: int
) -> tuple[float, int]:
    async with VodiaClient(
        pbx.url,
        pbx.domain,
        pbx.config.tenant_admin(pbx.domain),
        pbx.config.tenant_admin_password,
        max_in_flight=max_in_flight,
    ) as client:
        started = time.perf_counter()
        extensions = await client.list_extensions(with_cell=with_cell)
        return time.perf_counter() - started, len(extensions)


async def run(count: int, skip_cell: bool) -> None:
    seeding_started = time.perf_counter()
    pbx = PbxEmulator(PbxEmulatorConfig(seed_extensions=count))
    print(f"seeded {count} extensions in {time.perf_counter() - seeding_started:.2f} s")
    async with pbx:
        for latency_ms in (0, 20):
            pbx.faults.base_latency_s = latency_ms / 1000
            elapsed_s, listed = await _time_listing(pbx, with_cell=False, max_in_flight=8)
            print(
                f"latency {latency_ms:>2} ms  lists only (2 requests)      "
                f"{listed} extensions in {elapsed_s:6.2f} s"
            )
            if skip_cell:
                continue
            for in_flight in (8, 32):
                elapsed_s, listed = await _time_listing(
                    pbx, with_cell=True, max_in_flight=in_flight
                )
                print(
                    f"latency {latency_ms:>2} ms  + cell_dis, {in_flight:>2} in flight  "
                    f"{listed} extensions in {elapsed_s:6.2f} s"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extensions", type=int, default=10_000)
    parser.add_argument(
        "--skip-cell", action="store_true", help="only the two list requests (fast)"
    )
    args = parser.parse_args()
    asyncio.run(run(args.extensions, args.skip_cell))


if __name__ == "__main__":
    main()
