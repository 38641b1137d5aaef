"""The two clients' benchmarks of issue 4 in one run: a full Graph delta round of 100,000
users (time, client peak memory), then listing 10,000 extensions from the PBX emulator.
Run: python -m bench.clients (or each part: bench.clients_graph, bench.clients_pbx).
"""

from __future__ import annotations

from bench import clients_graph, clients_pbx


def main() -> None:
    clients_graph.main()
    clients_pbx.main()


if __name__ == "__main__":
    main()
