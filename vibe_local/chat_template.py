"""The model's chat template, read from its GGUF metadata and rendered with Jinja.

Rendering uses llama-cpp-python's Jinja2ChatFormatter (the same sandboxed environment and
extensions Hugging Face templates expect). A GGUF without a template gets plain ChatML, the
format every Qwen2 model, VibeThinker included, was trained on.
"""

from __future__ import annotations

from typing import Any

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class ChatTemplate:
    """Turns chat messages into the prompt text the model was trained on."""

    def __init__(self, template: str, bos_token: str = "", eos_token: str = ""):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.source = template
        self._formatter = Jinja2ChatFormatter(template, eos_token=eos_token, bos_token=bos_token)

    @classmethod
    def from_llama(cls, llm: Any) -> ChatTemplate:
        """The template stored in the loaded model (ChatML when it has none)."""
        template = llm.metadata.get("tokenizer.chat_template") or CHATML
        return cls(template, _token_text(llm, "bos"), _token_text(llm, "eos"))

    def render(self, messages: list[dict[str, str]]) -> str:
        """The prompt for `messages`, ending with the assistant's turn opened."""
        return self._formatter(messages=messages).prompt

    @staticmethod
    def opens_thinking(prompt: str) -> bool:
        """Whether the prompt ends inside an open think block (DeepSeek-R1 style templates):
        its last `<think>` has no `</think>` after it."""
        opened = prompt.rfind(THINK_OPEN)
        return opened >= 0 and prompt.find(THINK_CLOSE, opened) < 0


def _token_text(llm: Any, which: str) -> str:
    """Text of the model's BOS/EOS token, or "" when it has none."""
    key = f"tokenizer.ggml.{which}_token_id"
    token_id = llm.metadata.get(key)
    if token_id is None:
        return ""
    return llm._model.token_get_text(int(token_id))
