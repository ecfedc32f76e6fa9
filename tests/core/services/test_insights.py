"""`/insights`: a moderator's summary, with segment names in the moderator's language."""

from __future__ import annotations

from pathlib import Path

from bot.core.services.suite import Services
from bot.domain.actors import Actor
from bot.i18n import segment_description, segment_name, translator
from tests.core.services.conftest import import_community, load_catalog, train_model


async def test_segments_are_named_in_the_moderators_language(
    sqlite_services: Services, tmp_path: Path
) -> None:
    """A Chinese-speaking moderator reads Chinese segment names; an English one the stored ones."""
    services = sqlite_services
    await load_catalog(services.context.cohort)
    generated = await import_community(services.context.cohort, tmp_path, members=30)
    await train_model(services)
    model = await services.context.models.current()
    assert model is not None
    models = model.community(f"discord:{generated.id}")
    assert models is not None and models.segments is not None
    described = models.segments.describe()

    chinese = Actor("discord", "boss", "Boss", generated.id, None, "zh-CN", is_admin=True)
    text = (await services.insights.summary(chinese)).plain()
    t = translator("zh_Hans")
    for segment in described:
        assert segment_name(t, segment) in text
        assert segment_description(t, segment) in text
    assert any(segment.name not in text for segment in described)

    english = Actor("discord", "boss", "Boss", generated.id, None, "en", is_admin=True)
    text = (await services.insights.summary(english)).plain()
    assert all(segment.name in text and segment.description in text for segment in described)
