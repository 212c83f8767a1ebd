"""The lm-eval task class of the judge tasks: the evaluated model is the judge, asked in both orders per prompt.

One document per prompt (:mod:`hyperfit_tasks.tasks.judge_data`) and two contexts, the judge template rendered with
the run's continuation first and with the human one first (:data:`~hyperfit_tasks.tasks.judge_scores.ORDERS`).
Each context is built by lm-eval's own ``fewshot_context``, so ``--apply_chat_template``, ``--system_instruction``
and ``gen_prefix`` apply as in any task. ``generate_until`` asks for a short greedy answer per context (two
requests); ``loglikelihood`` scores the three answers after each context (six requests).
"""

from __future__ import annotations

import re
from copy import deepcopy
from pathlib import Path
from typing import Any

from lm_eval.api.instance import Instance
from lm_eval.api.task import ConfigurableTask
from lm_eval.api.utils import ends_with_whitespace

from hyperfit_tasks.tasks.judge_scores import ANSWERS, ORDERS

TEMPLATES_DIR = Path(__file__).parent / "judge_templates"
DEFAULT_TEMPLATE = "pairwise_v1"
PLACEHOLDERS = ("prompt", "first", "second")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
ORDER_KEY = "judge_order"  # which order a document copy handed to fewshot_context renders


def load_template(name: str) -> str:
    """The text of a judge template: a shipped name (``pairwise_v1``, the file in ``judge_templates/``) or a file path.

    A template holds ``{prompt}``, ``{first}`` and ``{second}``; a final newline of the file is dropped.
    """
    shipped = TEMPLATES_DIR / f"{name}.txt"
    path = shipped if shipped.is_file() and Path(name).name == name else Path(name).expanduser()
    shipped_names = ", ".join(sorted(file.stem for file in TEMPLATES_DIR.glob("*.txt")))
    fix = f"give a shipped name ({shipped_names}) or a file with {{prompt}}, {{first}} and {{second}}"
    try:
        text = path.read_text(encoding="utf-8").removesuffix("\n")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"judge_template {name!r} cannot be read ({type(error).__name__}): {fix}") from None
    missing = [f"{{{placeholder}}}" for placeholder in PLACEHOLDERS if f"{{{placeholder}}}" not in text]
    if missing:
        raise ValueError(f"judge_template {name!r} lacks {', '.join(missing)}: {fix}")
    return text


def render(template: str, doc: dict[str, Any], order: int) -> str:
    """The template filled in one pass (text inside a value is never read as a placeholder): order 0 shows the run's
    continuation first, order 1 the human one."""
    first, second = (doc["continuation"], doc["human"]) if order == 0 else (doc["human"], doc["continuation"])
    values = {"prompt": doc["prompt"], "first": first, "second": second}
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


class JudgeTask(ConfigurableTask):
    """``class: !function hyperfit_tasks.tasks.judge_task.JudgeTask`` in a judge task YAML."""

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        # lm-eval passes the whole YAML, including the ``class`` key that selected this class.
        config = {key: value for key, value in (config or {}).items() if key != "class"}
        self.template = load_template(str((config.get("metadata") or {}).get("judge_template", DEFAULT_TEMPLATE)))
        super().__init__(config=config, **kwargs)

    def doc_to_text(self, doc: dict, doc_to_text: Any = None) -> str:
        """The template filled with the document in the order its ``judge_order`` names (the run's continuation first
        by default)."""
        return render(self.template, doc, doc.get(ORDER_KEY, 0))

    def fewshot_context(self, doc: dict, num_fewshot: int, **kwargs: Any) -> list[str]:
        """One context per order, each built by lm-eval (chat template, system instruction, gen_prefix)."""
        build = super().fewshot_context  # (a comprehension's own scope has no zero-argument super())
        return [build({**doc, ORDER_KEY: order}, num_fewshot=num_fewshot, **kwargs) for order in range(len(ORDERS))]

    def construct_requests(self, doc: dict, ctx: list[str], **kwargs: Any) -> list[Instance]:
        """Two generation requests, or six loglikelihood requests (each order's context, then each of the answers)."""
        apply_chat_template = kwargs.pop("apply_chat_template", False)
        kwargs.pop("chat_template", None)
        if self.OUTPUT_TYPE == "generate_until":
            arguments = [(context, deepcopy(self.config.generation_kwargs)) for context in ctx]
        else:
            # as lm-eval's multiple_choice: under a chat template the answer starts the assistant's turn, with no
            # delimiter
            gen_prefix = self.config.gen_prefix
            chat_turn = apply_chat_template and not (gen_prefix and not ends_with_whitespace(gen_prefix))
            delimiter = "" if chat_turn else self.config.target_delimiter
            arguments = [(context, f"{delimiter}{answer}") for context in ctx for answer in ANSWERS]
        return [
            Instance(request_type=self.OUTPUT_TYPE, doc=doc, arguments=argument, idx=i, **kwargs)
            for i, argument in enumerate(arguments)
        ]
