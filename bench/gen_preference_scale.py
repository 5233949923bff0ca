"""Generate synthetic raw mirrors of the big Tulu 2.5 preference sources at (a fraction of) upstream scale.

Each source is written in its upstream file layout and schema under OUT/<source_key>/, so
`tulu-data build NAME --sources OUT` reads it like a mirror of the Hub files:

    shp_2/{reddit,stackexchange}/<domain>/train.json      JSON lines, ~3.6M rows at --scale 1 (129 domains)
    stack_exchange_paired/data/<folder>/train-*.parquet    ~31.3M rows at --scale 1, 250k rows per file,
                                                           row groups of 1,000 rows (the `datasets` writer batch)
    hh_rlhf/<subset>/train.jsonl.gz                        160,800 rows at --scale 1 (the four subsets' sizes)
    nectar/data/rlaif.parquet                              182,954 rows at --scale 1, 7 ranked answers each
    helpsteer/train.jsonl.gz                               35,331 rows at --scale 1
    prm800k_phase2/phase2_train.jsonl                      ~97,000 rows at --scale 1

Row counts are the upstream ones where known (hh-rlhf, Nectar, HelpSteer) and approximations otherwise
(SHP-2 train ~3.6M, stack-exchange-paired ~31.3M split over its four folders as 7.4M/10.8M/7.4M/5.7M,
PRM800K phase 2 ~97k); text lengths are typical values, not measured ones (medians in characters below).
Texts are slices of a seeded word stream plus a row number, so every text is distinct (no dictionary
encoding shortcut in parquet). Stack-exchange texts are drawn from a pool of 200,000 such slices per field
(plus the row number), which makes its ~34 GB quick to write; its files are written by 2 spawned processes. UltraFeedback comes from bench/gen_ultrafeedback.py (linked in if present).

    python bench/gen_preference_scale.py [--scale 0.1] [--only shp_2,stack_exchange_paired] [--out bench/data/pref]
    python bench/gen_preference_scale.py --scale-for stack_exchange_paired=0.1 ...   (a per-source scale)
"""

from __future__ import annotations

import argparse
import functools
import gzip
import io
import json
import shutil
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
_WORD_TEXT = (
    "the of and to a in is that for it as with was on be by this are or from at an which but not have has can "
    "you I we they he she if would should could will what how why when where who there here about into over "
    "model answer question data value result example system function number process time first use people "
    "information because between important however therefore provide response correct step following given "
    "code python list table file error server query variable loop class method return string array object "
    "recipe water history science legal advice money health car house book music game city school work"
)
WORDS = _WORD_TEXT.split()

# median length (characters) and log-normal sigma of each text field: typical values, not measured
LENGTHS = {
    "shp_history": (520, 0.9),
    "shp_comment": (330, 0.9),
    "se_question": (900, 0.8),
    "se_answer": (700, 0.9),
    "hh_human": (110, 0.8),
    "hh_assistant": (330, 0.7),
    "nectar_human": (280, 1.0),
    "nectar_answer": (750, 0.7),
    "helpsteer_prompt": (1500, 1.0),
    "helpsteer_response": (900, 0.7),
    "prm_problem": (200, 0.6),
    "prm_step": (120, 0.6),
}
SHP_ROWS, SHP_REDDIT, SHP_STACK = 3_600_000, 41, 88
SE_FOLDERS = {"finetune": 7_400_000, "reward": 10_800_000, "rl": 7_400_000, "evaluation": 5_700_000}
SE_FILE_ROWS, SE_ROW_GROUP = 250_000, 1_000
HH_SUBSETS = {"harmless-base": 42_537, "helpful-base": 43_835, "helpful-online": 22_007, "helpful-rejection-sampled": 52_421}
NECTAR_ROWS, HELPSTEER_ROWS, PRM_ROWS = 182_954, 35_331, 97_000
MODELS = ["gpt-4", "gpt-3.5-turbo", "gpt-3.5-turbo-instruct", "llama-2-7b-chat", "mistral-7b-instruct", "alpaca-7b",
          "dolly-v2-12b", "vicuna-13b", "wizardlm-13b"]


class Text:
    """Distinct random-looking texts, built with numpy from one seeded word stream (no per-row Python)."""

    def __init__(self, rng: np.random.Generator, size: int = 16_000_000) -> None:
        words = np.array(WORDS)[rng.integers(0, len(WORDS), size // 5)]
        self.stream = np.frombuffer(" ".join(words.tolist()).encode(), dtype=np.uint8)
        self.rng = rng

    def take(self, field: str, n: int, max_len: int = 20_000) -> pl.Series:
        median, sigma = LENGTHS[field]
        lengths = np.clip(self.rng.lognormal(np.log(median), sigma, n), 12, max_len).astype(np.int64)
        starts = self.rng.integers(0, len(self.stream) - max_len, n)
        out = []
        for lo in range(0, n, 200_000):  # bound the per-byte index arrays
            ln, st = lengths[lo : lo + 200_000], starts[lo : lo + 200_000]
            offsets = np.zeros(len(ln) + 1, dtype=np.int64)
            np.cumsum(ln, out=offsets[1:])
            idx = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1] - st, ln)
            arr = pa.LargeStringArray.from_buffers(len(ln), pa.py_buffer(offsets), pa.py_buffer(self.stream[idx].tobytes()))
            out.append(pl.from_arrow(arr))
        texts = pl.concat(out) if out else pl.Series([], dtype=pl.String)
        return texts.str.strip_chars().alias(field)


def numbered(texts: pl.Series, tag: str, start: int) -> pl.Series:
    """Make texts distinct: append a row number."""
    ids = pl.Series(np.arange(start, start + len(texts))).cast(pl.String)
    return (texts + f" ({tag} " + ids + ")").alias(texts.name)


# --------------------------------------------------------------------------------------------


def gen_shp(out: Path, scale: float, text: Text, rng: np.random.Generator) -> int:
    root = out / "shp_2"
    shutil.rmtree(root, ignore_errors=True)
    domains = [("reddit", f"reddit_domain_{i:02d}") for i in range(SHP_REDDIT)]
    domains += [("stackexchange", f"stack_domain_{i:02d}") for i in range(SHP_STACK)]
    weights = rng.lognormal(0, 1.0, len(domains))
    sizes = np.maximum(1, np.round(weights / weights.sum() * SHP_ROWS * scale)).astype(int)
    row0 = 0
    for (site, domain), n in zip(domains, sizes.tolist(), strict=True):
        posts = max(1, n // 4)
        post_of = np.sort(rng.integers(0, posts, n))
        history = numbered(text.take("shp_history", posts), "post", row0)[post_of]
        score_a = rng.integers(2, 400, n)
        score_b = np.maximum(1, (score_a / rng.uniform(1.0, 8.0, n)).astype(int))
        swap = rng.random(n) < 0.5  # labels ~50/50, as upstream
        df = pl.DataFrame(
            {
                "post_id": pl.Series(post_of + row0).cast(pl.String),
                "domain": [f"{domain}_train"] * n,
                "upvote_ratio": np.round(rng.uniform(0.5, 1.0, n), 2),
                "history": history,
                "c_root_id_A": pl.Series(np.arange(row0, row0 + n)).cast(pl.String) + "a",
                "c_root_id_B": pl.Series(np.arange(row0, row0 + n)).cast(pl.String) + "b",
                "created_at_utc_A": rng.integers(1_500_000_000, 1_700_000_000, n),
                "created_at_utc_B": rng.integers(1_500_000_000, 1_700_000_000, n),
                "score_A": np.where(swap, score_b, score_a),
                "score_B": np.where(swap, score_a, score_b),
                "human_ref_A": numbered(text.take("shp_comment", n), "A", row0),
                "human_ref_B": numbered(text.take("shp_comment", n), "B", row0),
                "labels": np.where(swap, 0, 1),
                "seconds_difference": np.round(rng.uniform(60, 90_000, n), 1),
                "score_ratio": np.round(score_a / score_b, 3),
            }
        )
        path = root / site / domain / "train.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        df.write_ndjson(path)
        row0 += n
    return row0


SE_SCHEMA = pa.schema([("qid", pa.int64()), ("question", pa.string()), ("date", pa.string()),
                       ("metadata", pa.list_(pa.string())), ("response_j", pa.string()), ("response_k", pa.string())])
SE_POOL = 200_000  # distinct base texts per field; each row's text is one of them plus its own row number


@functools.cache
def se_pool(seed: int, field: str) -> pl.Series:
    """The base texts of one stack-exchange field: the same in every worker process (seeded by field)."""
    rng = np.random.default_rng([seed, 1, sorted(LENGTHS).index(field)])
    return Text(rng).take(field, SE_POOL)


def _se_file(job: tuple[Path, int, int, int, int]) -> int:
    """Write one stack-exchange parquet file; rows [row0, row0 + n). Seeded per file, so any worker may write it."""
    path, seed, file_no, row0, n = job
    rng = np.random.default_rng([seed, 2, file_no])
    questions_pool, answers_pool = se_pool(seed, "se_question"), se_pool(seed, "se_answer")
    questions = max(1, n // 3)  # several answer pairs per question
    q_of = np.sort(rng.integers(0, questions, n))
    qid = q_of + row0
    url = "https://stackoverflow.com/questions/" + pl.Series(qid).cast(pl.String)
    question_texts = numbered(questions_pool.gather(rng.integers(0, SE_POOL, questions)), "q", row0)
    frame = pl.DataFrame({"qid": qid}).with_columns(
        question_texts[q_of].alias("question"),
        (pl.Series(rng.integers(2008, 2023, n)).cast(pl.String) + "/03/14").alias("date"),
        pl.concat_list(url, pl.lit("https://stackoverflow.com"), url + "/answers").alias("metadata"),
        numbered(answers_pool.gather(rng.integers(0, SE_POOL, n)), "j", row0).alias("response_j"),
        numbered(answers_pool.gather(rng.integers(0, SE_POOL, n)), "k", row0).alias("response_k"),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(frame.to_arrow().cast(SE_SCHEMA), path, row_group_size=SE_ROW_GROUP, compression="snappy",
                   use_dictionary=["date"])
    return n


def gen_stack_exchange(out: Path, scale: float, text: Text, rng: np.random.Generator, workers: int = 2) -> int:
    """Files are written by `workers` processes; each file is seeded on its own, so the bytes do not depend on it.

    The workers are spawned, not forked: a fork copies polars' thread pool with its locks held (polars has
    run in this process when another source was generated first, e.g. `--only shp_2,stack_exchange_paired`)
    and the forked worker hangs on them.
    """
    root = out / "stack_exchange_paired"
    shutil.rmtree(root, ignore_errors=True)
    seed = int(rng.integers(0, 2**31))
    jobs, row0, file_no = [], 0, 0
    for folder, full in SE_FOLDERS.items():
        rows = max(1, round(full * scale))
        n_files = max(1, -(-rows // SE_FILE_ROWS))
        for f in range(n_files):
            n = min(SE_FILE_ROWS, rows - f * SE_FILE_ROWS)
            path = root / "data" / folder / f"train-{f:05d}-of-{n_files:05d}.parquet"
            jobs.append((path, seed, file_no, row0, n))
            row0, file_no = row0 + n, file_no + 1
    if workers > 1 and len(jobs) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            return sum(pool.map(_se_file, jobs))
    return sum(map(_se_file, jobs))


def write_ndjson_gz(df: pl.DataFrame, path: Path, compresslevel: int = 9) -> None:
    """JSON lines, gzipped with no timestamp in the header (the same bytes on every run)."""
    buf = io.BytesIO()
    df.write_ndjson(buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=compresslevel) as fh:
        fh.write(buf.getvalue())


def _transcript(parts: list[pl.Expr]) -> pl.Expr:
    return pl.concat_str(parts)


def gen_hh(out: Path, scale: float, text: Text, rng: np.random.Generator) -> int:
    root = out / "hh_rlhf"
    shutil.rmtree(root, ignore_errors=True)
    row0 = 0
    for subset, full in HH_SUBSETS.items():
        n = max(1, round(full * scale))
        exchanges = np.clip(rng.geometric(0.45, n), 1, 6)
        cols = {}
        for i in range(6):
            cols[f"h{i}"] = numbered(text.take("hh_human", n), "h", row0)
            cols[f"a{i}"] = text.take("hh_assistant", n)
        df = pl.DataFrame(cols).with_columns(pl.Series("k", exchanges), numbered(text.take("hh_assistant", n), "r", row0).alias("r"))
        prefix = pl.lit("")
        chosen, rejected = pl.lit(None, pl.String), pl.lit(None, pl.String)
        for k in range(1, 7):
            turns = []
            for i in range(k - 1):
                turns += [pl.lit("\n\nHuman: "), pl.col(f"h{i}"), pl.lit("\n\nAssistant: "), pl.col(f"a{i}")]
            turns += [pl.lit("\n\nHuman: "), pl.col(f"h{k - 1}"), pl.lit("\n\nAssistant: ")]
            prefix = _transcript(turns)
            chosen = pl.when(pl.col("k") == k).then(prefix + pl.col(f"a{k - 1}")).otherwise(chosen)
            rejected = pl.when(pl.col("k") == k).then(prefix + pl.col("r")).otherwise(rejected)
        data = df.select(chosen.alias("chosen"), rejected.alias("rejected"))
        write_ndjson_gz(data, root / subset / "train.jsonl.gz", compresslevel=6)
        row0 += n
    return row0


def gen_nectar(out: Path, scale: float, text: Text, rng: np.random.Generator) -> int:
    root = out / "nectar" / "data"
    shutil.rmtree(root.parent, ignore_errors=True)
    root.mkdir(parents=True)
    n = max(1, round(NECTAR_ROWS * scale))
    exchanges = np.clip(rng.geometric(0.7, n), 1, 3)
    h = [numbered(text.take("nectar_human", n), "p", 0) for _ in range(3)]
    a = [text.take("nectar_answer", n) for _ in range(2)]
    df = pl.DataFrame({"h0": h[0], "h1": h[1], "h2": h[2], "a0": a[0], "a1": a[1], "k": exchanges})
    prompt = pl.lit(None, pl.String)
    for k in range(1, 4):
        parts = []
        for i in range(k - 1):
            parts += [pl.lit("\n\nHuman: "), pl.col(f"h{i}"), pl.lit("\n\nAssistant: "), pl.col(f"a{i}")]
        parts += [pl.lit("\n\nHuman: "), pl.col(f"h{k - 1}"), pl.lit("\n\nAssistant:")]
        prompt = pl.when(pl.col("k") == k).then(pl.concat_str(parts)).otherwise(prompt)
    ranks = np.argsort(rng.random((n, 7)), axis=1) + 1
    models = rng.integers(0, len(MODELS), (n, 7))
    answer_cols = {f"ans{j}": text.take("nectar_answer", n) for j in range(7)}
    frame = df.select(prompt.alias("prompt"), pl.col("k").alias("turns")).with_columns(**answer_cols)
    frame = frame.with_columns(
        pl.concat_list(
            [
                pl.struct(
                    pl.col(f"ans{j}").alias("answer"),
                    pl.Series(np.array(MODELS)[models[:, j]]).alias("model"),
                    pl.Series(ranks[:, j].astype(np.float64)).alias("rank"),
                )
                for j in range(7)
            ]
        ).alias("answers"),
        pl.lit(7, pl.Int64).alias("num_responses"),
        pl.concat_list(pl.lit("lmsys-chat-1m")).alias("source"),
        pl.Series(rng.random(n) < 0.9).alias("good_natured"),
    ).select("prompt", "answers", "turns", "num_responses", "source", "good_natured")
    frame.write_parquet(root / "rlaif.parquet", row_group_size=10_000)
    return n


def gen_helpsteer(out: Path, scale: float, text: Text, rng: np.random.Generator) -> int:
    root = out / "helpsteer"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    n = max(2, round(HELPSTEER_ROWS * scale))
    prompts = max(1, n // 4)
    p_of = np.sort(rng.integers(0, prompts, n))
    df = pl.DataFrame({"prompt": numbered(text.take("helpsteer_prompt", prompts), "p", 0)[p_of],
                       "response": numbered(text.take("helpsteer_response", n), "r", 0)})
    df = df.with_columns(**{k: pl.Series(rng.integers(0, 5, n)) for k in ("helpfulness", "correctness", "coherence", "complexity", "verbosity")})
    write_ndjson_gz(df, root / "train.jsonl.gz")
    return n


def gen_prm800k(out: Path, scale: float, text: Text, rng: np.random.Generator) -> int:
    root = out / "prm800k_phase2"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    n = max(1, round(PRM_ROWS * scale))
    problems = max(1, n // 11)
    problem_text = numbered(text.take("prm_problem", problems), "problem", 0).to_list()
    solutions = text.take("prm_step", problems * 4).to_list()
    steps = text.take("prm_step", n * 8).to_list()
    reasons = rng.choice(["found_error", "solution", "give_up", "bad_problem"], n, p=[0.6, 0.3, 0.05, 0.05])
    with open(root / "phase2_train.jsonl", "w") as fh:
        for i in range(n):
            p = int(rng.integers(0, problems))
            k = int(rng.integers(2, 9))
            gen_steps = steps[i * 8 : i * 8 + k]
            row = {
                "labeler": f"00000000-0000-4000-8000-{i:012d}", "timestamp": "2023-01-11T12:00:00.000000",
                "generation": int(rng.integers(1, 10)), "is_quality_control_question": False,
                "is_initial_screening_question": False,
                "question": {"problem": problem_text[p], "ground_truth_solution": " ".join(solutions[p * 4 : p * 4 + 4]),
                             "ground_truth_answer": str(p), "pre_generated_steps": gen_steps,
                             "pre_generated_answer": str(p + 1), "pre_generated_verifier_score": 0.5},
                "label": {"steps": [{"completions": [{"text": s, "rating": 0, "flagged": None}], "human_completion": None,
                                     "chosen_completion": 0} for s in gen_steps],
                          "total_time": 10_000, "finish_reason": str(reasons[i])},
            }
            fh.write(json.dumps(row) + "\n")
    return n


GENERATORS = {
    "shp_2": gen_shp,
    "stack_exchange_paired": gen_stack_exchange,
    "hh_rlhf": gen_hh,
    "nectar": gen_nectar,
    "helpsteer": gen_helpsteer,
    "prm800k_phase2": gen_prm800k,
}


def link_ultrafeedback(out: Path, data: Path) -> None:
    """Link the UltraFeedback and TruthfulQA mirrors of bench/gen_ultrafeedback.py into OUT, if present."""
    for key in ("ultrafeedback", "truthful_qa"):
        src = data / "uf_jsonl" / key
        dst = out / key
        if src.is_dir() and not dst.exists():
            dst.symlink_to(src.resolve(), target_is_directory=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the upstream row counts (default 1.0)")
    parser.add_argument("--scale-for", action="append", default=[], metavar="SOURCE=FRACTION", help="a per-source scale")
    parser.add_argument("--only", default=",".join(GENERATORS), help="comma-separated sources to generate")
    parser.add_argument("--out", type=Path, default=HERE / "data" / "pref")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    scales = {k: float(v) for k, v in (item.split("=", 1) for item in args.scale_for)}
    args.out.mkdir(parents=True, exist_ok=True)
    for key in args.only.split(","):
        started = time.perf_counter()
        rng = np.random.default_rng([args.seed, list(GENERATORS).index(key)])
        scale = scales.get(key, args.scale)
        rows = GENERATORS[key](args.out, scale, Text(rng), rng)
        size = sum(p.stat().st_size for p in (args.out / key).rglob("*") if p.is_file())
        print(f"{key}: {rows:,} rows (scale {scale}), {size / 1e9:.2f} GB on disk, {time.perf_counter() - started:.0f} s", flush=True)
        (args.out / key / ".generated.json").write_text(json.dumps({"rows": rows, "scale": scale, "bytes": size}))
    link_ultrafeedback(args.out, HERE / "data")


if __name__ == "__main__":
    main()
