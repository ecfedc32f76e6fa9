"""`cohort report` and the `/insights` chart: what Cohort knows about a community, drawn.

- `data`: neutral dataclasses of what is shown;
- `gather`: fills them from the store, the services and the trained model;
- `charts`: draws them with matplotlib (imported lazily, never at start-up);
- `fonts`: finds a CJK font so Chinese labels render;
- `page`: the self-contained HTML page (Jinja2, charts embedded);
- `build`: gathers and renders a whole report, off the event loop where it is slow.
"""
