"""Dataset cards: a Hub-conventional README.md written from the catalog entry and the manifest.

The YAML header is valid Hub metadata (license id from the Hub's list, size category, task category,
`configs` mapping every split to its files so `load_dataset(folder_or_repo)` finds them). The body says
what the data is, where it came from (sources, pinned revisions, licenses, links), the rules applied in
plain words and where we depart from the published scripts, the counts in and out with every drop
reason, how to load it, and what to cite. Mixtures add their parts; collections (several datasets as
the named splits of one repo) add their members.
"""

from __future__ import annotations

import re

import yaml

from .catalog import Catalog
from .decontam.card import steps_section

_SIZE_BUCKETS = [
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
]


def size_category(rows: int) -> str:
    for limit, label in _SIZE_BUCKETS:
        if rows < limit:
            return label
    return "100M<n<1B"


# License identifiers the Hub accepts in a card (huggingface.co/docs/hub/repositories-licenses).
HUB_LICENSES = frozenset(
    [
        "apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m",
        "bigscience-bloom-rail-1.0", "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd",
        "bsd-2-clause", "bsd-3-clause", "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5",
        "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0",
        "cc-by-nd-4.0", "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0",
        "cc-by-nc-sa-4.0", "cdla-sharing-1.0", "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0",
        "epl-1.0", "epl-2.0", "etalab-2.0", "eupl-1.1", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0", "lgpl",
        "lgpl-2.1", "lgpl-3.0", "isc", "lppl-1.3c", "ms-pl", "mpl-2.0", "odc-by", "odbl", "openrail++", "osl-3.0",
        "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib", "pddl", "lgpl-lr", "deepfloyd-if-license", "llama2",
        "llama3", "llama3.1", "llama3.2", "llama3.3", "gemma", "unknown", "other",
    ]
)

KIND_COLUMNS = {
    "preference": [
        ("id", "stable row id (hash of the row's content)"),
        ("source", "where the pair comes from"),
        ("chosen", "the preferred conversation: a list of {role, content}, ending in the preferred assistant reply"),
        ("rejected", "the same prompt turns, ending in the dispreferred assistant reply"),
        ("score_chosen / score_rejected", "the scores behind the choice, when the source has them (else null)"),
    ],
    "sft": [
        ("dataset", "the source label"),
        ("id", "stable row id"),
        ("messages", "the conversation: a list of {role, content} with roles system / user / assistant"),
    ],
    "prompts": [
        ("id", "stable row id"),
        ("source", "where the prompt comes from"),
        ("prompt", "the prompt turns: a list of {role, content}"),
    ],
}

_KIND_TAGS = {"preference": ["preference", "dpo", "reward-modeling"], "sft": ["sft", "instruction-tuning"], "prompts": ["prompts"]}


def hub_license(license_text: str | None) -> tuple[str, str | None]:
    """A catalog license as (Hub license id, license_name): ids outside the Hub's list become 'other'."""
    text = (license_text or "unknown").strip().lower().replace(" ", "-")
    if text in HUB_LICENSES:
        return text, None
    slug = re.sub(r"[^a-z0-9.]+", "-", text).strip("-")[:64].strip("-") or "custom"
    return "other", slug


def card_metadata(manifest: dict, license_id: str, pretty_name: str) -> dict:
    """The YAML header: valid Hub metadata, with `configs` listing every split's files."""
    total = sum(manifest.get("rows_out", {}).values())
    kind = manifest.get("kind", "preference")
    hub_id, license_name = hub_license(license_id)
    meta: dict = {"license": hub_id}
    if license_name:
        meta["license_name"] = license_name
    meta |= {
        "language": ["en"],
        "pretty_name": pretty_name,
        "size_categories": [size_category(total)],
        "task_categories": ["text-generation"],
        "tags": ["tulu-data", *_KIND_TAGS.get(kind, [kind])],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": split, "path": f"data/{split}-*"} for split in sorted(manifest.get("splits", {}))],
            }
        ],
    }
    if manifest.get("content_hash"):
        # `datasets` keys its cache of a local folder on the card's metadata, not on the data files, so a
        # folder rebuilt with other rows at the same path would be served stale rows. The content hash in
        # the config's description (a standard builder-config field) gives each content its own entry.
        meta["configs"][0]["description"] = f"tulu-data build, content hash {manifest['content_hash']}"
    splits = manifest.get("splits", {})
    if splits:
        feature_sets = [info.get("features") for info in splits.values()]
        same = all(f == feature_sets[0] for f in feature_sets)
        meta["dataset_info"] = {
            "features": feature_sets[0] if same else None,
            "splits": [
                {"name": s, "num_bytes": info.get("num_bytes", 0), "num_examples": info["rows"]} for s, info in sorted(splits.items())
            ],
            "download_size": sum(info.get("parquet_bytes", 0) for info in splits.values()),
            "dataset_size": sum(info.get("num_bytes", 0) for info in splits.values()),
        }
        if meta["dataset_info"]["features"] is None:
            del meta["dataset_info"]["features"]
    return meta


def _table(headers: list[str], rows: list[list]) -> str:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _first_sentence(text: str) -> str:
    text = " ".join((text or "").split())
    return text.split(". ")[0].rstrip(".") + "." if text else ""


def _unique_sources(sources: list[dict]) -> list[dict]:
    seen, out = set(), []
    for src in sources:
        key = (src.get("key"), src.get("revision"), src.get("mode"))
        if key not in seen:
            seen.add(key)
            out.append(src)
    return out


def _revision_cell(src: dict) -> str:
    if src.get("mode") == "local":
        return "local files (sha256 of each in manifest.json)"
    rev = str(src.get("revision", ""))
    if re.fullmatch(r"[0-9a-f]{40}", rev):
        return f"[`{rev[:12]}`](https://huggingface.co/datasets/{src['hub_id']}/tree/{rev})"
    return f"`{rev}` (not pinned to a commit)"


def _sources_section(sources: list[dict], catalog: Catalog) -> list[str]:
    if not sources:
        return []
    rows = []
    for src in sources:
        spec = catalog.sources.get(src.get("key", ""))
        link = f"[{src['hub_id']}](https://huggingface.co/datasets/{src['hub_id']})" if src.get("hub_id") else "local files"
        home = f"[homepage]({spec.homepage})" if spec and spec.homepage else ""
        files = ", ".join(f["path"] for f in src.get("files", [])[:3]) + (" ..." if len(src.get("files", [])) > 3 else "")
        rows.append([src["key"], link, _revision_cell(src), src.get("mode", ""), files, src.get("license") or "see upstream", home])
    return ["## Upstream sources", "", _table(["key", "upstream", "pinned revision", "read from", "files", "license", "link"], rows), ""]


def _rules_section(title: str, rules: list[str], departures: list[str], level: str = "##") -> list[str]:
    out: list[str] = []
    if rules:
        out += [f"{level} {title}", ""] + [f"- {r}" for r in rules] + [""]
    if departures:
        out += [f"{level} Where this build departs from the published scripts", ""] + [f"- {d}" for d in departures] + [""]
    return out


def _counts_section(manifest: dict) -> list[str]:
    out = ["## Rows in and out", ""]
    rows_in = manifest.get("rows_in", {})
    dropped = manifest.get("dropped", {})
    rows_out = manifest.get("rows_out", {})
    total_out = sum(rows_out.values())
    if rows_in:
        out += [
            f"{total_out:,} rows written. Rows read per source below; each drop reason counts the upstream "
            "records it removed, in the unit it names (rows, or completions/responses where it says so), "
            "and a source read only as a filter (e.g. TruthfulQA questions) counts as read.",
            "",
            _table(["read from", "rows"], [[k, f"{v:,}"] for k, v in rows_in.items()]),
            "",
        ]
    if dropped:
        out += [_table(["dropped because", "rows"], [[k, f"{v:,}"] for k, v in dropped.items()]), ""]
        if manifest.get("drop_examples"):
            out += ["A few example rows for each reason are kept in `manifest.json` (`drop_examples`).", ""]
    else:
        out += ["No rows were dropped" + (" at this step." if manifest.get("mixture") or manifest.get("collection") else "."), ""]
    notes = manifest.get("notes", {})
    if notes:
        out += ["Notes:", ""] + [f"- `{k}`: {v}" for k, v in notes.items()] + [""]
    return out


def _load_section(manifest: dict, name: str) -> list[str]:
    repo = manifest.get("hub_repo_id")
    where = repo or f"path/to/{name}"
    splits = sorted(manifest.get("splits", {}))
    lines = ["## How to load", "", "```python", "from datasets import load_dataset", ""]
    if manifest.get("collection") and splits:
        lines += [f'ds = load_dataset("{where}", split="{splits[0]}")  # one split per member dataset']
    else:
        lines += [f'ds = load_dataset("{where}")' + ("" if repo else "  # the build folder, or the Hub repo it was pushed to")]
    lines += ["```", ""]
    kind = manifest.get("kind")
    if kind == "preference":
        lines += ["The `chosen` / `rejected` conversations can be passed as they are to trl's DPO and reward trainers.", ""]
    elif kind == "sft":
        lines += ["The `messages` column can be passed as it is to trl's SFT trainer.", ""]
    lines += [
        f"Content hash of the data files: `{manifest.get('content_hash')}`. `manifest.json` holds the full provenance "
        "(upstream file hashes, recipe version, parameters, seed, counts).",
        "",
    ]
    return lines


def _citations(catalog: Catalog, names: list[str]) -> list[str]:
    keys: list[str] = []
    for name in names:
        spec = catalog.datasets.get(name)
        for key in spec.citations if spec else ():
            if key not in keys:
                keys.append(key)
    return [catalog.citations[k] for k in keys if k in catalog.citations]


def render_card(manifest: dict, catalog: Catalog) -> str:
    """A dataset card in the Hub's conventions (YAML metadata header + markdown body)."""
    name = manifest["name"]
    spec = catalog.datasets.get(name)
    description = manifest.get("description") or (spec.description if spec else "")
    license_id = manifest.get("license") or (spec.license if spec else "other")
    meta = card_metadata(manifest, license_id, name)
    out = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(), "---", "", f"# {name}", ""]
    sources = _unique_sources(manifest.get("sources", []))
    if any(s.get("mode") == "samples" for s in sources):
        out += [
            "> **Built from the small synthetic samples bundled with tulu-data, not from the real upstream data.** "
            "Rebuild with `--sources hub` (or a mirror) for the real dataset.",
            "",
        ]
    out += [description.strip(), ""]
    kind = manifest.get("kind", "")
    if kind in KIND_COLUMNS:
        out += ["## Columns", "", _table(["column", "meaning"], [[f"`{c}`", m] for c, m in KIND_COLUMNS[kind]]), ""]

    members = manifest.get("members") or []
    if members:
        out += ["## Splits: one per member dataset", ""]
        rows = [[f"`{m['name']}`", f"{m['rows']:,}", m.get("license") or "", _first_sentence(m.get("description", ""))] for m in members]
        out += [_table(["split", "rows", "license", "what it is"], rows), ""]
    else:
        out += ["## Splits", "", _table(["split", "rows"], [[s, f"{n:,}"] for s, n in manifest.get("rows_out", {}).items()]), ""]

    parts = manifest.get("parts")
    if parts:
        out += ["## Mixture parts", "", "Every part is a seeded random sample (keyed on row ids), never the first rows.", ""]
        rows = [[p["name"], p["requested"], f"{p['given']:,}", f"{p['available']:,}", "yes" if p.get("shortfall") else ""] for p in parts]
        out += [_table(["part", "requested", "rows given", "rows available", "shortfall"], rows), ""]
        if manifest.get("filters"):
            out += ["Filters applied to the combined rows: " + ", ".join(f"`{f.get('name')}`" for f in manifest["filters"]), ""]

    out += _sources_section(sources, catalog)

    rules = list(spec.rules) if spec else list(manifest.get("rules", []))
    departures = list(spec.departures) if spec else list(manifest.get("departures", []))
    out += _rules_section("How it was built", rules, departures)
    nested = [m["name"] for m in members] or [p["name"] for p in parts or []]
    if nested:
        out += ["## How each part was built", ""]
        for part in nested:
            pspec = catalog.datasets.get(part)
            if pspec is None:
                continue
            out += [f"### {part}", "", _first_sentence(pspec.description), ""]
            out += [f"- {r}" for r in pspec.rules] + ([""] if pspec.rules else [])
            if pspec.departures:
                out += ["Departures from the published scripts:", ""] + [f"- {d}" for d in pspec.departures] + [""]
            member = next((m for m in members if m["name"] == part), None)
            if member and member.get("dropped"):
                out += ["Dropped: " + "; ".join(f"{reason}: {n:,}" for reason, n in member["dropped"].items()), ""]

    recipe = manifest.get("recipe")
    if recipe:
        out += [
            "## Recipe",
            "",
            f"Recipe `{recipe['name']}` version `{recipe['version']}`, seed {manifest.get('seed')}, "
            f"tulu-data {manifest.get('tool', {}).get('version')}. Parameters: `{recipe.get('params') or {}}`.",
            "",
            f"Rebuild: `tulu-data build {name} --sources hub`.",
            "",
        ]
    out += _counts_section(manifest)
    out += steps_section(manifest)
    out += _load_section(manifest, name)

    cites = _citations(catalog, [name, *nested])
    if not cites and not spec:
        cites = [catalog.citations[c] for c in manifest.get("citations", []) if c in catalog.citations]
    if cites:
        out += ["## Citation", "", "```bibtex", "\n\n".join(cites), "```", ""]
    out += ["## License", "", _license_text(meta, sources, members), ""]
    return "\n".join(out)


def _license_text(meta: dict, sources: list[dict], members: list[dict]) -> str:
    own = meta["license"] if meta["license"] != "other" else meta.get("license_name", "other")
    upstream = sorted({s.get("license") for s in sources if s.get("license")})
    if members:
        text = "Each split keeps the license of its member dataset (see the splits table)."
    else:
        text = f"This dataset is released under `{own}`."
    if upstream:
        text += " It is derived from upstream data under: " + ", ".join(f"`{u}`" for u in upstream) + "; their terms apply to the rows they contribute."
    return text
