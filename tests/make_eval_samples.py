"""Write the synthetic eval-set samples under tulu_data/samples/ (one folder per eval source).

Each file has the upstream path and schema of its source (field names and types as the Hub files
have them) and a few invented instances; `python tests/make_eval_samples.py` regenerates them byte
for byte. Three instances deliberately repeat prompts of the bundled training samples, so the
decontamination report finds something in the sample builds:

- MATH: "What is the sum of the first five positive odd integers?" (a prm800k_phase2 sample problem);
- AlpacaEval: "Explain in two sentences why the sky looks blue during the day." (a helpsteer sample prompt);
- MBPP: "Write a function that binary search halves the interval at every step." (a code_alpaca sample).

One BBH input has fewer than 8 words, so it cannot be tested with 8-grams (counted as too short).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SAMPLES = Path(__file__).resolve().parent.parent / "tulu_data" / "samples"


def _parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="snappy")


def gsm8k() -> None:
    questions = [
        ("A baker fills 14 trays with 12 rolls each and sells all but 19 rolls. How many rolls does she sell?", "149"),
        ("Tom reads 23 pages every evening for two weeks and then 40 more pages on Sunday. How many pages does he read?", "362"),
        ("A garden has 6 rows of 15 tulips. A storm flattens one third of them. How many tulips are still standing?", "60"),
        ("Maria buys 3 notebooks at $4 each and a pen for $2, paying with a $20 bill. How much change does she get?", "6"),
        ("A train travels 180 miles in 3 hours and then 120 miles in 2 hours. What is its average speed in miles per hour?", "60"),
    ]
    answers = [f"Work it out step by step.\n#### {a}" for _, a in questions]
    table = pa.table({"question": [q for q, _ in questions], "answer": answers})
    _parquet(SAMPLES / "gsm8k" / "main" / "test-00000-of-00001.parquet", table)


def hendrycks_math() -> None:
    rows = {
        "algebra": [
            ("Solve for $y$ when $5y - 7 = 3y + 9$ and give the answer as an integer.", "Level 2", "$y = 8$"),
            ("Find the sum of all real values of $t$ such that $t^2 - 9t + 20 = 0$ holds.", "Level 3", "$9$"),
        ],
        "prealgebra": [
            ("What is the sum of the first five positive odd integers?", "Level 1", "$1+3+5+7+9=25$"),
            ("How many positive multiples of seven are less than one hundred and fifty?", "Level 2", "$21$"),
        ],
    }
    for subject, items in rows.items():
        table = pa.table(
            {
                "problem": [p for p, _, _ in items],
                "level": [lv for _, lv, _ in items],
                "type": [subject.replace("_", " ").title()] * len(items),
                "solution": [s for _, _, s in items],
            }
        )
        _parquet(SAMPLES / "hendrycks_math" / subject / "test-00000-of-00001.parquet", table)


def humaneval() -> None:
    prompts = [
        ("HumanEval/0", "count_vowels", 'def count_vowels(word: str) -> int:\n    """Return how many vowels the given lower case word contains.\n    >>> count_vowels("banana")\n    3\n    """\n'),
        ("HumanEval/1", "rotate_left", 'from typing import List\n\n\ndef rotate_left(items: List[int], k: int) -> List[int]:\n    """Rotate the list to the left by k places and return the new list.\n    >>> rotate_left([1, 2, 3], 1)\n    [2, 3, 1]\n    """\n'),
        ("HumanEval/2", "is_palindrome_number", 'def is_palindrome_number(n: int) -> bool:\n    """Return True when the decimal digits of n read the same in both directions.\n    >>> is_palindrome_number(121)\n    True\n    """\n'),
    ]
    table = pa.table(
        {
            "task_id": [t for t, _, _ in prompts],
            "prompt": [p for _, _, p in prompts],
            "canonical_solution": ["    pass\n"] * len(prompts),
            "test": [f"def check(candidate):\n    assert candidate is not None  # {e}\n" for _, e, _ in prompts],
            "entry_point": [e for _, e, _ in prompts],
        }
    )
    _parquet(SAMPLES / "humaneval" / "openai_humaneval" / "test-00000-of-00001.parquet", table)


def mbpp() -> None:
    texts = [
        "Write a function that binary search halves the interval at every step.",
        "Write a python function to find the second largest number in a list of integers.",
        "Write a function to count the words of a sentence that start with a capital letter.",
    ]
    table = pa.table(
        {
            "task_id": pa.array([11, 12, 13], pa.int32()),
            "text": texts,
            "code": ["def f(x):\n    return x"] * 3,
            "test_list": [["assert f(1) == 1", "assert f(2) == 2", "assert f(3) == 3"]] * 3,
            "test_setup_code": [""] * 3,
            "challenge_test_list": pa.array([[], [], []], pa.list_(pa.string())),
        }
    )
    _parquet(SAMPLES / "mbpp" / "full" / "test-00000-of-00001.parquet", table)


def ifeval() -> None:
    rows = [
        {"key": 1000, "prompt": "Write a short story about a lighthouse keeper who adopts a seagull. Your answer must contain exactly three paragraphs.", "instruction_id_list": ["length_constraints:number_paragraphs"], "kwargs": [{"num_paragraphs": 3}]},
        {"key": 1001, "prompt": "Write a product description for a waterproof hiking backpack without using any commas.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
        {"key": 1005, "prompt": "Explain how tides work to a ten year old. Wrap your entire response in double quotation marks.", "instruction_id_list": ["startend:quotation"], "kwargs": [{}]},
    ]
    path = SAMPLES / "ifeval" / "ifeval_input_data.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def bbh() -> None:
    tasks = {
        "boolean_expressions": [("not ( True ) and ( True ) is", "False"), ("True and not not ( not False ) is", "True")],
        "date_understanding": [
            ("Today is the last day of February in a leap year. What is the date one week from today in MM/DD/YYYY?\nOptions:\n(A) 03/07/2024\n(B) 03/06/2024", "(B)"),
            ("The concert was moved from Friday the 13th to the following Monday. What date is the concert now?\nOptions:\n(A) the 16th\n(B) the 17th", "(A)"),
        ],
    }
    for task, items in tasks.items():
        table = pa.table({"input": [i for i, _ in items], "target": [t for _, t in items]})
        _parquet(SAMPLES / "bbh" / task / "test" / "0000.parquet", table)


def mmlu() -> None:
    rows = [
        ("Which layer of the atmosphere contains most of the ozone that absorbs ultraviolet light?", "astronomy", ["Troposphere", "Stratosphere", "Mesosphere", "Thermosphere"], 1),
        ("A company that issues new shares to the public for the first time is making what kind of offering?", "business_ethics", ["A secondary offering", "A rights issue", "An initial public offering", "A buyback"], 2),
        ("Which data structure gives first in, first out access to its elements?", "college_computer_science", ["Stack", "Queue", "Heap", "Trie"], 1),
    ]
    table = pa.table(
        {
            "question": [r[0] for r in rows],
            "subject": [r[1] for r in rows],
            "choices": [r[2] for r in rows],
            "answer": pa.array([r[3] for r in rows], pa.int64()),
        }
    )
    _parquet(SAMPLES / "mmlu" / "all" / "test-00000-of-00001.parquet", table)


def alpaca_eval() -> None:
    rows = [
        {"instruction": "Explain in two sentences why the sky looks blue during the day.", "output": "Sunlight scatters off air molecules.", "generator": "text_davinci_003", "dataset": "helpful_base"},
        {"instruction": "What are some good names for a bakery that sells only sourdough bread?", "output": "Rise and Crust.", "generator": "text_davinci_003", "dataset": "oasst"},
        {"instruction": "Give me three tips for keeping houseplants alive through a dark winter.", "output": "Light, less water, humidity.", "generator": "text_davinci_003", "dataset": "selfinstruct"},
    ]
    path = SAMPLES / "alpaca_eval" / "alpaca_eval.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=4) + "\n")


def tydiqa() -> None:
    rows = [
        ("english-1", "Lighthouse", "A lighthouse is a tower that emits light to guide ships at night.", "What does a lighthouse emit to guide ships at night?", "light", 33),
        ("finnish-1", "Sauna", "Sauna on pieni huone tai rakennus, jossa kylvetään kuumassa höyryssä.", "Mikä on sauna ja mitä siellä tehdään kuumassa höyryssä?", "pieni huone", 9),
        ("indonesian-1", "Borobudur", "Borobudur adalah candi Buddha terbesar di dunia yang terletak di Jawa Tengah.", "Di provinsi manakah candi Buddha terbesar di dunia terletak?", "Jawa Tengah", 66),
    ]
    answers = pa.array(
        [{"text": [r[4]], "answer_start": [r[5]]} for r in rows],
        pa.struct([("text", pa.list_(pa.string())), ("answer_start", pa.list_(pa.int32()))]),
    )
    table = pa.table({"id": [r[0] for r in rows], "title": [r[1] for r in rows], "context": [r[2] for r in rows], "question": [r[3] for r in rows], "answers": answers})
    _parquet(SAMPLES / "tydiqa" / "secondary_task" / "validation-00000-of-00001.parquet", table)


def main() -> None:
    for make in (gsm8k, hendrycks_math, humaneval, mbpp, ifeval, bbh, mmlu, alpaca_eval, tydiqa):
        make()


if __name__ == "__main__":
    main()
