"""History importers: platform exports, Cohort's JSONL events, catalogs and purchases."""
