"""Tracking links: "Learn more" goes through Cohort's redirect, or straight to the course."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def utm_campaign(variant: str | None) -> str:
    """`utm_campaign` for a pick's variant: promotion, digest or recommendation."""
    if variant and variant.startswith("promotion"):
        return "promotion"
    if variant and variant.startswith("digest"):
        return "digest"
    return "recommendation"


def tracking_url(
    public_url: str, course_url: str, token: str, platform: str, variant: str | None = None
) -> str:
    """The link a member sees for a course shown with `token`.

    With a public Cohort URL, the link is its redirect (`/r/<token>`), which records
    the click and forwards to the course. Without one, the course URL itself, with
    UTM parameters and `cohort_token` so the shop can report the token back with the
    purchase (attribution).
    """
    if public_url:
        return f"{public_url.rstrip('/')}/r/{token}"
    return with_utm(course_url, token, platform, variant)


def with_utm(course_url: str, token: str, platform: str, variant: str | None = None) -> str:
    """The course URL with Cohort's UTM parameters and token added (existing kept)."""
    parts = urlsplit(course_url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(
        {
            "utm_source": "cohort",
            "utm_medium": platform,
            "utm_campaign": utm_campaign(variant),
            "cohort_token": token,
        }
    )
    return urlunsplit(parts._replace(query=urlencode(query)))
