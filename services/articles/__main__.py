"""python -m services.articles: the articles service on HTTP_PORT (default 8001), as
ARTICLES_PROCESSES processes on that port."""

from services.common.processes import serve

serve("articles", 8001, "services.articles.app")
