"""`/courses`: browse the catalog, a page at a time."""

from __future__ import annotations

from bot.core.services.context import ServiceContext
from bot.domain.actors import Actor
from bot.domain.replies import Items, Link, Paragraph, Reply, Style, Text, page_buttons, paginate
from bot.store.courses import course_rows

PAGE_SIZE = 5


class CoursesService:
    """The active catalog, paginated; each course with level, language, price and link."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def browse(self, actor: Actor, page: int = 1) -> Reply:
        """One page of the catalog, with previous/next buttons."""
        t = self.context.t(actor)
        async with self.context.store.read() as conn:
            courses = await course_rows(conn)
        if not courses:
            return Reply((Paragraph.of(t("No courses are available right now.")),), private=True)
        shown, page, count = paginate(courses, page, PAGE_SIZE)
        items = []
        for course in shown:
            details = " · ".join(
                str(part)
                for part in (
                    course["level"],
                    course["language"],
                    f"{course['price']} {course['currency'] or ''}".strip()
                    if course["price"] is not None
                    else None,
                )
                if part
            )
            spans: list[Text | Link] = [Text(course["title"], Style.BOLD)]
            if details:
                spans.append(Text(f" ({details})"))
            if course["url"]:
                spans.extend([Text(" — "), Link(t("Learn more"), course["url"])])
            items.append(Paragraph(tuple(spans)))
        blocks: tuple[Items | Paragraph, ...] = (Items(tuple(items)),)
        if count > 1:
            blocks += (Paragraph.of(t("Page {page} of {count}", page=page, count=count)),)
        buttons = page_buttons("courses", page, count, t("Previous"), t("Next"))
        return Reply(
            blocks, title=t("Courses"), buttons=(buttons,) if buttons else (), private=True
        )
