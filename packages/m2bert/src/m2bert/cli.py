"""`m2bert pretrain|finetune [fit|validate|test] --config X.yaml [--overrides]` (LightningCLI) and `m2bert export`.

Resuming: `m2bert pretrain --config X.yaml --ckpt_path last` (the configs keep a `last.ckpt`).
"""

from __future__ import annotations

import sys

SUBCOMMANDS = ("fit", "validate", "test", "predict")


def _lightning_cli(model_class, datamodule_class, args, subclass_data: bool):
    from lightning.pytorch.cli import LightningCLI

    if not args or args[0] not in SUBCOMMANDS:
        args = ["fit", *args]
    return LightningCLI(model_class, datamodule_class, args=args, subclass_mode_data=subclass_data,
                        save_config_kwargs={"overwrite": True})


def export(argv: list[str]) -> None:
    """Write the encoder of a Lightning checkpoint as safetensors (+ config metadata) for fine-tuning/smcbench."""
    import argparse

    from m2bert.export import export_checkpoint

    ap = argparse.ArgumentParser(prog="m2bert export")
    ap.add_argument("ckpt")
    ap.add_argument("out")
    a = ap.parse_args(argv)
    try:
        print(f"wrote {export_checkpoint(a.ckpt, a.out)}")
    except ValueError as err:
        raise SystemExit(str(err)) from None


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return
    cmd, rest = argv[0], argv[1:]
    if cmd == "pretrain":
        from m2bert.data import CPDataModule
        from m2bert.module import M2BertPretrainModule

        _lightning_cli(M2BertPretrainModule, CPDataModule, rest, subclass_data=False)
    elif cmd == "finetune":
        import lightning as L

        from m2bert.module import M2BertFinetuneModule

        _lightning_cli(M2BertFinetuneModule, L.LightningDataModule, rest, subclass_data=True)
    elif cmd == "export":
        export(rest)
    else:
        raise SystemExit(f"unknown command {cmd!r}: use pretrain, finetune or export")


if __name__ == "__main__":
    main()
