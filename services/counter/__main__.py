"""python -m services.counter: the counter on HTTP_PORT (default 8003), as COUNTER_PROCESSES
processes on that port."""

from services.common.processes import serve

serve("counter", 8003, "services.counter.app")
