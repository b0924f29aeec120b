#!/usr/bin/env python3
"""The mutation record of the push lock: each bug below is injected into the source, the test or
model named beside it is run, and it must fail. Run on demand, not in CI (the whole record takes
about 15 minutes; the Miri mutation alone about five):

    python3 crates/pushlock/mutations.py            # every mutation
    python3 crates/pushlock/mutations.py --list     # the table, without running anything
    python3 crates/pushlock/mutations.py hand-over-prev-after-release ...   # chosen ones
    python3 crates/pushlock/mutations.py --survey NAME ...  # which loom models catch each

Every mutation must still compile (the script checks, so that a broken edit never passes for a
catch), and every file is restored afterwards, also on Ctrl-C. The output is the README's table.
"""

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CRATE = "crates/pushlock"
TIMEOUT = 1800


@dataclass
class Catcher:
    """How to run the test or model that must fail."""

    label: str
    build: list
    run: list
    env: dict


LOOM_ENV = {"RUSTFLAGS": "--cfg loom"}
LOOM_TEST = ["cargo", "test", "-p", "pushlock", "--release", "--test", "loom",
             "--target-dir", "target/loom"]


def loom(model):
    return Catcher(f"loom `{model}`", LOOM_TEST + ["--no-run"],
                   LOOM_TEST + ["--", "--exact", model], LOOM_ENV)


def test(package, binary, name, features=()):
    base = ["cargo", "test", "-p", package, "--test", binary]
    if features:
        base += ["--features", ",".join(features)]
    return Catcher(f"test `{binary}::{name}`", base + ["--no-run"],
                   base + ["--", "--exact", name], {})


def verified(package, binary, name):
    """A test of the verifier: built with the `verify` feature."""
    return test(package, binary, name, features=("verify",))


def miri(binary, seeds):
    env = {"MIRIFLAGS": f"-Zmiri-strict-provenance -Zmiri-num-cpus=2 -Zmiri-many-seeds=0..{seeds}"}
    base = ["cargo", "+nightly", "miri", "test", "-p", "pushlock", "--test", binary]
    return Catcher(f"Miri `{binary}` ({seeds} seeds)", base + ["--no-run"], base, env)


@dataclass
class Mutation:
    name: str
    what: str
    # (file under crates/pushlock, text to find exactly once, replacement)
    edits: list
    catcher: Catcher


RAW = "src/raw.rs"
HOOKS = "src/verify/hooks.rs"
CALLER = "src/verify/caller.rs"
EXPORTS = "../../src/exports.rs"
BLOCK = "src/wait_block.rs"
STATE = "src/state.rs"
CACHE_AWARE = "src/cache_aware/mod.rs"
HOW = "src/how.rs"
THREADS = "src/verify/threads.rs"

MUTATIONS = [
    Mutation(
        "verifier-lets-a-thread-wait-on-its-own-lock",
        "issue 14: the verifier does not look for the lock among the waiting thread's own",
        [(HOOKS, "find_held_where(thread.id, |held| held.covers(lock, how.whole))",
          "find_held_where(thread.id, |_| false)")],
        verified("pushlock", "verify", "exclusive_after_exclusive_is_reported_before_it_waits"),
    ),
    Mutation(
        "verifier-release-owner-unchecked",
        "issue 14: a release by a thread that holds no record of the lock goes through",
        [(HOOKS, "        return thread.report(Violation::ReleaseNotOwner, lock, how.site, owner);",
          "        let _ = owner;\n        return true;")],
        verified("pushlock", "verify", "a_release_by_another_thread_names_the_owner_and_changes_nothing"),
    ),
    Mutation(
        "verifier-order-never-searched",
        "issue 14: a new order edge is recorded without looking for a path back (no inversion is "
        "ever found)",
        [("src/verify/order.rs", "        if let Some(chain) = self.search(to, from) {",
          "        if let Some(chain) = None.filter(|_| self.search(to, from).is_some()) {")],
        verified("pushlock", "verify", "an_inversion_is_reported_the_first_time_though_no_deadlock_happened"),
    ),
    Mutation(
        "verifier-keeps-dropped-locks",
        "issue 14: a dropped lock stays in the order graph (a new lock at its address inherits "
        "its edges)",
        [(HOOKS, "        tables.order.forget(lock);\n    }\n}",
          "        let _ = (tables, lock);\n    }\n}")],
        verified("pushlock", "verify", "a_dropped_lock_is_forgotten"),
    ),
    Mutation(
        "verifier-critical-region-unchecked",
        "issue 14: a thread holding a Flt* lock outside its critical region is not reported",
        [(CALLER, "        if P::apcs_disabled() || !self.holds_flt() {",
          "        if true || P::apcs_disabled() || !self.holds_flt() {")],
        verified("pushlock", "verify", "leaving_the_critical_region_of_a_held_flt_lock_is_reported"),
    ),
    Mutation(
        "export-trampoline-wrong-register",
        "issue 14: the verify build's export trampolines put the return address in the wrong "
        "register (host lane, System V)",
        [(EXPORTS, "    () => {\n        \"rsi\"\n    };", "    () => {\n        \"rcx\"\n    };")],
        verified("pushlock-driver-host", "verifier", "a_c_caller_s_return_address_is_the_site_of_its_acquisition"),
    ),
    Mutation(
        "woken-readers-compete",
        "issue 13.1: woken readers are not handed their shares (the word is cleared) and compete "
        "again",
        [(RAW, "let Some(new) = State::shared_by(readers) else {",
          "let Some(new) = Some(State::FREE) else {"),
         (BLOCK, "unsafe { Self::hand_over(block) };\n            block = newer;",
          "unsafe { Self::release(block) };\n            block = newer;")],
        loom("woken_readers_get_in_together"),
    ),
    Mutation(
        "woken-readers-compete-deterministic",
        "the same, against the deterministic delayed-wake test",
        [(RAW, "let Some(new) = State::shared_by(readers) else {",
          "let Some(new) = Some(State::FREE) else {"),
         (BLOCK, "unsafe { Self::hand_over(block) };\n            block = newer;",
          "unsafe { Self::release(block) };\n            block = newer;")],
        test("pushlock", "kernel_trap",
             "readers_woken_together_get_in_together_however_late_one_runs"),
    ),
    Mutation(
        "reader-prefix-count-short",
        "readers handed the lock in front of a writer leave it one share short in the writer's "
        "block",
        [(BLOCK, "share_count.store(readers, Relaxed);",
          "share_count.store(readers.saturating_sub(1), Relaxed);")],
        loom("readers_handed_over_in_front_of_a_writer"),
    ),
    Mutation(
        "acquire-relaxed",
        "issue 13.2: taking the lock is `Relaxed`, not `Acquire` (stress checker with `Relaxed` "
        "atomics of its own)",
        [(RAW, "!self.state.fetch_or(LOCKED, Acquire).has(LOCKED)",
          "!self.state.fetch_or(LOCKED, Relaxed).has(LOCKED)"),
         (RAW, "match self.state.compare_exchange(current, new, Acquire, Relaxed) {\n"
               "                Ok(_) => return true,",
          "match self.state.compare_exchange(current, new, Relaxed, Relaxed) {\n"
          "                Ok(_) => return true,"),
         (RAW, "match self.state.compare_exchange(current, new, Acquire, Relaxed) {\n"
               "                    Ok(_) => return Some(sleeps),",
          "match self.state.compare_exchange(current, new, Relaxed, Relaxed) {\n"
          "                    Ok(_) => return Some(sleeps),")],
        miri("stress", 8),
    ),
    Mutation(
        "spin-load-relaxed",
        "issue 13.3: a waiter polling its own block reads the release `Relaxed` (a handed-over "
        "writer enters without synchronising with the previous owner)",
        [(BLOCK, "if self.flags.load(Acquire) & SPINNING == 0 {",
          "if self.flags.load(Relaxed) & SPINNING == 0 {")],
        loom("exclusive_vs_shared"),
    ),
    Mutation(
        "hand-over-prev-after-release",
        "issue 13.4: the hand-over reads a block's back link after releasing its waiter",
        [(BLOCK, "            // SAFETY: each block is handed over exactly once, here.\n"
                 "            unsafe { Self::hand_over(block) };\n            block = newer;",
          "            // SAFETY: each block is handed over exactly once, here.\n"
          "            unsafe { Self::hand_over(block) };\n"
          "            let newer = if handed < count { unsafe { (*block).prev() } } else { newer };\n"
          "            block = newer;"),
         (BLOCK, "            let newer = if handed < count {\n",
          "            let newer = if false {\n")],
        loom("three_readers_handed_over_together"),
    ),
    Mutation(
        "mismatched-release-unchecked",
        "issue 13.6: `unlock_exclusive` of a free or shared lock is not checked",
        [(RAW, "        if !exclusive {\n            crate::platform::misuse::<P>(",
          "        if false && !exclusive {\n            crate::platform::misuse::<P>(")],
        test("pushlock", "nt_api",
             "an_exclusive_release_that_does_not_match_is_reported_and_changes_nothing"),
    ),
    Mutation(
        "kernel-wait-status-ignored",
        "issue 13.7: `KernelPlatform::wait` returns on any status of `KeWaitForSingleObject`",
        [("src/platform/kernel.rs", "            if status == STATUS_SUCCESS {\n                return;",
          "            if status == STATUS_SUCCESS || status != STATUS_SUCCESS {\n                return;")],
        test("pushlock-driver-host", "scenarios", "a_wait_that_returns_without_the_signal_waits_again"),
    ),
    Mutation(
        "agnostic-unlock-ignores-multiple-shared",
        "issue 13.5: mode-agnostic `unlock()` treats any owner of a waited-on lock as exclusive, "
        "missing `MULTIPLE_SHARED`",
        [(RAW, "        if self.state.load(Relaxed) == State::EXCLUSIVE {\n            self.release(LOCKED);",
          "        if self.state.load(Relaxed).has(WAITING) || self.state.load(Relaxed) == State::EXCLUSIVE {\n"
          "            self.release(LOCKED);")],
        loom("mode_agnostic_release_of_multiple_shared"),
    ),
    Mutation(
        "detached-writer-released-before-waking-dropped",
        "issue 13.5 / README: a first writer that did not claim is detached and released before "
        "`WAKING` is dropped, so its own release cannot wake",
        [(RAW, "                    self.drop_waking(current);\n"
               "                    // SAFETY: detached, so no one else can reach it; released only here. Done\n",
          "                    unsafe { WaitBlock::release(oldest) };\n"
          "                    self.drop_waking(current);\n"
          "                    return;\n"
          "                    // SAFETY: detached, so no one else can reach it; released only here. Done\n")],
        loom("first_writer_that_does_not_claim"),
    ),
    Mutation(
        "detach-forgets-new-oldest",
        "issue 13.5: detaching the oldest writer does not record its newer neighbour as the "
        "oldest (back-to-back detaches walk into a dead block)",
        [(BLOCK, "        head.last.store(newer.cast_mut(), Release);",
          "        let _ = (head, newer);")],
        loom("three_waiters_back_to_back_detaches"),
    ),
    Mutation(
        "claim-ignores-pushed-waiters",
        "issue 13.5: a claiming writer takes the lock as if alone though a waiter pushed behind "
        "it between its polls",
        [(RAW, "                let alone = current.head() == own;",
          "                let alone = true || current.head() == own;")],
        loom("claiming_writer_against_barger_and_reader"),
    ),
    Mutation(
        "claim-retries-with-a-stale-word",
        "issue 13.5: a claiming writer whose CAS failed (a barger, a push behind it) retries "
        "with the word it read before",
        [(RAW, "                    Ok(_) => {\n                        self.leave_queue_as_owner(own, new);\n"
               "                        return true;\n                    }\n"
               "                    Err(actual) => current = actual,",
          "                    Ok(_) => {\n                        self.leave_queue_as_owner(own, new);\n"
          "                        return true;\n                    }\n"
          "                    Err(_) => {}")],
        loom("claiming_writer_against_barger_and_reader"),
    ),
    Mutation(
        "waker-keeps-waking-when-lock-taken",
        "issue 13.5: a waker that finds the lock taken mid-wake returns without dropping "
        "`WAKING`",
        [(RAW, "                // Someone took the lock meanwhile; its release will wake.\n",
          "                // Someone took the lock meanwhile; its release will wake.\n"
          "                if current.has(LOCKED) { return; }\n")],
        loom("oldest_writer_woken_alone"),
    ),
    Mutation(
        "optimizer-never-wakes",
        "README: an optimiser that finds the lock released drops `WAKING` instead of waking",
        [(RAW, "            if !current.has(LOCKED) {\n                return self.wake(current);",
          "            if !current.has(LOCKED) {\n                return self.drop_waking(current);")],
        loom("exclusive_vs_exclusive"),
    ),
    Mutation(
        "readers-join-past-waiters",
        "README: a reader joins while waiters are queued (writer preference broken)",
        [(STATE, "        if self.has(WAITING) || self.shares() == 0 {",
          "        if self.shares() == 0 {")],
        loom("try_lock_shared_fails_behind_writer"),
    ),
    Mutation(
        "push-relaxed",
        "README: pushing a wait block is `Relaxed` (its fields are not published)",
        [(RAW, "if let Err(actual) = self.state.compare_exchange(current, new, AcqRel, Relaxed) {\n"
               "            return Some(actual);",
          "if let Err(actual) = self.state.compare_exchange(current, new, Relaxed, Relaxed) {\n"
          "            return Some(actual);")],
        loom("oldest_writer_woken_alone"),
    ),
    Mutation(
        "releaser-gives-up-after-one-cas",
        "README: a releaser gives up taking `WAKING` after one failed CAS",
        [(RAW, "                Ok(_) => return self.wake(waking),\n                Err(actual) => current = actual,",
          "                Ok(_) => return self.wake(waking),\n                Err(_) => return,")],
        loom("first_writer_that_does_not_claim"),
    ),
    Mutation(
        "hand-over-without-owner",
        "a waiter handed the lock (a lone writer, or readers) is not told it owns it",
        [(BLOCK, "let flags = unsafe { &*block }.flags.fetch_or(OWNER, Relaxed);",
          "let flags = unsafe { &*block }.flags.fetch_or(0, Relaxed);")],
        loom("first_writer_that_does_not_claim"),
    ),
    Mutation(
        "cache-aware-release-by-current-processor",
        "issue 15: a shared release takes the slot of the processor the reader runs on now, not "
        "the one its token names",
        [(CACHE_AWARE, "        unsafe { self.slot_of(token).unlock_shared_alone_as(how) };",
          "        let _ = token;\n        unsafe { self.reader_slot().1.unlock_shared_alone_as(how) };")],
        loom("cache_aware::reader_moving_between_acquire_and_release"),
    ),
    Mutation(
        "cache-aware-writer-takes-one-slot",
        "issue 15: a writer takes only the first slot, so readers of the others run beside it",
        [(CACHE_AWARE, "        for (taken, slot) in (0..self.count).zip(self.slots()) {\n            if !slot.lock_exclusive_as(sweep) {",
          "        for (taken, slot) in (0..self.count).zip(self.slots().take(1)) {\n            if !slot.lock_exclusive_as(sweep) {"),
         (CACHE_AWARE, "        for slot in self.slots().rev() {\n            // SAFETY: the caller holds every",
          "        for slot in self.slots().take(1) {\n            // SAFETY: the caller holds every")],
        loom("cache_aware::reader_on_one_slot_against_a_writer_sweeping_all"),
    ),
    Mutation(
        "cache-aware-slot-release-relaxed",
        "issue 15: a reader gives its slot back with a `Relaxed` CAS, so the next writer does not "
        "see its reads done",
        [(RAW, "            .compare_exchange(State::ONE_SHARED, State::FREE, Release, Relaxed)",
          "            .compare_exchange(State::ONE_SHARED, State::FREE, Relaxed, Relaxed)")],
        loom("cache_aware::reader_on_one_slot_against_a_writer_sweeping_all"),
    ),
    Mutation(
        "cache-aware-writer-recorded-per-slot",
        "issue 15: under the verifier a writer's slots are each recorded, so a writer on more than "
        "16 slots overflows the thread's table",
        [(HOW, "            Self {\n                whole,\n                sweep: true,",
          "            Self {\n                whole,\n                sweep: false,")],
        verified("pushlock", "verify", "cache_aware::a_writer_is_one_record_however_many_slots"),
    ),
    Mutation(
        "cache-aware-recursion-through-another-slot",
        "issue 15: the verifier looks for the waiting slot only, not the whole cache-aware lock, "
        "so a reader turning writer is not reported before its sweep",
        [(THREADS, "        self.lock == lock || (whole != 0 && (self.lock == whole || self.whole == whole))",
          "        self.lock == lock")],
        verified("pushlock", "verify", "cache_aware::a_reader_turning_writer_is_reported_before_it_takes_a_slot"),
    ),
]


def run(command, env, timeout):
    full_env = dict(os.environ, **env, CARGO_TERM_COLOR="never")
    start = time.monotonic()
    try:
        done = subprocess.run(command, cwd=ROOT, env=full_env, capture_output=True, text=True,
                              timeout=timeout)
        return done.returncode, done.stdout + done.stderr, time.monotonic() - start
    except subprocess.TimeoutExpired:
        return None, "", time.monotonic() - start


def apply(mutation):
    """Applies the edits; returns the original texts to restore."""
    originals = {}
    for file, old, new in mutation.edits:
        path = os.path.join(ROOT, CRATE, file)
        current = open(path).read()
        originals.setdefault(path, current)
        if current.count(old) != 1:
            restore(originals)
            raise SystemExit(f"{mutation.name}: the text to mutate is not unique in {file}:\n{old}")
        open(path, "w").write(current.replace(old, new))
    return originals


def restore(originals):
    for path, text in originals.items():
        open(path, "w").write(text)


def reason(out):
    """The first line that says why a run failed: a panic's message, a loom verdict."""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if "Undefined Behavior:" in line:
            return line.split("Undefined Behavior:", 1)[1].strip()[:120]
        if "panicked at" in line and i + 1 < len(lines):
            return lines[i + 1].strip()[:120]
    return "failed"


def check(mutation):
    originals = apply(mutation)
    try:
        code, out, _ = run(mutation.catcher.build, mutation.catcher.env, TIMEOUT)
        if code != 0:
            return "does not compile", 0.0, out[-3000:]
        code, out, seconds = run(mutation.catcher.run, mutation.catcher.env, TIMEOUT)
    finally:
        restore(originals)
    if code is None:
        return "hung (not caught)", seconds, ""
    return (f"caught: {reason(out)}" if code != 0 else "MISSED"), seconds, out[-3000:]


def survey(mutation):
    """Runs every loom model against `mutation`, each in its own process (a failing loom model
    aborts its process); returns the names of those that fail."""
    originals = apply(mutation)
    try:
        code, out, _ = run(LOOM_TEST + ["--no-run"], LOOM_ENV, TIMEOUT)
        if code != 0:
            return ["(does not compile)"]
        _, out, _ = run(LOOM_TEST + ["--", "--list"], LOOM_ENV, TIMEOUT)
        models = re.findall(r"^(\w+): test$", out, re.MULTILINE)
        failing = []
        for model in models:
            code, _, _ = run(loom(model).run, LOOM_ENV, TIMEOUT)
            if code != 0:
                failing.append(model)
        return failing
    finally:
        restore(originals)


def main(args):
    names = [arg for arg in args if not arg.startswith("--")]
    listing = "--list" in args
    chosen = [m for m in MUTATIONS if not names or m.name in names]
    unknown = set(names) - {m.name for m in MUTATIONS}
    if unknown:
        raise SystemExit(f"unknown mutations: {sorted(unknown)}")
    if "--survey" in args:
        for mutation in chosen:
            print(f"{mutation.name}: caught by {', '.join(survey(mutation)) or 'no model'}",
                  flush=True)
        return
    print("| mutation | what it breaks | caught by | result |")
    print("|---|---|---|---|")
    missed = 0
    for mutation in chosen:
        if listing:
            result = ""
        else:
            outcome, seconds, out = check(mutation)
            result = f"{outcome} ({seconds:.0f} s)"
            if not outcome.startswith("caught"):
                missed += 1
                if "--verbose" in args or outcome == "does not compile":
                    print(out, file=sys.stderr)
        print(f"| `{mutation.name}` | {mutation.what} | {mutation.catcher.label} | {result} |",
              flush=True)
    if missed:
        raise SystemExit(f"{missed} mutation(s) not caught")


if __name__ == "__main__":
    main(sys.argv[1:])
