"""All services, built once over the composition root's objects (`Runtime`)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.services.attribution import AttributionService
from bot.core.services.consent import ConsentService
from bot.core.services.context import Clock, Runtime, ServiceContext, utc_now
from bot.core.services.courses import CoursesService
from bot.core.services.digest import DigestService
from bot.core.services.feedback import FeedbackService
from bot.core.services.funnel import FunnelService
from bot.core.services.insights import InsightsService
from bot.core.services.links import LinkService
from bot.core.services.privacy import PrivacyService
from bot.core.services.promote import PromoteService
from bot.core.services.recommend import RecommendService
from bot.training.models import Models


@dataclass
class Services:
    """What commands, jobs and the CLI call."""

    context: ServiceContext
    consent: ConsentService
    recommend: RecommendService
    courses: CoursesService
    feedback: FeedbackService
    promote: PromoteService
    digest: DigestService
    attribution: AttributionService
    funnel: FunnelService
    privacy: PrivacyService
    links: LinkService
    insights: InsightsService

    @classmethod
    def build(
        cls,
        cohort: Runtime,
        *,
        models: Models | None = None,
        clock: Clock = utc_now,
        instance: str = "cohort",
    ) -> Services:
        """Every service over one context (`models`: the trained bundle's loader)."""
        settings = cohort.settings
        context = ServiceContext(
            cohort,
            models or Models(settings.artifacts_path, settings.recommend),
            clock,
        )
        recommend = RecommendService(context)
        attribution = AttributionService(context)
        funnel = FunnelService(context, attribution)
        return cls(
            context=context,
            consent=ConsentService(context),
            recommend=recommend,
            courses=CoursesService(context),
            feedback=FeedbackService(context),
            promote=PromoteService(context),
            digest=DigestService(context, recommend, instance),
            attribution=attribution,
            funnel=funnel,
            privacy=PrivacyService(context),
            links=LinkService(context),
            insights=InsightsService(context, funnel),
        )
