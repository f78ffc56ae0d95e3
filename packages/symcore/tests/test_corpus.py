"""The embedded music21 corpus: conversion, metadata, cache reuse, resume, failures, concurrent builders."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version

import numpy as np
from symcore.corpus import DEFAULT_COMPOSERS, FORMAT, build_corpus, list_sources
from symcore.notes import load_notes

BUILD = ("import json, sys; from symcore.corpus import build_corpus; c = build_corpus(limit=2, cache_dir=sys.argv[1]);"
         "print(json.dumps({'files': [str(f) for f in c.files], 'converted': c.converted}))")


def test_fixture_files_are_real_chorales(m21_midis):
    assert len(m21_midis) == 12
    for path in m21_midis:
        notes = load_notes(path)
        assert len(notes) > 50 and len(np.unique(notes.track)) >= 4  # SATB at least
        assert 30 <= notes.pitch.min() and notes.pitch.max() <= 90


def test_source_order_chorales_first():
    src = list_sources()
    assert src[0].startswith("bach/bwv") and len(src) > 450
    assert len(src) == len(set(src)) and not any(s.endswith((".rntxt", ".abc")) for s in src)
    assert "beethoven/opus18no1/movement1.mxl" in src and "beethoven/opus18no1/movement1.krn" not in src
    assert src.index("bach/bwv846.mxl") > src.index("bach/bwv438.mxl")  # the WTC prelude after the chorales


def test_concurrent_build_then_reuse_and_resume(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", BUILD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0]["files"] == outs[1]["files"] and len(outs[0]["files"]) == 2
    assert sum(o["converted"] for o in outs) == 2  # per-file locks: each file converted exactly once
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))

    again = build_corpus(limit=2, cache_dir=tmp_path)
    assert again.converted == 0 and [str(f) for f in again.files] == outs[0]["files"]
    meta = again.metadata[0]
    assert meta["composer"] == "bach" and meta["chorale"] and meta["source"].startswith("bach/")
    assert meta["key"].split()[1] in ("major", "minor") and meta["parts"] >= 4 and meta["file"] == again.files[0].name
    index = json.loads((tmp_path / "index.json").read_text())
    assert set(index["entries"]) == {m["source"] for m in again.metadata}

    again.files[1].unlink()  # an interrupted/damaged cache: only the missing file is redone
    resumed = build_corpus(limit=2, cache_dir=tmp_path)
    assert resumed.converted == 1 and all(f.is_file() for f in resumed.files)


def test_failed_source_is_reported_and_skipped(tmp_path):
    lists = {",".join(DEFAULT_COMPOSERS): ["bach/no_such_chorale.mxl", "bach/bwv1.6.mxl"]}
    (tmp_path / "sources.json").write_text(json.dumps({"format": FORMAT, "music21": version("music21"), "lists": lists}))
    c = build_corpus(limit=1, cache_dir=tmp_path)
    assert [f.name for f in c.files] == ["bach__bwv1.6.mid"] and c.converted == 2
    assert len(c.failed) == 1 and c.failed[0][0] == "bach/no_such_chorale.mxl" and c.failed[0][1]
    c2 = build_corpus(limit=1, cache_dir=tmp_path)
    assert c2.converted == 0 and c2.failed == c.failed  # failures are remembered, not retried


def test_score_to_notes_matches_music21_writer(tmp_path):
    """Our converter gives the notes music21's own MIDI writer gives (pitch, onset, duration in quarters)."""
    from music21 import corpus
    from symcore.corpus import score_to_notes

    for rel in ("bach/bwv10.7.mxl", "bach/bwv1.6.mxl"):
        score = corpus.parse(rel).expandRepeats()
        score.write("midi", fp=str(tmp_path / "ref.mid"))
        ref, ours = load_notes(tmp_path / "ref.mid"), score_to_notes(score)

        def rows(n):
            return sorted(zip(n.onset_quarter.round(4), n.duration_quarter.round(4), n.pitch.tolist()))

        assert len(ours) > 150 and rows(ours) == rows(ref)
        np.testing.assert_allclose(ours.offset_sec.max(), ref.offset_sec.max(), rtol=1e-3)
