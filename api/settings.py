"""Settings of the API server, prefix ``CONNECTOME_API_``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """Where and how the API serves.

    Examples
    --------
    >>> ApiSettings().port
    8000
    """

    model_config = SettingsConfigDict(env_prefix="CONNECTOME_API_")

    host: str = "127.0.0.1"
    port: int = 8000
    max_page_size: int = Field(default=1000, description="largest `first` a paged query accepts")
    data_dir: Path = Field(
        default_factory=lambda: Path.cwd() / "data",
        description="the project's data directory; Neuroglancer files under precomputed/",
    )
    web_dir: Path = Field(default_factory=lambda: Path(__file__).resolve().parent.parent / "web")
