"""The REST API: FastAPI app, job manager and schemas (``docs/rest_api.md``).

``create_app(data_dir)`` builds the app; ``sme serve`` runs it with uvicorn.
"""

from .app import create_app

__all__ = ["create_app"]
