"""The demo portal's content: two categories of Vietnamese news with images, readers'
feedback (one item with the organisation's reply) and views."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DemoArticle:
    title: str
    category: str
    summary: str
    paragraphs: tuple[str, ...]
    byline: str
    image: str
    caption: str
    # The count it "had" before: set as the article's starting total (imported_views).
    views: int
    feedback: tuple[tuple[str, str], ...] = field(default=())
    reply: str | None = None

    @property
    def body_html(self) -> str:
        return "".join(f"<p>{p}</p>" for p in self.paragraphs)


CATEGORIES = ("Tình hình hoạt động", "Tin tức - Sự kiện")

ARTICLES = (
    DemoArticle(
        title=(
            "Khối thi đua MTTQ, các đoàn thể và Ban Dân tộc thành phố ký kết giao ước thi đua"
            " năm 2017"
        ),
        category="Tình hình hoạt động",
        summary=(
            "Lãnh đạo 08 đơn vị trong Khối thi đua tổ chức hội nghị triển khai công tác thi đua,"
            " khen thưởng và ký giao ước thi đua năm 2017."
        ),
        paragraphs=(
            "Ngày 11-4-2017, đại diện lãnh đạo các đơn vị thuộc Khối thi đua Mặt trận Tổ quốc"
            " các Đoàn thể, Ban Dân tộc thành phố Cần Thơ gồm 08 đơn vị: UBMTTQ, Hội Cựu Chiến"
            " binh, Hội Nông dân, Liên đoàn Lao động, Đoàn Thanh niên Cộng sản Hồ Chí Minh, Hội"
            " liên hiệp Phụ nữ, Hội Chữ thập đỏ và Ban Dân tộc thành phố, tổ chức hội nghị triển"
            " khai công tác thi đua, khen thưởng và ký giao ước thi đua năm 2017.",
            "Tại hội nghị, đại diện lãnh đạo các đơn vị trong Khối đã thống nhất với mục tiêu và"
            " những nhiệm vụ trọng tâm trong công tác thi đua khen thưởng. Các đơn vị đã cùng"
            " nhau ký kết giao ước thi đua, quyết tâm thực hiện các nhiệm vụ quan trọng.",
            "Phát biểu chỉ đạo tại Hội nghị, Phó Giám đốc Sở Nội vụ, Trưởng Ban Thi đua – Khen"
            " thưởng thành phố biểu dương tinh thần đoàn kết và quyết tâm cao của các đơn vị"
            " trong khối trong việc thực hiện giao ước thi đua.",
        ),
        byline="Hồng Tươi (VP HND)",
        image="hoi-nghi.jpg",
        caption="Lãnh đạo các đơn vị trong Khối ký giao ước thi đua năm 2017.",
        views=680,
        feedback=(
            ("Nguyễn Văn Bình", "Chúc các đơn vị trong Khối hoàn thành tốt giao ước thi đua."),
            ("Trần Thị Hoa", "Mong Ban tổ chức đăng thêm danh sách các chỉ tiêu cụ thể."),
        ),
        reply="Cảm ơn bạn đọc; danh sách chỉ tiêu sẽ được đăng trong bản tin tuần tới.",
    ),
    DemoArticle(
        title="Tập huấn nghiệp vụ công tác Mặt trận cho cán bộ cơ sở",
        category="Tình hình hoạt động",
        summary="Hơn 150 cán bộ Mặt trận cấp xã được bồi dưỡng kỹ năng giám sát và phản biện.",
        paragraphs=(
            "Trong hai ngày, hơn 150 cán bộ Mặt trận Tổ quốc cấp xã, phường đã tham dự lớp tập"
            " huấn nghiệp vụ về công tác giám sát và phản biện xã hội.",
            "Các học viên được trao đổi kinh nghiệm tổ chức hội nghị lấy ý kiến nhân dân và"
            " tiếp nhận phản ánh, kiến nghị của cử tri.",
        ),
        byline="Ban Tuyên giáo",
        image="tap-huan.jpg",
        caption="Quang cảnh lớp tập huấn.",
        views=245,
        feedback=(("Lê Minh Tâm", "Lớp tập huấn rất bổ ích cho cán bộ cơ sở."),),
    ),
    DemoArticle(
        title="Toàn dân đoàn kết xây dựng nông thôn mới, đô thị văn minh",
        category="Tin tức - Sự kiện",
        summary="Cuộc vận động tiếp tục được triển khai sâu rộng tại các khu dân cư.",
        paragraphs=(
            "Cuộc vận động “Toàn dân đoàn kết xây dựng nông thôn mới, đô thị văn minh” tiếp tục"
            " được các khu dân cư hưởng ứng với nhiều mô hình hay.",
            "Nhiều tuyến đường hoa, đường đèn chiếu sáng được nhân dân chung tay đóng góp xây"
            " dựng.",
        ),
        byline="Phòng Phong trào",
        image="nong-thon-moi.jpg",
        caption="Một tuyến đường hoa do nhân dân đóng góp xây dựng.",
        views=312,
    ),
    DemoArticle(
        title="Ngày hội tình nguyện vì cộng đồng năm nay thu hút hàng nghìn đoàn viên",
        category="Tin tức - Sự kiện",
        summary="Các hoạt động khám bệnh, phát quà và dọn vệ sinh môi trường diễn ra sôi nổi.",
        paragraphs=(
            "Ngày hội tình nguyện đã thu hút hàng nghìn đoàn viên, thanh niên tham gia các hoạt"
            " động vì cộng đồng.",
            "Ban tổ chức đã trao hàng trăm phần quà cho các hộ gia đình có hoàn cảnh khó khăn.",
        ),
        byline="Thành Đoàn",
        image="tinh-nguyen.jpg",
        caption="Đoàn viên tham gia dọn vệ sinh môi trường.",
        views=158,
    ),
)
