"""Parsing a policy's chat-templated prompts back into messages: every known template, rendered by
transformers' own `apply_chat_template` from Jinja templates in each family's documented format, parses back to
the messages it was rendered from, and the policy's stop tokens leave the response."""

from __future__ import annotations

import pytest

from rewardlab.chat_parse import TEMPLATE_NAMES, detect_template, parse_turns, split_templated, strip_stops

# Jinja chat templates in each family's documented prompt format (generation prompt included)
TEMPLATES = {
    "chatml": ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
               "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}", "<|im_end|>"),
    "llama3": ("<|begin_of_text|>{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n"
               "{{ m.content | trim }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}"
               "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}", "<|eot_id|>"),
    "gemma": ("<bos>{% for m in messages %}<start_of_turn>{{ 'model' if m.role == 'assistant' else m.role }}\n"
              "{{ m.content | trim }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n"
              "{% endif %}", "<end_of_turn>"),
    "phi3": ("{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}<|end|>\n{% endfor %}"
             "{% if add_generation_prompt %}<|assistant|>\n{% endif %}", "<|end|>"),
    "zephyr": ("{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}</s>\n{% endfor %}"
               "{% if add_generation_prompt %}<|assistant|>\n{% endif %}", "</s>"),
    "llama2": ("<s>{% set ns = namespace(sys='') %}{% for m in messages %}{% if m.role == 'system' %}"
               "{% set ns.sys = m.content %}{% elif m.role == 'user' %}[INST] {% if ns.sys and loop.index0 == 1 %}"
               "<<SYS>>\n{{ ns.sys }}\n<</SYS>>\n\n{% endif %}{{ m.content }} [/INST]{% else %} {{ m.content }}</s><s>"
               "{% endif %}{% endfor %}", "</s>"),
}
DIALOGUES = [
    [{"role": "user", "content": "What is 2+2?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour.\nJust one."},
     {"role": "assistant", "content": "Blue."}, {"role": "user", "content": "Another one?"}],
]


@pytest.fixture(scope="module")
def tokenizer(tiny_decoder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_decoder)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
@pytest.mark.parametrize("dialogue", range(len(DIALOGUES)))
def test_rendered_prompts_parse_back(tokenizer, name, dialogue):
    template, stop = TEMPLATES[name]
    msgs = DIALOGUES[dialogue]
    prompt = tokenizer.apply_chat_template(msgs, chat_template=template, add_generation_prompt=True, tokenize=False)
    query = prompt + "The answer is 4." + stop + (tokenizer.pad_token or "")
    got = split_templated(query.removesuffix(tokenizer.pad_token or ""), prompt, "auto")
    assert got is not None, prompt
    messages, response, found = got
    assert found == ("mistral" if name == "llama2" else name)
    assert messages == msgs and response == "The answer is 4."
    # the named template gives the same; without the prompt, the whole query is parsed
    assert split_templated(query.removesuffix(tokenizer.pad_token or ""), prompt, name)[:2] == (msgs, response)
    assert split_templated(query.removesuffix(tokenizer.pad_token or ""), None, name)[:2] == (msgs, response)


def test_llama2_system_and_history(tokenizer):
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Colour?"}]
    prompt = tokenizer.apply_chat_template(msgs, chat_template=TEMPLATES["llama2"][0], add_generation_prompt=True,
                                           tokenize=False)
    messages, response, _ = split_templated(prompt + " Red.</s>", prompt, "llama2")
    assert messages == msgs and response == "Red."


def test_not_a_template_and_wrong_template():
    assert detect_template("What is 2+2? 4") is None
    assert split_templated("What is 2+2? 4", "What is 2+2?") is None
    chatml = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>"
    assert split_templated(chatml, None, "llama3") is None  # not in the named template
    assert split_templated("preamble <|im_start|>user\nHi<|im_end|>", None) is None  # text before the first turn
    assert split_templated("<|im_start|>system\nS<|im_end|>\n<|im_start|>assistant\nx", None) is None  # no user
    with pytest.raises(ValueError, match="unknown chat template"):
        parse_turns(chatml, "vicuna")
    assert set(TEMPLATE_NAMES) >= set(TEMPLATES) - {"llama2"} | {"mistral"}


def test_stop_tokens_only_at_the_end():
    assert strip_stops("a<|im_end|> b<|im_end|><|endoftext|>\n", "chatml") == "a<|im_end|> b"
    assert strip_stops("x</s></s>", "mistral") == "x"
