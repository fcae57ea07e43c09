"""Back office: a case handed over by the front office goes to a free registrar chosen at random,
reproducibly (seeded) and auditably (the seed, the candidates and the choice are returned for the log).
"""

from __future__ import annotations

import dataclasses
import hashlib
import random


@dataclasses.dataclass(frozen=True, slots=True)
class Assignment:
    case_id: str
    registrar: str
    candidates: tuple[str, ...]
    seed: str  # what the draw was seeded with: enough to repeat it


def assign_registrar(case_id: str, free_registrars: list[str], office_seed: int) -> Assignment:
    """Draw one of ``free_registrars`` for ``case_id``; the same inputs always give the same draw."""
    if not free_registrars:
        raise ValueError("no free registrar to assign the case to")
    candidates = tuple(sorted(free_registrars))
    seed = f"{office_seed}:{case_id}:{','.join(candidates)}"
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    choice = random.Random(digest).choice(candidates)
    return Assignment(case_id, choice, candidates, seed)
