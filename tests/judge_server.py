"""A loopback OpenAI-compatible server for tests (not a test module): it answers ``/v1/chat/completions`` and
``/v1/completions`` by a fixed rule and records every request, so lm-eval's ``local-chat-completions`` and
``local-completions`` models can judge through real HTTP without a model or the internet.

A rule maps the prompt (the last chat message's text, or the completion prompt) to the answer text:
:func:`always_a`, :func:`garbage`, :func:`higher_ttr`, or any function of one's own. Given the tokenizer's
``decode``, it also scores echoed token prompts (log-probabilities), so the judge's log-probability variant can
run through ``local-completions``: the rule's answer is the likely one.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Rule = Callable[[str], str]
LIKELY, UNLIKELY = (
    -0.01,
    -100.0,
)  # the log-probability of each token of a text that ends with the rule's answer, of any other
CHAT, COMPLETIONS = "/v1/chat/completions", "/v1/completions"
# the two continuations as the shipped template pairwise_v1 shows them
SHOWN = re.compile(r"Continuation A:\n(?P<first>.*?)\n\nContinuation B:\n(?P<second>.*?)\n\nWhich continuation", re.S)


def always_a(prompt: str) -> str:
    """Answers ``A`` whatever it is shown."""
    return "A"


def garbage(prompt: str) -> str:
    """An answer that is neither A, B nor equal."""
    return "I would rather not say."


def shown_continuations(prompt: str) -> tuple[str, str]:
    """Continuations A and B of a judge prompt in the layout of the shipped template ``pairwise_v1``."""
    match = SHOWN.search(prompt)
    if match is None:
        raise ValueError(f"no 'Continuation A: ... Continuation B: ...' in the prompt {prompt[:200]!r}")
    return match["first"], match["second"]


def higher_ttr(prompt: str) -> str:
    """Prefers the continuation with the higher type-token ratio of its words (hyperfit's ``ttr_words``): ``A``,
    ``B``, or ``equal`` when the two ratios are the same."""
    from hyperfit_tasks.metrics import type_token_ratio
    from hyperfit_tasks.metrics.text_units import words

    first, second = (type_token_ratio(words(text)) for text in shown_continuations(prompt))
    return "A" if first > second else "B" if second > first else "equal"


class JudgeServer:
    """``with JudgeServer(rule) as server:`` serves on 127.0.0.1 (a free port) in a thread until the block ends.

    ``server.requests`` lists ``(path, JSON body)`` of every POST in arrival order; ``chat_url``/``completions_url``
    are the ``base_url`` values of lm-eval's ``local-chat-completions``/``local-completions``.
    """

    def __init__(self, rule: Rule, decode: Callable[[list[int]], str] | None = None):
        self.rule, self.decode = rule, decode
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name="judge-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def chat_url(self) -> str:
        return self.url + CHAT

    @property
    def completions_url(self) -> str:
        return self.url + COMPLETIONS

    def prompts(self) -> list[str]:
        """The prompt text of every request, in arrival order."""
        return [prompt_text(path, body) for path, body in self.requests]

    def __enter__(self) -> JudgeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join()

    def answer(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The OpenAI-format response to one request (its prompt answered by the rule)."""
        self.requests.append((path, body))
        if path == CHAT:
            message = {"role": "assistant", "content": self.rule(prompt_text(path, body))}
            choices = [{"index": 0, "message": message, "finish_reason": "stop"}]
        elif body.get("echo") and body.get("logprobs"):
            choices = [self.scored(i, tokens) for i, tokens in enumerate(token_prompts(body["prompt"]))]
        else:
            prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
            choices = [
                {"index": i, "text": self.rule(prompt), "finish_reason": "stop"} for i, prompt in enumerate(prompts)
            ]
        kind = "chat.completion" if path == CHAT else "text_completion"
        return {
            "id": f"judge-{len(self.requests)}",
            "object": kind,
            "created": 0,
            "model": body.get("model"),
            "choices": choices,
        }

    def scored(self, index: int, tokens: list[int]) -> dict[str, Any]:
        """An echoed prompt's log-probabilities, as lm-eval's ``local-completions`` asks for them to score an answer
        after a context: every token :data:`LIKELY` when the decoded text ends with the rule's answer to it, else
        :data:`UNLIKELY` (whatever the answer's length in tokens, the rule's answer is the most likely)."""
        if self.decode is None:
            raise ValueError(
                "log-probabilities need the tokenizer's decode: JudgeServer(rule, decode=tokenizer.decode)"
            )
        text = self.decode(tokens)
        value = LIKELY if text.rstrip().endswith(self.rule(text)) else UNLIKELY
        values = [value] * (len(tokens) + 1)  # the prompt's tokens, then the one generated token
        logprobs = {"tokens": [], "token_logprobs": values, "top_logprobs": [{"": value}] * len(values)}
        return {"index": index, "text": text, "logprobs": logprobs, "finish_reason": "length"}


def token_prompts(prompt: Any) -> list[list[int]]:
    """The token-id prompts of a completions request: one list of ids, or a batch of them."""
    return [prompt] if prompt and isinstance(prompt[0], int) else list(prompt)


def prompt_text(path: str, body: dict[str, Any]) -> str:
    """The text a request asks about: the last chat message's content (its text parts joined), or the prompt."""
    if path != CHAT:
        return str(body["prompt"])
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)


def _handler(server: JudgeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            if self.path not in (CHAT, COMPLETIONS):
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            self._send(200, server.answer(self.path, body))

        def do_GET(self) -> None:  # noqa: N802
            self._send(405, {"error": {"message": "POST a completion request"}})

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
            """Quiet: a test's stderr holds only what the code under test prints."""

    return Handler
