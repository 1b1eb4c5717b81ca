from services.common.web import run
from services.counter.app import create_app

run(create_app, "counter", 8003)
