"""Weights given as a Hugging Face hub id: fail within seconds when they cannot be had.

Without a network, ``from_pretrained`` on a hub id retries for minutes before it gives up.
:func:`check_hub_reachable` runs first: a local path passes; under ``HF_HUB_OFFLINE`` (or
``TRANSFORMERS_OFFLINE``, as huggingface_hub reads them) only the local hub cache counts; otherwise
one short request to the hub endpoint (:data:`PROBE_TIMEOUT_S`) tells whether the hub answers.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from emologits.errors import ConfigError

#: Seconds the endpoint probe waits for an answer (DNS included).
PROBE_TIMEOUT_S = 3.0

_TRUE = {"1", "ON", "YES", "TRUE"}  # huggingface_hub's truthy values for its boolean variables


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` (else ``TRANSFORMERS_OFFLINE``) is truthy now, as huggingface_hub reads them."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
    return value is not None and value.upper() in _TRUE


def hub_cache_dir() -> Path:
    """The hub cache that ``from_pretrained`` reads (``HF_HUB_CACHE``, ``HF_HOME``/hub, ...)."""
    from huggingface_hub import constants
    return Path(constants.HF_HUB_CACHE)


def hub_endpoint() -> str:
    """The hub's address (``HF_ENDPOINT``, default https://huggingface.co)."""
    from huggingface_hub import constants
    return constants.ENDPOINT


def in_hub_cache(repo_id: str, revision: str | None = None, cache_dir: str | os.PathLike | None = None) -> bool:
    """The cache holds a snapshot of ``repo_id`` at ``revision`` (its ``config.json``)."""
    from huggingface_hub import try_to_load_from_cache
    found = try_to_load_from_cache(repo_id, "config.json", cache_dir=cache_dir, revision=revision)
    return isinstance(found, str)


def probe_endpoint(endpoint: str | None = None, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when the hub endpoint answers one HEAD request (any HTTP status) within ``timeout``
    seconds, else why not. Uses huggingface_hub's own HTTP session (its proxies and certificates);
    a daemon thread bounds the wait, DNS included."""
    from huggingface_hub.utils import get_session
    url = endpoint or hub_endpoint()
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            get_session().head(url, timeout=timeout)
            outcome.append(None)
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            outcome.append(f"{type(exc).__name__}: {exc}")

    worker = threading.Thread(target=probe, name="emologits-hub-probe", daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    return outcome[0] if outcome else f"no answer within {timeout:g} s"


def check_hub_reachable(name_or_path: str, revision: str | None = None, *,
                        cache_dir: str | os.PathLike | None = None) -> None:
    """Raise ConfigError at once when ``name_or_path`` is a hub id whose weights cannot be had:
    offline (``HF_HUB_OFFLINE``) and not in the hub cache, or the hub endpoint does not answer.
    A local path, a cached model under offline mode, or a reachable hub pass silently."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if Path(name_or_path).expanduser().exists():
        return
    try:
        validate_repo_id(name_or_path)
    except HFValidationError:
        raise ConfigError(f"model.name_or_path {name_or_path!r}: cannot load: no such local folder, and not a hub id "
                          "(like Qwen/Qwen2-Audio-7B-Instruct)") from None
    cache = Path(cache_dir) if cache_dir is not None else hub_cache_dir()
    what = f"model {name_or_path!r}" + (f" (revision {revision!r})" if revision else "")
    cached = in_hub_cache(name_or_path, revision, cache)
    if hub_offline():
        if not cached:
            var = "HF_HUB_OFFLINE" if os.environ.get("HF_HUB_OFFLINE") else "TRANSFORMERS_OFFLINE"
            raise ConfigError(f"offline: {what} is not a local folder and not in the Hugging Face cache ({cache}), "
                              f"and {var} is set: put the weights at a local path (model.name_or_path) "
                              "or set HF_HUB_OFFLINE=0")
        return
    endpoint = hub_endpoint()
    failure = probe_endpoint(endpoint)
    if failure is None:
        return
    if cached:
        raise ConfigError(f"offline: cannot reach {endpoint} ({failure}); {what} is in the Hugging Face cache "
                          f"({cache}): set HF_HUB_OFFLINE=1 to load it from there, or put the weights at a local "
                          "path (model.name_or_path)")
    raise ConfigError(f"offline: cannot reach {endpoint} ({failure}) and {what} is not in the Hugging Face "
                      f"cache ({cache}): put the weights at a local path (model.name_or_path), or run where "
                      "the hub is reachable")
