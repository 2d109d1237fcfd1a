"""Catalog maintenance: `python -m locales extract|update|compile|check`.

extract  collect message ids from actions/, backend/ and locales/ into messages.pot
update   merge messages.pot into every language's messages.po
compile  build the .mo files the running services read
check    fail when any language misses a translation or has a fuzzy one
"""

from __future__ import annotations

import subprocess
import sys

from babel.messages.pofile import read_po

from locales import DOMAIN, LANGUAGES, LOCALES_DIR

POT = LOCALES_DIR / f"{DOMAIN}.pot"
# translate(language, id) and the actions' Speaker methods: say(id), phrase(id), button(id),
# say_plural(singular, plural); N_ marks ids kept in constants.
KEYWORDS = [
    "-k",
    "translate:2",
    "-k",
    "translate_plural:2,3",
    "-k",
    "N_",
    "-k",
    "say:1",
    "-k",
    "phrase:1",
    "-k",
    "button:1",
    "-k",
    "say_plural:1,2",
]


def pybabel(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", *args], check=True, timeout=120
    )


def extract() -> None:
    pybabel(
        "extract",
        "-F",
        str(LOCALES_DIR / "babel.cfg"),
        *KEYWORDS,
        "--no-wrap",
        "--sort-by-file",
        "--project=acordo",
        "-o",
        str(POT),
        "actions",
        "backend",
        "locales",
    )


def update() -> None:
    for language in LANGUAGES:
        po = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        command = "update" if po.exists() else "init"
        pybabel(
            command,
            "-i",
            str(POT),
            "-d",
            str(LOCALES_DIR),
            "-D",
            DOMAIN,
            "-l",
            language,
            "--no-wrap",
            *(["--ignore-obsolete"] if command == "update" else []),
        )


def compile_catalogs() -> None:
    pybabel("compile", "-d", str(LOCALES_DIR), "-D", DOMAIN, "--statistics")


def problems() -> list[str]:
    """Every untranslated or fuzzy message, per language (English may repeat the id)."""
    found = []
    for language in LANGUAGES:
        with open(LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po", "rb") as handle:
            catalog = read_po(handle, locale=language)
        for message in catalog:
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if message.fuzzy or not all(strings):
                found.append(
                    f"{language}: {message.id if isinstance(message.id, str) else message.id[0]!r}"
                )
    return found


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "extract":
        extract()
    elif command == "update":
        update()
    elif command == "compile":
        compile_catalogs()
    elif command == "check":
        missing = problems()
        for line in missing:
            print(f"missing translation: {line}")
        return 1 if missing else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
