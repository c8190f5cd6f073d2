"""Test suites that third-party implementations run against themselves (conformance), and their helpers."""
