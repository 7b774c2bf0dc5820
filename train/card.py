"""Model cards (the weights folder's README.md): data, command, steps and measured metrics, in Hub metadata
(`model-index`) and in prose. Training writes the card; evaluation fills in its metrics."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from genmodels.registry import REGISTRY, SPACE

METRICS_START, METRICS_END = "<!-- metrics -->", "<!-- /metrics -->"

TEMPLATE = """
# {name}: {description}

Part of the "{space_title}" Space. Class `{class_path}`,
{params:,} parameters, stored as {dtype} safetensors.

```python
from genmodels import load
model = load("{name}")  # this folder, the bundled weights/{name}/, or the Hub repo {repo_id}
```

## Training data
{datasets}

## Training
- {commands}
- Steps: {steps:,}; images seen: {images_seen:,}; hardware: {hardware}
{notes}

## Metrics
{metrics_start}
{metrics}
{metrics_end}

## Config
```json
{config}
```
"""


def metrics_table(results: list[EvalResult]) -> str:
    if not results:
        return "Not measured yet: run `python -m train.evaluate` for this model."
    rows = [f"| {r.metric_name or r.metric_type} | {r.metric_value:.4g} | {r.dataset_name} ({r.dataset_split}) |"
            for r in results]  # fmt: skip
    return "| metric | value | against |\n|---|---|---|\n" + "\n".join(rows)


def describe_runs(runs: list[dict]) -> str:
    """The card's account of the runs that made a model (`Trainer.runs`): its command, or each resumed run in turn."""
    lines = [] if runs[0]["steps"][0] == 0 else [f"steps 0 to {runs[0]['steps'][0]:,}: earlier runs, not recorded"]
    for run in runs:
        first, last = run["steps"]
        done = f"steps {first:,} to {last:,} in {run['seconds'] / 60:.0f} min" if last > first else "saved the weights"
        lines.append(f"`{run['command']}`: {done}")
    if len(lines) == 1:
        return f"Command: {lines[0]}"
    return "Commands, each resuming from the checkpoint of the one before:\n" + "\n".join(
        f"  {i}. {line}" for i, line in enumerate(lines, 1))


def write_card(folder: Path, name: str, model, training: dict) -> ModelCard:
    """Write `folder/README.md` for a freshly trained model."""
    entry, runs = SPACE["models"][name], training["runs"]
    trained = [r for r in runs if r["steps"][1] > r["steps"][0]]
    data = ModelCardData(license="other", library_name="diffusers", datasets=entry["datasets"],
                         tags=["genmodels", "image-generation", type(model).__name__], model_name=name)  # fmt: skip
    datasets = "\n".join(f"- [`{d}`](https://huggingface.co/datasets/{d})" for d in entry["datasets"])
    body = TEMPLATE.format(
        name=name, description=REGISTRY[name].description, space_title=SPACE["space"]["title"],
        repo_id=entry["repo_id"], class_path=f"{type(model).__module__}.{type(model).__name__}",
        params=sum(p.numel() for p in model.parameters()), dtype=str(next(model.parameters()).dtype)[6:],
        datasets=datasets, notes=training["notes"], steps=training["steps"], images_seen=training["images_seen"],
        commands=describe_runs(runs), hardware=", ".join(dict.fromkeys(r["hardware"] for r in trained or runs)),
        metrics_start=METRICS_START, metrics_end=METRICS_END, metrics=metrics_table([]),
        config=model.to_json_string().strip(),
    )  # fmt: skip
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")
    card.save(Path(folder) / "README.md")
    return card


def record_metrics(folder: Path, name: str, metrics: dict[str, tuple[float, str, str]],
                   task: str = "unconditional-image-generation") -> ModelCard:  # fmt: skip
    """Replace the card's metrics by `{metric: (value, dataset id, split)}` (Hub `model-index` and the table)."""
    path = Path(folder) / "README.md"
    card = ModelCard.load(path)
    kept = [r for r in (card.data.eval_results or []) if r.metric_type not in metrics]
    new = [EvalResult(task_type=task, dataset_type=dataset, dataset_name=dataset,
                      dataset_split=split, metric_type=metric, metric_name=metric, metric_value=float(value))
           for metric, (value, dataset, split) in metrics.items()]  # fmt: skip
    card.data.eval_results, card.data.model_name = kept + new, name
    head, rest = card.text.split(METRICS_START, 1)
    card.text = f"{head}{METRICS_START}\n{metrics_table(kept + new)}\n{METRICS_END}{rest.split(METRICS_END, 1)[1]}"
    card.save(path)
    return card


def set_section(folder: Path, title: str, body: str) -> None:
    """Write `## title` with `body` into the model card: in place of that section when there is one, else at the end."""
    path = Path(folder) / "README.md"
    text = path.read_text(encoding="utf-8").rstrip() + "\n"
    heading = f"\n## {title}\n"
    if heading in text:
        before, after = text.split(heading, 1)
        rest = after.split("\n## ", 1)
        text = before + ("\n## " + rest[1] if len(rest) > 1 else "\n")
    path.write_text(text.rstrip() + f"\n{heading}\n{body.strip()}\n", encoding="utf-8")
