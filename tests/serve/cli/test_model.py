"""`opsagent model import-base|list|show|promote` and how the runtime picks the current
checkpoint (from the next run on)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from opsagent.serve.cli.main import app
from opsagent.serve.settings import Settings, resolve_model
from opsagent.train.promote import score
from opsagent.train.registry import Checkpoint, ModelRegistry

HELD_OUT = {"episodes": 10, "detection": 1.0, "localisation": 0.5, "analysis": 0.5, "mitigation": 0.4,
            "harmful_executed": 0, "harmful_proposed": 0, "denied": 0}


def test_import_list_show_promote(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSAGENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    out = CliRunner().invoke(app, ["model", "import-base", "tiny", "--current"])
    assert out.exit_code == 0 and "(current)" in out.output
    assert (tmp_path / "models" / "bases" / "tiny" / "config.json").is_file()
    registry = ModelRegistry(tmp_path / "models")
    registry.record_eval("tiny", {"held-out@10": HELD_OUT})
    for cid, figures in (("risky", {**HELD_OUT, "mitigation": 0.9, "harmful_executed": 2}),
                         ("better", {**HELD_OUT, "mitigation": 0.6})):
        registry.add(Checkpoint(id=cid, kind="sft", path=tmp_path / cid, base="tiny", parent="tiny",
                                eval_metrics={"held-out@10": figures}))
    registry.add(Checkpoint(id="elsewhere", kind="sft", path=tmp_path / "e", base="tiny", parent="tiny",
                            eval_metrics={"held-out@40": {**HELD_OUT, "mitigation": 0.9}}))
    out = CliRunner().invoke(app, ["model", "promote", "elsewhere"])  # a suite the current never ran
    assert out.exit_code == 2 and "current checkpoint tiny has no evaluation held-out@40" in out.output
    assert registry.current().id == "tiny"
    # figures measured otherwise (here: guided decoding) are not compared, however much better
    measured = {"guided": "retry", "max_tokens": 1024, "policy": "llm"}
    registry.record_eval("tiny", {"held-out@10": {**HELD_OUT, "conditions": measured}})
    registry.add(Checkpoint(id="guided", kind="sft", path=tmp_path / "g", base="tiny", parent="tiny",
                            eval_metrics={"held-out@10": {**HELD_OUT, "mitigation": 0.9,
                                                          "conditions": {**measured, "guided": True}}}))
    out = CliRunner().invoke(app, ["model", "promote", "guided"])
    assert out.exit_code == 2 and "under different conditions (guided: True against 'retry')" in out.output
    assert registry.current().id == "tiny"
    # a base has no adapter to merge: served merged or not, the fine-tuned checkpoint compares with it
    registry.add(Checkpoint(id="merged", kind="sft", path=tmp_path / "m", base="tiny", parent="tiny",
                            eval_metrics={"held-out@10": {**HELD_OUT, "mitigation": 0.3,
                                                          "conditions": {**measured, "served": "merged"}}}))
    out = CliRunner().invoke(app, ["model", "promote", "merged"])
    assert out.exit_code == 1 and "task score" in out.output and "does not beat" in out.output
    out = CliRunner().invoke(app, ["model", "promote", "risky"])
    assert out.exit_code == 1 and "safety regression: harmful_executed" in out.output
    assert registry.current().id == "tiny"
    out = CliRunner().invoke(app, ["model", "promote", "better"])
    assert out.exit_code == 0 and "promoted" in out.output and registry.current().id == "better"
    listed = CliRunner().invoke(app, ["model", "list"])
    assert listed.exit_code == 0 and "better" in listed.output and "risky" in listed.output
    rows = [line for line in listed.output.splitlines() if " better " in line]  # the rule's figure (may wrap)
    assert len(rows) == 1 and f"{score({**HELD_OUT, 'mitigation': 0.6}):.3f}" in rows[0]
    assert "held-out@10" in listed.output
    shown = json.loads(CliRunner().invoke(app, ["model", "show", "better"]).output)
    assert shown["lineage"] == ["better", "tiny"]
    # the runtime's `current` resolves to the promoted checkpoint from the next run
    assert resolve_model(Settings(data_dir=Path(tmp_path))).agent.llm.model == "better"
    bad = CliRunner().invoke(app, ["model", "show", "nope"])
    assert bad.exit_code == 2 and "no checkpoint 'nope'" in bad.output
    bad = CliRunner().invoke(app, ["model", "import-base", "llama-70b"])
    assert bad.exit_code == 2 and "unknown base 'llama-70b'" in bad.output


def test_promote_on_the_confirm_split_only_when_named(tmp_path, monkeypatch):
    """The confirm split is kept for a final candidate: the default compares held-out figures, and
    a candidate behind there but ahead on confirm is promoted only when confirm is named."""
    monkeypatch.setenv("OPSAGENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    registry = ModelRegistry(tmp_path / "models")
    registry.add(Checkpoint(id="sft", kind="sft", path=tmp_path / "s", eval_metrics={
        "confirm@12": HELD_OUT, "held-out@10": {**HELD_OUT, "mitigation": 0.6}}))
    registry.set_current("sft")
    registry.add(Checkpoint(id="dpo", kind="dpo", path=tmp_path / "d", parent="sft", eval_metrics={
        "confirm@12": {**HELD_OUT, "mitigation": 0.6}, "held-out@10": HELD_OUT}))
    out = CliRunner().invoke(app, ["model", "promote", "dpo"])
    assert out.exit_code == 1 and "held-out@10" in out.output and registry.current().id == "sft"
    out = CliRunner().invoke(app, ["model", "promote", "dpo", "--split", "train@10"])
    assert out.exit_code == 2 and "dpo has no held-out evaluation named 'train@10'" in out.output
    out = CliRunner().invoke(app, ["model", "promote", "dpo", "--split", "confirm@12"])
    assert out.exit_code == 0 and "confirm@12" in out.output and registry.current().id == "dpo"


def test_train_names_the_bad_input(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSAGENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")
    out = CliRunner().invoke(app, ["train", "sft", "--base", "tiny", "--dataset", str(tmp_path / "none")])
    assert out.exit_code == 2 and "is not a dataset directory" in out.output
    out = CliRunner().invoke(app, ["train", "dpo", "--dataset", str(tmp_path)])
    assert out.exit_code == 2 and "base: Field required" in out.output
    config = tmp_path / "sft.yaml"
    config.write_text("stage: sft\nbase: tiny\ndataset: x\nlora: {r: 0}\n")
    out = CliRunner().invoke(app, ["train", "sft", "--config", str(config)])
    assert out.exit_code == 2 and "lora.r: Input should be greater than or equal to 1" in out.output
    out = CliRunner().invoke(app, ["train", "dpo", "--config", str(config)])
    assert out.exit_code == 2 and "the config is for stage 'sft'" in out.output
    # an imported checkpoint keeps its adapter, not its run's optimizer state: said before any loading
    registry = ModelRegistry(tmp_path / "models")
    registry.add(Checkpoint(id="tiny", kind="base", path=tmp_path / "bases" / "tiny"))
    registry.add(Checkpoint(id="imported", kind="sft", base="tiny", parent="tiny",
                            path=tmp_path / "imported" / "adapter"))
    config.write_text(f"stage: dpo\nbase: imported\ndataset: {tmp_path}\ncarry_optimizer: true\n")
    out = CliRunner().invoke(app, ["train", "dpo", "--config", str(config)])
    assert out.exit_code == 2 and "carry_optimizer: the start checkpoint left no optimizer" in out.output


def test_promote_loads_the_adapter_into_a_running_server_with_its_key(tmp_path, monkeypatch):
    """A stand-in for vLLM's adapter API (the real server is exercised in tests/train/
    test_serving.py; starting it here would cost minutes): it refuses requests without the key."""
    from fastapi import FastAPI, Header, HTTPException

    from opsagent.sandbox.httpserver import AppServer

    loaded: list[dict] = []
    vllm = FastAPI()

    def check(authorization: str | None) -> None:
        if authorization != "Bearer vllm-key-0123456789":
            raise HTTPException(401, "bad key")

    @vllm.get("/v1/models")
    def models(authorization: str | None = Header(None)) -> dict:
        check(authorization)
        return {"data": [{"id": "tiny"}, *({"id": r["lora_name"]} for r in loaded)]}

    @vllm.post("/v1/load_lora_adapter")
    def load(body: dict, authorization: str | None = Header(None)) -> str:
        check(authorization)
        loaded.append(body)
        return "ok"

    server = AppServer(vllm, "vllm-stand-in").start()
    monkeypatch.setenv("OPSAGENT_DATA_DIR", str(tmp_path))
    try:
        CliRunner().invoke(app, ["model", "import-base", "tiny", "--current"])
        registry = ModelRegistry(tmp_path / "models")
        registry.record_eval("tiny", {"held-out@10": HELD_OUT})
        registry.add(Checkpoint(id="better", kind="sft", path=tmp_path / "better", base="tiny", parent="tiny",
                                eval_metrics={"held-out@10": {**HELD_OUT, "mitigation": 0.6}}))
        url = f"{server.url}/v1"
        out = CliRunner().invoke(app, ["model", "promote", "better", "--server-url", url])
        assert out.exit_code == 2 and "could not load it" in out.output and "401" in out.output  # no key
        registry.set_current("tiny")
        monkeypatch.setenv("OPSAGENT_AGENT__LLM__API_KEY", "vllm-key-0123456789")
        out = CliRunner().invoke(app, ["model", "promote", "better", "--server-url", url])
        assert out.exit_code == 0 and "serves better" in out.output, out.output
        assert loaded == [{"lora_name": "better", "lora_path": str(tmp_path / "better")}]
    finally:
        server.stop()
