"""How long and how much memory a sweep plan takes for 100,000 users against 50,000 extensions.

The directory is a realistic mix: 45,000 users bound to extensions (5% with drifted fields,
700 of them gone or disabled), 5,000 unbound extensions (half match a new user's email),
55,000 users without an extension (auto-create on), 1,000 guests, phones in mixed formats.
Prints the time of a cold sweep (phone cache empty), a warm one (the 12-hourly sweep of a
running worker), a round for 100 users, and the peak memory of planning (tracemalloc).
Aim: under 1 s and under 300 MB. Run with `python -m bench.planner` (or `make bench`).
"""

from __future__ import annotations

import argparse
import gc
import os
import time
import tracemalloc
from dataclasses import replace

from store.models import Binding, DirectoryUser, Extension, Removal
from worker.planner import PlanInput, Policy, plan_round, plan_sweep
from worker.planner.phones import clear_phone_cache, normalise_phone

BOUND = 45_000
UNBOUND_EXTENSIONS = 5_000
FIRST_NUMBER = 100_000
# Every user's number is distinct, as in a real directory, so a cold sweep parses them all.
_PHONE_FORMATS = (
    "+1 425 {0:03d} {1:04d}",
    "(206) {0:03d}-{1:04d}",
    "0049 30 1{0:03d}{1:04d}",
    "+44 20 7{0:03d} {1:04d}",
    "",
    "555-{1:04d} ext. {0}",
)


def phone_of(i: int) -> str:
    if i % 97 == 0:
        return "call reception"
    return _PHONE_FORMATS[i % len(_PHONE_FORMATS)].format(200 + i // 10_000, i % 10_000)


def build_input(users_n: int, extensions_n: int) -> PlanInput:
    policy = Policy.from_settings({"auto_create": True, "ranges": "100000-399999"})
    users: dict[str, DirectoryUser] = {}
    extensions: dict[str, Extension] = {}
    bindings: list[Binding] = []
    bound_n = min(BOUND, extensions_n)
    for i in range(users_n):
        uid = f"{i:08d}-0000-4000-8000-000000000000"
        removed = (Removal.SOFT if i % 2 else Removal.HARD) if i < bound_n and i % 90 == 1 else None
        users[uid] = DirectoryUser(
            id=uid,
            display_name=f"Given{i} Sürname{i}",
            given_name=f"Given{i}",
            surname=f"Sürname{i}",
            mail=f"user{i}@Contoso.example" if i % 50 else None,
            user_principal_name=f"user{i}@contoso.example",
            business_phones=(phone_of(i),),
            account_enabled=not (i < bound_n and i % 250 == 3),
            user_type="Guest" if i % 55 == 7 and i >= bound_n else "Member",
            removed=removed,
        )
        if i < bound_n:
            number = str(FIRST_NUMBER + i)
            drift = i % 20 == 0
            extensions[number] = Extension(
                number=number,
                first_name=f"Old{i}" if drift else f"Given{i}",
                last_name=f"Sürname{i}",
                email=f"user{i}@contoso.example",
                cell=normalise_phone(phone_of(i), policy.phone_region)[0],
            )
            bindings.append(Binding(uid, number))
    for j in range(extensions_n - bound_n):
        number = str(FIRST_NUMBER + bound_n + j)
        owner = bound_n + 2 * j  # every other one belongs to a user without an extension
        email = f"user{owner}@contoso.example" if j % 2 == 0 else f"left{j}@contoso.example"
        extensions[number] = Extension(number=number, first_name="X", email=email)
    return PlanInput(users=users, extensions=extensions, bindings=bindings, policy=policy, now=0.0)


def timed_sweep(inp: PlanInput, policy: Policy | None = None) -> tuple[float, float, int]:
    """(wall s, CPU s, actions) of one sweep on a fresh input (indexes not yet built)."""
    fresh = PlanInput(
        users=inp.users,
        extensions=inp.extensions,
        bindings=inp.bindings,
        policy=policy or inp.policy,
        now=inp.now,
    )
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    plan = plan_sweep(fresh)
    return time.perf_counter() - wall, time.process_time() - cpu, len(plan.actions)


def best_of(runs: int, inp: PlanInput, policy: Policy | None = None) -> tuple[float, float, int]:
    results = [timed_sweep(inp, policy) for _ in range(runs)]
    return min(r[0] for r in results), min(r[1] for r in results), results[0][2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--extensions", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3, help="warm runs; the best is shown")
    args = parser.parse_args()
    inp = build_input(args.users, args.extensions)
    steady = replace(inp.policy, auto_create=False)
    clear_phone_cache()
    cold = timed_sweep(inp)
    import_run = best_of(args.runs, inp)
    steady_run = best_of(args.runs, inp, steady)
    sample = list(inp.users)[:: max(1, len(inp.users) // 100)][:100]
    started = time.perf_counter()
    round_plan = plan_round(inp, sample)
    round_s = time.perf_counter() - started

    clear_phone_cache()
    tracemalloc.start()
    timed_sweep(inp)
    _, peak_b = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    counts = {k: v for k, v in plan_sweep(inp).counts().items() if v}
    print(f"planner sweep: {args.users:,} users, {args.extensions:,} extensions")
    print(f"  plan            {cold[2]:,} actions {counts}")
    print(f"  cold sweep      {cold[0]:.3f} s wall, {cold[1]:.3f} s CPU (phone cache empty)")
    print(
        f"  warm sweep      {import_run[0]:.3f} s wall, {import_run[1]:.3f} s CPU "
        f"(best of {args.runs}; auto-create on: the creates above)"
    )
    print(
        f"  steady sweep    {steady_run[0]:.3f} s wall, {steady_run[1]:.3f} s CPU "
        f"(best of {args.runs}; auto-create off: {steady_run[2]:,} actions, mostly skips)"
    )
    print(f"  round (100)     {round_s:.3f} s  ({len(round_plan.actions)} actions)")
    print(f"  peak memory     {peak_b / 1e6:.1f} MB  (tracemalloc, cold sweep, inputs excluded)")
    print(f"  (load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
