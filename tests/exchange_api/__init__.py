"""Tests of the exchange service (exchange_api)."""
