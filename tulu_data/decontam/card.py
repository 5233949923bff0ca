"""The dataset card's section on deduplication and decontamination, written from the manifest records."""

from __future__ import annotations

from .step import SET_LEVEL_SHARE


def _table(headers: list[str], rows: list[list]) -> list[str]:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]


def _dedup_lines(split: str, rec: dict) -> list[str]:
    config = rec["config"]
    out = [f"Split `{split}`, compared on {config['field'].replace('_', ' ')} (tokens `{rec['tokenizer']}`):", ""]
    if "exact" in rec:
        out.append(f"- exact duplicates (equal normalised text): {rec['exact']['dropped']:,} rows dropped")
    if "near" in rec:
        near = config["near"]
        out.append(
            f"- near duplicates (MinHash LSH, {near['num_perm']} permutations in {near['bands']} bands over {near['shingle']}-word "
            f"shingles, estimated Jaccard >= {near['threshold']}; grouped transitively): {rec['near']['dropped']:,} rows dropped"
        )
    out += [f"- kept: one row per group, the smallest keyed draw of its id (seed {rec['seed']}), whatever the row order", ""]
    return out


def _decontam_lines(split: str, rec: dict) -> list[str]:
    rule = "any shared n-gram" if rec["threshold"] == 0 else f"more than {rec['threshold']:.0%} of its tokens are covered"
    out = [
        f"Split `{split}`: {rec['action']} rows whose {rec['field'].replace('_', ' ')} overlap an eval instance: word "
        f"{rec['ngram']}-grams (tokens `{rec['tokenizer']}`), an instance overlaps a row when {rule} by n-grams shared "
        f"with that row. {rec['rows_matched']:,} of {rec['rows_in']:,} rows matched. A source is contaminated for an "
        f"eval when it overlaps more than {SET_LEVEL_SHARE:.0%} of the eval's instances (Tulu 3's set-level rule).",
        "",
    ]
    rows = [
        [name, f"{e['instances']:,}", f"{e['too_short']:,}", f"{e['overlapped']:,}", f"{e['share']:.2%}", "yes" if e["contaminated"] else "", f"{e['rows_matched']:,}"]
        for name, e in rec["evals"].items()
    ]
    out += _table(["eval", "instances", "too short to test", "overlapped", "share", "contaminated", "rows matched"], rows) + [""]
    grid = [
        [label, name, f"{c['rows_matched']:,}", f"{c['instances_overlapped']:,}", f"{c['share']:.2%}", "yes" if c["contaminated"] else ""]
        for label, per_eval in rec["by_source"].items()
        for name, c in per_eval.items()
    ]
    if grid:
        out += ["Per source:", ""]
        out += _table(["source", "eval", "rows matched", "instances overlapped", "share", "contaminated"], grid) + [""]
    examples = [[e["row_id"], e["source"], name, e["instance"], f"{e['coverage']:.0%}", e["span"][:120]] for name, exs in rec["examples"].items() for e in exs]
    if examples:
        out += ["Examples (all are in `manifest.json`):", ""]
        out += _table(["training row", "source", "eval", "eval instance", "coverage", "overlapping span"], examples) + [""]
    return out


def steps_section(manifest: dict) -> list[str]:
    """Markdown lines for the dedup and decontamination records of a manifest (none if it has neither)."""
    dedup = (manifest.get("dedup") or {}).get("splits") or {}
    decontam = (manifest.get("decontamination") or {}).get("splits") or {}
    out: list[str] = []
    if dedup:
        out += ["## Deduplication", ""]
        for split, rec in dedup.items():
            out += _dedup_lines(split, rec)
    if decontam:
        out += ["## Decontamination against eval sets", ""]
        for split, rec in decontam.items():
            out += _decontam_lines(split, rec)
    return out
