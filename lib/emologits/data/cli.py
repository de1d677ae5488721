"""``python -m emologits prepare``: build a manifest (utterances + ground-truth distributions).

    python -m emologits prepare --dataset iemocap --root IEMOCAP_full_release --out iemocap.parquet
    python -m emologits prepare --dataset iemocap --root labels/ --out m.parquet --labels-only
    python -m emologits prepare --dataset cremad --root CREMA-D --out cremad.parquet --emotion-set cremad6
    python -m emologits prepare --dataset synthetic --root .cache/data/synthetic_iemocap --out s.parquet
    python -m emologits prepare --dataset msp-podcast --root MSP-Podcast --out m.parquet --emotion-set msp8
    python -m emologits prepare --dataset msp-improv --root MSP-IMPROV --out m.parquet
    python -m emologits prepare --dataset ratings --root ratings.csv --label-map map.yaml --out m.parquet
    python -m emologits prepare --dataset my_pkg.my_module:SPEC --root DIR --out m.parquet --option k=v
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import yaml

from emologits.data import DATASETS, dataset_spec, prepare_with_counts, write_manifest
from emologits.emotions import DEFAULT_EMOTION_SET, get_emotion_set, shipped_emotion_sets
from emologits.errors import ConfigError


def _epilog() -> str:
    lines = ["data sets (--dataset; or your own as package.module:SPEC):"]
    for name, description in DATASETS.describe().items():
        spec = dataset_spec(name)
        lines.append(f"  {name}: {description}")
        lines.append(f"    --root: {spec.root_help}")
        lines.append(f"    emotion sets: {', '.join(spec.fillable_sets())}")
        lines.append(f"    --selection (default {spec.default_selection}):")
        lines += [f"      {rule}: {text}" for rule, text in spec.selection_rules.items()]
        options = list(spec.options_model.model_fields)
        if options:
            lines.append(f"    --option: {', '.join(options)}")
    lines.append("emotion sets (--emotion-set; or the path of a set file *.yaml): "
                 + ", ".join(shipped_emotion_sets()))
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _epilog()
    parser.add_argument("--dataset", required=True, metavar="NAME",
                        help=f"{', '.join(DATASETS.names())}, or package.module:SPEC (a DatasetSpec)")
    parser.add_argument("--root", required=True, type=Path,
                        help="the data set's folder (see below); ratings: the ratings file; synthetic: "
                             "folder to read, or to generate into when it holds no corpus")
    parser.add_argument("--out", required=True, type=Path,
                        help="manifest file to write (Parquet); missing parent folders are created")
    parser.add_argument("--labels-only", action="store_true",
                        help="build the ground truth without audio files (audio_path null when absent)")
    parser.add_argument("--emotion-set", default=DEFAULT_EMOTION_SET, metavar="NAME_OR_PATH",
                        help=f"the classes of the ground truth (default {DEFAULT_EMOTION_SET})")
    parser.add_argument("--selection", "--cremad-rule", dest="selection", default=None, metavar="RULE",
                        help="the data set's subset rule (default: its default, see below); "
                             "--cremad-rule is the former spelling for cremad")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a data set option (data.options; VALUE read as YAML), repeatable")
    parser.add_argument("--label-map", type=Path, default=None, metavar="MAP.yaml",
                        help="ratings: same as --option label_map=PATH (a YAML mapping 'corpus label: class "
                             "or null'; not needed when the labels are the set's class names)")
    parser.add_argument("--n-utterances", type=int, default=None,
                        help="same as --option n_utterances=N (synthetic: corpus size when generating, "
                             "default 240)")
    parser.add_argument("--seed", type=int, default=None,
                        help="same as --option seed=N (synthetic: generator seed, default 0)")


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


def parse_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--option KEY=VALUE`` (VALUE parsed as YAML) plus the ``--n-utterances``/``--seed`` shortcuts."""
    options: dict[str, Any] = {}
    for item in args.option:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"--option {item!r}: expected KEY=VALUE")
        try:
            options[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--option {item!r}: VALUE is not valid YAML ({exc})") from None
    options.update({k: v for k, v in (("n_utterances", args.n_utterances), ("seed", args.seed))
                    if v is not None})
    if getattr(args, "label_map", None) is not None:
        options["label_map"] = str(args.label_map.expanduser().resolve())
    return options


def main(args: argparse.Namespace) -> int:
    check_out_path(args.out)
    spec = dataset_spec(args.dataset)
    emotion_set = get_emotion_set(args.emotion_set)
    df, counts = prepare_with_counts(spec, args.root, selection=args.selection, labels_only=args.labels_only,
                                     options=parse_options(args), emotion_set=emotion_set)
    root = args.root.expanduser().resolve()
    chosen = df["selection"].iloc[0]
    print(f"{spec.name} at {root}")
    print(f"emotion set: {emotion_set.name} ({', '.join(emotion_set.names)})")
    print(f"utterances kept per {spec.rule_title}:")
    for name, n in counts.items():
        print(f"  {name:<16}{n:>7}{'  <- used' if name == chosen else ''}")
    label_counts = df["label"].value_counts(dropna=False)
    print("majority labels: " + ", ".join(f"{e} {int(label_counts.get(e, 0))}" for e in emotion_set.names)
          + f", none (tie) {int(df['label'].isna().sum())}")
    if "split" in df.columns and df["split"].notna().any():
        splits = df["split"].fillna("(none)").value_counts(sort=False)
        print("utterances per split: " + ", ".join(f"{name} {int(n)}" for name, n in sorted(splits.items())))
    else:
        print("utterances per split: no official split (split null)")
    n_missing = int(df["audio_path"].isna().sum())
    if n_missing:
        print(f"audio: {n_missing} of {len(df)} utterances without an audio file (--labels-only)")
    path = write_manifest(df, args.out, emotion_set)
    print(f"wrote {len(df)} utterances to {path.resolve()}")
    return 0
