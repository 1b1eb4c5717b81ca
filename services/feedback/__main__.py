from services.common.web import run
from services.feedback.app import PORT, create_app

run(create_app, "feedback", PORT)
