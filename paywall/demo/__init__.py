"""Sample news site used to demonstrate the paywall middleware."""
