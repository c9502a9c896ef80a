from django.contrib.staticfiles.storage import ManifestStaticFilesStorage


class VersionedStorage(ManifestStaticFilesStorage):
    """A project's own manifest storage, named without "Manifest"."""
