"""Proxy reward models: a backbone encoder plus ``k`` linear heads.

``k = 1`` is the single proxy RM of Coste et al.; ``k > 1`` is the multi-head RM of
Ahmed et al. (one shared backbone, one ``Linear(hidden, k)``). It is a real
``transformers`` model: ``save_pretrained``/``from_pretrained`` round-trip.
"""
from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel


class MultiHeadRewardConfig(PretrainedConfig):
    model_type = "rmens_multihead_reward"

    def __init__(self, backbone_config=None, num_heads: int = 1, pooling: str = "mean",
                 max_input_tokens: int = 256, reward_mean=None, reward_std=None, **kwargs):
        if isinstance(backbone_config, dict):
            backbone_config = AutoConfig.for_model(**backbone_config)
        self.backbone_config = backbone_config
        self.num_heads = num_heads
        # "mean" for encoders (MiniLM), "last" for decoders (Pythia, SmolLM2), "first" ([CLS])
        self.pooling = pooling
        self.max_input_tokens = max_input_tokens  # (prompt, response) tokens read
        # Per-head standardisation, set after training (see ``standardise``); until then
        # the identity. Bradley–Terry fixes neither offset nor scale of a head, and min
        # or UWO over heads are only meaningful on a common scale.
        self.reward_mean = reward_mean or [0.0] * num_heads
        self.reward_std = reward_std or [1.0] * num_heads
        super().__init__(**kwargs)

    def to_dict(self):
        out = super().to_dict()
        if isinstance(self.backbone_config, PretrainedConfig):
            out["backbone_config"] = self.backbone_config.to_dict()
        return out


def new_heads(hidden: int, k: int) -> nn.Linear:
    """k freshly initialised heads, drawn from torch's global random stream."""
    heads = nn.Linear(hidden, k)
    nn.init.normal_(heads.weight, std=1 / (hidden + 1) ** 0.5)
    nn.init.zeros_(heads.bias)
    return heads


def initial_heads(hidden: int, k: int, seed: int) -> nn.Linear:
    """The heads exactly as :meth:`MultiHeadRewardModel.from_backbone` initialised them
    with ``seed``: where a trained model's heads started."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return new_heads(hidden, k)


def head_drift(model, seed: int) -> pd.DataFrame:
    """How far training moved each head of ``model`` (initialised with ``seed``) from its
    initial weights: the norms of both, the relative distance ‖w − w₀‖ / ‖w₀‖ and the
    cosine of w with w₀. A row a head."""
    w = model.heads.weight.detach().float().cpu()
    w0 = initial_heads(w.shape[1], w.shape[0], seed).weight.detach()
    return pd.DataFrame({"norm": w.norm(dim=1), "initial norm": w0.norm(dim=1),
                         "relative change": (w - w0).norm(dim=1) / w0.norm(dim=1),
                         "cosine with initial": F.cosine_similarity(w, w0, dim=1)},
                        index=[f"head {j}" for j in range(w.shape[0])])


def head_cosines(model) -> pd.DataFrame:
    """The cosine between every two heads' weight vectors (random directions in a
    high-dimensional space are nearly orthogonal: cosines near 0)."""
    w = F.normalize(model.heads.weight.detach().float().cpu(), dim=1)
    names = [f"head {j}" for j in range(w.shape[0])]
    return pd.DataFrame((w @ w.T).numpy(), index=names, columns=names)


class MultiHeadRewardModel(PreTrainedModel):
    """Scores token sequences: ``forward`` returns ``(batch, num_heads)`` rewards."""

    config_class = MultiHeadRewardConfig
    base_model_prefix = "backbone"

    def __init__(self, config: MultiHeadRewardConfig, backbone=None):
        super().__init__(config)
        self.backbone = backbone if backbone is not None else AutoModel.from_config(
            config.backbone_config)
        self.heads = new_heads(config.backbone_config.hidden_size, config.num_heads)
        self.post_init()

    @classmethod
    def from_backbone(cls, backbone, num_heads: int = 1, pooling: str = "mean",
                      max_input_tokens: int = 256, seed: int = 0):
        """A reward model on a loaded backbone; heads initialised from ``seed``, so the
        heads of one model differ from each other and from another seed's."""
        config = MultiHeadRewardConfig(backbone_config=backbone.config, num_heads=num_heads,
                                       pooling=pooling, max_input_tokens=max_input_tokens)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return cls(config, backbone=backbone)

    def _init_weights(self, module):
        pass  # the backbone arrives trained and the heads are initialised in __init__

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``(batch, seq, hidden)`` → ``(batch, hidden)``."""
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        if self.config.pooling == "mean":
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        if self.config.pooling == "first":  # an encoder's [CLS] position
            return hidden[:, 0]
        # "last": the last non-padding token (right padding)
        last = attention_mask.sum(1) - 1
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]

    def forward(self, input_ids, attention_mask, token_type_ids=None, **kwargs):
        """Rewards, ``(batch, num_heads)``."""
        extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask,
                               **extra).last_hidden_state
        raw = self.heads(self.pool(hidden, attention_mask))
        mean, std = (torch.tensor(v, device=raw.device) for v in
                     (self.config.reward_mean, self.config.reward_std))
        return (raw - mean) / std

    def standardise(self, scores: torch.Tensor) -> None:
        """Make each head score mean 0, sd 1 on the responses that gave ``scores``
        (``(n, k)``, produced by this model before the call)."""
        mean = torch.tensor(self.config.reward_mean)
        std = torch.tensor(self.config.reward_std)
        raw = scores * std + mean
        self.config.reward_mean = raw.mean(0).tolist()
        self.config.reward_std = raw.std(0).clamp(min=1e-6).tolist()


AutoConfig.register(MultiHeadRewardConfig.model_type, MultiHeadRewardConfig)
