"""The hall display's words: every word a citizen reads on the board or hears spoken.

The words themselves live in the display's catalogs, ``display/locales/<lang>.json`` (read by
:mod:`cherga.i18n`): screen headings under plain keys, the fixed voice fragments under
``voice.<fragment>``. An office corrects a word there (or drops a recorded fragment in its voice
directory) without touching any logic. This module keeps what is speech data rather than words:

* :data:`VOICE_TEMPLATES` — the order of fragments of an announcement, per language.
* :data:`VOICE_WORDS` — the text each fixed voice fragment is synthesised from (from the catalogs).
* :data:`LETTER_NAMES` — how each ticket-prefix letter is spoken, per language.
* :data:`NUMBER_WORDS` / :data:`ORDINAL_OVERRIDES` — Kyrgyz and Kazakh number words, needed
  because "5-терезеге" is read as an ordinal ("бешинчи терезеге").

Needs a native speaker's review before a real deployment (see GLOSSARY.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from cherga.broker_bridge.contract import LANGUAGES
from cherga.i18n import Catalogs

CATALOGS = Catalogs(Path(__file__).resolve().parent / "locales")
_VOICE = "voice."

# Tokens: a fixed fragment key from VOICE_WORDS, "{letter}", "{number}" (cardinal words),
# "{counter}" (cardinal, said after "номер"), "{counter_ordinal}" (ky/kk "5-терезеге"), "_pause".
VOICE_TEMPLATES: Final[dict[str, list[str]]] = {
    "uk": ["ticket", "{letter}", "{number}", "_pause", "go_to_window", "{counter}"],
    "ru": ["ticket", "{letter}", "{number}", "_pause", "go_to_window", "{counter}"],
    "ky": ["{letter}", "{number}", "ticket", "_pause", "{counter_ordinal}", "go_to_window"],
    "kk": ["{letter}", "{number}", "ticket", "_pause", "{counter_ordinal}", "go_to_window"],
    "en": ["ticket", "{letter}", "{number}", "_pause", "go_to_window", "{counter}"],
}

VOICE_WORDS: Final[dict[str, dict[str, str]]] = {
    lang: {key.removeprefix(_VOICE): words for key, words in CATALOGS.catalog(lang).items() if key.startswith(_VOICE)}
    for lang in LANGUAGES}

_LATIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LATIN_RU = ["а", "бэ", "цэ", "дэ", "е", "эф", "гэ", "ха", "и", "йот", "ка", "эль", "эм", "эн", "о", "пэ",
             "ку", "эр", "эс", "тэ", "у", "вэ", "дубль-вэ", "икс", "игрек", "зэт"]
_LATIN_UK = ["а", "бе", "це", "де", "е", "еф", "ге", "ха", "і", "йот", "ка", "ел", "ем", "ен", "о", "пе",
             "ку", "ер", "ес", "те", "у", "ве", "дубль-ве", "ікс", "ігрек", "зет"]
_LATIN_EN = ["ay", "bee", "see", "dee", "ee", "ef", "jee", "aitch", "eye", "jay", "kay", "el", "em", "en",
             "oh", "pee", "cue", "ar", "ess", "tee", "you", "vee", "double you", "ex", "why", "zed"]
_CYR_RU = dict(zip("АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЭЮЯ",
                   ["а", "бэ", "вэ", "гэ", "дэ", "е", "ё", "жэ", "зэ", "и", "и краткое", "ка", "эль", "эм", "эн",
                    "о", "пэ", "эр", "эс", "тэ", "у", "эф", "ха", "цэ", "че", "ша", "ща", "э", "ю", "я"], strict=True))
_CYR_UK = dict(zip("АБВГҐДЕЄЖЗИІЇЙКЛМНОПРСТУФХЦЧШЩЮЯ",
                   ["а", "бе", "ве", "ге", "ґе", "де", "е", "є", "же", "зе", "и", "і", "ї", "йот", "ка", "ел",
                    "ем", "ен", "о", "пе", "ер", "ес", "те", "у", "еф", "ха", "це", "че", "ша", "ща", "ю", "я"],
                   strict=True))

LETTER_NAMES: Final[dict[str, dict[str, str]]] = {
    "uk": {**dict(zip(_LATIN, _LATIN_UK, strict=True)), **_CYR_UK},
    "ru": {**dict(zip(_LATIN, _LATIN_RU, strict=True)), **_CYR_RU},
    "ky": {**dict(zip(_LATIN, _LATIN_RU, strict=True)), **_CYR_RU, "Ң": "ң", "Ө": "ө", "Ү": "ү"},
    "kk": {**dict(zip(_LATIN, _LATIN_RU, strict=True)), **_CYR_RU, "Ә": "ә", "Ғ": "ғ", "Қ": "қ", "Ң": "ң",
           "Ө": "ө", "Ұ": "ұ", "Ү": "ү", "Һ": "һ", "І": "і"},
    "en": dict(zip(_LATIN, _LATIN_EN, strict=True)),
}

# Cardinal number words for the languages whose counter number is said as an ordinal.
NUMBER_WORDS: Final[dict[str, dict[int, str]]] = {
    "ky": {0: "нөл", 1: "бир", 2: "эки", 3: "үч", 4: "төрт", 5: "беш", 6: "алты", 7: "жети", 8: "сегиз",
           9: "тогуз", 10: "он", 20: "жыйырма", 30: "отуз", 40: "кырк", 50: "элүү", 60: "алтымыш",
           70: "жетимиш", 80: "сексен", 90: "токсон", 100: "жүз"},
    "kk": {0: "нөл", 1: "бір", 2: "екі", 3: "үш", 4: "төрт", 5: "бес", 6: "алты", 7: "жеті", 8: "сегіз",
           9: "тоғыз", 10: "он", 20: "жиырма", 30: "отыз", 40: "қырық", 50: "елу", 60: "алпыс",
           70: "жетпіс", 80: "сексен", 90: "тоқсан", 100: "жүз"},
}
ORDINAL_OVERRIDES: Final[dict[str, dict[str, str]]] = {
    "ky": {},
    "kk": {"жиырма": "жиырмасыншы", "елу": "елуінші"},
}


def screen_text(lang: str, key: str) -> str:
    """A heading in ``lang``, falling back to English, then to the key itself."""
    return CATALOGS.text(lang, key)
