# Which build answers: tests/test_asgi.py writes another value into a second build.
BUILD = "first"
