"""The HTTP routes: each parses a request, calls a service and shapes the answer; none imports another."""
