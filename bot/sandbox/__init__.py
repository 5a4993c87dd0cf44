"""Local stand-ins for the services ecwid-connect talks to, for tests, the demo and benchmarks."""
