"""`aria` command line: fit (LightningCLI), generate, embed, convert, export."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _device(name: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


def _load(ckpt: str, device: str):
    from aria.weights import load_checkpoint

    return load_checkpoint(ckpt).to(_device(device)).eval()


def cmd_generate(a) -> int:
    from aria.data import get_tokenizer
    from aria.generate import continue_midi
    from aria.sample import SamplingConfig

    if not Path(a.prompt).is_file():
        raise SystemExit(f"error: prompt file {a.prompt} does not exist")
    model = _load(a.ckpt, a.device)
    sampling = SamplingConfig(temperature=a.temperature, top_p=a.top_p, min_p=None if a.top_p else a.min_p,
                              force_end=a.force_end)
    try:
        paths = continue_midi(model, get_tokenizer(), a.prompt, a.out, prompt_seconds=a.prompt_seconds,
                              length=a.length, variations=a.variations, sampling=sampling, seed=a.seed)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    for p in paths:
        print(f"wrote {p} and {p.with_suffix('.png')}")
    return 0


def cmd_embed(a) -> int:
    import numpy as np
    from symcore.atomic import atomic_path, atomic_write

    from aria.data import expand_files, get_tokenizer
    from aria.embed import embed_files

    try:
        files = expand_files(a.inputs)
    except FileNotFoundError as err:
        raise SystemExit(f"error: {err}") from None
    model = _load(a.ckpt, a.device)
    if model.emb_head is None:
        raise SystemExit(f"error: {a.ckpt} has no embedding head (train with task=contrastive or load an EMB model)")
    embs, kept, failed = embed_files(model, get_tokenizer(), files, a.notes_per_slice, a.max_len)
    for path, reason in failed:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if failed and (a.strict or not kept):  # nothing embedded is a failure even without --strict
        raise SystemExit(f"error: {len(failed)} of {len(files)} files could not be embedded"
                         + (" (--strict)" if a.strict else ""))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        np.save(fh, embs)
    index = atomic_write(out.with_suffix(".index.txt"), "".join(f"{p}\n" for p in kept))
    print(f"wrote {embs.shape[0]} x {embs.shape[1]} embeddings to {out}, rows listed in {index}"
          + (f"; skipped {len(failed)} files" if failed else ""))
    return 0


def cmd_convert(a) -> int:
    from aria.weights import load_checkpoint, load_weights, save_checkpoint, save_weights, to_official

    if a.to == "official":
        model = load_checkpoint(a.src)
        save_weights(to_official(model.state_dict()), a.dst)
    else:
        from aria.weights import from_official, infer_config

        model = load_checkpoint(a.src, config=infer_config(from_official(load_weights(a.src)), n_heads=a.n_heads))
        save_checkpoint(model, a.dst)
    print(f"wrote {a.dst}")
    return 0


def cmd_export(a) -> int:
    from aria.weights import load_checkpoint, save_checkpoint

    save_checkpoint(load_checkpoint(a.src), a.dst)
    print(f"wrote {a.dst}")
    return 0


def fit_cli(args: list[str] | None = None):
    from lightning.pytorch.cli import LightningCLI

    from aria.data import AriaDataModule
    from aria.module import AriaModule

    return LightningCLI(AriaModule, AriaDataModule, args=args, save_config_kwargs={"overwrite": True})


def main(argv: list[str] | None = None) -> int:
    if (sys.argv[1:] if argv is None else argv)[:1] in (["fit"], ["validate"], ["test"]):
        fit_cli(argv)  # None: LightningCLI reads sys.argv itself
        return 0
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="aria", description=__doc__ + " (`aria fit --help` for training)")
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="continue the first seconds of a MIDI file")
    g.add_argument("--ckpt", required=True)
    g.add_argument("--prompt", required=True, help="MIDI file whose opening is the prompt")
    g.add_argument("--prompt-seconds", type=float, default=15.0)
    g.add_argument("--length", type=int, default=2048, help="new tokens per variation")
    g.add_argument("--variations", type=int, default=4)
    g.add_argument("--temperature", type=float, default=0.98)
    g.add_argument("--min-p", type=float, default=0.035)
    g.add_argument("--top-p", type=float, default=None, help="use nucleus sampling instead of min-p")
    g.add_argument("--force-end", action="store_true", help="insert <D> near the end so pieces wrap up")
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--device", default="auto")
    g.add_argument("-o", "--out", required=True, help="output folder")
    g.set_defaults(fn=cmd_generate)
    e = sub.add_parser("embed", help="global embeddings of MIDI files (mean of slice embeddings)")
    e.add_argument("--ckpt", required=True)
    e.add_argument("inputs", nargs="+", help="MIDI files or folders")
    e.add_argument("-o", "--out", required=True, help=".npy output; rows listed in <out>.index.txt")
    e.add_argument("--notes-per-slice", type=int, default=300)
    e.add_argument("--max-len", type=int, default=2048)
    e.add_argument("--strict", action="store_true", help="fail if any file cannot be embedded")
    e.add_argument("--device", default="auto")
    e.set_defaults(fn=cmd_embed)
    c = sub.add_parser("convert", help="EleutherAI/aria checkpoint <-> ours (safetensors)")
    c.add_argument("src")
    c.add_argument("dst")
    c.add_argument("--to", choices=["ours", "official"], default="ours")
    c.add_argument("--n-heads", type=int, default=None, help="heads of an official model (default d_model // 64)")
    c.set_defaults(fn=cmd_convert)
    x = sub.add_parser("export", help="Lightning .ckpt -> our safetensors (config embedded)")
    x.add_argument("src")
    x.add_argument("dst")
    x.set_defaults(fn=cmd_export)
    a = p.parse_args(argv)
    return a.fn(a)


if __name__ == "__main__":
    raise SystemExit(main())
