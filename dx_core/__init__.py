"""Shared foundation for every component: settings, content addressing and the blob store."""
