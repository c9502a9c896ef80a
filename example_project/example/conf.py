"""The example site's runtime configuration: a config file plus environment variables.

The archive loads `config` before it imports the settings, from `-C FILE`, the file named
by EXAMPLE_CONFIG, and environment variables (which win). The base class brings
SECRET_KEY (required), DEBUG, ALLOWED_HOSTS, DATABASE_URL, STATE_DIR and the rest.
"""

from __future__ import annotations

from goodconf import Field

from django_zipapp.config import ZipappConfig


class ExampleConfig(ZipappConfig):
    """Configuration of the django-zipapp example site."""

    model_config = {"file_env_var": "EXAMPLE_CONFIG"}
    data_dir_name = "django-zipapp-example"

    HTTPS: bool = Field(
        default=False,
        description="The site is reached over HTTPS (behind a proxy that sets "
        "X-Forwarded-Proto): secure cookies, HSTS and a redirect from HTTP.",
    )


config = ExampleConfig()
