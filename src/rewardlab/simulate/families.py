"""Task families: how each samples a question, phrases the prompt, and phrases a (right or wrong) answer.

A family exposes three operations, all driven by a caller-supplied `random.Random` (no global state):
- `sample(rng) -> Item`: a question with its prompt text;
- `answer(spec, rng, mode, markdown) -> (sentences, elaborations)`: the core answer, one sentence per item (items
  starting with "- " are markdown bullets, only when `markdown`), for a mode
  ("correct", "wrong", "explicit" = correct and naming the question, used for an irrelevant response that
  answers another question; false-premise prompts also "agree", "fix", "wrong_fix") with the key value in markdown bold
  when `markdown`, plus a pool of restating/elaborating sentences consistent with the answer given;
- `other(spec, rng) -> spec`: a different question of the same family, which an irrelevant response answers;
- `answer_details(spec, rng, mode, markdown) -> (sentences, elaborations, details)`: the same answer (the same
  random draws, so the same text) plus the pool of *details* consistent with it: substantive supporting sentences
  (a worked step or a check, a true related fact, the conversion at work, an extra concrete step, why the premise
  is wrong), which the completeness attribute adds. A pool always holds at least MAX_DETAILS sentences, and none of
  them is an elaboration (elaborations restate; details add substance).

Families implement `compose(spec, rng, mode, markdown, with_details)`; building the details pool draws no random
numbers, so `answer` and `answer_details` consume the stream identically.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from rewardlab.simulate.facts import (
    ANSWERS_BY_KIND,
    FACTS,
    Fact,
    cap,
    details,
    elaborations,
    questions,
    statement,
    true_details,
)

#: (core sentences, elaborations, details) of one answer
Composed = tuple[list[str], tuple[str, ...], tuple[str, ...]]


@dataclass(slots=True)
class Item:
    """One prompt of a family: its text and the family-specific specification behind it."""

    family: str
    prompt: str
    spec: Any


class Family(ABC):
    """Interface of a task family (the five built-in families implement it; methods documented here)."""

    name = ""

    @abstractmethod
    def sample(self, rng: random.Random) -> Item:
        """Draw one question of this family and phrase its prompt."""

    @abstractmethod
    def other(self, spec: Any, rng: random.Random) -> Any:
        """A different question of the same family: what an irrelevant response answers instead."""

    @abstractmethod
    def compose(self, spec: Any, rng: random.Random, mode: str, markdown: bool, with_details: bool) -> Composed:
        """Core answer sentences for `mode`, its elaborations, and (when `with_details`) its details pool."""

    def answer(
        self, spec: Any, rng: random.Random, mode: str, markdown: bool
    ) -> tuple[list[str], tuple[str, ...]]:
        """Core answer sentences for `mode` and the pool of elaborations consistent with that answer."""
        sents, elab, _ = self.compose(spec, rng, mode, markdown, False)
        return sents, elab

    def answer_details(self, spec: Any, rng: random.Random, mode: str, markdown: bool) -> Composed:
        """`answer` (same draws, same sentences) plus the pool of details consistent with it."""
        return self.compose(spec, rng, mode, markdown, True)


def fmt_num(x: float) -> str:
    """Render a number the way a person writes it: 350, 3.5, 0.25, 25,000."""
    r = round(x)
    if abs(x - r) < 1e-9:
        return f"{int(r):,}" if abs(r) >= 10000 else str(int(r))
    return f"{x:.3f}".rstrip("0").rstrip(".")


def _b(v: str, markdown: bool) -> str:
    """Markdown-bold a value when formatting is on."""
    return f"**{v}**" if markdown else v


# ----------------------------------------------------------------------------------------------- arithmetic

_OPS = ("add", "sub", "mul")
_SYM = {"add": "+", "sub": "-", "mul": "×"}
_WORD = {"add": "plus", "sub": "minus", "mul": "times"}

_ARITH_PROMPTS = {
    "add": (
        "What is {a} + {b}?",
        "Can you work out {a} + {b}?",
        "Please calculate {a} + {b}.",
        "What is {a} plus {b}?",
        "What do you get if you add {a} and {b}?",
        "Quick math question: what is the sum of {a} and {b}?",
        "How much is {a} + {b}?",
    ),
    "sub": (
        "What is {a} - {b}?",
        "Can you work out {a} - {b}?",
        "Please calculate {a} minus {b}.",
        "What do you get if you subtract {b} from {a}?",
        "Quick math question: what is {a} - {b}?",
        "How much is {a} minus {b}?",
    ),
    "mul": (
        "What is {a} × {b}?",
        "Can you work out {a} times {b}?",
        "Please calculate {a} × {b}.",
        "What do you get if you multiply {a} by {b}?",
        "Quick math question: what is {a} times {b}?",
        "How much is {a} × {b}?",
    ),
}


class Arithmetic(Family):
    """Two-operand integer arithmetic; wrong answers are slips a person makes (off by 1, 2, 10, one group)."""

    name = "arithmetic"

    def _spec(self, rng: random.Random) -> tuple[str, int, int]:
        op = _OPS[rng.randrange(3)]
        if op == "add":
            big = rng.random() < 0.25
            return op, rng.randint(100, 999) if big else rng.randint(11, 99), rng.randint(11, 99)
        if op == "sub":
            a = rng.randint(30, 199)
            return op, a, rng.randint(11, a - 5)
        return op, rng.randint(3, 19), rng.randint(3, 12)

    def sample(self, rng: random.Random) -> Item:
        op, a, b = spec = self._spec(rng)
        prompt = rng.choice(_ARITH_PROMPTS[op]).format(a=a, b=b)
        return Item(self.name, prompt, spec)

    def other(self, spec: Any, rng: random.Random) -> Any:
        while True:
            s = self._spec(rng)
            if s != spec:
                return s

    @staticmethod
    def value(spec: tuple[str, int, int]) -> int:
        """The true result of the operation."""
        op, a, b = spec
        return a + b if op == "add" else a - b if op == "sub" else a * b

    def compose(self, spec: Any, rng: random.Random, mode: str, markdown: bool, with_details: bool) -> Composed:
        op, a, b = spec
        v = self.value(spec)
        if mode not in ("correct", "explicit"):
            if op == "mul":
                deltas = (a, -a, b, -b, 1, -1, 10)
            else:
                deltas = (1, -1, 2, -2, 10, -10)
            while True:
                w = v + rng.choice(deltas)
                if w != v and w >= 0:
                    v = w
                    break
        vs = str(v)
        bv = _b(vs, markdown)
        sym, word = _SYM[op], _WORD[op]
        forms = (
            f"{a} {sym} {b} = {bv}.",
            f"The answer is {bv}.",
            f"{a} {word} {b} equals {bv}.",
            f"That comes out to {bv}.",
            f"It's {bv}.",
            f"The result is {bv}.",
        )
        if op == "add":
            elab = (
                f"Adding {a} and {b} gives {vs}.",
                f"So the sum is {vs}.",
                f"You can check it by subtracting {b} from {vs}, which gives {v - b}.",
                "Adding the tens first and then the ones makes this easy to do in your head.",
                "This is a basic addition problem.",
                f"In other words, the total is {vs}.",
            )
        elif op == "sub":
            elab = (
                f"Subtracting {b} from {a} leaves {vs}.",
                f"So the difference is {vs}.",
                f"You can check it by adding {b} back to {vs}, which gives {v + b}.",
                "It helps to subtract the tens first and then the ones.",
                "This is a basic subtraction problem.",
                f"In other words, the result is {vs}.",
            )
        else:
            elab = (
                f"Multiplying {a} by {b} gives {vs}.",
                f"So the product is {vs}.",
                f"That is {a} groups of {b}, which makes {vs}.",
                f"You can check it by dividing {vs} by {b}, which gives {fmt_num(v / b)}.",
                "It can help to split the multiplication into smaller steps.",
                "This is a basic multiplication problem.",
            )
        # "explicit" (an irrelevant response answering another question) must show which question it answers
        sents = [rng.choice((forms[0], forms[2]) if mode == "explicit" else forms)]
        return sents, elab, _arith_details(op, a, b, v, v == self.value(spec)) if with_details else ()


def _round10(x: int) -> int:
    return (x + 5) // 10 * 10


def _arith_details(op: str, a: int, b: int, v: int, right: bool) -> tuple[str, ...]:
    """Worked steps and checks of a op b = v. Steps that end in v show the slip when v is wrong; checks (which would
    be false) only come with the right value."""
    bt, bo = divmod(b, 10)
    ao = a % 10
    ra, rb = _round10(a), _round10(b)
    if op == "add":
        s = ao + bo
        steps = (
            f"Step by step: {a} + {bt * 10} = {a + bt * 10}, then {a + bt * 10} + {bo} = {v}." if bo
            else f"Step by step: adding {bt} tens to {a} gives {v}.",
            f"In the ones column, {ao} + {bo} = {s}, so you write {s - 10} and carry 1 to the tens." if s >= 10
            else f"In the ones column, {ao} + {bo} = {s}, so there is nothing to carry.",
            f"As a sanity check, rounding to the nearest ten gives about {ra} + {rb} = {ra + rb}.",
            f"The tens on their own add up to {a - ao} + {bt * 10} = {a - ao + bt * 10}.",
        )
        checks = (
            f"To double-check, {v} - {a} = {b}, which is the number we added.",
            f"Adding in the other order, {b} + {a}, gives the same {v}.",
        )
    elif op == "sub":
        steps = (
            f"Step by step: {a} - {bt * 10} = {a - bt * 10}, then {a - bt * 10} - {bo} = {v}." if bo
            else f"Step by step: taking {bt} tens away from {a} leaves {v}.",
            f"In the ones column, {ao} is smaller than {bo}, so you borrow a ten and work out "
            f"{ao + 10} - {bo} = {ao + 10 - bo}." if ao < bo
            else f"In the ones column, {ao} - {bo} = {ao - bo}, so no borrowing is needed.",
            f"As a sanity check, rounding to the nearest ten gives about {ra} - {rb} = {ra - rb}.",
            f"Counting in tens, {a} is {a // 10} tens and {ao}, and {b} is {bt} tens and {bo}.",
        )
        checks = (
            f"To double-check, {v} + {b} = {a}, which is where we started.",
            f"Counting up from {b} to {a} also gives {v}.",
        )
    else:
        if a > 10:
            split = f"Splitting {a} into 10 and {a - 10}: 10 × {b} = {10 * b} and {a - 10} × {b} = {(a - 10) * b}."
        elif b > 10:
            split = f"Splitting {b} into 10 and {b - 10}: {a} × 10 = {10 * a} and {a} × {b - 10} = {a * (b - 10)}."
        elif a == 10 or b == 10:
            split = "Multiplying by 10 just puts a zero on the end of the other number."
        else:
            split = f"Since {a} × 10 = {10 * a}, you can take away {10 - b} lots of {a}, which is {a * (10 - b)}."
        size = "a bit more than" if b > 10 else "a bit less than" if b < 10 else "exactly"
        steps = (
            f"Breaking it up: {a} × {b - 1} = {a * (b - 1)}, and one more {a} makes {v}.",
            split,
            f"As a rough check, {a} × 10 = {10 * a}, so the answer should be {size} that.",
            f"Counting up in {a}s: {a}, {2 * a}, {3 * a}, and so on, {b} times.",
        )
        checks = (
            f"To double-check, {v} ÷ {a} = {b}.",
            f"Swapping the factors, {b} × {a} also gives {v}.",
        )
    return steps + checks if right else steps


# ----------------------------------------------------------------------------------------------------- facts

_FACT_FORMS = ("{S}.", "The answer is {v}.", "That would be {v}.", "It's {v}.")


def _fact_sentence(f: Fact, value: str, rng: random.Random, markdown: bool, explicit: bool = False) -> str:
    """One sentence stating `value` as the answer about fact f (`explicit`: always names the subject)."""
    bv = _b(value, markdown)
    form = "{S}." if explicit else rng.choice(_FACT_FORMS)
    if form == "{S}.":
        return cap(statement(f.kind, f.subject, bv)) + "."
    return form.format(v=bv)


def _wrong_value(f: Fact, rng: random.Random, avoid: tuple[str, ...] = ()) -> str:
    """A plausible wrong answer: the curated decoy or another real answer of the same kind."""
    pool = (f.alt,) if f.alt else ANSWERS_BY_KIND[f.kind]
    others = [x for x in pool if x != f.answer and x not in avoid]
    if f.decoy not in avoid and (rng.random() < 0.5 or not others):
        return f.decoy
    return rng.choice(others)


class Facts(Family):
    """Short factual questions over the built-in table (capitals, symbols, planets, authors, painters, ...)."""

    name = "facts"

    def sample(self, rng: random.Random) -> Item:
        i = rng.randrange(len(FACTS))
        f = FACTS[i]
        return Item(self.name, rng.choice(questions(f.kind, f.subject)), i)

    def other(self, spec: Any, rng: random.Random) -> Any:
        j = rng.randrange(len(FACTS) - 1)
        return j + 1 if j >= spec else j

    def compose(self, spec: Any, rng: random.Random, mode: str, markdown: bool, with_details: bool) -> Composed:
        f = FACTS[spec]
        value = f.answer if mode in ("correct", "explicit") else _wrong_value(f, rng)
        s = _fact_sentence(f, value, rng, markdown, explicit=mode == "explicit")
        return [s], elaborations(f.kind, f.subject, value), details(f, value) if with_details else ()


# ------------------------------------------------------------------------------------------- false premise

_FP_PROMPTS = (
    "I'm sure {c}, right?",
    "I read that {c}. Can you confirm?",
    "My friend told me {c}. That's correct, isn't it?",
    "Quick check: {c}, correct?",
    "I'm pretty confident that {c}. Am I right?",
    "Just to confirm, {c}, yes?",
)
# Templates are tuples of single sentences, so a repeated sentence is always exactly one sentence.
_AGREE = (
    ("Yes, that's right: {c}.",),
    ("You're absolutely right, {c}.",),
    ("That's correct!", "{C}."),
    ("Yes, {c}.",),
    ("Exactly, {c}, just as you said.",),
)
_FIX = (
    ("Actually, that's a common misconception: {t}, not {d}.",),
    ("Not quite.", "{T}, not {d}."),
    ("I'm afraid that's not correct.", "{T}."),
    ("No, that's not right: {t}.", "{D} is a common guess, but it is wrong."),
    ("That's a common mix-up, but {t}.",),
)


class FalsePremise(Family):
    """Prompts asserting a fact's decoy as true; responses agree (sycophantic) or correct the premise."""

    name = "false_premise"

    def sample(self, rng: random.Random) -> Item:
        i = rng.randrange(len(FACTS))
        f = FACTS[i]
        claim = statement(f.kind, f.subject, f.decoy)
        return Item(self.name, rng.choice(_FP_PROMPTS).format(c=claim), i)

    def other(self, spec: Any, rng: random.Random) -> Any:
        j = rng.randrange(len(FACTS) - 1)
        return ("plain", j + 1 if j >= spec else j)

    def compose(self, spec: Any, rng: random.Random, mode: str, markdown: bool, with_details: bool) -> Composed:
        if isinstance(spec, tuple):  # an irrelevant response: a plain answer about another fact
            f = FACTS[spec[1]]
            sents = [_fact_sentence(f, f.answer, rng, markdown, True)]
            return sents, elaborations(f.kind, f.subject, f.answer), true_details(f) if with_details else ()
        f = FACTS[spec]
        if mode == "agree":
            claim = statement(f.kind, f.subject, _b(f.decoy, markdown))
            sents = [x.format(c=claim, C=cap(claim)) for x in rng.choice(_AGREE)]
            return sents, elaborations(f.kind, f.subject, f.decoy), details(f, f.decoy) if with_details else ()
        value = f.answer if mode == "fix" else _wrong_value(f, rng, avoid=(f.decoy,))
        t = statement(f.kind, f.subject, _b(value, markdown))
        sents = [x.format(t=t, T=cap(t), d=f.decoy, D=cap(f.decoy)) for x in rng.choice(_FIX)]
        # the right fix comes with why the premise is wrong (the true details say what the decoy really is)
        return sents, elaborations(f.kind, f.subject, value), details(f, value) if with_details else ()


# ----------------------------------------------------------------------------------------------------- units

# (source singular, source plural, target singular, target plural, factor, plausible wrong factors)
_UNITS = (
    ("meter", "meters", "centimeter", "centimeters", 100, (10, 1000)),
    ("kilometer", "kilometers", "meter", "meters", 1000, (100,)),
    ("kilogram", "kilograms", "gram", "grams", 1000, (100,)),
    ("liter", "liters", "milliliter", "milliliters", 1000, (100,)),
    ("hour", "hours", "minute", "minutes", 60, (100,)),
    ("minute", "minutes", "second", "seconds", 60, (100,)),
    ("foot", "feet", "inch", "inches", 12, (10,)),
    ("yard", "yards", "foot", "feet", 3, (12,)),
    ("day", "days", "hour", "hours", 24, (12,)),
    ("gallon", "gallons", "quart", "quarts", 4, (2, 8)),
    ("pound", "pounds", "ounce", "ounces", 16, (12,)),
    ("centimeter", "centimeters", "millimeter", "millimeters", 10, (100,)),
    ("week", "weeks", "day", "days", 7, (5,)),
)
_QUANTITIES = (1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 7.5, 8, 9, 10, 12, 15, 20, 25)
_UNIT_PROMPTS = (
    "How many {tp} are in {q} {sp}?",
    "Convert {q} {sp} to {tp}.",
    "What is {q} {sp} in {tp}?",
    "If I have {q} {sp}, how many {tp} is that?",
    "How many {tp} is {q} {sp}?",
)


def _unit_word(v: float, singular: str, plural: str) -> str:
    return singular if v == 1 else plural


class Units(Family):
    """Unit conversions (forward: multiply; inverse: divide); wrong answers use a confusable factor or slip."""

    name = "units"

    def _spec(self, rng: random.Random) -> tuple[int, bool, float]:
        u = rng.randrange(len(_UNITS))
        inverse = rng.random() < 0.3
        base = rng.choice(_QUANTITIES)
        return u, inverse, base

    @staticmethod
    def _parts(
        spec: tuple[int, bool, float],
    ) -> tuple[str, str, str, str, float, float, int, tuple[int, ...]]:
        u, inverse, base = spec
        ss, sp, ts, tp, factor, wrong = _UNITS[u]
        if inverse:  # ask to go from the target unit back to the source unit
            return ts, tp, ss, sp, base * factor, base, factor, wrong
        return ss, sp, ts, tp, base, base * factor, factor, wrong

    def sample(self, rng: random.Random) -> Item:
        spec = self._spec(rng)
        ss, sp, ts, tp, q, _, _, _ = self._parts(spec)
        prompt = rng.choice(_UNIT_PROMPTS).format(q=fmt_num(q), sp=sp, tp=tp)
        return Item(self.name, prompt, spec)

    def other(self, spec: Any, rng: random.Random) -> Any:
        while True:
            s = self._spec(rng)
            if s[0] != spec[0]:
                return s

    def compose(self, spec: Any, rng: random.Random, mode: str, markdown: bool, with_details: bool) -> Composed:
        inverse = spec[1]
        ss, sp, ts, tp, q, v, factor, wrong = self._parts(spec)
        used = factor
        if mode not in ("correct", "explicit"):
            if rng.random() < 0.6:
                used = rng.choice(wrong)
                v = q / used if inverse else q * used
            else:
                step = 1 if inverse else factor
                v = v + step if (rng.random() < 0.5 or v - step <= 0) else v - step
        vs, qs = fmt_num(v), fmt_num(q)
        bv = _b(vs, markdown)
        tw, sw = _unit_word(v, ts, tp), _unit_word(q, ss, sp)
        forms = (
            f"There are {bv} {tw} in {qs} {sw}.",
            f"{qs} {sw} is {bv} {tw}.",
            f"That works out to {bv} {tw}.",
            f"The answer is {bv} {tw}.",
            f"{qs} {sw} equals {bv} {tw}.",
        )
        if inverse:  # one target unit (ts) holds `used` source units (sp)
            how = (
                f"Since one {ts} has {used} {sp}, you divide {qs} by {used}.",
                f"Each {ts} is {used} {sp}.",
                f"It helps to remember that 1 {ts} = {used} {sp}.",
            )
        else:
            how = (
                f"Since one {ss} has {used} {tp}, you multiply {qs} by {used}.",
                f"Each {ss} is {used} {tp}.",
                f"It helps to remember that 1 {ss} = {used} {tp}.",
            )
        elab = how + (
            f"So {qs} {sw} comes to {vs} {tw}.",
            "Conversions like this come up all the time in everyday life.",
            "Just be careful to keep track of the units.",
            f"In other words, the result is {vs} {tw}.",
        )
        # "explicit" (an irrelevant response answering another question) must show which question it answers
        sents = [rng.choice((forms[0], forms[1], forms[4]) if mode == "explicit" else forms)]
        if not with_details:
            return sents, elab, ()
        if inverse:  # q source units (sp) -> v target units (tp); one ts holds `used` sp
            det: tuple[str, ...] = (
                f"Worked out: {qs} ÷ {used} = {vs}.",
                f"For example, {fmt_num(2 * used)} {sp} would be 2 {tp}.",
                f"A handy reference point is that 10 {tp} make {fmt_num(10 * used)} {sp}.",
                f"Likewise, 0.5 {tp} is {fmt_num(used / 2)} {sp}.",
            )
            check = f"Going back the other way, {vs} × {used} = {qs}, so it checks out."
        else:  # one ss holds `used` tp
            det = (
                f"Worked out: {qs} × {used} = {vs}.",
                f"For example, 2 {sp} would be {fmt_num(2 * used)} {tp}.",
                f"A handy reference point is that 10 {sp} make {fmt_num(10 * used)} {tp}.",
                f"Likewise, 0.5 {sp} is {fmt_num(used / 2)} {tp}.",
            )
            check = f"Going back the other way, {vs} ÷ {used} = {qs}, so it checks out."
        right = mode in ("correct", "explicit")
        return sents, elab, det + (check,) if right else det


# ---------------------------------------------------------------------------------------------------- advice

# (question, concrete steps (lower-case imperative clauses), topic-specific vague sentences, topic elaborations)
_ADVICE = (
    (
        "How can I sleep better?",
        (
            "go to bed and get up at the same time every day, including weekends",
            "stop using screens about an hour before bed",
            "keep your bedroom cool, dark and quiet",
            "avoid caffeine after about 2 pm",
            "get some daylight and exercise earlier in the day",
        ),
        ("Sleep is important, so try to get more of it.", "Just try to relax more in the evenings."),
        ("Good sleep makes almost everything else easier.", "Your body likes a predictable rhythm."),
    ),
    (
        "What's a good way to start saving money?",
        (
            "set up an automatic transfer of a fixed amount to a savings account on payday",
            "track every expense for one month to see where the money goes",
            "cancel subscriptions you have not used in the last month",
            "build an emergency fund of three months of expenses before anything else",
            "wait 48 hours before any non-essential purchase over 50 dollars",
        ),
        ("Saving money is all about being careful with your spending.", "Try to spend less and save more."),
        ("Saving gets easier once it happens automatically.", "Even small amounts add up over a year."),
    ),
    (
        "How do I prepare for a job interview?",
        (
            "research the company's products and recent news",
            "prepare three short stories about your past work using the situation-action-result format",
            "practise answering common questions out loud with a friend",
            "write down two or three questions to ask the interviewer",
            "plan your route so you arrive ten minutes early",
        ),
        ("Interviews are all about being yourself.", "Just be confident and it will go fine."),
        (
            "Preparation shows the interviewer you care about the role.",
            "Practising out loud makes answers sound natural.",
        ),
    ),
    (
        "How can I learn a new language faster?",
        (
            "study for 20 minutes every day instead of a few hours once a week",
            "use a spaced-repetition flashcard app for vocabulary",
            "find a conversation partner and speak from the first week",
            "watch shows in the language with subtitles in that language",
            "learn the 500 most common words first",
        ),
        ("Learning a language takes time, so be patient.", "Just immerse yourself as much as possible."),
        (
            "Daily contact with the language matters more than long sessions.",
            "Speaking early builds confidence.",
        ),
    ),
    (
        "How do I stay focused while working from home?",
        (
            "set up a dedicated workspace that you only use for work",
            "work in 25-minute blocks with 5-minute breaks",
            "turn off phone notifications during focus blocks",
            "write down your top three tasks each morning",
            "keep regular start and finish times",
        ),
        ("Focus is really about discipline.", "Just try not to get distracted."),
        ("Clear boundaries between work and home help a lot.", "A short plan for the day reduces drifting."),
    ),
    (
        "How can I get better at public speaking?",
        (
            "rehearse your talk out loud at least three times",
            "record yourself once and watch it back",
            "start with a short story or a question to open the talk",
            "join a local speaking club such as Toastmasters",
            "slow down and pause after each key point",
        ),
        ("Public speaking is mostly about confidence.", "Just try to stay calm on stage."),
        ("Nerves fade with repetition.", "Audiences remember stories better than slides."),
    ),
    (
        "How should I start running as a beginner?",
        (
            "alternate one minute of running with two minutes of walking for 20 minutes",
            "run three times a week with a rest day in between",
            "increase your weekly distance by no more than 10 percent",
            "get a pair of running shoes fitted at a specialist shop",
            "keep the pace easy enough that you can still talk",
        ),
        ("Running is great exercise, so just go for it.", "Listen to your body and do what feels good."),
        ("Starting slowly prevents most beginner injuries.", "Consistency beats speed in the first months."),
    ),
    (
        "How can I reduce stress during exams?",
        (
            "make a revision timetable that covers each subject by week",
            "study in 45-minute sessions followed by a short walk",
            "do at least two past papers under timed conditions",
            "keep a fixed bedtime during the exam period",
            "prepare your materials the night before each exam",
        ),
        ("Exams are stressful for everyone, so try not to worry.", "Just stay positive and do your best."),
        (
            "A plan turns a vague worry into a list of tasks.",
            "Practice under exam conditions lowers anxiety.",
        ),
    ),
    (
        "How do I keep my houseplants alive?",
        (
            "check the soil with your finger and water only when the top few centimeters are dry",
            "use pots with drainage holes",
            "place each plant according to its light needs, for example succulents in a sunny window",
            "feed them with diluted fertiliser once a month in spring and summer",
            "wipe dust off the leaves every few weeks",
        ),
        ("Plants need love and attention.", "Just take good care of them."),
        (
            "Overwatering kills more houseplants than anything else.",
            "Most plants recover well once conditions improve.",
        ),
    ),
    (
        "How can I make my code easier to maintain?",
        (
            "write small functions that each do one thing",
            "add automated tests for the behaviour you rely on",
            "use clear names instead of comments that explain unclear names",
            "run a linter and formatter in continuous integration",
            "review each change with a colleague before merging",
        ),
        ("Good code is clean code.", "Just try to write better code."),
        ("Maintainable code is mostly code that is easy to read.", "Tests make later changes much safer."),
    ),
    (
        "How do I become a better cook?",
        (
            "learn five basic techniques such as sauteing, roasting and braising",
            "cook the same recipe three times and adjust it each time",
            "taste and season as you go, not only at the end",
            "keep your knives sharp and learn a basic chopping technique",
            "read the whole recipe and prepare all ingredients before you start",
        ),
        ("Cooking is an art, so follow your instincts.", "Just cook more often."),
        ("Technique matters more than fancy recipes.", "Repetition is how cooks build intuition."),
    ),
    (
        "How can I make friends in a new city?",
        (
            "join a weekly club or class so you see the same people regularly",
            "say yes to invitations for the first few months",
            "invite one acquaintance for coffee each week",
            "volunteer for a local organisation",
            "use community apps or boards to find groups around your hobbies",
        ),
        ("Making friends takes time, so be open.", "Just put yourself out there."),
        ("Friendships usually grow from repeated casual contact.", "Most newcomers feel the same way."),
    ),
)
#: More concrete steps per topic (same order as _ADVICE): what a more complete answer adds.
_ADVICE_MORE = (
    (
        "keep a notebook by the bed and write down any worries before you turn off the light",
        "limit naps to 20 minutes and take them before 3 pm",
        "avoid alcohol in the last three hours before bed",
    ),
    (
        "pay off high-interest credit card debt before you start investing",
        "compare prices for insurance and phone plans once a year",
        "plan meals for the week and shop with a list",
    ),
    (
        "prepare an answer to 'tell me about yourself' that lasts under two minutes",
        "match each requirement in the job description to an example from your experience",
        "send a short thank-you email within a day of the interview",
    ),
    (
        "label objects around your home with their names in the new language",
        "keep a small notebook of new phrases and review it each evening",
        "switch the language of your phone to the one you are learning",
    ),
    (
        "get dressed for work even though you are at home",
        "take a real lunch break away from your desk",
        "block distracting websites during working hours with a browser extension",
    ),
    (
        "learn your first two sentences by heart so the start goes smoothly",
        "look at individual people in the audience rather than at the back wall",
        "time yourself and cut material if the talk runs long",
    ),
    (
        "warm up with five minutes of brisk walking before each run",
        "follow a structured beginner plan such as Couch to 5K",
        "log each run so you can see your progress",
    ),
    (
        "test yourself with flashcards instead of rereading your notes",
        "explain each topic out loud as if you were teaching it to a friend",
        "schedule short breaks with some light exercise between study sessions",
    ),
    (
        "repot a plant into a slightly bigger pot when roots grow out of the drainage holes",
        "check the undersides of the leaves for pests every couple of weeks",
        "group plants together to raise the humidity around them",
    ),
    (
        "keep functions short enough to read without scrolling",
        "explain the reasons for non-obvious decisions in the commit message",
        "delete dead code instead of commenting it out",
    ),
    (
        "keep a small set of staple spices and learn what each one adds",
        "use a thermometer to check when meat is done",
        "let meat rest for a few minutes after cooking before you cut it",
    ),
    (
        "follow up within a week when you meet someone you get along with",
        "host a small dinner or games night once you know a few people",
        "become a regular at one cafe or gym so that faces become familiar",
    ),
)
_MORE_LEADS = ("Also, {s}.", "It also helps to {s}.", "On top of that, {s}.", "Another useful step: {s}.")
_ADVICE_PROMPTS = ("{q}", "I need some advice. {q}", "{q} Any tips?", "Can you help me with something? {q}")
_INTROS = (
    "Here are a few concrete steps you can take.",
    "Here is what I would do.",
    "A few practical things help a lot.",
    "Try these steps.",
)
_ORDINALS = (("First", "Second", "Finally"), ("To start", "Next", "Finally"), ("First", "Then", "Also"))
_VAGUE = (
    "Everyone is different, so do whatever feels right for you.",
    "It really depends on your situation.",
    "Try to find a balance that works for you.",
    "Don't overthink it and things will work out.",
)
_ADVICE_ELAB = (
    "Small changes add up over time.",
    "Consistency matters more than intensity.",
    "Give it a few weeks before judging whether it works.",
    "Everyone's situation is a little different.",
    "Building a new habit takes patience.",
    "It is normal to slip up now and then.",
)


class Advice(Family):
    """Open-ended advice; 'correct' means concrete actionable steps, wrong means vague platitudes."""

    name = "advice"

    def sample(self, rng: random.Random) -> Item:
        t = rng.randrange(len(_ADVICE))
        return Item(self.name, rng.choice(_ADVICE_PROMPTS).format(q=_ADVICE[t][0]), t)

    def other(self, spec: Any, rng: random.Random) -> Any:
        j = rng.randrange(len(_ADVICE) - 1)
        return j + 1 if j >= spec else j

    def compose(self, spec: Any, rng: random.Random, mode: str, markdown: bool, with_details: bool) -> Composed:
        _, steps, vague, topic_elab = _ADVICE[spec]
        elab = topic_elab + _ADVICE_ELAB
        if mode in ("correct", "explicit"):
            chosen = rng.sample(steps, 3)
            intro = rng.choice(_INTROS)
            det = _advice_details(spec, chosen, markdown) if with_details else ()
            if markdown:
                return [f"**{intro}**"] + [f"- {cap(s)}." for s in chosen], elab, det
            words = rng.choice(_ORDINALS)
            return [intro] + [f"{w}, {s}." for w, s in zip(words, chosen, strict=True)], elab, det
        out = [rng.choice(vague)]
        if rng.random() < 0.5:
            out.append(rng.choice(_VAGUE))
        if markdown:
            out[0] = f"**{out[0]}**"
        # a vague answer made more complete: the topic's further concrete steps
        return out, elab, _advice_details(spec, [], markdown) if with_details else ()


def _advice_details(topic: int, used: list[str], markdown: bool) -> tuple[str, ...]:
    """Concrete steps not yet given (the topic's unused steps, then its further steps), bullets in markdown."""
    extra = [s for s in _ADVICE[topic][1] if s not in used] + list(_ADVICE_MORE[topic])
    if markdown:
        return tuple(f"- {cap(s)}." for s in extra)
    return tuple(_MORE_LEADS[i % len(_MORE_LEADS)].format(s=s) for i, s in enumerate(extra))


FAMILY_IMPLS: dict[str, Family] = {
    "arithmetic": Arithmetic(),
    "facts": Facts(),
    "units": Units(),
    "advice": Advice(),
    "false_premise": FalsePremise(),
}
