"""Token and cost accounting, and the run's hard caps.

Cost is tokens times the model's price (USD per million tokens, from the recipe's `prices`).
`--max-cost` and `--max-tokens` are caps, not targets: before a request is sent its worst case
(the prompt's estimated tokens plus `max_tokens`, or `assumed_completion` when the request sets
none) is reserved, and a request whose reservation would pass a cap is not sent. The reservation
is settled with the real usage when the answer arrives. So a run never spends past its cap, and
it stops a little short of it rather than over it. Inputs left when a cap is reached end as
`failed` records with reason `budget_exhausted`; a later run with a higher cap sends them.
"""

from __future__ import annotations

from dataclasses import dataclass

from synthloop.errors import SynthloopError
from synthloop.generate.llm.base import BackendError, Completion, Request, estimate_tokens

__all__ = ["BudgetExhausted", "Meter", "Reservation", "UnpricedModel"]


class BudgetExhausted(BackendError):
    reason = "budget_exhausted"


class UnpricedModel(SynthloopError):
    def __init__(self, model: str) -> None:
        super().__init__(
            f"--max-cost needs a price for model {model!r}; add it to the recipe: "
            f"`prices: {{{model}: {{input: 0.15, output: 0.60}}}}` (USD per million tokens)"
        )


@dataclass(frozen=True, slots=True)
class Reservation:
    tokens: int
    cost: float


class Meter:
    """Counts tokens and cost for one run and enforces its caps. `price` is (input, output) in
    USD per million tokens, or None when unknown (cost then stays 0 and cannot be capped)."""

    def __init__(
        self,
        price: tuple[float, float] | None,
        *,
        max_cost: float | None = None,
        max_tokens: int | None = None,
        assumed_completion: int = 1024,
        model: str = "",
    ) -> None:
        if max_cost is not None and price is None:
            raise UnpricedModel(model)
        self.price, self.max_cost, self.max_tokens = price, max_cost, max_tokens
        self.assumed_completion = assumed_completion
        self.prompt_tokens = self.completion_tokens = 0
        self.cost = 0.0
        self._reserved_tokens, self._reserved_cost = 0, 0.0

    def cost_of(self, prompt_tokens: int, completion_tokens: int) -> float:
        if self.price is None:
            return 0.0
        return (prompt_tokens * self.price[0] + completion_tokens * self.price[1]) / 1e6

    def estimate(self, request: Request) -> Reservation:
        """The worst case of one request: estimated prompt tokens plus its completion cap."""
        prompt = estimate_tokens(request.prompt_text())
        completion = request.params.max_tokens or self.assumed_completion
        return Reservation(prompt + completion, self.cost_of(prompt, completion))

    def reserve(self, request: Request) -> Reservation:
        """Set aside the request's worst case; raise BudgetExhausted when a cap forbids it."""
        need = self.estimate(request)
        tokens = self.prompt_tokens + self.completion_tokens + self._reserved_tokens
        if self.max_tokens is not None and tokens + need.tokens > self.max_tokens:
            raise BudgetExhausted(
                f"the run's token cap ({self.max_tokens:,}) is reached: {tokens:,} used or "
                f"reserved, this request may need {need.tokens:,}; raise --max-tokens and run "
                "again (only what is missing is sent)"
            )
        cost = self.cost + self._reserved_cost
        if self.max_cost is not None and cost + need.cost > self.max_cost:
            raise BudgetExhausted(
                f"the run's cost cap (${self.max_cost:g}) is reached: ${cost:.4f} spent or "
                f"reserved, this request may cost ${need.cost:.4f}; raise --max-cost and run "
                "again (only what is missing is sent)"
            )
        self._reserved_tokens += need.tokens
        self._reserved_cost += need.cost
        return need

    def settle(self, reservation: Reservation | None, completion: Completion | None) -> float:
        """Replace a reservation with what the answer used (nothing, for a failed request);
        returns the answer's cost."""
        if reservation is not None:
            self._reserved_tokens -= reservation.tokens
            self._reserved_cost -= reservation.cost
        if completion is None:
            return 0.0
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        cost = self.cost_of(completion.prompt_tokens, completion.completion_tokens)
        self.cost += cost
        return cost
