"""``hiertrans transcribe`` / ``hiertrans evaluate`` / ``hiertrans train`` (LightningCLI)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

AUDIO_EXT = {".wav", ".flac", ".mp3", ".ogg", ".aiff", ".aif", ".m4a"}


def _model(args):
    from hiertrans.weights import load_model

    model = load_model(args.ckpt)
    if args.encoder and model.cfg.encoder.name != args.encoder:
        raise SystemExit(f"error: checkpoint {args.ckpt or 'shipped'} has a {model.cfg.encoder.name} encoder, "
                         f"not {args.encoder}; pass --ckpt for a {args.encoder} checkpoint")
    return model


def _audio_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXT)
    if not path.exists():
        raise SystemExit(f"error: {path} does not exist")
    return [path]


def cmd_transcribe(args) -> int:
    import torch

    from hiertrans.transcribe import transcribe_file, write_notes_midi

    torch.set_num_threads(args.threads)
    src, out = Path(args.input), Path(args.output)
    files = _audio_files(src)
    if not files:
        raise SystemExit(f"error: no audio files ({', '.join(sorted(AUDIO_EXT))}) in {src}")
    model = _model(args)
    failed = []
    for f in files:
        dst = out if (len(files) == 1 and not src.is_dir()) else out / f.relative_to(src).with_suffix(".mid")
        try:
            notes = transcribe_file(model, f, decoder=args.decoder, progress=not args.quiet)
        except (ValueError, OSError) as err:  # AudioError is a ValueError
            failed.append((f, str(err)))
            print(f"skipped: {err}", file=sys.stderr)  # the error names the file
            continue
        write_notes_midi(notes, dst)
        if not args.quiet:
            print(f"{f} -> {dst} ({len(notes['pitch'])} notes)")
    if failed:
        print(f"{len(failed)} of {len(files)} file(s) failed:", file=sys.stderr)
        for _, why in failed:
            print(f"  {why}", file=sys.stderr)
    return 1 if len(failed) == len(files) or (failed and args.strict) else 0


def cmd_evaluate(args) -> int:
    from hiertrans.evaluate import evaluate_files, format_table, pianoroll_png, summary, write_csv

    audio = _audio_files(Path(args.audio))
    midi_dir = Path(args.reference)
    pairs = []
    for a in audio:
        cands = [midi_dir / a.with_suffix(s).name for s in (".mid", ".midi")] if midi_dir.is_dir() else [midi_dir]
        ref = next((c for c in cands if c.is_file()), None)
        if ref is None:
            print(f"skipped {a}: no reference MIDI {a.stem}.mid in {midi_dir}", file=sys.stderr)
            continue
        pairs.append((a, ref))
    model = _model(args)
    rows, failed = evaluate_files(pairs, model, args.decoder)
    for f, why in failed:
        print(f"skipped {f}: {why}", file=sys.stderr)
    unmatched = len(audio) - len(pairs)
    if args.csv:
        write_csv(rows, args.csv)
    print(format_table({f"{model.cfg.encoder.name}+{args.decoder}": summary(rows)}))
    if args.png and pairs:
        from hiertrans.data import midi_notes
        from hiertrans.transcribe import transcribe_file

        a, ref = pairs[0]
        pianoroll_png(midi_notes(ref), transcribe_file(model, a, decoder=args.decoder), args.png)
        print(f"pianoroll comparison of {a.name}: {args.png}")
    return 1 if not rows or ((failed or unmatched) and args.strict) else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["train"]:
        from hiertrans.train import main as train_main

        train_main(argv[1:])
        return 0
    ap = argparse.ArgumentParser(prog="hiertrans", description="Piano transcription (roll encoders + note LMs)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--ckpt", help="safetensors checkpoint (default: the shipped small CRNN)")
    common.add_argument("--encoder", choices=["crnn", "hppnet"], help="check the checkpoint has this encoder")
    common.add_argument("--decoder", choices=["roll", "hier", "flat"], default="roll")
    common.add_argument("--threads", type=int, default=2)
    common.add_argument("--strict", action="store_true",
                        help="exit 1 if any file was skipped (by default only when nothing could be done)")
    t = sub.add_parser("transcribe", parents=[common], help="audio file or folder -> MIDI")
    t.add_argument("input")
    t.add_argument("-o", "--output", required=True, help="output .mid (file input) or folder (folder input)")
    t.add_argument("-q", "--quiet", action="store_true")
    e = sub.add_parser("evaluate", parents=[common], help="score transcriptions of audio against reference MIDI")
    e.add_argument("audio", help="audio file or folder")
    e.add_argument("reference", help="reference MIDI file or folder (matched by file stem)")
    e.add_argument("--csv", help="per-file scores")
    e.add_argument("--png", help="pianoroll comparison of the first file")
    sub.add_parser("train", help="LightningCLI: hiertrans train fit --config configs/hiertrans/tiny.yaml")
    args = ap.parse_args(argv)
    return {"transcribe": cmd_transcribe, "evaluate": cmd_evaluate}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
