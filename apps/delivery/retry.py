"""How long to wait before the next attempt: exponential backoff with jitter."""

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    initial_delay: float
    multiplier: float
    max_delay: float
    jitter: float

    def can_retry(self, attempts_made: int) -> bool:
        return attempts_made < self.max_attempts

    def delay_after(self, attempts_made: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after `attempts_made` attempts failed (the first retry waits `initial_delay`)."""
        try:
            base = min(self.initial_delay * self.multiplier ** (attempts_made - 1), self.max_delay)
        except OverflowError:
            base = self.max_delay
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return min(self.max_delay, max(0.0, base * (1 + spread)))
