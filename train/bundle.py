"""Checkpoint bundles: a trained adapter, its registry entry and its prompt profile in one folder
that can be committed or copied to another machine and registered there, so its figures can be
re-checked by serving it, without retraining. The base is not bundled (it is imported on each
machine: `opsagent model import-base`); the adapter's trained ancestors are, since the registry
keeps every checkpoint's lineage whole. On request a bundle also carries the checkpoint's AdamW
moments (its last trainer checkpoint's optimizer.pt), so a stage with `carry_optimizer: true` can
continue it on the other machine: a fresh optimizer's first steps move every weight by about the
learning rate (train/optimizer_state.py)."""

from __future__ import annotations

import filecmp
import json
import shutil
from pathlib import Path

from opsagent.train.optimizer_state import keep_optimizer_state, last_optimizer_state
from opsagent.train.registry import Checkpoint, ModelRegistry

ENTRY = "checkpoint.json"
PROFILE = "profile.json"
OPTIMIZER = "optimizer.pt"
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                    "special_tokens_map.json")


def _same_as(base_dir: Path, adapter: Path):  # type: ignore[no-untyped-def]
    """copytree's ignore: the files byte-identical to the base's."""
    return lambda _, names: [n for n in names if (base_dir / n).is_file()
                             and filecmp.cmp(adapter / n, base_dir / n, shallow=False)]


def export_bundle(registry: ModelRegistry, checkpoint_id: str, out: Path,
                  optimizer: bool = False) -> list[Path]:
    """Write the checkpoint and each of its non-base ancestors as out/<id>/ (adapter/, the entry
    with paths relative to it, the prompt profile and the system prompt it renders), oldest last;
    with `optimizer`, the checkpoint's AdamW moments beside its adapter. Returns the folders
    written. ValueError for a base, a missing adapter or (with `optimizer`) no optimizer state."""
    chain = registry.lineage(checkpoint_id)
    if chain[0].kind == "base":
        raise ValueError(f"{checkpoint_id!r} is a base: import it on the other machine with "
                         "`opsagent model import-base`")
    moments = last_optimizer_state(chain[0].path) if optimizer else None
    written = []
    for c in (x for x in chain if x.kind != "base"):
        if not (c.path / "adapter_model.safetensors").is_file():
            raise ValueError(f"{c.id}: no adapter at {c.path}")
        folder = out / c.id
        if folder.exists():
            shutil.rmtree(folder)
        # The adapter; its tokenizer files only where they differ from the base's (Gemma's
        # tokenizer.json is 33 MB, the adapter 15): import restores them from the base.
        shutil.copytree(c.path, folder / "adapter", ignore=_same_as(registry.base_dir(c), c.path))
        entry = c.model_copy(update={"path": Path("adapter"), "learning_curve": None})
        if c.learning_curve is not None and c.learning_curve.is_file():
            shutil.copy2(c.learning_curve, folder / "learning_curve.png")
            entry = entry.model_copy(update={"learning_curve": Path("learning_curve.png")})
        (folder / ENTRY).write_text(entry.model_dump_json(indent=2) + "\n")
        prompt = registry.prompt_profile(c)
        (folder / PROFILE).write_text(json.dumps(
            {**prompt.model_dump(mode="json", exclude={"tokenizer"}), "counted_in": c.base,
             "system_prompt": prompt.system()}, indent=2, ensure_ascii=False) + "\n")
        if moments is not None and c.id == checkpoint_id:
            shutil.copy2(moments, folder / OPTIMIZER)
        written.append(folder)
    return written


def import_bundle(registry: ModelRegistry, folder: Path) -> Checkpoint:
    """Register the bundle's checkpoint (and its bundled ancestors first) from `folder`, the
    adapters copied into this registry. ValueError when it is not a bundle or its base is not
    imported here."""
    if not (folder / ENTRY).is_file():
        raise ValueError(f"{folder} is not a checkpoint bundle (no {ENTRY})")
    entry = Checkpoint.model_validate_json((folder / ENTRY).read_text())
    if entry.base is None or not (registry.root / "registry" / f"{entry.base}.json").is_file():
        raise ValueError(f"{entry.id} applies to the base {entry.base!r}, not imported here: run "
                         f"`opsagent model import-base {entry.base}` first")
    if entry.parent is not None and entry.parent != entry.base \
            and not (registry.root / "registry" / f"{entry.parent}.json").is_file():
        sibling = folder.parent / entry.parent
        if not (sibling / ENTRY).is_file():
            raise ValueError(f"{entry.id} was trained from {entry.parent!r}, which is neither "
                             f"registered here nor bundled beside it ({sibling})")
        import_bundle(registry, sibling)
    target = registry.root / "imported" / entry.id
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(folder / "adapter", target / "adapter")
    base_dir = registry.get(entry.base).path
    for name in _TOKENIZER_FILES:
        if (base_dir / name).is_file() and not (target / "adapter" / name).exists():
            shutil.copy2(base_dir / name, target / "adapter" / name)
    if (folder / OPTIMIZER).is_file():
        keep_optimizer_state(target / "adapter", folder / OPTIMIZER, entry.train_metrics.get("steps", 0))
    curve = None
    if entry.learning_curve is not None and (folder / entry.learning_curve).is_file():
        curve = target / "learning_curve.png"
        shutil.copy2(folder / entry.learning_curve, curve)
    return registry.add(entry.model_copy(update={"path": target / "adapter", "learning_curve": curve}))
