from services.articles.app import create_app
from services.common.web import run

run(create_app, "articles", 8001)
