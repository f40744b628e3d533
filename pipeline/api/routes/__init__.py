"""The API's routers, one module per resource; :func:`~pipeline.api.app.create_app` includes
them in :data:`ROUTERS` order, the catch-all of unknown ``/api`` paths last."""

from . import calibrations, datasets, health, jobs, options, preflight, results, ui

__all__ = ["ROUTERS", "calibrations", "datasets", "health", "jobs", "options", "preflight", "results", "ui"]

#: Every router, in the order the app tries their routes.
ROUTERS = (health.router, jobs.links, results.links, calibrations.links, options.router,
           datasets.router, jobs.router, calibrations.router, preflight.router, results.router,
           ui.api_root, ui.api_fallback)
