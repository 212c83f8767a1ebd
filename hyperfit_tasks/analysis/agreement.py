"""Top-1 agreement of two models that share a tokenizer: how often their next-token predictions match.

The paper reports that hyperfitting on a shuffled order of the same data changed about 30% of the
top-1 predictions. At every position of fixed-length token blocks that has a next token, this compares the two
models' argmax tokens:

- ``top1_agreement``: share of positions where the two top-1 tokens are equal (1.0 for a model
  against itself);
- ``mean_top1_prob_a`` / ``_b``: mean probability each model gives to its own top-1 token
  (sharpening raises it);
- ``top1_accuracy_a`` / ``_b``: share of positions where the top-1 token is the actual next token;
- ``top1_prob_correct_a`` / ``_b`` and ``top1_prob_wrong_a`` / ``_b``: mean top-1 probability where
  that token is right and where it is wrong (the paper: hyperfitting sharpens both, so the model is
  confidently wrong), and ``ece_a`` / ``_b``, the expected calibration error of the top-1 prediction
  over 10 equal-mass bins (:func:`hyperfit_tasks.metrics.top1_calibration`).
"""

from __future__ import annotations

from hyperfit_tasks.common.errors import HyperfitError
from hyperfit_tasks.metrics.sharpness import Top1Calibration, top1


class AgreementError(HyperfitError, ValueError):
    """Unusable input for the agreement command (one-line message with the fix)."""


def token_blocks(texts: list[str], tokenizer, block_size: int, limit: int):
    """LongTensor (blocks, block_size): the texts tokenized, joined by EOS, cut into full blocks."""
    import torch

    if block_size < 2:
        raise AgreementError(f"--block-size must be >= 2 (a position needs a next token), got {block_size}")
    ids: list[int] = []
    separator = [] if tokenizer.eos_token_id is None else [tokenizer.eos_token_id]
    for encoded in tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]:
        ids += encoded + separator
    count = len(ids) // block_size
    if limit:
        count = min(count, limit)
    if count == 0:
        raise AgreementError(
            f"the data has {len(ids)} tokens, fewer than one block of {block_size}: lower --block-size or give more "
            "text"
        )
    return torch.tensor(ids[: count * block_size]).view(count, block_size)


def top1_statistics(model_a, model_b, blocks, batch_size: int = 8, progress: bool = True) -> dict:
    """Agreement, mean top-1 probabilities, and each model's top-1 accuracy and confidence when right and wrong, over
    all next-token positions."""
    import torch
    from tqdm.auto import tqdm

    sums = dict.fromkeys(("agree", "prob_a", "prob_b"), 0.0)
    calibration = {"a": Top1Calibration(), "b": Top1Calibration()}
    positions = 0
    with (
        torch.inference_mode(),
        tqdm(total=len(blocks), desc="top-1 agreement", unit="block", disable=not progress) as bar,
    ):
        for batch in blocks.split(batch_size):
            batch = batch.to(model_a.device)
            logits_a = model_a(batch).logits[:, :-1].float()
            logits_b = model_b(batch.to(model_b.device)).logits[:, :-1].float().to(logits_a.device)
            if logits_a.shape != logits_b.shape:
                raise AgreementError(
                    f"the models' output sizes differ ({logits_a.shape[-1]} vs {logits_b.shape[-1]} logits)"
                )
            prob_a, top_a = top1(logits_a)
            prob_b, top_b = top1(logits_b)
            targets = batch[:, 1:]
            sums["agree"] += (top_a == top_b).sum().item()
            sums["prob_a"] += prob_a.sum().item()
            sums["prob_b"] += prob_b.sum().item()
            calibration["a"].add(prob_a, top_a == targets)
            calibration["b"].add(prob_b, top_b == targets)
            positions += targets.numel()
            bar.update(len(batch))
    split = {side: tally.result() for side, tally in calibration.items()}
    return {
        "top1_agreement": sums["agree"] / positions,
        "mean_top1_prob_a": sums["prob_a"] / positions,
        "mean_top1_prob_b": sums["prob_b"] / positions,
        **{f"{key}_{side}": split[side][key] for key in split["a"] for side in ("a", "b")},
        "positions": positions,
        "blocks": len(blocks),
    }
