"""Which subscribers an A/B test's sample holds, and which variant each gets.

A hash of campaign and subscriber id, computed the same way in SQL (selectors.audience_pages) and
here: ``(subscriber_id * 40503 + seed) % 65536``, the seed taken from the campaign id. 40503 is odd,
so every 65,536 consecutive subscriber ids fill every bucket exactly once: the sample and its two
halves are spread evenly over old and new subscribers (no bias by sign-up time), a subscriber
always lands in the same bucket for one campaign, and each campaign samples other people.
Integer arithmetic only, so PostgreSQL and SQLite agree.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

BUCKETS = 65536
MULTIPLIER = 40503
A, B = "a", "b"


def seed(campaign_id: int) -> int:
    digest = hashlib.sha256(f"rundbrief-ab:{campaign_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % BUCKETS


def bucket(campaign_id: int, subscriber_id: int) -> int:
    return (subscriber_id * MULTIPLIER + seed(campaign_id)) % BUCKETS


@dataclass(frozen=True)
class Sample:
    """Buckets below ``a_below`` get A, those from there below ``b_below`` get B; half each."""

    seed: int
    a_below: int
    b_below: int

    @classmethod
    def of(cls, campaign_id: int, percent: int) -> Sample:
        half = round(BUCKETS * percent / 200)
        return cls(seed=seed(campaign_id), a_below=half, b_below=2 * half)

    def variant(self, subscriber_id: int) -> str:
        """A or B for a subscriber in the sample, "" for one outside it."""
        value = (subscriber_id * MULTIPLIER + self.seed) % BUCKETS
        if value < self.a_below:
            return A
        return B if value < self.b_below else ""

    def sql(self, column: str = "s.id") -> tuple[str, dict]:
        """The bucket of ``column`` and its parameters, for selectors' SQL."""
        expression = f"(({column} * {MULTIPLIER} + %(ab_seed)s) %% {BUCKETS})"  # %% : a literal %
        return expression, {"ab_seed": self.seed, "ab_a_below": self.a_below, "ab_b_below": self.b_below}
