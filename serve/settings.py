"""The one place settings are read: environment variables (OPSAGENT_*, nested with "__") over
an optional YAML file (--config, or the path in OPSAGENT_CONFIG) over defaults."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from opsagent.agent.config import AgentConfig
from opsagent.sandbox.config import SandboxConfig
from opsagent.serve.config import ServiceConfig
from opsagent.tools.config import ToolsConfig
from opsagent.train.registry import ModelRegistry
from opsagent.train.serving import ServerConfig
from opsagent.trajectories.config import TrajectoriesConfig


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OPSAGENT_", env_nested_delimiter="__", extra="forbid",
    )

    data_dir: Path = Path(".opsagent")
    sandbox: SandboxConfig = SandboxConfig()
    tools: ToolsConfig = ToolsConfig()
    agent: AgentConfig = AgentConfig()
    trajectories: TrajectoriesConfig = TrajectoriesConfig()
    service: ServiceConfig = ServiceConfig()
    vllm: ServerConfig = ServerConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, YamlConfigSettingsSource(settings_cls)


def load_settings(config: Path | None = None) -> Settings:
    """Read settings once, at start-up. Raises FileNotFoundError for a missing config file
    and pydantic.ValidationError naming the field for a bad value."""
    path = config or (Path(os.environ["OPSAGENT_CONFIG"]) if os.environ.get("OPSAGENT_CONFIG") else None)
    if path is None:
        return Settings()
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    with_file = type("Settings", (Settings,), {
        "model_config": SettingsConfigDict(**{**Settings.model_config, "yaml_file": path}),
    })
    return with_file()


def resolve_model(settings: Settings) -> Settings:
    """`agent.llm.model: current` names the registry's current checkpoint (the served adapter's
    name), read at the start of each run, so a promotion takes effect from the next incident."""
    if settings.agent.llm.model != "current":
        return settings
    current = ModelRegistry(settings.data_dir / "models").current()
    if current is None:
        return settings
    llm = settings.agent.llm.model_copy(update={"model": current.id})
    return settings.model_copy(update={"agent": settings.agent.model_copy(update={"llm": llm})})
