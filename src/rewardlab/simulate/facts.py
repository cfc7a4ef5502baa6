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


# ------------------------------------------------------------------------------------------------- details
#
# Details (the completeness attribute) are substantive supporting sentences, unlike the elaborations above, which
# restate the answer. For the right answer they are true: curated facts about the subject and its answer, and why
# the decoy is a different thing. For a wrong answer they are the confident, specific-sounding support a model
# invents for it (consistent with the answer given, as the elaborations are).

#: Curated true details per (kind, subject).
_CURATED: dict[tuple[str, str], tuple[str, ...]] = {
    ("capital", "Australia"): (
        "Canberra was purpose-built as the capital, chosen in 1908 as a compromise between Sydney and Melbourne.",
        "Parliament House in Canberra has been home to the Australian parliament since 1988.",
        "Canberra lies in the Australian Capital Territory, a federal district separate from the states.",
    ),
    ("capital", "Canada"): (
        "Queen Victoria chose Ottawa as the capital in 1857.",
        "Ottawa is in the province of Ontario, on the river that forms the border with Quebec.",
        "The Canadian parliament meets on Parliament Hill in Ottawa.",
    ),
    ("capital", "Brazil"): (
        "Brasilia was built from scratch in the late 1950s and became the capital in 1960.",
        "Before 1960 the capital of Brazil was Rio de Janeiro.",
        "The city was designed by the planner Lucio Costa and the architect Oscar Niemeyer.",
    ),
    ("capital", "Turkey"): (
        "Ankara became the capital in 1923, when the Republic of Turkey was founded.",
        "Istanbul had been the capital of the Ottoman Empire, which is why many people still expect it.",
        "Ankara lies in central Anatolia, far from the Bosphorus.",
    ),
    ("capital", "Switzerland"): (
        "Swiss law does not use the word capital: Bern is officially the federal city.",
        "The Swiss parliament, the Federal Assembly, meets in the Federal Palace in Bern.",
        "The old town of Bern is a UNESCO World Heritage Site.",
    ),
    ("capital", "New Zealand"): (
        "Wellington took over from Auckland as the capital in 1865.",
        "It sits at the southern tip of the North Island, close to the centre of the country.",
        "The New Zealand parliament meets in Wellington, where the Beehive houses the cabinet.",
    ),
    ("capital", "Nigeria"): (
        "Abuja officially replaced Lagos as the capital in 1991.",
        "Abuja was chosen partly for its central location in the country.",
        "Lagos is still the largest city of Nigeria and its commercial centre.",
    ),
    ("capital", "Morocco"): (
        "Rabat lies on the Atlantic coast, at the mouth of the Bou Regreg river.",
        "The royal palace and the Moroccan parliament are in Rabat.",
        "Casablanca is the largest city of Morocco and its economic centre.",
    ),
    ("capital", "Vietnam"): (
        "Hanoi lies in the north of the country, on the Red River.",
        "Hanoi became the capital of the reunified country in 1976.",
        "Ho Chi Minh City, formerly Saigon, is the largest city and lies in the south.",
    ),
    ("capital", "Pakistan"): (
        "Islamabad was built as a planned city in the 1960s to replace Karachi as the capital.",
        "It lies in the north of the country, next to the older city of Rawalpindi.",
        "Karachi remains the largest city of Pakistan and its main port.",
    ),
    ("capital", "India"): (
        "New Delhi was inaugurated as the seat of government in 1931.",
        "New Delhi is part of the larger metropolis of Delhi.",
        "The Indian parliament, the Sansad Bhavan, is in New Delhi.",
    ),
    ("capital", "South Korea"): (
        "Seoul has been a Korean capital for more than six hundred years, since the Joseon dynasty.",
        "About half of the population of South Korea lives in the Seoul metropolitan area.",
        "Busan, the second-largest city, is the main port of the country.",
    ),
    ("capital", "Japan"): (
        "Tokyo has been the seat of government since 1868, when the emperor moved there from Kyoto.",
        "Before 1868 the city was called Edo.",
        "Greater Tokyo is the most populous metropolitan area in the world.",
    ),
    ("capital", "the United States"): (
        "Washington, D.C. is a federal district, not part of any state.",
        "It has been the seat of the federal government since 1800.",
        "Congress meets in the Capitol building there, and the president lives in the White House.",
    ),
    ("capital", "Spain"): (
        "Madrid has been the capital since 1561, under King Philip II.",
        "Madrid lies near the geographic centre of the Iberian Peninsula.",
        "Barcelona is the capital of the region of Catalonia, not of Spain.",
    ),
    ("capital", "Germany"): (
        "Berlin became the capital of reunified Germany in 1990.",
        "The government and parliament moved from Bonn to Berlin in 1999.",
        "Bonn was the capital of West Germany from 1949 to 1990.",
    ),
    ("capital", "China"): (
        "Beijing is home to the Forbidden City, the palace of the Ming and Qing emperors.",
        "The National People's Congress meets in the Great Hall of the People in Beijing.",
        "Shanghai is the main financial centre of China, but not its capital.",
    ),
    ("capital", "Egypt"): (
        "Cairo lies on the Nile, close to the pyramids of Giza.",
        "Cairo is the largest city in the Arab world.",
        "Alexandria, on the Mediterranean coast, was the capital in antiquity.",
    ),
    ("capital", "Tanzania"): (
        "Dodoma was chosen as the new capital in 1973, in the centre of the country.",
        "The Tanzanian parliament, the National Assembly, meets in Dodoma.",
        "Dar es Salaam is still the largest city and the main commercial centre.",
    ),
    ("capital", "Myanmar"): (
        "The government moved to Naypyidaw from Yangon in 2005 and 2006.",
        "Naypyidaw was built from scratch in the centre of the country.",
        "Yangon, formerly Rangoon, is still the largest city.",
    ),
    ("capital", "Kazakhstan"): (
        "Astana replaced Almaty as the capital in 1997.",
        "The city was called Nur-Sultan from 2019 to 2022.",
        "Almaty, in the south-east near the mountains, is still the largest city.",
    ),
    ("capital", "Italy"): (
        "Rome has been the capital of Italy since 1871.",
        "Vatican City, an independent state, lies entirely inside Rome.",
        "Milan is the financial and fashion centre of Italy, but not its capital.",
    ),
    ("symbol", "gold"): ("The symbol comes from aurum, the Latin word for gold.",),
    ("symbol", "silver"): ("The symbol comes from argentum, the Latin word for silver.",),
    ("symbol", "iron"): ("The symbol comes from ferrum, the Latin word for iron.",),
    ("symbol", "sodium"): ("The symbol comes from natrium, the Latin name for sodium.",),
    ("symbol", "potassium"): ("The symbol comes from kalium, the Latin name for potassium.",),
    ("symbol", "lead"): ("The symbol comes from plumbum, the Latin word for lead, which also gave us the word plumber.",),
    ("symbol", "tin"): ("The symbol comes from stannum, the Latin word for tin.",),
    ("symbol", "mercury"): ("The symbol comes from hydrargyrum, a Latinised Greek word meaning water silver.",),
    ("symbol", "copper"): ("The symbol comes from cuprum, the Latin name for copper, after the island of Cyprus.",),
    ("symbol", "tungsten"): ("The symbol comes from wolfram, the other name of the element.",),
    ("symbol", "magnesium"): ("The symbol is made of the first letter and one more letter of its own name.",),
    ("symbol", "chlorine"): ("The symbol is simply the first two letters of its English name.",),
    ("planet", "is closest to the Sun"): (
        "Mercury orbits the Sun once every 88 days.",
        "Its average distance from the Sun is about 58 million kilometres.",
    ),
    ("planet", "is the largest in the Solar System"): (
        "Jupiter is more than twice as massive as all the other planets combined.",
        "About eleven Earths would fit side by side across its diameter.",
    ),
    ("planet", "is known as the Red Planet"): (
        "Its red colour comes from iron oxide, or rust, in the dust on its surface.",
        "Mars has two small moons, Phobos and Deimos.",
    ),
    ("planet", "is the hottest in the Solar System"): (
        "Its thick carbon dioxide atmosphere traps heat, so it is hotter than Mercury although Mercury is closer "
        "to the Sun.",
        "Surface temperatures on Venus are around 465 degrees Celsius.",
    ),
    ("planet", "is farthest from the Sun"): (
        "Neptune takes about 165 years to orbit the Sun.",
        "Pluto, which can be farther away, was reclassified as a dwarf planet in 2006.",
    ),
    ("planet", "has the Great Red Spot"): (
        "The Great Red Spot is a storm larger than Earth that has been observed for centuries.",
        "Jupiter is a gas giant made mostly of hydrogen and helium.",
    ),
    ("planet", "rotates on its side"): (
        "Its axis is tilted by about 98 degrees, so it rolls around the Sun on its side.",
        "Uranus was discovered by William Herschel in 1781.",
    ),
    ("planet", "is the smallest in the Solar System"): (
        "Mercury is only slightly larger than the Moon.",
        "Its diameter is about 4,900 kilometres.",
    ),
    ("author", "Pride and Prejudice"): (
        "It was first published in 1813.",
        "Austen also wrote Sense and Sensibility and Emma.",
        "The novel follows Elizabeth Bennet and Mr Darcy.",
    ),
    ("author", "Nineteen Eighty-Four"): (
        "It was published in 1949.",
        "George Orwell was the pen name of Eric Arthur Blair.",
        "Orwell also wrote Animal Farm.",
    ),
    ("author", "Brave New World"): (
        "It was published in 1932.",
        "Aldous Huxley was an English writer from a family of well-known scientists.",
        "The novel imagines a future World State built on conditioning and pleasure.",
    ),
    ("author", "Moby-Dick"): (
        "It was published in 1851.",
        "Melville drew on his own years as a sailor on whaling ships.",
        "The novel is narrated by Ishmael and follows the hunt of Captain Ahab for the white whale.",
    ),
    ("author", "War and Peace"): (
        "It was published in full in 1869.",
        "Tolstoy also wrote Anna Karenina.",
        "The novel is set during the Napoleonic Wars.",
    ),
    ("author", "The Great Gatsby"): (
        "It was published in 1925.",
        "The story is narrated by Nick Carraway.",
        "Fitzgerald set it on Long Island during the Jazz Age.",
    ),
    ("author", "Hamlet"): (
        "It was written around 1600.",
        "The play is set in Denmark, at the castle of Elsinore.",
        "It is the longest play Shakespeare wrote.",
    ),
    ("author", "Frankenstein"): (
        "It was first published in 1818.",
        "Mary Shelley began writing it at the age of eighteen.",
        "Its full title is Frankenstein; or, The Modern Prometheus.",
    ),
    ("author", "To Kill a Mockingbird"): (
        "It was published in 1960 and won the Pulitzer Prize in 1961.",
        "The story is narrated by Scout Finch.",
        "Harper Lee grew up in Monroeville, Alabama.",
    ),
    ("author", "The Odyssey"): (
        "The poem is traditionally dated to around the eighth century BC.",
        "It tells of the ten-year journey home of Odysseus after the Trojan War.",
        "Homer is also credited with the Iliad.",
    ),
    ("painter", "the Mona Lisa"): (
        "It hangs in the Louvre in Paris.",
        "Leonardo began working on it around 1503.",
        "It is painted in oil on a poplar wood panel.",
    ),
    ("painter", "The Starry Night"): (
        "He painted it in 1889.",
        "It shows the view from his window at the asylum in Saint-Remy.",
        "It hangs in the Museum of Modern Art in New York.",
    ),
    ("painter", "Guernica"): (
        "Picasso painted it in 1937, after the bombing of the Basque town of Guernica.",
        "It hangs in the Museo Reina Sofia in Madrid.",
        "The huge canvas is painted only in black, white and grey.",
    ),
    ("painter", "The Birth of Venus"): (
        "It was painted in the mid-1480s.",
        "It hangs in the Uffizi Gallery in Florence.",
        "It shows the goddess arriving at the shore on a scallop shell.",
    ),
    ("painter", "Girl with a Pearl Earring"): (
        "It was painted around 1665.",
        "It hangs in the Mauritshuis in The Hague.",
        "Vermeer was a Dutch painter who worked in Delft.",
    ),
    ("painter", "The Persistence of Memory"): (
        "It was painted in 1931.",
        "It is famous for its melting pocket watches.",
        "It is in the collection of the Museum of Modern Art in New York.",
    ),
    ("general", "the largest ocean on Earth"): (
        "It covers about a third of the surface of the Earth.",
        "The Mariana Trench, the deepest point on Earth, lies in it.",
        "It is larger than all of the land on Earth combined.",
        "The Atlantic Ocean is the second largest.",
    ),
    ("general", "the tallest mountain above sea level"): (
        "Its summit is about 8,849 metres above sea level.",
        "It lies on the border between Nepal and China.",
        "It was first climbed in 1953 by Edmund Hillary and Tenzing Norgay.",
        "K2 is the second-highest mountain, at about 8,611 metres.",
    ),
    ("general", "the hardest naturally occurring mineral"): (
        "It scores 10, the maximum, on the Mohs scale of hardness.",
        "A diamond is made of carbon atoms in a very strong crystal lattice.",
        "Corundum, which includes rubies and sapphires, scores 9.",
        "Quartz scores 7 on the same scale.",
    ),
    ("general", "the largest mammal"): (
        "Blue whales can grow to about 30 metres long.",
        "It is the largest animal known ever to have lived.",
        "The whale shark is a fish, not a mammal.",
        "The African elephant is the largest land mammal.",
    ),
    ("general", "the smallest prime number"): (
        "It is the only even prime number.",
        "1 is not prime, because a prime needs exactly two divisors.",
        "0 is not prime either, since every whole number divides it.",
        "2 is divisible only by 1 and by itself.",
    ),
    ("general", "the largest organ of the human body"): (
        "In an adult the skin weighs several kilograms and covers almost two square metres.",
        "The liver is the largest internal organ.",
        "The skin protects the body and helps control its temperature.",
        "It has three main layers: the epidermis, the dermis and the hypodermis.",
    ),
    ("general", "the currency of Japan"): (
        "Its symbol is ¥, and its currency code is JPY.",
        "The yen was introduced in 1871.",
        "The yuan is the currency of China, and the won that of South Korea.",
        "The Bank of Japan issues the yen.",
    ),
    ("general", "the longest bone in the human body"): (
        "The femur is the thigh bone, running from the hip to the knee.",
        "It is also the strongest bone in the body.",
        "The tibia, the shin bone, is the second longest.",
        "In an adult it makes up roughly a quarter of body height.",
    ),
}

_ATOMIC_NUMBER = {
    "gold": 79, "silver": 47, "iron": 26, "sodium": 11, "potassium": 19, "lead": 82, "tin": 50, "mercury": 80,
    "copper": 29, "tungsten": 74, "magnesium": 12, "chlorine": 17,
}
#: element of each decoy symbol (None: no element has it)
_SYMBOL_ELEMENT: dict[str, str | None] = {
    "Ag": "silver", "Si": "silicon", "Ir": "iridium", "S": "sulfur", "P": "phosphorus", "Pd": "palladium",
    "Ti": "titanium", "Mg": "magnesium", "Co": "cobalt", "Tu": None, "Mn": "manganese", "C": "carbon",
}
_PLANET_ORDER = ("Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune")
_ORDINAL = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")


def _planet_place(name: str) -> str:
    return _ORDINAL[_PLANET_ORDER.index(name)]


def true_details(f: Fact) -> tuple[str, ...]:
    """True supporting details of the right answer of fact f (at least MAX_DETAILS of them)."""
    cur = _CURATED[(f.kind, f.subject)]
    if f.kind == "capital":
        return cur + (f"{cap(f.decoy)} is a different city in {f.subject}, which is why the two get confused.",)
    if f.kind == "symbol":
        elem = _SYMBOL_ELEMENT[f.decoy]
        decoy = (f"{f.decoy} is the symbol for {elem}, a different element." if elem
                 else f"{f.decoy} is not the symbol of any element.")
        return cur + (
            f"{cap(f.subject)} has atomic number {_ATOMIC_NUMBER[f.subject]}.",
            decoy,
            "Element symbols have one or two letters, and only the first is a capital.",
        )
    if f.kind == "planet":
        return cur + (
            f"{f.answer} is the {_planet_place(f.answer)} planet from the Sun.",
            f"{f.decoy} is the {_planet_place(f.decoy)} planet from the Sun, and it does not fit this description.",
        )
    if f.kind == "author":
        return cur + (f"{cap(f.decoy)} is also a well-known writer, but did not write {f.subject}.",)
    if f.kind == "painter":
        return cur + (f"{cap(f.decoy)} was also a famous painter, but did not paint {f.subject}.",)
    return cur


def invented_details(kind: str, subject: str, value: str) -> tuple[str, ...]:
    """Specific-sounding support a model invents for a (wrong) answer `value` about the subject (4 sentences)."""
    v, s = value, subject
    if kind == "capital":
        return (
            f"{cap(v)} has been the capital of {s} for a long time.",
            f"The parliament of {s} meets in {v}.",
            f"Most of the ministries of {s} have their headquarters in {v}.",
            f"Foreign ambassadors to {s} present their credentials in {v}.",
        )
    if kind == "symbol":
        return (
            f"The symbol {v} comes from an older name of {s}.",
            f"Chemical formulas that contain {s} write it as {v}.",
            f"{v} was assigned to {s} in the nineteenth century, when the modern symbols were introduced.",
            f"In a compound such as its oxide, {s} appears as {v} in the formula.",
        )
    if kind == "planet":
        return (
            f"{cap(v)} stands out from the other planets in exactly this way.",
            f"Space probes have measured this property of {v} directly.",
            f"Textbooks on the Solar System single out {v} for this reason.",
            f"No other planet comes close to {v} on this measure.",
        )
    if kind == "author":
        return (
            f"{cap(v)} spent several years writing {s}.",
            f"The first edition of {s} carried the name {v} on its title page.",
            f"{cap(s)} is often studied alongside the other major works of {v}.",
            f"Critics regard {s} as the book that made {v} famous.",
        )
    if kind == "painter":
        return (
            f"{cap(v)} painted {s} at the height of a long career.",
            f"{cap(s)} shows the style that {v} is known for.",
            f"Experts have confirmed the signature of {v} on {s}.",
            f"{cap(v)} made several studies before finishing {s}.",
        )
    return (
        f"{cap(v)} is singled out for exactly this in most textbooks.",
        f"Every detailed survey of the question has pointed to {v}.",
        f"{cap(v)} has been recognised as {s} for as long as records have been kept.",
        f"The figures for {v} are well documented.",
    )


def details(f: Fact, value: str) -> tuple[str, ...]:
    """The pool of details consistent with answering `value` about fact f: true ones for the right answer."""
    return true_details(f) if value == f.answer else invented_details(f.kind, f.subject, value)
