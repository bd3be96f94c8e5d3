"""Server-side metering paywall for news publishers, as an ASGI middleware."""

from .middleware import PaywallMiddleware

__all__ = ["PaywallMiddleware"]
__version__ = "0.1.0"
