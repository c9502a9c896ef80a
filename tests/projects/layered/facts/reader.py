import json

from django.conf import settings


def first_fact() -> str:
    with (settings.BASE_DIR / "data" / "facts.json").open() as file:
        return str(json.load(file)["facts"][0])
