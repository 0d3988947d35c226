"""The checkpoint registry: every base and every training result, with its lineage (base,
parent, dataset hashes, config, git commit), its training and evaluation metrics, and which
one is `current` (what the runtime serves). One JSON file per checkpoint, written atomically."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from opsagent.agent.profiles import PromptProfile, profile


class Checkpoint(BaseModel):
    id: str
    kind: str = Field(description="base | sft | dpo")
    path: Path = Field(description="model directory (base) or LoRA adapter directory")
    base: str | None = Field(default=None, description="the base checkpoint id the adapter applies to")
    parent: str | None = Field(default=None, description="the checkpoint training started from")
    datasets: dict[str, str] = Field(default={}, description="dataset path -> content hash")
    config: dict[str, Any] = {}
    commit: str | None = None
    profile: str = Field(default="full", description="the prompt profile it is trained, evaluated and served "
                         "with (agent.profiles)")
    train_metrics: dict[str, Any] = {}
    eval_metrics: dict[str, Any] = {}
    learning_curve: Path | None = Field(default=None, description="the loop's chart of this run (PNG)")
    created: float = Field(default_factory=time.time)


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parents[1])
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def weights_fingerprint(checkpoint: Checkpoint) -> str:
    """A hash of the checkpoint's weight files: the same on every machine it is imported to, and
    another for a retrained checkpoint under the same id (what an evaluation's figures belong to)."""
    digest = hashlib.sha256()
    for f in sorted(checkpoint.path.glob("*.safetensors")):
        digest.update(f.name.encode())
        with f.open("rb") as fh:
            while chunk := fh.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()[:16]


class ModelRegistry:
    def __init__(self, root: Path):
        self.root = root
        (root / "registry").mkdir(parents=True, exist_ok=True)

    def _write(self, path: Path, text: str) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        with open(tmp) as fh:
            os.fsync(fh.fileno())
        tmp.replace(path)

    def add(self, checkpoint: Checkpoint) -> Checkpoint:
        self._write(self.root / "registry" / f"{checkpoint.id}.json", checkpoint.model_dump_json(indent=2))
        return checkpoint

    def get(self, ref: str) -> Checkpoint:
        """By id, or `current`. KeyError when unknown."""
        if ref == "current":
            current = self.current()
            if current is None:
                raise KeyError("no checkpoint is current yet; promote one or import a base")
            return current
        path = self.root / "registry" / f"{ref}.json"
        if not path.is_file():
            known = ", ".join(c.id for c in self.list()) or "none"
            raise KeyError(f"no checkpoint {ref!r} (known: {known})")
        return Checkpoint.model_validate_json(path.read_text())

    def list(self) -> list[Checkpoint]:
        files = (self.root / "registry").glob("*.json")
        items = [Checkpoint.model_validate_json(p.read_text()) for p in files]
        return sorted(items, key=lambda c: c.created)

    def current(self) -> Checkpoint | None:
        marker = self.root / "current"
        return self.get(marker.read_text().strip()) if marker.is_file() else None

    def set_current(self, checkpoint_id: str) -> None:
        self.get(checkpoint_id)
        self._write(self.root / "current", checkpoint_id + "\n")

    def record_eval(self, checkpoint_id: str, metrics: dict[str, Any]) -> Checkpoint:
        c = self.get(checkpoint_id)
        return self.add(c.model_copy(update={"eval_metrics": {**c.eval_metrics, **metrics}}))

    def record_curve(self, checkpoint_id: str, path: Path) -> Checkpoint:
        return self.add(self.get(checkpoint_id).model_copy(update={"learning_curve": path}))

    def lineage(self, checkpoint_id: str) -> list[Checkpoint]:
        """The checkpoint, its parent, and so on up to the base."""
        chain, ref = [], checkpoint_id
        while ref is not None:
            c = self.get(ref)
            chain.append(c)
            ref = c.parent
        return chain

    def prompt_profile(self, checkpoint: Checkpoint) -> PromptProfile:
        """The checkpoint's prompt profile, its tool outputs counted in its base's tokens."""
        tokenizer = self.base_dir(checkpoint) / "tokenizer.json"
        return profile(checkpoint.profile, tokenizer if tokenizer.is_file() else None)

    def base_dir(self, checkpoint: Checkpoint) -> Path:
        """The model directory an adapter applies to (the base's own path for a base)."""
        return checkpoint.path if checkpoint.kind == "base" else self.get(checkpoint.base or "").path
