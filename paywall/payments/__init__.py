"""Billing keeps access in sync: Stripe webhooks and a JSON API grant and revoke
entitlements, exactly once and in order, crediting conversions to the offer that sold them.

Nothing here is imported by `import paywall` until a request reaches one of its routes, so
the `stripe` package is loaded only by a paywall that receives webhooks.
"""
