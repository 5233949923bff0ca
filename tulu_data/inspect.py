"""`tulu-data inspect`: figures about a built dataset (or any preference / SFT dataset), then rendering.

The figures are pure functions of the rows (and the manifest) returning plain dicts, computed with
polars expressions over whole columns, so a 300k-row dataset takes seconds. Rendering (rich tables,
JSON, matplotlib histograms, sample rows) is separate and only reads those dicts.

Definitions used throughout:

- prompt: every turn of the conversation but the last (for preference rows, of `chosen`);
- reply: the last turn (`chosen` reply, `rejected` reply, or the SFT reply);
- character lengths are over message contents (summed over turns for a conversation);
- token lengths are over the Tulu-format rendering (`tulu_data.chat`), prompt with the generation
  header, replies as content + eos, conversations in full;
- a prompt is duplicated when the same turns (role + stripped content) occur in more than one row.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl

from .chat import render_tulu, tulu_text_expr
from .errors import TuluDataError
from .names import did_you_mean
from .ops import PART_COLUMN
from .row_shapes import check_conversations

QUANTILES: dict[str, float] = {"p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}
STATS = ("count", "mean", "min", *QUANTILES, "max")
_HASH_SEED = 0x7475_6C75  # in-memory keys only; never persisted


# --------------------------------------------------------------------------------------------
# loading


@dataclass
class Loaded:
    """Rows of a dataset to inspect or compare, with where they came from."""

    name: str
    origin: str
    splits: dict[str, pl.DataFrame]
    manifest: dict | None = None
    path: Path | None = None


def _from_hf(dataset_dict: Any) -> dict[str, pl.DataFrame]:
    """A `datasets` Dataset or DatasetDict as polars frames (zero-copy through Arrow)."""
    from datasets import Dataset

    if isinstance(dataset_dict, Dataset):
        dataset_dict = {"train": dataset_dict}
    out = {}
    for split, ds in dataset_dict.items():
        out[split] = pl.from_arrow(ds.with_format("arrow")[:])
    return out


def _pick_split(splits: dict[str, pl.DataFrame], split: str | None, what: str) -> dict[str, pl.DataFrame]:
    if split is None:
        return splits
    if split not in splits:
        raise TuluDataError(f"{what} has no split {split!r}; it has: {', '.join(sorted(splits))}")
    return {split: splits[split]}


def load_any(name: str, out: Path = Path("builds"), split: str | None = None) -> Loaded:
    """Rows by name: a build in `out`, a local build folder, file or folder, or a Hub dataset id."""
    from .sources import read_file
    from .writer import read_manifest, read_splits

    candidates = [Path(out) / name, Path(name)]
    for folder in candidates:
        manifest = read_manifest(folder) if folder.is_dir() else None
        if manifest is not None:
            splits = _pick_split(read_splits(folder), split, f"build {folder}")
            return Loaded(manifest.get("name", name), f"build folder {folder}", splits, manifest, folder)
    local = Path(name)
    if local.is_file():
        if local.suffix not in (".jsonl", ".json", ".parquet", ".ndjson"):
            raise TuluDataError(f"{local}: expected a .jsonl, .json or .parquet file")
        df = read_file(local, "jsonl")
        return Loaded(local.stem, f"file {local}", {split or "train": df}, None, local)
    try:
        from datasets import load_dataset
    except ImportError as err:  # pragma: no cover - datasets is a dependency
        raise TuluDataError("the `datasets` package is needed to load local folders and Hub datasets") from err
    if local.is_dir():
        try:
            loaded = load_dataset(str(local), split=split)
        except Exception as err:
            raise TuluDataError(f"{local}: cannot be loaded with datasets.load_dataset: {type(err).__name__}: {err}") from err
        splits = _from_hf(loaded) if split is None else {split: _from_hf(loaded)["train"]}
        return Loaded(local.name, f"folder {local}", splits, None, local)
    if "/" not in name:
        names = [b["name"] for b in list_builds(Path(out))]
        built = ", ".join(names) or "nothing yet"
        raise TuluDataError(
            f"{name!r}: no build of that name in {out}{did_you_mean(name, names)} (built there: {built}); "
            "not a local path either. "
            "Build it with `tulu-data build NAME`, or pass a folder, a .jsonl/.parquet file, or a Hub dataset id."
        )
    from huggingface_hub import constants

    from .sources import hub_reachable

    if not constants.HF_HUB_OFFLINE and not hub_reachable():
        raise TuluDataError(
            f"{name!r}: not a build in {out} nor a local path, and the Hugging Face Hub ({constants.ENDPOINT}) is not "
            "reachable from this machine. Pass a local .jsonl/.parquet file or folder, or set HF_HUB_OFFLINE=1 to use "
            "a copy already in the Hugging Face cache."
        )
    try:
        loaded = load_dataset(name, split=split)
    except Exception as err:
        raise TuluDataError(
            f"{name!r}: not a build in {out} nor a local path, and loading it from the Hugging Face Hub failed "
            f"({type(err).__name__}: {err})"
        ) from err
    splits = _from_hf(loaded) if split is None else {split: _from_hf(loaded)["train"]}
    return Loaded(name, f"Hub dataset {name}", splits, None, None)


def list_builds(out: Path) -> list[dict]:
    """Every build folder in `out`: name, kind, rows per split, size on disk, when built, content hash."""
    from .writer import read_manifest

    rows = []
    if not Path(out).is_dir():
        return rows
    for folder in sorted(p for p in Path(out).iterdir() if p.is_dir() and not p.name.startswith(".")):
        manifest = read_manifest(folder)
        if manifest is None:
            continue
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        built = datetime.fromtimestamp((folder / "manifest.json").stat().st_mtime, tz=timezone.utc)
        rows.append(
            {
                "name": manifest.get("name", folder.name),
                "path": str(folder),
                "kind": manifest.get("kind", "?") + (" mixture" if manifest.get("mixture") else ""),
                "rows": dict(manifest.get("rows_out", {})),
                "bytes": size,
                "built": built.strftime("%Y-%m-%d %H:%M"),
                "content_hash": manifest.get("content_hash", ""),
            }
        )
    return rows


# --------------------------------------------------------------------------------------------
# figures (pure)


def detect_kind(df: pl.DataFrame) -> str:
    """preference (chosen + rejected), sft (messages), prompts (prompt as messages), or unknown."""
    if {"chosen", "rejected"} <= set(df.columns):
        return "preference"
    if "messages" in df.columns:
        return "sft"
    if "prompt" in df.columns and isinstance(df.schema["prompt"], pl.List):
        return "prompts"
    return "unknown"


def _conversation_column(kind: str) -> str | None:
    return {"preference": "chosen", "sft": "messages", "prompts": "prompt"}.get(kind)


def _contents(conv: pl.Expr) -> pl.Expr:
    return conv.list.eval(pl.element().struct.field("content").fill_null(""))


def conversation_chars(conv: pl.Expr) -> pl.Expr:
    """Characters over all message contents of a conversation."""
    return conv.list.eval(pl.element().struct.field("content").fill_null("").str.len_chars()).list.sum()


def reply_text(conv: pl.Expr) -> pl.Expr:
    """The content of the last turn."""
    return conv.list.last().struct.field("content").fill_null("")


def prompt_turns(conv: pl.Expr) -> pl.Expr:
    """All turns but the last."""
    return conv.list.head(conv.list.len() - 1)


def conversation_key(conv: pl.Expr) -> pl.Expr:
    """A text key for a conversation: role and stripped content of every turn (for matching)."""
    el = pl.element()
    turn = pl.concat_str([el.struct.field("role").fill_null(""), pl.lit("\x1f"), el.struct.field("content").fill_null("").str.strip_chars()])
    return conv.list.eval(turn).list.join("\x1e").fill_null("")


def length_fields(kind: str) -> dict[str, tuple[pl.Expr, pl.Expr]]:
    """Per kind: field name -> (character-length expression, conversation-or-text expression for tokens).

    The token expression is a list-of-messages column rendered in the Tulu format, or a plain string.
    """
    if kind == "preference":
        ch, rj = pl.col("chosen"), pl.col("rejected")
        return {
            "prompt": (conversation_chars(prompt_turns(ch)), prompt_turns(ch)),
            "chosen_reply": (reply_text(ch).str.len_chars(), reply_text(ch)),
            "rejected_reply": (reply_text(rj).str.len_chars(), reply_text(rj)),
            "chosen": (conversation_chars(ch), ch),
            "rejected": (conversation_chars(rj), rj),
        }
    if kind == "sft":
        m = pl.col("messages")
        return {
            "prompt": (conversation_chars(prompt_turns(m)), prompt_turns(m)),
            "reply": (reply_text(m).str.len_chars(), reply_text(m)),
            "messages": (conversation_chars(m), m),
        }
    if kind == "prompts":
        return {"prompt": (conversation_chars(pl.col("prompt")), pl.col("prompt"))}
    return {}


def _turn_lengths(conv: pl.Expr) -> pl.Expr:
    """Characters of each message content (a list of ints per row): one scan of the text."""
    return conv.list.eval(pl.element().struct.field("content").fill_null("").str.len_chars())


def char_lengths(df: pl.DataFrame, kind: str) -> pl.DataFrame:
    """One column per length field (see `length_fields`), each text scanned once.

    Per-message character counts are taken once per conversation column, and prompt, reply and
    whole-conversation lengths are derived from those counts.
    """
    conv_cols = {"preference": ["chosen", "rejected"], "sft": ["messages"], "prompts": ["prompt"]}.get(kind, [])
    if not conv_cols:
        return pl.DataFrame()
    turns = df.select([_turn_lengths(pl.col(c)).alias(c) for c in conv_cols])

    def parts(col: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
        lens = pl.col(col)
        return lens.list.head(lens.list.len() - 1).list.sum(), lens.list.last(), lens.list.sum()

    if kind == "preference":
        prompt, chosen_reply, chosen = parts("chosen")
        _, rejected_reply, rejected = parts("rejected")
        exprs = {"prompt": prompt, "chosen_reply": chosen_reply, "rejected_reply": rejected_reply, "chosen": chosen, "rejected": rejected}
    elif kind == "sft":
        prompt, reply, messages = parts("messages")
        exprs = {"prompt": prompt, "reply": reply, "messages": messages}
    else:
        exprs = {"prompt": pl.col("prompt").list.sum()}
    return turns.select([e.alias(name) for name, e in exprs.items()])


def _summary_exprs(expr: pl.Expr, name: str) -> list[pl.Expr]:
    x = expr.cast(pl.Float64)
    exprs = [x.count().alias(f"{name}\x1fcount"), x.mean().alias(f"{name}\x1fmean"), x.min().alias(f"{name}\x1fmin")]
    exprs += [x.quantile(q, interpolation="linear").alias(f"{name}\x1f{label}") for label, q in QUANTILES.items()]
    exprs.append(x.max().alias(f"{name}\x1fmax"))
    return exprs


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    return value


def summarize(df: pl.DataFrame, columns: dict[str, pl.Expr]) -> dict[str, dict[str, Any]]:
    """count, mean, min, p5..p99 (linear interpolation), max of each expression, in one pass over `df`."""
    if not columns:
        return {}
    exprs = [e for name, expr in columns.items() for e in _summary_exprs(expr, name)]
    row = df.select(exprs).row(0, named=True)
    out: dict[str, dict[str, Any]] = {name: {} for name in columns}
    for key, value in row.items():
        name, stat = key.split("\x1f")
        out[name][stat] = int(value) if stat == "count" else _clean(value)
    return out


def turn_figures(df: pl.DataFrame, kind: str) -> dict[str, Any]:
    """Turns per conversation: summary and a histogram {turns: rows}."""
    col = _conversation_column(kind)
    if col is None or df.height == 0:
        return {"summary": {}, "histogram": {}}
    turns = pl.col(col).list.len().alias("turns")
    hist = df.select(turns).group_by("turns").len().sort("turns")
    return {
        "summary": summarize(df, {"turns": turns})["turns"],
        "histogram": {int(t): int(n) for t, n in hist.iter_rows()},
    }


def source_figures(df: pl.DataFrame, label: str | None = None) -> dict[str, int]:
    """Rows per `source` (preference / prompts) or `dataset` (SFT) label, or per `label`, largest first."""
    label = label or ("source" if "source" in df.columns else "dataset" if "dataset" in df.columns else None)
    if label is None or label not in df.columns:
        return {}
    counts = df.group_by(pl.col(label).fill_null("(none)").cast(pl.String)).len().sort(["len", label], descending=[True, False])
    return {str(k): int(n) for k, n in counts.iter_rows()}


def prompt_keys(df: pl.DataFrame, kind: str) -> pl.Series:
    """A 64-bit in-memory key per row for its prompt turns (see `conversation_key`)."""
    col = _conversation_column(kind)
    conv = pl.col(col) if kind == "prompts" else prompt_turns(pl.col(col))
    return df.select(conversation_key(conv).hash(_HASH_SEED).alias("k")).to_series()


def duplicate_figures(keys: pl.Series) -> dict[str, int]:
    """How many distinct keys occur in more than one row, and how many rows those are."""
    counts = keys.to_frame("k").group_by("k").len().filter(pl.col("len") > 1)
    return {"repeated": counts.height, "rows": int(counts["len"].sum()) if counts.height else 0}


def preference_figures(df: pl.DataFrame, keys: pl.Series | None = None) -> dict[str, Any]:
    """Reply-length comparison, identical pairs and duplicate pairs; scores and margins when present.

    `keys` are the rows' prompt keys (`prompt_keys`), computed here when not given.
    """
    keys = prompt_keys(df, "preference") if keys is None else keys
    replies = df.select(
        reply_text(pl.col("chosen")).str.len_chars().alias("cl"),
        reply_text(pl.col("rejected")).str.len_chars().alias("rl"),
        reply_text(pl.col("chosen")).str.strip_chars().alias("c"),
        reply_text(pl.col("rejected")).str.strip_chars().alias("r"),
    )
    cl, rl, c, r = pl.col("cl"), pl.col("rl"), pl.col("c"), pl.col("r")
    row = replies.select(
        (cl > rl).sum().alias("chosen_longer"),
        (cl == rl).sum().alias("same_length"),
        (cl < rl).sum().alias("rejected_longer"),
        (c == r).sum().alias("identical"),
    ).row(0, named=True)
    pairs = df.height
    out: dict[str, Any] = {"pairs": pairs}
    for key in ("chosen_longer", "same_length", "rejected_longer", "identical"):
        out[key] = int(row[key] or 0)
    out["chosen_longer_share"] = round(out["chosen_longer"] / pairs, 4) if pairs else None
    pair_keys = replies.select(
        pl.struct(pl.lit(keys).alias("p"), c.hash(_HASH_SEED).alias("c"), r.hash(_HASH_SEED).alias("r")).hash(_HASH_SEED).alias("k")
    ).to_series()
    out["duplicate_pairs"] = duplicate_figures(pair_keys)
    out["scores"] = score_figures(df)
    return out


def score_figures(df: pl.DataFrame) -> dict[str, Any] | None:
    """Distributions of score_chosen, score_rejected and margin (the column, or chosen - rejected)."""
    if "score_chosen" not in df.columns or "score_rejected" not in df.columns:
        return None
    sc, sr = pl.col("score_chosen").cast(pl.Float64), pl.col("score_rejected").cast(pl.Float64)
    if df.select(sc.count()).item() == 0 and df.select(sr.count()).item() == 0:
        return None
    margin = pl.col("margin").cast(pl.Float64) if "margin" in df.columns else sc - sr
    out: dict[str, Any] = summarize(df, {"score_chosen": sc, "score_rejected": sr, "margin": margin})
    row = df.select((margin == 0).sum().alias("ties"), (margin < 0).sum().alias("negative")).row(0, named=True)
    out["margin_zero"] = int(row["ties"] or 0)
    out["margin_negative"] = int(row["negative"] or 0)
    return out


def split_figures(df: pl.DataFrame, kind: str | None = None, keys: pl.Series | None = None) -> dict[str, Any]:
    """All figures of one split."""
    kind = kind or detect_kind(df)
    out: dict[str, Any] = {"rows": df.height, "kind": kind, "sources": source_figures(df)}
    if PART_COLUMN in df.columns:  # a mixture: rows per catalog dataset it was built from
        out["parts"] = source_figures(df, PART_COLUMN)
    if kind == "unknown":
        return out
    out["turns"] = turn_figures(df, kind)
    if df.height:
        lengths = char_lengths(df, kind)
        out["chars"] = summarize(lengths, {name: pl.col(name) for name in lengths.columns})
    else:
        out["chars"] = {}
    keys = prompt_keys(df, kind) if keys is None else keys
    out["duplicate_prompts"] = duplicate_figures(keys)
    if kind == "preference":
        out["preference"] = preference_figures(df, keys)
    return out


def cross_split_figures(keys_by_split: dict[str, pl.Series]) -> dict[str, Any]:
    """Prompts shared between splits: distinct prompts in several splits, and per split the rows hit."""
    if len(keys_by_split) < 2:
        return {"prompts_in_several_splits": 0, "rows_with_prompt_elsewhere": {}}
    frames = [pl.DataFrame({"k": keys, "split": pl.Series([split] * len(keys), dtype=pl.String)}) for split, keys in keys_by_split.items()]
    allk = pl.concat(frames)
    shared = allk.unique().group_by("k").len().filter(pl.col("len") > 1).select("k")
    hits = allk.join(shared, on="k", how="semi").group_by("split").len()
    per_split = {s: 0 for s in keys_by_split} | {s: int(n) for s, n in hits.iter_rows()}
    return {"prompts_in_several_splits": shared.height, "rows_with_prompt_elsewhere": per_split}


def manifest_figures(manifest: dict | None, part_manifests: dict[str, dict] | None = None) -> dict[str, Any]:
    """Rows in, drops per reason and rows out from a manifest (and the parts' own drops for a mixture)."""
    if not manifest:
        return {}
    dropped = dict(manifest.get("dropped", {}))
    out = {
        "rows_in": dict(manifest.get("rows_in", {})),
        "dropped": dropped,
        "dropped_total": sum(dropped.values()),
        "rows_out": dict(manifest.get("rows_out", {})),
    }
    if part_manifests:
        out["parts_dropped"] = {name: dict(m.get("dropped", {})) for name, m in part_manifests.items()}
    return out


def token_figures(splits: dict[str, pl.DataFrame], tokenizer: Any, batch_size: int = 8192) -> dict[str, Any]:
    """Token-length summaries per split and field, over the Tulu-format rendering (fast tokenizer, batched)."""
    eos = tokenizer.eos_token or ""
    out: dict[str, Any] = {}
    for split, df in splits.items():
        kind = detect_kind(df)
        fields = length_fields(kind)
        if not fields or df.height == 0:
            out[split] = {}
            continue
        texts = {}
        for name, (_, source) in fields.items():
            if name.endswith("reply"):
                texts[name] = source + pl.lit(eos)
            else:
                texts[name] = tulu_text_expr(source, eos, add_generation_prompt=(name == "prompt"))
        rendered = df.select([expr.alias(name) for name, expr in texts.items()])
        lengths = {}
        for name in texts:
            column = rendered[name].to_list()
            counts: list[int] = []
            for start in range(0, len(column), batch_size):
                encoded = tokenizer(column[start : start + batch_size], add_special_tokens=False)["input_ids"]
                counts.extend(len(ids) for ids in encoded)
            lengths[name] = pl.Series(name, counts, dtype=pl.Int64)
        frame = pl.DataFrame(lengths)
        out[split] = summarize(frame, {name: pl.col(name) for name in texts})
    return out


def load_tokenizer(path_or_id: str) -> Any:
    """A fast tokenizer from a local folder or a Hub id; a clear error otherwise."""
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path_or_id, use_fast=True)
    except Exception as err:
        raise TuluDataError(f"cannot load tokenizer {path_or_id!r}: {type(err).__name__}: {err}") from err
    if not getattr(tokenizer, "is_fast", False):
        raise TuluDataError(f"tokenizer {path_or_id!r} has no fast (Rust) version; token counts need one for speed")
    return tokenizer


def inspect_figures(
    splits: dict[str, pl.DataFrame],
    manifest: dict | None = None,
    tokenizer: Any = None,
    part_manifests: dict[str, dict] | None = None,
) -> dict[str, Any]:
    """Every figure `tulu-data inspect` shows, as one JSON-ready dict."""
    per_split, keys_by_split = {}, {}
    for split, df in splits.items():
        kind = detect_kind(df)
        keys = prompt_keys(df, kind) if kind != "unknown" else None
        if keys is not None:
            keys_by_split[split] = keys
        per_split[split] = split_figures(df, kind, keys)
    kinds = {f["kind"] for f in per_split.values()}
    report: dict[str, Any] = {
        "kind": kinds.pop() if len(kinds) == 1 else sorted(kinds),
        "rows": sum(df.height for df in splits.values()),
        "splits": per_split,
        "cross_split": cross_split_figures(keys_by_split),
        "manifest": manifest_figures(manifest, part_manifests),
    }
    if tokenizer is not None:
        report["tokens"] = token_figures(splits, tokenizer)
        report["tokenizer"] = getattr(tokenizer, "name_or_path", str(tokenizer))
    return report


def part_manifests_for(manifest: dict | None, out: Path) -> dict[str, dict]:
    """For a mixture, the manifests of its parts found beside it in `out`."""
    from .writer import read_manifest

    if not manifest or not manifest.get("parts"):
        return {}
    found = {}
    for part in manifest["parts"]:
        m = read_manifest(Path(out) / part["name"])
        if m is not None:
            found[part["name"]] = m
    return found


# --------------------------------------------------------------------------------------------
# samples and plots


def sample_rows(df: pl.DataFrame, n: int, seed: int = 42) -> list[dict]:
    """`n` rows chosen at random (keyed on `id` when there is one), as Python dicts."""
    from . import ops

    if n <= 0 or df.height == 0:
        return []
    if "id" in df.columns and df["id"].null_count() == 0:
        return ops.take_random(df, n, seed, salt="inspect-show").to_dicts()
    return df.sample(n=min(n, df.height), seed=seed).to_dicts()


def render_sample(row: dict, eos: str = "</s>") -> list[tuple[str, str]]:
    """A row as (title, Tulu-format text) panels: the chosen conversation and the rejected reply, or the messages."""
    label = row.get("source") or row.get("dataset") or ""
    head = " · ".join(str(x) for x in (label, row.get("id")) if x)
    if "chosen" in row and "rejected" in row:
        scores = ""
        if row.get("score_chosen") is not None or row.get("score_rejected") is not None:
            scores = f" · scores {row.get('score_chosen')} / {row.get('score_rejected')}"
        rejected = row["rejected"] or []
        return [
            (f"{head} · chosen{scores}", render_tulu(row["chosen"] or [], eos)),
            (f"{head} · rejected reply", render_tulu(rejected[-1:], eos)),
        ]
    if "messages" in row:
        return [(head, render_tulu(row["messages"] or [], eos))]
    if isinstance(row.get("prompt"), list):
        return [(head, render_tulu(row["prompt"], eos, add_generation_prompt=True))]
    return [(head, json.dumps(row, default=str, ensure_ascii=False)[:2000])]


def plot_figures(splits: dict[str, pl.DataFrame], path: Path) -> Path:
    """Histograms of character lengths per field, and of scores and margins when present, into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = [df for df in splits.values() if detect_kind(df) != "unknown"]
    if not frames:
        raise TuluDataError("nothing to plot: no preference, SFT or prompt columns")
    kind = detect_kind(frames[0])
    lengths = pl.concat([char_lengths(df, kind) for df in frames if detect_kind(df) == kind])
    panels: list[tuple[str, Any]] = [(f"{name} (characters)", lengths[name].drop_nulls().to_numpy()) for name in lengths.columns]
    if kind == "preference":
        scored = [df for df in frames if "score_chosen" in df.columns]
        if scored:
            scores = pl.concat(
                [df.select(pl.col("score_chosen").cast(pl.Float64), pl.col("score_rejected").cast(pl.Float64)) for df in scored]
            ).drop_nulls()
            if scores.height:
                panels.append(("score_chosen", scores["score_chosen"].to_numpy()))
                panels.append(("score_rejected", scores["score_rejected"].to_numpy()))
                panels.append(("margin", (scores["score_chosen"] - scores["score_rejected"]).to_numpy()))
    cols = 3
    nrows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(5 * cols, 3.4 * nrows), squeeze=False)
    for ax, (title, values) in zip(axes.flat, panels, strict=False):
        ax.hist(values, bins=50, color="#4c72b0")
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("rows")
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------
# rendering


TABLE_STATS = ("mean", "min", "p25", "p50", "p75", "p95", "max")  # the JSON has every statistic


def _fmt(value: Any, decimals: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if decimals == 0 or (value.is_integer() and abs(value) < 1e15):
            return f"{value:,.0f}"
        return f"{value:,.{decimals}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else "-"


def _table(title: str, columns: list[str], right: tuple[str, ...] = (), keep: tuple[str, ...] = ()) -> Any:
    """A compact rich table; columns in `right` hold numbers (right-aligned, not wrapped, unless in `keep`
    is another column that must not shrink, in which case the numbers may wrap instead)."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, min_width=len(title) + 2, pad_edge=False)
    for col in columns:
        if col in keep:
            table.add_column(col, justify="left", no_wrap=True)
        elif col in right:
            table.add_column(col, justify="right", no_wrap=not keep, overflow="fold" if keep else "ellipsis")
        else:
            table.add_column(col, justify="left", overflow="fold", min_width=min(max(len(col), 8), 24))
    return table


def _summary_table(title: str, rows: list[tuple[str, str, dict]], with_split: bool, decimals: int = 0, count: bool = False) -> Any:
    stats = (("count",) if count else ()) + TABLE_STATS
    table = _table(title, (["split"] if with_split else []) + ["field", *stats], right=stats)
    for split, field, summary in rows:
        cells = [_fmt(summary.get(stat), 0 if stat == "count" else decimals) for stat in stats]
        table.add_row(*(([split] if with_split else []) + [field] + cells))
    return table


def render_report(report: dict, console: Any, title: str) -> None:
    """Print the figures as rich tables (the split column only when there are several splits)."""
    splits = report["splits"]
    many = len(splits) > 1
    lead = (lambda split: [split]) if many else (lambda split: [])
    split_col = ["split"] if many else []
    console.print(f"[bold]{title}[/]  kind: {report['kind']}  rows: {report['rows']:,}")

    table = _table("splits", ["split", "rows", "sources"], right=("rows", "sources"))
    for split, fig in splits.items():
        table.add_row(split, f"{fig['rows']:,}", str(len(fig.get("sources", {}))))
    console.print(table)

    for key, title, column in (("parts", "rows per part (catalog dataset)", "part"), ("sources", "rows per source", "source")):
        table = _table(title, [*split_col, column, "rows", "share"], right=("rows", "share"))
        for split, fig in splits.items():
            for label, n in fig.get(key, {}).items():
                table.add_row(*lead(split), label, f"{n:,}", _pct(n, fig["rows"]))
        if table.row_count:
            console.print(table)

    man = report.get("manifest") or {}
    if man:
        table = _table("rows in, dropped, out (from the manifest)", ["", "rows"], right=("rows",))
        for key, n in man.get("rows_in", {}).items():
            table.add_row(f"read: {key}", f"{n:,}")
        for reason, n in man.get("dropped", {}).items():
            table.add_row(f"dropped: {reason}", f"{n:,}")
        for split, n in man.get("rows_out", {}).items():
            table.add_row(f"written: {split}", f"{n:,}")
        console.print(table)
        parts = man.get("parts_dropped") or {}
        if any(parts.values()):
            table = _table("dropped inside the parts (their own manifests)", ["part", "reason", "rows"], right=("rows",))
            for part, drops in parts.items():
                for reason, n in drops.items():
                    table.add_row(part, reason, f"{n:,}")
            console.print(table)

    rows = [(s, "turns", f["turns"]["summary"]) for s, f in splits.items() if f.get("turns", {}).get("summary")]
    if rows:
        table = _table("turns per conversation", [*split_col, "histogram (turns: rows)", *TABLE_STATS], right=TABLE_STATS)
        for split, fig in splits.items():
            summary = fig.get("turns", {}).get("summary")
            if summary:
                hist = ", ".join(f"{t}: {n:,}" for t, n in list(fig["turns"]["histogram"].items())[:8])
                hist += ", ..." if len(fig["turns"]["histogram"]) > 8 else ""
                table.add_row(*lead(split), hist, *(_fmt(summary.get(stat), 1) for stat in TABLE_STATS))
        console.print(table)

    rows = [(s, field, summ) for s, f in splits.items() for field, summ in f.get("chars", {}).items()]
    if rows:
        console.print(_summary_table("lengths in characters", rows, many))
    if report.get("tokens"):
        rows = [(s, field, summ) for s, per in report["tokens"].items() for field, summ in per.items()]
        console.print(_summary_table(f"lengths in tokens ({report.get('tokenizer')}, Tulu format)", rows, many))

    pref = {s: f["preference"] for s, f in splits.items() if "preference" in f}
    if pref:
        def cells(p: dict) -> dict[str, str]:
            n = p["pairs"]
            return {
                "pairs": f"{n:,}",
                "chosen reply longer": f"{p['chosen_longer']:,} ({_pct(p['chosen_longer'], n)})",
                "same length": f"{p['same_length']:,} ({_pct(p['same_length'], n)})",
                "rejected reply longer": f"{p['rejected_longer']:,} ({_pct(p['rejected_longer'], n)})",
                "identical chosen/rejected": f"{p['identical']:,}",
                "duplicate pairs (rows)": f"{p['duplicate_pairs']['repeated']:,} ({p['duplicate_pairs']['rows']:,})",
            }

        title = "preference pairs"
        if len(pref) <= 4:  # one column per split
            table = _table(title, ["", *pref], right=tuple(pref))
            per_split = {split: cells(p) for split, p in pref.items()}
            for metric in next(iter(per_split.values())):
                table.add_row(metric, *(per_split[split][metric] for split in pref))
        else:  # one row per split
            cols = ["pairs", "chosen longer", "same length", "rejected longer", "identical", "dup. pairs"]
            table = _table(title + " (share of pairs by reply length)", ["split", *cols], right=tuple(cols), keep=("split",))
            for split, p in pref.items():
                n = p["pairs"]
                table.add_row(
                    split,
                    f"{n:,}",
                    _pct(p["chosen_longer"], n),
                    _pct(p["same_length"], n),
                    _pct(p["rejected_longer"], n),
                    f"{p['identical']:,}",
                    f"{p['duplicate_pairs']['repeated']:,}",
                )
        console.print(table)
        score_rows = [
            (split, field, p["scores"][field]) for split, p in pref.items() if p.get("scores") for field in ("score_chosen", "score_rejected", "margin")
        ]
        if score_rows:
            console.print(_summary_table("scores and margins", score_rows, many, decimals=2, count=True))
            for split, p in pref.items():
                if p.get("scores"):
                    s = p["scores"]
                    where = f"{split}: " if many else ""
                    console.print(f"  {where}margin 0 in {s['margin_zero']:,} pairs, negative in {s['margin_negative']:,}")

    cross = report.get("cross_split", {})
    cols = ["prompts repeated", "rows they cover"] + (["rows with prompt in another split"] if many else [])
    table = _table("duplicated prompts", [*split_col, *cols], right=tuple(cols))
    for split, fig in splits.items():
        if "duplicate_prompts" in fig:
            d = fig["duplicate_prompts"]
            extra = [_fmt(cross.get("rows_with_prompt_elsewhere", {}).get(split, 0))] if many else []
            table.add_row(*lead(split), f"{d['repeated']:,}", f"{d['rows']:,}", *extra)
    if table.row_count:
        console.print(table)
        if many:
            console.print(f"  distinct prompts found in more than one split: {cross.get('prompts_in_several_splits', 0):,}")


def render_samples(splits: dict[str, pl.DataFrame], n: int, console: Any, eos: str = "</s>", seed: int = 42) -> None:
    """Print `n` random rows of each split in the Tulu chat format."""
    from rich.panel import Panel
    from rich.text import Text

    for split, df in splits.items():
        for row in sample_rows(df, n, seed):
            for title, text in render_sample(row, eos):
                console.print(Panel(Text(text), title=Text(f"{split} · {title}"), title_align="left"))


def render_builds(builds: list[dict], console: Any, out: Path) -> None:
    table = _table(f"builds in {out}", ["name", "kind", "splits", "rows", "size", "built", "content hash"], right=("rows", "size"))
    for b in builds:
        splits = ", ".join(f"{s} {n:,}" for s, n in b["rows"].items()) if len(b["rows"]) <= 3 else f"{len(b['rows'])} splits"
        table.add_row(
            b["name"], b["kind"], splits, f"{sum(b['rows'].values()):,}", f"{b['bytes'] / 1e6:,.1f} MB", b["built"], b["content_hash"][:10]
        )
    console.print(table if builds else f"no builds in {out} yet; build one with `tulu-data build NAME --sources samples`")


def run_inspect(
    name: str,
    out: Path,
    split: str | None = None,
    tokenizer: str | None = None,
    show: int = 0,
    as_json: bool = False,
    plot: Path | None = None,
    seed: int = 42,
    console: Any = None,
) -> dict:
    """What `tulu-data inspect NAME` does: load, compute, then print tables (or JSON), samples and a plot."""
    from rich.console import Console

    console = console or Console()
    started = time.perf_counter()
    loaded = load_any(name, out, split)
    for split_name, df in loaded.splits.items():
        check_conversations(df, detect_kind(df), f"{loaded.origin}, split {split_name}")
    tok = load_tokenizer(tokenizer) if tokenizer else None
    report = inspect_figures(loaded.splits, loaded.manifest, tok, part_manifests_for(loaded.manifest, out))
    report = {"name": loaded.name, "origin": loaded.origin, **report}
    if loaded.manifest:
        report["content_hash"] = loaded.manifest.get("content_hash")
    report["seconds"] = round(time.perf_counter() - started, 3)
    if plot is not None:
        report["plot"] = str(plot_figures(loaded.splits, plot))
    if as_json:
        console.file.write(json.dumps(report, indent=2, default=str) + "\n")
        return report
    render_report(report, console, f"{loaded.name} ({loaded.origin})")
    if show:
        render_samples(loaded.splits, show, console, eos=tok.eos_token if tok is not None and tok.eos_token else "</s>", seed=seed)
    if plot is not None:
        console.print(f"histograms written to {plot}")
    return report
