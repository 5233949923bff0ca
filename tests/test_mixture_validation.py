"""Damaged mixture files: each ends in an error naming the file and the line, before anything is built."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import qa_rows, write_jsonl

from tulu_data.build import Builder
from tulu_data.catalog import load_catalog, parse_catalog
from tulu_data.errors import CatalogError, TuluDataError
from tulu_data.mixture_spec import planned_rows
from tulu_data.writer import read_splits


@pytest.fixture
def mixenv(tmp_path: Path):
    """Catalog datasets 'big' (30 pairs) and 'small' (6 pairs), a mixtures folder, and a builder factory."""
    mirror = tmp_path / "mirror"
    write_jsonl(mirror / "qa" / "a.jsonl", qa_rows(30, prefix="big"))
    write_jsonl(mirror / "qa2" / "b.jsonl", qa_rows(6, prefix="small"))
    catalog = parse_catalog({
        "sources": {
            "qa": {"hub_id": "example/qa", "revision": "a" * 40, "format": "jsonl"},
            "qa2": {"hub_id": "example/qa2", "revision": "b" * 40, "format": "jsonl"},
        },
        "datasets": {
            "big": {"recipe": "_test_qa_pairs", "sources": ["qa"], "description": "30.", "license": "mit",
                    "params": {"label": "big"}},
            "big_copy": {"recipe": "_test_qa_pairs", "sources": ["qa"], "description": "same rows.", "license": "mit",
                         "params": {"label": "big"}},
            "small": {"recipe": "_test_qa_pairs", "sources": ["qa2"], "description": "6.", "license": "mit",
                      "params": {"label": "small"}},
        },
        "collections": {"both": {"datasets": ["big", "small"], "description": "c", "repo_id": "x/both"}},
    })
    mixdir = tmp_path / "mixtures"
    mixdir.mkdir()
    out = tmp_path / "out"

    def write(name: str, body: str) -> Path:
        path = mixdir / f"{name}.yaml"
        path.write_text(body)
        return path

    def builder() -> Builder:
        return Builder(catalog=catalog, sources=str(mirror), out=out, mixtures=mixdir)

    return write, builder, out


def parts(*lines: str) -> str:
    return "description: d\nlicense: mit\nparts:\n" + "".join(f"{line}\n" for line in lines)


def fails(builder: Builder, name: str) -> str:
    with pytest.raises(TuluDataError) as err:
        builder.build(name)
    return str(err.value)


def assert_nothing_built(out: Path) -> None:
    assert not out.exists() or not any(out.iterdir()), sorted(p.name for p in out.iterdir())


# ---- take: types and bounds (line 5 is the take of the first part) ----------------------------


@pytest.mark.parametrize(
    ("take", "message"),
    [
        ("'100'", "field 'take' is the text '100': write the number without quotes"),
        ("true", "field 'take' must be 'all', an integer count or a fraction, got True"),
        ("half", "field 'take' must be 'all', an integer count or a fraction, got 'half'"),
        ("null", "field 'take' must be 'all', an integer count or a fraction, got None"),
        ("0", "field 'take' is 0, which selects no rows"),
        ("-3", "field 'take' must not be negative, got -3"),
        ("-0.5", "field 'take' as a fraction must be > 0, got -0.5"),
        (".nan", "field 'take' as a fraction must be > 0, got nan"),
        ("100.0", "field 'take' is 100.0, a fraction above 1.0: that repeats every row about 100 times; "
                  "add 'upsample: true'"),
        ("1.5", "field 'take' is 1.5, a fraction above 1.0"),
    ],
)
def test_take_errors_name_file_and_line_and_build_nothing(mixenv, take, message):
    write, builder, out = mixenv
    path = write("m", parts("  - dataset: small", f"    take: {take}"))
    text = fails(builder(), "m")
    assert text.startswith(f"{path}, line 5: mixture m: parts[0]: "), text
    assert message in text
    assert_nothing_built(out)


@pytest.mark.parametrize(
    ("lines", "line", "message"),
    [
        (["    take: 3", "    upsample: true"], 6, "an integer 'take' (3) is a cap and never upsamples"),
        (["    take: all", "    upsample: true"], 6, "upsample: true needs a fraction above 1.0 as 'take', not 'all'"),
        (["    take: 0.5", "    upsample: true"], 6, "upsample: true needs a fraction above 1.0 as 'take', got 0.5"),
        (["    take: 1000000.0", "    upsample: true"], 5, "field 'take' is 1e+06: upsampling is limited to 100 copies"),
        (["    strict: 'false'"], 5, "field 'strict' must be true or false (a YAML boolean, unquoted), got 'false'"),
        (["    strict: 1"], 5, "field 'strict' must be true or false (a YAML boolean, unquoted), got 1"),
        (["    take: 2.0", "    upsample: 'true'"], 6, "field 'upsample' must be true or false"),
        (["    split: [a]"], 5, "field 'split' must be a split name such as train, got ['a']"),
        (["    weight: 2"], 5, "unknown field(s) ['weight']"),
    ],
)
def test_part_field_errors(mixenv, lines, line, message):
    write, builder, out = mixenv
    path = write("m", parts("  - dataset: small", *lines))
    text = fails(builder(), "m")
    assert text.startswith(f"{path}, line {line}: mixture m: parts[0]: "), text
    assert message in text
    assert_nothing_built(out)


def test_upsampling_six_rows_needs_the_flag_and_then_gives_exactly_what_was_asked(mixenv):
    write, builder, out = mixenv
    write("m", parts("  - dataset: small", "    take: 100.0"))
    assert "a fraction above 1.0" in fails(builder(), "m")
    write("m", parts("  - dataset: small", "    take: 100.0", "    upsample: true"))
    df = read_splits(builder().build("m"))["train"]
    assert df.height == 600 == planned_rows(100.0, 6)
    assert df["id"].n_unique() == 600


def test_upsampled_part_above_the_row_ceiling_stops_before_selecting(mixenv, monkeypatch):
    write, builder, out = mixenv
    path = write("m", parts("  - dataset: big", "    take: 50.0", "    upsample: true"))
    monkeypatch.setenv("TULU_DATA_MAX_PART_ROWS", "1000")
    text = fails(builder(), "m")
    assert text == (
        f"{path}, line 4: mixture m: parts[0]: take 50.0 of 'big' (30 rows) would give 1,500 rows, "
        "above the ceiling of 1,000 ($TULU_DATA_MAX_PART_ROWS raises it)"
    )
    assert not (out / "m").exists() and (out / "big").is_dir()  # the part was built, the mixture not
    monkeypatch.setenv("TULU_DATA_MAX_PART_ROWS", "10")
    write("m", parts("  - dataset: big", "    take: all"))  # the ceiling is on upsampling only
    assert read_splits(builder().build("m"))["train"].height == 30


# ---- names, cycles, repeats -------------------------------------------------------------------


def test_unknown_part_names_the_line_and_suggests(mixenv):
    write, builder, out = mixenv
    path = write("m", parts("  - dataset: big", "    take: 3", "  - dataset: smal", "    take: all"))
    text = fails(builder(), "m")
    assert text == f"{path}, line 6: mixture m: parts[1]: unknown dataset or mixture 'smal' (did you mean 'small'?)"
    assert_nothing_built(out)


def test_unknown_build_name_suggests(mixenv):
    write, builder, out = mixenv
    write("my_mix", parts("  - dataset: big"))
    assert "'my_mx' is neither a catalog dataset, a mixture nor a collection (did you mean 'my_mix'?)" in fails(
        builder(), "my_mx"
    )


@pytest.mark.parametrize(
    ("files", "start", "expected"),
    [
        ({"a": ["b"], "b": ["a"]}, "a", ("b", "'a' leads back to itself: a -> b -> a")),
        ({"a": ["a"]}, "a", ("a", "'a' leads back to itself: a -> a")),
        ({"a": ["b"], "b": ["c"], "c": ["big", "b"]}, "a", ("c", "'b' leads back to itself: b -> c -> b")),
    ],
)
def test_cycles_are_named_not_a_recursion_error(mixenv, files, start, expected):
    write, builder, out = mixenv
    paths = {name: write(name, parts(*(f"  - dataset: {p}" for p in members))) for name, members in files.items()}
    where, message = expected
    text = fails(builder(), start)
    line = 4 + files[where].index(message.split("'")[1])
    assert text == f"{paths[where]}, line {line}: mixture {where}: parts[{line - 4}]: {message}"
    assert_nothing_built(out)


def test_same_dataset_twice_is_an_error_naming_both_lines(mixenv):
    write, builder, out = mixenv
    path = write("m", parts("  - dataset: big", "    take: 3", "  - dataset: small", "  - dataset: big", "    take: 5"))
    text = fails(builder(), "m")
    assert text.startswith(f"{path}, line 7: mixture m: parts[2]: 'big' (split train) is already a part (line 4)")
    assert_nothing_built(out)


def test_same_dataset_through_a_nested_mixture_is_an_error(mixenv):
    write, builder, out = mixenv
    write("inner", parts("  - dataset: small", "  - dataset: big", "    take: 2"))
    path = write("outer", parts("  - dataset: inner", "  - dataset: big", "    take: 4"))
    text = fails(builder(), "outer")
    assert text == (
        f"{path}, line 5: mixture outer: parts[1]: 'big' (split train) is already in this mixture through "
        "outer -> inner; its rows would appear twice with the same ids"
    )
    assert_nothing_built(out)


def test_two_datasets_sharing_ids_stop_the_mixture(mixenv):
    write, builder, out = mixenv
    path = write("m", parts("  - dataset: big", "    take: all", "  - dataset: big_copy", "    take: all"))
    text = fails(builder(), "m")
    assert text.startswith(f"{path}: mixture m: parts 'big' and 'big_copy' give 30 ids more than once (for example ")
    assert not (out / "m").exists()


def test_a_collection_and_a_split_of_a_mixture_are_not_parts(mixenv):
    write, builder, _ = mixenv
    path = write("m", parts("  - dataset: both"))
    assert fails(builder(), "m") == f"{path}, line 4: mixture m: parts[0]: 'both' is a collection; a part is a catalog dataset or a mixture"
    write("inner", parts("  - dataset: big"))
    path = write("m", parts("  - dataset: inner", "    split: test"))
    assert fails(builder(), "m") == f"{path}, line 4: mixture m: parts[0]: 'inner' is a mixture, whose only split is train (not 'test')"


def test_unknown_filter_is_found_before_building(mixenv):
    write, builder, out = mixenv
    path = write("m", parts("  - dataset: big") + "filters:\n  - name: no_such_filter\n")
    assert fails(builder(), "m") == f"{path}, line 6: mixture m: filters[0]: unknown filter 'no_such_filter'"
    assert_nothing_built(out)


@pytest.mark.parametrize("name", ["../evil", "sub/evil", ".hidden", "a\\b", ".."])
def test_names_that_are_paths_are_refused_and_nothing_is_written_outside_out(mixenv, tmp_path, name):
    write, builder, out = mixenv
    write("evil", parts("  - dataset: big"))
    before = sorted(p.name for p in tmp_path.iterdir())
    text = fails(builder(), name)
    assert "not a plain name" in text or "is a path, not a name" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert_nothing_built(out)


def test_part_naming_a_path_is_refused_at_its_line(mixenv, tmp_path):
    write, builder, out = mixenv
    (tmp_path / "evil.yaml").write_text(parts("  - dataset: big"))  # beside the mixtures folder
    path = write("m", parts("  - dataset: ../evil"))
    text = fails(builder(), "m")
    assert text.startswith(f"{path}, line 4: mixture m: parts[0]: field 'dataset': '../evil' is a path, not a name")
    assert not (tmp_path / "evil").exists()
    assert_nothing_built(out)


# ---- the file itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (parts("  - dataset: big", "    take: 3", "    take: 4"), "line 6: key 'take' appears twice in one mapping (first on line 5)"),
        ("parts:\n  - dataset: big\n   take: [3\n", "line 3: not valid YAML"),
        (parts("  - big"), "line 4: mixture m: parts[0]: missing required field 'dataset'"),
        ("parts: []\n", "line 1: mixture m: field 'parts' must be a non-empty list"),
        ("- a\n- b\n", "line 1: mixture m: must be a mapping with 'parts'"),
        ("parts:\n  - dataset: big\nweights: 1\n", "line 3: mixture m: unknown field(s) ['weights']"),
        ("description: [x]\nparts:\n  - dataset: big\n", "line 1: mixture m: field 'description' must be text"),
    ],
)
def test_malformed_files_name_the_line(mixenv, body, expected):
    write, builder, out = mixenv
    path = write("m", body)
    text = fails(builder(), "m")
    assert text.startswith(f"{path}, {expected}"), text
    assert_nothing_built(out)


def test_empty_and_undecodable_files(mixenv):
    write, builder, out = mixenv
    path = write("m", "")
    assert fails(builder(), "m") == f"{path}: mixture m: must be a mapping with 'parts'"
    path.write_bytes(b"parts:\n  - dataset: \xff\xfebig\n")
    assert fails(builder(), "m").startswith(f"{path}: cannot be read: 'utf-8' codec can't decode byte 0xff")
    assert_nothing_built(out)


def test_project_catalog_kinds_are_checked_before_any_source_is_read(tmp_path):
    """helpsteer (preference) + lima (sft): refused from the catalog alone, no part built."""
    mixdir = tmp_path / "mixtures"
    mixdir.mkdir()
    path = mixdir / "m.yaml"
    path.write_text(parts("  - dataset: helpsteer", "  - dataset: lima"))
    builder = Builder(catalog=load_catalog(), sources=str(tmp_path / "no_mirror"), out=tmp_path / "out", mixtures=mixdir)
    with pytest.raises(CatalogError) as err:
        builder.build("m")
    assert str(err.value) == (
        f"{path}: mixture m: parts must all give one kind of rows (preference, sft or prompts), "
        "got helpsteer (preference), lima (sft)"
    )
    assert not (tmp_path / "out").exists()


def test_valid_mixture_still_builds_the_same_rows(mixenv):
    write, builder, _ = mixenv
    write("m", parts("  - dataset: big", "    take: 7", "    strict: true", "  - dataset: small", "    take: 0.5"))
    df = read_splits(builder().build("m"))["train"]
    assert df.group_by("source").len().sort("source").rows() == [("big", 7), ("small", 3)]
    assert re.fullmatch(r"[0-9a-f]+", df["id"][0]) and df["id"].n_unique() == df.height
