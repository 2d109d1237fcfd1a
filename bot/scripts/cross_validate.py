"""Cross-validated intent accuracy per language, for the README.

The one multilingual model is trained on all four languages at once, so the folds mix the
languages too; accuracy is then reported per language by the file each held-out example came
from. Run in the Rasa environment: `./run evaluate [--folds N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent


def load_examples() -> list[tuple[str, str, str]]:
    """(language, intent, text) for every NLU example, entity annotations removed."""
    from rasa.shared.nlu.training_data.loading import load_data

    examples = []
    for path in sorted((BOT / "data" / "nlu").glob("*.yml")):
        for message in load_data(str(path)).intent_examples:
            examples.append((path.stem, message.get("intent"), message.get("text")))
    return examples


def write_nlu(examples: list[tuple[str, str, str]], path: Path) -> None:
    by_intent: dict[str, list[str]] = defaultdict(list)
    for _, intent, text in examples:
        by_intent[intent].append(text)
    lines = ['version: "3.1"', "nlu:"]
    for intent, texts in sorted(by_intent.items()):
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {text}" for text in texts]
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    import logging

    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu
    from rasa.utils.common import configure_logging_and_warnings

    configure_logging_and_warnings(logging.WARNING)

    examples = load_examples()
    random.Random(args.seed).shuffle(examples)
    folds = [examples[index :: args.folds] for index in range(args.folds)]
    correct: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    started = time.monotonic()
    for number, held_out in enumerate(folds, start=1):
        training = [e for fold in folds if fold is not held_out for e in fold]
        with tempfile.TemporaryDirectory() as folder:
            data = Path(folder) / "nlu.yml"
            write_nlu(training, data)
            model = train_nlu(
                str(BOT / "config.yml"), str(data), output=folder, fixed_model_name=f"fold{number}"
            )
            agent = Agent.load(model)
            for language, intent, text in held_out:
                parsed = asyncio.run(agent.parse_message(text))
                total[language] += 1
                correct[language] += parsed["intent"]["name"] == intent
        print(
            f"fold {number}/{args.folds} done after {time.monotonic() - started:.0f}s",
            file=sys.stderr,
        )
    print("| language | examples | intent accuracy |")
    print("|---|---|---|")
    for language in sorted(total):
        print(f"| {language} | {total[language]} | {correct[language] / total[language]:.1%} |")
    overall = sum(correct.values()) / sum(total.values())
    print(f"| all | {sum(total.values())} | {overall:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
