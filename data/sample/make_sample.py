"""Write responses.jsonl, the embedded default input of the pipeline.

Run from the repository root: ``python data/sample/make_sample.py``. The output
depends only on this file (fixed seed), so rerunning it reproduces the file
byte for byte.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

# (question, short correct answer, one sentence of explanation, a wrong answer)
FACTS = [
    (
        "What is the boiling point of water at sea level in Celsius?",
        "100 degrees Celsius",
        "At standard atmospheric pressure (101.325 kPa) pure water boils at 100 °C; at altitude it boils lower.",
        "Water boils at 90 degrees Celsius at sea level.",
    ),
    (
        "Which planet is closest to the Sun?",
        "Mercury",
        "Mercury orbits at about 0.39 astronomical units, closer than Venus at about 0.72.",
        "Venus is the closest planet to the Sun.",
    ),
    (
        "How many sides does a hexagon have?",
        "Six",
        "The prefix hexa- means six, so a hexagon has six sides and six angles.",
        "A hexagon has eight sides.",
    ),
    (
        "What gas do plants take in for photosynthesis?",
        "Carbon dioxide",
        "Plants absorb CO2 through their stomata and, using light energy, turn it and water into glucose and oxygen.",
        "Plants take in oxygen for photosynthesis and release nitrogen.",
    ),
    (
        "Who wrote the play 'Romeo and Juliet'?",
        "William Shakespeare",
        "Shakespeare wrote it in the mid-1590s; it was first printed in 1597.",
        "Romeo and Juliet was written by Charles Dickens.",
    ),
    (
        "What is the chemical symbol for gold?",
        "Au",
        "The symbol comes from the Latin word for gold, aurum.",
        "The chemical symbol for gold is Go.",
    ),
    (
        "How many minutes are in three hours?",
        "180 minutes",
        "Each hour has 60 minutes, and 3 x 60 = 180.",
        "Three hours is 120 minutes.",
    ),
    (
        "What is the largest ocean on Earth?",
        "The Pacific Ocean",
        "It covers about 165 million square kilometres, more than all land area combined.",
        "The Atlantic Ocean is the largest ocean.",
    ),
    (
        "What is the freezing point of water in Fahrenheit?",
        "32 degrees Fahrenheit",
        "0 °C converts to 0 x 9/5 + 32 = 32 °F.",
        "Water freezes at 0 degrees Fahrenheit.",
    ),
    (
        "In which continent is Kenya?",
        "Africa",
        "Kenya lies in East Africa, on the Indian Ocean coast, with the equator crossing it.",
        "Kenya is in South America.",
    ),
    (
        "What does a thermometer measure?",
        "Temperature",
        "It reads how hot or cold something is, for example through the expansion of a liquid or a sensor's resistance.",
        "A thermometer measures air pressure.",
    ),
    (
        "How many legs does a spider have?",
        "Eight",
        "Spiders are arachnids, which have eight legs, unlike insects, which have six.",
        "Spiders have six legs like other insects.",
    ),
    (
        "What is the square root of 81?",
        "9",
        "9 x 9 = 81, so the principal square root of 81 is 9.",
        "The square root of 81 is 8.",
    ),
    (
        "Which organ pumps blood through the human body?",
        "The heart",
        "The heart's four chambers pump blood through the lungs and then around the rest of the body.",
        "The liver pumps blood through the body.",
    ),
    (
        "What is the capital of Japan?",
        "Tokyo",
        "Tokyo has been the seat of government since 1868, when the emperor moved there from Kyoto.",
        "The capital of Japan is Osaka.",
    ),
    (
        "What is the main language spoken in Brazil?",
        "Portuguese",
        "Brazil was a Portuguese colony, and Portuguese is its official and most widely spoken language.",
        "Most Brazilians speak Spanish.",
    ),
    (
        "How many days are in a leap year?",
        "366 days",
        "A leap year adds 29 February to keep the calendar aligned with Earth's orbit of about 365.24 days.",
        "A leap year has 364 days.",
    ),
    (
        "What force keeps the Moon in orbit around the Earth?",
        "Gravity",
        "Earth's gravitational pull bends the Moon's path into an orbit instead of a straight line.",
        "Magnetism holds the Moon in orbit.",
    ),
    (
        "What is H2O commonly called?",
        "Water",
        "H2O is a molecule of two hydrogen atoms bonded to one oxygen atom: water.",
        "H2O is hydrogen peroxide.",
    ),
    (
        "Which instrument has 88 keys in its standard form?",
        "The piano",
        "A standard modern piano has 52 white and 36 black keys, 88 in total.",
        "The violin has 88 keys.",
    ),
    (
        "What is the tallest mountain above sea level?",
        "Mount Everest",
        "Its summit is about 8,849 metres above sea level, on the border of Nepal and China.",
        "Mont Blanc is the tallest mountain in the world.",
    ),
    (
        "How many continents are there by the most common count?",
        "Seven",
        "The usual list is Africa, Antarctica, Asia, Australia, Europe, North America and South America.",
        "There are five continents, and Antarctica is not one of them because nobody lives there permanently.",
    ),
    (
        "What is the primary source of energy for Earth's climate?",
        "The Sun",
        "Sunlight delivers about 340 watts per square metre on average at the top of the atmosphere.",
        "The Earth's core provides most of the energy for the climate.",
    ),
    (
        "What does DNA stand for?",
        "Deoxyribonucleic acid",
        "DNA is the molecule that carries genetic instructions, built from a sugar called deoxyribose.",
        "DNA stands for dynamic nuclear atom.",
    ),
    (
        "Which metal is liquid at room temperature?",
        "Mercury",
        "Mercury melts at about -39 °C, so it is liquid at ordinary room temperature.",
        "Iron is liquid at room temperature.",
    ),
    (
        "What is the currency of the United Kingdom?",
        "The pound sterling",
        "The pound (GBP) is divided into 100 pence and is issued by the Bank of England.",
        "The United Kingdom uses the euro.",
    ),
    (
        "How many bones are in the adult human body?",
        "206",
        "Babies have around 300 bones, and many fuse during growth to leave 206 in adults.",
        "An adult has 150 bones.",
    ),
    (
        "What is the speed of light in a vacuum, roughly?",
        "About 300,000 kilometres per second",
        "The exact value is 299,792,458 metres per second, fixed by the definition of the metre.",
        "Light travels at about 300 kilometres per second.",
    ),
    (
        "Which vitamin does the skin produce in sunlight?",
        "Vitamin D",
        "Ultraviolet B light converts a cholesterol derivative in the skin into vitamin D3.",
        "Sunlight makes the skin produce vitamin C.",
    ),
    (
        "What is the smallest prime number?",
        "2",
        "2 is divisible only by 1 and itself, and it is the only even prime.",
        "The smallest prime number is 1.",
    ),
    (
        "Which gas makes up most of Earth's atmosphere?",
        "Nitrogen",
        "Dry air is about 78 percent nitrogen, 21 percent oxygen and about 1 percent argon.",
        "Oxygen makes up most of the atmosphere.",
    ),
    (
        "Who painted the Mona Lisa?",
        "Leonardo da Vinci",
        "Leonardo began it around 1503, and it hangs in the Louvre in Paris.",
        "The Mona Lisa was painted by Vincent van Gogh.",
    ),
    (
        "What is the longest river in South America?",
        "The Amazon",
        "The Amazon runs about 6,400 kilometres and carries more water than any other river.",
        "The Mississippi is the longest river in South America.",
    ),
    (
        "How many hours are in a week?",
        "168 hours",
        "A week has 7 days of 24 hours, and 7 x 24 = 168.",
        "A week has 144 hours.",
    ),
    (
        "What shape is a stop sign in most countries?",
        "An octagon",
        "The eight-sided shape lets drivers recognise it even from behind or when covered in snow.",
        "Stop signs are triangles.",
    ),
    (
        "What do bees collect from flowers to make honey?",
        "Nectar",
        "Bees gather sugary nectar, store it in the hive and evaporate its water until it becomes honey.",
        "Bees make honey from leaves.",
    ),
    (
        "Which part of a plant absorbs water from the soil?",
        "The roots",
        "Root hairs give a large surface through which water and minerals enter the plant.",
        "The flowers absorb water from the soil.",
    ),
    (
        "What is the opposite of 'ancient'?",
        "Modern",
        "'Ancient' means very old, so 'modern' or 'new' expresses the opposite meaning.",
        "The opposite of ancient is 'old'.",
    ),
    (
        "How many players are on a football (soccer) team on the field?",
        "Eleven",
        "Each side fields ten outfield players and one goalkeeper.",
        "A football team has nine players on the field.",
    ),
    (
        "What is the hardest natural substance?",
        "Diamond",
        "Diamond scores 10 on the Mohs scale because each carbon atom is bonded to four others in a rigid lattice.",
        "Gold is the hardest natural substance.",
    ),
]

OFF_TOPIC = [
    "I like turtles. Have a nice day!",
    "That is a great question. Questions are important.",
    "I cannot help with that.",
    "Please ask me something else.",
]


def fact_responses(short: str, explanation: str, wrong: str) -> list[tuple[str, int]]:
    """Return (response, base score) for a factual question, best first."""
    return [
        (f"{short}. {explanation}", 9),
        (f"{short}.", 6),
        (wrong, 2),
        (None, 1),
    ]


def arithmetic_prompts(rng: random.Random, count: int) -> list[tuple[str, list[tuple[str, int]]]]:
    """Return ``count`` multiplication questions with worked, bare, wrong and empty answers."""
    prompts = []
    for _ in range(count):
        a, b = rng.randint(12, 49), rng.randint(12, 49)
        tens, ones = divmod(b, 10)
        worked = (
            f"{a} x {b} = {a} x {tens * 10} + {a} x {ones} = {a * tens * 10} + {a * ones} = {a * b}. "
            f"So the answer is {a * b}."
        )
        prompts.append(
            (
                f"What is {a} times {b}?",
                [
                    (worked, 10),
                    (f"{a * b}", 7),
                    (f"{a} x {b} is {a * b + rng.choice([-10, 10, 1])}.", 2),
                    (None, 1),
                ],
            )
        )
    return prompts


def main() -> None:
    rng = random.Random(20241104)
    prompts = [(q, fact_responses(s, e, w)) for q, s, e, w in FACTS]
    prompts += arithmetic_prompts(rng, 25)

    rows = []
    for index, (question, responses) in enumerate(prompts):
        keep = responses if index % 3 else responses[:3]  # every third prompt has 3 responses
        for rank, (text, base) in enumerate(keep):
            text = text if text is not None else rng.choice(OFF_TOPIC)
            score = max(1, min(10, base + rng.choice([-1, 0, 0, 1])))
            rows.append(
                {
                    "prompt_id": f"sample-{index:03d}",
                    "prompt": question,
                    "response": text,
                    "score": score,
                    "model": f"writer-{rank + 1}",
                    "judge": "hand-assigned",
                }
            )

    # Rows the ingest stage must quarantine, to show the accounting.
    rows[4]["score"] = None
    rows[9]["score"] = "n/a"

    path = Path(__file__).with_name("responses.jsonl")
    with open(path, "w", encoding="utf-8") as stream:
        for row in rows:
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows for {len(prompts)} prompts to {path}")


if __name__ == "__main__":
    main()
