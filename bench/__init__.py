"""Switchboard's benchmark: Switchboard against raw Celery and raw Dramatiq, as ratios.

`make bench` (quick) or `make bench BENCH=full` runs `python -m bench.run`. Every system
runs in the same invocation against one private redis-server (AOF, everysec) with the
same ~300-byte payload and the same handler work (bench.workload.handle), so the
ratios in var/bench/latest.json compare like with like on this machine, today.

The processes are started by the system tests' harness (tests/harness), the same way;
bench.processes adds what only the benchmark needs.
"""
