"""A goodconf configuration for the runtime's loading tests."""

from __future__ import annotations

from goodconf import Field

from django_zipapp.config import ZipappConfig


class SampleConfig(ZipappConfig):
    """Sample."""

    model_config = {"file_env_var": "SAMPLE_CONFIG"}

    DATABASE_PASSWORD: str = Field(default="", description="a secret with a default")
    PORT: int = Field(default=8000, description="an integer")


config = SampleConfig()
