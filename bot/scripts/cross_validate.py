"""Cross-validated intent accuracy per language, for the README.

The one multilingual model is trained on all four languages at once, so the folds mix the
languages too; accuracy is then reported per language by the file each held-out example came
from. Run in the Rasa environment: `./run evaluate [--folds N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rasa.shared.nlu.training_data.message import Message

BOT = Path(__file__).resolve().parent.parent
# The pipeline's custom components are imported as `components.<module>` (see bot/config.yml).
sys.path.insert(0, str(BOT))


def load_examples() -> list[tuple[str, str, Message]]:
    """(language, intent, message) for every NLU example, entity annotations kept."""
    from rasa.shared.nlu.training_data.loading import load_data

    examples = []
    for path in sorted((BOT / "data" / "nlu").glob("*.yml")):
        for message in load_data(str(path)).intent_examples:
            examples.append((path.stem, message.get("intent"), message))
    return examples


def write_nlu(examples: list[tuple[str, str, Message]], path: Path) -> None:
    """Training data for one fold, with its entity annotations (DIET learns the entities)."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter
    from rasa.shared.nlu.training_data.training_data import TrainingData

    data = TrainingData(training_examples=[message for _, _, message in examples])
    path.write_text(RasaYAMLWriter().dumps(data))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--config", default=str(BOT / "config.yml"), help="pipeline to evaluate (a candidate)"
    )
    parser.add_argument(
        "--confusions", type=int, default=15, help="how many confusion pairs to list on stderr"
    )
    args = parser.parse_args()

    import logging

    import structlog
    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu
    from rasa.utils.common import configure_logging_and_warnings

    configure_logging_and_warnings(logging.WARNING)
    # Rasa logs every parsed message through structlog at debug level otherwise.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    examples = load_examples()
    random.Random(args.seed).shuffle(examples)
    folds = [examples[index :: args.folds] for index in range(args.folds)]
    correct: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    confusions: Counter[tuple[str, str]] = Counter()
    started = time.monotonic()
    for number, held_out in enumerate(folds, start=1):
        training = [e for fold in folds if fold is not held_out for e in fold]
        with tempfile.TemporaryDirectory() as folder:
            data = Path(folder) / "nlu.yml"
            write_nlu(training, data)
            # Rasa reports the saved model on stdout, which is kept for the table.
            with contextlib.redirect_stdout(sys.stderr):
                model = train_nlu(
                    args.config, str(data), output=folder, fixed_model_name=f"fold{number}"
                )
            agent = Agent.load(model)
            for language, intent, message in held_out:
                parsed = asyncio.run(agent.parse_message(message.get("text")))
                predicted = parsed["intent"]["name"]
                total[language] += 1
                correct[language] += predicted == intent
                if predicted != intent:
                    confusions[intent, predicted] += 1
        print(
            f"fold {number}/{args.folds} done after {time.monotonic() - started:.0f}s",
            file=sys.stderr,
        )
    for (intent, predicted), count in confusions.most_common(args.confusions):
        print(f"{count:4d}  {intent} -> {predicted}", file=sys.stderr)
    print("| language | examples | intent accuracy |")
    print("|---|---|---|")
    for language in sorted(total):
        print(f"| {language} | {total[language]} | {correct[language] / total[language]:.1%} |")
    overall = sum(correct.values()) / sum(total.values())
    print(f"| all | {sum(total.values())} | {overall:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
