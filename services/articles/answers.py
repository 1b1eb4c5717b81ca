"""What the handlers of api.py and pages.py share (as feedback's answers.py does there):
who is signed in, if anyone, and the answer to each refusal of the rules (status, stable
code, Vietnamese detail), so the JSON API and the HTML forms answer alike."""

from __future__ import annotations

from aiohttp import web

from services.articles import domain
from services.common.auth import PRINCIPAL, Principal, principal_from_request, token_from_request
from services.common.errors import Problem, invalid_input
from services.common.web import SETTINGS, is_trusted_proxy


def scheme(request: web.Request) -> str:
    """ "https" or "http" as the reader's browser used it: the gateway's X-Forwarded-Proto,
    believed only from a proxy in TRUSTED_PROXIES (the rule client_address() applies to
    X-Forwarded-For, DESIGN rule 9); otherwise this connection's own."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").strip().lower()
    if forwarded in ("http", "https") and is_trusted_proxy(
        request.remote or "", request.app[SETTINGS].trusted_proxies
    ):
        return forwarded
    return request.scheme


def is_https(request: web.Request) -> bool:
    return scheme(request) == "https"


async def optional_principal(request: web.Request) -> Principal | None:
    """The signed-in user if the request carries a valid token; anyone else reads as the
    public (an expired session cookie must not turn a public read into a 401, and sends a
    person to the login form rather than to an error page)."""
    if PRINCIPAL in request:  # renewed from the sign-in session (sessions.renewal_middleware)
        return request[PRINCIPAL]
    if token_from_request(request) is None:
        return None
    try:
        return await principal_from_request(request)
    except Problem as refused:
        if refused.status == 401:
            return None
        raise


def image_too_large() -> Problem:
    """413 for a file over IMAGE_MAX_BYTES, whether the handler sees it while reading the
    upload or add_image sees it in bytes it was given."""
    megabytes = domain.IMAGE_MAX_BYTES // (1024 * 1024)
    return Problem(413, "body_too_large", f"Ảnh vượt quá giới hạn {megabytes} MB.")


def problem_for(refusal: domain.RefusalError) -> Problem:
    """The answer to a refusal of the rules."""
    match refusal:
        case domain.InvalidFieldsError():
            return invalid_input(refusal.fields)
        case domain.UsernameTakenError():
            return Problem(409, "username_taken", refusal.message)
        case domain.UserInputError():
            return invalid_input({refusal.field: refusal.message})
        case domain.ArticleNotFoundError():
            return Problem(404, "article_not_found", "Không tìm thấy bài viết.")
        case domain.EditForbiddenError():
            return Problem(403, "forbidden", "Bạn không có quyền sửa bài viết này.")
        case domain.VersionConflictError():
            return Problem(
                409,
                "version_conflict",
                "Bài viết đã được người khác sửa trong lúc bạn soạn; xin tải lại rồi sửa tiếp.",
            )
        # Before its parent class, which answers for categories.
        case domain.PageSlugTakenError():
            return Problem(
                409,
                "slug_taken",
                f"Đã có trang với đường dẫn “{refusal.slug}” (có thể đang trong thùng rác).",
            )
        case domain.ActionForbiddenError():
            return Problem(
                403,
                "forbidden",
                f"Bạn không có quyền {domain.ACTION_NAMES[refusal.action]} bài viết này.",
            )
        case domain.InvalidTransitionError():
            return Problem(409, "invalid_transition", refusal.message)
        case domain.RevisionNotFoundError():
            return Problem(404, "revision_not_found", "Không tìm thấy bản lưu này của bài viết.")
        case domain.SlugTakenError():
            return Problem(
                409, "slug_taken", f"Đã có {refusal.kind} với đường dẫn “{refusal.slug}”."
            )
        case domain.PageNotFoundError():
            return Problem(404, "page_not_found", "Không tìm thấy trang.")
        case domain.PageRevisionNotFoundError():
            return Problem(404, "revision_not_found", "Không tìm thấy phiên bản này của trang.")
        case domain.PageVersionConflictError():
            return Problem(
                409,
                "version_conflict",
                "Trang đã được người khác sửa trong lúc bạn soạn; xin tải lại rồi sửa tiếp.",
            )
        case domain.PageStateError():
            return _page_state_problem(refusal)
        case domain.CategoryNotFoundError():
            return Problem(404, "category_not_found", "Không tìm thấy chuyên mục.")
        case domain.CategoryNotEmptyError():
            return Problem(
                409,
                "category_not_empty",
                "Chuyên mục còn bài viết (kể cả bản nháp và bài trong thùng rác); xin chuyển "
                "các bài sang chuyên mục khác trước khi xoá.",
            )
        case domain.CategoryHasChildrenError():
            return Problem(
                409,
                "category_has_children",
                "Chuyên mục này có chuyên mục con: không thể xoá nó hay đặt nó làm mục con.",
            )
        case domain.CategoryTooDeepError():
            return Problem(
                409,
                "category_too_deep",
                "Chuyên mục cha đã là mục con của chuyên mục khác; chuyên mục chỉ lồng một cấp.",
            )
        case domain.TagNotFoundError():
            return Problem(404, "tag_not_found", "Không tìm thấy thẻ.")
        case domain.TopicNotFoundError():
            return Problem(404, "topic_not_found", "Không tìm thấy dòng sự kiện.")
        case domain.UnsupportedImageError():
            return Problem(
                415, "unsupported_image_type", "Chỉ nhận ảnh JPEG, PNG, WebP, GIF hoặc HEIC."
            )
        case domain.BrokenImageError():
            message = "Tệp ảnh bị hỏng hoặc không đọc được."
            return invalid_input({"file": message}, code="image_unreadable", detail=message)
        case domain.ImageTooManyPixelsError():
            megapixels = domain.IMAGE_MAX_PIXELS // 1_000_000
            message = f"Ảnh quá lớn: tối đa {megapixels} triệu điểm ảnh (megapixel)."
            return invalid_input(
                {"file": message}, code="image_too_large_in_pixels", detail=message
            )
        case domain.ImageTooLargeError():
            return image_too_large()
        case domain.DocumentNotFoundError():
            return Problem(404, "document_not_found", "Không tìm thấy văn bản.")
        case domain.UnsupportedDocumentError():
            return Problem(
                415,
                "unsupported_document_type",
                "Chỉ nhận văn bản PDF, Word (.docx), Excel (.xlsx) hoặc OpenDocument (.odt, "
                ".ods), và phần mở rộng của tên tệp phải đúng với nội dung của nó.",
            )
        case domain.DocumentTooLargeError():
            megabytes = domain.DOCUMENT_MAX_BYTES // (1024 * 1024)
            return Problem(413, "body_too_large", f"Văn bản vượt quá giới hạn {megabytes} MB.")
        case domain.UserNotFoundError():
            return Problem(404, "user_not_found", "Không tìm thấy người dùng.")
        case domain.LastAdminError():
            return Problem(
                409,
                "last_admin",
                "Không thể khoá hoặc bỏ quyền quản trị của quản trị viên cuối cùng; "
                "xin cấp quyền quản trị cho người khác trước.",
            )
        case domain.InvalidCredentialsError():
            return Problem(401, "invalid_credentials", "Tên đăng nhập hoặc mật khẩu không đúng.")
        case domain.TooManyAttemptsError():
            minutes = max(1, -(-refusal.wait_seconds // 60))
            return Problem(
                429,
                "too_many_attempts",
                f"Bạn đã nhập sai quá nhiều lần. Xin vui lòng thử lại sau khoảng {minutes} phút.",
                headers={"Retry-After": str(refusal.wait_seconds)},
            )
        # --- desk: auth ---
        case domain.PasswordChangeRequiredError():
            return Problem(
                403,
                "password_change_required",
                "Bạn cần đổi mật khẩu trước khi tiếp tục (tại /doi-mat-khau hoặc "
                "POST /api/v1/auth/password).",
            )
        case domain.SessionEndedError():
            return Problem(
                401, "session_ended", "Phiên đăng nhập đã kết thúc, xin vui lòng đăng nhập lại."
            )
        case domain.HashingBusyError():
            return Problem(
                503,
                "busy",
                "Hệ thống đang bận kiểm tra nhiều lượt đăng nhập, xin thử lại sau ít giây.",
                headers={"Retry-After": str(refusal.RETRY_SECONDS)},
            )
    raise TypeError(f"no answer for {type(refusal).__name__}")


def _page_state_problem(refusal: domain.PageStateError) -> Problem:
    """409 for a page command its state does not allow, one stable code per case."""
    if refusal.status == domain.PAGE_DELETED:
        return Problem(
            409, "page_deleted", "Trang đang ở trong thùng rác; xin khôi phục trang trước."
        )
    code, detail = {
        "publish": ("already_published", "Trang này đã được đăng."),
        "unpublish": ("not_published", "Trang này hiện không được đăng."),
        "restore": ("not_deleted", "Trang này không ở trong thùng rác."),
    }[refusal.command]
    return Problem(409, code, detail)
