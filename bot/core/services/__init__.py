"""Platform-neutral services: what members and moderators can ask of Cohort.

Each service takes an `Actor`, checks what it must (consent, permissions), does the
work through the store and the pipeline, and returns a neutral `Reply` for the
adapter to render. Nothing here imports a platform library.
"""
