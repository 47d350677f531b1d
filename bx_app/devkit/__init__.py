"""Development and benchmark builders (a sandbox-connected credential, a world to drive the engine).

Never imported by production code (tests/unit/test_layers.py checks it); the tests and the benchmarks
share these. They need the test extras (`responses`) and may use the sandbox.
"""
