"""Reading a policy's chat-templated text back into messages (OpenRLHF sends prompts that already carry the
policy's chat template, and queries that are that prompt plus the decoded response, the policy's stop token
included).

A reward model must see the conversation rendered by its *own* RenderSpec, not the policy's template wrapped
again as user content. `split_templated(query, prompt)` gives the prompt's messages and the response text with the
policy's stop tokens removed, for the templates in common use:

| name | turn marker | end of turn |
|---|---|---|
| chatml (Qwen, SmolLM2, Hermes) | `<|im_start|>role\\n` | `<|im_end|>` |
| llama3 | `<|start_header_id|>role<|end_header_id|>\\n\\n` | `<|eot_id|>` |
| gemma | `<start_of_turn>user|model\\n` | `<end_of_turn>` |
| phi3 | `<|user|>\\n` | `<|end|>` |
| zephyr | `<|user|>\\n` | `</s>` |
| mistral, llama2 | `[INST] ... [/INST]` (`<<SYS>>` blocks for llama2) | `</s>` |

This module is a leaf (pure Python, `re` only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rewardlab.errors import RewardlabError

Message = dict[str, str]


@dataclass(frozen=True)
class _Marked:
    """A template whose every turn starts with a marker naming its role and ends with an end-of-turn token."""

    name: str
    start: re.Pattern[str]
    ends: tuple[str, ...]
    stops: tuple[str, ...]
    bos: tuple[str, ...] = ()
    roles: dict[str, str] = field(default_factory=dict)


_MARKED = {
    t.name: t for t in (
        _Marked("llama3", re.compile(r"<\|start_header_id\|>(?P<role>[^<\n]+?)<\|end_header_id\|>\n\n"),
                ("<|eot_id|>", "<|eom_id|>"), ("<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"),
                ("<|begin_of_text|>",)),
        _Marked("chatml", re.compile(r"<\|im_start\|>(?P<role>[^\n<]+)\n"), ("<|im_end|>",),
                ("<|im_end|>", "<|endoftext|>")),
        _Marked("gemma", re.compile(r"<start_of_turn>(?P<role>[^\n<]+)\n"), ("<end_of_turn>",),
                ("<end_of_turn>", "<eos>"), ("<bos>",), {"model": "assistant"}),
        _Marked("phi3", re.compile(r"<\|(?P<role>system|user|assistant)\|>\n"), ("<|end|>",),
                ("<|end|>", "<|endoftext|>"), ("<s>",)),
        _Marked("zephyr", re.compile(r"<\|(?P<role>system|user|assistant)\|>\n"), ("</s>",), ("</s>",), ("<s>",)),
    )
}
_INST_NAMES = ("mistral", "llama2")
_INST_STOPS = ("</s>",)
TEMPLATE_NAMES: tuple[str, ...] = (*_MARKED, *_INST_NAMES)
_INST = re.compile(r"\[INST\]|\[/INST\]")
_SYS = re.compile(r"^\s*<<SYS>>\n?(?P<sys>.*?)\n?<</SYS>>\s*", re.DOTALL)


def detect_template(text: str) -> str | None:
    """The chat template `text` is written in, from its markers; None when it carries none.

    Example:
        >>> detect_template("<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n")
        'chatml'
        >>> detect_template("[INST] Hi [/INST]"), detect_template("plain text")
        ('mistral', None)
    """
    if "<|start_header_id|>" in text:
        return "llama3"
    if "<|im_start|>" in text:
        return "chatml"
    if "<start_of_turn>" in text:
        return "gemma"
    if re.search(r"<\|(user|system|assistant)\|>\n", text):
        return "phi3" if "<|end|>" in text else "zephyr"
    if "[INST]" in text:
        return "mistral"
    return None


def _strip_prefix(text: str, tokens: tuple[str, ...]) -> str:
    text = text.lstrip()
    changed = True
    while changed:
        changed = False
        for t in tokens:
            if text.startswith(t):
                text, changed = text[len(t):].lstrip(), True
    return text


def strip_stops(text: str, template: str) -> str:
    """`text` without the template's stop and end-of-turn tokens (and whitespace) at its end.

    Example:
        >>> strip_stops(" 4<|im_end|><|endoftext|>", "chatml")
        ' 4'
    """
    stops = _INST_STOPS if template in _INST_NAMES else _MARKED[template].stops
    changed = True
    while changed:
        changed = False
        stripped = text.rstrip()
        for s in stops:
            if stripped.endswith(s):
                text, changed = stripped[: -len(s)], True
                break
    return text


def _parse_marked(t: _Marked, text: str) -> list[tuple[str, str, bool]] | None:
    """(role, content, closed) of each turn, or None when `text` is not in this template."""
    text = _strip_prefix(text, t.bos)
    found = list(t.start.finditer(text))
    if not found or text[: found[0].start()].strip():
        return None
    turns = []
    for i, m in enumerate(found):
        body = text[m.end(): found[i + 1].start() if i + 1 < len(found) else len(text)]
        closed = False
        for e in t.ends:
            tail = body.rstrip()
            if tail.endswith(e):
                body, closed = tail[: -len(e)], True
                break
        role = m.group("role").strip()
        turns.append((t.roles.get(role, role), body, closed))
    return turns


def _parse_inst(text: str) -> list[tuple[str, str, bool]] | None:
    """Turns of `<s>[INST] user [/INST] assistant</s>[INST] ...` (Mistral / Llama 2), <<SYS>> as a system turn."""
    text = _strip_prefix(text, ("<s>",))
    if not text.startswith("[INST]"):
        return None
    turns: list[tuple[str, str, bool]] = []
    pieces = _INST.split(text)
    markers = _INST.findall(text)
    for marker, body in zip(markers, pieces[1:], strict=True):
        if marker == "[INST]":
            body = body.strip()
            sys_match = _SYS.match(body) if not turns else None
            if sys_match:
                turns.append(("system", sys_match.group("sys").strip(), True))
                body = body[sys_match.end():]
            turns.append(("user", body.strip(), True))
        else:
            tail = body.rstrip()
            closed = False
            while tail.endswith(("</s>", "<s>")):
                closed = closed or tail.endswith("</s>")
                tail = tail[: tail.rindex("<")].rstrip()
            turns.append(("assistant", tail.strip(), closed))
    return turns


def parse_turns(text: str, template: str = "auto") -> tuple[str, list[tuple[str, str, bool]]] | None:
    """(template, [(role, content, closed), ...]) of chat-templated text, or None when it is not in `template`
    (or, for 'auto', in no known template).

    Args:
        text: text rendered by a chat template (a prompt with its generation prompt, or a whole conversation).
        template: a name from TEMPLATE_NAMES, or 'auto' to detect it.

    Returns:
        The template and its turns; the last turn is open (closed False) when the text stops inside it.

    Raises:
        RewardlabError: an unknown template name.

    Example:
        >>> parse_turns("<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\nHello")
        ('chatml', [('user', 'Hi', True), ('assistant', 'Hello', False)])
    """
    if template == "auto":
        found = detect_template(text)
        if found is None:
            return None
        template = found
    if template in _INST_NAMES:
        turns = _parse_inst(text)
    elif template in _MARKED:
        turns = _parse_marked(_MARKED[template], text)
    else:
        raise RewardlabError(f"unknown chat template {template!r}: auto or one of {', '.join(TEMPLATE_NAMES)}")
    return None if not turns else (template, turns)


def split_templated(query: str, prompt: str | None = None,
                    template: str = "auto") -> tuple[list[Message], str, str] | None:
    """A policy's templated (prompt, query = prompt + response) as (prompt messages, response, template).

    The response is what follows the prompt in the query (or, without a usable prompt, the query's last,
    assistant turn), with the template's stop tokens removed from its end. The prompt's open assistant turn (its
    generation prompt) is dropped, so the messages end with the user's turn.

    Args:
        query: the prompt followed by the decoded response.
        prompt: the templated prompt (ideally a prefix of `query`), or None.
        template: a name from TEMPLATE_NAMES, or 'auto' to detect it.

    Returns:
        (messages, response, template), or None when the text is in no known template (or not in `template`),
        or holds no user turn before the response.

    Raises:
        RewardlabError: an unknown template name.

    Example:
        >>> p = "<|im_start|>system\\nBe brief.<|im_end|>\\n<|im_start|>user\\n2+2?<|im_end|>\\n<|im_start|>assistant\\n"
        >>> split_templated(p + "4<|im_end|>", p)
        ([{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': '2+2?'}], '4', 'chatml')
    """
    if prompt and query.startswith(prompt):
        parsed = parse_turns(prompt, template)
        if parsed is None:
            return None
        name, turns = parsed
        if turns[-1][0] == "assistant" and not turns[-1][1].strip():
            turns = turns[:-1]  # the generation prompt
        response = query[len(prompt):]
    else:
        parsed = parse_turns(query, template)
        if parsed is None:
            return None
        name, turns = parsed
        if turns[-1][0] != "assistant":
            return None
        response = turns[-1][1]
        turns = turns[:-1]
    if not any(role == "user" for role, _, _ in turns):
        return None
    messages = [{"role": role, "content": content} for role, content, _ in turns]
    return messages, strip_stops(response, name).strip(), name


__all__ = ["TEMPLATE_NAMES", "detect_template", "parse_turns", "split_templated", "strip_stops"]
