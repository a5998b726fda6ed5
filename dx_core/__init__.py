"""Shared foundation for every component: settings, content addressing, the blob store, canonical JSON,
the sign-in message, keystores and file locks."""
