"""Server-side metering paywall for news publishers, as an ASGI middleware."""

from .entitlements import Entitlements
from .middleware import PaywallMiddleware

__all__ = ["Entitlements", "PaywallMiddleware"]
__version__ = "0.1.0"
