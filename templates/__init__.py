"""The prompt templates shipped with paywall; installed as the package paywall.templates."""
