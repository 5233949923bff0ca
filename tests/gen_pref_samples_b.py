"""Writes the bundled samples of the Tulu 2.5 preference sources of issue 3, part B.

Run from the project root: `python tests/gen_pref_samples_b.py`. Every file is synthetic, small, in the
exact upstream schema and file format, and written deterministically (gzip without a timestamp,
parquet without varying metadata), so re-running it reproduces the committed bytes. Each source
covers the edge cases its recipe handles; the comments next to the rows say which.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SAMPLES = Path(__file__).resolve().parent.parent / "tulu_data" / "samples"


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def write_bytes(key: str, name: str, data: bytes) -> None:
    path = SAMPLES / key / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_parquet(key: str, name: str, rows: list[dict], schema: pa.Schema) -> None:
    path = SAMPLES / key / name
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, path, compression="zstd", store_schema=True)


MSG = pa.struct([("content", pa.string()), ("role", pa.string())])


def msgs(*turns: tuple[str, str]) -> list[dict]:
    return [{"content": c, "role": r} for r, c in turns]


# ---------------------------------------------------------------------------------------------
# nvidia/HelpSteer: train.jsonl.gz, one row per (prompt, response) with five 0-4 ratings


def helpsteer_rows() -> list[dict]:
    def r(prompt, response, h, c, co, cx, v):
        return {"prompt": prompt, "response": response, "helpfulness": h, "correctness": c,
                "coherence": co, "complexity": cx, "verbosity": v}

    p1 = "Explain in two sentences why the sky looks blue during the day."
    p2 = "Write a haiku about a lighthouse in winter."
    p3 = "List three uses of baking soda around the house."
    p4 = "What is the capital of Australia? Answer in one word."
    p5 = "Summarise the plot of a heist story in three sentences."
    p6 = "Give one tip for learning to juggle."
    p7 = "Describe the smell of rain to someone who has never smelled it."
    p8 = "Name a prime number between 20 and 30."
    rows = [
        # p1: four responses, distinct means; the lowest mean is NOT chosen (the published script's defect)
        r(p1, "Sunlight scatters off air molecules, and blue light scatters most because of its short wavelength. "
              "So blue light reaches our eyes from every direction of the sky.", 4, 4, 4, 2, 2),
        r(p1, "Because the ocean reflects onto the sky.", 1, 0, 3, 1, 1),
        r(p1, "Rayleigh scattering favours short wavelengths, so the sky glows blue.", 3, 4, 4, 2, 1),
        r(p1, "It is blue because of scattering.", 2, 3, 4, 0, 0),
        # p2: two responses tie for the best mean (keyed pick between them), one lower
        r(p2, "Frozen beam sweeps slow\nover ice-locked harbour stones\nships sleep, light stays on", 3, 3, 4, 2, 2),
        r(p2, "White tower, white sea\nthe lamp turns through falling snow\nno one sees it turn", 4, 3, 3, 2, 1),
        r(p2, "Lighthouse cold winter.", 1, 1, 2, 0, 0),
        # p3: every response ties on the mean: no preference, the prompt is dropped
        r(p3, "Cleaning ovens, deodorising fridges, and softening dry skin in a bath.", 3, 3, 3, 3, 1),
        r(p3, "Scrubbing sinks, freshening carpets, and unclogging drains with vinegar.", 3, 3, 3, 3, 3),
        # p4: a single response: no pair possible, dropped
        r(p4, "Canberra", 4, 4, 4, 0, 0),
        # p5: verbosity would flip the order if it were counted (it is not): the 3.0-mean response wins
        r(p5, "A crew plans to rob a casino vault. The plan goes wrong when one member betrays them. "
              "They escape with half the money and a grudge.", 3, 3, 3, 3, 0),
        r(p5, "Thieves steal things and then there is a twist at the end of the story about it.", 2, 3, 3, 3, 4),
        # p6: one response has a missing score, one an out-of-range score, one is blank: dropped rows;
        #     two valid responses remain, so the prompt still yields a pair
        {"prompt": p6, "response": "Start with two balls and practise the exchange until it is automatic.",
         "helpfulness": 4, "correctness": 4, "coherence": 4, "complexity": 1, "verbosity": 1},
        {"prompt": p6, "response": "Use scarves first; they fall slowly.", "helpfulness": 3, "correctness": 4,
         "coherence": 4, "complexity": 1, "verbosity": 0},
        {"prompt": p6, "response": "Practise over a bed so dropped balls do not roll away.", "helpfulness": None,
         "correctness": 3, "coherence": 4, "complexity": 1, "verbosity": 1},
        r(p6, "Throw higher.", 7, 2, 3, 0, 0),
        r(p6, "   ", 0, 0, 0, 0, 0),
        # p7: surrounding whitespace in the prompt: grouped with the plain copy after stripping
        r(p7, "Like wet stone and green leaves, an earthy freshness that rises from warm ground.", 4, 3, 4, 3, 2),
        r("  " + p7 + "\n", "Rain smells like rain.", 1, 2, 3, 0, 0),
        # p8: the same response text twice with different scores: it is never its own rejected side
        r(p8, "23", 4, 4, 4, 0, 0),
        r(p8, "23", 2, 4, 4, 0, 0),
        r(p8, "21", 0, 0, 4, 0, 0),
    ]
    return rows


def write_helpsteer() -> None:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
        gz.write(_jsonl(helpsteer_rows()))
    write_bytes("helpsteer", "train.jsonl.gz", buf.getvalue())


# ---------------------------------------------------------------------------------------------
# openai/prm800k phase2_train.jsonl (mirrored as tasksource/PRM800K): one labelled sample per line


def prm_sample(i: int, problem: str, gt: str | None, steps: list | None, finish: str, answer: str = "0") -> dict:
    labelled = [s for s in (steps or []) if s is not None][:2]
    return {
        "labeler": f"00000000-0000-4000-8000-{i:012d}",
        "timestamp": f"2023-01-{10 + i % 18:02d}T12:00:00.000000",
        "generation": 1 + i % 9,
        "is_quality_control_question": False,
        "is_initial_screening_question": False,
        "question": {
            "problem": problem,
            "ground_truth_solution": gt,
            "ground_truth_answer": answer,
            "pre_generated_steps": steps,
            "pre_generated_answer": answer,
            "pre_generated_verifier_score": round(0.05 + (i % 10) / 11, 6),
        },
        "label": {
            "steps": [
                {"completions": [{"text": t, "rating": 1 if finish == "solution" else 0, "flagged": None}],
                 "human_completion": None, "chosen_completion": 0}
                for t in labelled
            ],
            "total_time": 10_000 + 137 * i,
            "finish_reason": finish,
        },
    }


def prm_rows() -> list[dict]:
    q1 = "What is the sum of the first five positive odd integers?"
    g1 = "The first five odd integers are $1, 3, 5, 7, 9$, and their sum is $\\boxed{25}$."
    q2 = "Solve for $x$: $2x + 3 = 11$."
    g2 = "Subtract 3 from both sides to get $2x = 8$, so $x = \\boxed{4}$."
    q3 = "How many positive divisors does $12$ have?"
    g3 = "The divisors are $1, 2, 3, 4, 6, 12$, so there are $\\boxed{6}$."
    q4 = "What is $7 \\times 8$?"
    g4 = "$7 \\times 8 = \\boxed{56}$."
    q5 = "Compute $\\sqrt{81}$."
    q6 = "What is the remainder when $17$ is divided by $5$?"
    g6 = "$17 = 3 \\cdot 5 + 2$, so the remainder is $\\boxed{2}$."
    return [
        # q1: three found_error samples and one solution sample: one keyed-random found_error is the rejected side
        prm_sample(1, q1, g1, ["The odd integers are 1, 3, 5, 7, 9.", "Their sum is 1 + 3 + 5 + 7 + 9 = 24.",
                               "# Answer\n\n24"], "found_error", "24"),
        prm_sample(2, q1, g1, ["The first five odd numbers are 1, 3, 5, 7 and 11.", "The sum is 27.",
                               "# Answer\n\n27"], "found_error", "27"),
        prm_sample(3, q1, g1, ["I add 1 + 3 = 4.", "Then 4 + 5 = 9, 9 + 7 = 16, 16 + 9 = 26.", "# Answer\n\n26"],
                   "found_error", "26"),
        prm_sample(4, q1, g1, ["1 + 3 + 5 + 7 + 9 = 25.", "# Answer\n\n25"], "solution", "25"),
        # q2: one found_error sample; the problem text of a second sample carries extra whitespace
        prm_sample(5, q2, g2, ["Subtract 3: 2x = 8.", "Divide by 2: x = 4.", "# Answer\n\n4"], "solution", "4"),
        prm_sample(6, " " + q2 + "\n", g2, ["Add 3 to both sides: 2x = 14.", "So x = 7.", "# Answer\n\n7"],
                   "found_error", "7"),
        # q3: no found_error sample at all (solution, give_up, bad_problem): the problem is skipped
        prm_sample(7, q3, g3, ["12 = 2^2 * 3.", "(2+1)(1+1) = 6.", "# Answer\n\n6"], "solution", "6"),
        prm_sample(8, q3, g3, ["Let me list divisors."], "give_up", "6"),
        prm_sample(9, q3, g3, ["This problem is ambiguous."], "bad_problem", "6"),
        # q4: the only found_error samples are unusable (no steps, an empty list, a null step): skipped
        prm_sample(10, q4, g4, None, "found_error", "54"),
        prm_sample(11, q4, g4, [], "found_error", "54"),
        prm_sample(12, q4, g4, ["7 times 8 is", None, "# Answer\n\n54"], "found_error", "54"),
        # q5: the found_error sample has no ground-truth solution: unusable, skipped
        prm_sample(13, q5, None, ["81 = 3^4.", "So the root is 3^3 = 27.", "# Answer\n\n27"], "found_error", "27"),
        # q6: a usable found_error sample and an unusable one (blank ground truth): the usable one is taken
        prm_sample(14, q6, g6, ["17 / 5 = 3.4.", "The remainder is 4.", "# Answer\n\n4"], "found_error", "4"),
        prm_sample(15, q6, "  ", ["17 - 15 = 3.", "# Answer\n\n3"], "found_error", "3"),
    ]


def write_prm800k() -> None:
    write_bytes("prm800k_phase2", "phase2_train.jsonl", _jsonl(prm_rows()))


# ---------------------------------------------------------------------------------------------
# Intel/orca_dpo_pairs: orca_rlhf.jsonl with system, question, chosen, rejected


def orca_rows() -> list[dict]:
    sys_a = "You are an AI assistant. You will be given a task. You must generate a detailed and long answer."
    sys_b = "You are a helpful assistant, who always provide explanation."
    return [
        {"system": sys_a, "question": "Translate to French: 'The cat sleeps on the warm windowsill.'",
         "chosen": "Le chat dort sur le rebord de fenêtre chaud.", "rejected": "The cat sleeps."},
        {"system": "", "question": "Is 91 a prime number? Explain briefly.",
         "chosen": "No. 91 = 7 × 13, so it has divisors other than 1 and itself.", "rejected": "Yes, 91 is prime."},
        {"system": sys_b, "question": "  What is the boiling point of water at sea level in Celsius?  ",
         "chosen": "  100 degrees Celsius.\n", "rejected": "50 degrees Celsius."},
        # blank chosen answer: dropped by the common rules
        {"system": sys_b, "question": "Name the largest planet in the solar system.", "chosen": "   ",
         "rejected": "Mars."},
        # missing question (null): dropped by the common rules (empty message)
        {"system": sys_a, "question": None, "chosen": "An answer without a question.", "rejected": "Another."},
        # identical answers: no preference, dropped
        {"system": sys_a, "question": "Say hello.", "chosen": "Hello!", "rejected": "Hello!"},
        {"system": sys_b, "question": "Continue the sequence: 2, 4, 8, 16, ...",
         "chosen": "32, because each term doubles.", "rejected": "18, because each term adds 2."},
    ]


def write_orca() -> None:
    write_bytes("orca_dpo_pairs", "orca_rlhf.jsonl", _jsonl(orca_rows()))


# ---------------------------------------------------------------------------------------------
# argilla/distilabel-capybara-dpo-7k-binarized: data/train-00000-of-00001.parquet

CAPYBARA_SCHEMA = pa.schema([
    ("source", pa.string()),
    ("conversation", pa.list_(pa.struct([("input", pa.string()), ("output", pa.string())]))),
    ("original_response", pa.string()),
    ("generation_prompt", pa.list_(pa.string())),
    ("raw_generation_responses", pa.list_(pa.string())),
    ("new_generations", pa.list_(pa.string())),
    ("prompt", pa.string()),
    ("chosen", pa.list_(MSG)),
    ("rejected", pa.list_(MSG)),
    ("rating_chosen", pa.int64()),
    ("rating_rejected", pa.int64()),
    ("chosen_model", pa.string()),
    ("rejected_model", pa.string()),
])


def capybara_row(source, turns, chosen_last, rejected_last, rc, rr, chosen=None, rejected=None) -> dict:
    """`turns`: earlier (user, assistant) pairs plus the final user message as (user, None)."""
    history = []
    for user, assistant in turns:
        history.append(("user", user))
        if assistant is not None:
            history.append(("assistant", assistant))
    conv = [{"input": u, "output": a if a is not None else chosen_last} for u, a in turns]
    return {
        "source": source,
        "conversation": conv,
        "original_response": chosen_last,
        "generation_prompt": [f"<|system|>\n</s>\n<|user|>\n{turns[-1][0]}</s>\n<|assistant|>\n"],
        "raw_generation_responses": [rejected_last],
        "new_generations": [rejected_last],
        "prompt": turns[-1][0],
        "chosen": chosen if chosen is not None else msgs(*history, ("assistant", chosen_last)),
        "rejected": rejected if rejected is not None else msgs(*history, ("assistant", rejected_last)),
        "rating_chosen": rc,
        "rating_rejected": rr,
        "chosen_model": "gpt-4-1106-preview",
        "rejected_model": "mlabonne/NeuralBeagle14-7B",
    }


def capybara_rows() -> list[dict]:
    return [
        capybara_row("Airoboros", [("Write a limerick about a forgetful owl.", None)],
                     "An owl who forgot where she'd roost\nwould circle the barn for a boost...", "Owls are birds.", 5, 2),
        # multi-turn: the earlier turns are shared, only the last assistant turn differs
        capybara_row("Dove", [("What is 15% of 80?", "15% of 80 is 12."), ("And 20% of the same number?", None)],
                     "20% of 80 is 16.", "20% of 80 is 18.", 5, 1),
        capybara_row("Know-Logic", [("Give two synonyms for 'rapid'.", None)], "  Quick and swift. ", "Slow.", 4, 1),
        # a wrong role name in the chosen conversation: dropped
        capybara_row("GPT4LLM", [("Name a primary colour.", None)], "Red.", "Green.", 5, 3,
                     chosen=msgs(("human", "Name a primary colour."), ("assistant", "Red."))),
        # an empty assistant message in the rejected conversation: dropped
        capybara_row("EverythingLM", [("Define entropy in one sentence.", None)],
                     "Entropy measures how many microscopic arrangements match a system's macroscopic state.", "", 5, 1),
        # the rejected side ends on a user turn: dropped
        capybara_row("Verified-Camel", [("What gas do plants absorb?", None)], "Carbon dioxide.", "Oxygen.", 5, 2,
                     rejected=msgs(("user", "What gas do plants absorb?"), ("assistant", "Oxygen."),
                                   ("user", "Are you sure?"))),
        # chosen and rejected disagree on an earlier turn: dropped
        capybara_row("Dove", [("Pick a number from 1 to 3.", "2."), ("Double it.", None)], "4.", "6.", 4, 1,
                     rejected=msgs(("user", "Pick a number from 1 to 3."), ("assistant", "3."),
                                   ("user", "Double it."), ("assistant", "6."))),
        # a system message in front is a valid role and kept as it is
        capybara_row("Airoboros", [("Reply with one word: what colour is snow?", None)], "White.", "Snow.", 5, 2,
                     chosen=msgs(("system", "Be terse."), ("user", "Reply with one word: what colour is snow?"),
                                 ("assistant", "White.")),
                     rejected=msgs(("system", "Be terse."), ("user", "Reply with one word: what colour is snow?"),
                                   ("assistant", "Snow."))),
    ]


def write_capybara() -> None:
    write_parquet("capybara_dpo_7k", "data/train-00000-of-00001.parquet", capybara_rows(), CAPYBARA_SCHEMA)


# ---------------------------------------------------------------------------------------------
# argilla/dpo-mix-7k: data/train-00000-of-00001.parquet (the train split only)

DPO_MIX_SCHEMA = pa.schema([
    ("dataset", pa.string()),
    ("chosen", pa.list_(MSG)),
    ("rejected", pa.list_(MSG)),
    ("chosen_rating", pa.float64()),
    ("rejected_rating", pa.float64()),
])


def dpo_mix_rows() -> list[dict]:
    def row(ds, user, good, bad, rc, rr, **over):
        out = {"dataset": ds, "chosen": msgs(("user", user), ("assistant", good)),
               "rejected": msgs(("user", user), ("assistant", bad)), "chosen_rating": rc, "rejected_rating": rr}
        out.update(over)
        return out

    return [
        row("capybara", "Convert 5 km to miles.", "5 km is about 3.11 miles.", "5 km is 8 miles.", 5.0, 2.0),
        row("argilla/distilabel-intel-orca-dpo-pairs", "Is the statement 'ice is colder than steam' true?",
            "Yes: ice is at or below 0 °C while steam is at or above 100 °C.", "No.", 9.0, 3.0),
        row("argilla/ultrafeedback-binarized-preferences-cleaned", "Suggest a name for a bakery.",
            "The Rising Loaf.", "Bakery.", 4.75, 2.25),
        # multi-turn with a shared history
        {"dataset": "capybara",
         "chosen": msgs(("user", "Say a fruit."), ("assistant", "Apple."), ("user", "Another one?"),
                        ("assistant", "Pear.")),
         "rejected": msgs(("user", "Say a fruit."), ("assistant", "Apple."), ("user", "Another one?"),
                          ("assistant", "Apple again.")),
         "chosen_rating": 4.0, "rejected_rating": 1.0},
        # a wrong role ("gpt") on the rejected side: dropped
        row("capybara", "Count to three.", "1, 2, 3.", "1, 2.", 5.0, 1.0,
            rejected=msgs(("user", "Count to three."), ("gpt", "1, 2."))),
        # a null chosen conversation: dropped
        row("capybara", "Spell 'cat' backwards.", "tac", "cat", None, 1.0, chosen=None),
        # whitespace-only user message: dropped
        row("argilla/ultrafeedback-binarized-preferences-cleaned", " \n ", "Something.", "Nothing.", 3.0, 1.0),
    ]


def write_dpo_mix() -> None:
    write_parquet("argilla_dpo_mix_7k", "data/train-00000-of-00001.parquet", dpo_mix_rows(), DPO_MIX_SCHEMA)


# ---------------------------------------------------------------------------------------------
# tatsu-lab/alpaca_farm: alpaca_gpt4_preference.json / alpaca_human_preference.json (JSON arrays)


def alpaca_rows(kind: str) -> list[dict]:
    def row(ins, inp, o1, o2, pref):
        return {"instruction": ins, "input": inp, "output_1": o1, "output_2": o2, "preference": pref}

    base = [
        row("Give three tips for staying healthy.", "", "Eat vegetables, sleep well, and exercise.",
            "Be healthy.", 1),
        row("Rewrite the sentence in the passive voice.", "The chef cooked the meal.",
            "The meal cooked the chef.", "The meal was cooked by the chef.", 2),
        row("Classify the sentiment of the review.", "  The battery died after a day.  ", "Negative",
            "Positive", 1),
        # a preference outside {1, 2}: dropped
        row("Name a mammal that can fly.", "", "The bat.", "The eagle.", 0),
        row("Translate the word to Spanish.", "apple", "manzana", "pomme", None),
        # an empty output: dropped by the common rules
        row("Suggest a title for a poem about autumn.", "", "Falling Gold", "", 1),
        # identical outputs: no preference, dropped
        row("What is 2 + 2?", "", "4", "4", 2),
        # whitespace-only input counts as no input
        row("Write a one-line motto for a library.", "   ", "Open a book, open a door.", "Books.", 1),
    ]
    if kind == "gpt4":
        base.append(row("Explain what a noun is.", "", "A word naming a person, place or thing.",
                        "A verb.", 1))
    else:
        base.append(row("List two planets.", "Answer with names only.", "Venus, Mars", "Sun, Moon", 1))
        base.append(row("Choose the larger number.", "7 or 12", "7", "12", 2))
    return base


def write_alpaca_farm() -> None:
    for key, kind, name in (("alpaca_farm_gpt4_preference", "gpt4", "alpaca_gpt4_preference.json"),
                            ("alpaca_farm_human_preference", "human", "alpaca_human_preference.json")):
        write_bytes(key, name, (json.dumps(alpaca_rows(kind), indent=2, ensure_ascii=False) + "\n").encode())


# ---------------------------------------------------------------------------------------------
# lmsys/chatbot_arena_conversations: data/train-00000-of-00001.parquet

_MOD_CATS = ["harassment", "harassment/threatening", "hate", "hate/threatening", "self-harm",
             "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence", "violence/graphic"]
ARENA_SCHEMA = pa.schema([
    ("question_id", pa.string()),
    ("model_a", pa.string()),
    ("model_b", pa.string()),
    ("winner", pa.string()),
    ("judge", pa.string()),
    ("conversation_a", pa.list_(MSG)),
    ("conversation_b", pa.list_(MSG)),
    ("turn", pa.int64()),
    ("anony", pa.bool_()),
    ("language", pa.string()),
    ("tstamp", pa.float64()),
    ("openai_moderation", pa.struct([
        ("categories", pa.struct([(c, pa.bool_()) for c in _MOD_CATS])),
        ("category_scores", pa.struct([(c, pa.float64()) for c in _MOD_CATS])),
        ("flagged", pa.bool_()),
    ])),
    ("toxic_chat_tag", pa.struct([
        ("roberta-large", pa.struct([("flagged", pa.bool_()), ("probability", pa.float64())])),
        ("t5-large", pa.struct([("flagged", pa.bool_()), ("score", pa.float64())])),
    ])),
])


def arena_row(i: int, winner: str, conv_a: list[dict], conv_b: list[dict], turn: int | None = None) -> dict:
    return {
        "question_id": f"{i:032x}",
        "model_a": ["vicuna-13b", "koala-13b", "alpaca-13b", "claude-v1"][i % 4],
        "model_b": ["gpt-3.5-turbo", "oasst-pythia-12b", "chatglm-6b", "llama-13b"][i % 4],
        "winner": winner,
        "judge": f"arena_user_{1000 + i}",
        "conversation_a": conv_a,
        "conversation_b": conv_b,
        "turn": turn if turn is not None else max(1, len(conv_a or []) // 2),
        "anony": i % 3 != 0,
        "language": "English",
        "tstamp": 1682351591.0 + 97 * i,
        "openai_moderation": {"categories": {c: False for c in _MOD_CATS},
                              "category_scores": {c: round(1e-6 * (i + 1), 9) for c in _MOD_CATS},
                              "flagged": False},
        "toxic_chat_tag": {"roberta-large": {"flagged": False, "probability": 0.001 * i},
                           "t5-large": {"flagged": False, "score": 0.0001 * i}},
    }


def arena_2023_rows() -> list[dict]:
    q = "What are two benefits of regular exercise?"
    a_good = "It strengthens the heart and improves mood."
    a_bad = "Exercise is a thing people do."
    return [
        arena_row(1, "model_a", msgs(("user", q), ("assistant", a_good)), msgs(("user", q), ("assistant", a_bad))),
        arena_row(2, "model_b", msgs(("user", "Tell me a fun fact about octopuses."), ("assistant", "They are fish.")),
                  msgs(("user", "Tell me a fun fact about octopuses."), ("assistant", "Octopuses have three hearts."))),
        # ties carry no preference: dropped
        arena_row(3, "tie", msgs(("user", "Say hi."), ("assistant", "Hi!")), msgs(("user", "Say hi."), ("assistant", "Hello!"))),
        arena_row(4, "tie (bothbad)", msgs(("user", "2+2?"), ("assistant", "5")), msgs(("user", "2+2?"), ("assistant", "22"))),
        # multi-turn with different earlier answers: the vote judged whole conversations, dropped
        arena_row(5, "model_a",
                  msgs(("user", "Name a colour."), ("assistant", "Blue."), ("user", "Another?"), ("assistant", "Green.")),
                  msgs(("user", "Name a colour."), ("assistant", "Red."), ("user", "Another?"), ("assistant", "Red."))),
        # multi-turn whose earlier answers are identical: only the last turn differs, kept
        arena_row(6, "model_b",
                  msgs(("user", "Reply OK."), ("assistant", "OK"), ("user", "Now spell it backwards."), ("assistant", "OK")),
                  msgs(("user", "Reply OK."), ("assistant", "OK"), ("user", "Now spell it backwards."), ("assistant", "KO"))),
        # an empty answer on the winning side: dropped by the common rules
        arena_row(7, "model_a", msgs(("user", "Write a word that rhymes with cat."), ("assistant", "")),
                  msgs(("user", "Write a word that rhymes with cat."), ("assistant", "Hat."))),
        # an unknown winner label: dropped
        arena_row(8, "", msgs(("user", "Pick heads or tails."), ("assistant", "Heads.")),
                  msgs(("user", "Pick heads or tails."), ("assistant", "Tails."))),
        # the user turns differ between the two sides (not a valid battle record): dropped
        arena_row(9, "model_b", msgs(("user", "What is the tallest mountain?"), ("assistant", "K2.")),
                  msgs(("user", "What is the tallest mountain on Earth?"), ("assistant", "Mount Everest."))),
        # a null conversation: dropped
        arena_row(10, "model_a", None, msgs(("user", "Hello?"), ("assistant", "Hello.")), turn=1),
        # no winner recorded (null): dropped as an unknown label, not as a tie
        arena_row(12, None, msgs(("user", "Flip a coin."), ("assistant", "Heads.")),
                  msgs(("user", "Flip a coin."), ("assistant", "Tails."))),
        # surrounding whitespace is stripped
        arena_row(11, "model_a", msgs(("user", "  Capital of Japan?\n"), ("assistant", " Tokyo. ")),
                  msgs(("user", "  Capital of Japan?\n"), ("assistant", "Kyoto."))),
    ]


def write_arena_2023() -> None:
    write_parquet("chatbot_arena_conversations", "data/train-00000-of-00001.parquet", arena_2023_rows(), ARENA_SCHEMA)


# ---------------------------------------------------------------------------------------------
# lmsys/lmsys-arena-human-preference-55k: train.csv; prompt/response_a/response_b are JSON lists


def arena_2024_rows() -> list[list]:
    def js(items) -> str:
        return json.dumps(items)

    rows = [
        # id, model_a, model_b, prompt, response_a, response_b, winner_model_a, winner_model_b, winner_tie
        [30192, "gpt-4-1106-preview", "gpt-4-0613", js(["Is it morally right to lie to protect a friend?"]),
         js(["It depends on the harm involved; many ethicists allow it to prevent serious harm."]),
         js(["Yes."]), 1, 0, 0],
        [53567, "koala-13b", "gpt-4-0613", js(["What is the difference between \"affect\" and \"effect\"?"]),
         js(["They are the same word."]),
         js(["\"Affect\" is usually a verb (to influence); \"effect\" is usually a noun (a result).\nExample: "
             "the weather affects my mood; the effect is gloom."]), 0, 1, 0],
        # a tie: dropped
        [65089, "gpt-3.5-turbo-0613", "mistral-medium", js(["Say something nice."]), js(["You are great."]),
         js(["Have a good day."]), 0, 0, 1],
        # multi-turn, different first answers: dropped
        [96401, "llama-2-13b-chat", "mistral-7b-instruct", js(["Pick a number.", "Add one to it."]),
         js(["7.", "8."]), js(["3.", "4."]), 1, 0, 0],
        # multi-turn whose first answers are identical: kept as a two-turn pair
        [198779, "claude-2.1", "claude-instant-1", js(["Reply with the word yes.", "Now translate it to German."]),
         js(["yes", "ja"]), js(["yes", "oui"]), 1, 0, 0],
        # malformed JSON in response_b: dropped, counted
        [292873, "vicuna-33b", "gpt-4-0314", js(["Name a river in Africa."]), js(["The Nile."]),
         '["The Congo.', 0, 1, 0],
        # a null entry in the winning response list: dropped (empty message)
        [313413, "mixtral-8x7b-instruct-v0.1", "gpt-4-0613", js(["Write a two-word slogan."]), "[null]",
         js(["Think different."]), 1, 0, 0],
        # prompt and responses of different lengths: dropped
        [370945, "gemini-pro", "claude-2.0", js(["First question.", "Second question."]), js(["Only one answer."]),
         js(["Answer one.", "Answer two."]), 0, 1, 0],
        # no winner flag set / two winner flags: dropped
        [440581, "gpt-4-0125-preview", "qwen-14b-chat", js(["Hi"]), js(["Hello!"]), js(["Hey."]), 0, 0, 0],
        [481524, "yi-34b-chat", "gpt-4-1106-preview", js(["Bye"]), js(["Goodbye!"]), js(["See you."]), 1, 1, 0],
        # a bare JSON string instead of a list, and a nested list: not the upstream shape, dropped
        [515010, "pplx-70b-online", "openchat-3.5", '"Tell me a joke."', js(["Why did the chicken cross the road?"]),
         js(["No."]), 1, 0, 0],
        [598372, "zephyr-7b-beta", "gpt-3.5-turbo-0125", js(["Count to two."]), js([["1", "2"]]), js(["1, 2"]), 0, 1, 0],
        # unicode (an emoji as a surrogate pair), escaped quotes and newlines survive decoding
        [617839, "starling-lm-7b-alpha", "wizardlm-70b", js(["Describe a sunny day with an emoji."]),
         json.dumps(["Bright and warm \U0001F31E with a \"perfect\" sky.\nNo clouds."]), js(["Rain."]), 1, 0, 0],
        # a lone surrogate escape cannot be valid text: dropped
        [702317, "tulu-2-dpo-70b", "gpt-4-0613", js(["Send a smiley."]), '["Here: \\ud83d"]', js([":)"]), 0, 1, 0],
    ]
    return rows


def write_arena_2024() -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "model_a", "model_b", "prompt", "response_a", "response_b",
                     "winner_model_a", "winner_model_b", "winner_tie"])
    writer.writerows(arena_2024_rows())
    write_bytes("arena_human_preference_55k", "train.csv", buf.getvalue().encode())


def main() -> None:
    write_helpsteer()
    write_prm800k()
    write_orca()
    write_capybara()
    write_dpo_mix()
    write_alpaca_farm()
    write_arena_2023()
    write_arena_2024()


if __name__ == "__main__":
    main()
