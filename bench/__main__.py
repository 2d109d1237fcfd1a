"""`./run bench [section ...] [--quick]`: every figure next to a baseline of the same run.

Sections (default: all): turns, breakdown, quote, knowledge, fanout, selection, memory.
Prints a table and the goals of issue 13, writes var/bench/latest.json and var/bench/latest.md
(the table the README shows, with the machine). Services are stopped even on Ctrl-C; their
logs stay in var/bench/last-run/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import machine
from bench.report import Figure, Goal, markdown, text_table
from tests.stack import REPO

SECTIONS = ("turns", "breakdown", "quote", "knowledge", "fanout", "selection", "memory")
OUT = REPO / "var" / "bench"
MODEL = REPO / "bot" / "models" / "acordo.tar.gz"
# Every bench conversation comes from 127.0.0.1: one address, many people.
STACK_ENV = {"ACORDO_WEBCHAT_RATE_LIMIT": "100000/minute"}


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _trained_model() -> Path:
    progress("model: ./run train (trains only when the bot's data changed)")
    subprocess.run([str(REPO / "run"), "train"], check=True, timeout=1800, stdin=subprocess.DEVNULL)
    return MODEL


def turn_figures(stack, bare) -> list[Figure]:
    from bench import turns

    figures = []
    for level, result in stack.levels.items():
        base = bare.levels.get(level) if bare else None
        label = f"{level} conv, {result.conversations * turns.TURNS_PER_CONVERSATION} turns"
        bare_name = "bare Rasa, same load"
        for q in (50, 90, 99):
            figures.append(
                Figure("turns", f"{label}: p{q}", result.p(q / 100) * 1e3, "ms",
                       baseline=base.p(q / 100) * 1e3 if base else None, baseline_name=bare_name)
            )  # fmt: skip
        figures.append(
            Figure("turns", f"{label}: turns/s", result.turns_per_second, "turns/s",
                   baseline=base.turns_per_second if base else None, baseline_name=bare_name)
        )  # fmt: skip
        note = ", ".join(f"{kind} ×{n}" for kind, n in result.error_kinds.most_common())
        if result.not_started:
            note += f"; {result.not_started} turns cut by the deadline"
        figures.append(
            Figure("turns", f"{label}: errors", result.errors, "",
                   baseline=base.errors if base else None, baseline_name=bare_name, note=note)
        )  # fmt: skip
    return figures


def memory_figures(stack, bare) -> list[Figure]:
    figures = []
    if stack is None:
        return figures
    figures.append(
        Figure("memory", f"peak RSS of the stack ({stack.processes} processes, sampled)",
               stack.peak_rss_mib, "MiB", baseline=bare.peak_rss_mib if bare else None,
               baseline_name="bare Rasa server")
    )  # fmt: skip
    figures.append(
        Figure("start", "time to first reply after spawning", stack.first_reply_seconds, "s",
               baseline=bare.first_reply_seconds if bare else None,
               baseline_name="bare Rasa server")
    )  # fmt: skip
    return figures


def goals(figures: list[Figure]) -> list[Goal]:
    by_name = {f.name: f for f in figures if f.section == "turns"}

    def find(prefix: str, suffix: str) -> Figure | None:
        return next(
            (f for name, f in by_name.items() if name.startswith(prefix) and name.endswith(suffix)),
            None,
        )

    errors = [f for f in figures if f.section == "turns" and f.name.endswith(": errors")]
    total = Figure("turns", "stack errors, all levels", sum(f.value or 0 for f in errors), "")
    return [
        Goal("1 conversation: p50 vs bare Rasa", find("1 conv,", ": p50"), "<=", 1.5),
        Goal("20 conversations: turns/s vs bare Rasa", find("20 conv,", ": turns/s"), ">=", 0.8),
        Goal("20 conversations: p99 vs bare Rasa", find("20 conv,", ": p99"), "<=", 2.0),
        Goal("errors through the stack", total if errors else None, "==", 0, on="value"),
    ]


class Run:
    """Collects figures, notes and details; a section that fails is reported, not fatal."""

    def __init__(self) -> None:
        self.figures: list[Figure] = []
        self.notes: list[str] = []
        self.details: dict = {}

    def section(self, name: str, body: Callable[[], None]) -> None:
        started = time.monotonic()
        progress(f"== {name}")
        try:
            body()
        except Exception as exc:  # one broken section must not cost the others
            traceback.print_exc()
            first_line = (str(exc).strip().splitlines() or [""])[0]
            reason = f"{type(exc).__name__}: {first_line}"[:200]
            self.figures.append(Figure(name, f"{name} (failed)", None, "", note=reason))
            self.notes.append(f"{name} failed: {reason}")
        progress(f"== {name} done in {time.monotonic() - started:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./run bench", description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", metavar="section",
                        help=f"any of {', '.join(SECTIONS)} (default: all)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--last", action="store_true", help="print and write the tables of the last run again"
    )
    args = parser.parse_args(argv)
    if args.last:
        publish(json.loads((OUT / "latest.json").read_text()))
        return 0
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    chosen = [s for s in SECTIONS if not args.sections or s in args.sections]
    quick = args.quick

    from bench import turns

    started = time.monotonic()
    described = machine.describe()
    progress(f"bench: {', '.join(chosen)}{' (quick)' if quick else ''} on {described['CPU']}, "
             f"{described['cores']} cores, load {described['load average at start']}")  # fmt: skip
    folder = OUT / "last-run"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    run = Run()
    levels = turns.QUICK_LEVELS if quick else turns.LEVELS
    bare_run = stack_run = None

    if "turns" in chosen or "memory" in chosen:
        wanted = levels if "turns" in chosen else {1: 1}

        def bare() -> None:
            nonlocal bare_run
            (folder / "bare").mkdir()
            bare_run = turns.run_bare(folder / "bare", wanted, progress)
            run.details["bare"] = {str(k): v.summary() for k, v in bare_run.levels.items()}

        run.section("bare Rasa", bare)

    if {"turns", "memory", "breakdown"} & set(chosen):
        wanted = levels if "turns" in chosen else ({1: 1} if "memory" in chosen else {})
        breakdown_figures: list[Figure] = []

        def breakdown(url: str, stack_folder: Path) -> None:
            from bench import breakdown as hops

            try:
                breakdown_figures.extend(
                    hops.measure(url, stack_folder, turns=3 if quick else 10, progress=progress)
                )
            except Exception as exc:
                traceback.print_exc()
                first_line = (str(exc).strip().splitlines() or [""])[0]
                run.notes.append(f"breakdown failed: {type(exc).__name__}: {first_line[:200]}")

        def stack() -> None:
            nonlocal stack_run
            model = _trained_model()
            (folder / "stack").mkdir()
            stack_run = turns.run_stack(
                folder / "stack", model, wanted, progress, STACK_ENV,
                while_up=breakdown if "breakdown" in chosen else None,
            )  # fmt: skip
            run.details["stack"] = {str(k): v.summary() for k, v in stack_run.levels.items()}

        run.section("stack", stack)
        if "turns" in chosen and stack_run is not None:
            run.figures += turn_figures(stack_run, bare_run)
        run.figures += breakdown_figures
        if "memory" in chosen:
            run.figures += memory_figures(stack_run, bare_run)

    if "quote" in chosen or "knowledge" in chosen:

        def api() -> None:
            from bench import api_backend, knowledge, negotiation

            (folder / "api").mkdir()
            if "quote" in chosen:
                run.figures.extend(negotiation.measure_engine(quick=quick))
            with api_backend.running(folder / "api") as backend:
                if "quote" in chosen:
                    run.figures.extend(
                        negotiation.measure_quote(backend, requests=30 if quick else 300)
                    )
                if "knowledge" in chosen:
                    run.figures.extend(knowledge.measure(backend, rounds=1 if quick else 3))

        run.section("quote and knowledge", api)

    if "fanout" in chosen:

        def fanout() -> None:
            from bench import fanout as fan

            (folder / "fanout").mkdir()
            run.figures.extend(
                fan.measure(
                    folder / "fanout", messages=150 if quick else 1500, senders=2, progress=progress
                )
            )

        run.section("fanout", fanout)

    if "selection" in chosen:

        def selection() -> None:
            from bench import selection as sel

            figures, details = sel.measure(
                debts=100_000 if quick else 1_000_000,
                baseline_debts=10_000 if quick else 100_000,
                progress=progress,
            )
            run.figures.extend(figures)
            run.details["selection"] = details
            used = ", ".join(details["indexes_used"]) or "none (sequential scans)"
            run.notes.append(f"selection: indexes used by the largest window's first page: {used}")

        run.section("selection", selection)

    elapsed = time.monotonic() - started
    run.notes.append(
        f"full run {elapsed / 60:.1f} min; {'quick smoke run, ' if quick else ''}"
        "load from other work on the machine makes every figure noisy"
    )
    result = {
        "machine": described,
        "sections": chosen,
        "quick": quick,
        "seconds": elapsed,
        "figures": [f.as_dict() for f in run.figures],
        "notes": run.notes,
        "details": run.details,
    }
    publish(result)
    return 0


def publish(result: dict) -> None:
    """Print the table and goals of a run and write latest.json and latest.md."""
    known = set(Figure.__dataclass_fields__)
    figures = [Figure(**{k: v for k, v in f.items() if k in known}) for f in result["figures"]]
    checked = goals(figures) if "turns" in result["sections"] else []
    result["goals"] = [g.as_dict() for g in checked]
    notes = list(result["notes"])
    notes += [
        f"{f.section} — {f.name}: {f.note}" for f in figures if f.note and f.value is not None
    ]
    print()
    print(text_table(figures))
    if checked:
        print()
        for goal in checked:
            print(goal.describe())
    for note in notes:
        print(f"- {note}")
    if "selection" in result["details"]:
        plan = result["details"]["selection"]["plan"]
        print("\nselection plan (largest window, first page):\n" + plan)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "latest.json").write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    (OUT / "latest.md").write_text(markdown(figures, checked, result["machine"], notes))
    progress(f"wrote {OUT / 'latest.json'} and {OUT / 'latest.md'}")


if __name__ == "__main__":
    sys.exit(main())
