"""Reading raw UltraFeedback for the recipes in `ultrafeedback.py`: one row per prompt, checked and keyed.

Prompt-level drops are counted in prompts. Keys: `row_key` identifies one upstream row, the first 32
hex digits of sha256(source, instruction, completion models). It is computed with hashlib, one call per
row: sha256 of the prompt is also the published `prompt_id`, and hashlib is much faster here than
hashing the long texts column-wise.
"""

from __future__ import annotations

import hashlib

import polars as pl

from tulu_data import ops
from tulu_data.context import RecipeContext
from tulu_data.errors import CatalogError, SourceFormatError

UF = "ultrafeedback"
TQA = "truthful_qa"
ASPECTS = ("helpfulness", "honesty", "instruction_following", "truthfulness")
RATINGS = ("1", "2", "3", "4", "5")
NOT_APPLICABLE = "N/A"
REQUIRED = ("source", "instruction", "completions")
# fields every completion must carry (checked per file: a file where no completion has one is malformed)
COMPLETION_FIELDS = (
    ("response",),
    ("overall_score",),
    ("fine-grained_score",),
    *(("annotations", aspect, "Rating") for aspect in ASPECTS),
)
# what the recipes read (a hint: JSON lines are parsed for these fields only, see RecipeContext.frame)
UF_FIELDS: dict[str, pl.DataType] = {
    "source": pl.String,
    "instruction": pl.String,
    "completions": pl.List(
        pl.Struct(
            {
                "model": pl.String,
                "response": pl.String,
                "overall_score": pl.Float64,
                "fine-grained_score": pl.Float64,
                "annotations": pl.Struct({aspect: pl.Struct({"Rating": pl.String}) for aspect in ASPECTS}),
            }
        )
    ),
}
# per-source splits: upstream `source` values, except that flan.jsonl holds four flan_v2_* sources
SOURCE_GROUPS = ("evol_instruct", "false_qa", "flan_v2", "sharegpt", "truthful_qa", "ultrachat")
DEFECT_NOTE = "overall_score_defect_completions"
DEFECT_RULE = "overall_score 10 with fine-grained_score <= 2 (the upstream defect fixed on 2023-12-29)"


# --------------------------------------------------------------------------------------------
# reading and prompt-level checks


def sha256_hex(values: pl.Series) -> pl.Series:
    """sha256 hex digest of each string's UTF-8 bytes (nulls hash as the empty string)."""
    digests = [hashlib.sha256(v.encode()).hexdigest() for v in values.fill_null("").to_list()]
    return pl.Series(values.name, digests, dtype=pl.String)


def _field_dtype(dtype: pl.DataType, path: tuple[str, ...]) -> pl.DataType | None:
    """The dtype at `path` inside a completion struct, or None if a field on the way is missing."""
    for name in path:
        if not isinstance(dtype, pl.Struct):
            return None
        fields = {f.name: f.dtype for f in dtype.fields}
        if name not in fields:
            return None
        dtype = fields[name]
    return dtype


def _field_expr(path: tuple[str, ...]) -> pl.Expr:
    expr = pl.col("completion")
    for name in path:
        expr = expr.struct.field(name)
    return expr


def check_completion_fields(ctx: RecipeContext, df: pl.DataFrame) -> None:
    """Fail, naming the file and the field, when a file's completions lack a field the recipes read."""
    source = ctx.source(UF)
    completions = df.schema["completions"]
    inner = completions.inner if isinstance(completions, pl.List) else None
    if inner is None or inner == pl.Null:
        return  # no completion anywhere: every prompt is dropped (counted) as having none
    missing = [".".join(p) for p in COMPLETION_FIELDS if _field_dtype(inner, p) is None]
    if missing:
        files = ", ".join(str(p) for p in source.files)
        raise SourceFormatError(f"{files}: completions lack field(s) {', '.join(map(repr, missing))}")
    present = (
        df.select("__file", pl.col("completions").alias("completion"))
        .explode("completion")
        .filter(pl.col("completion").is_not_null())
        .group_by("__file")
        .agg(*[_field_expr(p).is_not_null().any().alias(".".join(p)) for p in COMPLETION_FIELDS])
        .sort("__file")
    )
    for row in present.iter_rows(named=True):  # one row per file
        absent = [name for name, seen in row.items() if name != "__file" and not seen]
        if absent:
            raise SourceFormatError(
                f"{source.root / row['__file']}: no completion has field(s) "
                f"{', '.join(repr('completions[].' + a) for a in absent)}"
            )


def count_defects(ctx: RecipeContext, df: pl.DataFrame) -> None:
    """Note how many completions carry the old overall_score defect (counted over all rows read)."""
    inner = df.schema["completions"]
    if not isinstance(inner, pl.List) or inner.inner == pl.Null:
        ctx.note(DEFECT_NOTE, 0)
        return
    completion = pl.col("completions").explode()
    overall = completion.struct.field("overall_score").cast(pl.Float64, strict=False)
    fine = completion.struct.field("fine-grained_score").cast(pl.Float64, strict=False)
    n = df.select(((overall == 10) & (fine <= 2)).fill_null(False).sum()).item()
    ctx.note(DEFECT_NOTE, int(n))
    ctx.note("overall_score_defect_rule", DEFECT_RULE)


def source_group(expr: pl.Expr) -> pl.Expr:
    """The per-source split a row belongs to: `flan_v2_*` (and a bare `flan`) -> flan_v2."""
    return pl.when(expr.str.starts_with("flan")).then(pl.lit("flan_v2")).otherwise(expr)


def _models_joined() -> pl.Expr:
    return pl.col("completions").list.eval(pl.element().struct.field("model").cast(pl.String).fill_null("")).list.join(
        "\x1e"
    )


def load_prompts(ctx: RecipeContext, need_completions: bool = True, group: str | None = None) -> pl.DataFrame:
    """Raw UltraFeedback rows -> one row per prompt, with `row_key` and `row_hash`; bad rows dropped (counted).

    With `group`, only that per-source split's rows are kept (the others counted first, so the
    remaining drop reasons describe this split's rows). Columns out: row_key, row_hash, source,
    instruction, completions.
    """
    df = ctx.frame(UF, required=REQUIRED, with_file=True, fields=UF_FIELDS)
    if not isinstance(df.schema["completions"], pl.List):
        raise SourceFormatError(f"{ctx.source(UF).root}: field 'completions' must be a list of completions")
    check_completion_fields(ctx, df)
    count_defects(ctx, df)
    df = df.select(
        pl.col("source").cast(pl.String),
        pl.col("instruction").cast(pl.String),
        pl.col("completions"),
    )
    df = ctx.drop(df, pl.col("source").fill_null("").str.strip_chars() == "", "missing source")
    if group is not None:
        df = only_group(ctx, df, group)
    df = ctx.drop(df, pl.col("instruction").fill_null("").str.strip_chars() == "", "empty instruction")
    if need_completions:
        df = ctx.drop(df, pl.col("completions").list.len().fill_null(0) == 0, "no completions")
    inner = df.schema["completions"].inner
    has_model = isinstance(inner, pl.Struct) and "model" in {f.name for f in inner.fields}
    models = _models_joined() if has_model else pl.lit("")
    material = df.select(pl.concat_str([pl.col("source"), pl.col("instruction"), models], separator="\x1f")).to_series()
    df = df.with_columns(sha256_hex(material).str.slice(0, 32).alias("row_key"))
    df = drop_duplicate_rows(ctx, df)
    return df.with_columns(pl.Series("row_hash", ops.stable_hash64(df["row_key"]), dtype=pl.UInt64))


def drop_duplicate_rows(ctx: RecipeContext, df: pl.DataFrame) -> pl.DataFrame:
    """Keep one row per row_key (same source, instruction and models); which one depends only on content."""
    duplicated = df["row_key"].is_duplicated()
    if not duplicated.any():
        return df
    responses = pl.col("completions").list.eval(pl.element().struct.field("response").cast(pl.String).fill_null(""))
    tiebreak = pl.when(duplicated).then(responses.list.join("\x1e")).otherwise(pl.lit(""))
    before = df.height
    df = (
        df.with_columns(tiebreak.alias("__tiebreak"))
        .sort(["row_key", "__tiebreak"])
        .unique(subset="row_key", keep="first", maintain_order=True)
        .drop("__tiebreak")
    )
    ctx.count_drop("duplicate row (same source, instruction and completion models)", before - df.height)
    return df


def truthfulqa_questions(ctx: RecipeContext) -> pl.Series:
    """The TruthfulQA questions, stripped."""
    questions = ctx.frame(TQA, required=["question"], fields={"question": pl.String})["question"].cast(pl.String)
    return questions.str.strip_chars().drop_nulls().unique().sort()


def remove_truthfulqa(ctx: RecipeContext, df: pl.DataFrame) -> pl.DataFrame:
    """Drop TruthfulQA prompts: the truthful_qa source, and any instruction equal (after strip) to a question."""
    df = ctx.drop(df, pl.col("source") == TQA, "TruthfulQA: source is truthful_qa")
    questions = truthfulqa_questions(ctx)
    return ctx.drop(
        df,
        pl.col("instruction").str.strip_chars().is_in(questions.implode()),
        "TruthfulQA: instruction is a TruthfulQA question (copy in another source)",
    )


def only_group(ctx: RecipeContext, df: pl.DataFrame, group: str) -> pl.DataFrame:
    """Keep one per-source split's rows; rows of the other sources are counted as dropped."""
    if group not in SOURCE_GROUPS:
        raise CatalogError(f"datasets.{ctx.name}: param 'source' must be one of {SOURCE_GROUPS}, got {group!r}")
    return ctx.drop(df, source_group(pl.col("source")) != group, f"other UltraFeedback source (this split is {group} only)")
