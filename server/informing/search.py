"""Search across an office's services and life situations, in every language, tolerant of typos.

Pure: a :class:`~cherga.server.siteconfig.SiteConfig` in, an in-memory :class:`SearchIndex` out;
no database, no I/O. Why in memory and not SQLite FTS5 / PostgreSQL full-text: the catalogue is
small (tens of services × five languages, a few thousand distinct words), it changes only when the
config does, and neither FTS5 nor PostgreSQL's ``tsvector`` forgives a typo or a letter typed on
the "wrong" keyboard without extensions (FTS5's trigram tokenizer matches substrings only, and
``pg_trgm`` is an extension an office may not have). One index built from the config answers the
same on an office with SQLite and on a region with PostgreSQL, and the edit-distance work is done
by rapidfuzz (a well-kept C++ library) over that small vocabulary.

How a query meets a word:

* Both are *folded* (:func:`fold`): lower case; ``ё``, ``є`` and ``э`` read as ``е``; ``і``, ``ї``,
  ``и``, ``ы`` and ``й`` as ``и`` (the Ukrainian/Russian pairs a citizen mixes up or types on the
  other keyboard); Kyrgyz ``ң ө ү`` and Kazakh ``ә ғ қ ң ө ұ ү һ і`` as their plain Cyrillic
  neighbours (a kiosk or phone without a Kyrgyz layout); ``ь``, ``ъ`` and apostrophes dropped.
* A folded query word matches a folded index word exactly, as a prefix (typing in progress), as a
  shared stem (``реєстрації`` ~ ``реєстрація``: inflection), or within a small edit distance (one
  edit for words up to seven letters, two for longer ones), also against the index word's prefix of
  the same length (a typo in an inflected word).
* A hit's score is the sum, over the query's words, of the best match's closeness times where the
  word was found (the name counts most, then the search keywords, the description and documents).
  Results with more of the query's words come first; results scoring under :data:`RELEVANT` of the
  best one are left out (a word met only in another service's list of documents).
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import re
import unicodedata
from collections.abc import Iterable
from typing import Literal

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from cherga.server.siteconfig import Names, SiteConfig

_FOLD = str.maketrans({
    "ё": "е", "є": "е", "э": "е",
    "і": "и", "ї": "и", "ы": "и", "й": "и",
    "ґ": "г", "ғ": "г",
    "ң": "н", "ө": "о", "ү": "у", "ұ": "у", "ә": "а", "қ": "к", "һ": "х",
    "ь": None, "ъ": None, "'": None, "’": None, "ʼ": None, "`": None,
})
_WORD = re.compile(r"\w+")
# Where a word was found, and how much a match there counts.
WEIGHTS = {"name": 3.0, "keywords": 2.5, "about": 1.5, "documents": 1.0}
Kind = Literal["service", "bundle"]
RELEVANT = 0.45  # a hit scoring under this share of the best hit's score is left out


def fold(text: str) -> str:
    """Lower case with the spelling variants folded away (see the module docstring)."""
    return unicodedata.normalize("NFC", text).lower().translate(_FOLD)


def words(text: str) -> list[str]:
    """The folded words of ``text`` (single letters and digits alone say nothing)."""
    return [w for w in _WORD.findall(fold(text)) if len(w) > 1 and not w.isdigit()]


def closeness(query: str, word: str) -> float:
    """How well a folded query word matches a folded index word: 1 exact, down to 0 for no match."""
    if query == word:
        return 1.0
    if len(query) >= 3 and word.startswith(query):
        return 0.9  # still typing
    common = 0
    for a, b in zip(query, word, strict=False):
        if a != b:
            break
        common += 1
    if common >= 5 and common >= min(len(query), len(word)) - 3:
        return 0.85  # the same stem, another ending: "паспорта", "реєстрації"
    if len(query) < 4:
        return 0.0
    allowed = 1 if len(query) <= 7 else 2
    d = Levenshtein.distance(query, word, score_cutoff=allowed)
    if d <= allowed:
        return 0.8 - 0.1 * d
    if len(word) > len(query):  # a typo in a word typed in another form (or not finished)
        d = Levenshtein.distance(query, word[:len(query)], score_cutoff=allowed)
        if d <= allowed:
            return 0.65 - 0.1 * d
    return 0.0


@dataclasses.dataclass(frozen=True)
class Hit:
    kind: Kind
    id: str
    score: float
    matched: int  # how many of the query's words it matched


@dataclasses.dataclass
class _Entry:
    kind: Kind
    id: str
    weights: dict[str, float]  # folded word -> the most a match on it counts


class SearchIndex:
    """The searchable words of one office's services and life situations, in all its languages.

    Example::

        index = SearchIndex.build(config)
        [hit.id for hit in index.search("пасорт")]   # ['passport', 'foreign-passport']
    """

    def __init__(self, entries: list[_Entry]) -> None:
        self.entries = entries
        self.vocabulary = sorted({w for e in entries for w in e.weights})
        self._near_cache: dict[str, dict[str, float]] = {}

    def _prefixed(self, prefix: str) -> list[str]:
        """The vocabulary words starting with ``prefix`` (the vocabulary is sorted)."""
        lo = bisect.bisect_left(self.vocabulary, prefix)
        hi = bisect.bisect_left(self.vocabulary, prefix + "\uffff")
        return self.vocabulary[lo:hi]

    def near(self, query: str) -> dict[str, float]:
        """Every vocabulary word :func:`closeness` matches to the folded ``query`` word, with its closeness.

        Same answer as asking :func:`closeness` of every word, but only candidates are asked: words
        sharing the query's start (sorted vocabulary) and words rapidfuzz finds within the edit
        distance, whole or cut to the query's length. Cached: citizens type the same words."""
        found = self._near_cache.get(query)
        if found is not None:
            return found
        candidates: set[str] = {query} if query in self._words else set()
        if len(query) >= 3:
            candidates.update(self._prefixed(query[:5]))
        if len(query) >= 4:
            allowed = 1 if len(query) <= 7 else 2
            candidates.update(w for w, _, _ in process.extract(
                query, self.vocabulary, scorer=Levenshtein.distance, score_cutoff=allowed, limit=None))
            cut = [w[:len(query)] for w in self.vocabulary]
            candidates.update(self.vocabulary[i] for _, _, i in process.extract(
                query, cut, scorer=Levenshtein.distance, score_cutoff=allowed, limit=None))
            # the query is the longer form of a word: "паспорта" meets "паспорт"
            candidates.update(query[:n] for n in range(4, len(query)) if query[:n] in self._words)
        found = {w: c for w in candidates if (c := closeness(query, w)) > 0}
        if len(self._near_cache) < 4096:
            self._near_cache[query] = found
        return found

    @functools.cached_property
    def _words(self) -> frozenset[str]:
        return frozenset(self.vocabulary)

    @classmethod
    def build(cls, config: SiteConfig) -> SearchIndex:
        entries: list[_Entry] = []
        for s in config.services:
            fields: list[tuple[str, Iterable[Names]]] = [("name", [s.names])]
            if s.info is not None:
                fields += [("keywords", [s.info.keywords] if s.info.keywords else []),
                           ("about", [s.info.about] if s.info.about else []),
                           ("documents", s.info.documents)]
            entries.append(_Entry("service", s.id, _weights(fields)))
        for b in config.bundles:
            names = [config.service(sid).names for sid in b.services]
            fields = [("name", [b.names]), ("about", [b.about] if b.about else []),
                      ("documents", [*b.documents, *names])]
            entries.append(_Entry("bundle", b.id, _weights(fields)))
        return cls(entries)

    def search(self, query: str, limit: int = 20) -> list[Hit]:
        """The services and life situations matching ``query``, best first (empty for no words)."""
        asked = list(dict.fromkeys(words(query)))
        if not asked:
            return []
        # Closeness of each query word to each vocabulary word, computed once for all entries.
        near = [self.near(q) for q in asked]
        hits: list[tuple[int, Hit]] = []
        for order, e in enumerate(self.entries):
            score, matched = 0.0, 0
            for candidates in near:
                best = max((c * e.weights[w] for w, c in candidates.items() if w in e.weights), default=0.0)
                if best > 0:
                    score += best
                    matched += 1
            if matched:
                hits.append((order, Hit(e.kind, e.id, round(score, 3), matched)))
        if not hits:
            return []
        # A word found only in another service's documents ("passport and taxpayer number" is asked
        # for almost everywhere) is noise beside a service named by it: keep what comes near the best.
        best = max(h.score for _, h in hits)
        kept = [(o, h) for o, h in hits if h.score >= RELEVANT * best]
        # Ties go in the office's own order (services as configured, then life situations).
        kept.sort(key=lambda oh: (-oh[1].matched, -oh[1].score, oh[0]))
        return [h for _, h in kept[:limit]]


def _weights(fields: list[tuple[str, Iterable[Names]]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for field, texts in fields:
        weight = WEIGHTS[field]
        for names in texts:
            for text in names.as_dict().values():
                for w in words(text):
                    out[w] = max(out.get(w, 0.0), weight)
    return out
