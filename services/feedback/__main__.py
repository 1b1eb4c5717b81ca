"""python -m services.feedback: the feedback service on HTTP_PORT (default 8002), as
FEEDBACK_PROCESSES processes on that port."""

from services.common.processes import serve

serve("feedback", 8002, "services.feedback.app")
