"""`tulu-data compare`: check a build against a released dataset, row by row, by hashed keys.

Rows are matched on normalized keys (every message stripped; roles kept):

- preference rows: prompt = all turns but the last of `chosen`; pair = (prompt, chosen reply,
  rejected reply). A row whose pair is not on the other side but whose prompt is, is "prompt matched,
  pair differs", broken down into: chosen and rejected swapped, same chosen (rejected differs), same
  rejected (chosen differs), both differ.
- SFT rows: pair = the whole conversation (`messages`: prompt turns + last turn); prompt = all turns but the last.
- prompt rows: pair = prompt = the prompt turns.

Keys are 64-bit `ops.stable_hash64` hashes of the normalized texts (each text hashed once; pair keys
combine the hashes of their parts); matching is polars `is_in`/joins on them. Counts are of rows (a key repeated on one side counts every repeat; duplicates are reported).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from . import ops
from .errors import TuluDataError
from .inspect import conversation_key, detect_kind, load_any, prompt_turns, reply_text
from .row_shapes import check_conversations

CATEGORIES = ("pair_matched", "prompt_matched_pair_differs", "prompt_not_on_other_side")
DIFFERENCES = ("swapped", "rejected_differs", "chosen_differs", "both_differ")


def hash_strings(series: pl.Series) -> np.ndarray:
    """`ops.stable_hash64` of a string column."""
    return ops.stable_hash64(series)


def combine_hashes(*parts: np.ndarray) -> np.ndarray:
    """An order-sensitive 64-bit hash of several hashes per row (keyed mixing, stable across runs)."""
    combined = np.zeros(len(parts[0]), dtype=np.uint64)
    for position, part in enumerate(parts):
        combined = ops.keyed_uint64(combined ^ part, seed=position, salt="compare")
    return combined


def key_frame(df: pl.DataFrame, kind: str) -> pl.DataFrame:
    """Per row: its label (`source`/`dataset`), prompt and pair keys (and for preference the keys of
    the swapped pair and of (prompt, chosen) / (prompt, rejected)), plus the row number.

    Each text is hashed once (prompt turns, chosen reply, rejected reply); pair keys combine those hashes.
    """
    label = "source" if "source" in df.columns else "dataset" if "dataset" in df.columns else None
    source = (pl.col(label).cast(pl.String).fill_null("(none)") if label else pl.lit("(none)")).alias("source")
    if kind == "preference":
        ch, rj = pl.col("chosen"), pl.col("rejected")
        texts = df.select(
            source,
            conversation_key(prompt_turns(ch)).alias("prompt"),
            reply_text(ch).str.strip_chars().alias("c"),
            reply_text(rj).str.strip_chars().alias("r"),
        )
        p, c, r = (hash_strings(texts[col]) for col in ("prompt", "c", "r"))
        keys = {
            "prompt": p,
            "pair": combine_hashes(p, c, r),
            "swapped": combine_hashes(p, r, c),
            "with_chosen": combine_hashes(p, c),
            "with_rejected": combine_hashes(p, r),
        }
    elif kind == "sft":
        m = pl.col("messages")
        texts = df.select(source, conversation_key(prompt_turns(m)).alias("prompt"), conversation_key(m.list.tail(1)).alias("last"))
        p = hash_strings(texts["prompt"])
        keys = {"prompt": p, "pair": combine_hashes(p, hash_strings(texts["last"]))}
    elif kind == "prompts":
        texts = df.select(source, conversation_key(pl.col("prompt")).alias("prompt"))
        p = hash_strings(texts["prompt"])
        keys = {"prompt": p, "pair": p}
    else:
        raise TuluDataError(f"cannot compare rows without chosen/rejected, messages or prompt columns (columns: {df.columns})")
    columns = [texts["source"]] + [pl.Series(name, values, dtype=pl.UInt64) for name, values in keys.items()]
    return pl.DataFrame(columns).with_row_index("row")


def _categorize(mine: pl.DataFrame, other: pl.DataFrame, kind: str) -> pl.DataFrame:
    """Add `category` (and for preference `difference`) to one side's key frame, against the other's."""
    pair_in = pl.col("pair").is_in(other["pair"].unique().implode())
    prompt_in = pl.col("prompt").is_in(other["prompt"].unique().implode())
    out = mine.with_columns(
        pl.when(pair_in)
        .then(pl.lit(CATEGORIES[0]))
        .when(prompt_in)
        .then(pl.lit(CATEGORIES[1]))
        .otherwise(pl.lit(CATEGORIES[2]))
        .alias("category")
    )
    if kind == "preference":
        differs = pl.col("category") == CATEGORIES[1]
        same_c = pl.col("with_chosen").is_in(other["with_chosen"].unique().implode())
        same_r = pl.col("with_rejected").is_in(other["with_rejected"].unique().implode())
        swapped = pl.col("swapped").is_in(other["pair"].unique().implode())
        out = out.with_columns(
            pl.when(~differs)
            .then(pl.lit(None, dtype=pl.String))
            .when(swapped)
            .then(pl.lit("swapped"))
            .when(same_c)
            .then(pl.lit("rejected_differs"))
            .when(same_r)
            .then(pl.lit("chosen_differs"))
            .otherwise(pl.lit("both_differ"))
            .alias("difference")
        )
    return out


def _side_figures(cat: pl.DataFrame, kind: str) -> dict[str, Any]:
    counts = dict(cat.group_by("category").len().iter_rows())
    out: dict[str, Any] = {"rows": cat.height}
    out |= {c: int(counts.get(c, 0)) for c in CATEGORIES}
    out["not_pair_matched"] = out["rows"] - out["pair_matched"]
    out["distinct_prompts"] = cat["prompt"].n_unique()
    dup = cat.group_by("pair").len().filter(pl.col("len") > 1)
    out["duplicate_pairs"] = {"repeated": dup.height, "rows": int(dup["len"].sum()) if dup.height else 0}
    if kind == "preference":
        diffs = dict(cat.filter(pl.col("difference").is_not_null()).group_by("difference").len().iter_rows())
        out["differences"] = {d: int(diffs.get(d, 0)) for d in DIFFERENCES}
    per_source = cat.group_by("source", "category").len()
    by_source: dict[str, dict[str, int]] = {}
    for source, category, n in per_source.sort("source").iter_rows():
        entry = by_source.setdefault(source, {"rows": 0} | {c: 0 for c in CATEGORIES})
        entry[category] = int(n)
        entry["rows"] += int(n)
    out["per_source"] = dict(sorted(by_source.items(), key=lambda kv: (-kv[1]["rows"], kv[0])))
    return out


def _brief(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def brief_row(row: dict, width: int = 100) -> dict[str, str]:
    """A row shortened for display: last prompt turn and the reply (or replies), on one line each."""
    if "chosen" in row:
        chosen, rejected = row.get("chosen") or [], row.get("rejected") or []
        prompt = chosen[:-1]
        return {
            "source": str(row.get("source") or ""),
            "prompt": _brief(prompt[-1]["content"] if prompt else "", width),
            "chosen": _brief(chosen[-1]["content"] if chosen else "", width),
            "rejected": _brief(rejected[-1]["content"] if rejected else "", width),
        }
    conv = row.get("messages") or row.get("prompt") or []
    return {
        "source": str(row.get("source") or row.get("dataset") or ""),
        "prompt": _brief(conv[-2]["content"] if len(conv) > 1 else "", width),
        "reply": _brief(conv[-1]["content"] if conv else "", width),
    }


def _examples(df: pl.DataFrame, cat: pl.DataFrame, category: str, n: int) -> list[dict]:
    rows = cat.filter(pl.col("category") == category).sort("pair").head(n)["row"].to_list()
    return [brief_row(r) for r in df[rows].to_dicts()] if rows else []


def _differ_examples(left: pl.DataFrame, lcat: pl.DataFrame, right: pl.DataFrame, rcat: pl.DataFrame, n: int) -> list[dict]:
    """Left rows whose prompt is on the right but whose pair is not, beside a right row with that prompt."""
    picked = lcat.filter(pl.col("category") == CATEGORIES[1]).sort("pair").head(n)
    if picked.height == 0:
        return []
    partner = rcat.sort("pair").unique("prompt", keep="first").select("prompt", pl.col("row").alias("right_row"))
    picked = picked.join(partner, on="prompt", how="left").sort("pair")
    out = []
    for row in picked.iter_rows(named=True):
        item = {"left": brief_row(left.row(row["row"], named=True)), "right": brief_row(right.row(row["right_row"], named=True))}
        if row.get("difference"):
            item["difference"] = row["difference"]
        out.append(item)
    return out


def compare_frames(
    left: pl.DataFrame, right: pl.DataFrame, examples: int = 3, names: tuple[str, str] = ("left", "right")
) -> dict[str, Any]:
    """Every figure `tulu-data compare` shows, for one split on each side, as a JSON-ready dict."""
    lkind, rkind = detect_kind(left), detect_kind(right)
    if lkind != rkind:
        raise TuluDataError(f"cannot compare {lkind} rows with {rkind} rows")
    check_conversations(left, lkind, names[0])
    check_conversations(right, rkind, names[1])
    lkeys, rkeys = key_frame(left, lkind), key_frame(right, rkind)
    lcat, rcat = _categorize(lkeys, rkeys, lkind), _categorize(rkeys, lkeys, rkind)
    common = lkeys.select("prompt").unique().join(rkeys.select("prompt").unique(), on="prompt", how="inner").height
    return {
        "kind": lkind,
        "left": _side_figures(lcat, lkind),
        "right": _side_figures(rcat, rkind),
        "common_distinct_prompts": common,
        "examples": {
            "only_left": _examples(left, lcat, CATEGORIES[2], examples),
            "only_right": _examples(right, rcat, CATEGORIES[2], examples),
            "pair_differs": _differ_examples(left, lcat, right, rcat, examples),
        },
    }


def pick_split(loaded_splits: dict[str, pl.DataFrame], wanted: list[str | None], what: str) -> str:
    """The first wanted split that exists, or the only split; otherwise a clear error."""
    for name in wanted:
        if name and name in loaded_splits:
            return name
    if len(loaded_splits) == 1:
        return next(iter(loaded_splits))
    asked = [w for w in wanted if w]
    raise TuluDataError(
        f"{what} has splits {', '.join(sorted(loaded_splits))}; "
        + (f"none is named {' or '.join(map(repr, asked))}; " if asked else "")
        + "say which with --split / --reference-split"
    )


def run_compare(
    name: str,
    reference: str,
    out: Path = Path("builds"),
    split: str | None = None,
    reference_split: str | None = None,
    examples: int = 3,
    as_json: bool = False,
    console: Any = None,
) -> dict:
    """What `tulu-data compare` does: load both sides, pick the splits, compare, print."""
    from rich.console import Console

    console = console or Console()
    left = load_any(name, out)
    lsplit = pick_split(left.splits, [split, "train"], f"{name}")
    right = load_any(reference, out, reference_split)
    rsplit = pick_split(right.splits, [reference_split, split, left.name, lsplit], f"reference {reference}")
    report = compare_frames(left.splits[lsplit], right.splits[rsplit], examples, (name, f"reference {reference}"))
    report = {"left": {"name": left.name, "origin": left.origin, "split": lsplit}, "right": {"name": reference, "origin": right.origin, "split": rsplit}} | {
        k: v for k, v in report.items() if k not in ("left", "right")
    } | {"left_figures": report["left"], "right_figures": report["right"]}
    if as_json:
        console.file.write(json.dumps(report, indent=2, default=str) + "\n")
    else:
        render_compare(report, console)
    return report


def render_compare(report: dict, console: Any) -> None:
    """Rich tables: summary, differences, per source on each side, examples."""
    from rich.text import Text

    from .inspect import _pct, _table

    lf, rf = report["left_figures"], report["right_figures"]
    lname = f"{report['left']['name']}:{report['left']['split']}"
    rname = f"{report['right']['name']}:{report['right']['split']}"
    console.print(f"[bold]compare[/] {lname} ({report['left']['origin']})  vs  {rname} ({report['right']['origin']})")
    table = _table("rows by match", ["", "left (build)", "right (reference)"], right=("left (build)", "right (reference)"))
    labels = {
        "rows": "rows",
        "pair_matched": "pair found on the other side",
        "not_pair_matched": "pair not on the other side",
        "prompt_matched_pair_differs": "  of which: prompt there, pair differs",
        "prompt_not_on_other_side": "  of which: prompt not there at all",
        "distinct_prompts": "distinct prompts",
    }
    for key, label in labels.items():
        lv, rv = lf[key], rf[key]
        pct = key not in ("rows", "distinct_prompts")
        table.add_row(
            label,
            f"{lv:,}" + (f" ({_pct(lv, lf['rows'])})" if pct else ""),
            f"{rv:,}" + (f" ({_pct(rv, rf['rows'])})" if pct else ""),
        )
    table.add_row("duplicate pairs (rows)", f"{lf['duplicate_pairs']['rows']:,}", f"{rf['duplicate_pairs']['rows']:,}")
    console.print(table)
    console.print(f"  distinct prompts on both sides: {report['common_distinct_prompts']:,}")
    if report["kind"] == "preference":
        table = _table("how the pair differs when the prompt matches", ["", "left", "right"], right=("left", "right"))
        for d in DIFFERENCES:
            table.add_row(d.replace("_", " "), f"{lf['differences'][d]:,}", f"{rf['differences'][d]:,}")
        console.print(table)
    for side, fig in (("left (build)", lf), ("right (reference)", rf)):
        cols = ["rows", "pair matched", "pair differs", "prompt not there"]
        table = _table(f"per source, {side}", ["source", *cols], right=tuple(cols))
        for source, entry in fig["per_source"].items():
            table.add_row(
                source,
                f"{entry['rows']:,}",
                f"{entry['pair_matched']:,}",
                f"{entry['prompt_matched_pair_differs']:,}",
                f"{entry['prompt_not_on_other_side']:,}",
            )
        console.print(table)
    ex = report["examples"]
    for title, rows in (("only in the build (prompt not in the reference)", ex["only_left"]), ("only in the reference", ex["only_right"])):
        if rows:
            console.print(f"[bold]{title}[/]")
            for row in rows:
                console.print(Text("  " + " | ".join(f"{k}: {v}" for k, v in row.items())))
    if ex["pair_differs"]:
        console.print("[bold]prompt in both, pair differs[/]")
        for item in ex["pair_differs"]:
            console.print(Text(f"  [{item.get('difference', 'differs')}] prompt: {item['left'].get('prompt', '')}"))
            for side in ("left", "right"):
                row = item[side]
                rest = " | ".join(f"{k}: {v}" for k, v in row.items() if k not in ("prompt",))
                console.print(Text(f"    {side}: {rest}"))
