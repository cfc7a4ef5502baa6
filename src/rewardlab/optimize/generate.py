"""Sample N responses per prompt from a causal LM into a K-sample pool file, with the sampler's log-probabilities.

Each output line is `{id, prompt, responses, logprobs, n_tokens, truncated}`: `logprobs[j]` is the summed
log-probability of response j's tokens (its EOS included) under the distribution it was actually drawn from, i.e.
after temperature, top-k and top-p. The tilted policies of `rewardlab goodhart --pi0 logprobs` start from it.

Sampling is batched (left padding, every row stops at EOS or after `max_new_tokens`). Each `generate` call is
seeded from (seed, index of its first prompt), so a run is reproducible for a given seed and batch size, and a run
resumed after a kill writes what the uninterrupted run would have written. Records are appended as soon as their
samples are done; a resumed run skips the prompts already in the file (a half-written last line is cut off) and
refuses to continue under different settings (kept beside the output as `OUT.meta.json`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardlab.config import ConfigError, Spec, option
from rewardlab.data.schema import Text
from rewardlab.errors import RewardlabError

logger = logging.getLogger(__name__)

# the settings that change what a run writes; a resumed run must match them
_RESUME_KEYS = ("model", "n", "temperature", "top_p", "top_k", "max_new_tokens", "seed", "batch_size",
                "chat_template")


@dataclass
class GenerateSpec(Spec):
    """How `rewardlab generate` samples (the flags of the command, one field each)."""

    section_title = "generation"

    model: str = option("smollm2", help="Causal LM: smollm2 (offline SmolLM2-135M-Instruct, `make smollm`), a "
                        "folder or a hub id.")
    n: int = option(8, min=1, flag="-n", help="Responses per prompt.")
    temperature: float = option(1.0, min=0.0, help="Sampling temperature (> 0).")
    top_p: float = option(1.0, min=0.0, max=1.0, help="Nucleus sampling: keep the smallest token set with this "
                          "much probability (1: off).")
    top_k: int = option(0, min=0, help="Keep the k most likely tokens (0: off).")
    max_new_tokens: int = option(256, min=1, help="The most tokens of one response (longer ones are cut and "
                                 "marked truncated).")
    seed: int = option(0, min=0, help="Random seed (each generate call is seeded from it and its first prompt).")
    batch_size: int = option(32, min=1, help="Sequences per generate call (prompts x samples).")
    chat_template: bool | None = option(None, help="Wrap each prompt in the tokenizer's chat template (default: "
                                        "when it has one).")
    device: str = option("auto", help="auto (cuda when available, else cpu), cpu, cuda or mps.")
    bf16: bool = option(False, help="Load the LM in bfloat16 (GPUs; emulated and slow on most CPUs).")

    def check(self) -> None:
        if self.temperature <= 0:
            raise ConfigError("{0} must be > 0 for sampling, got {1}", "temperature", str(self.temperature))
        if self.top_p <= 0:
            raise ConfigError("{0} must be in (0, 1], got {1}", "top_p", str(self.top_p))


@dataclass
class PromptRow:
    """One prompt to sample for, and where it came from."""

    id: str
    prompt: Text


def read_prompts(path: str | Path) -> list[PromptRow]:
    """Prompts from a .txt file (one per non-empty line) or JSONL (a `prompt` field: text or messages; `id`
    optional, default `p<line>`).

    Args:
        path: the prompts file.

    Returns:
        list[PromptRow]: in file order.

    Raises:
        RewardlabError: a missing file, bad JSON, a missing or wrong `prompt` field, or a repeated id, naming the
            file and line.

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "p.jsonl"
        >>> _ = f.write_text('{"prompt": "Name a colour."}\\n{"id": "q2", "prompt": "2+2?"}\\n')
        >>> [(r.id, r.prompt) for r in read_prompts(f)]
        [('p1', 'Name a colour.'), ('q2', '2+2?')]
    """
    p = Path(path)
    if not p.exists():
        raise RewardlabError(f"{p}: no such prompts file")
    rows: list[PromptRow] = []
    seen: dict[str, int] = {}
    with open(p, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            if p.suffix == ".txt":
                row = PromptRow(f"p{i}", line.rstrip("\n"))
            else:
                row = _prompt_row(p, i, line)
            if row.id in seen:
                raise RewardlabError(f"{p}:{i}: field 'id': {row.id!r} repeats line {seen[row.id]}")
            seen[row.id] = i
            rows.append(row)
    if not rows:
        raise RewardlabError(f"{p}: no prompts")
    return rows


def _prompt_row(path: Path, i: int, line: str) -> PromptRow:
    try:
        d = json.loads(line)
    except json.JSONDecodeError as e:
        raise RewardlabError(f"{path}:{i}: not valid JSON ({e.msg}); prompts files are JSONL with a 'prompt' "
                             "field, or .txt with one prompt per line") from None
    if not isinstance(d, dict) or "prompt" not in d:
        raise RewardlabError(f"{path}:{i}: field 'prompt': missing")
    prompt = d["prompt"]
    ok = isinstance(prompt, str) and prompt.strip() or (
        isinstance(prompt, list) and prompt and all(isinstance(m, dict) and isinstance(m.get("role"), str)
                                                    and isinstance(m.get("content"), str) for m in prompt))
    if not ok:
        raise RewardlabError(f"{path}:{i}: field 'prompt': expected non-empty text or a list of "
                             f"{{role, content}} messages, got {str(prompt)[:60]!r}")
    rid = d.get("id", f"p{i}")
    if not isinstance(rid, str | int) or isinstance(rid, bool):
        raise RewardlabError(f"{path}:{i}: field 'id': expected text or an integer, got {rid!r:.40}")
    return PromptRow(str(rid), prompt)


def _done_ids(out: Path) -> set[str]:
    """Ids already written to `out`; a half-written last line (a killed run) is cut off the file."""
    if not out.exists():
        return set()
    data = out.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep < len(data):
        logger.warning("%s: dropping a half-written last line (%d bytes) left by an interrupted run; its prompt "
                       "is sampled again", out, len(data) - keep)
        with open(out, "r+b") as f:
            f.truncate(keep)
    ids = set()
    for i, line in enumerate(data[:keep].decode("utf-8").splitlines(), 1):
        try:
            ids.add(str(json.loads(line)["id"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise RewardlabError(f"{out}:{i}: not a record of rewardlab generate; choose another output file or "
                                 "pass --overwrite") from None
    return ids


def _check_resume(meta_path: Path, meta: dict[str, Any], out: Path) -> None:
    if not meta_path.exists():
        raise RewardlabError(f"{out} exists but {meta_path.name} (its settings) does not, so it cannot be resumed "
                             "safely; choose another output file or pass --overwrite")
    old = json.loads(meta_path.read_text())
    diff = [k for k in _RESUME_KEYS if old.get(k) != meta.get(k)]
    if diff:
        shown = ", ".join(f"{k} {old.get(k)!r} -> {meta.get(k)!r}" for k in diff)
        raise RewardlabError(f"{out} was written with other settings ({shown}); resume with the same settings, "
                             "choose another output file, or pass --overwrite")


def _chunks(rows: list[PromptRow], n: int, batch_size: int) -> Iterator[tuple[list[PromptRow], int, int]]:
    """(prompts, first sample, samples) per generate call: whole prompts while n fits the batch, else one
    prompt's samples split over several calls."""
    per_call = max(1, batch_size // n)
    for s in range(0, len(rows), per_call):
        group = rows[s : s + per_call]
        if n <= batch_size:
            yield group, 0, n
        else:
            for k in range(0, n, batch_size):
                yield group, k, min(batch_size, n - k)


class _SamplerLogprob:
    """A logits processor, placed after every warper, that adds up the log-probability of each sampled token
    under the distribution it was drawn from. Step t sees the token chosen at step t-1 as input_ids[:, -1]."""

    def __init__(self) -> None:
        self.prev: Any = None
        self.steps: list[Any] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if self.prev is not None:
            self.steps.append(self.prev.gather(1, input_ids[:, -1:])[:, 0])
        self.prev = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, last_tokens: Any) -> Any:
        """[B, T] log-probabilities of the generated tokens (T = number of steps)."""
        import torch

        self.steps.append(self.prev.gather(1, last_tokens[:, None])[:, 0])
        return torch.stack(self.steps, dim=1)


def _render(tok: Any, prompt: Text, chat: bool) -> str:
    from rewardlab.data.schema import text_of

    if not chat:
        return text_of(prompt)
    messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def sample(model: Any, tok: Any, texts: list[str], spec: GenerateSpec, seed: int) -> list[dict[str, Any]]:
    """One batched generate call: one sample per text (repeat a text to sample it several times).

    Args:
        model: a causal LM.
        tok: its tokenizer (left padding, with a pad token).
        texts: the rendered prompts, one per row.
        spec: temperature, top-k, top-p and max_new_tokens.
        seed: seeds torch before the call.

    Returns:
        list[dict]: per row `response` (decoded, special tokens and EOS dropped), `token_ids` (the sampled ids, EOS
        included), `logprob` (their summed log-probability), `n_tokens` and `truncated` (no EOS within
        max_new_tokens).
    """
    import torch
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    from rewardlab.runtime import model_device

    torch.manual_seed(seed)
    batch = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    dev = model_device(model)
    batch = {k: v.to(dev) for k, v in batch.items()}
    procs: list[Any] = []
    if spec.temperature != 1.0:
        procs.append(TemperatureLogitsWarper(spec.temperature))
    if spec.top_k:
        procs.append(TopKLogitsWarper(spec.top_k))
    if spec.top_p < 1.0:
        procs.append(TopPLogitsWarper(spec.top_p))
    recorder = _SamplerLogprob()
    eos = sorted({tok.eos_token_id, *_as_list(model.generation_config.eos_token_id)} - {None})
    with torch.inference_mode():
        seqs = model.generate(**batch, do_sample=True, max_new_tokens=spec.max_new_tokens,
                              logits_processor=LogitsProcessorList([*procs, recorder]),
                              # the warpers above run before the recorder; generate must add none after it
                              temperature=1.0, top_k=0, top_p=1.0, min_p=None, typical_p=1.0, epsilon_cutoff=0.0,
                              eta_cutoff=0.0, pad_token_id=tok.pad_token_id, eos_token_id=eos)
    gen = seqs[:, batch["input_ids"].shape[1]:]
    lp = recorder.finish(gen[:, -1])
    is_eos = torch.isin(gen, torch.tensor(eos, device=gen.device))
    # position of the first EOS (or T when none): tokens up to and including it belong to the response
    first = torch.where(is_eos.any(1), is_eos.int().argmax(1), torch.full_like(gen[:, 0], gen.shape[1]))
    pos = torch.arange(gen.shape[1], device=gen.device)[None, :]
    keep = pos <= first[:, None]
    total = torch.where(keep, lp, torch.zeros_like(lp)).sum(1)
    out = []
    for r in range(gen.shape[0]):
        n_text = int(first[r])
        out.append({"response": tok.decode(gen[r, :n_text], skip_special_tokens=True),
                    "token_ids": gen[r, : n_text + 1].tolist(),
                    "logprob": float(total[r]), "n_tokens": int(min(n_text + 1, gen.shape[1])),
                    "truncated": n_text >= gen.shape[1]})
    return out


def _as_list(x: Any) -> list[Any]:
    return list(x) if isinstance(x, list | tuple) else [x]


def generate_pools(prompts: list[PromptRow], out: str | Path, spec: GenerateSpec | None = None,
                   model: Any = None, tokenizer: Any = None, overwrite: bool = False,
                   progress: bool = True) -> dict[str, Any]:
    """Sample `spec.n` responses per prompt into a K-sample JSONL file, resuming a file a killed run left.

    Args:
        prompts: the prompts (`read_prompts`).
        out: the output JSONL; its settings go to `OUT.meta.json` beside it.
        spec: sampling settings (default GenerateSpec()).
        model: an already loaded causal LM (default: `load_generator(spec.model, spec.device, spec.bf16)`).
        tokenizer: its tokenizer (required with `model`).
        overwrite: start afresh even if `out` exists.
        progress: show a progress bar over prompts.

    Returns:
        dict: `written` (records this call), `skipped` (already in the file), `truncated` (responses cut at
        max_new_tokens), `out`.

    Raises:
        RewardlabError: `out` holds records of other settings or of another tool, or the model cannot be loaded.

    Example:
        >>> from rewardlab.optimize.generate import GenerateSpec, generate_pools, read_prompts
        >>> spec = GenerateSpec(model="smollm2", n=16, max_new_tokens=128)
        >>> generate_pools(read_prompts("prompts.jsonl"), "pools.jsonl", spec)  # doctest: +SKIP
        {'written': 50, 'skipped': 0, 'truncated': 3, 'out': 'pools.jsonl'}
    """
    from tqdm.auto import tqdm

    spec = spec or GenerateSpec()
    out = Path(out)
    meta_path = out.with_name(out.name + ".meta.json")
    meta = {k: getattr(spec, k) for k in _RESUME_KEYS}
    if overwrite or not out.exists():
        done: set[str] = set()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("")
        meta_path.write_text(json.dumps(meta, indent=1))
    else:
        _check_resume(meta_path, meta, out)
        done = _done_ids(out)
    todo = [r for r in prompts if r.id not in done]
    skipped = len(prompts) - len(todo)
    if skipped:
        logger.info("%s: resuming: %d of %d prompts already sampled", out, skipped, len(prompts))
    if not todo:
        return {"written": 0, "skipped": skipped, "truncated": 0, "out": str(out)}
    if model is None:
        from rewardlab.models.generator import load_generator

        model, tokenizer = load_generator(spec.model, spec.device, spec.bf16)
    elif tokenizer is None:
        raise RewardlabError("generate_pools: a model needs its tokenizer")
    chat = spec.chat_template if spec.chat_template is not None else bool(getattr(tokenizer, "chat_template", None))
    if spec.chat_template and not getattr(tokenizer, "chat_template", None):
        raise RewardlabError(f"{spec.model}: --chat-template asked for, but the tokenizer has no chat template")
    index = {r.id: i for i, r in enumerate(prompts)}
    written = truncated = 0
    pending: dict[str, list[dict[str, Any]]] = {}
    bar = tqdm(total=len(todo), desc=f"sampling {spec.n} per prompt", unit="prompt", disable=not progress)
    with open(out, "a", encoding="utf-8") as f:
        for group, first, k in _chunks(todo, spec.n, spec.batch_size):
            texts = [_render(tokenizer, r.prompt, chat) for r in group for _ in range(k)]
            seed = spec.seed * 1_000_003 + index[group[0].id] * 1_009 + first
            rows = sample(model, tokenizer, texts, spec, seed)
            for gi, r in enumerate(group):
                pending.setdefault(r.id, []).extend(rows[gi * k : (gi + 1) * k])
                got = pending[r.id]
                if len(got) < spec.n:
                    continue
                del pending[r.id]
                rec = {"id": r.id, "prompt": r.prompt, "responses": [g["response"] for g in got],
                       "logprobs": [g["logprob"] for g in got], "n_tokens": [g["n_tokens"] for g in got],
                       "truncated": [g["truncated"] for g in got]}
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())
                written += 1
                truncated += sum(rec["truncated"])
                bar.update(1)
    bar.close()
    return {"written": written, "skipped": skipped, "truncated": truncated, "out": str(out)}


@dataclass
class GenerateRunSpec(Spec):
    """`rewardlab generate`: which prompts, where the pools go, resuming, and the sampling settings.

    Example:
        >>> spec = GenerateRunSpec.from_options(prompts="p.jsonl", output="pools.jsonl", n=16, limit=50)
        >>> spec.sampling.n, spec.limit, spec.overwrite
        (16, 50, False)
    """

    section_title = "generate"

    prompts: str | None = option(None, flag="--prompts", aliases=("-p",), help=(
        "Prompts: JSONL with a 'prompt' field (text or messages; 'id' optional) or .txt, one prompt per line "
        "(required)."))
    output: str | None = option(None, flag="--output", aliases=("-o",), help=(
        "K-sample JSONL {id, prompt, responses, logprobs, n_tokens, truncated}; an existing file is resumed "
        "(required)."))
    limit: int | None = option(None, min=1, help="Use the first N prompts.")
    overwrite: bool = option(False, help="Start afresh instead of resuming OUTPUT.")
    sampling: GenerateSpec = field(default_factory=GenerateSpec)


@dataclass
class GenerateResult:
    """What `run_generate` did: rows written and skipped (resumed), responses cut at max_new_tokens."""

    done: dict[str, Any]
    n: int
    model: str
    files: list[str]

    def lines(self) -> list[str]:
        resumed = f" ({self.done['skipped']} already there)" if self.done["skipped"] else ""
        return [f"sampled {self.n} responses for {self.done['written']} prompts with {self.model}{resumed}; "
                f"{self.done['truncated']} responses hit --max-new-tokens"]


def run_generate(spec: GenerateRunSpec) -> GenerateResult:
    """`rewardlab generate` from its spec: read the prompts and sample the pools (resuming OUTPUT).

    Args:
        spec: the validated settings.

    Returns:
        GenerateResult: the counts and the file.

    Raises:
        RewardlabError: no prompts or output; an unreadable prompts file; what the sampler raises.

    Example:
        >>> run_generate(GenerateRunSpec.from_options(prompts="p.jsonl", output="pools.jsonl"))  # doctest: +SKIP
    """
    if not spec.prompts:
        raise RewardlabError("--prompts is required: a JSONL file with a 'prompt' field, or .txt")
    if not spec.output:
        raise RewardlabError("--output is required: the K-sample JSONL file")
    rows = read_prompts(spec.prompts)
    if spec.limit is not None:
        rows = rows[: spec.limit]
    done = generate_pools(rows, spec.output, spec.sampling, overwrite=spec.overwrite)
    return GenerateResult(done, spec.sampling.n, spec.sampling.model, [spec.output])
