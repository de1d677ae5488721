"""Build a run's products from a session: distribution tables (sec. 3.4) and registered artefacts.

* :func:`build_distributions` -- inference records -> the predicted-distribution tables named by
  :class:`~emologits.artifacts.DistributionKey` s, written under ``runs/<run>/distributions/``.
* :func:`distribution_keys` -- the tables a notebook writes: those its registered artefacts read,
  and for every configured prompt the text, token (all steps, both normalisations) and label
  likelihood tables.
* :func:`build_artefact` -- one registered table or figure (or ``package.module:OBJECT``): built,
  written (CSV/MD/LaTeX, PNG/PDF, with the pipeline-check stamp) and returned.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import pandas as pd

from emologits import artifacts
from emologits.artifacts import DistributionKey
from emologits.config import Config
from emologits.report.spec import ARTEFACTS, CONFIGURED, OTHER, Artefact, Built

if TYPE_CHECKING:
    from emologits.notebook import Session


def _text(session: Session, key: DistributionKey) -> pd.DataFrame:
    from emologits.extract.text import text_distributions

    records, info = session.records(key.prompt)
    emotion_set = session.emotion_set
    if info.get("emotion_set", "paper4") != emotion_set.name:
        from emologits.errors import ConfigError

        raise ConfigError(f"{session.run_dir}: the {key.prompt!r} records were made over the emotion set "
                          f"{info.get('emotion_set')!r}, the config names {emotion_set.name!r} (data.emotion_set)")
    return text_distributions(records, session.prompts[key.prompt].kind, emotion_set)


def _token(session: Session, key: DistributionKey) -> pd.DataFrame:
    from emologits.extract.token import token_distributions

    records, info = session.records(key.prompt)
    return token_distributions(records, info["tracked_ids"], info["class_token_ids"], steps=key.steps or "all",
                               normalize=key.normalize or "ratio")


def _likelihood(session: Session, key: DistributionKey) -> pd.DataFrame:
    from emologits.extract.likelihood import likelihood_distributions

    records, _ = session.records(key.prompt, "likelihood")
    return likelihood_distributions(records)


#: Distribution method (sec. 3.4.1 text, 3.4.2 token, label likelihood) -> its extraction.
EXTRACTORS: dict[str, Callable[[Session, DistributionKey], pd.DataFrame]] = {
    "text": _text, "token": _token, "likelihood": _likelihood}

#: The tables every configured prompt gets (``{prompt}`` is filled per prompt).
PER_PROMPT: tuple[DistributionKey, ...] = (
    DistributionKey("text", "{prompt}"),
    DistributionKey("token", "{prompt}", "all", CONFIGURED),
    DistributionKey("token", "{prompt}", "all", OTHER),
    DistributionKey("likelihood", "{prompt}"),
)


def distribution_keys(session: Session, notebook: str) -> list[DistributionKey]:
    """The distribution tables ``notebook`` writes (see the module doc), in a stable order."""
    keys = [session.key(DistributionKey(k.method, p, k.steps, k.normalize))
            for p in session.cfg.prompts["ids"] for k in PER_PROMPT]
    for name in ARTEFACTS:
        keys += ARTEFACTS.get(name).inputs(session)
    prompts = set(session.cfg.prompts["ids"])
    return list(dict.fromkeys(k for k in keys if k.producing_notebook == notebook and session.configured(k)
                              and k.prompt in prompts))


def build_distributions(session: Session, keys: DistributionKey | Iterable[DistributionKey]) -> pd.DataFrame:
    """Extract and write each table; returns one summary row per table (name, utterances, valid)."""
    keys = [keys] if isinstance(keys, DistributionKey) else list(keys)
    rows = []
    for key in keys:
        key = session.key(key)
        table = EXTRACTORS[key.method](session, key)
        path = artifacts.write_distributions(session.cfg, key.name, table)
        rows.append({"table": key.name, "utterances": len(table), "valid": int(table["valid"].sum()),
                     "file": str(path)})
    return pd.DataFrame(rows, columns=["table", "utterances", "valid", "file"])


def get_artefact(name: str | Artefact) -> Artefact:
    """A registered artefact spec, ``package.module:OBJECT``, or the spec itself."""
    return ARTEFACTS.get(name) if isinstance(name, str) else name


def build_artefact(name: str | Artefact, session: Session | Config) -> Built:
    """Build, write and return one artefact (a registered name such as ``"table1"``,
    ``package.module:OBJECT`` or a spec) for a session or a loaded config."""
    if isinstance(session, Config):
        from emologits.notebook import Session

        session = Session.from_config(session)
    return get_artefact(name).build(session)


__all__ = ["EXTRACTORS", "PER_PROMPT", "build_artefact", "build_distributions", "distribution_keys", "get_artefact"]
