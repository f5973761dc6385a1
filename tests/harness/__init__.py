"""Real processes for the system tests and the benchmark, started one way.

- `processes`: `ManagedProcess` (one command in a session of its own, with a log file),
  `free_port`, `wait_until`, `HarnessError`.
- `redis_server`: `RedisServer`, a private redis-server run with `config/redis.conf`.
- `stack`: `Stack`, the processes of one run (celery workers, the relay, gunicorn)
  sharing one Redis and one environment; `WebServer`.

A new kind of process (a Sentinel, a browser, a second web server) is one method on
`Stack`, or one subclass of `RedisServer`: it builds its command line, starts it with
`Stack.spawn` and waits until it is ready. Nothing here imports Django: the benchmark
uses these classes from a plain Python process.
"""
