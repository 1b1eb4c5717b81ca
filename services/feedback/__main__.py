"""python -m services.feedback: the feedback service on HTTP_PORT (default 8002)."""

from services.common.web import run
from services.feedback.app import create_app

PORT = 8002

run(create_app, "feedback", PORT)
