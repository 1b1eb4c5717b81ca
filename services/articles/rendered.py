"""The last rendering of the article pages read most recently, in each process.

An article page is a function of what one query reads (store.article_page_text: the
article, its count, feedback, documents, related articles, pictures and the categories, as
one JSON text) and of the site's origin. Each rendering is kept with that text; a request
whose query reads the very same text is sent the same bytes and ETag without rendering or
hashing again. Any change the page would show changes the text, so a change shows on the
next request, as without this cache; only the rendering is saved, never the query. The
text (UTF-8) and the page are kept as bytes: an entry costs about twice the page."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

# Pages kept per process: the recent and popular articles that most readers read. A page
# and its text are about 20-60 KB, so this is some tens of MB at most.
KEPT_PAGES = 1000


@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str
    modified: datetime | None


@dataclass
class RenderedArticle:
    """What the handler needs of a kept page besides its bytes: whether it may be shown and
    where it lives (a request by an old slug is moved there)."""

    slug: str
    url: str
    public: bool
    # By origin (SITE_URL, or one of ALLOWED_HOSTS as the request came).
    by_origin: dict[str, Rendered] = field(default_factory=dict)


class RenderedPages:
    def __init__(self, size: int = KEPT_PAGES) -> None:
        self.size = size
        self._entries: OrderedDict[int, tuple[bytes, RenderedArticle]] = OrderedDict()

    def get(self, article_id: int, text: bytes) -> RenderedArticle | None:
        """What was rendered from this very text, if it is still kept."""
        entry = self._entries.get(article_id)
        if entry is None or entry[0] != text:
            return None
        self._entries.move_to_end(article_id)
        return entry[1]

    def keep(self, article_id: int, text: bytes, rendered: RenderedArticle) -> None:
        self._entries[article_id] = (text, rendered)
        self._entries.move_to_end(article_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
