"""RenderSpec: the one place that turns (prompt, response) into model input ids.

Training, evaluation, scoring and serving all call `Renderer.encode`, and the spec is saved in every checkpoint,
so there is no train/serve formatting skew. Prompt and response are tokenised separately, which keeps the prompt's
ids identical across the responses to one prompt (the basis of prefix sharing) and makes truncation exact: the end
of the prompt and the start of the response are kept by default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from rewardlab.config import Spec, option
from rewardlab.data.schema import Text
from rewardlab.errors import RewardlabError

MODES = ("auto", "chat", "pair", "plain")
HH_TURN = re.compile(r"\n\n(Human|Assistant):")


@dataclass
class RenderSpec(Spec):
    """How text becomes input: mode, EOS policy, max length and which side of prompt/response is truncated.

    mode: 'chat' (the tokenizer's chat template), 'pair' (the tokenizer's sentence-pair layout, e.g. BERT
    [CLS] prompt [SEP] response [SEP]), 'plain' (prompt + separator + response) or 'auto' (chat if the tokenizer
    has a template, pair if it has a separator token and no EOS, else plain; resolved when the model is built).
    eos: 'auto' (append EOS in plain mode when the tokenizer has one), 'always' or 'never'.

    Example:
        >>> RenderSpec(mode="plain", max_length=256).to_dict()["max_length"]
        256
    """

    section_title = "rendering"

    mode: Literal["auto", "chat", "pair", "plain"] = option("auto", flag="--render-mode", help=(
        "auto, chat (chat template), pair (sentence-pair layout) or plain (prompt + separator + response)."))
    separator: str = option("\n", help="Between prompt and response in plain mode.")
    eos: Literal["auto", "always", "never"] = option("auto", help="Append EOS: auto (plain mode, when the "
                                                      "tokenizer has one), always or never.")
    max_length: int | Literal["auto"] = option(512, min=8, help=(
        "Max tokens per sequence (longer pairs are truncated and counted), or auto (rewardlab train: the length "
        "that keeps 95% of the training pairs whole, rounded up to a multiple of 8, capped by the backbone's "
        "positions)."))
    prompt_truncation: Literal["left", "right"] = option("left", help="left keeps the end of a long prompt.")
    response_truncation: Literal["left", "right"] = option("right", help="right keeps the start of a long "
                                                           "response.")
    min_response_tokens: int = option(64, min=0, help="A long prompt is cut so the response keeps at least this "
                                      "many tokens.")


def hh_to_messages(prompt: str) -> list[dict[str, str]] | None:
    """Parse an Anthropic-HH transcript ('\\n\\nHuman: ...\\n\\nAssistant:') into chat messages, else None."""
    parts = HH_TURN.split(prompt)
    if len(parts) < 3 or parts[0].strip():
        return None
    msgs = []
    for role, content in zip(parts[1::2], parts[2::2], strict=True):
        msgs.append({"role": "user" if role == "Human" else "assistant", "content": content.strip()})
    if msgs and msgs[-1]["role"] == "assistant" and not msgs[-1]["content"]:
        msgs.pop()  # the trailing "Assistant:" is the generation slot
    return msgs


def _as_messages(prompt: Text) -> list[dict[str, str]]:
    if isinstance(prompt, list):
        return prompt
    return hh_to_messages(prompt) or [{"role": "user", "content": prompt}]


@dataclass
class _Layout:
    """Special tokens around one or two segments, probed from the tokenizer itself."""

    prefix: list[int] = field(default_factory=list)
    middle: list[int] = field(default_factory=list)
    suffix: list[int] = field(default_factory=list)
    has_types: bool = False


def _probe_layout(tok: Any, pair: bool) -> _Layout:
    a = tok("hello", add_special_tokens=False)["input_ids"]
    b = tok("world", add_special_tokens=False)["input_ids"]
    enc = tok("hello", "world") if pair else tok("hello")
    ids = enc["input_ids"]
    i = next(k for k in range(len(ids)) if ids[k : k + len(a)] == a)
    lay = _Layout(prefix=ids[:i], has_types="token_type_ids" in enc)
    rest = ids[i + len(a) :]
    if pair:
        j = next(k for k in range(len(rest)) if rest[k : k + len(b)] == b)
        lay.middle, lay.suffix = rest[:j], rest[j + len(b) :]
    else:
        lay.suffix = rest
    return lay


class Renderer:
    """Applies a RenderSpec with one tokenizer: encode(prompts, responses) -> ids, prompt lengths, truncation."""

    def __init__(self, tokenizer: Any, spec: RenderSpec):
        self.tok = tokenizer
        self.spec = spec
        if not isinstance(spec.max_length, int):
            raise RewardlabError(f"max_length {spec.max_length!r} must be a number of tokens here; 'auto' is resolved "
                                 "from the training pairs by rewardlab train (its checkpoint saves the number)")
        if spec.mode not in MODES:
            raise RewardlabError(f"render mode must be one of {MODES}, got {spec.mode!r}")
        if spec.mode == "auto":
            spec.mode = self.auto_mode(tokenizer)
        if spec.mode == "chat" and not getattr(tokenizer, "chat_template", None):
            raise RewardlabError("render mode 'chat' needs a tokenizer with a chat template; use 'plain' or 'pair'")
        if spec.mode == "pair" and tokenizer.sep_token_id is None:
            raise RewardlabError("render mode 'pair' needs a tokenizer with a separator token; use 'plain'")
        self.layout = _probe_layout(tokenizer, pair=spec.mode == "pair")
        if spec.mode == "chat":
            self.layout = _Layout()  # the template writes its own special tokens
        eos_id = tokenizer.eos_token_id
        want_eos = spec.eos == "always" or (spec.eos == "auto" and spec.mode == "plain")
        if want_eos and eos_id is None:
            if spec.eos == "always":
                raise RewardlabError("eos='always' but the tokenizer has no EOS token; use eos='auto' or 'never'")
            want_eos = False  # BERT-style tokenizers end with [SEP] from the layout instead (TRL crashes here)
        self.eos = [eos_id] if want_eos and (not self.layout.suffix or self.layout.suffix[-1] != eos_id) else []
        self.n_special = len(self.layout.prefix) + len(self.layout.middle) + len(self.layout.suffix) + len(self.eos)
        if spec.max_length <= self.n_special + 2:
            raise RewardlabError(f"max_length {spec.max_length} is too small for this tokenizer's special tokens")
        self.n_truncated = 0

    @staticmethod
    def auto_mode(tokenizer: Any) -> str:
        """chat if the tokenizer has a chat template, pair if it is BERT-like (sep, no eos), else plain."""
        if getattr(tokenizer, "chat_template", None):
            return "chat"
        if tokenizer.sep_token_id is not None and tokenizer.eos_token_id is None:
            return "pair"
        return "plain"

    def _texts(self, prompt: Text, response: Text) -> tuple[str, str]:
        """The prompt-side and response-side strings before tokenisation."""
        if self.spec.mode == "chat":
            msgs = _as_messages(prompt)
            resp = response if isinstance(response, list) else [{"role": "assistant", "content": response}]
            head = self.tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
            full = self.tok.apply_chat_template(msgs + resp, tokenize=False)
            if not full.startswith(head):
                # templates that rewrite earlier turns: fall back to the template without a generation prompt
                head = self.tok.apply_chat_template(msgs, tokenize=False)
                if not full.startswith(head):
                    raise RewardlabError("the chat template does not render the prompt as a prefix of the dialogue")
            return head, full[len(head) :]
        p = prompt if isinstance(prompt, str) else "\n".join(f"{m['role']}: {m['content']}" for m in prompt)
        r = response if isinstance(response, str) else "\n".join(m["content"] for m in response)
        if self.spec.mode == "plain":
            return p + self.spec.separator if p else p, r
        return p, r

    def _cut(self, p: list[int], r: list[int]) -> tuple[list[int], list[int], bool]:
        budget = self.spec.max_length - self.n_special
        if len(p) + len(r) <= budget:
            return p, r, False
        keep_r = min(len(r), max(budget - len(p), min(self.spec.min_response_tokens, budget // 2)))
        keep_p = budget - keep_r
        r = r[:keep_r] if self.spec.response_truncation == "right" else r[len(r) - keep_r :]
        if keep_p <= 0:
            p = []
        else:
            p = p[len(p) - keep_p :] if self.spec.prompt_truncation == "left" else p[:keep_p]
        return p, r, True

    def encode(self, prompts: list[Text], responses: list[Text]) -> list[dict[str, Any]]:
        """Render and tokenise each (prompt, response): input_ids, token_type_ids, prompt_len, truncated,
        response_tokens (the response's own token count before any truncation) and full_tokens (the sequence's
        length before truncation)."""
        if len(prompts) != len(responses):
            raise RewardlabError("prompts and responses differ in length")
        heads, tails = zip(*(self._texts(p, r) for p, r in zip(prompts, responses, strict=True)), strict=True) \
            if prompts else ((), ())
        # tokenise each distinct prompt once (many responses share a prompt)
        uniq = list(dict.fromkeys(heads))
        p_ids = dict(zip(uniq, self._tok(uniq), strict=True))
        r_ids = self._tok(list(tails))
        out = []
        lay = self.layout
        for h, r in zip(heads, r_ids, strict=True):
            p, r2, cut = self._cut(p_ids[h], r)
            self.n_truncated += cut
            first = lay.prefix + p + lay.middle
            ids = first + r2 + lay.suffix + self.eos
            item: dict[str, Any] = {"input_ids": ids, "prompt_len": len(first), "truncated": cut,
                                    "response_tokens": len(r),
                                    "full_tokens": len(ids) + (len(p_ids[h]) - len(p)) + (len(r) - len(r2))}
            if lay.has_types:
                item["token_type_ids"] = [0] * len(first) + [1] * (len(ids) - len(first)) \
                    if self.spec.mode == "pair" else [0] * len(ids)
            out.append(item)
        return out

    def _tok(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        return self.tok(list(texts), add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
