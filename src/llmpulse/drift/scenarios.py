"""Synthetic traffic of one model with labelled shifts, for evaluating the drift detector.

Stationary calls ask support questions (billing, shipping, account, product) in English;
each shift changes one thing from a given call on:

- ``length``: every prompt carries a pasted snippet (median prompt ~1.7x as long, input
  tokens with the system prompt ~1.4x);
- ``topic``: 40 % of prompts are about other subjects (medicine, law, cooking, astronomy),
  same length and style: only the embeddings can tell;
- ``language``: 30 % of prompts are written in Russian (Cyrillic);
- ``latency``: time to first token and time per output token grow by half.

Prompts are drawn from fixed pools (so embeddings can be cached across windows); a
``random.Random(seed)`` drives everything, so a scenario is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from llmpulse.records import InferenceRecord, from_inference
from llmpulse.schema import InferenceEvent, Message

Shift = Literal["length", "topic", "language", "latency"]
SHIFTS: tuple[Shift, ...] = ("length", "topic", "language", "latency")
#: The features each shift moves: the detector's strongest feature should be one of them.
EXPECTED: dict[Shift, frozenset[str]] = {
    "length": frozenset({"prompt_chars", "input_tokens"}),
    "topic": frozenset({"prompt_embedding"}),
    "language": frozenset({"prompt_script"}),
    "latency": frozenset({"duration_s", "ttft_s"}),
}
ORIGIN = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SYSTEM = "You are the support assistant of Acme. Answer briefly and politely."

_BASE = {
    "billing": "invoice payment refund charge card subscription plan price receipt tax "
               "discount renewal billing upgrade downgrade trial credit",
    "shipping": "delivery parcel package courier tracking address shipment warehouse delay "
                "customs return label carrier express pickup order",
    "account": "password login email profile settings username verification security "
               "two-factor locked reset sign-in permissions team invite",
    "product": "feature battery screen charger update firmware warranty model app sync "
               "camera speaker bluetooth setup manual compatibility",
}
_SHIFTED = {
    "medicine": "symptoms fever dosage prescription allergy diagnosis vaccine blood pressure "
                "infection antibiotic headache therapy clinic nurse",
    "law": "contract lawsuit court tenant landlord liability statute appeal attorney "
           "copyright clause jurisdiction verdict plaintiff",
    "cooking": "recipe oven flour sugar butter simmer garlic onion roast bake dough "
               "sauce pasta spices marinade",
    "astronomy": "planet telescope galaxy orbit comet nebula eclipse asteroid star "
                 "supernova gravity moon constellation spectrum",
}
_RUSSIAN = ("счёт оплата возврат карта подписка доставка посылка заказ адрес пароль вход "
            "профиль настройки товар гарантия обновление экран батарея курьер скидка")
_FILLER = ("please could you help me with my the about for when how why what can i it is not "
           "still again since yesterday order question")
_RUSSIAN_FILLER = "пожалуйста помогите мне мой как почему что не ещё снова вчера мою"
_FINISH = (("stop", 0.93), ("length", 0.05), ("content_filter", 0.02))


def _sentence(rng: random.Random, topic: list[str], filler: Sequence[str], median: float) -> str:
    n = max(4, round(rng.lognormvariate(0.0, 0.35) * median))
    words = [rng.choice(topic) if rng.random() < 0.6 else rng.choice(filler) for _ in range(n)]
    return " ".join(words).capitalize() + "?"


def _pool(rng: random.Random, topics: dict[str, str], filler: str, size: int,
          median: float = 18.0) -> list[str]:
    vocab, fill = [words.split() for words in topics.values()], filler.split()
    return [_sentence(rng, vocab[i % len(vocab)], fill, median) for i in range(size)]


@dataclass(frozen=True, slots=True)
class SimCall:
    event: InferenceEvent
    scores: dict[str, float]

    @property
    def record(self) -> InferenceRecord:
        return from_inference(self.event)


def records_of(calls: Sequence[SimCall]) -> list[InferenceRecord]:
    return [c.record for c in calls]


def scores_of(calls: Sequence[SimCall]) -> dict[str, dict[str, float]]:
    return {c.event.request_id: c.scores for c in calls}


class SyntheticTraffic:
    """Calls of one model at ``rate`` per second from ``ORIGIN``, with an optional shift."""

    def __init__(self, seed: int = 0, *, model: str = "gpt-4o-mini", rate: float = 20.0,
                 pool_size: int = 3000) -> None:
        self.model, self.rate, self.count = model, rate, 0
        self._rng = random.Random(seed)
        pools = random.Random(seed + 1)
        self._base = _pool(pools, _BASE, _FILLER, pool_size)
        self._topic = _pool(pools, _SHIFTED, _FILLER, pool_size)
        self._russian = _pool(pools, {"ru": _RUSSIAN}, _RUSSIAN_FILLER, pool_size)
        self._pasted = _pool(pools, _BASE, _FILLER, pool_size // 10, median=10.0)
        self._answer = " ".join(_pool(pools, _BASE, _FILLER, 400, median=14.0))

    @property
    def now(self) -> datetime:
        return ORIGIN + timedelta(seconds=self.count / self.rate)

    def calls(self, n: int, shift: Shift | None = None) -> list[SimCall]:
        return [self._call(shift) for _ in range(n)]

    def _prompt(self, shift: Shift | None) -> str:
        rng = self._rng
        if shift == "topic" and rng.random() < 0.4:
            return rng.choice(self._topic)
        if shift == "language" and rng.random() < 0.3:
            return rng.choice(self._russian)
        prompt = rng.choice(self._base)
        return f"{prompt}\n\n{rng.choice(self._pasted)}" if shift == "length" else prompt

    def _call(self, shift: Shift | None) -> SimCall:
        rng, start = self._rng, self.now
        self.count += 1
        prompt = self._prompt(shift)
        slow = 1.5 if shift == "latency" else 1.0
        out_tokens = max(2, round(rng.lognormvariate(0.0, 0.5) * 180))
        ttft = rng.lognormvariate(0.0, 0.35) * 0.35 * slow
        duration = ttft + rng.lognormvariate(0.0, 0.2) * 0.008 * slow * (out_tokens - 1)
        offset = rng.randrange(len(self._answer) - 4 * out_tokens) if len(
            self._answer) > 4 * out_tokens else 0
        event = InferenceEvent(
            request_id=f"sim-{self.count:08d}", start_time=start,
            end_time=start + timedelta(seconds=duration), provider="openai",
            request_model=self.model, response_model=self.model, tenant="acme",
            route="support-chat", system_instructions=SYSTEM,
            input_messages=(Message(role="user", content=prompt),),
            output_messages=(Message(role="assistant",
                                     content=self._answer[offset:offset + 4 * out_tokens]),),
            input_tokens=round((len(SYSTEM) + len(prompt)) / 4 * rng.uniform(0.95, 1.05)),
            output_tokens=out_tokens, time_to_first_chunk=ttft,
            finish_reasons=(_choose(rng, _FINISH),))
        scores = {"toxicity": rng.betavariate(1.0, 60.0),
                  "groundedness": rng.betavariate(9.0, 2.0)}
        return SimCall(event, scores)


def _choose(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]
