"""The user schemas under their former module name, for services/articles/openapi.py until
it reads them from api.py, where the user handlers and their schemas are."""

from services.articles.api import USER_CREATE, USER_PATCH

__all__ = ["USER_CREATE", "USER_PATCH"]
