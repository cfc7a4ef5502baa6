"""The built-in facts table used by the `facts` and `false_premise` families.

Each fact is (kind, subject, answer, decoy). The decoy is a plausible wrong answer: a common misconception
(Sydney for the capital of Australia, Mercury for the hottest planet) or a near miss (Ag for gold). Other wrong answers
come from the answers of facts of the same kind, so a wrong capital is always a real city, a wrong symbol a real
symbol, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fact:
    """One checkable fact with a curated plausible wrong answer (the decoy)."""

    kind: str
    subject: str
    answer: str
    decoy: str
    alt: str = ""  # a second plausible wrong answer, for kinds whose answers are not interchangeable


_CAPITALS = [
    ("Australia", "Canberra", "Sydney"),
    ("Canada", "Ottawa", "Toronto"),
    ("Brazil", "Brasilia", "Rio de Janeiro"),
    ("Turkey", "Ankara", "Istanbul"),
    ("Switzerland", "Bern", "Zurich"),
    ("New Zealand", "Wellington", "Auckland"),
    ("Nigeria", "Abuja", "Lagos"),
    ("Morocco", "Rabat", "Casablanca"),
    ("Vietnam", "Hanoi", "Ho Chi Minh City"),
    ("Pakistan", "Islamabad", "Karachi"),
    ("India", "New Delhi", "Mumbai"),
    ("South Korea", "Seoul", "Busan"),
    ("Japan", "Tokyo", "Osaka"),
    ("the United States", "Washington, D.C.", "New York City"),
    ("Spain", "Madrid", "Barcelona"),
    ("Germany", "Berlin", "Bonn"),
    ("China", "Beijing", "Shanghai"),
    ("Egypt", "Cairo", "Alexandria"),
    ("Tanzania", "Dodoma", "Dar es Salaam"),
    ("Myanmar", "Naypyidaw", "Yangon"),
    ("Kazakhstan", "Astana", "Almaty"),
    ("Italy", "Rome", "Milan"),
]

_SYMBOLS = [
    ("gold", "Au", "Ag"),
    ("silver", "Ag", "Si"),
    ("iron", "Fe", "Ir"),
    ("sodium", "Na", "S"),
    ("potassium", "K", "P"),
    ("lead", "Pb", "Pd"),
    ("tin", "Sn", "Ti"),
    ("mercury", "Hg", "Mg"),
    ("copper", "Cu", "Co"),
    ("tungsten", "W", "Tu"),
    ("magnesium", "Mg", "Mn"),
    ("chlorine", "Cl", "C"),
]

# Planet subjects are verb phrases: "Which planet {subject}?" / "The planet that {subject} is {answer}."
_PLANETS = [
    ("is closest to the Sun", "Mercury", "Venus"),
    ("is the largest in the Solar System", "Jupiter", "Saturn"),
    ("is known as the Red Planet", "Mars", "Venus"),
    ("is the hottest in the Solar System", "Venus", "Mercury"),
    ("is farthest from the Sun", "Neptune", "Uranus"),
    ("has the Great Red Spot", "Jupiter", "Mars"),
    ("rotates on its side", "Uranus", "Neptune"),
    ("is the smallest in the Solar System", "Mercury", "Mars"),
]

_AUTHORS = [
    ("Pride and Prejudice", "Jane Austen", "Charlotte Bronte"),
    ("Nineteen Eighty-Four", "George Orwell", "Aldous Huxley"),
    ("Brave New World", "Aldous Huxley", "George Orwell"),
    ("Moby-Dick", "Herman Melville", "Nathaniel Hawthorne"),
    ("War and Peace", "Leo Tolstoy", "Fyodor Dostoevsky"),
    ("The Great Gatsby", "F. Scott Fitzgerald", "Ernest Hemingway"),
    ("Hamlet", "William Shakespeare", "Christopher Marlowe"),
    ("Frankenstein", "Mary Shelley", "Percy Bysshe Shelley"),
    ("To Kill a Mockingbird", "Harper Lee", "Truman Capote"),
    ("The Odyssey", "Homer", "Virgil"),
]

_PAINTERS = [
    ("the Mona Lisa", "Leonardo da Vinci", "Michelangelo"),
    ("The Starry Night", "Vincent van Gogh", "Claude Monet"),
    ("Guernica", "Pablo Picasso", "Salvador Dali"),
    ("The Birth of Venus", "Sandro Botticelli", "Titian"),
    ("Girl with a Pearl Earring", "Johannes Vermeer", "Rembrandt"),
    ("The Persistence of Memory", "Salvador Dali", "Rene Magritte"),
]

# General subjects are noun phrases: "What is {subject}?" / "{Subject} is {answer}."
_GENERAL = [
    ("the largest ocean on Earth", "the Pacific Ocean", "the Atlantic Ocean", "the Indian Ocean"),
    ("the tallest mountain above sea level", "Mount Everest", "K2", "Kangchenjunga"),
    ("the hardest naturally occurring mineral", "diamond", "quartz", "corundum"),
    ("the largest mammal", "the blue whale", "the African elephant", "the whale shark"),
    ("the smallest prime number", "2", "1", "0"),
    ("the largest organ of the human body", "the skin", "the liver", "the brain"),
    ("the currency of Japan", "the yen", "the yuan", "the won"),
    ("the longest bone in the human body", "the femur", "the tibia", "the humerus"),
]

FACTS: tuple[Fact, ...] = tuple(
    [Fact("capital", s, a, d) for s, a, d in _CAPITALS]
    + [Fact("symbol", s, a, d) for s, a, d in _SYMBOLS]
    + [Fact("planet", s, a, d) for s, a, d in _PLANETS]
    + [Fact("author", s, a, d) for s, a, d in _AUTHORS]
    + [Fact("painter", s, a, d) for s, a, d in _PAINTERS]
    + [Fact("general", s, a, d, alt) for s, a, d, alt in _GENERAL]
)

#: Answers of each kind, in table order (deduplicated), used to draw other real wrong answers. Facts with an
#: `alt` (kind "general": an ocean, a mineral, a number, ...) only ever use their own decoy and alt.
ANSWERS_BY_KIND: dict[str, tuple[str, ...]] = {}
for _f in FACTS:
    if _f.alt:
        continue
    _prev = ANSWERS_BY_KIND.get(_f.kind, ())
    if _f.answer not in _prev:
        ANSWERS_BY_KIND[_f.kind] = _prev + (_f.answer,)


def cap(s: str) -> str:
    """Upper-case the first character only (str.capitalize would lower-case the rest, e.g. 'New Delhi')."""
    return s[:1].upper() + s[1:] if s else s


def statement(kind: str, subject: str, value: str) -> str:
    """The declarative claim 'subject has value' without final punctuation, first letter as in running text."""
    if kind == "capital":
        return f"the capital of {subject} is {value}"
    if kind == "symbol":
        return f"the chemical symbol for {subject} is {value}"
    if kind == "planet":
        return f"the planet that {subject} is {value}"
    if kind == "author":
        return f"{subject} was written by {value}"
    if kind == "painter":
        return f"{subject} was painted by {value}"
    return f"{subject} is {value}"


def questions(kind: str, subject: str) -> tuple[str, ...]:
    """Several phrasings of the question whose answer is the fact."""
    if kind == "capital":
        return (
            f"What is the capital of {subject}?",
            f"Which city is the capital of {subject}?",
            f"Can you tell me the capital of {subject}?",
            f"What's the capital city of {subject}?",
        )
    if kind == "symbol":
        return (
            f"What is the chemical symbol for {subject}?",
            f"Which symbol is used for {subject} on the periodic table?",
            f"What's the element symbol of {subject}?",
        )
    if kind == "planet":
        return (
            f"Which planet {subject}?",
            f"What planet {subject}?",
            f"Do you know which planet {subject}?",
        )
    if kind == "author":
        return (
            f"Who wrote {subject}?",
            f"Who is the author of {subject}?",
            f"Which writer wrote {subject}?",
        )
    if kind == "painter":
        return (
            f"Who painted {subject}?",
            f"Which artist painted {subject}?",
            f"Who is the painter of {subject}?",
        )
    return (f"What is {subject}?", f"Do you know what {subject} is?", f"Can you tell me what {subject} is?")


def elaborations(kind: str, subject: str, value: str) -> tuple[str, ...]:
    """Restating / elaborating sentences consistent with the given (possibly wrong) answer value."""
    common = (
        f"To restate it: {statement(kind, subject, value)}.",
        f"In short, the answer is {value}.",
        "This comes up a lot in trivia quizzes.",
        "It is one of those facts that is easy to mix up.",
    )
    if kind == "capital":
        specific = (
            f"{cap(value)} is where the national government of {subject} is based.",
            f"So if someone asks for the capital of {subject}, you can say {value}.",
            f"You can find {value} marked as the capital on most maps of {subject}.",
        )
    elif kind == "symbol":
        specific = (
            f"On the periodic table, {subject} is written as {value}.",
            f"Chemists use the symbol {value} whenever they write about {subject}.",
            "Several element symbols come from Latin names rather than English ones.",
        )
    elif kind == "planet":
        specific = (
            f"{cap(value)} is one of the eight planets of our Solar System.",
            f"So the planet you are looking for is {value}.",
            "Astronomers have studied this in detail with telescopes and space probes.",
        )
    elif kind == "author":
        specific = (
            f"{cap(value)} is widely known as the author of {subject}.",
            f"{cap(subject)} remains one of the best-known works by {value}.",
            "It is still widely read and often taught in schools.",
        )
    elif kind == "painter":
        specific = (
            f"{cap(subject)} is one of the most famous works by {value}.",
            f"Art historians attribute {subject} to {value}.",
            "The painting is visited by large numbers of people every year.",
        )
    else:
        specific = (
            f"So {subject} is {value}.",
            f"Many reference books list {value} as {subject}.",
            "It is a classic question in general-knowledge quizzes.",
        )
    return specific + common
