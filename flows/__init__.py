"""One Prefect flow per integration, each a thin entry point over ``stockbridge.run``.

Which flow runs a store file is the registry's business (``stockbridge.integrations``).
"""
