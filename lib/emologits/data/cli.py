"""``python -m emologits prepare``: build a manifest (utterances + ground-truth distributions).

    python -m emologits prepare --dataset iemocap --root IEMOCAP_full_release --out iemocap.parquet
    python -m emologits prepare --dataset iemocap --root labels/ --out m.parquet --labels-only
    python -m emologits prepare --dataset cremad --root CREMA-D --out cremad.parquet [--cremad-rule R]
    python -m emologits prepare --dataset synthetic --root .cache/data/synthetic_iemocap --out s.parquet
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from emologits.data import DATASETS, prepare_with_counts, write_manifest
from emologits.data.cremad import CREMAD_RULES, DEFAULT_CREMAD_RULE
from emologits.data.iemocap import DEFAULT_SELECTION, SELECTION_RULES
from emologits.emotions import EMOTIONS
from emologits.errors import ConfigError, DataError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = ("IEMOCAP/synthetic selection rules:\n"
                     + "".join(f"  {k}: {v}\n" for k, v in SELECTION_RULES.items())
                     + "CREMA-D rules:\n" + "".join(f"  {k}: {v}\n" for k, v in CREMAD_RULES.items()))
    parser.add_argument("--dataset", required=True, choices=DATASETS)
    parser.add_argument("--root", required=True, type=Path,
                        help="IEMOCAP_full_release folder; CREMA-D folder holding tabulatedVotes.csv; "
                             "synthetic: folder to read, or to generate into when it holds no corpus")
    parser.add_argument("--out", required=True, type=Path,
                        help="manifest file to write (Parquet); missing parent folders are created")
    parser.add_argument("--labels-only", action="store_true",
                        help="build the ground truth without audio files (audio_path null when absent)")
    parser.add_argument("--selection", choices=list(SELECTION_RULES), default=None,
                        help=f"IEMOCAP/synthetic subset rule (default {DEFAULT_SELECTION})")
    parser.add_argument("--cremad-rule", choices=list(CREMAD_RULES), default=None,
                        help=f"CREMA-D rule for disgust/fear votes (default {DEFAULT_CREMAD_RULE})")
    parser.add_argument("--n-utterances", type=int, default=None,
                        help="synthetic: corpus size when generating (default 240)")
    parser.add_argument("--seed", type=int, default=None, help="synthetic: generator seed (default 0)")


def check_out_path(out: Path) -> None:
    """Refuse, before any work, an ``--out`` that cannot become a file: an existing folder, a parent
    path through a file, or a folder we may not write into. Missing parent folders are fine (created)."""
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder: give the manifest file to write, "
                          f"e.g. --out {out / 'manifest.parquet'}")
    parent = out.parent.resolve()
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"--out {out}: {parent} is a file, not a folder; choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out}: no permission to write into {parent}; choose another path")


def main(args: argparse.Namespace) -> int:
    dataset = args.dataset
    check_out_path(args.out)
    if dataset == "cremad" and args.selection is not None:
        raise DataError("--selection applies to iemocap/synthetic; use --cremad-rule for cremad")
    if dataset != "cremad" and args.cremad_rule is not None:
        raise DataError("--cremad-rule applies to --dataset cremad only")
    if dataset != "synthetic" and (args.n_utterances is not None or args.seed is not None):
        raise DataError("--n-utterances/--seed apply to --dataset synthetic only")
    options = {}
    if dataset == "synthetic":
        options = {k: v for k, v in (("n_utterances", args.n_utterances), ("seed", args.seed))
                   if v is not None}
    selection = args.cremad_rule if dataset == "cremad" else args.selection
    df, counts = prepare_with_counts(dataset, args.root, selection=selection,
                                     labels_only=args.labels_only, options=options)
    root = args.root.expanduser().resolve()
    chosen = df["selection"].iloc[0]
    title = "CREMA-D rule" if dataset == "cremad" else "selection rule"
    print(f"{dataset} at {root}")
    print(f"utterances kept per {title}:")
    for name, n in counts.items():
        print(f"  {name:<16}{n:>7}{'  <- used' if name == chosen else ''}")
    label_counts = df["label"].value_counts(dropna=False)
    print("majority labels: " + ", ".join(f"{e} {int(label_counts.get(e, 0))}" for e in EMOTIONS)
          + f", none (tie) {int(df['label'].isna().sum())}")
    n_missing = int(df["audio_path"].isna().sum())
    if n_missing:
        print(f"audio: {n_missing} of {len(df)} utterances without an audio file (--labels-only)")
    path = write_manifest(df, args.out)
    print(f"wrote {len(df)} utterances to {path.resolve()}")
    return 0
