"""``python -m hiertrans.ship EXPORT.safetensors``: pick roll thresholds on tuning pieces, fit the note filter
(``hiertrans.notefilter``) when it beats them on pieces it was not fitted to, and write the shipped checkpoint (the
thresholds travel in its metadata and the filter in its tensors, so `transcribe` uses both by default).

Tuning pieces are held-out pieces (never trained on) that no benchmark uses — numbers ``TUNE_FIRST`` onwards of each
source's held-out split (the first ones are the validation and benchmark pieces) — rendered with the *training*
soundfonts, so the benchmarks' pieces and their unseen soundfont stay clean. Unseen pieces matter: thresholds tuned
on training pieces come out too high, because the network is more confident on music it has fitted (session 6:
onset 0.8 on training pieces vs 0.75 on unseen ones, held-out note F1 0.468 vs 0.500).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict, replace

import numpy as np
import torch

from hiertrans.data import render_many
from hiertrans.metrics import frame_scores, note_scores
from hiertrans.model import Transcriber
from hiertrans.notefilter import candidate_features, fit, label_candidates
from hiertrans.postprocess import RollThresholds, _peaks, rolls_to_notes
from hiertrans.sources import source_files
from hiertrans.transcribe import prepare, roll_probabilities
from hiertrans.weights import SHIPPED, load_model, save_model

TUNE_FIRST = 3
"""Held-out pieces 0..TUNE_FIRST-1 of each source are the training-time validation and benchmark pieces."""
SOURCES = ("pop909", "asap", "cpm")
SOUNDFONTS = ("TimGM6mb.sf2", "MuseScore_General.sf3", "sf_GMbank.sf2")
OFFSET_OFF = 1.1
"""An offset threshold above 1: offset peaks never end a note, the frame roll alone does."""
OTHER_PIANOS = (1, 2, 3)
"""GM bright, electric and honky-tonk pianos: with them the encoder's note F1 on the tuning pieces drops about as
much as on the unseen soundfont (run 7: 0.83/0.73/0.81 vs 0.85 with TimGM6mb's grand; FluidR3 0.72)."""
TIMBRES_PER_PIECE = 2
CANDIDATE = 0.4
"""Onset peaks at least this high go to the note filter (session 8: nearly all misses peak at 0.4-0.8)."""
TAU_GRID = tuple(np.round(np.arange(0.3, 0.76, 0.05), 2).tolist())
OFFSET_GRID = (0.5, 0.7, 0.9, OFFSET_OFF)
FRAME_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


def with_note_filter(model, f) -> Transcriber:
    """The same weights in a model whose config carries the note filter (so it is saved and loaded with them)."""
    out = Transcriber(replace(model.cfg, note_filter=True))
    out.load_state_dict({**model.state_dict(), **{f"note_filter.{k}": v for k, v in f.state_dict().items()}})
    out.extra = dict(getattr(model, "extra", {}))
    return out.eval()


def tuning_set(model, per_source: int, seconds: float) -> list[tuple[dict, dict]]:
    """(probability rolls, reference notes) for the tuning excerpts; the network runs once per excerpt.

    Each piece comes twice, consecutively: as trained (acoustic grand of a training soundfont) and as one of that
    soundfont's other GM pianos (``OTHER_PIANOS``), a timbre the encoder never heard — the shift that the
    benchmark's unseen soundfont also makes, without touching it."""
    files = [f for src in SOURCES for f in source_files([src], "test", TUNE_FIRST + per_source)[TUNE_FIRST:]]
    data = []
    for j, f in enumerate(files):
        sf = SOUNDFONTS[j % len(SOUNDFONTS)]
        for program in (0, OTHER_PIANOS[(j // len(SOUNDFONTS)) % len(OTHER_PIANOS)]):
            for p in render_many([f], sf, program=program)[0]:
                audio, ref = p.excerpt(seconds)
                data.append((roll_probabilities(model, prepare(audio, p.name)), ref))
    if not data:
        raise RuntimeError("no tuning piece could be rendered (check $SYMPHONIA_DATA and fluidsynth)")
    return data


def mean_score(data, fps: float, th: RollThresholds, key: str, note_filter=None) -> float:
    scores = []
    for r, ref in data:
        est = rolls_to_notes(r["reg_onset"], r["reg_offset"], r["frame"], r["velocity"], fps, th, note_filter)
        scores.append((frame_scores if key.startswith("frame") else note_scores)(ref, est)[key])
    return float(np.mean(scores))


def tune(data, fps: float, onset_grid, offset_grid, frame_grid,
         harmonic_grid=(0.0,)) -> tuple[RollThresholds, dict[str, float]]:
    """Two stages: the onset and harmonic thresholds, searched jointly, decide which notes exist (note F1 ignores
    ends), then offset and frame thresholds, searched jointly, decide where they end (note+offset F1)."""
    f1, on, hm = max(((mean_score(data, fps, RollThresholds(t, OFFSET_OFF, 0.3, harmonic=h), "note_f1"), t, h)
                      for t in onset_grid for h in harmonic_grid), key=lambda c: (c[0], c[1], -c[2]))
    # ^ on a tie the harmonic suppression stays off (lowest value): it only runs when it pays
    th, scores = tune_ends(data, fps, RollThresholds(on, OFFSET_OFF, 0.3, harmonic=hm), offset_grid, frame_grid)
    return th, {"note_f1": f1, **scores}


def tune_ends(data, fps: float, th: RollThresholds, offset_grid, frame_grid,
              note_filter=None) -> tuple[RollThresholds, dict[str, float]]:
    """Offset and frame thresholds, searched jointly for note+offset F1, with the onsets ``th`` already picks."""
    cands = [replace(th, offset=o, frame=fr) for o in offset_grid for fr in frame_grid]
    off_f1, best = max(((mean_score(data, fps, c, "note_offset_f1", note_filter), i) for i, c in enumerate(cands)))
    th = cands[best]
    return th, {"note_offset_f1": off_f1, "frame_f1": mean_score(data, fps, th, "frame_f1", note_filter)}


def filter_examples(data, fps: float, candidate: float) -> tuple[np.ndarray, np.ndarray]:
    """Features and matched/unmatched labels of every candidate onset peak in the tuning excerpts."""
    xs, ys = [], []
    for r, ref in data:
        on = np.asarray(r["reg_onset"], np.float32)
        t, k = np.nonzero(_peaks(on, candidate))
        xs.append(candidate_features(on, r["frame"], r["velocity"], t, k))
        ys.append(label_candidates(on, t, k, ref, fps))
    return np.concatenate(xs), np.concatenate(ys)


def fit_note_filter(data, fps: float, th: RollThresholds, tau_grid=TAU_GRID, candidate: float = CANDIDATE,
                    folds: int = 2, group: int = 1):
    """Fit the note filter and its keep-threshold; worth it only if it beats ``th`` on pieces it was not fitted to.

    Pieces are split into ``folds`` (by position, so every source is in every fold; ``group`` consecutive excerpts
    are one piece's renderings and stay in one fold); each fold's filter and
    threshold come from the other pieces and are scored on that fold with the full roll decoding. Returns
    (filter fitted on all pieces, its threshold, cross-validated note F1, note F1 of ``th`` alone); the filter is
    None when the cross-validated F1 is not higher.
    """
    examples = [filter_examples([d], fps, candidate) for d in data]  # once per excerpt, reused by every fit

    def fit_on(idx):
        f = fit(np.concatenate([examples[j][0] for j in idx]), np.concatenate([examples[j][1] for j in idx]))
        pieces = [data[j] for j in idx]
        tau = max(tau_grid, key=lambda u: (mean_score(pieces, fps, replace(th, filter=u, candidate=candidate),
                                                      "note_f1", f), -u))
        return f, tau

    held_scores = []
    for i in range(folds):
        f, tau = fit_on([j for j in range(len(data)) if j // group % folds != i])
        held = [d for j, d in enumerate(data) if j // group % folds == i]
        held_scores += [mean_score([d], fps, replace(th, filter=tau, candidate=candidate), "note_f1", f) for d in held]
    cv, base = float(np.mean(held_scores)), mean_score(data, fps, th, "note_f1")
    f, tau = fit_on(range(len(data)))
    return (f if cv > base else None), tau, cv, base


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("export")
    ap.add_argument("-o", "--output", default=str(SHIPPED))
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--per-source", type=int, default=12, help="tuning pieces per source")
    ap.add_argument("--no-note-filter", action="store_true", help="thresholds only, no learned note filter")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 2)))
    model = load_model(args.export)
    data = tuning_set(model, args.per_source, args.seconds)
    th, scores = tune(data, model.fps, onset_grid=np.round(np.arange(0.4, 0.91, 0.05), 2).tolist(),
                      offset_grid=OFFSET_GRID, frame_grid=FRAME_GRID,
                      harmonic_grid=(0.0, 0.8, 0.85, 0.9, 0.95))
    if not args.no_note_filter:
        f, tau, cv, base = fit_note_filter(data, model.fps, th, group=TIMBRES_PER_PIECE)
        print(f"note filter: cross-validated note F1 {cv:.3f} vs {base:.3f} with thresholds alone"
              + ("" if f is not None else " -> not used"))
        if f is not None:
            model = with_note_filter(model, f)
            th = replace(th, filter=tau, candidate=CANDIDATE)
            th, ends = tune_ends(data, model.fps, th, OFFSET_GRID, FRAME_GRID, model.note_filter)
            scores = {"note_f1": mean_score(data, model.fps, th, "note_f1", model.note_filter),
                      "note_filter_cv_f1": cv, **ends}
    print(f"thresholds {th}: tuning-set note F1 {scores['note_f1']:.3f}, note+offset F1 "
          f"{scores['note_offset_f1']:.3f}, frame F1 {scores['frame_f1']:.3f} ({len(data)} excerpts)")
    extra = {k: v for k, v in model.extra.items() if not k.startswith("tuned_")}
    extra.update(thresholds=asdict(th), tuned_on=f"held-out pieces {TUNE_FIRST}..{TUNE_FIRST + args.per_source - 1} "
                 f"per source, first {args.seconds:g} s, training soundfonts, GM programs 0 and 1-3",
                 **{f"tuned_{k}": round(v, 4) for k, v in scores.items()})
    save_model(model, model.cfg, args.output, extra)
    print(f"wrote {args.output} with {extra}")


if __name__ == "__main__":
    main()
