"""``hf-audio``: one back-end for the audio LLMs in transformers (paper sec. 3.2, Fig. 2).

Loading: ``AutoProcessor`` plus the model class the checkpoint's ``config.architectures`` names,
falling back through the auto classes that load audio LLMs (:attr:`HfAudioBackend.auto_classes`).
Inputs: the processor's chat template with one audio content item before the prompt; the text is
padded on the left (checked), and padding options reach the tokenizer only (``text_kwargs``):
a flat ``padding=True`` would also reach the feature extractor, which pads the audio features to the
longest clip instead of the model's window and breaks, e.g., Audio Flamingo 3's feature mask.
Capture: the single-pass :func:`~emologits.sfm.capture.generate_with_capture` on the module whose
output carries the text logits (:meth:`HfAudioBackend.text_model`, e.g. an Omni model's thinker).
Label likelihood: :func:`~emologits.sfm.capture.score_continuations_batch` (one prefix pass, cache
reused).

Each model family is a small subclass in ``sfm/families/`` that overrides only its hooks; the
generic ``hf-audio`` name picks the family from the checkpoint's ``config.model_type``.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from emologits.config import resolve_path
from emologits.errors import ConfigError
from emologits.sfm.base import BackendOptions, GenerationRecord, GenerationSettings, SFMBackend, parse_options
from emologits.sfm.capture import generate_with_capture, reset_generation_defaults, score_continuations_batch
from emologits.sfm.device import resolve_device, resolve_dtype
from emologits.sfm.hub import check_hub_reachable

#: Auto classes tried, in order, when the class named by ``config.architectures`` is not importable.
AUTO_CLASSES: tuple[str, ...] = ("AutoModelForMultimodalLM", "AutoModelForImageTextToText",
                                 "AutoModelForSeq2SeqLM", "AutoModelForCausalLM")


def resolve_name_or_path(name_or_path: str | None, project_root: Any, default: str) -> str:
    """A local directory (absolute, or relative to the project root / working dir) or a hub id."""
    name = str(name_or_path or default)
    for path in dict.fromkeys([resolve_path(name, project_root), resolve_path(name)]):
        if path.is_dir():
            return str(path.resolve())
    return name


def audio_prompt_turn(prompt: str) -> list[dict[str, Any]]:
    """One user turn: one audio content item before the prompt text."""
    return [{"role": "user", "content": [{"type": "audio", "audio_url": "input.wav"},
                                         {"type": "text", "text": prompt}]}]


class HfAudioOptions(BackendOptions):
    """``model.options`` of the ``hf-audio`` back-ends (None: transformers' default)."""

    device_map: str | dict[str, str | int] | None = None  # e.g. "auto" to spread over several GPUs
    attn_implementation: str | None = None  # e.g. "sdpa", "eager", "flash_attention_2"
    #: Longest audio (seconds) fed to the model; None: the window the processor declares.
    max_audio_seconds: float | None = None


class _Float32Head(torch.nn.Module):
    """An output projection computed in float32 (``model.logits_dtype: float32``): a float32 copy
    of the head's weight; the hidden state is cast up before the matrix product."""

    def __init__(self, head: torch.nn.Linear) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(head.weight.detach().to(torch.float32), requires_grad=False)
        self.bias = (None if getattr(head, "bias", None) is None
                     else torch.nn.Parameter(head.bias.detach().to(torch.float32), requires_grad=False))
        self.in_features, self.out_features = self.weight.shape[1], self.weight.shape[0]

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(hidden.to(torch.float32), self.weight, self.bias)


def float32_head(text_model: Any) -> None:
    """Replace ``text_model``'s output projection by :class:`_Float32Head` (in place)."""
    head = text_model.get_output_embeddings()
    if not isinstance(head, torch.nn.Linear):
        raise ConfigError(f"model.logits_dtype: float32: {type(text_model).__name__} has no linear output "
                          "projection to compute in float32; leave model.logits_dtype unset")
    text_model.set_output_embeddings(_Float32Head(head))


def accelerator_info(device: Any) -> dict[str, Any]:
    """GPU name and CUDA version of ``device`` (None on CPU)."""
    dev = torch.device(device)
    if dev.type != "cuda" or not torch.cuda.is_available():
        return {"gpu": None, "cuda": None}
    return {"gpu": torch.cuda.get_device_name(dev), "cuda": torch.version.cuda}


def _to_model(inputs: Mapping[str, Any], device: Any, dtype: torch.dtype) -> dict[str, Any]:
    """Tensors moved to the model's device; floating ones cast to its dtype."""
    out = {}
    for key, value in inputs.items():
        if isinstance(value, torch.Tensor):
            value = value.to(device)
            if value.is_floating_point():
                value = value.to(dtype)
        out[key] = value
    return out


def check_left_padded(mask: torch.Tensor) -> None:
    """Raise unless every row of ``mask`` is zeros then ones (left padding; decoder-only generation
    reads the last position of every row)."""
    m = mask.to(torch.long)
    if m.numel() and not (bool((m[:, 1:] >= m[:, :-1]).all()) and bool(m[:, -1].all())):
        raise RuntimeError("the processor padded the text on the right; generation needs left padding")


class HfAudioBackend(SFMBackend):
    """An audio LLM through transformers; see the module docstring. Subclasses set the family's
    class attributes and override its hooks."""

    name = "hf-audio"
    options_model = HfAudioOptions
    #: Family name shown in listings and provenance; ``config.model_type`` values it serves.
    family: ClassVar[str] = "generic"
    model_types: ClassVar[tuple[str, ...]] = ()
    #: Default checkpoint (hub id) when ``model.name_or_path`` is unset.
    default_model: ClassVar[str | None] = None
    #: Auto classes tried after the class named by ``config.architectures``.
    auto_classes: ClassVar[tuple[str, ...]] = AUTO_CLASSES
    #: Families whose code ships with the checkpoint, not with transformers.
    needs_remote_code: ClassVar[bool] = False
    #: Input keys the processor returns that the model's forward does not take.
    drop_input_keys: ClassVar[tuple[str, ...]] = ("num_audio_tokens",)

    def __init__(self, model: Any, processor: Any, *, name_or_path: str, revision: str | None,
                 device: str, max_audio_seconds: float | None = None, logits_dtype: str | None = None) -> None:
        self.model = model.eval()
        self.prepare_model()
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.tokenizer.padding_side = "left"
        gen_model = self.text_model()
        #: Decoding defaults the checkpoint shipped, dropped so the run's settings alone apply.
        self.ignored_generation_defaults = reset_generation_defaults(gen_model)
        self.name_or_path = name_or_path
        self.revision = revision
        self.device = device
        self.logits_dtype = logits_dtype
        if logits_dtype == "float32":
            float32_head(gen_model)
        self.sampling_rate = int(self.processor.feature_extractor.sampling_rate)
        self.max_audio_seconds = float(max_audio_seconds or self.processor_window_seconds())
        eos = gen_model.generation_config.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        if self.tokenizer.eos_token_id is not None:
            eos.append(self.tokenizer.eos_token_id)
        self.eos_token_ids = sorted(set(eos))
        if gen_model.generation_config.pad_token_id is None:
            gen_model.generation_config.pad_token_id = (self.tokenizer.pad_token_id if self.tokenizer.pad_token_id
                                                        is not None else self.eos_token_ids[0])

    # -- family hooks ----------------------------------------------------------------------------
    def prepare_model(self) -> None:
        """Family hook: set the loaded model up for text generation (e.g. drop an unused talker)."""

    def text_model(self) -> Any:
        """Family hook: the module that generates text and whose output carries the logits
        (default: the model itself; Omni models: their thinker)."""
        return self.model

    def processor_window_seconds(self) -> float:
        """Family hook: the longest audio the model takes in one call, from the processor."""
        fe = self.processor.feature_extractor
        n = getattr(fe, "n_samples", None)
        if n:
            return float(n) / fe.sampling_rate
        raise ConfigError(f"{self.name_or_path}: the processor declares no audio window; set "
                          "model.options.max_audio_seconds")

    def conversation(self, prompt: str) -> list[dict[str, Any]]:
        """Family hook: the conversation around ``prompt`` (default :func:`audio_prompt_turn`)."""
        return audio_prompt_turn(prompt)

    def chat_text(self, prompt: str) -> str:
        """The processor's chat template around ``prompt`` with the assistant answer prefix."""
        return self.processor.apply_chat_template(self.conversation(prompt), add_generation_prompt=True,
                                                  tokenize=False)

    def processor_inputs(self, clips: Sequence[np.ndarray], prompt: str) -> Mapping[str, Any]:
        """Family hook: the processor's outputs for a batch (text padded on the left, in
        ``text_kwargs`` only: the feature extractor keeps its own padding)."""
        text = self.chat_text(prompt)
        return self.processor(text=[text] * len(clips), audio=list(clips), sampling_rate=self.sampling_rate,
                              return_tensors="pt", text_kwargs={"padding": True, "padding_side": "left"})

    @contextlib.contextmanager
    def scoring_context(self) -> Iterator[None]:
        """Family hook: a context for forward passes outside ``generate`` (e.g. adapters on)."""
        yield

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, model: dict[str, Any], *, project_root: Any = None) -> HfAudioBackend:
        """``model`` section: name_or_path (hub id or local dir), revision, dtype, device,
        logits_dtype, trust_remote_code, options (:class:`HfAudioOptions`)."""
        if cls.needs_remote_code and not model.get("trust_remote_code"):
            raise ConfigError(f"model.backend {cls.name!r}: {cls.family} is not in transformers; its code ships with "
                              "the checkpoint. Set model.trust_remote_code: true to run that code (untested here)")
        if cls.default_model is None and not model.get("name_or_path"):
            raise ConfigError(f"model.name_or_path: back-end {cls.name!r} needs a checkpoint (hub id or local dir)")
        path = resolve_name_or_path(model.get("name_or_path"), project_root, cls.default_model or "")
        return cls.load(path, revision=model.get("revision"), dtype=model.get("dtype", "auto"),
                        device=model.get("device", "auto"), options=model.get("options") or {},
                        logits_dtype=model.get("logits_dtype"), trust_remote_code=bool(model.get("trust_remote_code")))

    @classmethod
    def family_for(cls, path: str, revision: str | None, trust_remote_code: bool) -> type[HfAudioBackend]:
        """The family class for a checkpoint (generic ``hf-audio``: by ``config.model_type``)."""
        if cls.model_types or cls.needs_remote_code:
            return cls
        from transformers import AutoConfig

        from emologits.sfm.families import family_for_model_type
        config = AutoConfig.from_pretrained(path, revision=revision, trust_remote_code=trust_remote_code)
        return family_for_model_type(config.model_type, path)

    @classmethod
    def model_class(cls, config: Any) -> list[Any]:
        """Classes to try: those ``config.architectures`` names, then :attr:`auto_classes`."""
        import transformers
        found = [getattr(transformers, a) for a in (getattr(config, "architectures", None) or [])
                 if hasattr(transformers, a)]
        return found + [getattr(transformers, a) for a in cls.auto_classes if hasattr(transformers, a)]

    @classmethod
    def load_model(cls, path: str, *, revision: str | None, load_kw: dict[str, Any]) -> Any:
        """The model, through the first class that takes the checkpoint's config."""
        from transformers import AutoConfig
        config = AutoConfig.from_pretrained(path, revision=revision,
                                            trust_remote_code=load_kw.get("trust_remote_code", False))
        errors = []
        for klass in cls.model_class(config):
            try:
                return klass.from_pretrained(path, revision=revision, **load_kw)
            except ValueError as exc:  # an auto class without a mapping for this config
                errors.append(f"{klass.__name__}: {exc}".splitlines()[0])
        raise ConfigError(f"model.name_or_path {path!r}: no model class loads this checkpoint "
                          f"(tried {'; '.join(errors) or 'none'})")

    @classmethod
    def load(cls, path: str, *, revision: str | None = None, dtype: str | None = "auto", device: str | None = "auto",
             options: dict[str, Any] | None = None, logits_dtype: str | None = None,
             trust_remote_code: bool = False) -> HfAudioBackend:
        """Load processor + model from a hub id or local directory."""
        from transformers import AutoProcessor
        options = parse_options(cls.options_model, options)
        device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, device)
        check_hub_reachable(path, revision)  # a hub id without network fails now, not after retries
        device_map = options.get("device_map")
        load_kw = {k: options[k] for k in ("attn_implementation",) if options.get(k) is not None}
        load_kw.update(dtype=torch_dtype, device_map=device_map)
        if trust_remote_code:
            load_kw["trust_remote_code"] = True
        try:
            family = cls.family_for(path, revision, trust_remote_code)
            processor = AutoProcessor.from_pretrained(path, revision=revision, trust_remote_code=trust_remote_code)
            net = family.load_model(path, revision=revision, load_kw=load_kw)
        except OSError as exc:
            raise ConfigError(f"model.name_or_path {path!r}: cannot load a {cls.family} checkpoint "
                              f"(a local directory or a hub id; weights download from the hub): {exc}") from None
        if device_map is None:
            net = net.to(device)
        return family(net, processor, name_or_path=path, revision=revision, device=device,
                      max_audio_seconds=options.get("max_audio_seconds"), logits_dtype=logits_dtype)

    # -- inputs ----------------------------------------------------------------------------------
    def clips(self, audios: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Mono float32 clips cut to the model's window."""
        n_max = int(round(self.max_audio_seconds * self.sampling_rate))
        return [np.asarray(a, dtype=np.float32).reshape(-1)[:n_max] for a in audios]

    def model_inputs(self, audios: Sequence[np.ndarray], prompt: str) -> dict[str, Any]:
        """Processor outputs for a left-padded batch, on the model's device and dtype."""
        inputs = dict(self.processor_inputs(self.clips(audios), prompt))
        for key in self.drop_input_keys:
            inputs.pop(key, None)
        if "attention_mask" in inputs:
            check_left_padded(inputs["attention_mask"])
        text_model = self.text_model()
        return _to_model(inputs, text_model.device, text_model.dtype)

    # -- interface -------------------------------------------------------------------------------
    def generate(self, audios: Sequence[np.ndarray], prompt: str, tracked_ids: Sequence[int],
                 settings: GenerationSettings) -> list[GenerationRecord]:
        """Batched generation (left padding) with single-pass capture of the tracked ids."""
        return self.generate_from_inputs(self.model_inputs(audios, prompt), tracked_ids, settings)

    def generate_from_inputs(self, inputs: Mapping[str, Any], tracked_ids: Sequence[int],
                             settings: GenerationSettings) -> list[GenerationRecord]:
        """:meth:`generate` from prepared model inputs."""
        text_model = self.text_model()
        return generate_with_capture(
            text_model, dict(inputs), tracked_ids, settings,
            eos_token_ids=self.eos_token_ids, decode=lambda ids: self.tokenizer.decode(ids, skip_special_tokens=True))

    def score(self, audio: np.ndarray, prompt: str, continuations: Sequence[str]) -> list[np.ndarray]:
        """Per-token log-probs of each continuation after audio + prompt + answer prefix."""
        return self.score_batch([audio], prompt, continuations)[0]

    def continuation_ids(self, continuations: Sequence[str]) -> list[list[int]]:
        return [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations]

    def score_batch(self, audios: Sequence[np.ndarray], prompt: str,
                    continuations: Sequence[str]) -> list[list[np.ndarray]]:
        """:meth:`score` for a left-padded batch (see :meth:`score_from_inputs`)."""
        ids = self.continuation_ids(continuations)
        return self.score_from_inputs(self.model_inputs(audios, prompt), [ids] * len(audios))

    def score_from_inputs(self, inputs: Mapping[str, Any],
                          continuation_ids: Sequence[Sequence[Sequence[int]]]) -> list[list[np.ndarray]]:
        """Per row and continuation, per-token log-probs: :func:`score_continuations_batch` (one
        prefix pass for the batch, one for every multi-token continuation)."""
        prefix = dict(inputs)
        with self.scoring_context():
            return score_continuations_batch(self.text_model(), prefix, continuation_ids)

    def provenance(self) -> dict[str, Any]:
        """Model id/path, requested and resolved revision, dtype, logits dtype, attention
        implementation, device (GPU name, CUDA version), versions, dropped checkpoint defaults."""
        text_model = self.text_model()
        return {
            "backend": self.name,
            "family": self.family,
            "name_or_path": self.name_or_path,
            "revision": self.revision,
            "commit_hash": getattr(self.model.config, "_commit_hash", None),
            "dtype": str(self.model.dtype).replace("torch.", ""),
            "logits_dtype": self.logits_dtype,
            "attn_implementation": getattr(text_model.config, "_attn_implementation", None),
            "device": str(text_model.device),
            "runtime": accelerator_info(text_model.device),
            "sampling_rate": self.sampling_rate,
            "max_audio_seconds": self.max_audio_seconds,
            "eos_token_ids": self.eos_token_ids,
            "ignored_checkpoint_generation_defaults": self.ignored_generation_defaults,
            "transformers": importlib.metadata.version("transformers"),
            "torch": torch.__version__,
        }

